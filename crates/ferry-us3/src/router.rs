//! The US3 (UFile) request table: (method, file name or bucket root, sub-resource query names,
//! `X-Ufile-Copy-Source`) → one [`Endpoint`], decided before authentication and before any
//! handler runs.
//!
//! Every operation the UFile API and its SDKs define has an entry; the ones ferry does not
//! implement answer US3's JSON error with [`NOT_IMPLEMENTED_RET_CODE`] and HTTP 501, and so does
//! any request the table does not know ([`Endpoint::Unknown`]) and any query parameter that is
//! not a known parameter of the matched operation. A write with a sub-resource ferry does not
//! know therefore never reaches PutFile, DeleteFile or a multipart handler.

use ferry_http::Query;
use ferry_http::endpoint::{self, EndpointDoc};
use http::{HeaderMap, Method, StatusCode};

use crate::error::Us3Error;

/// The `RetCode` of a request ferry refuses because it does not implement it. US3 documents no
/// code for this (its published list covers bucket management only), so ferry uses its own,
/// with HTTP 501; every UFile SDK reports a non-2xx answer as a failure.
pub const NOT_IMPLEMENTED_RET_CODE: i64 = -148501;

/// Query parameters any request may carry: the private-URL signature (`UCloudPublicKey`,
/// `Expires`, `Signature`), which the authenticator checks.
const AUTH_PARAMETERS: &[&str] = &["UCloudPublicKey", "Expires", "Signature"];

/// A US3 request, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `PUT /<key>`: the body becomes the file.
    PutFile,
    /// `PUT /<key>` with `X-Ufile-Copy-Source: /<bucket>/<key>`.
    Copy,
    /// `GET /<key>`, whole or with `Range`.
    GetFile,
    /// `HEAD /<key>`.
    HeadFile,
    /// `DELETE /<key>`.
    DeleteFile,
    /// `POST /<key>?uploads`.
    InitiateMultipartUpload,
    /// `PUT /<key>?uploadId=&partNumber=` (part numbers from 0).
    UploadPart,
    /// `POST /<key>?uploadId=` with the part ETags as the body.
    FinishMultipartUpload,
    /// `DELETE /<key>?uploadId=`.
    AbortMultipartUpload,
    /// `GET /?list&prefix=&marker=&limit=`.
    PrefixFileList,
    /// `GET /?listobjects&prefix=&marker=&max-keys=&delimiter=`.
    ListObjects,
    /// `GET /?muploadpart&uploadId=` (the SDKs call it `get_multi_upload_part`).
    ListParts,
    /// `POST /` with a multipart/form-data body (form upload).
    PostFile,
    /// `POST /uploadhit?Hash=&FileName=&FileSize=` (instant upload by content hash).
    UploadHit,
    /// `PUT /<key>?uploadId=&partNumber=` with `X-Ufile-Copy-Source`.
    UploadPartCopy,
    /// `GET /?muploadid`: multipart uploads in progress.
    GetMultiUploadId,
    /// `PUT /<key>?newFileName=&force=`.
    Rename,
    /// `POST /<key>?opmeta` with a JSON body (`{"op":"set","metak":..,"metav":..}`).
    OpMeta,
    /// `PUT /<key>?restore`: thaw an archived file.
    Restore,
    /// `PUT /<key>?storageClass=`.
    ClassSwitch,
    /// `POST|PUT /<key>?append&position=`.
    AppendFile,
    /// `PUT /<key>?tagging`.
    PutObjectTagging,
    /// `GET /<key>?tagging`.
    GetObjectTagging,
    /// `DELETE /<key>?tagging`.
    DeleteObjectTagging,
    /// `PUT /<key>?acl` with `X-Ufile-Object-Acl`.
    PutObjectAcl,
    /// `GET /<key>?acl`.
    GetObjectAcl,
    /// Any other method, path or sub-resource.
    Unknown,
}

