//! OSS errors in OSS's own format: the XML error document (and `x-oss-err` for HEAD), for
//! missing keys, bad signatures, unknown keys, skewed clocks and unsupported operations.
#![allow(clippy::unwrap_used)]

mod common;
use base64::Engine as _;
use common::*;
use ferry_testkit::ACCESS_KEY;

#[tokio::test]
async fn no_such_key_is_an_oss_error_document() {
    let s = server_with_bucket().await;
    let r = call(&s, "GET", "/bkt/missing", &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), "application/xml");
    assert_eq!(xml(&r, &["Error", "Code"]), "NoSuchKey");
    assert_eq!(xml(&r, &["Error", "RequestId"]), r.header("x-oss-request-id"));
    assert!(!r.header("x-oss-request-id").is_empty());
}

#[tokio::test]
async fn a_head_error_carries_its_document_in_a_header() {
    let s = server_with_bucket().await;
    let r = call(&s, "HEAD", "/bkt/missing", &[], "").await;
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
    let document = base64::engine::general_purpose::STANDARD.decode(r.header("x-oss-err")).unwrap();
    assert_eq!(ferry_http::xml::element_text(&document, &["Error", "Code"]).unwrap().unwrap(), "NoSuchKey");
}

#[tokio::test]
async fn a_bad_signature_writes_nothing() {
    let s = server_with_bucket().await;
    let r = s.send(signed("PUT", "/bkt/k", &[], "data", "not-the-secret")).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml(&r, &["Error", "Code"]), "SignatureDoesNotMatch");
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn a_request_signed_after_its_headers_changed_is_refused() {
    let s = server_with_bucket().await;
    let mut request = signed("PUT", "/bkt/k", &[("x-oss-meta-a", "1")], "data", ferry_testkit::SECRET_KEY);
    request.headers_mut().insert("x-oss-meta-a", "2".parse().unwrap());
    let r = s.send(request).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml(&r, &["Error", "Code"]), "SignatureDoesNotMatch");
}

#[tokio::test]
async fn an_unknown_access_key_and_an_unsigned_request() {
    let s = server_with_bucket().await;
    let mut request = signed("GET", "/bkt", &[], "", ferry_testkit::SECRET_KEY);
    let forged = request.headers()["authorization"].to_str().unwrap().replace(ACCESS_KEY, "NOSUCHKEY");
    request.headers_mut().insert("authorization", forged.parse().unwrap());
    let r = s.send(request).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml(&r, &["Error", "Code"]), "InvalidAccessKeyId");

    // OSS's presigned-URL form with a wrong signature is still answered by OSS.
    let expires = ferry_core::now_millis() / 1000 + 600;
    let url = format!("/bkt/k?OSSAccessKeyId={ACCESS_KEY}&Expires={expires}&Signature=AAAA");
    let r = s.send(http::Request::get(url).body(bytes::Bytes::new()).unwrap()).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml(&r, &["Error", "Code"]), "SignatureDoesNotMatch");
}

#[tokio::test]
async fn a_skewed_date_is_refused() {
    let s = server_with_bucket().await;
    let hour_ago = ferry_http::dates::http_date(ferry_core::now_millis() - 3_600_000);
    let mut builder = http::Request::put("/bkt/k").header("host", "127.0.0.1").header("date", &hour_ago);
    builder = builder.header("content-type", "text/plain");
    let (mut parts, body) = builder.body(bytes::Bytes::from_static(b"x")).unwrap().into_parts();
    let auth = ferry_oss::sign_v1(&parts, None, ACCESS_KEY, ferry_testkit::SECRET_KEY).unwrap();
    parts.headers.insert("authorization", auth.parse().unwrap());
    let r = s.send(http::Request::from_parts(parts, body)).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml(&r, &["Error", "Code"]), "RequestTimeTooSkewed");
}

#[tokio::test]
async fn an_unimplemented_sub_resource_is_not_implemented() {
    let s = server_with_bucket().await;
    let r = call(&s, "PUT", "/bkt?cors", &[], "<CORSConfiguration/>").await;
    assert_eq!(r.status, 501);
    assert_eq!(xml(&r, &["Error", "Code"]), "NotImplemented");
    // Lifecycle is implemented: an empty configuration is a malformed one.
    let r = call(&s, "PUT", "/bkt?lifecycle", &[], "<LifecycleConfiguration/>").await;
    assert_eq!(r.status, 400);
    assert_eq!(xml(&r, &["Error", "Code"]), "MalformedXML");
    let r = call(&s, "PUT", "/bkt/k?tagging", &[], "<Tagging/>").await;
    assert_eq!(r.status, 501);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}
