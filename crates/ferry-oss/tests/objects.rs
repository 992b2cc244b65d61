//! OSS object operations: PutObject (with Content-MD5), GetObject (whole and ranged),
//! HeadObject, DeleteObject, CopyObject, and what each leaves stored.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[tokio::test]
async fn put_get_head_delete() {
    let s = server_with_bucket().await;
    let data = b"hello, ferry over OSS".to_vec();
    let (md5, etag) = md5_b64_and_etag(&data);
    let put = call(
        &s,
        "PUT",
        "/bkt/dir/file.txt",
        &[("content-md5", md5.as_str()), ("content-type", "text/plain"), ("x-oss-meta-owner", "me")],
        data.clone(),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.header("etag"), etag);
    assert!(!put.header("x-oss-hash-crc64ecma").is_empty());
    assert_eq!(s.stored("bkt", "dir/file.txt").await.unwrap(), data);

    let got = call(&s, "GET", "/bkt/dir/file.txt", &[], "").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.as_ref(), data.as_slice());
    assert_eq!(got.header("etag"), etag);
    assert_eq!(got.header("content-type"), "text/plain");
    assert_eq!(got.header("x-oss-meta-owner"), "me");
    assert_eq!(got.header("content-length"), data.len().to_string());
    assert!(got.header("last-modified").ends_with(" GMT"));
    assert_eq!(got.header("x-oss-object-type"), "Normal");

    let head = call(&s, "HEAD", "/bkt/dir/file.txt", &[], "").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), data.len().to_string());

    let deleted = call(&s, "DELETE", "/bkt/dir/file.txt", &[], "").await;
    assert_eq!(deleted.status, 204);
    assert!(matches!(s.engine.head_object("bkt", "dir/file.txt").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn ranged_reads() {
    let s = server_with_bucket().await;
    assert_eq!(call(&s, "PUT", "/bkt/digits", &[], "0123456789").await.status, 200);
    let part = call(&s, "GET", "/bkt/digits", &[("range", "bytes=2-5")], "").await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body.as_ref(), b"2345");
    assert_eq!(part.header("content-range"), "bytes 2-5/10");
    let tail = call(&s, "GET", "/bkt/digits", &[("range", "bytes=-3")], "").await;
    assert_eq!((tail.status.as_u16(), tail.body.as_ref()), (206, &b"789"[..]));
    let beyond = call(&s, "GET", "/bkt/digits", &[("range", "bytes=20-30")], "").await;
    assert_eq!(beyond.status, 416);
    assert_eq!(xml(&beyond, &["Error", "Code"]), "InvalidRange");
}

#[tokio::test]
async fn a_wrong_content_md5_stores_nothing() {
    let s = server_with_bucket().await;
    let (other_md5, _) = md5_b64_and_etag(b"something else");
    let refused = call(&s, "PUT", "/bkt/k", &[("content-md5", other_md5.as_str())], "payload").await;
    assert_eq!(refused.status, 400);
    assert_eq!(xml(&refused, &["Error", "Code"]), "InvalidDigest");
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));

    let malformed = call(&s, "PUT", "/bkt/k", &[("content-md5", "not-base64!")], "payload").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(xml(&malformed, &["Error", "Code"]), "InvalidDigest");
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn copy_object_and_forbid_overwrite() {
    let s = server_with_bucket().await;
    assert_eq!(call(&s, "PUT", "/bkt/src", &[], "source bytes").await.status, 200);
    let copied = call(&s, "PUT", "/bkt/dst", &[("x-oss-copy-source", "/bkt/src")], "").await;
    assert_eq!(copied.status, 200, "{}", copied.text());
    assert!(!xml(&copied, &["CopyObjectResult", "ETag"]).is_empty());
    assert_eq!(s.stored("bkt", "dst").await.unwrap(), b"source bytes");

    let kept = call(&s, "PUT", "/bkt/dst", &[("x-oss-forbid-overwrite", "true")], "new bytes").await;
    assert_eq!(kept.status, 409);
    assert_eq!(xml(&kept, &["Error", "Code"]), "FileAlreadyExists");
    assert_eq!(s.stored("bkt", "dst").await.unwrap(), b"source bytes");
}
