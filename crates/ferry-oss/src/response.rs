//! Building OSS responses.

use ferry_core::ObjectRecord;
use ferry_http::Response;
pub use ferry_http::response::{set, set_read_span, status_only, xml};

/// ISO 8601 with the milliseconds written as `.000`: oss2 parses dates with that literal suffix.
pub fn iso8601(millis: ferry_core::Millis) -> String {
    ferry_http::dates::iso8601(millis - millis.rem_euclid(1000))
}

/// OSS writes ETags as quoted upper-case hex (`"5EB6…-3"` for multipart).
pub fn etag(etag: &str) -> String {
    format!("\"{}\"", etag.to_ascii_uppercase())
}

/// Headers every object response carries: type, ETag, CRC-64, dates, content headers, metadata
/// (the read's status and length come from [`set_read_span`]).
pub fn object_headers(r: &mut Response, object: &ObjectRecord) {
    ferry_http::content_headers(r, &object.meta, "application/octet-stream", "x-oss-meta-");
    ferry_http::response::set_validators(r, &etag(&object.etag), object.modified);
    set(r, "x-oss-object-type", if object.etag.contains('-') { "Multipart" } else { "Normal" });
    set(r, "x-oss-hash-crc64ecma", object.crc.crc64xz.to_string());
    set(r, "x-oss-storage-class", "Standard");
}
