"""A surface you can trust: every S3 request is implemented right or refused with NotImplemented,
never misrouted to a handler meant for another (a `PUT ?tagging` must not replace the object)."""

import hashlib
import re
import threading
import zlib
import base64

import pytest
from botocore.exceptions import ClientError

from conftest import error_code
from test_bad_input import send, signed

# Every sub-resource name of the S3 API reference (bucket and object level), plus a few other
# dialects' names a confused client could send.
SUBRESOURCES = [
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "location", "logging", "metadataTable", "metrics", "notification",
    "object-lock", "ownershipControls", "partNumber=1", "policy", "policyStatus", "publicAccessBlock",
    "renameObject", "replication", "requestPayment", "restore", "retention", "select&select-type=2", "session",
    "tagging", "torrent", "uploadId=nope", "uploads", "versionId=abc", "versioning", "versions", "website",
    "list-type=2", "bucketInfo", "symlink", "append&position=0", "objectMeta", "x-oss-process=image/resize",
    "unknown-parameter=1",
]
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
BODY = b"replacement bytes that must never land"


def snapshot(s3, bucket, key):
    head = s3.head_object(Bucket=bucket, Key=key)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return head["ETag"], head["ContentType"], head.get("Metadata"), data, keys


@pytest.mark.parametrize("level", ["bucket", "object"])
def test_every_subresource_and_method_is_served_or_refused(server, s3, bucket, level):
    key = "keep/me.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"precious", ContentType="text/plain", Metadata={"a": "1"})
    before = snapshot(s3, bucket, key)
    path = f"/{bucket}" if level == "bucket" else f"/{bucket}/{key}"
    seen = {}
    for sub in SUBRESOURCES:
        for method in METHODS:
            if (method, sub) == ("POST", "delete") and level == "bucket":
                continue  # DeleteObjects is exercised below with a real body
            status, data = send(server, signed(server.url, method, f"{path}?{sub}", body=BODY))
            assert status < 500 or status == 501, (method, sub, status, data[:300])
            if status == 501 and method != "HEAD":  # HEAD answers carry the status only
                assert b"<Code>NotImplemented</Code>" in data, (method, sub, data[:300])
            if status < 300 and method == "GET" and level == "bucket":
                # A sub-resource answer is never an object listing in disguise.
                assert (b"<ListBucketResult" in data) == (sub in ("list-type=2",)), (method, sub, data[:200])
            seen[(method, sub)] = status
            assert snapshot(s3, bucket, key) == before, f"{method} {path}?{sub} changed stored data"
    # The whole walk left exactly what was there.
    assert snapshot(s3, bucket, key) == before
    # Writes with unknown sub-resources were refused, not taken for PutObject / CreateBucket.
    for sub in ["tagging", "retention", "legal-hold", "symlink", "append&position=0", "unknown-parameter=1"]:
        assert seen[("PUT", sub)] == 501, (sub, seen[("PUT", sub)])


