//! OSS bucket operations: PutBucket, ListBuckets, GetBucketInfo, HeadBucket, ListObjects,
//! DeleteBucket, against a real engine.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[tokio::test]
async fn create_list_inspect_and_delete_a_bucket() {
    let s = server().await;
    let created = call(&s, "PUT", "/photos", &[], "").await;
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(s.engine.bucket("photos").await.unwrap().name, "photos");

    let listed = call(&s, "GET", "/", &[], "").await;
    assert_eq!(listed.status, 200);
    assert_eq!(xml_all(&listed, &["ListAllMyBucketsResult", "Buckets", "Bucket", "Name"]), ["photos"]);

    let info = call(&s, "GET", "/photos?bucketInfo", &[], "").await;
    assert_eq!(info.status, 200);
    assert_eq!(xml(&info, &["BucketInfo", "Bucket", "Name"]), "photos");

    assert_eq!(call(&s, "HEAD", "/photos", &[], "").await.status, 200);

    let deleted = call(&s, "DELETE", "/photos", &[], "").await;
    assert_eq!(deleted.status, 204);
    assert!(matches!(s.engine.bucket("photos").await, Err(ferry_core::Error::NoSuchBucket)));
    assert_eq!(call(&s, "HEAD", "/photos", &[], "").await.status, 404);
}

#[tokio::test]
async fn a_bucket_that_exists_or_holds_objects_is_refused() {
    let s = server_with_bucket().await;
    let again = call(&s, "PUT", "/bkt", &[], "").await;
    assert_eq!(again.status, 409);
    assert_eq!(xml(&again, &["Error", "Code"]), "BucketAlreadyExists");

    assert_eq!(call(&s, "PUT", "/bkt/kept", &[], "data").await.status, 200);
    let refused = call(&s, "DELETE", "/bkt", &[], "").await;
    assert_eq!(refused.status, 409);
    assert_eq!(xml(&refused, &["Error", "Code"]), "BucketNotEmpty");
    assert_eq!(s.stored("bkt", "kept").await.unwrap(), b"data");
}

#[tokio::test]
async fn list_objects_with_prefix_and_delimiter() {
    let s = server_with_bucket().await;
    for key in ["a/1", "a/2", "b", "c/d/e"] {
        assert_eq!(call(&s, "PUT", &format!("/bkt/{key}"), &[], key.to_string()).await.status, 200);
    }
    let all = call(&s, "GET", "/bkt", &[], "").await;
    assert_eq!(all.status, 200);
    assert_eq!(xml_all(&all, &["ListBucketResult", "Contents", "Key"]), ["a/1", "a/2", "b", "c/d/e"]);
    assert_eq!(xml_all(&all, &["ListBucketResult", "Contents", "Size"]), ["3", "3", "1", "5"]);

    let grouped = call(&s, "GET", "/bkt?delimiter=%2F", &[], "").await;
    assert_eq!(xml_all(&grouped, &["ListBucketResult", "Contents", "Key"]), ["b"]);
    assert_eq!(xml_all(&grouped, &["ListBucketResult", "CommonPrefixes", "Prefix"]), ["a/", "c/"]);

    let prefixed = call(&s, "GET", "/bkt?prefix=a%2F&max-keys=1", &[], "").await;
    assert_eq!(xml_all(&prefixed, &["ListBucketResult", "Contents", "Key"]), ["a/1"]);
    assert_eq!(xml(&prefixed, &["ListBucketResult", "IsTruncated"]), "true");
}

#[tokio::test]
async fn a_missing_bucket_is_no_such_bucket() {
    let s = server().await;
    let listed = call(&s, "GET", "/nothing", &[], "").await;
    assert_eq!(listed.status, 404);
    assert_eq!(xml(&listed, &["Error", "Code"]), "NoSuchBucket");
    let put = call(&s, "PUT", "/nothing/key", &[], "x").await;
    assert_eq!(put.status, 404);
    assert_eq!(xml(&put, &["Error", "Code"]), "NoSuchBucket");
}
