//! The tus endpoint table: (method, path shape) → [`Endpoint`], decided before authentication
//! and before any body is read. Paths under the tus prefix that name nothing, and methods tus
//! does not define on a path, are answered here (404 / 405) and never reach a handler.

use ferry_http::EndpointDoc;
use http::Method;

// tus 1.0.0 — Discovery: OPTIONS; CreateUpload: POST <prefix> (creation, creation-with-upload,
// creation-defer-length, concatenation); GetOffset: HEAD <upload>; AppendBytes: PATCH <upload>;
// TerminateUpload: DELETE <upload>.
// IETF "Resumable Uploads for HTTP" (told apart by `Upload-Draft-Interop-Version`, as tusd does):
// IetfCreateUpload: POST <prefix>; IetfGetOffset: HEAD <upload>; IetfAppend: PATCH <upload>;
// IetfCancel: DELETE <upload>.
// Unknown: a path under the prefix naming no upload, a method neither protocol defines there, or
// an interop version ferry does not speak.
ferry_http::endpoints! {
    Discovery, CreateUpload, GetOffset, AppendBytes, TerminateUpload,
    IetfCreateUpload, IetfGetOffset, IetfAppend, IetfCancel, Unknown
}

/// The IETF draft interop versions ferry speaks: 6 is draft -04/-05 (tus-js-client's
/// `protocol: 'ietf-draft-05'`), 5 is draft -03 (`'ietf-draft-03'`).
pub const IETF_INTEROP_VERSIONS: &[&str] = &["6", "5"];

/// An upload's address: `<prefix>/<bucket>/<session id>`. Addresses handed out before the
/// declared length was stored with the session end in `.<upload length>`; they still work
/// (the length is taken from the address and recorded on first use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadId {
    pub bucket: String,
    pub session: String,
    /// The length an old-style address carries.
    pub legacy_length: Option<u64>,
}

impl UploadId {
    /// The path segment after the bucket.
    pub fn segment(&self) -> String {
        match self.legacy_length {
            Some(length) => format!("{}.{length}", self.session),
            None => self.session.clone(),
        }
    }

    /// Parse `<bucket>/<id>` or `<bucket>/<id>.<length>` (the path after the prefix).
    pub fn parse(rest: &str) -> Option<UploadId> {
        let (bucket, id) = rest.split_once('/')?;
        let (session, length) = match id.rsplit_once('.') {
            Some((session, length)) => {
                if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (session, Some(length.parse().ok()?))
            }
            None => (id, None),
        };
        let valid_session = !session.is_empty() && session.bytes().all(|b| b.is_ascii_alphanumeric());
        let valid_bucket = !bucket.is_empty() && !bucket.contains('/');
        if !valid_session || !valid_bucket {
            return None;
        }
        Some(UploadId { bucket: bucket.to_string(), session: session.to_string(), legacy_length: length })
    }
}

/// What the router found: the endpoint, the upload it addresses (if any), or the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub endpoint: Endpoint,
    pub upload: Option<UploadId>,
    /// The IETF draft's interop version, for the IETF endpoints.
    pub interop: Option<&'static str>,
    /// `Some((status, allowed methods))` when the request is refused before any handler.
    pub refusal: Option<(http::StatusCode, &'static str)>,
}

impl Routed {
    /// The request speaks the IETF draft (its errors are problem details).
    pub fn is_ietf(&self) -> bool {
        self.interop.is_some()
    }
}

const COLLECTION_METHODS: &str = "OPTIONS, POST";
const UPLOAD_METHODS: &str = "OPTIONS, HEAD, PATCH, DELETE";

