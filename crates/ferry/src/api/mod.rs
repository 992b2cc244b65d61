//! ferry's own HTTP API for application servers, under `/_ferry/` on the shared port: today one
//! call, minting upload tokens for browsers and apps. Requests are signed like S3 requests
//! (SigV4, so `curl --aws-sigv4` and every AWS signer work) with an access key; bodies and
//! answers are JSON, errors included (`{"error": {"code", "message"}}`).

pub mod router;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::credentials::CredentialStore;
use ferry_core::upload_token::{MAX_TTL, TokenRequest};
use ferry_http::{Frontend, Query, Request, Response, endpoint};
use http::StatusCode;
use http::request::Parts;
use serde_json::{Value, json};
use sha2::Digest;

pub use router::Endpoint;

/// Largest request body accepted (the JSON is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// Token lifetime when the request names none.
const DEFAULT_TTL: u64 = 3600;
/// Size limit when the request names none (S3's largest single object).
const DEFAULT_MAX_SIZE: u64 = 5 << 40;

/// The `/_ferry/` front-end.
pub struct ApiFrontend {
    creds: Arc<CredentialStore>,
    /// The tus path prefix, reported with each token so clients need not be told it apart.
    tus_path: String,
}

/// A refusal: status, a stable code and a message.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(ferry_http::full(format!("{value}\n")));
    *response.status_mut() = status;
    ferry_http::response::set(&mut response, "content-type", "application/json");
    ferry_http::response::set(&mut response, "cache-control", "no-store");
    response
}

fn render(e: &ApiError) -> Response {
    json_response(e.status, &json!({ "error": { "code": e.code, "message": e.message } }))
}

/// A number of seconds, or a duration such as `"1h"`.
fn seconds(value: &Value, field: &str) -> Result<u64, ApiError> {
    match value {
        Value::Number(n) => n.as_u64().ok_or_else(|| ApiError::bad(format!("{field} must be a whole number"))),
        Value::String(s) => humantime::parse_duration(s)
            .map(|d| d.as_secs())
            .map_err(|e| ApiError::bad(format!("{field}: {e} (use seconds or e.g. \"1h\")"))),
        _ => Err(ApiError::bad(format!("{field} must be a number of seconds or a duration like \"1h\""))),
    }
}

/// A number of bytes, or a size such as `"1GiB"`.
fn bytes(value: &Value, field: &str) -> Result<u64, ApiError> {
    match value {
        Value::Number(n) => n.as_u64().ok_or_else(|| ApiError::bad(format!("{field} must be a whole number"))),
        Value::String(s) => crate::commands::cp::parse_size(s).map_err(|e| ApiError::bad(format!("{field}: {e}"))),
        _ => Err(ApiError::bad(format!("{field} must be a number of bytes or a size like \"1GiB\""))),
    }
}

/// The token request in a JSON body: `bucket` (required), `prefix`, `ttl_seconds` (or `ttl`),
/// `max_size`.
fn parse_request(body: &[u8]) -> Result<TokenRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("the body is not JSON: {e}")))?;
    let object = value.as_object().ok_or_else(|| ApiError::bad("the body must be a JSON object"))?;
    const KNOWN: [&str; 5] = ["bucket", "prefix", "ttl_seconds", "ttl", "max_size"];
    if let Some(unknown) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("unknown field {unknown:?}; known: {}", KNOWN.join(", "))));
    }
    let text = |field: &str| match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad(format!("{field} must be a string"))),
    };
    let bucket = text("bucket")?.ok_or_else(|| ApiError::bad("bucket is required"))?;
    let prefix = text("prefix")?.unwrap_or_default();
    let ttl = match object.get("ttl_seconds").or_else(|| object.get("ttl")) {
        Some(v) => seconds(v, "ttl_seconds")?,
        None => DEFAULT_TTL.min(MAX_TTL),
    };
    let max_size = match object.get("max_size") {
        Some(v) => bytes(v, "max_size")?,
        None => DEFAULT_MAX_SIZE,
    };
    Ok(TokenRequest { bucket, prefix, max_size, ttl })
}

impl ApiFrontend {
    pub fn new(creds: Arc<CredentialStore>, tus_path: String) -> Self {
        ApiFrontend { creds, tus_path }
    }

