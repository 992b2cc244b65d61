"""The sweeper expires sessions and deletes blobs nothing references."""

from botocore.exceptions import ClientError

from conftest import FerryServer, blob_files, wait_for


def test_sessions_expire_and_blobs_are_collected(tmp_path):
    (tmp_path / "data").mkdir()
    srv = FerryServer(tmp_path / "data", "--session-lifetime", "2s", "--sweep-interval", "200ms", "--gc-grace", "0s").start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="exp")
        upload = s3.create_multipart_upload(Bucket="exp", Key="k")["UploadId"]
        s3.upload_part(Bucket="exp", Key="k", UploadId=upload, PartNumber=1, Body=b"x" * 1000)
        s3.put_object(Bucket="exp", Key="kept", Body=b"kept")
        s3.put_object(Bucket="exp", Key="replaced", Body=b"one")
        s3.put_object(Bucket="exp", Key="replaced", Body=b"two")
        assert len(blob_files(srv.data_dir)) >= 3

        def expired():
            try:
                s3.list_parts(Bucket="exp", Key="k", UploadId=upload)
                return False
            except ClientError as e:
                return error_code_of(e) == "NoSuchUpload"

        assert wait_for(expired, timeout=15), "the session did not expire"
        assert wait_for(lambda: len(blob_files(srv.data_dir)) == 2, timeout=15), blob_files(srv.data_dir)
        assert s3.get_object(Bucket="exp", Key="kept")["Body"].read() == b"kept"
        assert s3.get_object(Bucket="exp", Key="replaced")["Body"].read() == b"two"
    finally:
        srv.stop()


def error_code_of(e):
    return e.response["Error"]["Code"]
