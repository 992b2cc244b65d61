"""Misrouting: every US3 sub-resource with every method on an existing file, signed the way the
ufile SDK signs. Each request is either one of the operations ferry serves or US3's JSON error
for a request ferry does not implement (HTTP 501, RetCode -148501); never a 500, and never a
change to the file's bytes, ETag or metadata. The SDK's own calls for operations ferry does not
implement must surface that error, and the calls the walk found misrouted before (UploadPartCopy)
must do what they say."""

import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, s3_client

DOMAIN = "us3.ferry.test"
BUCKET = "surface"
KEY = "dir/victim.txt"
ORIGINAL = b"the original bytes of the file\n" * 100
NOT_IMPLEMENTED = -148501

METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
NO_SUCH_UPLOAD = "no-such-upload"

# Every sub-resource name the UFile API and SDKs use, plus a few they do not, with values where
# the operation takes one. The bare request (no query) is the one case left out for PUT and
# DELETE, since there it is a genuine write: test_us3.py covers those.
SUB_RESOURCES = [
    "",
    "uploads",
    f"uploadId={NO_SUCH_UPLOAD}",
    f"uploadId={NO_SUCH_UPLOAD}&partNumber=0",
    f"uploadId={NO_SUCH_UPLOAD}&newKey=elsewhere",
    "restore",
    "storageClass=IA",
    "newFileName=renamed.txt&force=true",
    "opmeta",
    "tagging",
    "acl",
    "append&position=0",
    "list",
    "listobjects",
    "muploadpart",
    "muploadid",
    "uploadhit",
    "Hash=AQAAAA&FileName=dir%2Fvictim.txt&FileSize=3100",
    "iopcmd=thumbnail",
    "partNumber=0",
    "delete",
    "versioning",
    "torrent",
    "x-unknown=1",
]

# (method, sub-resource, copy header) → the operation ferry serves for it. Everything else in the
# walk must be refused as not implemented.
SERVED = {
    ("GET", "", False): "GetFile",
    ("GET", "", True): "GetFile",
    ("HEAD", "", False): "HeadFile",
    ("HEAD", "", True): "HeadFile",
    ("POST", "uploads", False): "InitiateMultipartUpload",
    ("POST", "uploads", True): "InitiateMultipartUpload",
    ("PUT", f"uploadId={NO_SUCH_UPLOAD}", False): "UploadPart",
    ("PUT", f"uploadId={NO_SUCH_UPLOAD}&partNumber=0", False): "UploadPart",
    ("PUT", f"uploadId={NO_SUCH_UPLOAD}", True): "UploadPartCopy",
    ("PUT", f"uploadId={NO_SUCH_UPLOAD}&partNumber=0", True): "UploadPartCopy",
    ("POST", f"uploadId={NO_SUCH_UPLOAD}", False): "FinishMultipartUpload",
    ("POST", f"uploadId={NO_SUCH_UPLOAD}", True): "FinishMultipartUpload",
    ("DELETE", f"uploadId={NO_SUCH_UPLOAD}", False): "AbortMultipartUpload",
    ("DELETE", f"uploadId={NO_SUCH_UPLOAD}", True): "AbortMultipartUpload",
}


def sign(method, key, headers, query=""):
    """`Authorization: UCloud <public>:<signature>` as the ufile SDK computes it (listobjects also
    signs its four parameters)."""
    from ufile.baseufile import BaseUFile
    action, params = None, None
    if query.split("&")[0] == "listobjects":
        action, params = "listobjects", {"delimiter": "", "marker": "", "max-keys": "", "prefix": ""}
    return BaseUFile(ACCESS_KEY, SECRET_KEY).authorization(method.lower(), BUCKET, key, headers, None, action, params)


@pytest.fixture(scope="module")
def us3(tmp_path_factory):
    data = tmp_path_factory.mktemp("us3-surface") / "data"
    data.mkdir()
    srv = FerryServer(data, "--us3-domain", DOMAIN).start()
    s3 = s3_client(srv.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket="source")
    s3.put_object(Bucket="source", Key="src.txt", Body=b"copied over the victim")
    yield srv
    srv.stop()


def send(srv, method, key, query, copy=False, body=b""):
    headers = {"Content-Type": "application/octet-stream"}
    if copy:
        headers["X-Ufile-Copy-Source"] = "/source/src.txt"
    headers["Authorization"] = sign(method, key, headers, query)
    headers["Host"] = f"{BUCKET}.{DOMAIN}:{srv.port}"
    url = f"{srv.url}/{key}" + (f"?{query}" if query else "")
    return requests.request(method, url, headers=headers, data=body, timeout=30)


def snapshot(srv):
    s3 = s3_client(srv.url)
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    body = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    return {
        "body": body,
        "etag": head["ETag"],
        "type": head["ContentType"],
        "meta": head["Metadata"],
        "size": head["ContentLength"],
        "modified": head["LastModified"],
    }


