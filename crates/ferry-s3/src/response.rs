//! Building S3 responses: XML bodies, dates, ETags, object headers.

use ferry_core::ObjectMeta;
use ferry_http::{Response, empty, full};
use http::{HeaderValue, StatusCode, header};

use crate::error::S3Error;
use ferry_http::xml::XmlWriter;

pub fn xml(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

pub fn no_content() -> Response {
    status_only(StatusCode::NO_CONTENT)
}

pub fn status_only(status: StatusCode) -> Response {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// The S3 error document; HEAD responses carry the status only.
pub fn error(e: &S3Error, resource: &str, request_id: &str, head: bool) -> Response {
    if head {
        return status_only(e.status);
    }
    let mut w = XmlWriter::plain("Error");
    w.elem("Code", e.code).elem("Message", &e.message).elem("Resource", resource).elem("RequestId", request_id);
    xml(e.status, w.finish("Error"))
}

/// Set a header from text, skipping values that are not valid header text.
pub fn set(r: &mut Response, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
        r.headers_mut().insert(name, v);
    }
}

pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

pub use ferry_http::dates::{http_date, iso8601};

/// Content headers and user metadata of an object.
pub fn object_meta_headers(r: &mut Response, meta: &ObjectMeta) {
    ferry_http::content_headers(r, meta, "binary/octet-stream", "x-amz-meta-");
}

/// The owner ferry reports for every bucket, object and upload (one account owns everything).
pub const OWNER_ID: &str = "ferry";

/// `<element><ID>ferry</ID><DisplayName>ferry</DisplayName></element>`.
pub fn write_owner(w: &mut XmlWriter, element: &str) {
    w.open(element).elem("ID", OWNER_ID).elem("DisplayName", OWNER_ID).close(element);
}
