"""HTTPS: boto3 sends aws-chunked bodies with trailing checksums only over TLS."""

import base64
import hashlib
import os

import pytest
import trustme
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import FerryServer, s3_client, error_code

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(base / "server.pem"))
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    (base / "data").mkdir()
    srv = FerryServer(base / "data", tls=(base / "server.pem", base / "server.pem")).start()
    assert srv.url.startswith("https://")
    yield srv, str(base / "ca.pem")
    srv.stop()


def test_aws_chunked_put_and_multipart_over_https(tls_server, tmp_path):
    srv, ca = tls_server
    s3 = s3_client(srv.url, verify=ca)
    s3.create_bucket(Bucket="tls")
    # Capture what boto3 actually sends, to be sure this test exercises aws-chunked.
    seen = []
    s3.meta.events.register("before-send.s3.*", lambda request, **_: seen.append(dict(request.headers)))
    put = s3.put_object(Bucket="tls", Key="small", Body=b"hello world")
    assert put["ChecksumCRC32"] == "DUoRhQ=="
    assert any(h.get("Content-Encoding") == b"aws-chunked" for h in seen)
    assert any(h.get("X-Amz-Content-SHA256") == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER" for h in seen)
    assert s3.get_object(Bucket="tls", Key="small")["Body"].read() == b"hello world"

    data = os.urandom(21 * MiB)
    (tmp_path / "big").write_bytes(data)
    s3.upload_file(str(tmp_path / "big"), "tls", "big", Config=TransferConfig(multipart_chunksize=8 * MiB, max_concurrency=3))
    got = s3.get_object(Bucket="tls", Key="big", ChecksumMode="ENABLED")
    assert hashlib.md5(got["Body"].read()).digest() == hashlib.md5(data).digest()
    # SHA-256 requested explicitly travels in the trailer too, and is verified and echoed.
    put = s3.put_object(Bucket="tls", Key="sha", Body=b"x" * 1000, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"x" * 1000).digest()).decode()


def test_wrong_trailer_checksum_is_refused(tls_server):
    srv, ca = tls_server
    s3 = s3_client(srv.url, verify=ca)
    s3.create_bucket(Bucket="tls-bad")

    def corrupt(request, **_):
        # Flip one payload byte after botocore has computed the trailing CRC32.
        body = request.body
        if hasattr(body, "read"):
            raw = body.read()
            request.body = raw.replace(b"payload!", b"pay1oad!")
        elif isinstance(body, bytes):
            request.body = body.replace(b"payload!", b"pay1oad!")

    s3.meta.events.register("before-send.s3.PutObject", corrupt)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="tls-bad", Key="k", Body=b"payload!" * 100)
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3_client(srv.url, verify=ca).head_object(Bucket="tls-bad", Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_ferry_cli_over_https(tls_server, tmp_path):
    import subprocess
    from conftest import ACCESS_KEY, FERRY_BIN, SECRET_KEY
    srv, ca = tls_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_ENDPOINT_URL=srv.url,
               AWS_CA_BUNDLE=ca, HOME=str(tmp_path))
    run = lambda *a, env=env: subprocess.run([FERRY_BIN, *a], env=env, capture_output=True, text=True, timeout=120)
    data = os.urandom(12 * MiB)
    (tmp_path / "tls.bin").write_bytes(data)
    assert run("mb", "s3://tls-cli").returncode == 0
    r = run("cp", str(tmp_path / "tls.bin"), "s3://tls-cli/tls.bin", "--part-size", "5MiB")
    assert r.returncode == 0, r.stderr
    r = run("cp", "s3://tls-cli/tls.bin", str(tmp_path / "back.bin"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.bin").read_bytes() == data
    # Without the CA the server's certificate is not trusted.
    untrusted = {k: v for k, v in env.items() if k != "AWS_CA_BUNDLE"}
    r = run("ls", "s3://tls-cli", env=untrusted)
    assert r.returncode == 1 and "certificate" in r.stderr.lower()
