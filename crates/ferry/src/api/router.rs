//! The endpoint table of ferry's own HTTP API under `/_ferry/`: (method, path) → [`Endpoint`],
//! decided before authentication. A bucket name cannot start with `_`, so these paths never
//! collide with S3's. Anything under `/_ferry/` that names no endpoint is answered here (404, or
//! 405 with `Allow`) and never reaches a handler.

use ferry_http::EndpointDoc;
use http::{Method, StatusCode};

/// Every path this front-end answers starts with this.
pub const PREFIX: &str = "/_ferry/";

// CreateUploadToken: POST /_ferry/v1/upload-tokens; Unknown: anything else under /_ferry/.
ferry_http::endpoints! { CreateUploadToken, Unknown }

/// The endpoint, or the refusal (status and, for 405, the allowed methods).
pub fn route(method: &Method, path: &str) -> Result<Endpoint, (StatusCode, &'static str)> {
    match path.trim_end_matches('/') {
        "/_ferry/v1/upload-tokens" => match *method {
            Method::POST => Ok(Endpoint::CreateUploadToken),
            _ => Err((StatusCode::METHOD_NOT_ALLOWED, "POST")),
        },
        _ => Err((StatusCode::NOT_FOUND, "")),
    }
}

/// The table as data, for `docs/ferry-api-coverage.md` (read by its test only: the binary has
/// no other use for it).
#[cfg_attr(not(test), allow(dead_code))]
pub fn endpoint_docs() -> Vec<EndpointDoc> {
    vec![EndpointDoc {
        name: "CreateUploadToken",
        method: "POST",
        resource: "/_ferry/v1/upload-tokens",
        supported: true,
        note: "S3 SigV4-signed; JSON {bucket, prefix, ttl_seconds, max_size} → {token, expires, ...}",
    }]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_the_token_endpoint() {
        assert_eq!(route(&Method::POST, "/_ferry/v1/upload-tokens"), Ok(Endpoint::CreateUploadToken));
        assert_eq!(route(&Method::POST, "/_ferry/v1/upload-tokens/"), Ok(Endpoint::CreateUploadToken));
        assert_eq!(route(&Method::GET, "/_ferry/v1/upload-tokens"), Err((StatusCode::METHOD_NOT_ALLOWED, "POST")));
        for path in ["/_ferry/", "/_ferry/v1", "/_ferry/v2/upload-tokens", "/_ferry/v1/upload-tokens/x"] {
            assert_eq!(route(&Method::POST, path).map_err(|e| e.0), Err(StatusCode::NOT_FOUND), "{path}");
        }
    }

    #[test]
    fn coverage_doc_matches_the_router() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ferry-api-coverage.md");
        let document = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(e) = ferry_http::endpoint::check_coverage_doc(&document, &endpoint_docs()) {
            panic!("{}: {e}", path.display());
        }
    }
}
