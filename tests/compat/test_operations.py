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
    line = next(l for l in text.splitlines() if l.startswith("ferry_requests_total{") and 'operation="PutObject"' in l and 'status="200"' in l)
    before = float(line.rsplit(" ", 1)[1])
    s3.put_object(Bucket=bucket, Key="m2", Body=b"x")
    after = next(l for l in get(server.url + "/metrics")[1].splitlines() if l.startswith(line.rsplit(" ", 1)[0] + " "))
    assert float(after.rsplit(" ", 1)[1]) == before + 1
    assert "ferry_request_duration_seconds_bucket" in text and "ferry_gc_deleted_blobs_total" in text
    # Signed requests for a bucket named like an endpoint still reach S3.
    s3.create_bucket(Bucket="metrics")
    assert s3.list_objects_v2(Bucket="metrics")["KeyCount"] == 0


def test_engine_metrics_count_bytes_parts_and_commits(server, s3, bucket):
    def value(name, labels=""):
        text = get(server.url + "/metrics")[1]
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                   if l.startswith(name + ("{" if labels else " ")) and labels in l)

    parts, received = value("ferry_parts_stored_total"), value("ferry_received_bytes_total", 'kind="part"')
    published = value("ferry_commit_duration_seconds_count", 'outcome="published"')
    served = value("ferry_served_bytes_total")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="metered")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="metered", UploadId=upload, PartNumber=1, Body=b"y" * 1000)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="metered", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="metered")["Body"].read() == b"y" * 1000
    assert value("ferry_parts_stored_total") == parts + 1
    assert value("ferry_received_bytes_total", 'kind="part"') == received + 1000
    assert value("ferry_commit_duration_seconds_count", 'outcome="published"') == published + 1
    assert value("ferry_served_bytes_total") == served + 1000


def test_json_logs(tmp_path):
    from conftest import FerryServer
    import json

    data = tmp_path / "data"
    data.mkdir()
    srv = FerryServer(data, "--log-format", "json", env={"FERRY_LOG": "debug"}).start()
    srv.client().list_buckets()
    srv.stop()
    lines = [l for l in open(srv.log.name).read().splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]  # every line is one JSON object
    assert any(r.get("fields", {}).get("operation") == "ListBuckets" and r["fields"].get("status") == 200 for r in records), lines
    assert all("level" in r and "timestamp" in r for r in records)


def test_tunnel_requests_are_counted_by_endpoint(server):
    from odps import ODPS
    from conftest import ACCESS_KEY, SECRET_KEY
    o = ODPS(ACCESS_KEY, SECRET_KEY, "proj", endpoint=f"{server.url}/odps")
    o.create_table("metrics_t", "id bigint", if_not_exists=True)
    o.get_table("metrics_t").reload()
    text = get(server.url + "/metrics")[1]
    for operation, status in (("CreateInstance", 201), ("GetInstance", 200), ("GetTable", 200)):
        assert f'dialect="tunnel",operation="{operation}",status="{status}"' in text, text
