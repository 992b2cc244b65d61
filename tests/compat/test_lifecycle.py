"""Bucket lifecycle rules through boto3 and oss2, unmodified: set, read back, delete; bad
configurations refused with the dialect's error code; abandoned multipart uploads aborted and
their parts' blobs collected; objects under a prefix expired while others are kept; and two
nodes on PostgreSQL + an S3 blob store expiring every object exactly once.

The servers run with `--lifecycle-day 2s`, so a rule's "1 day" passes in two seconds."""

import datetime
import os
import re
import urllib.request
import uuid

import oss2
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, blob_files, error_code, wait_for
from stores import MotoServer, PostgresCluster, keys_under

FAST = ["--lifecycle-day", "2s", "--sweep-interval", "500ms", "--gc-grace", "0s"]
BLOB_BUCKET = "ferry-blobs"


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ferry-lc") / "data"
    data.mkdir()
    srv = FerryServer(data, *FAST).start()
    yield srv
    srv.stop()


@pytest.fixture
def s3(lc_server):
    return lc_server.client()


@pytest.fixture
def bucket(s3):
    name = f"lc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def oss_bucket(lc_server, bucket):
    return oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), lc_server.url, bucket)


def metric(url, name, labels=""):
    """Sum of a metric's samples whose labels contain `labels`, read from /metrics."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)", line)
        if m and labels in (m.group(1) or ""):
            total += float(m.group(2))
    return total


def expired(url, bucket, rule=""):
    return metric(url, "ferry_lifecycle_expired_objects_total", f'bucket="{bucket}"' + (f',rule="{rule}"' if rule else ""))


def aborted(url, bucket):
    return metric(url, "ferry_lifecycle_aborted_uploads_total", f'bucket="{bucket}"')


# --- set, read back, delete ------------------------------------------------------------------


def test_boto3_sets_reads_back_and_deletes_rules(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(e) == "NoSuchLifecycleConfiguration"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    rules = [
        {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 30},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "archive", "Filter": {"Prefix": "old/"}, "Status": "Disabled",
         "Expiration": {"Date": datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)}},
        {"ID": "uploads", "Filter": {}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["tmp", "archive", "uploads"]
    assert got[0]["Filter"] == {"Prefix": "tmp/"} and got[0]["Status"] == "Enabled"
    assert got[0]["Expiration"] == {"Days": 30}
    assert got[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert got[1]["Status"] == "Disabled"
    assert got[1]["Expiration"]["Date"] == datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)
    assert got[2]["Filter"] == {"Prefix": ""} and "Expiration" not in got[2]
    # A put replaces every rule.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{"ID": "only", "Prefix": "x/", "Status": "Enabled", "Expiration": {"Days": 1}}]},
    )
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["only"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(e) == "NoSuchLifecycleConfiguration"
    s3.delete_bucket_lifecycle(Bucket=bucket)  # nothing to delete is fine, as on S3
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=f"{bucket}-missing")
    assert error_code(e) == "NoSuchBucket"


def test_oss2_sets_reads_back_and_deletes_rules(oss_bucket, s3, bucket):
    b = oss_bucket
    with pytest.raises(oss2.exceptions.NoSuchLifecycle):
        b.get_bucket_lifecycle()
    m = oss2.models
    rules = [
        m.LifecycleRule("parts", "up/", status=m.LifecycleRule.ENABLED,
                        abort_multipart_upload=m.AbortMultipartUpload(days=1)),
        m.LifecycleRule("logs", "logs/", status=m.LifecycleRule.DISABLED,
                        expiration=m.LifecycleExpiration(created_before_date=datetime.date(2030, 1, 1))),
        m.LifecycleRule("tmp", "tmp/", status=m.LifecycleRule.ENABLED, expiration=m.LifecycleExpiration(days=3)),
    ]
    b.put_bucket_lifecycle(m.BucketLifecycle(rules))
    got = b.get_bucket_lifecycle().rules
    assert [(r.id, r.prefix, r.status) for r in got] == [
        ("parts", "up/", "Enabled"), ("logs", "logs/", "Disabled"), ("tmp", "tmp/", "Enabled")]
    assert got[0].abort_multipart_upload.days == 1 and got[0].expiration is None
    assert got[1].expiration.created_before_date == datetime.date(2030, 1, 1)
    assert got[2].expiration.days == 3
    # The same rules, as S3 clients read them.
    seen_by_s3 = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert seen_by_s3[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert seen_by_s3[2]["Expiration"] == {"Days": 3}
    b.delete_bucket_lifecycle()
    with pytest.raises(oss2.exceptions.NoSuchLifecycle):
        b.get_bucket_lifecycle()


def test_deleting_a_bucket_deletes_its_rules(s3):
    name = f"lc-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": [{"ID": "r", "Prefix": "", "Status": "Enabled", "Expiration": {"Days": 9}}]})
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=name)
    assert error_code(e) == "NoSuchLifecycleConfiguration"
    s3.delete_bucket(Bucket=name)


# --- refusals ---------------------------------------------------------------------------------


def rule(**fields):
    return {"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled", **fields}


@pytest.mark.parametrize("rules, code", [
    ([rule(Expiration={"Days": 0})], "InvalidArgument"),
    ([rule(ID="x" * 256, Expiration={"Days": 1})], "InvalidArgument"),
    ([rule(Expiration={"Days": 1}), rule(Expiration={"Days": 2})], "InvalidArgument"),
    ([rule(ID=str(i), Expiration={"Days": 1}) for i in range(1001)], "InvalidArgument"),
    ([rule(Expiration={"Date": datetime.datetime(2031, 1, 1, 12, tzinfo=datetime.timezone.utc)})], "InvalidArgument"),
    ([rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0})], "InvalidArgument"),
    ([rule(Status="Sometimes", Expiration={"Days": 1})], "MalformedXML"),
    ([rule(Filter={"Tag": {"Key": "k", "Value": "v"}}, Expiration={"Days": 1})], "NotImplemented"),
    ([rule(Filter={"And": {"Prefix": "a", "Tags": [{"Key": "k", "Value": "v"}]}}, Expiration={"Days": 1})], "NotImplemented"),
    ([rule(Transitions=[{"Days": 1, "StorageClass": "GLACIER"}])], "NotImplemented"),
    ([rule()], "InvalidArgument"),
])
def test_boto3_bad_configurations_are_refused(s3, bucket, rules, code):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert error_code(e) == code, e.value.response["Error"]
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(e) == "NoSuchLifecycleConfiguration", "nothing was stored"


def test_oss2_bad_configurations_are_refused(oss_bucket):
    m = oss2.models
    bad = [
        (m.LifecycleRule("r", "", status="Enabled", expiration=m.LifecycleExpiration(days=0)), "InvalidArgument"),
        (m.LifecycleRule("r", "", status="Enabled",
                         expiration=m.LifecycleExpiration(days=1),
                         tagging=m.Tagging(m.TaggingRule())), None),
        (m.LifecycleRule("r" * 256, "", status="Enabled", expiration=m.LifecycleExpiration(days=1)), "InvalidArgument"),
        (m.LifecycleRule("r", "", status="Enabled",
                         storage_transitions=[m.StorageTransition(days=1, storage_class=oss2.BUCKET_STORAGE_CLASS_IA)]),
         "NotImplemented"),
    ]
    rules_with_tag = m.LifecycleRule("t", "", status="Enabled", expiration=m.LifecycleExpiration(days=1))
    rules_with_tag.tagging = m.Tagging(m.TaggingRule())
    rules_with_tag.tagging.tag_set.add("k", "v")
    bad[1] = (rules_with_tag, "NotImplemented")
    for r, code in bad:
        with pytest.raises(oss2.exceptions.ServerError) as e:
            oss_bucket.put_bucket_lifecycle(m.BucketLifecycle([r]))
        assert e.value.code == code, (r.id, e.value.code, e.value.message)
    twice = [m.LifecycleRule("same", "a/", status="Enabled", expiration=m.LifecycleExpiration(days=1)),
             m.LifecycleRule("same", "b/", status="Enabled", expiration=m.LifecycleExpiration(days=2))]
    with pytest.raises(oss2.exceptions.ServerError) as e:
        oss_bucket.put_bucket_lifecycle(m.BucketLifecycle(twice))
    assert e.value.code == "InvalidArgument"
    with pytest.raises(oss2.exceptions.NoSuchLifecycle):
        oss_bucket.get_bucket_lifecycle()


# --- rules at work ----------------------------------------------------------------------------


def test_abandoned_multipart_uploads_are_aborted_and_their_blobs_collected(lc_server, s3, bucket, oss_bucket):
    baseline = len(blob_files(lc_server.data_dir))
    s3.put_object(Bucket=bucket, Key="kept/file", Body=b"stays")
    boto_upload = s3.create_multipart_upload(Bucket=bucket, Key="big/boto.bin")["UploadId"]
    for n in (1, 2):
        s3.upload_part(Bucket=bucket, Key="big/boto.bin", UploadId=boto_upload, PartNumber=n, Body=os.urandom(64 * 1024))
    oss_upload = oss_bucket.init_multipart_upload("big/oss.bin").upload_id
    for n in (1, 2, 3):
        oss_bucket.upload_part("big/oss.bin", oss_upload, n, os.urandom(32 * 1024))
    assert len(blob_files(lc_server.data_dir)) == baseline + 6
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "abandoned", "Filter": {"Prefix": "big/"}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]})
    assert wait_for(lambda: not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), timeout=20)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="big/boto.bin", UploadId=boto_upload)
    assert error_code(e) == "NoSuchUpload"
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        oss_bucket.list_parts("big/oss.bin", oss_upload)
    # The parts' blobs are garbage now, and the sweeper deletes them; the object's blob stays.
    assert wait_for(lambda: len(blob_files(lc_server.data_dir)) == baseline + 1, timeout=20), blob_files(lc_server.data_dir)
    assert s3.get_object(Bucket=bucket, Key="kept/file")["Body"].read() == b"stays"
    assert aborted(lc_server.url, bucket) == 2


def test_an_upload_younger_than_the_rule_is_left_alone(lc_server, s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "slow", "Filter": {"Prefix": ""}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 30}}]})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="young")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="young", UploadId=upload, PartNumber=1, Body=b"p")
    wait_for(lambda: False, timeout=3)  # several sweeps
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload]
    assert aborted(lc_server.url, bucket) == 0


def test_objects_under_a_prefix_expire_and_others_are_kept(lc_server, s3, bucket, oss_bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"tmp/{i}", Body=b"temporary")
        oss_bucket.put_object(f"logs/{i}", b"log line")
        s3.put_object(Bucket=bucket, Key=f"keep/{i}", Body=b"precious")
    oss_bucket.put_bucket_lifecycle(oss2.models.BucketLifecycle([
        oss2.models.LifecycleRule("logs", "logs/", status="Enabled", expiration=oss2.models.LifecycleExpiration(days=1)),
        oss2.models.LifecycleRule("off", "keep/", status="Disabled", expiration=oss2.models.LifecycleExpiration(days=1)),
    ]))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 1}},
        {"ID": "off", "Filter": {"Prefix": "keep/"}, "Status": "Disabled", "Expiration": {"Days": 1}},
    ]})
    assert wait_for(lambda: keys_under(s3, bucket, "") == [f"keep/{i}" for i in range(5)], timeout=20), keys_under(s3, bucket, "")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        oss_bucket.get_object("logs/0")
    assert all(s3.get_object(Bucket=bucket, Key=f"keep/{i}")["Body"].read() == b"precious" for i in range(5))
    assert expired(lc_server.url, bucket, "tmp") == 5
    assert expired(lc_server.url, bucket, "logs") == 5
    assert expired(lc_server.url, bucket) == 10
    # An object written under the prefix later is young, and is kept until its own day passes.
    s3.put_object(Bucket=bucket, Key="tmp/new", Body=b"fresh")
    assert s3.head_object(Bucket=bucket, Key="tmp/new")["ContentLength"] == 5
    assert wait_for(lambda: "tmp/new" not in keys_under(s3, bucket, "tmp/"), timeout=20)


def test_a_date_in_the_past_expires_every_covered_object(lc_server, s3, bucket):
    for k in ["old/a", "old/b", "other"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "past", "Filter": {"Prefix": "old/"}, "Status": "Enabled",
         "Expiration": {"Date": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)}}]})
    assert wait_for(lambda: keys_under(s3, bucket, "") == ["other"], timeout=20)


# --- two nodes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    server.client().create_bucket(Bucket=BLOB_BUCKET)
    yield server
    server.stop()


def test_two_nodes_on_postgres_expire_each_object_once(tmp_path, postgres, moto):
    meta = postgres.database()
    blobs = f"s3://{BLOB_BUCKET}/lc-{uuid.uuid4().hex[:8]}"
    env = {k: "" for k in os.environ if k.startswith("AWS_")} | moto.env()
    nodes = []
    try:
        for i in range(2):
            data = tmp_path / f"node{i}"
            data.mkdir()
            nodes.append(FerryServer(data, "--meta", meta, "--blobs", blobs, *FAST, env=env).start())
        clients = [n.client() for n in nodes]
        clients[0].create_bucket(Bucket="shared")
        first = [f"batch1/{i:03d}" for i in range(40)]
        for i, k in enumerate(first):
            clients[i % 2].put_object(Bucket="shared", Key=k, Body=b"x" * 100)
        clients[1].put_object(Bucket="shared", Key="stay/here", Body=b"kept")
        clients[1].put_bucket_lifecycle_configuration(Bucket="shared", LifecycleConfiguration={"Rules": [
            {"ID": "batches", "Filter": {"Prefix": "batch"}, "Status": "Enabled", "Expiration": {"Days": 1}}]})
        assert wait_for(lambda: keys_under(clients[0], "shared", "") == ["stay/here"], timeout=30)
        counts = [expired(n.url, "shared", "batches") for n in nodes]
        assert sum(counts) == len(first), counts

        # The node holding the sweeper lease stops; the other takes the lease over once it lapses
        # and expires what is due from then on. Each object is still counted once in all.
        holder = 0 if counts[0] > 0 else 1
        other = 1 - holder
        nodes[holder].stop()
        second = [f"batch2/{i:03d}" for i in range(20)]
        for k in second:
            clients[other].put_object(Bucket="shared", Key=k, Body=b"y" * 100)
        assert wait_for(lambda: keys_under(clients[other], "shared", "") == ["stay/here"], timeout=60)
        after = expired(nodes[other].url, "shared", "batches")
        assert counts[holder] + after == len(first) + len(second), (counts, after)
        assert after >= len(second), "the surviving node applied the rule"
        assert clients[other].get_object(Bucket="shared", Key="stay/here")["Body"].read() == b"kept"
    finally:
        for n in nodes:
            if n.proc and n.proc.poll() is None:
                n.stop()
