"""Health and metrics endpoints beside the dialects."""

import urllib.error
import urllib.request


def get(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_and_metrics(server, s3, bucket):
    assert get(server.url + "/health/live") == (200, "ok\n")
    assert get(server.url + "/health/ready") == (200, "ready\n")
    s3.put_object(Bucket=bucket, Key="m", Body=b"x")
    status, text = get(server.url + "/metrics")
    assert status == 200
    line = next(l for l in text.splitlines() if l.startswith("ferry_requests_total{") and 'operation="Put"' in l and 'status="200"' in l)
    before = float(line.rsplit(" ", 1)[1])
    s3.put_object(Bucket=bucket, Key="m2", Body=b"x")
    after = next(l for l in get(server.url + "/metrics")[1].splitlines() if l.startswith(line.rsplit(" ", 1)[0] + " "))
    assert float(after.rsplit(" ", 1)[1]) == before + 1
    assert "ferry_request_duration_seconds_bucket" in text and "ferry_gc_deleted_blobs_total" in text
    # Signed requests for a bucket named like an endpoint still reach S3.
    s3.create_bucket(Bucket="metrics")
    assert s3.list_objects_v2(Bucket="metrics")["KeyCount"] == 0
