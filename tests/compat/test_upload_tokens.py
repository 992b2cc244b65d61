"""Upload tokens and CORS over the wire (no browser): the token API (`POST /_ferry/v1/upload-tokens`,
signed with botocore's SigV4 signer), its JSON errors, tus requests carrying `Authorization:
Bearer`, a parent key disabled after minting, size limits, and CORS preflights and headers. The
browser side (Uppy in Chromium) is test_uppy.py."""

import base64
import http.client
import json
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from conftest import ACCESS_KEY, FERRY_BIN, REGION, SECRET_KEY, FerryServer

BUCKET = "tok"
ORIGIN = "http://app.test:8080"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    data = tmp_path_factory.mktemp("ferry-tokens") / "data"
    data.mkdir()
    server = FerryServer(data, "--cors-origin", ORIGIN).start()
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


def request(server, method, path, headers=None, body=b""):
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    r.data = r.read()
    conn.close()
    return r


def mint(server, payload, key=None, secret=None):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps(payload).encode()
    req = AWSRequest(method="POST", url=server.url + "/_ferry/v1/upload-tokens", data=body,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key or ACCESS_KEY, secret or SECRET_KEY), "s3", REGION).add_auth(req)
    r = request(server, "POST", "/_ferry/v1/upload-tokens", dict(req.headers.items()), body)
    return r.status, json.loads(r.data)


def create_upload(server, token, key, length):
    meta = f"bucket {base64.b64encode(BUCKET.encode()).decode()},key {base64.b64encode(key.encode()).decode()}"
    return request(server, "POST", "/files/", {"Tus-Resumable": "1.0.0", "Upload-Length": str(length),
                                               "Upload-Metadata": meta, "Authorization": f"Bearer {token}"})


def patch(server, token, location, offset, body):
    return request(server, "PATCH", location, {"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                                               "Content-Type": "application/offset+octet-stream",
                                               "Authorization": f"Bearer {token}"}, body)


def test_the_token_api_mints_tokens_that_upload_only_under_their_prefix(srv):
    status, out = mint(srv, {"bucket": BUCKET, "prefix": "u/7/", "ttl_seconds": 300, "max_size": 10})
    assert status == 201, out
    token = out["token"]
    assert token.startswith("FUT1") and out["max_size"] == 10 and out["tus_endpoint"] == "/files/"
    created = create_upload(srv, token, "u/7/a.txt", 6)
    assert created.status == 201, created.data
    r = patch(srv, token, created.getheader("Location"), 0, b"hello!")
    assert r.status == 204 and r.getheader("Upload-Offset") == "6"
    assert srv.client().get_object(Bucket=BUCKET, Key="u/7/a.txt")["Body"].read() == b"hello!"
    # Another prefix: 403; over the size: 413; an altered token: 401.
    other = create_upload(srv, token, "u/8/a.txt", 6)
    assert other.status == 403 and b"may not write" in other.data
    big = create_upload(srv, token, "u/7/big.bin", 11)
    assert big.status == 413 and b"at most 10" in big.data
    altered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    bad = create_upload(srv, altered, "u/7/a.txt", 6)
    assert bad.status == 401 and b"altered" in bad.data
    # The token is a bearer for tus only: S3 does not take it.
    s3 = request(srv, "GET", f"/{BUCKET}/u/7/a.txt", {"Authorization": f"Bearer {token}"})
    assert s3.status in (400, 403)


def test_the_token_api_refuses_bad_requests_in_json(srv):
    assert mint(srv, {"bucket": BUCKET, "ttl_seconds": 30})[0] == 400
    assert mint(srv, {"bucket": BUCKET, "ttl_seconds": 90000})[0] == 400
    status, out = mint(srv, {"bucket": BUCKET, "prefx": "a/"})
    assert status == 400 and "unknown field" in out["error"]["message"]
    status, out = mint(srv, {"bucket": BUCKET}, secret="wrong-secret-wrong-secret-wrong-secret00")
    assert status == 403 and out["error"]["code"] == "AccessDenied"
    r = request(srv, "POST", "/_ferry/v1/upload-tokens", {"Content-Type": "application/json"}, b'{"bucket":"tok"}')
    assert r.status == 403 and json.loads(r.data)["error"]["code"] == "AccessDenied"
    r = request(srv, "GET", "/_ferry/v1/upload-tokens")
    assert r.status == 405 and r.getheader("Allow") == "POST" and json.loads(r.data)["error"]["code"] == "MethodNotAllowed"
    r = request(srv, "PUT", "/_ferry/anything")
    assert r.status == 404 and json.loads(r.data)["error"]["code"] == "NotFound"


