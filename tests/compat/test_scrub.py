"""Scrub: blob files damaged at rest in a running server's data directory are found by
`ferry scrub` (run beside the server), the objects are refused to boto3 with a clear,
non-retried error, and deleting or re-uploading them heals the bucket. The background pass
(`ferry serve --scrub-interval`) does the same on its own and counts it in the metrics."""

import json
import os
import subprocess
import urllib.request

import pytest
from botocore.exceptions import ClientError, FlexibleChecksumError

from conftest import FERRY_BIN, FerryServer, blob_files, wait_for


@pytest.fixture
def server(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    srv = FerryServer(data_dir).start()
    yield srv
    srv.stop()


def put_and_find_blob(s3, data_dir, bucket, key, body):
    """Upload one object and return the blob file it added."""
    before = set(blob_files(data_dir))
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    added = set(blob_files(data_dir)) - before
    assert len(added) == 1, added
    return added.pop()


def scrub(data_dir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    return subprocess.run([FERRY_BIN, "scrub", "--data-dir", str(data_dir), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def damaged(s3, bucket, key):
    """The error the server answers a GET of the key with, or None when it serves the bytes."""
    try:
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return None
    except FlexibleChecksumError:
        # Served, and boto3 caught the bad bytes itself against the object's recorded CRC.
        return None
    except ClientError as e:
        return e


def test_scrub_finds_damage_refuses_reads_and_reupload_heals(server):
    s3 = server.client()
    s3.create_bucket(Bucket="scrubbed")
    data_dir = server.data_dir
    good = os.urandom(300_000)
    put_and_find_blob(s3, data_dir, "scrubbed", "good", good)
    flipped = put_and_find_blob(s3, data_dir, "scrubbed", "flipped", os.urandom(200_000))
    truncated = put_and_find_blob(s3, data_dir, "scrubbed", "truncated", os.urandom(200_000))
    deleted = put_and_find_blob(s3, data_dir, "scrubbed", "deleted", os.urandom(100_000))

    clean = scrub(data_dir, "--json")
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert (report["objects"], report["findings"], report["bytes"]) == (4, [], 800_000)

    raw = bytearray(flipped.read_bytes())
    raw[123_456] ^= 0x04
    flipped.write_bytes(bytes(raw))
    with open(truncated, "r+b") as f:
        f.truncate(4096)
    deleted.unlink()

    result = scrub(data_dir, "--json")
    assert result.returncode == 3, (result.returncode, result.stderr)
    report = json.loads(result.stdout)
    by_key = {f["key"]: f for f in report["findings"]}
    assert set(by_key) == {"flipped", "truncated", "deleted"}, report
    assert report["damaged_objects"] == report["flagged_objects"] == 3
    assert by_key["flipped"]["kind"] == "checksum" and by_key["flipped"]["blob"] == flipped.name
    assert by_key["flipped"]["check"] == "ETag"
    assert (by_key["truncated"]["kind"], by_key["truncated"]["expected"], by_key["truncated"]["actual"]) == \
        ("size", "200000", "4096")
    assert (by_key["deleted"]["kind"], by_key["deleted"]["blob"]) == ("missing", deleted.name)
    assert all(f["subject"] == "object" and f["bucket"] == "scrubbed" for f in report["findings"])

    # The summary names each damaged object.
    summary = scrub(data_dir)
    assert summary.returncode == 3
    assert "DAMAGED object scrubbed/flipped" in summary.stdout and "[missing]" in summary.stdout, summary.stdout

    # The running server refuses them (within its one-second flag cache) with a clear 409.
    assert wait_for(lambda: damaged(s3, "scrubbed", "flipped") is not None, timeout=5)
    for key in ("flipped", "truncated", "deleted"):
        err = damaged(s3, "scrubbed", key)
        assert err is not None, key
        assert err.response["Error"]["Code"] == "InvalidObjectState", err.response
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert "damaged" in err.response["Error"]["Message"], err.response
        # 409 is not retried: one request reached the server.
        assert err.response["ResponseMetadata"]["RetryAttempts"] == 0
        with pytest.raises(ClientError) as head:
            s3.head_object(Bucket="scrubbed", Key=key)
        assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert s3.get_object(Bucket="scrubbed", Key="good")["Body"].read() == good

    # A re-upload heals the key, a delete removes the damaged object.
    fresh = os.urandom(50_000)
    s3.put_object(Bucket="scrubbed", Key="flipped", Body=fresh)
    assert s3.get_object(Bucket="scrubbed", Key="flipped")["Body"].read() == fresh
    s3.delete_object(Bucket="scrubbed", Key="deleted")
    s3.delete_object(Bucket="scrubbed", Key="truncated")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="scrubbed")["Contents"]]
    assert keys == ["flipped", "good"]

    healed = scrub(data_dir, "--json")
    assert healed.returncode == 0, healed.stdout
    assert json.loads(healed.stdout)["flagged_objects"] == 0

    # A wrong data directory is an error, not an empty store that scrubs clean.
    wrong = scrub(data_dir / "nope")
    assert wrong.returncode == 1 and "no metadata database" in wrong.stderr, wrong.stderr


def test_background_scrub_flags_damage_and_counts_it(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    srv = FerryServer(data_dir, "--scrub-interval", "1s", "--scrub-rate", "64MiB", "--sweep-interval", "1s").start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="scrub-bg")
        blob = put_and_find_blob(s3, data_dir, "scrub-bg", "victim", os.urandom(64_000))
        raw = bytearray(blob.read_bytes())
        raw[0] ^= 0xFF
        blob.write_bytes(bytes(raw))
        assert wait_for(lambda: damaged(s3, "scrub-bg", "victim") is not None, timeout=15)
        assert damaged(s3, "scrub-bg", "victim").response["Error"]["Code"] == "InvalidObjectState"

        def metric(name):
            text = urllib.request.urlopen(f"{srv.url}/metrics", timeout=5).read().decode()
            values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
            return float(values[0]) if values else None

        assert wait_for(lambda: metric("ferry_scrub_damaged_objects") == 1, timeout=10)
        assert metric("ferry_scrub_bytes_verified_total") >= 64_000
    finally:
        srv.stop()
