"""The unmodified oss2 SDK against ferry's OSS dialect, on the same port and data as S3."""

import base64
import http.server
import json
import os
import threading
import urllib.request

import oss2
import pytest

from conftest import ACCESS_KEY, SECRET_KEY

KiB, MiB = 1024, 1024 * 1024


@pytest.fixture
def oss_bucket(server, bucket):
    """An oss2 Bucket (V1 signatures) on a bucket created through S3."""
    return oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, bucket)


def test_objects_ranges_listing(oss_bucket, s3, bucket):
    b = oss_bucket
    put = b.put_object("dir/a b.txt", b"hello world")
    assert put.etag == "5EB63BBBE01EEED093CB22BB8F5ACDC3"
    assert put.crc == 5981764153023615706, "x-oss-hash-crc64ecma is CRC-64/XZ of the bytes"
    assert b.get_object("dir/a b.txt").read() == b"hello world"
    assert b.get_object("dir/a b.txt", byte_range=(6, 10)).read() == b"world"
    assert b.head_object("dir/a b.txt").content_length == 11
    assert b.object_exists("dir/a b.txt") and not b.object_exists("missing")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object("missing")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.head_object("missing")  # the error travels in x-oss-err
    for i in range(5):
        b.put_object(f"list/{i}", b"x")
    b.put_object("list/sub/deep", b"x")
    top = b.list_objects(prefix="list/", delimiter="/", max_keys=100)
    assert [o.key for o in top.object_list] == [f"list/{i}" for i in range(5)]
    assert top.prefix_list == ["list/sub/"]
    assert [o.key for o in oss2.ObjectIterator(b, prefix="list/", max_keys=2)] == [f"list/{i}" for i in range(5)] + ["list/sub/deep"]
    assert [o.key for o in oss2.ObjectIteratorV2(b, prefix="list/", max_keys=2)][:2] == ["list/0", "list/1"]
    b.delete_object("list/0")
    assert not b.object_exists("list/0")
    # The same object through S3, and an S3 object through OSS.
    assert s3.get_object(Bucket=bucket, Key="dir/a b.txt")["Body"].read() == b"hello world"
    s3.put_object(Bucket=bucket, Key="from-s3", Body=b"s3 bytes")
    assert b.get_object("from-s3").read() == b"s3 bytes"


def test_low_level_multipart(oss_bucket):
    b = oss_bucket
    upload_id = b.init_multipart_upload("mp.bin").upload_id
    blobs = {n: os.urandom(100 * KiB + n) for n in (1, 2, 3)}
    parts = {}
    for n in (3, 1, 2):
        r = b.upload_part("mp.bin", upload_id, n, blobs[n])
        parts[n] = oss2.models.PartInfo(n, r.etag, size=len(blobs[n]), part_crc=r.crc)
    listed = list(oss2.PartIterator(b, "mp.bin", upload_id, max_parts=1))
    assert [p.part_number for p in listed] == [1, 2, 3]
    assert [u.upload_id for u in oss2.MultipartUploadIterator(b)] == [upload_id]
    done = b.complete_multipart_upload("mp.bin", upload_id, [parts[n] for n in (1, 2, 3)])
    assert done.status == 200
    assert b.get_object("mp.bin").read() == blobs[1] + blobs[2] + blobs[3]
    # Errors: unknown upload, wrong ETag, descending order.
    other = b.init_multipart_upload("mp2.bin").upload_id
    r = b.upload_part("mp2.bin", other, 1, b"x" * (100 * KiB))
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.upload_part("mp2.bin", "0" * 32, 1, b"x")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.complete_multipart_upload("mp2.bin", other, [oss2.models.PartInfo(1, "0" * 32)])
    assert e.value.code == "InvalidPart"
    b.abort_multipart_upload("mp2.bin", other)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.list_parts("mp2.bin", other)


def test_resumable_upload_resumes_only_missing_parts(oss_bucket, tmp_path):
    b = oss_bucket
    data = os.urandom(5 * MiB + 17)
    (tmp_path / "big").write_bytes(data)
    store = oss2.ResumableStore(root=str(tmp_path))
    sent = []
    failed = []
    real_upload_part = b.upload_part

    def failing_upload_part(key, upload_id, number, body, *args, **kwargs):
        sent.append(number)
        if number == 3 and not failed:
            failed.append(number)
            raise oss2.exceptions.RequestError(IOError("injected network failure"))
        return real_upload_part(key, upload_id, number, body, *args, **kwargs)

    b.upload_part = failing_upload_part
    kwargs = dict(store=store, multipart_threshold=MiB, part_size=MiB, num_threads=2)
    with pytest.raises(oss2.exceptions.RequestError):
        oss2.resumable_upload(b, "resumed.bin", str(tmp_path / "big"), **kwargs)
    first_run = list(sent)
    sent.clear()
    oss2.resumable_upload(b, "resumed.bin", str(tmp_path / "big"), **kwargs)
    assert 3 in sent and not set(sent) & (set(first_run) - {3}), f"re-sent {sent} after {first_run}"
    assert b.get_object("resumed.bin").read() == data
    oss2.resumable_download(b, "resumed.bin", str(tmp_path / "down"), store=oss2.ResumableDownloadStore(root=str(tmp_path)),
                            multiget_threshold=MiB, part_size=MiB, num_threads=2)
    assert (tmp_path / "down").read_bytes() == data


