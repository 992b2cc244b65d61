//! OSS multipart uploads: InitiateMultipartUpload, UploadPart, ListParts, ListMultipartUploads,
//! CompleteMultipartUpload, AbortMultipartUpload.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use ferry_testkit::{Reply, TestServer};

/// OSS's smallest part but the last.
const MIN_PART: usize = 100 * 1024;

async fn initiate(s: &TestServer, key: &str) -> String {
    let r = call(s, "POST", &format!("/bkt/{key}?uploads"), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml(&r, &["InitiateMultipartUploadResult", "Key"]), key);
    let id = xml(&r, &["InitiateMultipartUploadResult", "UploadId"]);
    assert!(!id.is_empty());
    id
}

async fn upload(s: &TestServer, key: &str, id: &str, number: u32, data: Vec<u8>) -> Reply {
    call(s, "PUT", &format!("/bkt/{key}?partNumber={number}&uploadId={id}"), &[], data).await
}

fn complete_body(etags: &[(u32, String)]) -> String {
    let parts: String =
        etags.iter().map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>")).collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
}

#[tokio::test]
async fn upload_list_and_complete() {
    let s = server_with_bucket().await;
    let id = initiate(&s, "big").await;
    let first: Vec<u8> = (0..MIN_PART).map(|i| (i % 251) as u8).collect();
    let second = b"the last part may be small".to_vec();
    let (_, first_etag) = md5_b64_and_etag(&first);
    let up1 = upload(&s, "big", &id, 1, first.clone()).await;
    assert_eq!(up1.status, 200, "{}", up1.text());
    assert_eq!(up1.header("etag"), first_etag);
    let up2 = upload(&s, "big", &id, 2, second.clone()).await;
    assert_eq!(up2.status, 200);

    let parts = call(&s, "GET", &format!("/bkt/big?uploadId={id}"), &[], "").await;
    assert_eq!(parts.status, 200, "{}", parts.text());
    assert_eq!(xml_all(&parts, &["ListPartsResult", "Part", "PartNumber"]), ["1", "2"]);
    assert_eq!(
        xml_all(&parts, &["ListPartsResult", "Part", "Size"]),
        [first.len().to_string(), second.len().to_string()]
    );

    let uploads = call(&s, "GET", "/bkt?uploads", &[], "").await;
    assert_eq!(uploads.status, 200);
    assert_eq!(xml_all(&uploads, &["ListMultipartUploadsResult", "Upload", "UploadId"]), std::slice::from_ref(&id));

    let body = complete_body(&[(1, up1.header("etag").to_string()), (2, up2.header("etag").to_string())]);
    let done = call(&s, "POST", &format!("/bkt/big?uploadId={id}"), &[("content-type", "application/xml")], body).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(xml(&done, &["CompleteMultipartUploadResult", "ETag"]).ends_with("-2\""));
    assert_eq!(s.stored("bkt", "big").await.unwrap(), [first, second].concat());

    let got = call(&s, "HEAD", "/bkt/big", &[], "").await;
    assert_eq!(got.header("x-oss-object-type"), "Multipart");
    let gone = call(&s, "GET", "/bkt?uploads", &[], "").await;
    assert!(xml_all(&gone, &["ListMultipartUploadsResult", "Upload", "UploadId"]).is_empty());
}

#[tokio::test]
async fn a_wrong_etag_publishes_nothing() {
    let s = server_with_bucket().await;
    let id = initiate(&s, "k").await;
    assert_eq!(upload(&s, "k", &id, 1, b"only part".to_vec()).await.status, 200);
    let body = complete_body(&[(1, "\"00000000000000000000000000000000\"".into())]);
    let refused = call(&s, "POST", &format!("/bkt/k?uploadId={id}"), &[], body).await;
    assert_eq!(refused.status, 400);
    assert_eq!(xml(&refused, &["Error", "Code"]), "InvalidPart");
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn a_small_part_before_the_last_is_refused() {
    let s = server_with_bucket().await;
    let id = initiate(&s, "k").await;
    let up1 = upload(&s, "k", &id, 1, b"too small".to_vec()).await;
    let up2 = upload(&s, "k", &id, 2, b"last".to_vec()).await;
    let body = complete_body(&[(1, up1.header("etag").into()), (2, up2.header("etag").into())]);
    let refused = call(&s, "POST", &format!("/bkt/k?uploadId={id}"), &[], body).await;
    assert_eq!(refused.status, 400);
    assert_eq!(xml(&refused, &["Error", "Code"]), "EntityTooSmall");
}

#[tokio::test]
async fn abort_forgets_the_upload() {
    let s = server_with_bucket().await;
    let id = initiate(&s, "k").await;
    assert_eq!(upload(&s, "k", &id, 1, b"bytes".to_vec()).await.status, 200);
    let aborted = call(&s, "DELETE", &format!("/bkt/k?uploadId={id}"), &[], "").await;
    assert_eq!(aborted.status, 204);
    let parts = call(&s, "GET", &format!("/bkt/k?uploadId={id}"), &[], "").await;
    assert_eq!(parts.status, 404);
    assert_eq!(xml(&parts, &["Error", "Code"]), "NoSuchUpload");
    let late = upload(&s, "k", &id, 2, b"late".to_vec()).await;
    assert_eq!(late.status, 404);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn part_numbers_outside_one_to_ten_thousand_are_refused() {
    let s = server_with_bucket().await;
    let id = initiate(&s, "k").await;
    for number in [0, 10_001] {
        let r = upload(&s, "k", &id, number, b"x".to_vec()).await;
        assert_eq!(r.status, 400, "part {number}");
        assert_eq!(xml(&r, &["Error", "Code"]), "InvalidArgument");
    }
}
