//! US3 errors in US3's own format (JSON `RetCode`/`ErrMsg`, `Content-Type: application/json`):
//! missing files, bad signatures, unknown keys, unaddressed buckets, unsupported operations.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use ferry_testkit::{ACCESS_KEY, SECRET_KEY};

#[tokio::test]
async fn a_missing_file_is_a_us3_error() {
    let s = server().await;
    assert_error(&call(&s, "GET", "/missing", &[], "").await, 404, -148654);
    let head = call(&s, "HEAD", "/missing", &[], "").await;
    assert_eq!(head.status, 404);
}

#[tokio::test]
async fn a_bad_signature_writes_nothing() {
    let s = server().await;
    let r = s.send(signed("bkt", "PUT", "/k", &[], "data", "not-the-secret")).await;
    assert_error(&r, 403, -148651);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}

#[tokio::test]
async fn a_request_changed_after_signing_is_refused() {
    let s = server().await;
    let mut request = signed("bkt", "PUT", "/k", &[("content-type", "text/plain")], "data", SECRET_KEY);
    request.headers_mut().insert("content-type", "text/html".parse().unwrap());
    assert_error(&s.send(request).await, 403, -148651);

    let mut request = signed("bkt", "GET", "/k", &[], "", SECRET_KEY);
    let forged = request.headers()["authorization"].to_str().unwrap().replace(ACCESS_KEY, "NOSUCHKEY");
    request.headers_mut().insert("authorization", forged.parse().unwrap());
    assert_error(&s.send(request).await, 403, -148651);
}

#[tokio::test]
async fn an_expired_private_url_is_refused() {
    let s = server().await;
    assert_eq!(call(&s, "PUT", "/k", &[], "data").await.status, 200);
    let url = format!("/k?UCloudPublicKey={ACCESS_KEY}&Expires=1000&Signature=AAAA");
    let request = http::Request::get(url).header("host", format!("bkt.{DOMAIN}")).body(bytes::Bytes::new()).unwrap();
    assert_error(&s.send(request).await, 403, -148651);
}

#[tokio::test]
async fn a_host_without_a_bucket_is_refused() {
    let s = server().await;
    let mut request = signed("bkt", "GET", "/k", &[], "", SECRET_KEY);
    request.headers_mut().insert("host", "127.0.0.1".parse().unwrap());
    assert_error(&s.send(request).await, 400, -148643);
}

#[tokio::test]
async fn unimplemented_operations_answer_not_implemented() {
    let s = server().await;
    let r = call(&s, "PUT", "/k?tagging", &[], "<Tagging/>").await;
    assert_error(&r, 501, ferry_us3::router::NOT_IMPLEMENTED_RET_CODE);
    assert!(matches!(s.engine.head_object("bkt", "k").await, Err(ferry_core::Error::NoSuchKey)));
}