impl Endpoint {
    /// Every endpoint, in the order of the coverage table.
    pub const ALL: &'static [Endpoint] = &[
        Endpoint::PutFile,
        Endpoint::Copy,
        Endpoint::GetFile,
        Endpoint::HeadFile,
        Endpoint::DeleteFile,
        Endpoint::InitiateMultipartUpload,
        Endpoint::UploadPart,
        Endpoint::FinishMultipartUpload,
        Endpoint::AbortMultipartUpload,
        Endpoint::PrefixFileList,
        Endpoint::ListObjects,
        Endpoint::ListParts,
        Endpoint::UploadPartCopy,
        Endpoint::GetMultiUploadId,
        Endpoint::PostFile,
        Endpoint::UploadHit,
        Endpoint::Rename,
        Endpoint::OpMeta,
        Endpoint::Restore,
        Endpoint::ClassSwitch,
        Endpoint::AppendFile,
        Endpoint::PutObjectTagging,
        Endpoint::GetObjectTagging,
        Endpoint::DeleteObjectTagging,
        Endpoint::PutObjectAcl,
        Endpoint::GetObjectAcl,
        Endpoint::Unknown,
    ];

    /// How the endpoint is addressed, whether ferry serves it, and what a user should know.
    pub fn doc(self) -> EndpointDoc {
        let (method, resource, supported, note) = match self {
            Endpoint::PutFile => ("PUT", "/key", true, "Content-MD5 (hex) verified; replies with the ETag"),
            Endpoint::Copy => ("PUT", "/key + X-Ufile-Copy-Source", true, "metadata-only copy"),
            Endpoint::GetFile => (
                "GET",
                "/key",
                true,
                "`Range`; private URLs (`UCloudPublicKey`, `Expires`, `Signature`) with expiry enforced",
            ),
            Endpoint::HeadFile => ("HEAD", "/key", true, ""),
            Endpoint::DeleteFile => ("DELETE", "/key", true, "204"),
            Endpoint::InitiateMultipartUpload => {
                ("POST", "/key?uploads", true, "ferry chooses the block size and returns it as `BlkSize`")
            }
            Endpoint::UploadPart => {
                ("PUT", "/key?uploadId&partNumber", true, "part numbers from 0; every part but the last is one block")
            }
            Endpoint::FinishMultipartUpload => (
                "POST",
                "/key?uploadId",
                true,
                "`newKey` only when empty (as the Java SDK sends it); a non-empty `newKey` is refused",
            ),
            Endpoint::AbortMultipartUpload => ("DELETE", "/key?uploadId", true, ""),
            Endpoint::PrefixFileList => ("GET", "/?list", true, "`prefix`, `marker`, `limit`"),
            Endpoint::ListObjects => ("GET", "/?listobjects", true, "`prefix`, `marker`, `max-keys`, `delimiter`"),
            Endpoint::ListParts => ("GET", "/?muploadpart", true, "`uploadId`, `max-parts`, `part-number-marker`"),
            Endpoint::PostFile => ("POST", "/ (form)", false, "form upload"),
            Endpoint::UploadHit => ("POST", "/uploadhit?Hash&FileName&FileSize", false, ""),
            Endpoint::UploadPartCopy => (
                "PUT",
                "/key?uploadId&partNumber + X-Ufile-Copy-Source",
                true,
                "`X-Ufile-Copy-Source-Range: bytes=a-b`; copied server-side",
            ),
            Endpoint::GetMultiUploadId => (
                "GET",
                "/?muploadid",
                true,
                "`prefix`, `marker`, `limit` (default 20); `NextMarker` is `<upload id>/<file name>`",
            ),
            Endpoint::Rename => ("PUT", "/key?newFileName", false, ""),
            Endpoint::OpMeta => ("POST", "/key?opmeta", false, "the file is left as it was"),
            Endpoint::Restore => ("PUT", "/key?restore", false, "ferry has no archive class"),
            Endpoint::ClassSwitch => ("PUT", "/key?storageClass", false, "ferry has one storage class"),
            Endpoint::AppendFile => ("POST", "/key?append&position", false, "also as PUT"),
            Endpoint::PutObjectTagging => ("PUT", "/key?tagging", false, ""),
            Endpoint::GetObjectTagging => ("GET", "/key?tagging", false, ""),
            Endpoint::DeleteObjectTagging => ("DELETE", "/key?tagging", false, ""),
            Endpoint::PutObjectAcl => ("PUT", "/key?acl", false, ""),
            Endpoint::GetObjectAcl => ("GET", "/key?acl", false, ""),
            Endpoint::Unknown => ("*", "/key or / with anything not above", false, "never reaches a handler"),
        };
        EndpointDoc { name: self.name(), method, resource, supported, note }
    }

    /// Whether ferry serves this endpoint; the others answer the not-implemented error.
    pub fn implemented(self) -> bool {
        self.doc().supported
    }

    /// The query parameters the operation accepts, besides [`AUTH_PARAMETERS`]. Endpoints ferry
    /// does not implement accept none: they are refused whatever they carry.
    fn parameters(self) -> &'static [&'static str] {
        match self {
            Endpoint::InitiateMultipartUpload => &["uploads"],
            Endpoint::UploadPart | Endpoint::UploadPartCopy => &["uploadId", "partNumber"],
            Endpoint::FinishMultipartUpload => &["uploadId", "newKey"],
            Endpoint::AbortMultipartUpload => &["uploadId"],
            Endpoint::PrefixFileList => &["list", "prefix", "marker", "limit"],
            Endpoint::ListObjects => &["listobjects", "prefix", "marker", "max-keys", "delimiter"],
            Endpoint::ListParts => &["muploadpart", "uploadId", "max-parts", "part-number-marker"],
            Endpoint::GetMultiUploadId => &["muploadid", "prefix", "marker", "limit"],
            _ => &[],
        }
    }
}

