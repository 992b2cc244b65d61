//! Request authentication: SigV4 (header, presigned, streaming chunks) and SigV2 (header,
//! presigned). Signature code lives apart from the operations so each scheme can be read and
//! tested on its own.
//!
//! Written here rather than taken from the `s3s` crate: s3s releases that build with this
//! toolchain (0.14) would bring its whole generated S3 API surface and its own routing, while
//! ferry needs one router shared by several dialects and streaming hashing in the engine. The
//! signing algorithms are small and pinned by tests against AWS's published examples.

mod sigv2;
mod sigv4;

use ferry_core::access::Principal;
use ferry_core::credentials::{AuthError, CredentialStore, Resolved};
use ferry_core::sts::TokenError;
use http::request::Parts;

use crate::error::{S3Error, S3Result};
use crate::request::Query;
pub use sigv4::{ChunkSigner, verify_header_with};

/// What the signature says about the body.
#[derive(Debug, Clone)]
pub enum Payload {
    /// The body is not covered by the signature (UNSIGNED-PAYLOAD, presigned URLs).
    Unsigned,
    /// The body must hash to this SHA-256.
    Sha256([u8; 32]),
    /// aws-chunked body; chunks are signed when `signer` is set. Trailing checksums are named
    /// by the `x-amz-trailer` header.
    Chunked { signer: Option<ChunkSigner> },
}

/// Verify the request's signature against the credential store: who signed it, and what the
/// signature says about the body. Anonymous requests are refused.
pub fn authenticate(
    parts: &Parts,
    query: &Query,
    host_bucket: Option<&str>,
    creds: &CredentialStore,
) -> S3Result<(Payload, Principal)> {
    let authorization = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match authorization {
        Some(a) if a.starts_with("AWS4-HMAC-SHA256 ") => sigv4::verify_header(parts, query, a, creds),
        Some(a) if a.starts_with("AWS ") => sigv2::verify_header(parts, query, host_bucket, a, creds),
        Some(_) => Err(S3Error::invalid_argument("Unsupported Authorization Type")),
        None if query.get("X-Amz-Algorithm").is_some() => sigv4::verify_presigned(parts, query, creds),
        None if query.get("AWSAccessKeyId").is_some() => sigv2::verify_presigned(parts, query, host_bucket, creds),
        None => {
            Err(S3Error::access_denied("Anonymous access is not allowed; sign the request with ferry's access key"))
        }
    }
}

/// The session token of temporary credentials: `X-Amz-Security-Token`, as a header or (presigned
/// URLs) a query parameter.
fn session_token<'a>(parts: &'a Parts, query: &'a Query) -> Option<&'a str> {
    if let Some(v) = parts.headers.get("x-amz-security-token") {
        return Some(v.to_str().unwrap_or(""));
    }
    query.pairs().iter().find(|(k, _)| k.eq_ignore_ascii_case("x-amz-security-token")).map(|(_, v)| v.as_str())
}

/// The secret and principal for an access key id (with the request's session token, if any),
/// or S3's InvalidAccessKeyId / InvalidToken / ExpiredToken.
fn lookup(creds: &CredentialStore, parts: &Parts, query: &Query, access_key: &str) -> S3Result<Resolved> {
    creds.resolve(access_key, session_token(parts, query)).map_err(|e| match e {
        AuthError::UnknownKey => {
            S3Error::invalid_access_key_id("The AWS Access Key Id you provided does not exist in our records.")
        }
        AuthError::Disabled => S3Error::invalid_access_key_id("The AWS Access Key Id you provided is disabled."),
        AuthError::Token(TokenError::Expired) => {
            S3Error::new("ExpiredToken", http::StatusCode::BAD_REQUEST, "The provided token has expired.")
        }
        AuthError::Token(t) => S3Error::new("InvalidToken", http::StatusCode::BAD_REQUEST, t.to_string()),
    })
}

/// Whether a request carries an S3 signature (used by the router).
pub fn is_s3_signed(parts: &Parts) -> bool {
    let auth = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth.starts_with("AWS4-HMAC-SHA256 ") || auth.starts_with("AWS ") {
        return true;
    }
    let q = parts.uri.query().unwrap_or("");
    q.contains("X-Amz-Algorithm=") || q.contains("AWSAccessKeyId=")
}

pub use ferry_sigv4::uri_encode;
