//! The tus front-end against a real listener and engine.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use bytes::Bytes;
use ferry_core::ObjectMeta;
use ferry_testkit::{Reply, TestServer};
use ferry_tus::{TusConfig, TusFrontend};
use http::{Method, Request, StatusCode};
use sha1::Digest;

const BUCKET: &str = "uploads";

async fn server() -> TestServer {
    let server = TestServer::start(|engine, creds| {
        TusFrontend::new(engine, creds, TusConfig { anonymous_bucket: Some(BUCKET.into()), ..TusConfig::default() })
    })
    .await;
    server.engine.create_bucket(BUCKET).await.unwrap();
    server.engine.create_bucket("private").await.unwrap();
    server
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn request(method: Method, path: &str) -> http::request::Builder {
    Request::builder().method(method).uri(path).header("tus-resumable", "1.0.0")
}

async fn create(server: &TestServer, bucket: &str, key: &str, length: u64) -> Reply {
    let metadata = format!("bucket {},filename {},filetype {}", b64(bucket), b64(key), b64("text/plain"));
    let req = request(Method::POST, "/files/")
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata)
        .body(Bytes::new())
        .unwrap();
    server.send(req).await
}

async fn patch(server: &TestServer, location: &str, offset: u64, data: &[u8], checksum: Option<String>) -> Reply {
    let mut req = request(Method::PATCH, location)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream");
    if let Some(c) = checksum {
        req = req.header("upload-checksum", c);
    }
    server.send(req.body(Bytes::copy_from_slice(data)).unwrap()).await
}

async fn head(server: &TestServer, location: &str) -> Reply {
    server.send(request(Method::HEAD, location).body(Bytes::new()).unwrap()).await
}

