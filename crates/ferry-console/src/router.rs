//! The console's endpoint table: (method, path under `/console`) → [`Endpoint`], decided before
//! the session cookie is read and before any body is. Paths that name nothing are 404, known
//! paths with a method they do not take are 405 with `Allow`; nothing falls through.

use ferry_http::EndpointDoc;
use http::Method;

ferry_http::endpoints! {
    Page, Asset, SignIn, SignOut, WhoAmI, ListBuckets, ListObjects, PresignGet, DeleteObject,
    CreateUpload, PutPart, ListParts, CompleteUpload, AbortUpload, ListSessions, AbortSession, ListTables, Unknown
}

/// The console's path prefix.
pub const PREFIX: &str = "/console";

/// What the router found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub endpoint: Endpoint,
    /// The asset name, the upload (session) id, or the part number, when the path holds one.
    pub upload: Option<String>,
    pub part: Option<u32>,
    pub asset: Option<&'static str>,
    /// `Some((status, allowed methods))` when the request is refused before any handler.
    pub refusal: Option<(http::StatusCode, &'static str)>,
}

impl Routed {
    fn to(endpoint: Endpoint) -> Routed {
        Routed { endpoint, upload: None, part: None, asset: None, refusal: None }
    }
    fn refused(status: http::StatusCode, allow: &'static str) -> Routed {
        Routed { refusal: Some((status, allow)), ..Routed::to(Endpoint::Unknown) }
    }
}

/// The embedded assets, by the name under `/console/assets/`.
pub const ASSETS: &[&str] = &["app.js", "app.css"];

/// Whether the endpoint changes state: these need the CSRF token and a same-origin `Origin`.
pub fn changes_state(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::SignOut
            | Endpoint::DeleteObject
            | Endpoint::CreateUpload
            | Endpoint::PutPart
            | Endpoint::CompleteUpload
            | Endpoint::AbortUpload
            | Endpoint::AbortSession
    )
}

/// Whether the endpoint needs a signed-in session.
pub fn needs_session(endpoint: Endpoint) -> bool {
    !matches!(endpoint, Endpoint::Page | Endpoint::Asset | Endpoint::SignIn | Endpoint::Unknown)
}

fn upload_id(segment: &str) -> Option<String> {
    (!segment.is_empty() && segment.len() <= 64 && segment.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| segment.to_string())
}

/// Route a request whose path starts with [`PREFIX`].
pub fn route(method: &Method, path: &str) -> Routed {
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let one = |endpoint: Endpoint, allowed: &Method, allow: &'static str| {
        if method == allowed || (allowed == Method::GET && method == Method::HEAD) {
            Routed::to(endpoint)
        } else {
            Routed::refused(http::StatusCode::METHOD_NOT_ALLOWED, allow)
        }
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => one(Endpoint::Page, &Method::GET, "GET, HEAD"),
        ["assets", name] => match ASSETS.iter().find(|a| *a == name) {
            Some(asset) => Routed { asset: Some(asset), ..one(Endpoint::Asset, &Method::GET, "GET, HEAD") },
            None => Routed::refused(http::StatusCode::NOT_FOUND, ""),
        },
        ["api", "signin"] => one(Endpoint::SignIn, &Method::POST, "POST"),
        ["api", "signout"] => one(Endpoint::SignOut, &Method::POST, "POST"),
        ["api", "whoami"] => one(Endpoint::WhoAmI, &Method::GET, "GET, HEAD"),
        ["api", "buckets"] => one(Endpoint::ListBuckets, &Method::GET, "GET, HEAD"),
        ["api", "objects"] => match *method {
            Method::GET | Method::HEAD => Routed::to(Endpoint::ListObjects),
            Method::DELETE => Routed::to(Endpoint::DeleteObject),
            _ => Routed::refused(http::StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD, DELETE"),
        },
        ["api", "download"] => one(Endpoint::PresignGet, &Method::GET, "GET, HEAD"),
        ["api", "uploads"] => one(Endpoint::CreateUpload, &Method::POST, "POST"),
        ["api", "uploads", id] => match upload_id(id) {
            Some(id) => Routed { upload: Some(id), ..one(Endpoint::AbortUpload, &Method::DELETE, "DELETE") },
            None => Routed::refused(http::StatusCode::NOT_FOUND, ""),
        },
        ["api", "uploads", id, "parts"] => match upload_id(id) {
            Some(id) => Routed { upload: Some(id), ..one(Endpoint::ListParts, &Method::GET, "GET, HEAD") },
            None => Routed::refused(http::StatusCode::NOT_FOUND, ""),
        },
        ["api", "uploads", id, "parts", number] => {
            let part = number.parse::<u32>().ok().filter(|n| (1..=10_000).contains(n));
            match (upload_id(id), part) {
                (Some(id), Some(part)) => {
                    Routed { upload: Some(id), part: Some(part), ..one(Endpoint::PutPart, &Method::PUT, "PUT") }
                }
                _ => Routed::refused(http::StatusCode::NOT_FOUND, ""),
            }
        }
        ["api", "uploads", id, "complete"] => match upload_id(id) {
            Some(id) => Routed { upload: Some(id), ..one(Endpoint::CompleteUpload, &Method::POST, "POST") },
            None => Routed::refused(http::StatusCode::NOT_FOUND, ""),
        },
        ["api", "sessions"] => one(Endpoint::ListSessions, &Method::GET, "GET, HEAD"),
        ["api", "sessions", id] => match upload_id(id) {
            Some(id) => Routed { upload: Some(id), ..one(Endpoint::AbortSession, &Method::DELETE, "DELETE") },
            None => Routed::refused(http::StatusCode::NOT_FOUND, ""),
        },
        ["api", "tables"] => one(Endpoint::ListTables, &Method::GET, "GET, HEAD"),
        _ => Routed::refused(http::StatusCode::NOT_FOUND, ""),
    }
}