def test_refusals_use_s3_error_xml(server, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert error_code(e) == "NotImplemented"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert error_code(e) == "NotImplemented"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_versioning_on_an_unversioned_bucket(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert error_code(e) == "NotImplemented"
    assert "versioning" in e.value.response["Error"]["Message"]
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_list_object_versions_lists_each_object_once_with_null_version(s3, bucket):
    keys = [f"d/{i:02d}" for i in range(7)] + ["top", "d/sub/x"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    listing = s3.list_object_versions(Bucket=bucket)
    assert sorted(v["Key"] for v in listing["Versions"]) == sorted(keys)
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in listing["Versions"])
    etags = {v["Key"]: v["ETag"] for v in listing["Versions"]}
    assert etags["top"] == '"%s"' % hashlib.md5(b"top").hexdigest()
    assert "DeleteMarkers" not in listing

    # Paged with key and version markers.
    got, kwargs = [], {"MaxKeys": 3}
    while True:
        page = s3.list_object_versions(Bucket=bucket, **kwargs)
        got += [v["Key"] for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        assert page["NextVersionIdMarker"] == "null"
        kwargs = {"MaxKeys": 3, "KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert got == sorted(keys)

    rolled = s3.list_object_versions(Bucket=bucket, Prefix="d/", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["d/sub/"]
    assert len(rolled["Versions"]) == 7

    # What emptying tools do: delete every (Key, VersionId) they were given.
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listing["Versions"]]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys)
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)


def test_version_ids_other_than_null(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ")
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ")
    assert error_code(e) == "InvalidArgument"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_delete_objects_keeps_keys_exactly_as_sent(s3, bucket):
    keys = [" ", "  ", "\t", "a b ", " lead", "tab\there", "amp&lt;", "<x>", "quote\"'", "é/ü/中", "k" * 1024]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys)
    assert "Errors" not in result
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_get_object_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="simple", Body=b"hello", ChecksumAlgorithm="CRC32")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="simple",
                                     ObjectAttributes=["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"])
    assert attrs["ETag"] == hashlib.md5(b"hello").hexdigest()
    assert attrs["ObjectSize"] == 5
    assert attrs["StorageClass"] == "STANDARD"
    crc = base64.b64encode(zlib.crc32(b"hello").to_bytes(4, "big")).decode()
    assert attrs["Checksum"]["ChecksumCRC32"] == crc
    assert "ObjectParts" not in attrs

    part = 5 * 1024 * 1024
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="multi")
    bodies = [b"a" * part, b"b" * part, b"c" * 100]
    etags = [s3.upload_part(Bucket=bucket, Key="multi", UploadId=mpu["UploadId"], PartNumber=i + 1, Body=b)["ETag"]
             for i, b in enumerate(bodies)]
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=mpu["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    attrs = s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=["ObjectParts", "ObjectSize"],
                                     MaxParts=2)
    parts = attrs["ObjectParts"]
    assert parts["TotalPartsCount"] == 3 and parts["IsTruncated"] and parts["MaxParts"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, part), (2, part)]
    rest = s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=parts["NextPartNumberMarker"])["ObjectParts"]
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 100)] and not rest["IsTruncated"]
    assert attrs["ObjectSize"] == 2 * part + 100
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_get_object_by_part_number(s3, bucket):
    part = 5 * 1024 * 1024
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="multi")
    bodies = [b"x" * part, b"y" * part, b"z" * 10]
    etags = [s3.upload_part(Bucket=bucket, Key="multi", UploadId=mpu["UploadId"], PartNumber=i + 1, Body=b)["ETag"]
             for i, b in enumerate(bodies)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=mpu["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    # A full URL, as S3 answers and SDKs (lib-storage) hand to users.
    assert done["Location"] == f"{s3.meta.endpoint_url}/{bucket}/multi"
    for n, body in enumerate(bodies, start=1):
        r = s3.get_object(Bucket=bucket, Key="multi", PartNumber=n)
        assert r["Body"].read() == body
        assert r["PartsCount"] == 3
        first = part * (n - 1)
        assert r["ContentRange"] == f"bytes {first}-{first + len(body) - 1}/{2 * part + 10}"
        h = s3.head_object(Bucket=bucket, Key="multi", PartNumber=n)
        assert h["ContentLength"] == len(body) and h["PartsCount"] == 3
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="multi", PartNumber=4)
    assert error_code(e) == "InvalidPartNumber"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416

    s3.put_object(Bucket=bucket, Key="simple", Body=b"only one part")
    r = s3.get_object(Bucket=bucket, Key="simple", PartNumber=1)
    assert r["Body"].read() == b"only one part" and "PartsCount" not in r
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="simple", PartNumber=2)
    assert error_code(e) == "InvalidPartNumber"


def test_complete_with_a_part_listed_twice(s3, bucket):
    part = 5 * 1024 * 1024
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="dup")
    e1 = s3.upload_part(Bucket=bucket, Key="dup", UploadId=mpu["UploadId"], PartNumber=1, Body=b"1" * part)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="dup", UploadId=mpu["UploadId"], PartNumber=2, Body=b"2")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="dup", UploadId=mpu["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": '"0000"'}, {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert s3.get_object(Bucket=bucket, Key="dup")["Body"].read() == b"1" * part + b"2"


def test_wrong_flexible_checksum_is_bad_digest(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="c", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="c")


def test_presigned_expiry_outside_s3_limits(server, s3, bucket):
    import urllib.request
    import urllib.error
    s3.put_object(Bucket=bucket, Key="p", Body=b"x")
    v4 = server.client(signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=60)
    assert "X-Amz-Expires=60" in url
    assert urllib.request.urlopen(url).read() == b"x"
    for bad in ["0", "604801"]:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(re.sub(r"X-Amz-Expires=\d+", f"X-Amz-Expires={bad}", url))
        assert e.value.code == 400
        assert b"AuthorizationQueryParametersError" in e.value.read()


def test_acl_reads_and_refused_acl_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["ID"] == "ferry"
        assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [("ferry", "FULL_CONTROL")]
    controls = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert controls["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None

    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    for call in (lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
                 lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
                 lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"replaced", ACL="public-read"),
                 lambda: s3.put_object_acl(Bucket=bucket, Key="k", GrantRead="uri=http://acs.amazonaws.com/groups/global/AllUsers")):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "AccessControlListNotSupported"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_metrics_name_requests_by_endpoint(server, s3, bucket):
    import urllib.request
    s3.list_object_versions(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)
    text = urllib.request.urlopen(server.url + "/metrics").read().decode()
    assert re.search(r'ferry_requests_total\{dialect="s3",operation="ListObjectVersions",status="200"\}', text)
    assert re.search(r'ferry_requests_total\{dialect="s3",operation="GetBucketTagging",status="501"\}', text)


def test_get_object_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    r = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/json",
                      ResponseContentDisposition='attachment; filename="o.json"', ResponseCacheControl="no-cache")
    assert r["ContentType"] == "application/json"
    assert r["ContentDisposition"] == 'attachment; filename="o.json"'
    assert r["CacheControl"] == "no-cache"
    assert s3.get_object(Bucket=bucket, Key="o")["ContentType"] == "text/plain"
