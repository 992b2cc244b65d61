"""The AWS SDK for JavaScript v3, unmodified: @aws-sdk/lib-storage's Upload with @aws-sdk/client-s3,
run with Node (tests/compat/node/lib_storage_check.js) and checked again here with boto3."""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from conftest import ACCESS_KEY, SECRET_KEY

NODE_DIR = Path(__file__).parent / "node"
MiB = 1024 * 1024


def run_node(server, bucket, scenario):
    assert (NODE_DIR / "node_modules" / "@aws-sdk" / "lib-storage").exists(), "scripts/test.sh runs npm ci"
    r = subprocess.run([shutil.which("node"), str(NODE_DIR / "lib_storage_check.js"), server.url, ACCESS_KEY, SECRET_KEY,
                        bucket, scenario], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def sha256_of(s3, bucket, key):
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def test_lib_storage_upload_with_progress_events(server, s3, bucket):
    out = run_node(server, bucket, "multipart")
    # A stream of unknown length cut into 5 MiB parts: three parts, then one PutObject for the small file.
    assert out["ops"] == ["CreateMultipartUpload", "UploadPart", "UploadPart", "UploadPart",
                          "CompleteMultipartUpload", "PutObject"]
    # One progress event per part, the running total growing to the whole size.
    loaded = [p["loaded"] for p in out["progress"]]
    assert sorted(p["part"] for p in out["progress"]) == [1, 2, 3]
    assert loaded == sorted(loaded) and loaded[-1] == out["size"]
    assert all(p["key"] == out["key"] for p in out["progress"])
    assert out["small_progress"] == [{"loaded": 100 * 1024, "total": 100 * 1024, "part": 1}]
    # The SDK's default checksum: CRC32 named on Create, sent with each part, COMPOSITE on Complete.
    assert out["create_checksum_algorithm"] == "CRC32"
    assert any(h.startswith("x-amz-checksum-crc32: ") for h in out["part_checksum_headers"])
    assert out["checksum_type"] == "COMPOSITE" and out["checksum_crc32"].endswith("-3")
    head = s3.head_object(Bucket=bucket, Key=out["key"], ChecksumMode="ENABLED")
    assert head["ContentLength"] == out["size"] and head["ContentType"] == "application/x-js-test"
    assert head["ETag"] == out["etag"] and head["ChecksumCRC32"] == out["checksum_crc32"]
    assert sha256_of(s3, bucket, out["key"]) == out["sha256"]
    assert sha256_of(s3, bucket, out["small_key"]) == out["small_sha256"]
    assert s3.head_object(Bucket=bucket, Key=out["small_key"], ChecksumMode="ENABLED")["ChecksumCRC32"] == \
        out["small_checksum_crc32"]


def test_lib_storage_explicit_checksums(server, s3, bucket):
    out = run_node(server, bucket, "checksums")
    for alg in ("SHA256", "CRC32C"):
        r = out[alg]
        assert r["type"] == "COMPOSITE" and r["value"].endswith("-3"), r
        # Read back by the SDK with ChecksumMode ENABLED (composite values are not validated by it).
        assert r["read_back"] and r["get_value"] == r["value"]
        attrs = s3.get_object_attributes(Bucket=bucket, Key=r["key"], ObjectAttributes=["Checksum"])
        assert attrs["Checksum"][f"Checksum{alg}"] == r["value"]
        assert sha256_of(s3, bucket, r["key"]) == r["sha256"]


def test_lib_storage_abort_leaves_no_upload(server, s3, bucket):
    out = run_node(server, bucket, "abort")
    # done() rejects at once; lib-storage lets the parts in flight finish, then aborts the upload.
    assert out["error"] == "AbortError"
    assert out["created"] and out["aborted_id_matches"] and "AbortMultipartUpload" in out["ops"]
    assert "CompleteMultipartUpload" not in out["ops"]
    assert out["uploads_left"] == 0 and out["list_parts_after"] == "NoSuchUpload"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    # abort() came after two parts were reported: the upload really was under way.
    assert out["progress"][:2] == [5 * MiB, 10 * MiB] and out["parts_sent"] >= 2
