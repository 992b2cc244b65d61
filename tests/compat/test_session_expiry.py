"""Session lifetime and idle time are enforced when a request arrives, not only by the sweeper:
with a sweep interval far longer than the test, an upload past its lifetime (or idle too long)
is refused by every operation, in every dialect, and publishes nothing."""

import contextlib
import json
import time

import oss2
import pytest
from botocore.exceptions import ClientError
from odps import errors
from odps.tunnel import TableTunnel

from conftest import ACCESS_KEY, SECRET_KEY, FerryServer, error_code
from test_tunnel import odps_for, one_block_session, read_all, table_resource

# The sweeper would run once a minute: everything below happens before it ever does.
NO_SWEEP = ("--sweep-interval", "60s")


@contextlib.contextmanager
def private_server(tmp_path, *flags):
    (tmp_path / "data").mkdir()
    server = FerryServer(tmp_path / "data", *flags, *NO_SWEEP).start()
    try:
        yield server
    finally:
        server.stop()


def sleep_until(t):
    time.sleep(max(0.0, t - time.monotonic()))


def test_s3_upload_past_its_lifetime_is_refused_without_a_sweep(tmp_path):
    with private_server(tmp_path, "--session-lifetime", "3s") as server:
        s3 = server.client()
        s3.create_bucket(Bucket="exp")
        created = time.monotonic()
        upload = s3.create_multipart_upload(Bucket="exp", Key="k")["UploadId"]
        etag = s3.upload_part(Bucket="exp", Key="k", UploadId=upload, PartNumber=1, Body=b"a" * 1000)["ETag"]
        assert len(s3.list_parts(Bucket="exp", Key="k", UploadId=upload)["Parts"]) == 1
        sleep_until(created + 4.5)

        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket="exp", Key="k", UploadId=upload, PartNumber=2, Body=b"b" * 1000)
        assert error_code(e) == "NoSuchUpload"
        with pytest.raises(ClientError) as e:
            s3.list_parts(Bucket="exp", Key="k", UploadId=upload)
        assert error_code(e) == "NoSuchUpload"
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket="exp", Key="k", UploadId=upload,
                                         MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert error_code(e) == "NoSuchUpload"
        with pytest.raises(ClientError) as e:
            s3.abort_multipart_upload(Bucket="exp", Key="k", UploadId=upload)
        assert error_code(e) == "NoSuchUpload"
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="exp", Key="k")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, "nothing was published"
        assert "Uploads" not in s3.list_multipart_uploads(Bucket="exp"), "an expired upload is not listed"

        # A new upload within its lifetime works as ever.
        fresh = s3.create_multipart_upload(Bucket="exp", Key="k")["UploadId"]
        etag = s3.upload_part(Bucket="exp", Key="k", UploadId=fresh, PartNumber=1, Body=b"c" * 1000)["ETag"]
        s3.complete_multipart_upload(Bucket="exp", Key="k", UploadId=fresh,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert s3.get_object(Bucket="exp", Key="k")["Body"].read() == b"c" * 1000


def test_s3_upload_idle_too_long_is_refused_and_parts_keep_it_alive(tmp_path):
    with private_server(tmp_path, "--idle-timeout", "2s") as server:
        s3 = server.client()
        s3.create_bucket(Bucket="idle")
        upload = s3.create_multipart_upload(Bucket="idle", Key="k")["UploadId"]
        parts = []
        for n in range(1, 4):  # one part a second: never idle for 2 s
            time.sleep(1.0)
            etag = s3.upload_part(Bucket="idle", Key="k", UploadId=upload, PartNumber=n, Body=bytes([n]) * 100)["ETag"]
            parts.append({"PartNumber": n, "ETag": etag})
        assert len(s3.list_parts(Bucket="idle", Key="k", UploadId=upload)["Parts"]) == 3
        time.sleep(3.0)
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket="idle", Key="k", UploadId=upload, MultipartUpload={"Parts": parts[-1:]})
        assert error_code(e) == "NoSuchUpload"
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="idle", Key="k")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_oss_upload_past_its_lifetime_is_refused_without_a_sweep(tmp_path):
    with private_server(tmp_path, "--session-lifetime", "3s") as server:
        server.client().create_bucket(Bucket="oexp")
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, "oexp")
        created = time.monotonic()
        upload = b.init_multipart_upload("k").upload_id
        first = b.upload_part("k", upload, 1, b"a" * 1000)
        sleep_until(created + 4.5)
        with pytest.raises(oss2.exceptions.NoSuchUpload):
            b.upload_part("k", upload, 2, b"b" * 1000)
        with pytest.raises(oss2.exceptions.NoSuchUpload):
            b.list_parts("k", upload)
        with pytest.raises(oss2.exceptions.NoSuchUpload):
            b.complete_multipart_upload("k", upload, [oss2.models.PartInfo(1, first.etag)])
        assert not b.object_exists("k"), "nothing was published"


def test_tunnel_session_past_its_lifetime_is_expired_without_a_sweep(tmp_path):
    with private_server(tmp_path, "--session-lifetime", "3s") as server:
        o = odps_for(server)
        created = time.monotonic()
        name, tunnel, up = one_block_session(o)
        sleep_until(created + 4.5)
        # The status call shows EXPIRED at once; the sweeper has not run.
        assert tunnel.create_upload_session(name, upload_id=up.id).status.value == "EXPIRED"
        with pytest.raises(errors.ODPSError, match="EXPIRED") as e:
            with up.open_record_writer(1) as w:
                w.write(up.new_record([2]))
        assert e.value.code == "NoSuchUpload"
        with pytest.raises(errors.ODPSError, match="EXPIRED"):
            o.rest.post(table_resource(server, name), json.dumps({"BlockList": [0]}), params={"uploadid": up.id})
        assert read_all(o, name, None) == [], "nothing was published"


def test_tunnel_commit_of_a_stale_copy_is_refused(tmp_path):
    """A commit that arrives after the lifetime, with no status call before it, still finds the
    session expired (the engine judges it in the commit's own transaction)."""
    with private_server(tmp_path, "--session-lifetime", "3s") as server:
        o = odps_for(server)
        created = time.monotonic()
        name, tunnel, up = one_block_session(o)
        sleep_until(created + 4.5)
        with pytest.raises(errors.ODPSError) as e:
            o.rest.post(table_resource(server, name), json.dumps({"BlockList": [0]}), params={"uploadid": up.id})
        assert e.value.code == "NoSuchUpload"
        assert read_all(o, name, None) == []
        fresh = TableTunnel(o).create_upload_session(name)
        with fresh.open_record_writer(0) as w:
            w.write(fresh.new_record([3]))
        fresh.commit([0])
        assert [r["id"] for r in read_all(o, name, None)] == [3]
