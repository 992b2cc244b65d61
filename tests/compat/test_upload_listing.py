"""Listing uploads in progress page by page: several uploads of one key are each listed once,
oldest first, with S3's and OSS's markers (a regression: paging resumed by upload id while the
listing was ordered by age, so uploads of one key were skipped or repeated)."""

import time

import oss2
import pytest

from conftest import ACCESS_KEY, SECRET_KEY


@pytest.fixture
def oss_bucket(server, bucket):
    """An oss2 Bucket on a bucket created through S3."""
    return oss2.Bucket(oss2.Auth(ACCESS_KEY, SECRET_KEY), server.url, bucket)


def uploads_of_one_key(create, n=5):
    ids = []
    for _ in range(n):
        ids.append(create())
        time.sleep(0.005)  # distinct start times, so oldest-first is well defined
    return ids


def test_boto3_pages_every_upload_of_one_key_once_in_age_order(s3, bucket):
    s3.create_multipart_upload(Bucket=bucket, Key="a-before")
    ids = uploads_of_one_key(lambda: s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"])
    s3.create_multipart_upload(Bucket=bucket, Key="z-after")
    seen, markers = [], {}
    for _ in range(20):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **markers)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == [("a-before", seen[0][1])] + [("same", i) for i in ids] + [("z-after", seen[-1][1])]
    # The paginator walks the same markers.
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    assert [u["UploadId"] for p in pages for u in p.get("Uploads", [])] == [i for _, i in seen]
    # A key marker alone skips every upload of that key.
    after_key = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="same")
    assert [u["Key"] for u in after_key["Uploads"]] == ["z-after"]


def test_oss2_pages_every_upload_of_one_key_once_in_age_order(oss_bucket):
    ids = uploads_of_one_key(lambda: oss_bucket.init_multipart_upload("same").upload_id)
    listed = [u.upload_id for u in oss2.MultipartUploadIterator(oss_bucket, max_uploads=1)]
    assert listed == ids
