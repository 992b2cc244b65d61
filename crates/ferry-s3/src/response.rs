//! Building S3 responses: XML bodies, dates, ETags, object headers.

use ferry_core::{Millis, ObjectMeta};
use ferry_http::{Response, empty, full};
use http::{HeaderValue, StatusCode, header};
use time::OffsetDateTime;
use time::macros::format_description;

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

/// Add a header that may repeat (user metadata).
pub fn append(r: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
        r.headers_mut().append(n, v);
    }
}

pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

fn datetime(millis: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-23T17:49:07.000Z`, as S3 XML dates are written.
pub fn iso8601(millis: Millis) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    datetime(millis).format(&fmt).unwrap_or_default()
}

/// `Mon, 23 Nov 2026 17:49:07 GMT`, as HTTP dates are written.
pub fn http_date(millis: Millis) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64))
}

/// Content headers and user metadata of an object.
pub fn object_meta_headers(r: &mut Response, meta: &ObjectMeta) {
    set(r, "content-type", meta.content_type.as_deref().unwrap_or("binary/octet-stream"));
    for (name, value) in [
        ("content-encoding", &meta.content_encoding),
        ("content-disposition", &meta.content_disposition),
        ("content-language", &meta.content_language),
        ("cache-control", &meta.cache_control),
        ("expires", &meta.expires),
    ] {
        if let Some(v) = value {
            set(r, name, v);
        }
    }
    for (name, value) in &meta.user {
        append(r, &format!("x-amz-meta-{name}"), value);
    }
}
