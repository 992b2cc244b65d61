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
import socket
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


def once_key_is_known(request):
    """Send `request()` until the server knows the key it is signed with: a key created with
    `ferry keys create` reaches a running server when it next re-reads the key store (about every
    second), and until then requests signed with it get 401."""
    for _ in range(50):
        r = request()
        if r.status != 401:
            return r
        time.sleep(0.1)
    return r


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

    allowed = once_key_is_known(lambda: create("ci/ok.bin"))
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


# --- tus extensions and the IETF draft with tus-js-client ------------------------------------

def run_ext(server, key, size, scenario, *extra, timeout=120):
    r = subprocess.run([shutil.which("node"), str(NODE_DIR / "tus_extensions.js"), server.url, BUCKET, key, str(size),
                        scenario, *extra], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def object_bytes(server, key):
    return s3_client(server.url).get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_parallel_uploads_are_concatenated_without_copying(tus_server):
    key = f"par/{uuid.uuid4().hex[:8]}.bin"
    size = 5 * 1024 * 1024 + 777
    before = part_bytes(tus_server)
    out = run_ext(tus_server, key, size, "parallel")
    assert (out["partials"], out["finals"]) == (4, 1)
    assert out["head"]["status"] == 200
    assert out["head"]["offset"] == out["head"]["length"] == size
    assert out["head"]["concat"].startswith("final;"), out["head"]
    assert len(out["head"]["concat"].split(";", 1)[1].split()) == 4
    assert object_bytes(tus_server, key) == expected_data(size)
    # Published by metadata only: the bytes were stored once, as the partials' parts.
    assert part_bytes(tus_server) - before == size


def test_deferred_length_is_sent_with_the_last_patch(tus_server):
    key = f"defer/{uuid.uuid4().hex[:8]}.bin"
    size = 2 * 1024 * 1024 + 99
    out = run_ext(tus_server, key, size, "deferred")
    assert out["created"]["length"] is None
    assert out["lengthSentAt"] == [2 * 1024 * 1024]
    assert (out["head"]["offset"], out["head"]["length"]) == (size, size)
    assert object_bytes(tus_server, key) == expected_data(size)


@pytest.mark.parametrize("protocol,interop", [("ietf-draft-05", "6"), ("ietf-draft-03", "5")])
def test_ietf_protocol_option(tus_server, protocol, interop):
    key = f"ietf/{uuid.uuid4().hex[:8]}.bin"
    size = 3 * 1024 * 1024 + 5
    out = run_ext(tus_server, key, size, protocol)
    assert out["interop"] == [interop]
    assert out["patches"] == 4 and out["lastComplete"] == "?1"  # 3 MiB + 5 bytes in 1 MiB chunks
    assert out["head"]["status"] == 204
    assert (out["head"]["offset"], out["head"]["complete"]) == (size, "?1")
    assert object_bytes(tus_server, key) == expected_data(size)


def test_kill9_mid_upload_resumes_from_the_durable_offset(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    server = FerryServer(data, "--tus-anonymous-bucket", BUCKET).start()
    port = server.port
    s3_client(server.url).create_bucket(Bucket=BUCKET)
    key = f"crash/{uuid.uuid4().hex[:8]}.bin"
    size = 12 * 1024 * 1024 + 4321
    node = subprocess.Popen([shutil.which("node"), str(NODE_DIR / "tus_extensions.js"), server.url, BUCKET, key,
                             str(size), "killstart"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    restarted = None
    try:
        line = node.stdout.readline()
        assert line, node.stderr.read()
        location = json.loads(line)["url"]
        server.kill9()  # the fourth chunk's PATCH is in flight
        node.wait(timeout=60)
        restarted = FerryServer(data, "--tus-anonymous-bucket", BUCKET).start(listen=f"127.0.0.1:{port}")
        assert restarted.url == server.url
        path = location.split(str(port), 1)[1]
        probe = tus_request(restarted, "HEAD", path, {})
        durable = int(probe.getheader("Upload-Offset"))
        assert 3 * 1024 * 1024 <= durable < size
        out = run_ext(restarted, key, size, "resume", location)
        assert out["firstRequest"] == "HEAD"
        assert out["resumedFrom"] == durable
        assert out["head"]["offset"] == size
        # Counted at the restarted server: only what was not durable was sent again.
        assert part_bytes(restarted) == size - durable
        assert object_bytes(restarted, key) == expected_data(size)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
        if restarted:
            restarted.stop()


def meta_header(bucket, key=None):
    pairs = {"bucket": bucket, **({"key": key} if key else {})}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def test_refusals_wrong_offset_length_exceeded_and_racing_patches(tus_server):
    created = tus_request(tus_server, "POST", "/files/", {"Upload-Length": "10",
                                                          "Upload-Metadata": meta_header(BUCKET, "refuse.bin")})
    location = created.getheader("Location")
    octets = {"Content-Type": "application/offset+octet-stream"}
    assert tus_request(tus_server, "PATCH", location, {"Upload-Offset": "3", **octets}, b"abc").status == 409
    assert tus_request(tus_server, "PATCH", location, {"Upload-Offset": "0", **octets}, b"0123456789X").status == 413
    assert tus_request(tus_server, "HEAD", location, {}).getheader("Upload-Offset") == "0"

    # Two PATCHes for offset 0: the slow one started first, the fast one stores first; the slow
    # one then gets 409 and nothing it sent is kept.
    host, port = tus_server.url.split("://", 1)[1].split(":")
    slow = socket.create_connection((host, int(port)), timeout=30)
    slow.sendall((f"PATCH {location} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                  "Content-Type: application/offset+octet-stream\r\nContent-Length: 6\r\n\r\nSLO").encode())
    time.sleep(0.5)
    fast = tus_request(tus_server, "PATCH", location, {"Upload-Offset": "0", **octets}, b"FAST")
    assert fast.status == 204 and fast.getheader("Upload-Offset") == "4"
    slow.sendall(b"WWW")
    answer = slow.recv(4096).decode()
    slow.close()
    assert answer.startswith("HTTP/1.1 409"), answer
    assert tus_request(tus_server, "HEAD", location, {}).getheader("Upload-Offset") == "4"
    assert tus_request(tus_server, "PATCH", location, {"Upload-Offset": "4", **octets}, b"456789").status == 204
    assert object_bytes(tus_server, "refuse.bin") == b"FAST456789"


def test_concatenation_refuses_incomplete_and_foreign_partials(tus_server):
    from conftest import FERRY_BIN

    s3 = s3_client(tus_server.url)
    s3.create_bucket(Bucket="tus-concat")
    keys = {}
    for name, grant in [("owner", "tus-concat/mine/:write"), ("other", "tus-concat/theirs/:write")]:
        out = subprocess.run([FERRY_BIN, "keys", "create", f"tus-{name}", "--grant", grant,
                              "--data-dir", str(tus_server.data_dir), "--json"], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        keys[name] = json.loads(out.stdout)

    def partial(body, length, key):
        r = once_key_is_known(lambda: signed(
            tus_server, "POST", "/files/", {"Upload-Concat": "partial", "Upload-Length": str(length),
                                            "Upload-Metadata": meta_header("tus-concat", "mine/p")}, key=key))
        assert r.status == 201
        location = r.getheader("Location")
        if body:
            r = signed(tus_server, "PATCH", location, {"Upload-Offset": "0",
                                                       "Content-Type": "application/offset+octet-stream"}, body, key=key)
            assert r.status == 204
        return location

    def final(locations, target, key):
        return signed(tus_server, "POST", "/files/", {"Upload-Concat": "final;" + " ".join(locations),
                                                      "Upload-Metadata": meta_header("tus-concat", target)}, key=key)

    done = partial(b"hello", 5, keys["owner"])
    half = partial(b"wor", 5, keys["owner"])
    assert final([done, half], "mine/incomplete", keys["owner"]).status == 400
    # Another key, allowed to write its own final key but not the partials' keys: refused.
    assert once_key_is_known(lambda: final([done], "theirs/stolen", keys["other"])).status == 403
    assert s3.list_objects_v2(Bucket="tus-concat").get("KeyCount") == 0
    r = signed(tus_server, "PATCH", half, {"Upload-Offset": "3", "Content-Type": "application/offset+octet-stream"},
               b"ld", key=keys["owner"])
    assert r.status == 204
    assert final([done, half], "mine/joined", keys["owner"]).status == 201
    assert s3.get_object(Bucket="tus-concat", Key="mine/joined")["Body"].read() == b"helloworld"


def test_an_s3_bucket_named_like_the_tus_path_works_path_style(tus_server):
    # boto3 addresses 127.0.0.1 path-style: every call below goes to /files/... with no tus header.
    s3 = s3_client(tus_server.url)
    s3.create_bucket(Bucket="files")
    s3.put_object(Bucket="files", Key="photo.jpg", Body=b"jpeg bytes")
    assert s3.get_object(Bucket="files", Key="photo.jpg")["Body"].read() == b"jpeg bytes"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="files")["Contents"]] == ["photo.jpg"]
    upload = s3.create_multipart_upload(Bucket="files", Key="big.bin")["UploadId"]
    etag = s3.upload_part(Bucket="files", Key="big.bin", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    s3.complete_multipart_upload(Bucket="files", Key="big.bin", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket="files", Key="big.bin")["Body"].read() == b"part"
    # A signed tus request (it carries Tus-Resumable) still reaches tus, and may upload into it.
    meta = f"bucket {base64.b64encode(b'files').decode()},key {base64.b64encode(b'via-tus.bin').decode()}"
    created = signed(tus_server, "POST", "/files/", {"Upload-Length": "3", "Upload-Metadata": meta})
    assert created.status == 201 and created.getheader("Tus-Resumable") == "1.0.0"
    r = signed(tus_server, "PATCH", created.getheader("Location"),
               {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, b"tus")
    assert r.status == 204
    assert s3.get_object(Bucket="files", Key="via-tus.bin")["Body"].read() == b"tus"
    s3.delete_object(Bucket="files", Key="photo.jpg")
    assert s3.head_object(Bucket="files", Key="big.bin")["ContentLength"] == 4
