"""tus 1.0.0: tus-js-client (Node, unmodified) uploads in chunks, is cut off, and resumes from the
server's offset without re-sending durable bytes; the object is then read back with boto3.
Checksum refusals are sent by hand (tus-js-client computes no checksums)."""

import base64
import hashlib
import http.client
import json
import re
import time
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import FerryServer, s3_client

NODE_DIR = Path(__file__).parent / "node"
BUCKET = "tus-open"


@pytest.fixture(scope="module")
def tus_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ferry-tus") / "data"
    data.mkdir()
    srv = FerryServer(data, "--tus-anonymous-bucket", BUCKET).start()
    s3_client(srv.url).create_bucket(Bucket=BUCKET)
    yield srv
    srv.stop()


def part_bytes(server):
    """Bytes the server has stored as parts (every PATCH's body lands as one)."""
    text = urllib.request.urlopen(server.url + "/metrics").read().decode()
    m = re.search(r'^ferry_received_bytes_total\{kind="part"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


def run_node(server, key, scenario):
    assert (NODE_DIR / "node_modules" / "tus-js-client").exists(), "scripts/test.sh runs npm ci"
    r = subprocess.run([shutil.which("node"), str(NODE_DIR / "tus_check.js"), server.url, BUCKET, key, scenario],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def expected_data(size):
    return bytes(((i * 31 + (i >> 10)) & 0xFF) for i in range(size))


def test_interrupted_upload_resumes_from_the_durable_offset(tus_server):
    key = f"dir/{uuid.uuid4().hex[:8]}.bin"
    before = part_bytes(tus_server)
    out = run_node(tus_server, key, "resume")
    size = out["size"]
    # Cut off after three acknowledged chunks: at least those are durable, not yet all.
    assert out["afterAbort"]["status"] == 200
    assert 3 * 1024 * 1024 <= out["afterAbort"]["offset"] < size
    assert out["resumedFrom"] == out["afterAbort"]["offset"]
    assert out["final"]["offset"] == size
    # Every byte was stored exactly once: nothing durable was sent again.
    assert part_bytes(tus_server) - before == size
    body = s3_client(tus_server.url).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(expected_data(size)).hexdigest()


def test_termination_removes_the_upload(tus_server):
    key = f"{uuid.uuid4().hex[:8]}.bin"
    out = run_node(tus_server, key, "terminate")
    assert out["afterAbort"]["status"] == 200
    assert out["afterTerminate"]["status"] == 404
    s3 = s3_client(tus_server.url)
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0


def tus_request(server, method, path, headers, body=b""):
    host = server.url.split("://", 1)[1]
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request(method, path, body=body, headers={"Tus-Resumable": "1.0.0", **headers})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


def test_checksum_mismatch_is_refused_and_nothing_kept(tus_server):
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                    {"bucket": BUCKET, "key": "sum.bin"}.items())
    created = tus_request(tus_server, "POST", "/files/", {"Upload-Length": "8", "Upload-Metadata": meta})
    assert created.status == 201
    location = created.getheader("Location")
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    r = tus_request(tus_server, "PATCH", location, {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
                                                    "Upload-Checksum": f"sha1 {wrong}"}, b"abcdefgh")
    assert r.status == 460
    assert tus_request(tus_server, "HEAD", location, {}).getheader("Upload-Offset") == "0"
    right = base64.b64encode(hashlib.sha1(b"abcdefgh").digest()).decode()
    r = tus_request(tus_server, "PATCH", location, {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
                                                    "Upload-Checksum": f"sha1 {right}"}, b"abcdefgh")
    assert r.status == 204 and r.getheader("Upload-Offset") == "8"
    assert s3_client(tus_server.url).get_object(Bucket=BUCKET, Key="sum.bin")["Body"].read() == b"abcdefgh"


def test_unsigned_requests_outside_the_open_bucket_are_refused(tus_server):
    s3_client(tus_server.url).create_bucket(Bucket="tus-closed")
    meta = f"bucket {base64.b64encode(b'tus-closed').decode()},key {base64.b64encode(b'x').decode()}"
    r = tus_request(tus_server, "POST", "/files/", {"Upload-Length": "1", "Upload-Metadata": meta})
    assert r.status == 401
    assert tus_request(tus_server, "POST", "/files/", {"Tus-Resumable": "0.2.2", "Upload-Length": "1"}).status == 412


def signed(server, method, path, headers, body=b"", key=None):
    """A tus request signed for S3 with botocore's own SigV4 signer (payload hash included), by the
    admin key or by `key` (an access key from `ferry keys create --json`)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from conftest import ACCESS_KEY, REGION, SECRET_KEY

    creds = Credentials(key["access_key_id"], key["secret_access_key"]) if key else Credentials(ACCESS_KEY, SECRET_KEY)
    req = AWSRequest(method=method, url=server.url + path, data=body, headers={"Tus-Resumable": "1.0.0", **headers})
    S3SigV4Auth(creds, "s3", REGION).add_auth(req)
    return tus_request(server, method, path, dict(req.headers.items()), body)


def test_s3_signed_requests_upload_into_any_bucket(tus_server):
    s3 = s3_client(tus_server.url)
    s3.create_bucket(Bucket="tus-signed")
    meta = f"bucket {base64.b64encode(b'tus-signed').decode()},key {base64.b64encode(b'signed.bin').decode()}"
    created = signed(tus_server, "POST", "/files/", {"Upload-Length": "6", "Upload-Metadata": meta})
    assert created.status == 201
    location = created.getheader("Location")
    r = signed(tus_server, "PATCH", location, {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
               b"signed")
    assert r.status == 204 and r.getheader("Upload-Offset") == "6"
    assert s3.get_object(Bucket="tus-signed", Key="signed.bin")["Body"].read() == b"signed"
    # The same upload's URL without a signature is refused.
    assert tus_request(tus_server, "HEAD", location, {}).status == 401


def test_a_keys_grants_decide_where_it_may_upload(tus_server):
    from conftest import FERRY_BIN

    s3 = s3_client(tus_server.url)
    s3.create_bucket(Bucket="tus-granted")
    out = subprocess.run([FERRY_BIN, "keys", "create", "tus-ci", "--grant", "tus-granted/ci/:write",
                          "--data-dir", str(tus_server.data_dir), "--json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)

    def create(name):
        meta = f"bucket {base64.b64encode(b'tus-granted').decode()},key {base64.b64encode(name.encode()).decode()}"
        return signed(tus_server, "POST", "/files/", {"Upload-Length": "2", "Upload-Metadata": meta}, key=key)

    # The key store is re-read about every second: wait for the new key to be known.
    for _ in range(50):
        allowed = create("ci/ok.bin")
        if allowed.status != 401:
            break
        time.sleep(0.1)
    assert allowed.status == 201
    location = allowed.getheader("Location")
    r = signed(tus_server, "PATCH", location, {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
               b"ok", key=key)
    assert r.status == 204
    assert s3.get_object(Bucket="tus-granted", Key="ci/ok.bin")["Body"].read() == b"ok"
    denied = create("release/no.bin")
    assert denied.status == 403
    assert "Contents" not in s3.list_objects_v2(Bucket="tus-granted", Prefix="release/")
    uploads = s3.list_multipart_uploads(Bucket="tus-granted").get("Uploads", [])
    assert not any(u["Key"].startswith("release/") for u in uploads), uploads
