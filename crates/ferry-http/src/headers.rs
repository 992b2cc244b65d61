//! Object headers shared by the dialects that carry them the same way.

use ferry_core::ObjectMeta;
use http::{HeaderName, HeaderValue};

use crate::{Query, Response};

/// Content-Type (or `default_type`), the other content headers, and user metadata as
/// `<meta_prefix><name>` headers.
pub fn content_headers(r: &mut Response, meta: &ObjectMeta, default_type: &'static str, meta_prefix: &str) {
    let content_type = meta.content_type.as_deref().unwrap_or(default_type);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    for (name, value) in [
        (http::header::CONTENT_ENCODING, &meta.content_encoding),
        (http::header::CONTENT_DISPOSITION, &meta.content_disposition),
        (http::header::CONTENT_LANGUAGE, &meta.content_language),
        (http::header::CACHE_CONTROL, &meta.cache_control),
        (http::header::EXPIRES, &meta.expires),
    ] {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            r.headers_mut().insert(name, v);
        }
    }
    for (name, value) in &meta.user {
        if let (Ok(n), Ok(v)) =
            (HeaderName::from_bytes(format!("{meta_prefix}{name}").as_bytes()), HeaderValue::from_str(value))
        {
            r.headers_mut().append(n, v);
        }
    }
}

/// GetObject's `response-*` query overrides (S3 and OSS alike): each named header of the answer
/// takes the parameter's value. Values that are not valid header text are skipped.
pub fn response_overrides(r: &mut Response, query: &Query) {
    for (param, name) in [
        ("response-content-type", http::header::CONTENT_TYPE),
        ("response-content-language", http::header::CONTENT_LANGUAGE),
        ("response-expires", http::header::EXPIRES),
        ("response-cache-control", http::header::CACHE_CONTROL),
        ("response-content-disposition", http::header::CONTENT_DISPOSITION),
        ("response-content-encoding", http::header::CONTENT_ENCODING),
    ] {
        if let Some(v) = query.get(param).and_then(|v| HeaderValue::from_str(v).ok()) {
            r.headers_mut().insert(name, v);
        }
    }
}
