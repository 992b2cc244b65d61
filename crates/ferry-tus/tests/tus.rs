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
    let req = request(Method::POST, "/files/")
        .header("upload-defer-length", "1")
        .header("upload-length", "1")
        .header("upload-metadata", format!("bucket {},key {}", b64(BUCKET), b64("k")))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(server.send(req).await.status, StatusCode::BAD_REQUEST, "both lengths");
    let location = create(&server, BUCKET, "small", 3).await.header("location").to_string();
    assert_eq!(patch(&server, &location, 0, b"four", None).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let wrong_type = server
        .send(request(Method::PATCH, &location).header("upload-offset", "0").body(Bytes::from_static(b"abc")).unwrap())
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(head(&server, &location).await.header("upload-offset"), "0");
    // A query parameter neither protocol defines is refused, not ignored, and stores nothing.
    let unknown = patch(&server, &format!("{location}?partNumber=1"), 0, b"abc", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_IMPLEMENTED);
    assert!(unknown.text().contains("partNumber"), "{}", unknown.text());
    assert_eq!(head(&server, &location).await.header("upload-offset"), "0");
}

async fn create_deferred(server: &TestServer, key: &str, concat: Option<&str>) -> Reply {
    let mut req =
        request(Method::POST, "/files/").header("upload-metadata", format!("bucket {},key {}", b64(BUCKET), b64(key)));
    req = match concat {
        Some(c) => req.header("upload-concat", c),
        None => req.header("upload-defer-length", "1"),
    };
    server.send(req.body(Bytes::new()).unwrap()).await
}

async fn patch_with(server: &TestServer, location: &str, offset: u64, data: &[u8], length: Option<u64>) -> Reply {
    let mut req = request(Method::PATCH, location)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream");
    if let Some(length) = length {
        req = req.header("upload-length", length.to_string());
    }
    server.send(req.body(Bytes::copy_from_slice(data)).unwrap()).await
}

