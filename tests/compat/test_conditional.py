"""Conditional writes with boto3: If-None-Match: * and If-Match on PutObject, CopyObject and
CompleteMultipartUpload; x-amz-copy-source-if-* on CopyObject and UploadPartCopy; racing
writers, on one node and across two nodes sharing PostgreSQL. OSS's x-oss-forbid-overwrite
with oss2 when it is installed."""

import datetime
import os
import threading
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, blob_files, error_code

MiB = 1024 * 1024
LONG_AGO = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
FUTURE = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def refused(excinfo, code="PreconditionFailed", http=412):
    return error_code(excinfo) == code and status(excinfo) == http


def test_put_if_none_match_creates_once(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert refused(e)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first", "a refused put changes nothing"


def test_put_if_match_compares_etags(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert refused(e)
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=etag)
    assert refused(e), "the old ETag no longer matches"
    s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=new.strip('"'))  # quotes optional
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=etag)
    assert refused(e, "NoSuchKey", 404), "S3 answers If-Match on a missing key with 404"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="missing")


def test_unsupported_condition_forms_are_not_implemented(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfNoneMatch=etag)
    assert refused(e, "NotImplemented", 501), "If-None-Match takes only *"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfNoneMatch="*", IfMatch=etag)
    assert refused(e, "NotImplemented", 501), "not both at once"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"


def multipart(s3, bucket, key, data):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=data)["ETag"]
    return upload, {"Parts": [{"PartNumber": 1, "ETag": etag}]}


def test_complete_if_none_match_keeps_the_upload_on_412(s3, bucket):
    upload, parts = multipart(s3, bucket, "fresh", b"multipart body")
    s3.complete_multipart_upload(Bucket=bucket, Key="fresh", UploadId=upload, MultipartUpload=parts, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"multipart body"

    existing = s3.put_object(Bucket=bucket, Key="taken", Body=b"already here")["ETag"]
    upload, parts = multipart(s3, bucket, "taken", b"late")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="taken", UploadId=upload, MultipartUpload=parts, IfNoneMatch="*")
    assert refused(e)
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"already here"
    # As on S3, a 412 leaves the upload in place: its parts are listed and a corrected Complete works.
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="taken", UploadId=upload)["Parts"]] == [1]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="taken", UploadId=upload, MultipartUpload=parts, IfMatch='"ffffffffffffffffffffffffffffffff"'
        )
    assert refused(e)
    s3.complete_multipart_upload(Bucket=bucket, Key="taken", UploadId=upload, MultipartUpload=parts, IfMatch=existing)
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"late"


def test_copy_source_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")["ETag"]
    source = {"Bucket": bucket, "Key": "src"}

    def copy(key, **conditions):
        return s3.copy_object(Bucket=bucket, Key=key, CopySource=source, **conditions)

    copy("a", CopySourceIfMatch=etag)
    copy("b", CopySourceIfNoneMatch='"00000000000000000000000000000000"')
    copy("c", CopySourceIfModifiedSince=LONG_AGO)
    copy("d", CopySourceIfUnmodifiedSince=FUTURE)
    for conditions in (
        {"CopySourceIfMatch": '"00000000000000000000000000000000"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": FUTURE},
        {"CopySourceIfUnmodifiedSince": LONG_AGO},
        # S3's precedence: a matching If-None-Match fails even with a true If-Modified-Since.
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": LONG_AGO},
    ):
        with pytest.raises(ClientError) as e:
            copy("refused", **conditions)
        assert refused(e), conditions
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="refused")
    # S3's precedence: a matching If-Match wins over a false If-Unmodified-Since.
    copy("e", CopySourceIfMatch=etag, CopySourceIfUnmodifiedSince=LONG_AGO)
    # A false If-None-Match decides alone, whatever If-Modified-Since says.
    copy("f", CopySourceIfNoneMatch='"00000000000000000000000000000000"', CopySourceIfModifiedSince=FUTURE)
    for key in "abcdef":
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"0123456789"


def test_copy_destination_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    source = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, IfNoneMatch="*")
    assert refused(e)
    dst = s3.put_object(Bucket=bucket, Key="dst", Body=b"changed")["ETag"]
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, IfMatch=dst)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source"


