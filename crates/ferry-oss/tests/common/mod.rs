//! What every OSS test file shares: the OSS front-end on a test server, and requests signed with
//! OSS V1 (by the crate's own signer, as oss2 signs them).
#![allow(dead_code, clippy::unwrap_used)]

use bytes::Bytes;
use ferry_oss::{OssConfig, OssFrontend};
use ferry_testkit::{ACCESS_KEY, Reply, SECRET_KEY, TestServer};

/// The OSS front-end over a fresh engine.
pub async fn server() -> TestServer {
    TestServer::start(|engine, creds| OssFrontend::new(engine, creds, OssConfig::default())).await
}

/// A server with bucket `bkt` already created through OSS.
pub async fn server_with_bucket() -> TestServer {
    let s = server().await;
    assert_eq!(call(&s, "PUT", "/bkt", &[], "").await.status, 200);
    s
}

/// A request signed with `secret` (path-style; `Date` is now).
pub fn signed(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    secret: &str,
) -> http::Request<Bytes> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("date", ferry_http::dates::http_date(ferry_core::now_millis()));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (mut parts, body) = builder.body(body.into()).unwrap().into_parts();
    let authorization = ferry_oss::sign_v1(&parts, None, ACCESS_KEY, secret).unwrap();
    parts.headers.insert("authorization", authorization.parse().unwrap());
    http::Request::from_parts(parts, body)
}

/// Send a request signed with the server's key.
pub async fn call(s: &TestServer, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    s.send(signed(method, path, headers, body, SECRET_KEY)).await
}

/// The text of the first element at `path` of an XML reply ("" when absent).
pub fn xml(reply: &Reply, path: &[&str]) -> String {
    ferry_http::xml::element_text(&reply.body, path).unwrap().unwrap_or_default()
}

/// Every text at `path` of an XML reply.
pub fn xml_all(reply: &Reply, path: &[&str]) -> Vec<String> {
    ferry_http::xml::element_texts(&reply.body, path).unwrap()
}

/// Content-MD5 as OSS wants it (base64), and the ETag OSS answers (quoted upper-case hex).
pub fn md5_b64_and_etag(data: &[u8]) -> (String, String) {
    use md5::Digest as _;
    let digest = md5::Md5::digest(data);
    (ferry_core::checksum::to_base64(&digest), format!("\"{}\"", hex::encode_upper(digest)))
}
