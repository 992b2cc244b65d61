"""kill -9 of the server during 20 parallel multipart uploads loses nothing acknowledged."""

import hashlib
import os
import random
import threading
import time

from botocore.config import Config

from conftest import FerryServer, s3_client, wait_for

MiB = 1024 * 1024
PART = 5 * MiB
UPLOADS = 20


def test_kill9_during_parallel_uploads(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = FerryServer(data_dir).start()
    s3 = s3_client(server.url)
    s3.create_bucket(Bucket="crash")
    # Each upload's part n is a distinct, reproducible pattern.
    part_data = {(i, n): hashlib.sha256(f"{i}/{n}".encode()).digest() * (PART // 32) for i in range(UPLOADS) for n in range(1, 5)}
    uploads = {i: s3.create_multipart_upload(Bucket="crash", Key=f"k{i}")["UploadId"] for i in range(UPLOADS)}
    acked = {i: {} for i in range(UPLOADS)}
    completed = {}
    lock = threading.Lock()

    def worker(i):
        client = s3_client(server.url, connect_timeout=2, read_timeout=10)
        parts = 1 if i % 4 == 0 else 4  # some finish before the kill, most do not
        try:
            for n in random.sample(range(1, parts + 1), parts):
                r = client.upload_part(Bucket="crash", Key=f"k{i}", UploadId=uploads[i], PartNumber=n, Body=part_data[(i, n)])
                with lock:
                    acked[i][n] = r["ETag"]
            listed = sorted(acked[i].items())
            client.complete_multipart_upload(Bucket="crash", Key=f"k{i}", UploadId=uploads[i],
                                             MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in listed]})
            with lock:
                completed[i] = b"".join(part_data[(i, n)] for n, _ in listed)
        except Exception:
            pass  # the server died under us; what was acknowledged is checked below

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(UPLOADS)]
    for t in threads:
        t.start()
    # Kill at a random point of the run, measured in acknowledged parts (timing alone depends
    # too much on the machine).
    total_parts = sum(1 if i % 4 == 0 else 4 for i in range(UPLOADS))
    threshold = random.randint(total_parts // 5, total_parts // 2)
    deadline = time.time() + 60
    while time.time() < deadline and sum(len(v) for v in acked.values()) < threshold:
        time.sleep(0.005)
    server.kill9()
    for t in threads:
        t.join()
    total_acked = sum(len(v) for v in acked.values())
    assert total_acked > 0, "the kill came before any part was acknowledged; nothing was tested"

    restarted = FerryServer(data_dir).start()
    published_parts = 0
    try:
        s3 = s3_client(restarted.url)
        incomplete = 0
        for i in range(UPLOADS):
            if i in completed:
                body = s3.get_object(Bucket="crash", Key=f"k{i}")["Body"].read()
                assert body == completed[i], f"completed object k{i} differs after the crash"
                published_parts += len(completed[i]) // PART
                continue
            try:
                held = {p["PartNumber"]: p["ETag"]
                        for p in s3.list_parts(Bucket="crash", Key=f"k{i}", UploadId=uploads[i]).get("Parts", [])}
            except s3.exceptions.NoSuchUpload:
                # The kill came between a Complete's commit and its answer: the commit is durable,
                # so the object holds exactly the acknowledged parts the client listed.
                listed = sorted(acked[i])
                body = s3.get_object(Bucket="crash", Key=f"k{i}")["Body"].read()
                assert body == b"".join(part_data[(i, n)] for n in listed), f"k{i} was committed unacknowledged"
                published_parts += len(listed)
                continue
            incomplete += 1
            for n, etag in acked[i].items():
                assert held.get(n) == etag, f"acknowledged part {n} of upload {i} is missing or changed"
            # The upload resumes after the crash: commit what the server holds and read it back.
            if held:
                listed = sorted(held.items())
                s3.complete_multipart_upload(Bucket="crash", Key=f"k{i}", UploadId=uploads[i],
                                             MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in listed]})
                body = s3.get_object(Bucket="crash", Key=f"k{i}")["Body"].read()
                assert body == b"".join(part_data[(i, n)] for n, _ in listed)
                published_parts += len(listed)
        assert incomplete > 0, "every upload finished before the kill; nothing was tested"
    finally:
        restarted.stop()

    # Parts cut short by the kill were never referenced; the orphan scan (at start-up, for files
    # older than the session lifetime) removes them, and nothing else: one file per published part.
    time.sleep(1.2)
    swept = FerryServer(data_dir, "--session-lifetime", "1s", "--gc-grace", "1s").start()
    try:
        files = lambda: [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
        assert wait_for(lambda: len(files()) == published_parts, timeout=15), (len(files()), published_parts)
        s3 = s3_client(swept.url)
        for i in completed:
            assert s3.get_object(Bucket="crash", Key=f"k{i}")["Body"].read() == completed[i]
    finally:
        swept.stop()