impl endpoint::Endpoint for Endpoint {
    fn name(&self) -> &'static str {
        Endpoint::name(*self)
    }
}

impl Endpoint {
    /// The operation's name as UCloud's API documents and SDKs spell it.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::PutFile => "PutFile",
            Endpoint::Copy => "Copy",
            Endpoint::GetFile => "GetFile",
            Endpoint::HeadFile => "HeadFile",
            Endpoint::DeleteFile => "DeleteFile",
            Endpoint::InitiateMultipartUpload => "InitiateMultipartUpload",
            Endpoint::UploadPart => "UploadPart",
            Endpoint::FinishMultipartUpload => "FinishMultipartUpload",
            Endpoint::AbortMultipartUpload => "AbortMultipartUpload",
            Endpoint::PrefixFileList => "PrefixFileList",
            Endpoint::ListObjects => "ListObjects",
            Endpoint::ListParts => "ListParts",
            Endpoint::PostFile => "PostFile",
            Endpoint::UploadHit => "UploadHit",
            Endpoint::UploadPartCopy => "UploadPartCopy",
            Endpoint::GetMultiUploadId => "GetMultiUploadId",
            Endpoint::Rename => "Rename",
            Endpoint::OpMeta => "OpMeta",
            Endpoint::Restore => "Restore",
            Endpoint::ClassSwitch => "ClassSwitch",
            Endpoint::AppendFile => "AppendFile",
            Endpoint::PutObjectTagging => "PutObjectTagging",
            Endpoint::GetObjectTagging => "GetObjectTagging",
            Endpoint::DeleteObjectTagging => "DeleteObjectTagging",
            Endpoint::PutObjectAcl => "PutObjectAcl",
            Endpoint::GetObjectAcl => "GetObjectAcl",
            Endpoint::Unknown => "Unknown",
        }
    }
}

/// The coverage table rows, one per endpoint, in [`Endpoint::ALL`] order.
pub fn endpoint_docs() -> Vec<EndpointDoc> {
    Endpoint::ALL.iter().map(|e| e.doc()).collect()
}

/// A routed request: the endpoint, and the refusal to send instead of running it (an endpoint
/// ferry does not implement, or a query parameter the endpoint does not know).
#[derive(Debug)]
pub struct Routed {
    pub endpoint: Endpoint,
    pub refusal: Option<Us3Error>,
}

/// The error for a request ferry does not implement: US3's JSON body, HTTP 501.
pub fn not_implemented(message: impl Into<String>) -> Us3Error {
    Us3Error::new(StatusCode::NOT_IMPLEMENTED, NOT_IMPLEMENTED_RET_CODE, message)
}

