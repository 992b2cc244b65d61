"""The web console at /console, driven in Debian's Chromium through playwright-core against a real
`ferry serve`: sign-in (a wrong secret refused), browsing, a 64 MiB upload cut off mid-way and
resumed after a reload without re-sending stored parts (counted at the server), the object checked
byte for byte with boto3, download, delete, the sessions view with a boto3 upload aborted from
the page, the tables view with a table written by pyodps, and CSRF refusals. Screenshots of each
view are saved in the test's tmp dir (and copied to $FERRY_ARTIFACTS when set)."""

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, s3_client

HERE = Path(__file__).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BIG = 64 * 1024 * 1024
PART = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ferry-console") / "data"
    data.mkdir()
    srv = FerryServer(data).start()
    yield srv
    srv.stop()


def request(server, method, path, headers=None, body=None):
    u = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r, data


def write_table(server):
    from odps import ODPS
    from odps.models import TableSchema
    from odps.tunnel import TableTunnel
    from odps.types import Column, Partition

    o = ODPS(ACCESS_KEY, SECRET_KEY, "proj", endpoint=f"{server.url}/odps")
    schema = TableSchema(columns=[Column("id", "bigint"), Column("name", "string")],
                         partitions=[Partition("pt", "string")])
    o.create_table("console_t", schema, if_not_exists=True)
    tunnel = TableTunnel(o)
    up = tunnel.create_upload_session("console_t", partition_spec="pt=p1", create_partition=True)
    with up.open_record_writer(0) as w:
        for i in range(42):
            w.write(up.new_record([i, f"row {i}"]))
    up.commit([0])
    return "proj.console_t"


def test_console_end_to_end_in_chromium(console_server, tmp_path):
    assert Path(CHROMIUM).exists(), "scripts/test.sh installs Debian's chromium"
    assert (HERE / "node" / "node_modules" / "playwright-core").exists(), "scripts/test.sh runs npm ci"
    s3 = s3_client(console_server.url)
    bucket = "console-e2e"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="seeded/hello.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="delete-me.txt", Body=b"bye")
    # An upload in progress from another dialect, for the sessions view.
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="from-boto3.bin")
    s3.upload_part(Bucket=bucket, Key="from-boto3.bin", UploadId=mpu["UploadId"], PartNumber=1, Body=b"x" * 1000)
    table = write_table(console_server)

    big = tmp_path / "big.bin"
    data = os.urandom(BIG)
    big.write_bytes(data)
    folder = tmp_path / "album"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"first")
    (folder / "sub" / "b.txt").write_bytes(b"second")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    cfg = {
        "url": console_server.url, "accessKey": ACCESS_KEY, "secret": SECRET_KEY, "bucket": bucket,
        "bigFile": str(big), "artifacts": str(artifacts), "s3UploadId": mpu["UploadId"], "table": table,
        "chromium": CHROMIUM, "folder": str(folder), "folderKeys": ["album/a.txt", "album/sub/b.txt"],
    }
    r = subprocess.run([shutil.which("node"), str(HERE / "console_check.mjs"), json.dumps(cfg)],
                       capture_output=True, text=True, timeout=240)
    if os.environ.get("FERRY_ARTIFACTS"):
        dest = Path(os.environ["FERRY_ARTIFACTS"]) / "console"
        dest.mkdir(parents=True, exist_ok=True)
        for png in artifacts.glob("*.png"):
            shutil.copy(png, dest / png.name)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert not out.get("pageErrors"), out.get("pageErrors")

    # Sign-in: the wrong secret was refused; the cookie is what the design says.
    assert "Wrong" in out["wrongSecret"]
    cookie = out["cookie"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console", cookie
    assert SECRET_KEY not in cookie["value"]
    assert "seeded" in out["browsed"]

    # The cut: three parts were stored, further parts never reached the server.
    assert out["cutRequests"] > 0
    assert out["bytesBeforeCut"] == 3 * PART, out
    # The resume sent exactly the parts that were missing, once each: nothing stored twice.
    parts = BIG // PART
    # (Parts 1-3 were the three in flight when the network went.)
    assert out["resumedParts"] == list(range(4, parts + 1)), out["resumedParts"]
    assert out["bytesAfterResume"] == BIG - 3 * PART, out
    got = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest() and len(got) == BIG

    # The folder kept its structure.
    assert s3.get_object(Bucket=bucket, Key="album/a.txt")["Body"].read() == b"first"
    assert s3.get_object(Bucket=bucket, Key="album/sub/b.txt")["Body"].read() == b"second"

    # Download through the presigned URL: the same bytes.
    assert out["downloadSize"] == BIG
    assert out["downloadSha256"] == hashlib.sha256(data).hexdigest()

    # Delete: cancelled first, then done.
    assert out["stillThereAfterCancel"] == 1
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="delete-me.txt")
    assert s3.get_object(Bucket=bucket, Key="seeded/hello.txt")["Body"].read() == b"hello"

    # Sessions: the boto3 upload was listed with its part and aborted from the page.
    row = out["sessionRow"]
    assert row[0] == f"{bucket}/from-boto3.bin" and row[1] == "s3" and row[3] == "1" and "1000" in row[4], row
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert mpu["UploadId"] not in [u["UploadId"] for u in uploads]

    # Tables: the pyodps table with its schema, partition and rows.
    assert "id bigint" in out["tableText"] and "pt=p1" in out["tableText"] and "42" in out["tableText"], out["tableText"]

    # CSRF and origins.
    assert out["noToken"] == 403
    assert out["crossSiteNoToken"] == 403
    assert out["crossSiteWithToken"] == 403
    assert out["sameOriginWithToken"] == 200
    assert out["afterSignOut"] == 401

    for name in ["signin", "browse", "upload-cut", "uploaded", "sessions", "tables"]:
        assert (artifacts / f"console-{name}.png").stat().st_size > 5000


