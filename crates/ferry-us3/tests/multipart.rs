//! US3 multipart uploads: InitiateMultipartUpload (the server picks the block size),
//! UploadPart (numbered from 0), ListParts (`?muploadpart`), GetMultiUploadId (`?muploadid`),
//! FinishMultipartUpload and AbortMultipartUpload.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use ferry_testkit::{Reply, TestServer};

async fn initiate(s: &TestServer, key: &str) -> String {
    let r = call(s, "POST", &format!("/{key}?uploads"), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = json(&r);
    assert_eq!(body["BlkSize"], BLOCK);
    assert_eq!(body["Key"], key);
    body["UploadId"].as_str().unwrap().to_string()
}

async fn upload(s: &TestServer, key: &str, id: &str, number: u32, data: Vec<u8>) -> Reply {
    call(s, "PUT", &format!("/{key}?uploadId={id}&partNumber={number}"), &[], data).await
}

#[tokio::test]
async fn upload_list_and_finish() {
    let s = server().await;
    let id = initiate(&s, "big").await;
    let first: Vec<u8> = (0..BLOCK).map(|i| (i % 251) as u8).collect();
    let second = b"the last block may be short".to_vec();
    let up0 = upload(&s, "big", &id, 0, first.clone()).await;
    assert_eq!(up0.status, 200, "{}", up0.text());
    assert_eq!(json(&up0)["PartNumber"], 0);
    assert_eq!(up0.header("etag"), md5_hex_and_etag(&first).1);
    let up1 = upload(&s, "big", &id, 1, second.clone()).await;
    assert_eq!(up1.status, 200);

    let parts = call(&s, "GET", &format!("/?muploadpart&uploadId={id}"), &[], "").await;
    assert_eq!(parts.status, 200, "{}", parts.text());
    let body = json(&parts);
    let numbers: Vec<i64> = body["Parts"].as_array().unwrap().iter().map(|p| p["PartNum"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [0, 1]);
    assert_eq!(body["Parts"][1]["Size"], second.len());

    let uploads = call(&s, "GET", "/?muploadid&prefix=", &[], "").await;
    assert_eq!(uploads.status, 200, "{}", uploads.text());
    let body = json(&uploads);
    assert_eq!(body["DataSet"][0]["UploadId"], id.as_str());
    assert_eq!(body["DataSet"][0]["FileName"], "big");

    let etags = format!("{},{}", up0.header("etag"), up1.header("etag"));
    let done = call(&s, "POST", &format!("/big?uploadId={id}"), &[("content-type", "text/plain")], etags).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(json(&done)["FileSize"], first.len() + second.len());
    assert_eq!(s.stored("bkt", "big").await.unwrap(), [first, second].concat());
    let left = json(&call(&s, "GET", "/?muploadid&prefix=", &[], "").await);
    assert!(left["DataSet"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_part_larger_than_the_block_is_refused() {
    let s = server().await;
    let id = initiate(&s, "k").await;
    assert_error(&upload(&s, "k", &id, 0, vec![7; BLOCK + 1]).await, 400, -148643);
    let parts = json(&call(&s, "GET", &format!("/?muploadpart&uploadId={id}"), &[], "").await);
    assert!(parts["Parts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_finish_naming_an_unknown_etag_publishes_nothing() {
    let s = server().await;
    let id = initiate(&s, "k").await;
    assert_eq!(upload(&s, "k", &id, 0, b"only block".to_vec()).await.status, 200);
    let refused = call(&s, "POST", &format!("/k?uploadId={id}"), &[], "\"0123456789abcdef0123456789abcdef\"").await;
    assert_error(&refused, 400, -148643);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn abort_forgets_the_upload() {
    let s = server().await;
    let id = initiate(&s, "k").await;
    assert_eq!(upload(&s, "k", &id, 0, b"bytes".to_vec()).await.status, 200);
    assert_eq!(call(&s, "DELETE", &format!("/k?uploadId={id}"), &[], "").await.status, 204);
    assert_error(&call(&s, "GET", &format!("/?muploadpart&uploadId={id}"), &[], "").await, 404, -148654);
    assert_error(&upload(&s, "k", &id, 1, b"late".to_vec()).await, 404, -148654);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn part_numbers_count_from_zero_below_ten_thousand() {
    let s = server().await;
    let id = initiate(&s, "k").await;
    assert_error(&upload(&s, "k", &id, 10_000, b"x".to_vec()).await, 400, -148643);
}
