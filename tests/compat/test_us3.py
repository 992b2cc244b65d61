"""The unmodified ufile SDK against ferry's US3 dialect. `<bucket>.us3.ferry.test` is resolved to
127.0.0.1 inside this process, as a wildcard DNS record would in a deployment."""

import hashlib
import os
import socket
import time

import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, s3_client

DOMAIN = "us3.ferry.test"
MiB = 1024 * 1024
BLOCK = 1 * MiB


@pytest.fixture(scope="module")
def us3(tmp_path_factory):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith("." + DOMAIN):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    data = tmp_path_factory.mktemp("us3") / "data"
    data.mkdir()
    srv = FerryServer(data, "--us3-domain", DOMAIN, "--us3-block-size", str(BLOCK)).start()
    from ufile import config
    config.set_default(uploadsuffix=f".{DOMAIN}:{srv.port}", downloadsuffix=f".{DOMAIN}:{srv.port}")
    s3_client(srv.url).create_bucket(Bucket="ubkt")
    yield srv
    srv.stop()
    socket.getaddrinfo = real


def test_files(us3, tmp_path):
    from ufile import filemanager
    fm = filemanager.FileManager(ACCESS_KEY, SECRET_KEY)
    src = tmp_path / "a.txt"
    src.write_bytes(b"hello us3 " * 1000)
    ret, resp = fm.putfile("ubkt", "dir/a.txt", str(src))
    assert resp.status_code == 200, resp.error
    ret, resp = fm.head_file("ubkt", "dir/a.txt")
    assert resp.status_code == 200 and int(resp.content_length) == 10_000
    ret, resp = fm.download_file("ubkt", "dir/a.txt", str(tmp_path / "back.txt"))
    assert resp.status_code == 200 and (tmp_path / "back.txt").read_bytes() == src.read_bytes()
    ret, resp = fm.download_file("ubkt", "dir/a.txt", str(tmp_path / "part.txt"), content_range=(0, 8))
    assert resp.status_code == 206 and (tmp_path / "part.txt").read_bytes() == b"hello us3"
    import io
    ret, resp = fm.putstream("ubkt", "dir/stream.bin", io.BytesIO(b"streamed"))
    assert resp.status_code == 200
    ret, resp = fm.getfilelist("ubkt", prefix="dir/")
    assert resp.status_code == 200 and [f["FileName"] for f in ret["DataSet"]] == ["dir/a.txt", "dir/stream.bin"]
    ret, resp = fm.listobjects("ubkt", prefix="", marker="", maxkeys=100, delimiter="/")
    assert resp.status_code == 200 and ret["CommonPrefixes"] == [{"Prefix": "dir/"}]
    url = fm.private_download_url("ubkt", "dir/a.txt", expires=60)
    assert requests.get(url).content == src.read_bytes()
    expired = fm.private_download_url("ubkt", "dir/a.txt", expires=1)
    time.sleep(2.1)
    r = requests.get(expired)
    assert r.status_code == 403 and "RetCode" in r.json()
    ret, resp = fm.deletefile("ubkt", "dir/stream.bin")
    assert resp.status_code == 204
    ret, resp = fm.head_file("ubkt", "dir/stream.bin")
    assert resp.status_code == 404
    ret, resp = fm.download_file("ubkt", "missing", str(tmp_path / "m"))
    assert resp.status_code == 404 and resp.error == "file not exist"