    async fn create_upload_token(&self, parts: &Parts, body: ferry_http::Body) -> Result<Response, ApiError> {
        let body = ferry_http::read_limited(ferry_http::body_stream(body), MAX_BODY)
            .await
            .map_err(|e| ApiError::bad(format!("reading the body: {e}")))?;
        // Generic SigV4 signers (curl --aws-sigv4, SDK signers for non-S3 services) sign the
        // body's SHA-256 without sending it as x-amz-content-sha256, which S3 requires. The body
        // is small and already read: supply its hash, so the signature is checked against the
        // body that arrived, as such signers intend.
        let mut parts = parts.clone();
        if !parts.headers.contains_key("x-amz-content-sha256") {
            let hash = hex::encode(sha2::Sha256::digest(&body));
            if let Ok(value) = http::HeaderValue::from_str(&hash) {
                parts.headers.insert("x-amz-content-sha256", value);
            }
        }
        let query = Query::parse(parts.uri.query());
        let (payload, who) = ferry_s3::authenticate(&parts, &query, None, &self.creds)
            .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", format!("{}: {}", e.code, e.message)))?;
        match payload {
            ferry_s3::Payload::Unsigned => {}
            ferry_s3::Payload::Sha256(hash) => {
                if sha2::Sha256::digest(&body).as_slice() != hash {
                    return Err(ApiError::bad("the body does not match the signed x-amz-content-sha256"));
                }
            }
            ferry_s3::Payload::Chunked { .. } => {
                return Err(ApiError::bad("send the JSON body whole, not aws-chunked"));
            }
        }
        let request = parse_request(&body)?;
        let (token, claims) = self.creds.mint_upload_token(&who, &request).map_err(|e| {
            // Out-of-range claims are the caller's input; anything else is a missing grant.
            let status = if e.0.contains("may not write") || e.0.contains("temporary") {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            let code = if status == StatusCode::FORBIDDEN { "AccessDenied" } else { "InvalidRequest" };
            ApiError::new(status, code, e.0)
        })?;
        Ok(json_response(
            StatusCode::CREATED,
            &json!({
                "token": token,
                "expires": ferry_http::dates::iso8601(claims.expires * 1000),
                "expires_unix": claims.expires,
                "bucket": claims.bucket,
                "prefix": claims.prefix,
                "max_size": claims.max_size,
                "tus_endpoint": format!("{}/", self.tus_path),
            }),
        ))
    }
}

#[async_trait]
impl Frontend for ApiFrontend {
    fn name(&self) -> &'static str {
        "ferry-api"
    }

    fn claims(&self, request: &Parts) -> bool {
        let path = request.uri.path();
        path.starts_with(router::PREFIX) || path == router::PREFIX.trim_end_matches('/')
    }

    async fn handle(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let (mut response, name) = match router::route(&parts.method, parts.uri.path()) {
            Ok(endpoint) => {
                let response = match endpoint {
                    Endpoint::CreateUploadToken => self.create_upload_token(&parts, body).await,
                    Endpoint::Unknown => Err(ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such API call")),
                };
                (response.unwrap_or_else(|e| render(&e)), ferry_http::Endpoint::name(&endpoint))
            }
            Err((status, allow)) => {
                let mut r = if status == StatusCode::METHOD_NOT_ALLOWED {
                    render(&ApiError::new(status, "MethodNotAllowed", format!("this API call takes {allow}")))
                } else {
                    render(&ApiError::new(
                        status,
                        "NotFound",
                        format!("no such API call: {} (see docs/browser-uploads.md)", parts.uri.path()),
                    ))
                };
                if !allow.is_empty() {
                    ferry_http::response::set(&mut r, "allow", allow);
                }
                (r, ferry_http::Endpoint::name(&Endpoint::Unknown))
            }
        };
        endpoint::tag(&mut response, name);
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_parse_with_defaults_and_units() {
        let r = parse_request(br#"{"bucket":"b"}"#).ok().unwrap();
        assert_eq!((r.bucket.as_str(), r.prefix.as_str(), r.ttl, r.max_size), ("b", "", 3600, DEFAULT_MAX_SIZE));
        let r = parse_request(br#"{"bucket":"b","prefix":"u/","ttl":"2m","max_size":"1KiB"}"#).ok().unwrap();
        assert_eq!((r.ttl, r.max_size), (120, 1024));
        let r = parse_request(br#"{"bucket":"b","ttl_seconds":90,"max_size":5}"#).ok().unwrap();
        assert_eq!((r.ttl, r.max_size), (90, 5));
        for bad in [&br#"{}"#[..], br#"[]"#, b"nope", br#"{"bucket":1}"#, br#"{"bucket":"b","tll":3}"#] {
            assert!(parse_request(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