def assert_not_implemented(r, what):
    assert r.status_code == 501, f"{what}: {r.status_code} {r.text[:200]}"
    assert r.headers.get("X-SessionId")
    if r.request.method != "HEAD":
        assert r.headers["Content-Type"] == "application/json", what
        body = r.json()
        assert body["RetCode"] == NOT_IMPLEMENTED and "ferry does not implement" in body["ErrMsg"], (what, body)


def test_every_sub_resource_with_every_method_leaves_the_file_alone(us3):
    s3_client(us3.url).put_object(
        Bucket=BUCKET, Key=KEY, Body=ORIGINAL, ContentType="text/x-original", Metadata={"owner": "surface-test"}
    )
    before = snapshot(us3)
    assert before["body"] == ORIGINAL
    walked, served = 0, set()
    for query in SUB_RESOURCES:
        for method in METHODS:
            for copy in (False, True):
                if query == "" and method in ("PUT", "DELETE"):
                    continue
                what = f"{method} /{KEY}?{query}" + (" with X-Ufile-Copy-Source" if copy else "")
                r = send(us3, method, KEY, query, copy=copy, body=b"MISROUTED" if method in ("PUT", "POST") else b"")
                walked += 1
                assert r.status_code != 500, f"{what}: {r.text[:200]}"
                op = SERVED.get((method, query, copy))
                if op is None:
                    assert_not_implemented(r, what)
                else:
                    served.add(op)
                    assert r.status_code != 501, f"{what} should be served as {op}: {r.text[:200]}"
                assert snapshot(us3) == before, f"{what} changed the file"
    assert walked > 300
    assert served == set(SERVED.values())


def test_served_answers_in_the_walk_are_the_operations_own(us3):
    """The multipart calls in the walk reach their handlers: a missing upload is US3's 404."""
    r = send(us3, "DELETE", KEY, f"uploadId={NO_SUCH_UPLOAD}")
    assert r.status_code == 404 and r.json()["ErrMsg"] == "upload id not exist"
    r = send(us3, "POST", KEY, f"uploadId={NO_SUCH_UPLOAD}", body=b'"e0"')
    assert r.status_code == 404
    r = send(us3, "PUT", KEY, f"uploadId={NO_SUCH_UPLOAD}&partNumber=0", body=b"x")
    assert r.status_code == 404
    r = send(us3, "PUT", KEY, f"uploadId={NO_SUCH_UPLOAD}&partNumber=0", copy=True)
    assert r.status_code == 404


def test_bucket_root_with_every_sub_resource(us3):
    """The bucket root: listings are served, everything else is refused; nothing is written."""
    s3 = s3_client(us3.url)
    s3.put_object(Bucket=BUCKET, Key="root-check.txt", Body=b"kept")
    keys_before = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
    served = {
        ("GET", "list"): "PrefixFileList",
        ("GET", "listobjects"): "ListObjects",
        ("GET", "muploadpart"): "ListParts",
        ("GET", "muploadid"): "GetMultiUploadId",
    }
    for query in SUB_RESOURCES:
        for method in METHODS:
            r = send(us3, method, "", query, body=b"MISROUTED" if method in ("PUT", "POST") else b"")
            what = f"{method} /?{query}"
            assert r.status_code != 500, f"{what}: {r.text[:200]}"
            if (method, query) in served:
                assert r.status_code != 501, what
            else:
                assert_not_implemented(r, what)
    keys_after = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
    assert keys_after == keys_before
    assert s3.get_object(Bucket=BUCKET, Key="root-check.txt")["Body"].read() == b"kept"


@pytest.fixture
def sdk(us3):
    from ufile import config
    # The SDK addresses http://<bucket><suffix>/; route that to the test server.
    config.set_default(uploadsuffix=f".{DOMAIN}:{us3.port}", downloadsuffix=f".{DOMAIN}:{us3.port}")
    import socket
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith("." + DOMAIN):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    yield
    socket.getaddrinfo = real


def test_sdk_calls_ferry_does_not_implement_fail_cleanly_and_keep_the_file(us3, sdk, tmp_path):
    """Before routing, `restore_file` and `class_switch_file` (PUT with a sub-resource) replaced
    the file with an empty body; now each SDK call reports US3's error and the file is intact."""
    from ufile import filemanager, multipartuploadufile
    s3_client(us3.url).put_object(
        Bucket=BUCKET, Key=KEY, Body=ORIGINAL, ContentType="text/x-original", Metadata={"owner": "surface-test"}
    )
    before = snapshot(us3)
    fm = filemanager.FileManager(ACCESS_KEY, SECRET_KEY)
    local = tmp_path / "form.txt"
    local.write_bytes(b"form upload body")
    calls = {
        "Restore": lambda: fm.restore_file(BUCKET, KEY),
        "ClassSwitch": lambda: fm.class_switch_file(BUCKET, KEY, "IA"),
        "OpMeta": lambda: fm.opMeta(BUCKET, KEY, "mimetype", "text/evil"),
        "PostFile": lambda: fm.postfile(BUCKET, KEY, str(local)),
    }
    for name, call in calls.items():
        ret, resp = call()
        assert ret is None, name
        assert resp.status_code == 501 and resp.ret_code == NOT_IMPLEMENTED, (name, resp)
        assert name in resp.error, (name, resp.error)
        assert snapshot(us3) == before, f"{name} changed the file"