/// The table as data, for `docs/console.md`.
pub fn endpoint_docs() -> Vec<EndpointDoc> {
    let row = |name, method, resource, note| EndpointDoc { name, method, resource, supported: true, note };
    vec![
        row("Page", "GET", "/console", "the single page (HTML)"),
        row("Asset", "GET", "/console/assets/{app.js,app.css}", "embedded; ETag, Cache-Control: no-cache"),
        row(
            "SignIn",
            "POST",
            "/console/api/signin",
            "JSON {accessKeyId, secretAccessKey, sessionToken?} → cookie + CSRF token",
        ),
        row("SignOut", "POST", "/console/api/signout", "CSRF; clears the cookie"),
        row("WhoAmI", "GET", "/console/api/whoami", "key id, expiry and the CSRF token of the cookie"),
        row("ListBuckets", "GET", "/console/api/buckets", "only the buckets the key sees"),
        row("ListObjects", "GET", "/console/api/objects?bucket&prefix&after", "folders by '/', 200 per page; list"),
        row("DeleteObject", "DELETE", "/console/api/objects?bucket&key", "CSRF; delete"),
        row("PresignGet", "GET", "/console/api/download?bucket&key", "a 5-minute presigned S3 GET URL; read"),
        row("CreateUpload", "POST", "/console/api/uploads?bucket&key&type", "CSRF; engine create_session; write"),
        row("PutPart", "PUT", "/console/api/uploads/{id}/parts/{n}?bucket", "CSRF; engine put_part, streamed"),
        row("ListParts", "GET", "/console/api/uploads/{id}/parts?bucket", "engine list_parts"),
        row("CompleteUpload", "POST", "/console/api/uploads/{id}/complete?bucket&size", "CSRF; engine commit"),
        row("AbortUpload", "DELETE", "/console/api/uploads/{id}?bucket", "CSRF; engine abort"),
        row("ListSessions", "GET", "/console/api/sessions", "live sessions of every bucket the key may write"),
        row("AbortSession", "DELETE", "/console/api/sessions/{id}?bucket", "CSRF; engine abort"),
        row("ListTables", "GET", "/console/api/tables", "schema, partitions, data files and rows per table"),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn routes_every_path_shape() {
        assert_eq!(route(&Method::GET, "/console").endpoint, Endpoint::Page);
        assert_eq!(route(&Method::GET, "/console/").endpoint, Endpoint::Page);
        let r = route(&Method::GET, "/console/assets/app.js");
        assert_eq!((r.endpoint, r.asset), (Endpoint::Asset, Some("app.js")));
        assert_eq!(route(&Method::POST, "/console/api/signin").endpoint, Endpoint::SignIn);
        assert_eq!(route(&Method::DELETE, "/console/api/objects").endpoint, Endpoint::DeleteObject);
        assert_eq!(route(&Method::GET, "/console/api/objects").endpoint, Endpoint::ListObjects);
        let r = route(&Method::PUT, "/console/api/uploads/abc123/parts/7");
        assert_eq!((r.endpoint, r.upload.as_deref(), r.part), (Endpoint::PutPart, Some("abc123"), Some(7)));
        assert_eq!(route(&Method::POST, "/console/api/uploads/abc/complete").endpoint, Endpoint::CompleteUpload);
        assert_eq!(route(&Method::DELETE, "/console/api/uploads/abc").endpoint, Endpoint::AbortUpload);
        assert_eq!(route(&Method::DELETE, "/console/api/sessions/abc").endpoint, Endpoint::AbortSession);
    }

    #[test]
    fn unknown_paths_and_methods_are_refused_before_any_handler() {
        for path in [
            "/console/x",
            "/console/assets/evil.js",
            "/console/assets/../app.js",
            "/console/api/uploads/a-b/parts/1",
            "/console/api/uploads/abc/parts/0",
            "/console/api/uploads/abc/parts/10001",
            "/console/api/uploads/abc/parts/x",
            "/console/api/nothing",
        ] {
            let r = route(&Method::GET, path);
            assert_eq!(
                (r.endpoint, r.refusal.map(|r| r.0)),
                (Endpoint::Unknown, Some(StatusCode::NOT_FOUND)),
                "{path}"
            );
        }
        let r = route(&Method::GET, "/console/api/signin");
        assert_eq!(r.refusal, Some((StatusCode::METHOD_NOT_ALLOWED, "POST")));
        let r = route(&Method::POST, "/console/api/objects");
        assert_eq!(r.refusal.map(|r| r.0), Some(StatusCode::METHOD_NOT_ALLOWED));
        let r = route(&Method::GET, "/console/api/uploads/abc/parts/1");
        assert_eq!(r.refusal.map(|r| r.0), Some(StatusCode::METHOD_NOT_ALLOWED));
    }

    #[test]
    fn every_write_needs_the_csrf_token() {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            for path in [
                "/console/api/signout",
                "/console/api/objects",
                "/console/api/uploads",
                "/console/api/uploads/a/parts/1",
                "/console/api/uploads/a/complete",
                "/console/api/uploads/a",
                "/console/api/sessions/a",
            ] {
                let r = route(&method, path);
                if r.refusal.is_none() {
                    assert!(changes_state(r.endpoint), "{method} {path}");
                    assert!(needs_session(r.endpoint), "{method} {path}");
                }
            }
        }
        assert!(!needs_session(Endpoint::SignIn));
    }

    #[test]
    fn coverage_doc_matches_the_router() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console.md");
        let document = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(e) = ferry_http::endpoint::check_coverage_doc(&document, &endpoint_docs()) {
            panic!("{}: {e}", path.display());
        }
    }
}
