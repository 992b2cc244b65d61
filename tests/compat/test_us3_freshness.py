"""US3's header signature covers a `Date` line that the UFile SDKs leave empty, so a captured
request replays for as long as the key is valid. `--us3-max-request-age` lets a deployment whose
clients sign a Date refuse stale and undated requests; without it (the default) the SDK's undated
requests keep working."""

import email.utils
import time

import pytest
import requests

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, s3_client

DOMAIN = "us3.ferry.test"
BUCKET = "fresh"


def put(srv, key, body, date=None):
    from ufile.baseufile import BaseUFile

    headers = {"Content-Type": "text/plain"}
    if date is not None:
        headers["Date"] = date
    headers["Authorization"] = BaseUFile(ACCESS_KEY, SECRET_KEY).authorization("put", BUCKET, key, headers)
    headers["Host"] = f"{BUCKET}.{DOMAIN}:{srv.port}"
    return requests.put(f"{srv.url}/{key}", headers=headers, data=body, timeout=30)


def http_date(offset_seconds):
    return email.utils.formatdate(time.time() + offset_seconds, usegmt=True)


@pytest.fixture
def servers(tmp_path):
    started = []
    for name, extra in (("strict", ["--us3-max-request-age", "15m"]), ("default", [])):
        data = tmp_path / name
        data.mkdir()
        srv = FerryServer(data, "--us3-domain", DOMAIN, *extra).start()
        s3_client(srv.url).create_bucket(Bucket=BUCKET)
        started.append(srv)
    yield started
    for srv in started:
        srv.stop()


def stored(srv, key):
    s3 = s3_client(srv.url)
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def test_max_request_age_refuses_stale_and_undated_requests(servers):
    strict, _ = servers
    fresh = put(strict, "fresh.txt", b"signed now", date=http_date(-60))
    assert fresh.status_code == 200, fresh.text
    assert stored(strict, "fresh.txt") == b"signed now"

    for name, date in (("stale.txt", http_date(-20 * 60)), ("future.txt", http_date(20 * 60))):
        r = put(strict, name, b"replayed", date=date)
        assert r.status_code == 403, r.text
        assert r.headers["Content-Type"] == "application/json"
        assert "RequestTimeTooSkewed" in r.json()["ErrMsg"]
        assert stored(strict, name) is None

    undated = put(strict, "undated.txt", b"no date")
    assert undated.status_code == 403
    assert "--us3-max-request-age" in undated.json()["ErrMsg"]
    assert stored(strict, "undated.txt") is None


def test_date_is_part_of_the_signature(servers):
    strict, _ = servers
    from ufile.baseufile import BaseUFile

    signed_at = http_date(-30)
    headers = {"Content-Type": "text/plain", "Date": signed_at}
    auth = BaseUFile(ACCESS_KEY, SECRET_KEY).authorization("put", BUCKET, "moved.txt", headers)
    # The same signature with a fresher Date is a forgery: it must not verify.
    headers = {"Content-Type": "text/plain", "Date": http_date(0), "Authorization": auth}
    headers["Host"] = f"{BUCKET}.{DOMAIN}:{strict.port}"
    r = requests.put(f"{strict.url}/moved.txt", headers=headers, data=b"x", timeout=30)
    assert r.status_code == 403 and "signature" in r.json()["ErrMsg"]
    assert stored(strict, "moved.txt") is None


def test_off_by_default_so_the_sdk_keeps_working(servers):
    _, default = servers
    r = put(default, "sdk.txt", b"as the SDK sends it")
    assert r.status_code == 200, r.text
    old = put(default, "old.txt", b"old date", date=http_date(-20 * 60))
    assert old.status_code == 200
    assert stored(default, "sdk.txt") == b"as the SDK sends it"
