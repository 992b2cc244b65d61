//! What every US3 test file shares: the US3 front-end on a test server (buckets addressed as
//! `<bucket>.us3.test`), and requests signed with the UCloud scheme by the crate's own signer,
//! as the UFile SDK signs them.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::Bytes;
use ferry_testkit::{ACCESS_KEY, Reply, SECRET_KEY, TestServer};
use ferry_us3::{Us3Config, Us3Frontend};

/// The domain under which `<bucket>.us3.test` names a bucket.
pub const DOMAIN: &str = "us3.test";
/// The block size the tests' server tells clients to use (small, so parts stay small).
pub const BLOCK: usize = 1024;

/// The US3 front-end over a fresh engine, with bucket `bkt` created.
pub async fn server() -> TestServer {
    let config = Us3Config { domain: Some(DOMAIN.into()), block_size: BLOCK as u64, ..Us3Config::default() };
    let s = TestServer::start(|engine, creds| Us3Frontend::new(engine, creds, config)).await;
    s.engine.create_bucket("bkt").await.unwrap();
    s
}

/// A request for `bucket`'s `/key?query` (`path`), signed with `secret`; `Date` is now.
pub fn signed(
    bucket: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    secret: &str,
) -> http::Request<Bytes> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("{bucket}.{DOMAIN}"))
        .header("date", ferry_http::dates::http_date(ferry_core::now_millis()));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (mut parts, body) = builder.body(body.into()).unwrap().into_parts();
    let raw_key = parts.uri.path().trim_start_matches('/');
    let key = percent_encoding::percent_decode_str(raw_key).decode_utf8_lossy().into_owned();
    let authorization = ferry_us3::sign(&parts, bucket, &key, ACCESS_KEY, secret).unwrap();
    parts.headers.insert("authorization", authorization.parse().unwrap());
    http::Request::from_parts(parts, body)
}

/// Send a request for bucket `bkt`, signed with the server's key.
pub async fn call(s: &TestServer, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    s.send(signed("bkt", method, path, headers, body, SECRET_KEY)).await
}

/// The reply's JSON body.
pub fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}

/// Content-MD5 as the UFile SDK sends it (hex), and the ETag US3 answers (quoted hex).
pub fn md5_hex_and_etag(data: &[u8]) -> (String, String) {
    use md5::Digest as _;
    let hex = hex::encode(md5::Md5::digest(data));
    let etag = format!("\"{hex}\"");
    (hex, etag)
}

/// Asserts `reply` is US3's JSON error with this status and RetCode.
pub fn assert_error(reply: &Reply, status: u16, ret_code: i64) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/json");
    let body = json(reply);
    assert_eq!(body["RetCode"], ret_code, "{body}");
    assert!(body["ErrMsg"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}
