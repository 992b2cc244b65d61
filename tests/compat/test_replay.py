"""Replayed and borrowed credentials: a Tunnel request whose signed Date is too old or too new,
S3 and OSS requests carrying a session token (ferry issues none, so none can be valid), and
bucket names shaped like IP addresses."""

import base64
import datetime
import email.utils
import hashlib
import hmac
import time
import uuid

import boto3
import oss2
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from odps import ODPS, errors

from conftest import ACCESS_KEY, REGION, SECRET_KEY


def odps_signed_get(server, path, date):
    """GET `/odps<path>` signed with ODPS signature v2 (pyodps's scheme: method, Content-MD5,
    Content-Type, Date, the x-odps-* headers, then the resource relative to the endpoint)."""
    headers = {"Date": date, "x-odps-user-agent": "ferry-tests"}
    canonical = "\n".join(["GET", "", "", date, "x-odps-user-agent:ferry-tests", path])
    mac = hmac.new(SECRET_KEY.encode(), canonical.encode(), hashlib.sha1).digest()
    headers["Authorization"] = f"ODPS {ACCESS_KEY}:{base64.b64encode(mac).decode()}"
    return requests.get(f"{server.url}/odps{path}", headers=headers, timeout=10)


def http_date(offset_seconds):
    return email.utils.formatdate(time.time() + offset_seconds, usegmt=True)


def test_tunnel_requests_with_a_stale_or_future_date_are_refused(server):
    o = ODPS(ACCESS_KEY, SECRET_KEY, "proj", endpoint=f"{server.url}/odps")
    name = "t_" + uuid.uuid4().hex[:10]
    o.create_table(name, "id bigint")
    assert o.exist_table(name), "pyodps works as before"
    path = f"/projects/proj/tables/{name}"

    fresh = odps_signed_get(server, path, http_date(-60))
    assert fresh.status_code == 200, fresh.text  # the signature is right; only the date matters below

    for offset in (-20 * 60, 20 * 60, -365 * 86400):
        r = odps_signed_get(server, path, http_date(offset))
        assert r.status_code == 403, (offset, r.text)
        e = errors.parse_response(r)
        assert isinstance(e, errors.RequestTimeTooSkewed), (offset, r.text)
        assert e.max_interval_date == 15 * 60 * 1000
        assert abs((e.now_date - e.expire_date).total_seconds()) > 60

    r = requests.get(f"{server.url}/odps{path}", headers={"Authorization": f"ODPS {ACCESS_KEY}:c2ln"}, timeout=10)
    assert r.status_code in (401, 403), r.text  # no Date at all (and a wrong signature)


def test_s3_session_tokens_are_refused(server, bucket):
    s3 = boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token="FwoGZXIvYXdzEMadeUpToken",
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="with-token", Body=b"x")
    assert e.value.response["Error"]["Code"] == "InvalidToken"
    assert e.value.response["Error"]["Message"] == "The provided token is malformed or otherwise invalid."
    with pytest.raises(ClientError) as e:
        s3.list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidToken"

    # In presigned URLs too: SigV2 (boto3's default for presigning here) and SigV4.
    v4 = boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token="FwoGZXIvYXdzEMadeUpToken",
        region_name=REGION,
        config=Config(signature_version="s3v4"),
    )
    for client, param in ((s3, "x-amz-security-token="), (v4, "X-Amz-Security-Token=")):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "with-token"})
        assert param in url, url
        r = requests.get(url, timeout=10)
        assert r.status_code == 400 and b"<Code>InvalidToken</Code>" in r.content, r.text

    # Nothing was stored, and the same keys without a token still work.
    plain = server.client()
    assert plain.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    plain.put_object(Bucket=bucket, Key="without-token", Body=b"x")


def test_oss_security_tokens_are_refused(server, bucket):
    sts = oss2.Bucket(oss2.StsAuth(ACCESS_KEY, SECRET_KEY, "CAISmadeUpSecurityToken"), server.url, bucket)
    with pytest.raises(oss2.exceptions.OssError) as e:
        sts.put_object("with-token", b"x")
    assert e.value.status == 403 and e.value.code == "InvalidSecurityToken", e.value

    url = sts.sign_url("GET", "with-token", 60)
    assert "security-token=" in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 403 and b"<Code>InvalidSecurityToken</Code>" in r.content, r.text

    plain = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, bucket)
    assert not plain.object_exists("with-token")
    plain.put_object("without-token", b"x")


def test_oss_v4_requests_with_a_stale_date_are_refused(server, bucket, monkeypatch):
    v4 = oss2.Bucket(oss2.AuthV4(ACCESS_KEY, SECRET_KEY), server.url, bucket, region="cn-hangzhou")
    v4.put_object("fresh", b"x")  # the signature itself is right

    class TwentyMinutesAgo(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() - datetime.timedelta(minutes=20)

    # oss2's V4 signer takes x-oss-date from this clock.
    monkeypatch.setattr(oss2.auth, "datetime", TwentyMinutesAgo)
    with pytest.raises(oss2.exceptions.OssError) as e:
        v4.put_object("stale", b"x")
    assert e.value.status == 403 and e.value.code == "RequestTimeTooSkewed", e.value
    monkeypatch.undo()
    assert not v4.object_exists("stale") and v4.object_exists("fresh")


@pytest.mark.parametrize("name", ["192.168.1.1", "10.0.0.255"])
def test_ip_shaped_bucket_names_are_refused(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert e.value.response["Error"]["Code"] == "InvalidBucketName"
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # Names with dots and digits that are not IP-shaped stay fine.
    ok = f"1.2.3.x{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=ok)
    s3.delete_bucket(Bucket=ok)