def test_multipart_threads_and_cross_protocol(us3, tmp_path):
    from ufile import multipartuploadufile
    data = os.urandom(5 * BLOCK + 123)
    (tmp_path / "big.bin").write_bytes(data)
    m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
    ret, resp = m.uploadfile("ubkt", "big.bin", str(tmp_path / "big.bin"), maxthread=4, retrycount=2, retryinterval=0)
    assert resp.status_code == 200, resp.error
    got = s3_client(us3.url).get_object(Bucket="ubkt", Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    import io
    m2 = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
    ret, resp = m2.uploadstream("ubkt", "big-stream.bin", io.BytesIO(data), maxthread=3, retrycount=2, retryinterval=0)
    assert resp.status_code == 200, resp.error
    assert s3_client(us3.url).get_object(Bucket="ubkt", Key="big-stream.bin")["Body"].read() == data


def test_resume_after_a_failed_part_sends_only_the_missing_parts(us3, tmp_path, monkeypatch):
    from ufile import httprequest, multipartuploadufile
    data = os.urandom(4 * BLOCK + 7)
    (tmp_path / "r.bin").write_bytes(data)
    sent, failed = [], []
    real_put = httprequest.requests.put

    def flaky_put(url, *args, **kwargs):
        if "partNumber=" in url:
            number = int(url.split("partNumber=")[1].split("&")[0])
            sent.append(number)
            if number == 2 and not failed:
                failed.append(number)
                raise requests.exceptions.ConnectionError("injected part failure")
        return real_put(url, *args, **kwargs)

    monkeypatch.setattr(httprequest.requests, "put", flaky_put)
    m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
    ret, resp = m.uploadfile("ubkt", "resumed.bin", str(tmp_path / "r.bin"), maxthread=1, retrycount=1, retryinterval=0)
    assert resp.status_code != 200
    first = list(sent)
    sent.clear()
    from ufile import filemanager
    ret, resp = filemanager.FileManager(ACCESS_KEY, SECRET_KEY).head_file("ubkt", "resumed.bin")
    assert resp.status_code == 404, "nothing is published before finish"
    ret, resp = m.get_multi_upload_part("ubkt", m.uploadid)
    assert resp.status_code == 200 and [p["PartId"] for p in ret["DataSet"]] == [0, 1], "the server holds the parts sent so far"
    ret, resp = m.resumeuploadfile()
    assert resp.status_code == 200, resp.error
    assert sent == [2, 3, 4] and first == [0, 1, 2]
    got = s3_client(us3.url).get_object(Bucket="ubkt", Key="resumed.bin")["Body"].read()
    assert got == data


def test_wrong_private_key_writes_nothing(us3, tmp_path):
    from ufile import filemanager
    (tmp_path / "x").write_bytes(b"nope")
    ret, resp = filemanager.FileManager(ACCESS_KEY, "wrong-private-key").putfile("ubkt", "nope.txt", str(tmp_path / "x"))
    assert resp.status_code == 403 and resp.error == "signature mismatch"
    ret, resp = filemanager.FileManager(ACCESS_KEY, SECRET_KEY).head_file("ubkt", "nope.txt")
    assert resp.status_code == 404


def test_resume_stream_and_missing_bucket(us3, tmp_path, monkeypatch):
    import io
    from ufile import filemanager, httprequest, multipartuploadufile
    data = os.urandom(3 * BLOCK + 5)
    failed = []
    real_put = httprequest.requests.put

    def flaky_put(url, *args, **kwargs):
        if "partNumber=1" in url and not failed:
            failed.append(url)
            raise requests.exceptions.ConnectionError("injected part failure")
        return real_put(url, *args, **kwargs)

    monkeypatch.setattr(httprequest.requests, "put", flaky_put)
    stream = io.BytesIO(data)
    m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
    ret, resp = m.uploadstream("ubkt", "stream-resumed.bin", stream, maxthread=1, retrycount=1, retryinterval=0)
    assert resp.status_code != 200 and failed
    # A stream resumes from where the caller positions it: the first part the server lacks.
    stream.seek(m.pausepartnumber * m.blocksize)
    ret, resp = m.resumeuploadstream(retrycount=1, retryinterval=0)
    assert resp.status_code == 200, resp.error
    assert s3_client(us3.url).get_object(Bucket="ubkt", Key="stream-resumed.bin")["Body"].read() == data
    (tmp_path / "f").write_bytes(b"x")
    ret, resp = filemanager.FileManager(ACCESS_KEY, SECRET_KEY).putfile("no-such-bucket", "k", str(tmp_path / "f"))
    assert resp.status_code == 400 and resp.error == "bucket not exist"
