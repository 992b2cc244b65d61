//! US3 file calls: PutFile (with the SDK's hex Content-MD5), GetFile (whole and ranged),
//! HeadFile, DeleteFile, Copy, and what each leaves stored.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[tokio::test]
async fn put_get_head_delete() {
    let s = server().await;
    let data = b"hello, ferry over US3".to_vec();
    let (md5, etag) = md5_hex_and_etag(&data);
    let put = call(
        &s,
        "PUT",
        "/dir/file.txt",
        &[("content-md5", md5.as_str()), ("content-type", "text/plain")],
        data.clone(),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.header("etag"), etag);
    assert!(!put.header("x-sessionid").is_empty());
    assert_eq!(s.stored("bkt", "dir/file.txt").await.unwrap(), data);

    let got = call(&s, "GET", "/dir/file.txt", &[], "").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.as_ref(), data.as_slice());
    assert_eq!(got.header("etag"), etag);
    assert_eq!(got.header("content-type"), "text/plain");
    assert_eq!(got.header("content-length"), data.len().to_string());
    assert_eq!(got.header("accept-ranges"), "bytes");
    assert!(got.header("last-modified").ends_with(" GMT"));

    let head = call(&s, "HEAD", "/dir/file.txt", &[], "").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), data.len().to_string());

    assert_eq!(call(&s, "DELETE", "/dir/file.txt", &[], "").await.status, 204);
    assert!(matches!(s.engine.head_object("bkt", "dir/file.txt").await, Err(ferry_core::Error::NoSuchKey)));
    assert_error(&call(&s, "GET", "/dir/file.txt", &[], "").await, 404, -148654);
}

#[tokio::test]
async fn ranged_reads() {
    let s = server().await;
    assert_eq!(call(&s, "PUT", "/digits", &[], "0123456789").await.status, 200);
    let part = call(&s, "GET", "/digits", &[("range", "bytes=3-6")], "").await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body.as_ref(), b"3456");
    assert_eq!(part.header("content-range"), "bytes 3-6/10");
    assert_error(&call(&s, "GET", "/digits", &[("range", "bytes=50-60")], "").await, 416, -148650);
}

#[tokio::test]
async fn a_wrong_content_md5_stores_nothing() {
    let s = server().await;
    let (other, _) = md5_hex_and_etag(b"other bytes");
    assert_error(&call(&s, "PUT", "/k", &[("content-md5", other.as_str())], "payload").await, 400, -148643);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
    // Base64 is what S3 and OSS send; the UFile SDK sends hex, so base64 is malformed here.
    assert_error(&call(&s, "PUT", "/k", &[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")], "").await, 400, -148643);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn copy_a_file() {
    let s = server().await;
    assert_eq!(call(&s, "PUT", "/src", &[], "source bytes").await.status, 200);
    let copied = call(&s, "PUT", "/dst", &[("x-ufile-copy-source", "/bkt/src")], "").await;
    assert_eq!(copied.status, 200, "{}", copied.text());
    assert_eq!(copied.header("etag"), md5_hex_and_etag(b"source bytes").1);
    assert_eq!(s.stored("bkt", "dst").await.unwrap(), b"source bytes");
    let missing = call(&s, "PUT", "/dst2", &[("x-ufile-copy-source", "/bkt/nothing")], "").await;
    assert_error(&missing, 404, -148654);
}