def test_v4_presigned_and_wrong_secret(server, oss_bucket, bucket):
    v4 = oss2.Bucket(oss2.AuthV4(ACCESS_KEY, SECRET_KEY), server.url, bucket, region="cn-hangzhou")
    v4.put_object("v4.txt", b"signed with V4")
    assert oss_bucket.get_object("v4.txt").read() == b"signed with V4"
    url = oss_bucket.sign_url("GET", "v4.txt", 60)
    assert urllib.request.urlopen(url).read() == b"signed with V4"
    wrong = oss2.Bucket(oss2.Auth(ACCESS_KEY, "not-the-secret"), server.url, bucket)
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        wrong.put_object("nope", b"x")
    assert not oss_bucket.object_exists("nope")


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers.get("Content-Type"), body.decode()))
        reply = json.dumps({"ok": True}).encode()
        self.send_response(Receiver.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Receiver.received.clear()
    Receiver.status = 200
    yield f"http://127.0.0.1:{httpd.server_address[1]}/cb"
    httpd.shutdown()
    httpd.server_close()


def callback_header(url):
    spec = {"callbackUrl": url, "callbackBody": "bucket=${bucket}&object=${object}&size=${size}&etag=${etag}&v=${x:v}",
            "callbackBodyType": "application/x-www-form-urlencoded"}
    return {
        "x-oss-callback": base64.b64encode(json.dumps(spec).encode()).decode(),
        "x-oss-callback-var": base64.b64encode(json.dumps({"x:v": "42"}).encode()).decode(),
    }


def test_upload_callbacks(oss_bucket, bucket, receiver):
    b = oss_bucket
    r = b.put_object("cb.txt", b"callback me", headers=callback_header(receiver))
    assert r.status == 200 and json.loads(r.resp.read()) == {"ok": True}
    content_type, body = Receiver.received[-1]
    assert content_type == "application/x-www-form-urlencoded"
    assert body == f"bucket={bucket}&object=cb.txt&size=11&etag={r.etag}&v=42"
    upload_id = b.init_multipart_upload("cb-mp").upload_id
    part = b.upload_part("cb-mp", upload_id, 1, b"z" * 1000)
    done = b.complete_multipart_upload("cb-mp", upload_id, [oss2.models.PartInfo(1, part.etag)], headers=callback_header(receiver))
    assert done.status == 200 and "object=cb-mp" in Receiver.received[-1][1]
    # A failing callback: CallbackFailed (203), and the object is still stored.
    Receiver.status = 500
    failed = b.put_object("cb-fail.txt", b"stored anyway", headers=callback_header(receiver))
    assert failed.status == 203 and b"<Code>CallbackFailed</Code>" in failed.resp.read()
    assert b.get_object("cb-fail.txt").read() == b"stored anyway"


def test_ali_oss_put_get_list_and_resumed_multipart(server, bucket, tmp_path):
    import shutil
    import subprocess
    from pathlib import Path
    node_dir = Path(__file__).parent / "node"
    assert (node_dir / "node_modules" / "ali-oss").exists(), "scripts/test.sh installs ali-oss with npm"
    data = os.urandom(MiB + 3)
    (tmp_path / "ali.bin").write_bytes(data)
    r = subprocess.run([shutil.which("node"), str(node_dir / "ali_oss_check.js"), server.url, ACCESS_KEY, SECRET_KEY, bucket,
                        str(tmp_path / "ali.bin")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["get"] == "hello from ali-oss" and out["head_size"] == 18 and out["list"] == ["ali/small.txt"]
    assert out["interrupted"] is True and out["resumed_status"] == 200
    assert out["done_before_resume"] >= 2
    # Only the parts missing from the checkpoint were sent again (one progress call each, plus the final one).
    assert out["progress_after_resume"] <= out["total_parts"] - out["done_before_resume"] + 1
    assert out["big_md5"] == out["file_md5"]
