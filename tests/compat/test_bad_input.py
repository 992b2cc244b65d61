"""Bad input gets S3's error and never writes or loses data."""

import hashlib
import http.client
import os
import socket
import time
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, blob_files, error_code, s3_client


def signed(url_base, method, path, body=b"", headers=None, host=None, secret=SECRET_KEY):
    """Sign a raw request with SigV4 (payload hash included) as any SDK would."""
    url = url_base + path
    headers = dict(headers or {})
    headers.setdefault("Content-Length", str(len(body)))
    request = AWSRequest(method=method, url=url if host is None else url.replace(url_base.split("//")[1], host), data=body,
                         headers=headers)
    S3SigV4Auth(Credentials(ACCESS_KEY, secret), "s3", "us-east-1").add_auth(request)
    return request


def send(server, request, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    _, _, netloc, path = request.url.split("/", 3)
    headers = dict(request.headers)
    headers["Host"] = netloc
    conn.request(request.method, "/" + path, body=request.body if body is None else body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_wrong_secret_writes_nothing(server, s3, bucket):
    wrong = s3_client(server.url)
    wrong._request_signer._credentials = Credentials(ACCESS_KEY, "not-the-secret")
    with pytest.raises(ClientError) as e:
        wrong.put_object(Bucket=bucket, Key="nope", Body=b"data")
    assert error_code(e) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    stranger = s3_client(server.url)
    stranger._request_signer._credentials = Credentials("UNKNOWNKEY", SECRET_KEY)
    with pytest.raises(ClientError) as e:
        stranger.list_buckets()
    assert error_code(e) == "InvalidAccessKeyId"
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", f"/{bucket}")
    response = conn.getresponse()
    assert response.status == 403 and b"<Code>AccessDenied</Code>" in response.read()


def test_part_numbers_and_keys(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for number in (0, 10001):
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=number, Body=b"x")
        assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(e) == "KeyTooLongError"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="nul\x00key", Body=b"x")
    assert error_code(e) == "InvalidArgument"


def test_keys_are_opaque_and_stay_inside_the_data_dir(server, s3, bucket):
    before = set(os.listdir(server.data_dir.parent))
    for key in ["../../../../tmp/ferry-escape", "..", "./x", "a//b", "/lead"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert not os.path.exists("/tmp/ferry-escape")
    new = set(os.listdir(server.data_dir.parent)) - before
    assert all(name.startswith("ferry-") and name.endswith(".log") for name in new), new


def test_wrong_digests_write_nothing(server, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"data", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="crc", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"data", ContentMD5="not base64!")
    assert error_code(e) == "InvalidDigest"
    # Signed for one body, sent with another of the same length.
    status, body = send(server, signed(server.url, "PUT", f"/{bucket}/sha", b"real body"), body=b"fake body")
    assert status == 400 and b"XAmzContentSHA256Mismatch" in body
    for key in ["md5", "crc", "sha"]:
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key=key)


def test_truncated_body_writes_nothing(server, s3, bucket):
    blobs_before = len(blob_files(server.data_dir))
    # Signed for 100,000 bytes; only 5,000 are sent before the connection closes.
    request = signed(server.url, "PUT", f"/{bucket}/trunc", b"x" * 100_000)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = f"PUT /{bucket}/trunc HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
        sock.sendall(head.encode() + b"x" * 5000)
        sock.shutdown(socket.SHUT_WR)
        assert b"IncompleteBody" in sock.recv(65536), "the server saw the body end early"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="trunc2")["UploadId"]
    request = signed(server.url, "PUT", f"/{bucket}/trunc2?partNumber=1&uploadId={upload}", b"y" * 100_000)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = f"PUT /{bucket}/trunc2?partNumber=1&uploadId={upload} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
        sock.sendall(head.encode() + b"y" * 5000)
        sock.shutdown(socket.SHUT_WR)
        assert b"IncompleteBody" in sock.recv(65536)
    time.sleep(0.5)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="trunc")
    assert s3.list_parts(Bucket=bucket, Key="trunc2", UploadId=upload).get("Parts", []) == []
    assert len(blob_files(server.data_dir)) == blobs_before
    assert not (server.data_dir / "tmp").exists(), "nothing is staged outside the blob files"


def test_malformed_and_oversized_xml(server, s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="x")["UploadId"]
    for body in [b"<CompleteMultipartUpload><Part>", b"garbage", b"<CompleteMultipartUpload/>", b"<a>" * 50 + b"</a>" * 50]:
        status, data = send(server, signed(server.url, "POST", f"/{bucket}/x?uploadId={upload}", body))
        assert status == 400 and b"<Code>MalformedXML</Code>" in data, body
    huge = b"<CompleteMultipartUpload>" + b"<Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>" * 200_000
    status, data = send(server, signed(server.url, "POST", f"/{bucket}/x?uploadId={upload}", huge))
    assert status == 400 and b"MalformedXML" in data
    status, data = send(server, signed(server.url, "POST", f"/{bucket}?delete", b"<Delete></Delete>"))
    assert status == 400 and b"MalformedXML" in data


def test_virtual_host_addressing(tmp_path):
    (tmp_path / "data").mkdir()
    srv = FerryServer(tmp_path / "data", "--domain", "s3.ferry.test").start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="vhost")
        host = f"vhost.s3.ferry.test:{srv.port}"
        status, _ = send(srv, signed(srv.url, "PUT", "/" + quote("dir/v.txt"), b"virtual", host=host))
        assert status == 200
        assert s3.get_object(Bucket="vhost", Key="dir/v.txt")["Body"].read() == b"virtual"
        status, body = send(srv, signed(srv.url, "GET", "/?list-type=2", host=host))
        assert status == 200 and b"<Key>dir/v.txt</Key>" in body
        # On a bucket's host the path is a key, even where it looks like the ferry API, the
        # console or tus on the service's own host.
        for key in ["_ferry/v1/upload-tokens", "_ferry/notes.txt", "console/index.html", "files/x"]:
            status, body = send(srv, signed(srv.url, "PUT", "/" + quote(key), key.encode(), host=host))
            assert status == 200, (key, body)
            status, body = send(srv, signed(srv.url, "GET", "/" + quote(key), host=host))
            assert (status, body) == (200, key.encode())
            assert s3.get_object(Bucket="vhost", Key=key)["Body"].read() == key.encode()
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("GET", "/console/index.html", headers={"Host": host})
        response = conn.getresponse()
        assert response.status == 403 and b"<Code>AccessDenied</Code>" in response.read()
        conn.close()
        # The service's own host still serves the console.
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("GET", "/console/", headers={"Host": f"s3.ferry.test:{srv.port}"})
        response = conn.getresponse()
        assert response.status == 200 and b"<html" in response.read().lower()
        conn.close()
    finally:
        srv.stop()
