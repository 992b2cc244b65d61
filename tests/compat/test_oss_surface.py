"""The whole OSS request surface, signed by the unmodified oss2 SDK: every sub-resource name of the
OSS API with every method, on the service, a bucket and an object. Each request either reaches the
operation ferry implements for it or is refused with OSS's NotImplemented; none is misrouted to
PutObject, DeleteObject, PutBucket or a listing, and the stored data is unchanged afterwards."""

import oss2
import pytest

from conftest import ACCESS_KEY, SECRET_KEY

METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]

# Sub-resources of the OSS API reference that oss2 2.19 does not sign (newer or rarer operations).
EXTRA_SUBRESOURCES = {
    "cleanRestoredObject", "policyStatus", "userDefinedLogFieldsConfig", "rtc", "regions", "accessmonitor",
    "resourcePoolInfo", "resourcePoolBuckets", "objectInfo", "img", "udf", "list-type", "rule-id",
}
SUBRESOURCES = sorted(set(oss2.Auth._subresource_key_set) | EXTRA_SUBRESOURCES)

UPLOAD_ID = "0" * 32
RESPONSE_OVERRIDES = {k for k in SUBRESOURCES if k.startswith("response-")}

# (method, scope, sub-resource) → (status, code) for the requests that reach an implemented
# operation. Everything else must be 501 NotImplemented.
IMPLEMENTED = {
    ("GET", "bucket", "acl"): (200, None),
    ("PUT", "bucket", "acl"): (400, "InvalidArgument"),  # no x-oss-acl header
    ("GET", "bucket", "bucketInfo"): (200, None),
    ("GET", "bucket", "location"): (200, None),
    ("GET", "bucket", "uploads"): (200, None),
    ("POST", "bucket", "delete"): (400, "MalformedXML"),  # the body is not a Delete document
    ("GET", "bucket", "lifecycle"): (404, "NoSuchLifecycle"),
    ("PUT", "bucket", "lifecycle"): (400, "MalformedXML"),  # the body is not a LifecycleConfiguration
    ("DELETE", "bucket", "lifecycle"): (204, None),
    ("GET", "object", "acl"): (200, None),
    ("PUT", "object", "acl"): (400, "InvalidArgument"),  # no x-oss-object-acl header
    ("HEAD", "object", "objectMeta"): (200, None),
    ("POST", "object", "uploads"): (200, None),
    ("GET", "object", "uploadId"): (404, "NoSuchUpload"),
    ("POST", "object", "uploadId"): (404, "NoSuchUpload"),
    ("DELETE", "object", "uploadId"): (404, "NoSuchUpload"),
    **{("GET", "object", k): (200, None) for k in RESPONSE_OVERRIDES},
}

VICTIM = "victim/data.txt"
VICTIM_BYTES = b"bytes that must survive every request"
VICTIM_HEADERS = {"Content-Type": "text/plain", "x-oss-meta-owner": "surface-test"}
CLOBBER = b"CLOBBER: a misrouted write would store this"


@pytest.fixture
def oss_bucket(server, bucket):
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, bucket)
    b.put_object(VICTIM, VICTIM_BYTES, headers=VICTIM_HEADERS)
    b.put_object("victim/other.txt", b"other")
    return b


def snapshot(b):
    head = b.head_object(VICTIM)
    return {
        "bytes": b.get_object(VICTIM).read(),
        "etag": head.etag,
        "crc": head.server_crc,
        "last_modified": head.last_modified,
        "content_type": head.headers.get("content-type"),
        "meta": {k.lower(): v for k, v in head.headers.items() if k.lower().startswith("x-oss-meta-")},
        "keys": sorted(o.key for o in oss2.ObjectIterator(b)),
    }


def send(client, method, bucket_name, key, params, headers=None):
    """One request signed by oss2 (V1); (status, error code or None, body)."""
    data = CLOBBER if method in ("PUT", "POST") else None
    try:
        resp = client._do(method, bucket_name, key, params=params, headers=headers or {}, data=data)
    except oss2.exceptions.ServerError as e:
        return e.status, e.code, b""
    return resp.status, None, resp.read()