/// Resolve a request. `key` is the decoded file name (empty for the bucket root). Pure: reads
/// nothing but its arguments, so it runs before authentication.
pub fn route(method: &Method, key: &str, query: &Query, headers: &HeaderMap) -> Routed {
    let endpoint = resolve(method, key, query, headers);
    let refusal = if !endpoint.implemented() {
        Some(not_implemented(match endpoint {
            Endpoint::Unknown => {
                format!("ferry does not implement this US3 request ({method} /{key} with {})", describe(query))
            }
            e => format!("ferry does not implement the US3 operation {}", e.name()),
        }))
    } else if let Some(name) = endpoint::first_unknown(query, endpoint.parameters(), |k| AUTH_PARAMETERS.contains(&k)) {
        Some(not_implemented(format!(
            "ferry does not implement the query parameter {name:?} of the US3 operation {}",
            endpoint.name()
        )))
    } else if endpoint == Endpoint::FinishMultipartUpload && query.get("newKey").is_some_and(|v| !v.is_empty()) {
        // US3 publishes under newKey only when the key is taken meanwhile; ferry would overwrite
        // the key instead, so the parameter is refused rather than silently ignored.
        Some(not_implemented("ferry does not implement newKey on FinishMultipartUpload; finish without it"))
    } else {
        None
    };
    Routed { endpoint, refusal }
}

fn describe(query: &Query) -> String {
    let names: Vec<&str> =
        query.pairs().iter().map(|(k, _)| k.as_str()).filter(|k| !AUTH_PARAMETERS.contains(k)).collect();
    if names.is_empty() { "no sub-resource".to_string() } else { format!("query {}", names.join("&")) }
}

