"""A full disk: writes answer 507 InsufficientStorage (never a retry-me 500), deletes and aborts
keep working so space can be freed through the API, acknowledged objects stay intact, and
`--min-free-space` refuses new uploads early. The data directory is a small tmpfs mounted for
the test (the suite runs as root, as CI does)."""

import os
import time
import subprocess
import urllib.request
import uuid

import oss2
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, error_code

MiB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(s3, bucket, prefix):
    """PUT 2 MiB objects until the server refuses; returns what was acknowledged and the error."""
    stored = {}
    for i in range(100):
        body = os.urandom(2 * MiB)
        try:
            s3.put_object(Bucket=bucket, Key=f"{prefix}{i}", Body=body)
        except ClientError as e:
            return stored, e
        stored[f"{prefix}{i}"] = body
    raise AssertionError("the 48 MiB disk never filled")


def test_full_disk_answers_507_and_deletes_free_space(small_disk):
    data = small_disk / "data"
    data.mkdir()
    server = FerryServer(data, "--min-free-space", "0").start()
    try:
        s3 = server.client()
        bucket = f"full-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        upload = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
        s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload, PartNumber=1, Body=os.urandom(MiB))
        stored, refusal = fill(s3, bucket, "obj")
        assert stored, "nothing fitted on the disk"
        assert error_code_of(refusal) == "InsufficientStorage", refusal.response
        assert refusal.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        assert "free space" in refusal.response["Error"]["Message"]

        # OSS clients get the same answer in OSS's format.
        oss = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, bucket)
        with pytest.raises(oss2.exceptions.ServerError) as e:
            for i in range(10):
                oss.put_object(f"oss{i}", os.urandom(2 * MiB))
        assert e.value.status == 507 and e.value.code == "InsufficientStorage"

        # Reads keep working and every acknowledged object is intact.
        for key, body in stored.items():
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body

        # Freeing space needs no space: delete and abort on the full disk.
        s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=upload)
        victims = list(stored)[: len(stored) // 2]
        for key in victims[:2]:
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in victims[2:]]})

        # A restart on the (still nearly full) disk works.
        server.stop()
        server = FerryServer(data, "--min-free-space", "0", "--gc-grace", "0s", "--sweep-interval", "1s").start()
        s3 = server.client()
        # Once the sweeper collects the deleted blobs, uploads work again.
        body = os.urandom(2 * MiB)
        for _ in range(100):
            try:
                s3.put_object(Bucket=bucket, Key="after", Body=body)
                break
            except ClientError as e:
                assert error_code_of(e) == "InsufficientStorage"

                time.sleep(0.2)
        assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == body
        for key in list(stored)[len(stored) // 2:]:
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == stored[key]
    finally:
        server.stop()


def error_code_of(e):
    return e.response["Error"]["Code"]


def test_min_free_space_refuses_uploads_early(small_disk):
    data = small_disk / "data"
    data.mkdir()
    server = FerryServer(data, "--min-free-space", "24MiB").start()
    try:
        s3 = server.client()
        bucket = f"min-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        stored, refusal = fill(s3, bucket, "o")
        assert error_code_of(refusal) == "InsufficientStorage"
        # Refused while well above a truly full disk: space is left for deletes.
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        assert free >= 16 * MiB, free
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="mpu")
        assert error_code(e) == "InsufficientStorage"
        ready = urllib.request.urlopen(server.url + "/health/ready").read().decode()
        assert ready.startswith("ready; low space"), ready
        metrics = urllib.request.urlopen(server.url + "/metrics").read().decode()
        line = next(l for l in metrics.splitlines() if l.startswith("ferry_free_bytes "))
        assert 0 < float(line.split()[1]) < 24 * MiB
        for key in stored:
            s3.delete_object(Bucket=bucket, Key=key)
    finally:
        server.stop()


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_a_disk_filled_to_the_last_byte_by_another_process_is_freed_through_the_api(small_disk):
    data = small_disk / "data"
    data.mkdir()
    server = FerryServer(data, "--min-free-space", "0", "--gc-grace", "0s", "--sweep-interval", "1s").start()
    try:
        s3 = server.client()
        bucket = f"last-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        body = os.urandom(6 * MiB)
        s3.put_object(Bucket=bucket, Key="big", Body=body)
        reserve = data / "reserve"
        assert reserve.stat().st_size == 8 * MiB, "the full-disk reserve is set aside at start"

        # Another process takes every byte left.
        filler = small_disk / "filler"
        with open(filler, "wb", buffering=0) as f:
            chunk = b"\0" * (64 * 1024)
            while True:
                try:
                    f.write(chunk)
                except OSError:
                    break
            while True:
                try:
                    f.write(b"\0" * 512)
                except OSError:
                    break
        assert free_bytes(small_disk) < 64 * 1024

        # Deleting frees the object's space on that disk: the delete answers, and the sweeper
        # (its lease and garbage collection are metadata writes too) collects the blob.
        s3.delete_object(Bucket=bucket, Key="big")
        deadline = time.time() + 30
        while free_bytes(small_disk) < 5 * MiB and time.time() < deadline:
            time.sleep(0.2)
        assert free_bytes(small_disk) >= 5 * MiB, "the deleted object's blob was never collected"
        assert filler.exists()
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="big")

        # Once the disk has room again, the reserve is set aside again.
        filler.unlink()
        deadline = time.time() + 30
        while not (reserve.exists() and reserve.stat().st_size == 8 * MiB) and time.time() < deadline:
            time.sleep(0.2)
        assert reserve.stat().st_size == 8 * MiB
        s3.put_object(Bucket=bucket, Key="again", Body=b"fits")
        assert s3.get_object(Bucket=bucket, Key="again")["Body"].read() == b"fits"
    finally:
        server.stop()