#[tokio::test]
async fn discovery_names_version_extensions_and_checksums() {
    let server = server().await;
    let reply =
        server.send(Request::builder().method(Method::OPTIONS).uri("/files/").body(Bytes::new()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("tus-version"), "1.0.0");
    assert_eq!(reply.header("tus-resumable"), "1.0.0");
    assert!(reply.header("tus-extension").split(',').any(|e| e == "termination"));
    assert_eq!(reply.header("tus-checksum-algorithm"), "md5,sha1,crc32");
    assert!(reply.header("tus-max-size").parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn chunks_resume_at_the_offset_and_publish_the_object() {
    let server = server().await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let created = create(&server, BUCKET, "dir/file.txt", data.len() as u64).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let location = created.header("location").to_string();
    assert!(location.starts_with("/files/uploads/"), "{location}");
    assert!(!created.header("upload-expires").is_empty());

    let first = patch(&server, &location, 0, &data[..100_000], None).await;
    assert_eq!(first.status, StatusCode::NO_CONTENT, "{}", first.text());
    assert_eq!(first.header("upload-offset"), "100000");
    // A client that lost the answer retries at its old offset: refused, nothing rewritten.
    let stale = patch(&server, &location, 0, &data[..100_000], None).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let probe = head(&server, &location).await;
    assert_eq!(probe.status, StatusCode::OK);
    assert_eq!(probe.header("upload-offset"), "100000");
    assert_eq!(probe.header("upload-length"), "300000");
    assert_eq!(probe.header("cache-control"), "no-store");
    assert!(server.stored(BUCKET, "dir/file.txt").await.is_err(), "not visible before the last byte");

    let rest = patch(&server, &location, 100_000, &data[100_000..], None).await;
    assert_eq!(rest.status, StatusCode::NO_CONTENT, "{}", rest.text());
    assert_eq!(rest.header("upload-offset"), "300000");
    assert_eq!(server.stored(BUCKET, "dir/file.txt").await.unwrap(), data);
    let object = server.engine.head_object(BUCKET, "dir/file.txt").await.unwrap();
    assert_eq!(object.meta, ObjectMeta { content_type: Some("text/plain".into()), ..ObjectMeta::default() });
    // Done: HEAD reports the whole length.
    assert_eq!(head(&server, &location).await.header("upload-offset"), "300000");
}

#[tokio::test]
async fn checksum_mismatch_is_460_and_keeps_nothing() {
    let server = server().await;
    let created = create(&server, BUCKET, "c.bin", 10).await;
    let location = created.header("location").to_string();
    let wrong = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"something else"));
    let reply = patch(&server, &location, 0, b"0123456789", Some(format!("sha1 {wrong}"))).await;
    assert_eq!(reply.status.as_u16(), 460, "{}", reply.text());
    assert_eq!(head(&server, &location).await.header("upload-offset"), "0");
    let right = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b"01234"));
    let reply = patch(&server, &location, 0, b"01234", Some(format!("md5 {right}"))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(reply.header("upload-offset"), "5");
    let bad = patch(&server, &location, 5, b"56789", Some("sha256 AAAA".into())).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn termination_aborts_the_session() {
    let server = server().await;
    let location = create(&server, BUCKET, "t.bin", 10).await.header("location").to_string();
    assert_eq!(patch(&server, &location, 0, b"01234", None).await.status, StatusCode::NO_CONTENT);
    let gone = server.send(request(Method::DELETE, &location).body(Bytes::new()).unwrap()).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(head(&server, &location).await.status, StatusCode::NOT_FOUND);
    assert_eq!(patch(&server, &location, 5, b"56789", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn creation_with_upload_and_empty_uploads_publish() {
    let server = server().await;
    let metadata = format!("bucket {},key {}", b64(BUCKET), b64("whole.txt"));
    let req = request(Method::POST, "/files/")
        .header("upload-length", "5")
        .header("upload-metadata", metadata)
        .header("content-type", "application/offset+octet-stream")
        .body(Bytes::from_static(b"hello"))
        .unwrap();
    let reply = server.send(req).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.header("upload-offset"), "5");
    assert_eq!(server.stored(BUCKET, "whole.txt").await.unwrap(), b"hello");
    assert_eq!(create(&server, BUCKET, "empty.txt", 0).await.status, StatusCode::CREATED);
    assert_eq!(server.stored(BUCKET, "empty.txt").await.unwrap(), b"");
}

#[tokio::test]
async fn refusals_are_tus_shaped() {
    let server = server().await;
    // No Tus-Resumable: 412 naming the version.
    let req =
        Request::builder().method(Method::POST).uri("/files/").header("upload-length", "1").body(Bytes::new()).unwrap();
    let reply = server.send(req).await;
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(reply.header("tus-version"), "1.0.0");
    // Unsigned, outside the anonymous bucket: 401.
    assert_eq!(create(&server, "private", "x", 1).await.status, StatusCode::UNAUTHORIZED);
    // A signature that does not verify: 401, nothing created.
    let req = request(Method::POST, "/files/")
        .header("upload-length", "1")
        .header("upload-metadata", format!("bucket {},key {}", b64("private"), b64("x")))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=nobody/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        )
        .header("x-amz-date", "20260101T000000Z")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(server.send(req).await.status, StatusCode::UNAUTHORIZED);
    // Unknown paths and methods never fall through.
    assert_eq!(head(&server, "/files/uploads/nosuch").await.status, StatusCode::NOT_FOUND);
    assert_eq!(head(&server, "/files/uploads/abc.5").await.status, StatusCode::NOT_FOUND);
    let get = server.send(request(Method::GET, "/files/").body(Bytes::new()).unwrap()).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.header("allow"), "OPTIONS, POST");
    // Metadata without a bucket, deferred length, a body past the length.
    let req = request(Method::POST, "/files/")
        .header("upload-length", "1")
        .header("upload-metadata", format!("key {}", b64("k")))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(server.send(req).await.status, StatusCode::BAD_REQUEST);
    let req = request(Method::POST, "/files/").header("upload-defer-length", "1").body(Bytes::new()).unwrap();
    assert_eq!(server.send(req).await.status, StatusCode::BAD_REQUEST);
    let location = create(&server, BUCKET, "small", 3).await.header("location").to_string();
    assert_eq!(patch(&server, &location, 0, b"four", None).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let wrong_type = server
        .send(request(Method::PATCH, &location).header("upload-offset", "0").body(Bytes::from_static(b"abc")).unwrap())
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(head(&server, &location).await.header("upload-offset"), "0");
}
