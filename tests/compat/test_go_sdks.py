"""The Go SDKs, unmodified: aws-sdk-go-v2 with its transfer manager, and minio-go.

The Go module in tests/compat/go is compiled once per run (`go test -c`) and each scenario is one
Go test, run against this suite's `ferry serve` with the endpoint and keys in the environment.
What the Go test saw is checked again here with boto3."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, s3_client

GO_MODULE = Path(__file__).parent / "go"


@pytest.fixture(scope="session")
def go_tests(tmp_path_factory):
    """The Go test binary, built once for the whole run."""
    go = shutil.which("go")
    assert go, "scripts/test.sh installs Go (Debian's golang) when it is missing"
    out = tmp_path_factory.mktemp("gobin") / "ferrygo.test"
    r = subprocess.run([go, "test", "-c", "-o", str(out), "."], cwd=GO_MODULE, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def run_go(go_tests, server, bucket, tmp_path, name, ca_file=None):
    """Run one Go test against the server; returns what it wrote to result.json."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "FERRY_ENDPOINT": server.url,
        "FERRY_ACCESS_KEY_ID": ACCESS_KEY,
        "FERRY_SECRET_ACCESS_KEY": SECRET_KEY,
        "FERRY_BUCKET": bucket,
        "FERRY_WORKDIR": str(tmp_path),
        # No shared AWS config or credentials of the machine's user may leak in.
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    if ca_file:
        env["FERRY_CA_FILE"] = str(ca_file)
    r = subprocess.run([str(go_tests), "-test.run", f"^{name}$", "-test.v", "-test.count=1", "-test.timeout=5m"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=360)
    output = r.stdout + r.stderr
    assert r.returncode == 0, output
    assert f"--- PASS: {name}" in output, output
    return json.loads((tmp_path / "result.json").read_text())


def sha256_of(s3, bucket, key):
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def test_transfer_manager_default_checksum_and_part_download(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestTransferManagerDefaultChecksumAndPartDownload")
    assert sha256_of(s3, bucket, out["key"]) == out["sha256"]
    head = s3.head_object(Bucket=bucket, Key=out["key"], ChecksumMode="ENABLED")
    assert head["ETag"].strip('"') == out["etag"] and out["etag"].endswith("-3")
    assert head["ChecksumCRC32"] == out["checksum_crc32"] and head["ChecksumType"] == "COMPOSITE"
    # Each part as boto3 sees it: x-amz-mp-parts-count and the part's own bytes.
    data = Path(out["file"]).read_bytes()
    part = s3.get_object(Bucket=bucket, Key=out["key"], PartNumber=2)
    assert part["PartsCount"] == 3 and part["Body"].read() == data[5 * 2**20:10 * 2**20]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_transfer_manager_full_object_crc32c(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestTransferManagerFullObjectCRC32C")
    head = s3.head_object(Bucket=bucket, Key=out["key"], ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == out["checksum_crc32c"] and head["ChecksumType"] == "FULL_OBJECT"
    assert sha256_of(s3, bucket, out["key"]) == out["sha256"]


def test_transfer_manager_sha256(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestTransferManagerSHA256")
    attrs = s3.get_object_attributes(Bucket=bucket, Key=out["key"], ObjectAttributes=["Checksum", "ObjectParts"])
    assert attrs["Checksum"]["ChecksumSHA256"] == out["checksum_sha256"]
    assert attrs["ObjectParts"]["TotalPartsCount"] == 3
    small = s3.head_object(Bucket=bucket, Key=out["small_key"], ChecksumMode="ENABLED")
    assert small["ChecksumSHA256"] == out["small_checksum_sha256"]
    body = s3.get_object(Bucket=bucket, Key=out["small_key"])["Body"].read()
    assert base64.b64encode(hashlib.sha256(body).digest()).decode() == out["small_checksum_sha256"]


def test_transfer_manager_complete_checks(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestTransferManagerCompleteChecks")
    head = s3.head_object(Bucket=bucket, Key=out["key"], ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == out["checksum_crc32"] and head["ChecksumType"] == "FULL_OBJECT"
    assert sha256_of(s3, bucket, out["key"]) == out["sha256"]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert not set(out["refused"]) & set(listed)


def test_complete_with_another_checksum_type_is_refused_and_the_upload_stays_open(s3, bucket):
    """The checks the Go transfer manager's Complete headers led to, as boto3 sends them."""
    import botocore.exceptions
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
    part = s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=1, Body=b"abc",
                          ChecksumAlgorithm="CRC32")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]}
    for kwargs, code in [({"ChecksumType": "FULL_OBJECT"}, "InvalidRequest"),
                         ({"MpuObjectSize": 4}, "InvalidArgument"),
                         ({"ChecksumCRC32": "AAAAAA==-1"}, "BadDigest")]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"], MultipartUpload=parts,
                                         **kwargs)
        assert e.value.response["Error"]["Code"] == code, kwargs
    # The composite value, with or without its part count, and the right size publish.
    import zlib
    inner = zlib.crc32(base64.b64decode(part["ChecksumCRC32"])).to_bytes(4, "big")
    composite = base64.b64encode(inner).decode()
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"], MultipartUpload=parts,
                                        MpuObjectSize=3, ChecksumCRC32=composite + "-1")
    assert done["ChecksumCRC32"] == composite + "-1"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"abc"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    import trustme
    base = tmp_path_factory.mktemp("gotls")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(base / "server.pem"))
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    (base / "data").mkdir()
    srv = FerryServer(base / "data", tls=(base / "server.pem", base / "server.pem")).start()
    yield srv, base / "ca.pem"
    srv.stop()


def test_transfer_manager_over_https(go_tests, tls_server, tmp_path):
    srv, ca = tls_server
    s3 = s3_client(srv.url, verify=str(ca))
    s3.create_bucket(Bucket="gotls")
    out = run_go(go_tests, srv, "gotls", tmp_path, "TestTransferManagerOverHTTPS", ca_file=ca)
    head = s3.head_object(Bucket="gotls", Key=out["key"], ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == out["checksum_crc32c"] and head["ChecksumType"] == "FULL_OBJECT"
    assert sha256_of(s3, "gotls", out["key"]) == out["sha256"]


def test_transfer_manager_directories(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestTransferManagerDirectories")
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == set(out["objects"])
    for key, digest in out["objects"].items():
        assert sha256_of(s3, bucket, key) == digest


def test_unsupported_checksum_is_refused(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestUnsupportedChecksumIsRefused")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == [out["stored"]]
    head = s3.head_object(Bucket=bucket, Key=out["stored"], ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == out["crc64nvme"]


def test_minio_fput_object_multipart(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestMinioFPutObjectMultipart")
    head = s3.head_object(Bucket=bucket, Key=out["key"])
    assert head["ETag"].strip('"') == out["etag"].strip('"')
    assert head["ContentType"] == "application/x-ferry-test" and head["Metadata"] == {"origin": "minio-go"}
    assert sha256_of(s3, bucket, out["key"]) == out["sha256"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_minio_compose_object(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestMinioComposeObject")
    assert sha256_of(s3, bucket, out["key"]) == out["sha256"]
    assert s3.head_object(Bucket=bucket, Key=out["key"])["Metadata"] == {"composed": "yes"}


def test_minio_list_objects(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestMinioListObjects")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(out["keys"])


def test_minio_presigned_put_get(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestMinioPresigned")
    assert sha256_of(s3, bucket, out["key"]) == out["sha256"]


def test_minio_checksums_in_trailers(go_tests, server, s3, bucket, tmp_path):
    out = run_go(go_tests, server, bucket, tmp_path, "TestMinioChecksums")
    crc64 = s3.head_object(Bucket=bucket, Key=out["crc64nvme"]["key"], ChecksumMode="ENABLED")
    assert crc64["ChecksumCRC64NVME"] == out["crc64nvme"]["value"] and crc64["ChecksumType"] == "FULL_OBJECT"
    assert sha256_of(s3, bucket, out["crc64nvme"]["key"]) == out["crc64nvme"]["sha256"]
    full = s3.head_object(Bucket=bucket, Key=out["crc32c"]["key"], ChecksumMode="ENABLED")
    assert full["ChecksumCRC32C"] == out["crc32c"]["value"] and full["ChecksumType"] == "FULL_OBJECT"
    sha = s3.head_object(Bucket=bucket, Key=out["sha256"]["key"], ChecksumMode="ENABLED")
    assert sha["ChecksumSHA256"] == out["sha256"]["value"] and sha["ChecksumType"] == "COMPOSITE"
    assert sha256_of(s3, bucket, out["sha256"]["key"]) == out["sha256"]["sha256"]


def test_minio_buckets_copy_and_removal(go_tests, server, s3, bucket, tmp_path):
    import botocore.exceptions
    out = run_go(go_tests, server, bucket, tmp_path, "TestMinioBucketsCopyAndRemoval")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket=out["bucket"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_go_tests_skip_without_a_server(go_tests, tmp_path):
    """Run without the driver's environment, each Go test skips instead of passing vacuously
    or failing (so `go test ./...` alone is harmless) — and this driver refuses a skip."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    r = subprocess.run([str(go_tests), "-test.run", "^TestMinioPresigned$", "-test.v"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--- SKIP: TestMinioPresigned" in r.stdout, r.stdout + r.stderr
    assert not (tmp_path / "result.json").exists()