def test_refusals_without_a_browser(console_server):
    # A bucket named "console" still works for signed S3 requests (the console takes unsigned ones).
    s3 = s3_client(console_server.url)
    s3.create_bucket(Bucket="console")
    s3.put_object(Bucket="console", Key="api/buckets", Body=b"mine")
    assert s3.get_object(Bucket="console", Key="api/buckets")["Body"].read() == b"mine"
    # Unknown paths and methods are answered by the console's table, never by S3.
    r, body = request(console_server, "GET", "/console/api/nothing")
    assert r.status == 404 and json.loads(body)["error"] == "NotFound"
    r, body = request(console_server, "GET", "/console/api/signin")
    assert r.status == 405 and r.getheader("Allow") == "POST"
    # Signed out: every API call is 401.
    r, _ = request(console_server, "GET", "/console/api/buckets")
    assert r.status == 401
    r, _ = request(console_server, "GET", "/console/api/buckets", {"Cookie": "ferry_console=forged"})
    assert r.status == 401
    # A sign-in from another origin is refused even with the right secret.
    body = json.dumps({"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY})
    r, _ = request(console_server, "POST", "/console/api/signin",
                   {"Origin": "http://evil.example", "Content-Type": "application/json"}, body)
    assert r.status == 403
    r, _ = request(console_server, "POST", "/console/api/signin", {"Content-Type": "application/json"}, body)
    assert r.status == 200
    cookie = r.getheader("Set-Cookie").split(";")[0]
    # The page and its assets are served with validators.
    r, page = request(console_server, "GET", "/console/")
    assert r.status == 200 and b"<main" in page and r.getheader("Content-Security-Policy")
    r, _ = request(console_server, "GET", "/console/assets/app.js")
    etag = r.getheader("ETag")
    r, _ = request(console_server, "GET", "/console/assets/app.js", {"If-None-Match": etag})
    assert r.status == 304
    # Signed in, but grants still apply: a bucket that does not exist is the engine's answer.
    r, body = request(console_server, "GET", "/console/api/objects?bucket=nope-nope", {"Cookie": cookie})
    assert r.status == 404 and json.loads(body)["error"] == "NoSuchBucket"


def create_key(server, name, grant):
    """A stored access key made with `ferry keys create` (its id and secret)."""
    from conftest import FERRY_BIN

    out = subprocess.run([FERRY_BIN, "keys", "create", name, "--grant", grant, "--data-dir", str(server.data_dir),
                          "--json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_grants_decide_what_a_key_sees_and_a_disabled_key_is_signed_out(console_server):
    from conftest import FERRY_BIN

    s3 = s3_client(console_server.url)
    for name in ["granted-one", "hidden-two"]:
        s3.create_bucket(Bucket=name)
    s3.put_object(Bucket="granted-one", Key="ci/x.txt", Body=b"x")
    key = create_key(console_server, "console-ci", "granted-one/ci/:read,write,list")
    body = json.dumps({"accessKeyId": key["access_key_id"], "secretAccessKey": key["secret_access_key"]})
    # The key store is re-read about every second.
    for _ in range(50):
        r, answer = request(console_server, "POST", "/console/api/signin", {"Content-Type": "application/json"}, body)
        if r.status == 200:
            break
        time.sleep(0.1)
    assert r.status == 200, answer
    cookie = r.getheader("Set-Cookie").split(";")[0]
    csrf = json.loads(answer)["csrf"]
    r, answer = request(console_server, "GET", "/console/api/buckets", {"Cookie": cookie})
    assert [b["name"] for b in json.loads(answer)["buckets"]] == ["granted-one"]
    r, _ = request(console_server, "GET", "/console/api/objects?bucket=granted-one&prefix=ci/", {"Cookie": cookie})
    assert r.status == 200
    r, _ = request(console_server, "GET", "/console/api/objects?bucket=hidden-two", {"Cookie": cookie})
    assert r.status == 403
    r, _ = request(console_server, "POST", "/console/api/uploads?bucket=granted-one&key=release/x",
                   {"Cookie": cookie, "X-Ferry-Csrf": csrf})
    assert r.status == 403
    r, _ = request(console_server, "DELETE", "/console/api/objects?bucket=granted-one&key=ci/x.txt",
                   {"Cookie": cookie, "X-Ferry-Csrf": csrf})
    assert r.status == 403, "no delete grant"
    assert s3.get_object(Bucket="granted-one", Key="ci/x.txt")["Body"].read() == b"x"
    # Disabled: the very next requests are refused, cookie or not.
    out = subprocess.run([FERRY_BIN, "keys", "disable", "console-ci", "--data-dir", str(console_server.data_dir)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for _ in range(50):
        r, answer = request(console_server, "GET", "/console/api/buckets", {"Cookie": cookie})
        if r.status == 401:
            break
        time.sleep(0.1)
    assert r.status == 401 and json.loads(answer)["error"] == "SignedOut"


def test_temporary_credentials_sign_in_browse_and_download(console_server):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    s3 = s3_client(console_server.url)
    s3.create_bucket(Bucket="sts-console")
    s3.put_object(Bucket="sts-console", Key="t/x.txt", Body=b"temporary")
    key = create_key(console_server, "console-sts", "sts-console/t/:read,list")
    sts = boto3.client("sts", endpoint_url=console_server.url, aws_access_key_id=key["access_key_id"],
                       aws_secret_access_key=key["secret_access_key"], region_name="us-east-1",
                       config=Config(retries={"max_attempts": 1}))
    for _ in range(50):  # the key store is re-read about every second
        try:
            creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
            break
        except ClientError:
            time.sleep(0.1)
    else:
        raise AssertionError("the new key never became usable")

    def sign_in(token):
        body = {"accessKeyId": creds["AccessKeyId"], "secretAccessKey": creds["SecretAccessKey"]}
        if token is not None:
            body["sessionToken"] = token
        return request(console_server, "POST", "/console/api/signin", {"Content-Type": "application/json"},
                       json.dumps(body))

    assert sign_in(None)[0].status == 401, "temporary credentials without their token"
    assert sign_in(creds["SessionToken"][:-4] + "AAAA")[0].status == 401, "an altered token"
    r, answer = sign_in(creds["SessionToken"])
    assert r.status == 200, answer
    assert json.loads(answer)["accessKeyId"] == creds["AccessKeyId"]
    cookie = r.getheader("Set-Cookie").split(";")[0]
    r, answer = request(console_server, "GET", "/console/api/buckets", {"Cookie": cookie})
    assert [b["name"] for b in json.loads(answer)["buckets"]] == ["sts-console"]
    r, answer = request(console_server, "GET", "/console/api/objects?bucket=sts-console&prefix=t/", {"Cookie": cookie})
    assert [o["key"] for o in json.loads(answer)["objects"]] == ["t/x.txt"]
    # The download URL is signed with the temporary credentials, token included.
    r, answer = request(console_server, "GET", "/console/api/download?bucket=sts-console&key=t/x.txt",
                        {"Cookie": cookie})
    assert r.status == 200, answer
    url = urllib.parse.urlsplit(json.loads(answer)["url"])
    assert "X-Amz-Security-Token=" in url.query
    r, body = request(console_server, "GET", f"{url.path}?{url.query}")
    assert (r.status, body) == (200, b"temporary")
    # Outside the key's grants: refused, as for the key itself.
    r, _ = request(console_server, "GET", "/console/api/objects?bucket=sts-console&prefix=", {"Cookie": cookie})
    assert r.status == 403
    # A session policy so large that the cookie holding its token would pass a browser's 4 KiB
    # limit (and be dropped silently): the sign-in is refused with a reason.
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::sts-console/t/number-{i}/*"}
        for i in range(20)]})
    big = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/console", RoleSessionName="console",
                          Policy=policy)["Credentials"]
    r, answer = request(console_server, "POST", "/console/api/signin", {"Content-Type": "application/json"},
                        json.dumps({"accessKeyId": big["AccessKeyId"], "secretAccessKey": big["SecretAccessKey"],
                                    "sessionToken": big["SessionToken"]}))
    assert r.status == 400 and "too long" in json.loads(answer)["message"], answer
    assert r.getheader("Set-Cookie") is None
