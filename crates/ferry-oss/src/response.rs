//! Building OSS responses.

use ferry_core::ObjectRecord;
use ferry_http::Response;
use ferry_http::dates::http_date;
use http::{HeaderValue, StatusCode, header};

/// ISO 8601 with the milliseconds written as `.000`: oss2 parses dates with that literal suffix.
pub fn iso8601(millis: ferry_core::Millis) -> String {
    ferry_http::dates::iso8601(millis - millis.rem_euclid(1000))
}

pub fn xml(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(ferry_http::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

pub fn status_only(status: StatusCode) -> Response {
    let mut r = Response::new(ferry_http::empty());
    *r.status_mut() = status;
    r
}

pub fn set(r: &mut Response, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
        r.headers_mut().insert(name, v);
    }
}

/// OSS writes ETags as quoted upper-case hex (`"5EB6…-3"` for multipart).
pub fn etag(etag: &str) -> String {
    format!("\"{}\"", etag.to_ascii_uppercase())
}

/// Headers every object response carries: type, ETag, CRC-64, dates, content headers, metadata.
pub fn object_headers(r: &mut Response, object: &ObjectRecord) {
    ferry_http::content_headers(r, &object.meta, "application/octet-stream", "x-oss-meta-");
    set(r, "etag", etag(&object.etag));
    set(r, "last-modified", http_date(object.modified));
    set(r, "x-oss-object-type", if object.etag.contains('-') { "Multipart" } else { "Normal" });
    set(r, "x-oss-hash-crc64ecma", object.crc.crc64xz.to_string());
    set(r, "x-oss-storage-class", "Standard");
    set(r, "accept-ranges", "bytes");
}
