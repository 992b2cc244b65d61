"""boto3 against ferry: multipart, resume-relevant listing, every Complete error, abort."""

import hashlib
import os
import zlib
import base64

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import error_code

MiB = 1024 * 1024


def test_upload_file_multipart_with_threads(s3, bucket, tmp_path):
    data = os.urandom(37 * MiB + 123)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "dir/big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="dir/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-5"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "dir/big.bin", str(dst), Config=config)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_put_get_head_range_and_metadata(s3, bucket):
    body = b"0123456789" * 100
    put = s3.put_object(Bucket=bucket, Key="a b+c/é.txt", Body=body, ContentType="text/plain", Metadata={"Owner": "me"})
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="a b+c/é.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "me"}
    part = s3.get_object(Bucket=bucket, Key="a b+c/é.txt", Range="bytes=10-19")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == "bytes 10-19/1000"
    assert part["Body"].read() == b"0123456789"
    assert s3.get_object(Bucket=bucket, Key="a b+c/é.txt", Range="bytes=-5")["Body"].read() == b"56789"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a b+c/é.txt", Range="bytes=1000-")
    assert error_code(e) == "InvalidRange"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="missing")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    etag = put["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a b+c/é.txt", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a b+c/é.txt", IfMatch='"nope"')
    assert error_code(e) == "PreconditionFailed"


def upload_parts(s3, bucket, key, sizes, order=None):
    """Create an upload and send parts of the given sizes (in `order`); return id, parts, data."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    blobs = {n: os.urandom(size) for n, size in enumerate(sizes, start=1)}
    etags = {}
    for n in order or sorted(blobs):
        etags[n] = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=blobs[n])["ETag"]
    return upload, etags, blobs


def complete(s3, bucket, key, upload, parts):
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
    )


def test_parts_out_of_order_and_gaps(s3, bucket):
    upload, etags, blobs = upload_parts(s3, bucket, "ooo", [5 * MiB, 5 * MiB, 5 * MiB, 1234], order=[4, 2, 1, 3])
    # Part 3 is left out: gaps in the committed list are allowed.
    done = complete(s3, bucket, "ooo", upload, [(1, etags[1]), (2, etags[2]), (4, etags[4])])
    assert done["ETag"].endswith('-3"')
    body = s3.get_object(Bucket=bucket, Key="ooo")["Body"].read()
    assert body == blobs[1] + blobs[2] + blobs[4]
    # A retried Complete with the same list answers the same.
    again = complete(s3, bucket, "ooo", upload, [(1, etags[1]), (2, etags[2]), (4, etags[4])])
    assert again["ETag"] == done["ETag"]
    # One part of a multipart object can be read back alone.
    second = s3.get_object(Bucket=bucket, Key="ooo", PartNumber=2)
    assert second["PartsCount"] == 3
    assert second["Body"].read() == blobs[2]


def test_resend_replaces_part(s3, bucket):
    upload, etags, _ = upload_parts(s3, bucket, "re", [100])
    new = s3.upload_part(Bucket=bucket, Key="re", UploadId=upload, PartNumber=1, Body=b"second version")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="re", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, new, 14)]
    complete(s3, bucket, "re", upload, [(1, new)])
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"second version"


def test_list_parts_pagination(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="many")["UploadId"]
    for n in range(1, 26):
        s3.upload_part(Bucket=bucket, Key="many", UploadId=upload, PartNumber=n, Body=str(n).encode())
    first = s3.list_parts(Bucket=bucket, Key="many", UploadId=upload, MaxParts=10)
    assert first["IsTruncated"] is True
    assert [p["PartNumber"] for p in first["Parts"]] == list(range(1, 11))
    assert first["NextPartNumberMarker"] == 10
    pages = s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="many", UploadId=upload, PaginationConfig={"PageSize": 10}
    )
    seen = [p["PartNumber"] for page in pages for p in page.get("Parts", [])]
    assert seen == list(range(1, 26))
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("many", upload)]


def test_complete_errors(s3, bucket):
    upload, etags, _ = upload_parts(s3, bucket, "err", [5 * MiB, 1024, 2048])
    cases = [
        ([(1, etags[1]), (2, '"0123456789abcdef0123456789abcdef"')], "InvalidPart"),
        ([(1, etags[1]), (9, etags[2])], "InvalidPart"),
        ([(2, etags[2]), (1, etags[1])], "InvalidPartOrder"),
        ([(1, etags[1]), (2, etags[2]), (3, etags[3])], "EntityTooSmall"),
    ]
    for parts, code in cases:
        with pytest.raises(ClientError) as e:
            complete(s3, bucket, "err", upload, parts)
        assert error_code(e) == code, parts
    with pytest.raises(ClientError) as e:
        complete(s3, bucket, "err", "no-such-upload-id", [(1, etags[1])])
    assert error_code(e) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="err", UploadId=upload, MultipartUpload={"Parts": []})
    assert error_code(e) == "MalformedXML"
    # After all those refusals the upload still completes.
    complete(s3, bucket, "err", upload, [(1, etags[1]), (3, etags[3])])
    assert s3.head_object(Bucket=bucket, Key="err")["ContentLength"] == 5 * MiB + 2048


def test_abort_then_no_such_upload(s3, bucket):
    upload, etags, _ = upload_parts(s3, bucket, "ab", [10])
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=upload)
    for call in (
        lambda: s3.upload_part(Bucket=bucket, Key="ab", UploadId=upload, PartNumber=2, Body=b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key="ab", UploadId=upload),
        lambda: complete(s3, bucket, "ab", upload, [(1, etags[1])]),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=upload),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "NoSuchUpload"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_upload_part_copy(s3, bucket):
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    second = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=2,
                                 CopySource=f"{bucket}/src")
    complete(s3, bucket, "dst", upload, [(1, first["CopyPartResult"]["ETag"]), (2, second["CopyPartResult"]["ETag"])])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source[: 5 * MiB] + source
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(source).hexdigest()


def test_flexible_checksums(s3, bucket):
    data = os.urandom(5 * MiB + 77)
    # Full-object CRC32, combined from part CRCs at commit.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    uid = upload["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="full", UploadId=uid, PartNumber=1, Body=data[: 5 * MiB], ChecksumAlgorithm="CRC32")
    p2 = s3.upload_part(Bucket=bucket, Key="full", UploadId=uid, PartNumber=2, Body=data[5 * MiB:], ChecksumAlgorithm="CRC32")
    assert p1["ChecksumCRC32"] == base64.b64encode(zlib.crc32(data[: 5 * MiB]).to_bytes(4, "big")).decode()
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["ETag"], "ChecksumCRC32": p1["ChecksumCRC32"]},
        {"PartNumber": 2, "ETag": p2["ETag"], "ChecksumCRC32": p2["ChecksumCRC32"]},
    ]})
    whole = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert done["ChecksumCRC32"] == whole
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == whole
    assert got["Body"].read() == data
    # Composite SHA-256: hash of the concatenated part hashes, "-N".
    uid = s3.create_multipart_upload(Bucket=bucket, Key="comp", ChecksumAlgorithm="SHA256")["UploadId"]
    halves = [data[: 5 * MiB], data[5 * MiB:]]
    parts = []
    for n, half in enumerate(halves, start=1):
        r = s3.upload_part(Bucket=bucket, Key="comp", UploadId=uid, PartNumber=n, Body=half, ChecksumAlgorithm="SHA256")
        assert r["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(half).digest()).decode()
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="comp", UploadId=uid, MultipartUpload={"Parts": parts})
    expected = hashlib.sha256(b"".join(hashlib.sha256(h).digest() for h in halves)).digest()
    assert done["ChecksumSHA256"] == base64.b64encode(expected).decode() + "-2"
    # A wrong part checksum in Complete is an InvalidPart.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="bad", ChecksumAlgorithm="CRC32")["UploadId"]
    r = s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1, Body=b"abc", ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": "AAAAAA=="}]})
    assert error_code(e) == "InvalidPart"


def test_buckets_and_listing(s3, bucket):
    for key in ["a/1", "a/2", "b/1", "c", "d/e/f"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Prefix"] for c in top["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert [o["Key"] for o in top["Contents"]] == ["c"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
            for o in page.get("Contents", [])]
    assert keys == ["a/1", "a/2", "b/1", "c", "d/e/f"]
    v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
          for o in page.get("Contents", [])]
    assert v1 == keys
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == "BucketNotEmpty"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=bucket)
    assert error_code(e) == "BucketAlreadyOwnedByYou"
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == keys
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert error_code(e) == "InvalidBucketName"
