//! Building OSS responses.

use ferry_core::{ObjectMeta, ObjectRecord};
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

fn append(r: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
        r.headers_mut().append(n, v);
    }
}

/// OSS writes ETags as quoted upper-case hex (`"5EB6…-3"` for multipart).
pub fn etag(etag: &str) -> String {
    format!("\"{}\"", etag.to_ascii_uppercase())
}

/// Headers every object response carries: type, ETag, CRC-64, dates, content headers, metadata.
pub fn object_headers(r: &mut Response, object: &ObjectRecord) {
    let meta: &ObjectMeta = &object.meta;
    set(r, "content-type", meta.content_type.as_deref().unwrap_or("application/octet-stream"));
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
        append(r, &format!("x-oss-meta-{name}"), value);
    }
    set(r, "etag", etag(&object.etag));
    set(r, "last-modified", http_date(object.modified));
    set(r, "x-oss-object-type", if object.etag.contains('-') { "Multipart" } else { "Normal" });
    set(r, "x-oss-hash-crc64ecma", object.crc.crc64xz.to_string());
    set(r, "x-oss-storage-class", "Standard");
    set(r, "accept-ranges", "bytes");
}