def test_every_sub_resource_with_every_method_is_served_or_refused(server, oss_bucket):
    b = oss_bucket
    before = snapshot(b)
    service = oss2.Service(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url)
    targets = {"service": (service, "", ""), "bucket": (b, b.bucket_name, ""), "object": (b, b.bucket_name, VICTIM)}
    wrong = []
    for name in SUBRESOURCES:
        for method in METHODS:
            for scope, (client, bucket_name, key) in targets.items():
                value = UPLOAD_ID if name == "uploadId" else ""
                status, code, body = send(client, method, bucket_name, key, {name: value})
                expected = IMPLEMENTED.get((method, scope, name), (501, "NotImplemented"))
                if name == "security-token":
                    # A temporary-credential token: the signature check refuses it by name
                    # (ferry has no STS yet); a method no operation takes is refused first.
                    expected = (403, "InvalidSecurityToken")
                    plain_operation = (method, scope) in {("GET", "service")} or (
                        scope != "service" and method in ("GET", "HEAD", "PUT", "DELETE"))
                    if not plain_operation and (status, code) in ((405, "MethodNotAllowed"), (501, "NotImplemented")):
                        expected = (status, code)
                listing = b"<ListBucketResult" in body or b"<ListAllMyBucketsResult" in body
                if (status, code) != expected or listing:
                    wrong.append(f"{method} {scope} ?{name}: got {status} {code}, want {expected}"
                                 + (" with a listing" if listing else ""))
    assert not wrong, "\n".join(wrong)
    assert snapshot(b) == before
    for upload in oss2.MultipartUploadIterator(b):
        b.abort_multipart_upload(upload.key, upload.upload_id)


@pytest.mark.parametrize("method,scope,params,headers,expected", [
    ("POST", "object", {"x-oss-process": "csv/select"}, None, (501, "NotImplemented")),
    ("POST", "object", {"x-oss-process": "csv/meta"}, None, (501, "NotImplemented")),
    ("GET", "object", {"x-oss-process": "image/resize,w_10"}, None, (501, "NotImplemented")),
    ("POST", "object", {"append": "", "position": "0"}, None, (501, "NotImplemented")),
    ("POST", "object", {"restore": ""}, None, (501, "NotImplemented")),
    ("PUT", "object", {"symlink": ""}, {"x-oss-symlink-target": "victim/other.txt"}, (501, "NotImplemented")),
    ("PUT", "object", {"tagging": ""}, None, (501, "NotImplemented")),
    ("PUT", "object", {"acl": ""}, {"x-oss-object-acl": "public-read"}, (501, "NotImplemented")),
    ("PUT", "object", {"uploadId": UPLOAD_ID, "partNumber": "1"}, None, (404, "NoSuchUpload")),
    ("PUT", "object", {"uploadId": UPLOAD_ID, "partNumber": "1"}, {"x-oss-copy-source": "/b/k"}, (501, "NotImplemented")),
    ("PUT", "object", {"versionId": "v1"}, None, (501, "NotImplemented")),
    ("DELETE", "object", {"versionId": "v1"}, None, (501, "NotImplemented")),
    ("PUT", "object", {"x-oss-traffic-limit": "819200"}, None, (501, "NotImplemented")),
    ("PUT", "object", {}, {"x-oss-object-acl": "public-read"}, (501, "NotImplemented")),
    ("POST", "object", {}, None, (405, "MethodNotAllowed")),
    ("GET", "bucket", {"acl": "", "lifecycle": ""}, None, (501, "NotImplemented")),
    ("GET", "bucket", {"acl": "", "prefix": "victim/"}, None, (501, "NotImplemented")),
    ("POST", "bucket", {"replication": "", "comp": "add"}, None, (501, "NotImplemented")),
    ("PUT", "bucket", {"lifecycle": ""}, None, (400, "MalformedXML")),
    ("PUT", "bucket", {"acl": ""}, {"x-oss-acl": "public-read"}, (501, "NotImplemented")),
    ("GET", "bucket", {"stat": ""}, None, (501, "NotImplemented")),
    ("GET", "bucket", {"list-type": "2", "marker": "x"}, None, (501, "NotImplemented")),
])
def test_requests_with_values_are_served_or_refused(oss_bucket, method, scope, params, headers, expected):
    b = oss_bucket
    before = snapshot(b)
    key = VICTIM if scope == "object" else ""
    status, code, body = send(b, method, b.bucket_name, key, params, headers)
    assert (status, code) == expected
    assert b"<ListBucketResult" not in body
    assert snapshot(b) == before