fn resolve(method: &Method, key: &str, query: &Query, headers: &HeaderMap) -> Endpoint {
    let has = |name: &str| query.has(name);
    let copy_source = headers.contains_key("x-ufile-copy-source");
    if key.is_empty() {
        // The bucket root: listings, and the form upload (whose file name is a form field).
        return match *method {
            Method::GET if has("listobjects") => Endpoint::ListObjects,
            Method::GET if has("list") => Endpoint::PrefixFileList,
            Method::GET if has("muploadpart") => Endpoint::ListParts,
            Method::GET if has("muploadid") => Endpoint::GetMultiUploadId,
            Method::POST if query.pairs().iter().all(|(k, _)| AUTH_PARAMETERS.contains(&k.as_str())) => {
                Endpoint::PostFile
            }
            _ => Endpoint::Unknown,
        };
    }
    match *method {
        Method::PUT if has("uploadId") && copy_source => Endpoint::UploadPartCopy,
        Method::PUT if has("uploadId") => Endpoint::UploadPart,
        Method::PUT if has("restore") => Endpoint::Restore,
        Method::PUT if has("storageClass") => Endpoint::ClassSwitch,
        Method::PUT if has("newFileName") => Endpoint::Rename,
        Method::PUT if has("tagging") => Endpoint::PutObjectTagging,
        Method::PUT if has("acl") => Endpoint::PutObjectAcl,
        Method::PUT | Method::POST if has("append") => Endpoint::AppendFile,
        Method::PUT if copy_source => Endpoint::Copy,
        // Any other query key makes this a refused PutFile, never a write.
        Method::PUT => Endpoint::PutFile,
        Method::POST if has("uploads") => Endpoint::InitiateMultipartUpload,
        Method::POST if has("uploadId") => Endpoint::FinishMultipartUpload,
        Method::POST if has("opmeta") => Endpoint::OpMeta,
        Method::POST if key == "uploadhit" => Endpoint::UploadHit,
        Method::GET if has("tagging") => Endpoint::GetObjectTagging,
        Method::GET if has("acl") => Endpoint::GetObjectAcl,
        Method::GET => Endpoint::GetFile,
        Method::HEAD => Endpoint::HeadFile,
        Method::DELETE if has("uploadId") => Endpoint::AbortMultipartUpload,
        Method::DELETE if has("tagging") => Endpoint::DeleteObjectTagging,
        Method::DELETE => Endpoint::DeleteFile,
        _ => Endpoint::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(method: &str, key: &str, query: &str, copy: bool) -> Routed {
        let mut headers = HeaderMap::new();
        if copy {
            headers.insert("x-ufile-copy-source", http::HeaderValue::from_static("/b/src"));
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        route(&method, key, &Query::parse(Some(query)), &headers)
    }

    fn ok(method: &str, key: &str, query: &str) -> Endpoint {
        let r = routed(method, key, query, false);
        assert!(r.refusal.is_none(), "{method} /{key}?{query} was refused: {:?}", r.refusal);
        r.endpoint
    }

    fn refused(method: &str, key: &str, query: &str, copy: bool) -> (Endpoint, Us3Error) {
        let r = routed(method, key, query, copy);
        match r.refusal {
            Some(e) => (r.endpoint, e),
            None => panic!("{method} /{key}?{query} was routed to {:?} and not refused", r.endpoint),
        }
    }

    #[test]
    fn what_the_sdks_send_routinely_is_served() {
        assert_eq!(ok("PUT", "dir/a.txt", ""), Endpoint::PutFile);
        assert_eq!(ok("GET", "dir/a.txt", ""), Endpoint::GetFile);
        assert_eq!(ok("GET", "dir/a.txt", "UCloudPublicKey=k&Expires=1&Signature=s%2B%3D"), Endpoint::GetFile);
        assert_eq!(ok("HEAD", "dir/a.txt", "UCloudPublicKey=k&Expires=1&Signature=s"), Endpoint::HeadFile);
        assert_eq!(ok("DELETE", "dir/a.txt", ""), Endpoint::DeleteFile);
        assert_eq!(routed("PUT", "b.txt", "", true).endpoint, Endpoint::Copy);
        assert_eq!(ok("POST", "big.bin", "uploads"), Endpoint::InitiateMultipartUpload);
        assert_eq!(ok("PUT", "big.bin", "uploadId=u1&partNumber=0"), Endpoint::UploadPart);
        assert_eq!(ok("POST", "big.bin", "uploadId=u1"), Endpoint::FinishMultipartUpload);
        assert_eq!(ok("POST", "big.bin", "uploadId=u1&newKey="), Endpoint::FinishMultipartUpload);
        assert_eq!(ok("DELETE", "big.bin", "uploadId=u1"), Endpoint::AbortMultipartUpload);
        assert_eq!(ok("GET", "", "list&prefix=dir%2F&marker=&limit=20"), Endpoint::PrefixFileList);
        assert_eq!(ok("GET", "", "listobjects&prefix=&marker=&max-keys=100&delimiter=%2F"), Endpoint::ListObjects);
        assert_eq!(ok("GET", "", "muploadpart&uploadId=u1&max-parts=10&part-number-marker=2"), Endpoint::ListParts);
        assert_eq!(ok("GET", "", "muploadid&prefix=big&marker=&limit=20"), Endpoint::GetMultiUploadId);
        let copy = routed("PUT", "big.bin", "uploadId=u1&partNumber=1", true);
        assert!(copy.refusal.is_none());
        assert_eq!(copy.endpoint, Endpoint::UploadPartCopy, "a copied part is never an empty UploadPart");
    }

    #[test]
    fn writes_with_a_sub_resource_never_become_a_put_or_delete() {
        let cases = [
            ("PUT", "a", "restore", false, Endpoint::Restore),
            ("PUT", "a", "storageClass=IA", false, Endpoint::ClassSwitch),
            ("PUT", "a", "newFileName=b&force=true", false, Endpoint::Rename),
            ("PUT", "a", "tagging", false, Endpoint::PutObjectTagging),
            ("PUT", "a", "acl", false, Endpoint::PutObjectAcl),
            ("PUT", "a", "append&position=0", false, Endpoint::AppendFile),
            ("POST", "a", "append&position=0", false, Endpoint::AppendFile),
            ("POST", "a", "opmeta", false, Endpoint::OpMeta),
            ("POST", "uploadhit", "Hash=h&FileName=a&FileSize=1", false, Endpoint::UploadHit),
            ("DELETE", "a", "tagging", false, Endpoint::DeleteObjectTagging),
            ("GET", "a", "tagging", false, Endpoint::GetObjectTagging),
            ("GET", "a", "acl", false, Endpoint::GetObjectAcl),
            ("POST", "", "", false, Endpoint::PostFile),
        ];
        for (method, key, query, copy, want) in cases {
            let (endpoint, error) = refused(method, key, query, copy);
            assert_eq!(endpoint, want, "{method} /{key}?{query}");
            assert_eq!(error.status, StatusCode::NOT_IMPLEMENTED);
            assert_eq!(error.ret_code, NOT_IMPLEMENTED_RET_CODE);
            assert!(error.message.contains(want.name()), "{}", error.message);
        }
    }

    #[test]
    fn unknown_query_keys_are_refused_on_the_matched_operation() {
        for (method, key, query, want) in [
            ("PUT", "a", "foo", Endpoint::PutFile),
            ("PUT", "a", "uploads", Endpoint::PutFile),
            ("PUT", "a", "partNumber=1", Endpoint::PutFile),
            ("DELETE", "a", "opmeta", Endpoint::DeleteFile),
            ("DELETE", "a", "uploads", Endpoint::DeleteFile),
            ("GET", "a", "iopcmd=thumbnail", Endpoint::GetFile),
            ("GET", "a", "list", Endpoint::GetFile),
            ("HEAD", "a", "restore", Endpoint::HeadFile),
            ("PUT", "a", "uploadId=u&partNumber=0&restore", Endpoint::UploadPart),
            ("GET", "", "muploadid&uploads", Endpoint::GetMultiUploadId),
            ("POST", "a", "uploads&opmeta", Endpoint::InitiateMultipartUpload),
            ("POST", "a", "uploadId=u&newKey=other", Endpoint::FinishMultipartUpload),
            ("GET", "", "list&max-keys=3", Endpoint::PrefixFileList),
        ] {
            let (endpoint, error) = refused(method, key, query, false);
            assert_eq!(endpoint, want, "{method} /{key}?{query}");
            assert_eq!(error.status, StatusCode::NOT_IMPLEMENTED);
            assert!(error.message.contains(want.name()), "{}", error.message);
        }
    }

    #[test]
    fn requests_the_table_does_not_know_are_refused() {
        for (method, key, query) in [
            ("POST", "a", ""),
            ("POST", "a", "foo"),
            ("PATCH", "a", ""),
            ("OPTIONS", "a", ""),
            ("PUT", "", ""),
            ("DELETE", "", ""),
            ("GET", "", ""),
            ("HEAD", "", ""),
            ("POST", "", "delete"),
        ] {
            let (endpoint, error) = refused(method, key, query, false);
            assert_eq!(endpoint, Endpoint::Unknown, "{method} /{key}?{query}");
            assert_eq!(error.ret_code, NOT_IMPLEMENTED_RET_CODE);
        }
    }

    #[test]
    fn the_table_lists_every_endpoint_once() {
        // Adding a variant without a row fails to compile here (exhaustive match) or below.
        for e in Endpoint::ALL {
            match e {
                Endpoint::PutFile
                | Endpoint::Copy
                | Endpoint::GetFile
                | Endpoint::HeadFile
                | Endpoint::DeleteFile
                | Endpoint::InitiateMultipartUpload
                | Endpoint::UploadPart
                | Endpoint::FinishMultipartUpload
                | Endpoint::AbortMultipartUpload
                | Endpoint::PrefixFileList
                | Endpoint::ListObjects
                | Endpoint::ListParts
                | Endpoint::PostFile
                | Endpoint::UploadHit
                | Endpoint::UploadPartCopy
                | Endpoint::GetMultiUploadId
                | Endpoint::Rename
                | Endpoint::OpMeta
                | Endpoint::Restore
                | Endpoint::ClassSwitch
                | Endpoint::AppendFile
                | Endpoint::PutObjectTagging
                | Endpoint::GetObjectTagging
                | Endpoint::DeleteObjectTagging
                | Endpoint::PutObjectAcl
                | Endpoint::GetObjectAcl
                | Endpoint::Unknown => {}
            }
        }
        let names: std::collections::HashSet<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), Endpoint::ALL.len());
        assert_eq!(names.len(), 27);
    }

    #[test]
    fn the_coverage_document_matches_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/us3-coverage.md");
        let document = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(e) = endpoint::check_coverage_doc(&document, &endpoint_docs()) {
            panic!("{}: {e}", path.display());
        }
    }
}
