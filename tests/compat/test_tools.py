"""awscli, s5cmd, rclone and curl (presigned URLs) against ferry."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, SECRET_KEY

MiB = 1024 * 1024
BIN = Path(sys.executable).parent


def run(args, env, **kw):
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, **kw)
    assert result.returncode == 0, f"{args[0]} failed: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_awscli_cp_and_s3api(server, bucket, tool_env, tmp_path):
    aws = [str(BIN / "aws"), "--endpoint-url", server.url]
    data = os.urandom(20 * MiB + 5)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    run(aws + ["s3", "cp", str(src), f"s3://{bucket}/cli/src.bin"], tool_env)
    run(aws + ["s3", "cp", f"s3://{bucket}/cli/src.bin", str(tmp_path / "back.bin")], tool_env)
    assert (tmp_path / "back.bin").read_bytes() == data
    listing = run(aws + ["s3", "ls", f"s3://{bucket}/cli/"], tool_env)
    assert "src.bin" in listing and str(len(data)) in listing
    head = run(aws + ["s3api", "head-object", "--bucket", bucket, "--key", "cli/src.bin"], tool_env)
    assert '"ContentLength": %d' % len(data) in head
    created = run(aws + ["s3api", "create-multipart-upload", "--bucket", bucket, "--key", "api.bin",
                         "--query", "UploadId", "--output", "text"], tool_env).strip()
    (tmp_path / "part").write_bytes(b"part one")
    run(aws + ["s3api", "upload-part", "--bucket", bucket, "--key", "api.bin", "--upload-id", created,
               "--part-number", "1", "--body", str(tmp_path / "part")], tool_env)
    parts = run(aws + ["s3api", "list-parts", "--bucket", bucket, "--key", "api.bin", "--upload-id", created,
                       "--query", "Parts[].Size", "--output", "text"], tool_env)
    assert parts.split() == ["8"]
    run(aws + ["s3api", "abort-multipart-upload", "--bucket", bucket, "--key", "api.bin", "--upload-id", created], tool_env)
    run(aws + ["s3", "rm", "--recursive", f"s3://{bucket}/cli/"], tool_env)


def test_s5cmd_cp_with_concurrency(server, bucket, tool_env, tmp_path):
    s5 = [str(BIN / "s5cmd"), "--endpoint-url", server.url]
    data = os.urandom(33 * MiB)
    src = tmp_path / "s5.bin"
    src.write_bytes(data)
    run(s5 + ["cp", "-c", "4", "-p", "5", str(src), f"s3://{bucket}/s5.bin"], tool_env)
    run(s5 + ["cp", "-c", "4", "-p", "5", f"s3://{bucket}/s5.bin", str(tmp_path / "s5.out")], tool_env)
    assert (tmp_path / "s5.out").read_bytes() == data
    assert "s5.bin" in run(s5 + ["ls", f"s3://{bucket}/"], tool_env)


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is installed by scripts/test.sh")
def test_rclone_copy(server, bucket, tool_env, tmp_path):
    env = tool_env | {
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        "RCLONE_CONFIG_FERRY_TYPE": "s3",
        "RCLONE_CONFIG_FERRY_PROVIDER": "Other",
        "RCLONE_CONFIG_FERRY_ACCESS_KEY_ID": ACCESS_KEY,
        "RCLONE_CONFIG_FERRY_SECRET_ACCESS_KEY": SECRET_KEY,
        "RCLONE_CONFIG_FERRY_ENDPOINT": server.url,
        "RCLONE_CONFIG_FERRY_REGION": "us-east-1",
    }
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub/b.bin": os.urandom(12 * MiB), "sub/c.bin": os.urandom(1000)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    run(["rclone", "copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(src), f"ferry:{bucket}/tree"], env)
    run(["rclone", "check", str(src), f"ferry:{bucket}/tree"], env)
    back = tmp_path / "back"
    run(["rclone", "copy", f"ferry:{bucket}/tree", str(back)], env)
    for name, data in files.items():
        assert (back / name).read_bytes() == data


def curl(args):
    result = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True, timeout=60)
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


@pytest.mark.parametrize("signature", ["s3v4", None])
def test_presigned_put_and_get_with_curl(server, bucket, tmp_path, signature):
    config = {"signature_version": signature} if signature else {}
    s3 = server.client(**config)
    data = os.urandom(3 * MiB)
    (tmp_path / "up.bin").write_bytes(data)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre.bin"}, ExpiresIn=300)
    if signature is None:
        assert "AWSAccessKeyId=" in put_url, "boto3's default presign is SigV2"
    status, _ = curl(["-T", str(tmp_path / "up.bin"), put_url])
    assert status == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre.bin"}, ExpiresIn=300)
    status, body = curl([get_url])
    assert status == 200 and body == data
    # Tampering with the URL breaks the signature.
    status, body = curl([get_url.replace("pre.bin", "pre2.bin")])
    assert status == 403 and b"SignatureDoesNotMatch" in body
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre.bin"}, ExpiresIn=1)
    time.sleep(2.1)
    status, body = curl([expired])
    assert status == 403 and b"AccessDenied" in body