def test_upload_part_copy_source_conditions(s3, bucket):
    data = os.urandom(6 * MiB)
    etag = s3.put_object(Bucket=bucket, Key="src", Body=data)["ETag"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    source = {"Bucket": bucket, "Key": "src"}
    for conditions in ({"CopySourceIfNoneMatch": etag}, {"CopySourceIfMatch": '"00000000000000000000000000000000"'},
                       {"CopySourceIfModifiedSince": FUTURE}, {"CopySourceIfUnmodifiedSince": LONG_AGO}):
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1, CopySource=source, **conditions)
        assert refused(e), conditions
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload).get("Parts", []) == [], "nothing stored"
    part = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1, CopySource=source,
        CopySourceRange="bytes=0-5242879", CopySourceIfMatch=etag, CopySourceIfUnmodifiedSince=FUTURE,
    )["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]}
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == data[: 5 * MiB]


def race(calls):
    """Run every call at once (released together by a barrier); returns (winners, errors)."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i):
        barrier.wait()
        try:
            calls[i]()
            outcomes[i] = "ok"
        except ClientError as e:
            outcomes[i] = (error_code_of(e), e.response["ResponseMetadata"]["HTTPStatusCode"])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [i for i, o in enumerate(outcomes) if o == "ok"]
    errors = [o for o in outcomes if o != "ok"]
    return winners, errors


def error_code_of(e):
    return e.response["Error"]["Code"]


@pytest.fixture
def private_server(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    srv = FerryServer(data).start()
    yield srv
    srv.stop()


def test_racing_puts_one_wins_and_losers_leave_no_blob(private_server):
    s3 = private_server.client()
    s3.create_bucket(Bucket="race")
    bodies = [os.urandom(512 * 1024) for _ in range(8)]
    clients = [private_server.client() for _ in bodies]  # one connection pool each
    calls = [lambda c=c, b=b: c.put_object(Bucket="race", Key="lock", Body=b, IfNoneMatch="*") for c, b in zip(clients, bodies)]
    winners, errors = race(calls)
    assert len(winners) == 1, f"exactly one 200: {winners} {errors}"
    assert errors == [("PreconditionFailed", 412)] * (len(bodies) - 1)
    assert s3.get_object(Bucket="race", Key="lock")["Body"].read() == bodies[winners[0]]
    assert len(blob_files(private_server.data_dir)) == 1, "refused bodies are deleted, not left behind"


def test_racing_completes_one_wins(s3, server, bucket):
    key = "mp-lock"
    uploads = [multipart(s3, bucket, key, f"writer {i}".encode()) for i in range(6)]
    clients = [server.client() for _ in uploads]
    calls = [
        lambda c=c, u=u, p=p: c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=u, MultipartUpload=p, IfNoneMatch="*")
        for c, (u, p) in zip(clients, uploads)
    ]
    winners, errors = race(calls)
    assert len(winners) == 1, f"exactly one 200: {winners} {errors}"
    assert errors == [("PreconditionFailed", 412)] * (len(uploads) - 1)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"writer {winners[0]}".encode()
    listed = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert listed == {u for i, (u, _) in enumerate(uploads) if i != winners[0]}, "the losers' uploads remain"


def test_racing_puts_across_two_nodes_on_postgres(tmp_path):
    from stores import PostgresCluster

    postgres = PostgresCluster().start()
    nodes = []
    try:
        url = postgres.database()
        # Both nodes share the database; each keeps its blobs in its own directory (reads of
        # another node's blobs are not needed here, only who publishes).
        for i in range(2):
            data = tmp_path / f"node{i}"
            data.mkdir()
            nodes.append(FerryServer(data, "--meta", url).start())
        nodes[0].client().create_bucket(Bucket="shared")
        clients = [nodes[i % 2].client() for i in range(10)]
        tag = uuid.uuid4().hex
        calls = [
            lambda c=c, i=i: c.put_object(Bucket="shared", Key="lock", Body=f"{tag} {i}".encode(), IfNoneMatch="*")
            for i, c in enumerate(clients)
        ]
        winners, errors = race(calls)
        assert len(winners) == 1, f"exactly one 200 across nodes: {winners} {errors}"
        assert errors == [("PreconditionFailed", 412)] * (len(clients) - 1)
        owner = nodes[winners[0] % 2].client()
        assert owner.get_object(Bucket="shared", Key="lock")["Body"].read() == f"{tag} {winners[0]}".encode()
        other = nodes[(winners[0] + 1) % 2].client()
        assert other.head_object(Bucket="shared", Key="lock")["ContentLength"] == len(f"{tag} {winners[0]}")
    finally:
        for n in nodes:
            n.stop()
        postgres.stop()


def test_oss_forbid_overwrite(server, bucket):
    oss2 = pytest.importorskip("oss2")
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, bucket)
    forbid = {"x-oss-forbid-overwrite": "true"}
    b.put_object("k", b"first", headers=forbid)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.put_object("k", b"second", headers=forbid)
    assert (e.value.status, e.value.code) == (409, "FileAlreadyExists")
    b.put_object("k", b"third", headers={"x-oss-forbid-overwrite": "false"})
    assert b.get_object("k").read() == b"third"
    b.copy_object(bucket, "k", "k2", headers=forbid)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.copy_object(bucket, "k", "k2", headers=forbid)
    assert (e.value.status, e.value.code) == (409, "FileAlreadyExists")
    upload = b.init_multipart_upload("k").upload_id
    part = b.upload_part("k", upload, 1, b"multipart")
    parts = [oss2.models.PartInfo(1, part.etag)]
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.complete_multipart_upload("k", upload, parts, headers=forbid)
    assert (e.value.status, e.value.code) == (409, "FileAlreadyExists")
    b.complete_multipart_upload("k", upload, parts)
    assert b.get_object("k").read() == b"multipart", "the upload stayed usable after the refusal"
