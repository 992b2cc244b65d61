//! The tus endpoint table: (method, path shape) → [`Endpoint`], decided before authentication
//! and before any body is read. Paths under the tus prefix that name nothing, and methods tus
//! does not define on a path, are answered here (404 / 405) and never reach a handler.

use ferry_http::EndpointDoc;
use http::Method;

// Discovery: OPTIONS; CreateUpload: POST <prefix> (creation, creation-with-upload);
// GetOffset: HEAD <upload>; AppendBytes: PATCH <upload>; TerminateUpload: DELETE <upload>;
// Unknown: a path under the prefix naming no upload, or a method tus does not define there.
ferry_http::endpoints! { Discovery, CreateUpload, GetOffset, AppendBytes, TerminateUpload, Unknown }

/// An upload's address: `<prefix>/<bucket>/<session id>.<upload length>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadId {
    pub bucket: String,
    pub session: String,
    pub length: u64,
}

impl UploadId {
    /// The path segment after the bucket.
    pub fn segment(&self) -> String {
        format!("{}.{}", self.session, self.length)
    }

    fn parse(rest: &str) -> Option<UploadId> {
        let (bucket, id) = rest.split_once('/')?;
        let (session, length) = id.rsplit_once('.')?;
        let valid_session = !session.is_empty() && session.bytes().all(|b| b.is_ascii_alphanumeric());
        let valid_bucket = !bucket.is_empty() && !bucket.contains('/');
        if !valid_session || !valid_bucket || length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(UploadId { bucket: bucket.to_string(), session: session.to_string(), length: length.parse().ok()? })
    }
}

/// What the router found: the endpoint, the upload it addresses (if any), or the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub endpoint: Endpoint,
    pub upload: Option<UploadId>,
    /// `Some((status, allowed methods))` when the request is refused before any handler.
    pub refusal: Option<(http::StatusCode, &'static str)>,
}

const COLLECTION_METHODS: &str = "OPTIONS, POST";
const UPLOAD_METHODS: &str = "OPTIONS, HEAD, PATCH, DELETE";

/// Route a request whose path is under `prefix` (no trailing slash).
pub fn route(method: &Method, path: &str, prefix: &str) -> Routed {
    let rest = path.strip_prefix(prefix).unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let not_found =
        Routed { endpoint: Endpoint::Unknown, upload: None, refusal: Some((http::StatusCode::NOT_FOUND, "")) };
    if rest.is_empty() {
        let endpoint = match *method {
            Method::OPTIONS => Endpoint::Discovery,
            Method::POST => Endpoint::CreateUpload,
            _ => {
                let refusal = Some((http::StatusCode::METHOD_NOT_ALLOWED, COLLECTION_METHODS));
                return Routed { endpoint: Endpoint::Unknown, upload: None, refusal };
            }
        };
        return Routed { endpoint, upload: None, refusal: None };
    }
    let Some(upload) = UploadId::parse(rest) else { return not_found };
    let endpoint = match *method {
        Method::OPTIONS => Endpoint::Discovery,
        Method::HEAD => Endpoint::GetOffset,
        Method::PATCH => Endpoint::AppendBytes,
        Method::DELETE => Endpoint::TerminateUpload,
        _ => {
            let refusal = Some((http::StatusCode::METHOD_NOT_ALLOWED, UPLOAD_METHODS));
            return Routed { endpoint: Endpoint::Unknown, upload: Some(upload), refusal };
        }
    };
    Routed { endpoint, upload: Some(upload), refusal: None }
}

/// The table as data, for `docs/tus-coverage.md`.
pub fn endpoint_docs() -> Vec<EndpointDoc> {
    let row = |name, method, resource, supported, note| EndpointDoc { name, method, resource, supported, note };
    vec![
        row(
            "Discovery",
            "OPTIONS",
            "/files/",
            true,
            "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm",
        ),
        row(
            "CreateUpload",
            "POST",
            "/files/",
            true,
            "creation and creation-with-upload; Upload-Metadata names bucket and key",
        ),
        row("GetOffset", "HEAD", "/files/<bucket>/<id>", true, "Upload-Offset = bytes durably stored"),
        row(
            "AppendBytes",
            "PATCH",
            "/files/<bucket>/<id>",
            true,
            "one engine part per PATCH; Upload-Checksum md5, sha1, crc32",
        ),
        row("TerminateUpload", "DELETE", "/files/<bucket>/<id>", true, "aborts the engine session"),
        row("DeferLength", "POST", "/files/ + Upload-Defer-Length", false, "creation-defer-length: 400 for now"),
        row("Concatenation", "POST", "/files/ + Upload-Concat", false, "concatenation: 400 for now"),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn routes_each_method_and_path_shape() {
        let r = route(&Method::POST, "/files/", "/files");
        assert_eq!((r.endpoint, r.refusal), (Endpoint::CreateUpload, None));
        assert_eq!(route(&Method::OPTIONS, "/files", "/files").endpoint, Endpoint::Discovery);
        let r = route(&Method::PATCH, "/files/b/abc123.42", "/files");
        assert_eq!(r.endpoint, Endpoint::AppendBytes);
        assert_eq!(r.upload, Some(UploadId { bucket: "b".into(), session: "abc123".into(), length: 42 }));
        assert_eq!(
            route(&Method::GET, "/files/", "/files").refusal.map(|r| r.0),
            Some(http::StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            route(&Method::PUT, "/files/b/abc.1", "/files").refusal.map(|r| r.0),
            Some(http::StatusCode::METHOD_NOT_ALLOWED)
        );
        for bad in ["/files/b", "/files/b/abc", "/files/b/abc.x", "/files/b/c/abc.1", "/files/b/a-b.1", "/files//abc.1"]
        {
            assert_eq!(
                route(&Method::HEAD, bad, "/files").refusal.map(|r| r.0),
                Some(http::StatusCode::NOT_FOUND),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_prefix_is_normalised_and_never_the_root() {
        assert_eq!(crate::TusConfig::normalise_path("files/").unwrap(), "/files");
        assert_eq!(crate::TusConfig::normalise_path("/up/tus/").unwrap(), "/up/tus");
        assert!(crate::TusConfig::normalise_path("/").is_err());
    }

    #[test]
    fn coverage_doc_matches_the_router() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tus-coverage.md");
        let document = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(e) = ferry_http::endpoint::check_coverage_doc(&document, &endpoint_docs()) {
            panic!("{}: {e}", path.display());
        }
    }
}