def test_bucket_info_location_and_acls_read_as_oss2_expects(oss_bucket, bucket):
    b = oss_bucket
    info = b.get_bucket_info()
    assert info.name == bucket
    assert info.location == "oss-ferry" and info.storage_class == "Standard"
    assert info.acl.grant == "private"
    assert info.owner.id == "ferry" and info.owner.display_name == "ferry"
    assert info.creation_date.endswith(".000Z")
    assert info.versioning_status is None, "ferry does not version, so the element is absent as on real OSS"
    assert b.get_bucket_location().location == "oss-ferry"
    assert b.get_bucket_acl().acl == oss2.BUCKET_ACL_PRIVATE
    assert b.get_object_acl(VICTIM).acl == oss2.OBJECT_ACL_DEFAULT
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object_acl("missing")
    missing = oss2.Bucket(b.auth, b.endpoint, "no-such-bucket-here")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        missing.get_bucket_info()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        missing.get_bucket_acl()


def test_acl_writes_other_than_the_current_one_are_refused(oss_bucket):
    b = oss_bucket
    before = snapshot(b)
    # The ACLs ferry already has are accepted and change nothing.
    assert b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE).status == 200
    assert b.put_object_acl(VICTIM, oss2.OBJECT_ACL_DEFAULT).status == 200
    for call in (lambda: b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ),
                 lambda: b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE),
                 lambda: b.put_object_acl(VICTIM, oss2.OBJECT_ACL_PUBLIC_READ),
                 lambda: b.put_object_acl(VICTIM, oss2.OBJECT_ACL_PRIVATE),
                 lambda: b.put_object("public.txt", b"x", headers={"x-oss-object-acl": "public-read"})):
        with pytest.raises(oss2.exceptions.ServerError) as e:
            call()
        assert (e.value.status, e.value.code) == (501, "NotImplemented")
        assert "ACL" in e.value.message
    assert b.get_bucket_acl().acl == "private"
    assert b.get_object_acl(VICTIM).acl == "default"
    assert not b.object_exists("public.txt")
    assert snapshot(b) == before


def test_unimplemented_oss2_calls_raise_not_implemented(oss_bucket):
    b = oss_bucket
    before = snapshot(b)
    calls = [
        lambda: b.get_bucket_stat(),
        lambda: b.get_bucket_referer(),
        lambda: b.get_bucket_cors(),
        lambda: b.get_bucket_versioning(),
        lambda: b.get_object_tagging(VICTIM),
        lambda: b.put_object_tagging(VICTIM, oss2.models.Tagging(oss2.models.TaggingRule())),
        lambda: b.put_symlink("victim/other.txt", VICTIM),
        lambda: b.append_object(VICTIM, 0, b"appended"),
        lambda: b.restore_object(VICTIM),
        lambda: b.delete_object(VICTIM, params={"versionId": "v1"}),
    ]
    for call in calls:
        with pytest.raises(oss2.exceptions.ServerError) as e:
            call()
        assert (e.value.status, e.value.code) == (501, "NotImplemented")
    assert snapshot(b) == before


def test_list_buckets_pages_and_get_object_overrides(server, s3, oss_bucket, bucket):
    prefix = bucket[:8]
    names = sorted([bucket] + [f"{bucket}-{i}" for i in range(3)])
    for n in names[1:]:
        s3.create_bucket(Bucket=n)
    service = oss2.Service(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url)
    page = service.list_buckets(prefix=prefix, max_keys=2)
    assert [x.name for x in page.buckets] == names[:2] and page.is_truncated and page.next_marker == names[1]
    assert [x.name for x in oss2.BucketIterator(service, prefix=prefix, max_keys=2)] == names
    assert service.list_buckets(prefix="zz-none-").buckets == []
    got = oss_bucket.get_object(VICTIM, params={"response-content-type": "application/json",
                                                "response-content-disposition": "attachment"})
    assert got.read() == VICTIM_BYTES
    assert got.headers["content-type"] == "application/json"
    assert got.headers["content-disposition"] == "attachment"


def test_metrics_name_the_oss_operation(server, oss_bucket):
    import urllib.request

    def count(operation, status):
        text = urllib.request.urlopen(server.url + "/metrics").read().decode()
        lines = [l for l in text.splitlines() if l.startswith("ferry_requests_total{")
                 and 'dialect="oss"' in l and f'operation="{operation}"' in l and f'status="{status}"' in l]
        return sum(float(l.rsplit(" ", 1)[1]) for l in lines)

    info, refused = count("GetBucketInfo", 200), count("PutObjectTagging", 501)
    oss_bucket.get_bucket_info()
    with pytest.raises(oss2.exceptions.ServerError):
        oss_bucket.put_object_tagging(VICTIM, oss2.models.Tagging())
    assert count("GetBucketInfo", 200) == info + 1
    assert count("PutObjectTagging", 501) == refused + 1