def test_upload_part_copy_copies_instead_of_storing_an_empty_part(us3, sdk):
    """UploadPartCopy (a part PUT with X-Ufile-Copy-Source) used to be taken for UploadPart and
    stored as an empty part; now the part is the source's bytes."""
    from ufile import multipartuploadufile
    source = b"copied over the victim"
    m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
    ret, resp = m.init_multipart_upload(BUCKET, "assembled.txt")
    assert resp.status_code == 200, resp.error
    # The SDK sends X-Ufile-Copy-Source-Range: bytes=<offset>-<size - 1>.
    ret, resp = m.upload_part_copy("source", "src.txt", "text/plain", 0, len(source), 0)
    assert resp.status_code == 200 and ret == {"PartNumber": 0}, resp.error
    ret, resp = m.get_multi_upload_part(BUCKET, m.uploadid)
    assert [p["Size"] for p in ret["Parts"]] == [len(source)]
    ret, resp = m.finish_upload()
    assert resp.status_code == 200, resp.error
    assert s3_client(us3.url).get_object(Bucket=BUCKET, Key="assembled.txt")["Body"].read() == source
    # A range the source does not have is the range error, and stores nothing.
    ret, resp = m.init_multipart_upload(BUCKET, "assembled-2.txt")
    ret, resp = m.upload_part_copy("source", "src.txt", "text/plain", 1000, 2000, 0)
    assert resp.status_code == 416, resp
    ret, resp = m.get_multi_upload_part(BUCKET, m.uploadid)
    assert ret["Parts"] == []


def test_list_parts_pages_with_max_parts_and_the_marker(us3, sdk):
    from ufile import multipartuploadufile
    m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
    ret, resp = m.init_multipart_upload(BUCKET, "paged.bin")
    assert resp.status_code == 200
    block = ret["BlkSize"]
    for n in range(3):
        r = send(us3, "PUT", "paged.bin", f"uploadId={m.uploadid}&partNumber={n}", body=bytes([n]) * block)
        assert r.status_code == 200, r.text
    ret, resp = m.get_multi_upload_part(BUCKET, m.uploadid, max_parts=2)
    assert resp.status_code == 200
    assert [p["PartNum"] for p in ret["Parts"]] == [0, 1] and ret["IsTruncated"] is True
    assert ret["NextPartNumberMarker"] == 1 and ret["MaxParts"] == 2
    ret, resp = m.get_multi_upload_part(BUCKET, m.uploadid, max_parts=2, part_number_marker=ret["NextPartNumberMarker"])
    assert [p["PartNum"] for p in ret["Parts"]] == [2] and ret["IsTruncated"] is False
    assert all(p["Size"] == block for p in ret["Parts"])
    r = send(us3, "GET", "", f"muploadpart&uploadId={m.uploadid}&max-parts=two")
    assert r.status_code == 400 and "max-parts" in r.json()["ErrMsg"]


def test_get_multi_upload_id_lists_uploads_in_progress_page_by_page(us3, sdk):
    from ufile import multipartuploadufile
    started = []
    # Distinct names: pages split between files (the order within one file's uploads is the
    # meta store's, by age).
    for key in ["uploads/a.bin", "uploads/b.bin", "uploads/c.bin"]:
        m = multipartuploadufile.MultipartUploadUFile(ACCESS_KEY, SECRET_KEY)
        ret, resp = m.init_multipart_upload(BUCKET, key)
        assert resp.status_code == 200
        started.append((key, m.uploadid))
    seen, marker = [], ""
    for _ in range(5):
        r = send(us3, "GET", "", f"muploadid&prefix=uploads%2F&marker={requests.utils.quote(marker, safe='')}&limit=2")
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["RetCode"] == 0 and len(page["DataSet"]) <= 2
        seen += [(u["FileName"], u["UploadId"]) for u in page["DataSet"]]
        assert all(u["StartTime"] > 0 for u in page["DataSet"])
        marker = page["NextMarker"]
        if not marker:
            break
    assert sorted(seen) == sorted(started)
    # A file name as the marker skips every upload of that file.
    r = send(us3, "GET", "", "muploadid&prefix=uploads%2F&marker=uploads%2Fa.bin")
    assert [u["FileName"] for u in r.json()["DataSet"]] == ["uploads/b.bin", "uploads/c.bin"]