/// Route a request whose path is under `prefix` (no trailing slash). `interop` is the
/// request's `Upload-Draft-Interop-Version`, if any: present, it selects the IETF endpoints
/// (an unknown version is refused with 400).
pub fn route(method: &Method, path: &str, prefix: &str, interop: Option<&str>) -> Routed {
    let rest = path.strip_prefix(prefix).unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let refused = |status, allow, upload| Routed {
        endpoint: Endpoint::Unknown,
        upload,
        interop: None,
        refusal: Some((status, allow)),
    };
    let interop = match interop {
        None => None,
        Some(v) => match IETF_INTEROP_VERSIONS.iter().find(|known| **known == v.trim()) {
            Some(known) => Some(*known),
            None => return refused(http::StatusCode::BAD_REQUEST, "", None),
        },
    };
    let ietf = interop.is_some();
    if rest.is_empty() {
        let endpoint = match *method {
            Method::OPTIONS => Endpoint::Discovery,
            Method::POST if ietf => Endpoint::IetfCreateUpload,
            Method::POST => Endpoint::CreateUpload,
            _ => return refused(http::StatusCode::METHOD_NOT_ALLOWED, COLLECTION_METHODS, None),
        };
        return Routed { endpoint, upload: None, interop, refusal: None };
    }
    let Some(upload) = UploadId::parse(rest) else { return refused(http::StatusCode::NOT_FOUND, "", None) };
    let endpoint = match (method.clone(), ietf) {
        (Method::OPTIONS, _) => Endpoint::Discovery,
        (Method::HEAD, false) => Endpoint::GetOffset,
        (Method::PATCH, false) => Endpoint::AppendBytes,
        (Method::DELETE, false) => Endpoint::TerminateUpload,
        (Method::HEAD, true) => Endpoint::IetfGetOffset,
        (Method::PATCH, true) => Endpoint::IetfAppend,
        (Method::DELETE, true) => Endpoint::IetfCancel,
        _ => return refused(http::StatusCode::METHOD_NOT_ALLOWED, UPLOAD_METHODS, Some(upload)),
    };
    Routed { endpoint, upload: Some(upload), interop, refusal: None }
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
            "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm; Upload-Limit for IETF requests",
        ),
        row(
            "CreateUpload",
            "POST",
            "/files/",
            true,
            "creation, creation-with-upload, creation-defer-length, concatenation (Upload-Concat partial / final); Upload-Metadata names bucket and key",
        ),
        row(
            "GetOffset",
            "HEAD",
            "/files/<bucket>/<id>",
            true,
            "Upload-Offset = bytes durably stored; Upload-Concat for partial and final uploads",
        ),
        row(
            "AppendBytes",
            "PATCH",
            "/files/<bucket>/<id>",
            true,
            "one engine part per PATCH; Upload-Checksum md5, sha1, crc32; Upload-Length for a deferred length",
        ),
        row("TerminateUpload", "DELETE", "/files/<bucket>/<id>", true, "aborts the engine session"),
        row(
            "IetfCreateUpload",
            "POST",
            "/files/ + Upload-Draft-Interop-Version: 6 (or 5)",
            true,
            "draft -05 upload creation; Upload-Complete ?1/?0, Upload-Length optional; no 104 (hyper cannot send it)",
        ),
        row(
            "IetfGetOffset",
            "HEAD",
            "/files/<bucket>/<id> + Upload-Draft-Interop-Version",
            true,
            "offset retrieval: Upload-Offset, Upload-Complete, Upload-Length once known",
        ),
        row(
            "IetfAppend",
            "PATCH",
            "/files/<bucket>/<id> + Upload-Draft-Interop-Version",
            true,
            "upload append: Content-Type application/partial-upload (version 6); problem details on refusal",
        ),
        row(
            "IetfCancel",
            "DELETE",
            "/files/<bucket>/<id> + Upload-Draft-Interop-Version",
            true,
            "upload cancellation: aborts the engine session",
        ),
        row(
            "InteropVersion",
            "any",
            "/files/ + Upload-Draft-Interop-Version other than 5, 6",
            false,
            "400 problem details naming the versions ferry speaks",
        ),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn routes_each_method_and_path_shape() {
        let r = route(&Method::POST, "/files/", "/files", None);
        assert_eq!((r.endpoint, r.refusal), (Endpoint::CreateUpload, None));
        assert_eq!(route(&Method::OPTIONS, "/files", "/files", None).endpoint, Endpoint::Discovery);
        let r = route(&Method::PATCH, "/files/b/abc123.42", "/files", None);
        assert_eq!(r.endpoint, Endpoint::AppendBytes);
        assert_eq!(r.upload, Some(UploadId { bucket: "b".into(), session: "abc123".into(), legacy_length: Some(42) }));
        assert_eq!(
            route(&Method::GET, "/files/", "/files", None).refusal.map(|r| r.0),
            Some(http::StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            route(&Method::PUT, "/files/b/abc.1", "/files", None).refusal.map(|r| r.0),
            Some(http::StatusCode::METHOD_NOT_ALLOWED)
        );
        for bad in ["/files/b", "/files/b/", "/files/b/abc.x", "/files/b/c/abc.1", "/files/b/a-b.1", "/files//abc.1"] {
            assert_eq!(
                route(&Method::HEAD, bad, "/files", None).refusal.map(|r| r.0),
                Some(http::StatusCode::NOT_FOUND),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_interop_header_selects_the_ietf_endpoints() {
        let r = route(&Method::PATCH, "/files/b/abc", "/files", Some("6"));
        assert_eq!((r.endpoint, r.interop), (Endpoint::IetfAppend, Some("6")));
        assert_eq!(r.upload.unwrap().legacy_length, None);
        assert_eq!(route(&Method::POST, "/files/", "/files", Some("5")).endpoint, Endpoint::IetfCreateUpload);
        assert_eq!(route(&Method::HEAD, "/files/b/abc", "/files", Some("6")).endpoint, Endpoint::IetfGetOffset);
        assert_eq!(route(&Method::DELETE, "/files/b/abc", "/files", Some("6")).endpoint, Endpoint::IetfCancel);
        assert_eq!(route(&Method::HEAD, "/files/b/abc", "/files", None).endpoint, Endpoint::GetOffset);
        let r = route(&Method::POST, "/files/", "/files", Some("2"));
        assert_eq!(r.refusal.map(|r| r.0), Some(http::StatusCode::BAD_REQUEST));
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