#[tokio::test]
async fn a_deferred_length_is_declared_once_by_a_later_patch() {
    let server = server().await;
    let created = create_deferred(&server, "deferred.bin", None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let location = created.header("location").to_string();
    assert!(!location.contains('.'), "the length is not in the URL: {location}");
    assert_eq!(patch_with(&server, &location, 0, b"hello ", None).await.status, StatusCode::NO_CONTENT);
    let probe = head(&server, &location).await;
    assert_eq!(probe.header("upload-defer-length"), "1");
    assert_eq!(probe.header("upload-offset"), "6");
    assert!(probe.headers.get("upload-length").is_none());
    // The last PATCH names the length; the object is published with it.
    let done = patch_with(&server, &location, 6, b"world", Some(11)).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text());
    assert_eq!(server.stored(BUCKET, "deferred.bin").await.unwrap(), b"hello world");
    assert_eq!(head(&server, &location).await.header("upload-length"), "11");

    // Once declared, a length cannot change, and bytes past it are refused (nothing kept).
    let location = create_deferred(&server, "fixed.bin", None).await.header("location").to_string();
    assert_eq!(patch_with(&server, &location, 0, b"abc", Some(8)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(patch_with(&server, &location, 3, b"d", Some(9)).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(patch_with(&server, &location, 3, b"defghijk", None).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let probe = head(&server, &location).await;
    assert_eq!((probe.header("upload-offset"), probe.header("upload-length")), ("3", "8"));
    assert_eq!(patch_with(&server, &location, 3, b"defgh", None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(server.stored(BUCKET, "fixed.bin").await.unwrap(), b"abcdefgh");
}

#[tokio::test]
async fn upload_urls_with_the_length_in_them_keep_working() {
    // Uploads created before the length was kept with the session: `<id>.<length>`.
    let server = server().await;
    let created = create(&server, BUCKET, "old.bin", 6).await;
    let location = format!("{}.6", created.header("location"));
    let session = location.rsplit('/').next().unwrap().split('.').next().unwrap().to_string();
    assert_eq!(patch(&server, &location, 0, b"abc", None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(head(&server, &location).await.header("upload-length"), "6");
    assert_eq!(patch(&server, &location, 3, b"defg", None).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(patch(&server, &location, 3, b"def", None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(server.stored(BUCKET, "old.bin").await.unwrap(), b"abcdef");
    assert!(!session.is_empty());
}

/// A body that yields `data` only once `gate` is passed by both racers: each append has read
/// the offset before either stores its part.
fn gated(gate: std::sync::Arc<tokio::sync::Barrier>, data: &'static [u8]) -> ferry_core::PartInput {
    let body = futures_util::stream::once(async move {
        gate.wait().await;
        Ok::<Bytes, std::io::Error>(Bytes::from_static(data))
    });
    ferry_core::PartInput {
        body: Box::pin(body),
        expected_size: None,
        max_size: 1 << 20,
        expected: Vec::new(),
        trailer: None,
        wanted: Default::default(),
    }
}

#[tokio::test]
async fn two_appends_racing_for_one_offset_on_two_nodes_store_one() {
    let server = server().await;
    // A second node: its own engine over the same metadata database and blob directory.
    let dir = server.data_dir();
    let other = ferry_core::Engine::new(
        std::sync::Arc::new(ferry_meta::SqliteMetaStore::open(dir.join("meta.db")).unwrap()),
        std::sync::Arc::new(ferry_blob::LocalBlobStore::open(dir).unwrap()),
        ferry_core::EngineConfig::default(),
    );
    let target = ferry_core::ObjectTarget { bucket: BUCKET.into(), key: "race.bin".into() };
    let session = server.engine.create_session(target, ObjectMeta::default(), None).await.unwrap();
    server.engine.declare_upload_length(&session, 8).await.unwrap();
    let seen_by_other = other.open_bucket_session(&session.id, BUCKET).await.unwrap();
    for round in 0..3u64 {
        let gate = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let at = round * 2;
        let (a, b) = tokio::join!(
            server.engine.append_at(&session, at, gated(gate.clone(), b"AA")),
            other.append_at(&seen_by_other, at, gated(gate, b"BB")),
        );
        let conflicts = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Err(ferry_core::AppendError::Conflict { offset, claimed }) if *offset == at + 2 && *claimed == at))
            .count();
        assert_eq!(conflicts, 1, "round {round}: exactly one append is refused: {a:?} {b:?}");
        assert!(a.is_ok() || b.is_ok());
        let progress = server.engine.upload_progress(&session).await.unwrap();
        assert_eq!((progress.offset, progress.appends as u64), (at + 2, round + 1), "one part per offset");
    }
    assert!(
        server
            .engine
            .append_at(&session, 6, gated(std::sync::Arc::new(tokio::sync::Barrier::new(1)), b"CCC"))
            .await
            .is_err(),
        "past the length"
    );
    let last = server
        .engine
        .append_at(&session, 6, gated(std::sync::Arc::new(tokio::sync::Barrier::new(1)), b"CC"))
        .await
        .unwrap();
    assert!(last.complete());
    server.engine.finish_upload(&session).await.unwrap();
    let stored = server.stored(BUCKET, "race.bin").await.unwrap();
    assert_eq!(stored.len(), 8);
    assert!(stored.chunks(2).take(3).all(|c| c == b"AA" || c == b"BB"), "{stored:?}");
}

#[tokio::test]
async fn concatenation_publishes_partials_by_metadata_only() {
    let server = server().await;
    let mut partials = Vec::new();
    for (i, part) in [&b"first-"[..], b"second-", b"third"].iter().enumerate() {
        let req = request(Method::POST, "/files/")
            .header("upload-concat", "partial")
            .header("upload-length", part.len().to_string())
            .body(Bytes::new())
            .unwrap();
        let created = server.send(req).await;
        assert_eq!(created.status, StatusCode::CREATED, "partial {i}: {}", created.text());
        let location = created.header("location").to_string();
        assert_eq!(head(&server, &location).await.header("upload-concat"), "partial");
        partials.push((location, part.to_vec()));
    }
    // In parallel, out of order.
    for (location, data) in partials.iter().rev() {
        assert_eq!(patch(&server, location, 0, data, None).await.status, StatusCode::NO_CONTENT);
    }
    assert!(server.stored(BUCKET, "tus-partial-upload").await.is_err(), "a complete partial publishes nothing");
    let urls: Vec<String> = partials.iter().map(|(l, _)| server.url(l)).collect();
    let final_req = |urls: &[String], key: &str| {
        request(Method::POST, "/files/")
            .header("upload-concat", format!("final;{}", urls.join(" ")))
            .header("upload-metadata", format!("bucket {},key {}", b64(BUCKET), b64(key)))
            .body(Bytes::new())
            .unwrap()
    };
    let created = server.send(final_req(&urls, "joined.txt")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(server.stored(BUCKET, "joined.txt").await.unwrap(), b"first-second-third");
    let object = server.engine.head_object(BUCKET, "joined.txt").await.unwrap();
    assert_eq!(object.manifest.len(), 3, "the partials' parts, not a copy");
    let location = created.header("location").to_string();
    let probe = head(&server, &location).await;
    assert_eq!((probe.header("upload-offset"), probe.header("upload-length")), ("18", "18"));
    assert!(probe.header("upload-concat").starts_with("final;/files/uploads/"), "{}", probe.header("upload-concat"));
    assert_eq!(patch(&server, &location, 18, b"x", None).await.status, StatusCode::FORBIDDEN);
    // The partials are used up: a second final naming them publishes nothing.
    assert_ne!(server.send(final_req(&urls, "again.txt")).await.status, StatusCode::CREATED);
    assert!(server.stored(BUCKET, "again.txt").await.is_err());

    // An incomplete partial is refused, and so is one from another bucket.
    let req = request(Method::POST, "/files/")
        .header("upload-concat", "partial")
        .header("upload-length", "4")
        .body(Bytes::new())
        .unwrap();
    let open = server.send(req).await.header("location").to_string();
    assert_eq!(patch(&server, &open, 0, b"ab", None).await.status, StatusCode::NO_CONTENT);
    let refused = server.send(final_req(&[server.url(&open)], "incomplete.txt")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    let foreign = open.replace("/uploads/", "/private/");
    assert_eq!(server.send(final_req(&[foreign], "foreign.txt")).await.status, StatusCode::FORBIDDEN);
    assert!(server.stored(BUCKET, "incomplete.txt").await.is_err());
}

fn ietf(method: Method, path: &str) -> http::request::Builder {
    Request::builder().method(method).uri(path).header("upload-draft-interop-version", "6")
}

#[tokio::test]
async fn ietf_draft_creation_append_offset_and_problems() {
    let server = server().await;
    let req = ietf(Method::POST, "/files/")
        .header("upload-complete", "?0")
        .header("upload-metadata", format!("bucket {},key {}", b64(BUCKET), b64("ietf.bin")))
        .body(Bytes::from_static(b"0123"))
        .unwrap();
    let created = server.send(req).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.header("upload-offset"), "4");
    assert_eq!(created.header("upload-complete"), "?0");
    assert!(created.headers.get("tus-resumable").is_none(), "not a tus answer");
    let location = created.header("location").to_string();
    let offset = server.send(ietf(Method::HEAD, &location).body(Bytes::new()).unwrap()).await;
    assert_eq!(offset.status, StatusCode::NO_CONTENT);
    assert_eq!((offset.header("upload-offset"), offset.header("upload-complete")), ("4", "?0"));
    assert_eq!(offset.header("cache-control"), "no-store");

    let append = |at: u64, data: &'static [u8], complete: &str| {
        ietf(Method::PATCH, &location)
            .header("upload-offset", at.to_string())
            .header("upload-complete", complete)
            .header("content-type", "application/partial-upload")
            .body(Bytes::from_static(data))
            .unwrap()
    };
    let stale = server.send(append(0, b"xxxx", "?0")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.header("content-type"), "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(&stale.body).unwrap();
    assert_eq!(problem["type"], "https://iana.org/assignments/http-problem-types#mismatching-upload-offset");
    assert_eq!((problem["expected-offset"].as_u64(), problem["provided-offset"].as_u64()), (Some(4), Some(0)));
    let wrong_type = ietf(Method::PATCH, &location)
        .header("upload-offset", "4")
        .header("upload-complete", "?1")
        .body(Bytes::from_static(b"4567"))
        .unwrap();
    assert_eq!(server.send(wrong_type).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let done = server.send(append(4, b"4567", "?1")).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text());
    assert_eq!((done.header("upload-offset"), done.header("upload-complete")), ("8", "?1"));
    assert_eq!(server.stored(BUCKET, "ietf.bin").await.unwrap(), b"01234567");
    let offset = server.send(ietf(Method::HEAD, &location).body(Bytes::new()).unwrap()).await;
    assert_eq!((offset.header("upload-offset"), offset.header("upload-complete")), ("8", "?1"));
    let late = server.send(append(8, b"89", "?1")).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    let problem: serde_json::Value = serde_json::from_slice(&late.body).unwrap();
    assert_eq!(problem["type"], "https://iana.org/assignments/http-problem-types#completed-upload");

    // Cancellation, and an interop version ferry does not speak.
    let req = ietf(Method::POST, "/files/")
        .header("upload-complete", "?0")
        .header("upload-metadata", format!("bucket {},key {}", b64(BUCKET), b64("gone.bin")))
        .body(Bytes::new())
        .unwrap();
    let gone = server.send(req).await.header("location").to_string();
    assert_eq!(
        server.send(ietf(Method::DELETE, &gone).body(Bytes::new()).unwrap()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.send(ietf(Method::HEAD, &gone).body(Bytes::new()).unwrap()).await.status, StatusCode::NOT_FOUND);
    let old = Request::builder()
        .method(Method::POST)
        .uri("/files/")
        .header("upload-draft-interop-version", "2")
        .body(Bytes::new())
        .unwrap();
    let old = server.send(old).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    assert_eq!(old.header("content-type"), "application/problem+json");
}

#[tokio::test]
async fn uploads_of_other_protocols_are_not_tus_uploads() {
    let server = server().await;
    let target = ferry_core::ObjectTarget { bucket: BUCKET.into(), key: "s3-upload".into() };
    let s3 = server.engine.create_session_from("s3", target, ObjectMeta::default(), None).await.unwrap();
    let location = format!("/files/{BUCKET}/{}", s3.id);
    assert_eq!(head(&server, &location).await.status, StatusCode::NOT_FOUND);
    assert_eq!(patch(&server, &format!("{location}.3"), 0, b"abc", None).await.status, StatusCode::NOT_FOUND);
    assert!(server.engine.list_parts(&s3, None, 10).await.unwrap().parts.is_empty(), "nothing was appended");
}