def test_a_token_ends_when_its_key_is_disabled_and_never_widens_it(srv):
    out = subprocess.run([FERRY_BIN, "keys", "create", "webapp", "--grant", f"{BUCKET}/app/:write",
                          "--data-dir", str(srv.data_dir), "--json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)
    for _ in range(50):  # the key store is re-read about every second
        status, minted = mint(srv, {"bucket": BUCKET, "prefix": "app/x/"}, key["access_key_id"], key["secret_access_key"])
        if status != 403 or "Access Key Id" not in minted["error"]["message"]:
            break
        time.sleep(0.1)
    assert status == 201, minted
    # The key may not write outside app/: no token for that (from the API or the CLI).
    status, refused = mint(srv, {"bucket": BUCKET, "prefix": "other/"}, key["access_key_id"], key["secret_access_key"])
    assert status == 403 and "cannot mint" in refused["error"]["message"]
    cli = subprocess.run([FERRY_BIN, "token", "create", "--key", key["access_key_id"], "--bucket", BUCKET, "--prefix",
                          "", "--data-dir", str(srv.data_dir)], capture_output=True, text=True, timeout=30)
    assert cli.returncode != 0 and "cannot mint" in cli.stderr
    token = minted["token"]
    assert create_upload(srv, token, "app/x/1.bin", 1).status == 201
    subprocess.run([FERRY_BIN, "keys", "disable", "webapp", "--data-dir", str(srv.data_dir)], check=True,
                   capture_output=True, timeout=30)
    for _ in range(50):
        r = create_upload(srv, token, "app/x/2.bin", 1)
        if r.status != 201:
            break
        time.sleep(0.1)
    assert r.status == 401 and b"disabled" in r.data


def test_cors_preflights_and_headers_for_the_listed_origin_only(srv):
    pre = request(srv, "OPTIONS", "/files/", {"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH",
                                              "Access-Control-Request-Headers": "authorization,upload-offset"})
    assert pre.status == 204
    assert pre.getheader("Access-Control-Allow-Origin") == ORIGIN
    assert "PATCH" in pre.getheader("Access-Control-Allow-Methods")
    assert pre.getheader("Access-Control-Allow-Headers") == "authorization,upload-offset"
    # Answered before any front-end: tus would have added its own headers.
    assert pre.getheader("Tus-Resumable") is None
    # The same on an S3 path (a browser PUTting a presigned part).
    pre = request(srv, "OPTIONS", f"/{BUCKET}/k?partNumber=1&uploadId=x",
                  {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"})
    assert pre.status == 204 and pre.getheader("Access-Control-Allow-Origin") == ORIGIN
    actual = request(srv, "GET", "/health/live", {"Origin": ORIGIN})
    assert actual.getheader("Access-Control-Allow-Origin") == ORIGIN and "Origin" in actual.getheader("Vary")
    assert "ETag" in actual.getheader("Access-Control-Expose-Headers")
    assert "Upload-Offset" in actual.getheader("Access-Control-Expose-Headers")
    # Origins not listed get no CORS headers; their preflight reaches tus like any OPTIONS.
    other = request(srv, "OPTIONS", "/files/", {"Origin": "http://evil.test", "Access-Control-Request-Method": "PATCH"})
    assert other.getheader("Access-Control-Allow-Origin") is None and other.getheader("Tus-Version") == "1.0.0"
    assert request(srv, "GET", "/health/live", {"Origin": "http://evil.test"}).getheader(
        "Access-Control-Allow-Origin") is None


def test_without_cors_origins_nothing_changes(server):
    r = request(server, "OPTIONS", "/files/", {"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"})
    assert r.getheader("Access-Control-Allow-Origin") is None and r.getheader("Tus-Version") == "1.0.0"
    assert request(server, "GET", "/health/live", {"Origin": ORIGIN}).getheader("Access-Control-Allow-Origin") is None
