//! Building responses, the same way in every dialect: XML and JSON bodies, status-only answers,
//! header setting that never panics, ETags and the headers of an object read.

use ferry_core::Millis;
use http::{HeaderName, HeaderValue, StatusCode, header};

use crate::dates::http_date;
use crate::{Response, empty, full};

/// An XML document with `Content-Type: application/xml`.
pub fn xml(status: StatusCode, body: String) -> Response {
    with_type(status, body, "application/xml")
}

/// A JSON document with `Content-Type: application/json` exactly (US3's SDK parses error bodies
/// only with that type).
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    with_type(status, value.to_string(), "application/json")
}

fn with_type(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An empty answer with `status`.
pub fn status_only(status: StatusCode) -> Response {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// 204 No Content.
pub fn no_content() -> Response {
    status_only(StatusCode::NO_CONTENT)
}

/// Set a header from text. A value that is not valid header text is skipped: the answer is still
/// given, without it, rather than failing the request.
pub fn set(r: &mut Response, name: impl TryInto<HeaderName>, value: impl AsRef<str>) {
    if let (Ok(name), Ok(v)) = (name.try_into(), HeaderValue::from_str(value.as_ref())) {
        r.headers_mut().insert(name, v);
    }
}

/// An ETag as HTTP writes it: in double quotes.
pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// `ETag` (already in the dialect's form, quotes included) and `Last-Modified`: what a client
/// validates a cached or resumed object against.
pub fn set_validators(r: &mut Response, etag: &str, modified: Millis) {
    set(r, header::ETAG, etag);
    set(r, header::LAST_MODIFIED, http_date(modified));
}

/// The status and length headers of an object read: `206 Partial Content` with `Content-Range`
/// when `span` (first, last byte) was asked for, `200 OK` for the whole `size` bytes otherwise;
/// `Accept-Ranges: bytes` either way.
pub fn set_read_span(r: &mut Response, size: u64, span: Option<(u64, u64)>) {
    let (status, length) = match span {
        Some((first, last)) => (StatusCode::PARTIAL_CONTENT, last - first + 1),
        None => (StatusCode::OK, size),
    };
    *r.status_mut() = status;
    set(r, header::CONTENT_LENGTH, length.to_string());
    set(r, header::ACCEPT_RANGES, "bytes");
    if let Some((first, last)) = span {
        set(r, header::CONTENT_RANGE, format!("bytes {first}-{last}/{size}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_span_headers() {
        let mut r = status_only(StatusCode::OK);
        set_read_span(&mut r, 10, Some((2, 5)));
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()["content-length"], "4");
        assert_eq!(r.headers()["content-range"], "bytes 2-5/10");
        let mut r = status_only(StatusCode::OK);
        set_read_span(&mut r, 10, None);
        assert_eq!((r.status(), r.headers().get("content-range")), (StatusCode::OK, None));
        assert_eq!(r.headers()["content-length"], "10");
    }

    #[test]
    fn invalid_header_text_is_skipped() {
        let mut r = no_content();
        set(&mut r, "x-test", "a\nb");
        set(&mut r, "etag", quoted("abc"));
        assert!(r.headers().get("x-test").is_none());
        assert_eq!(r.headers()["etag"], "\"abc\"");
    }

    #[test]
    fn typed_bodies() {
        let r = json(StatusCode::BAD_REQUEST, &serde_json::json!({"RetCode": -1}));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(xml(StatusCode::OK, String::new()).headers()["content-type"], "application/xml");
    }
}
