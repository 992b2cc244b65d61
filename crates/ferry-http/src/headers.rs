//! Object headers shared by the dialects that carry them the same way.

use ferry_core::{ObjectMeta, SourceConditions};
use http::{HeaderMap, HeaderName, HeaderValue};

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

/// A copy's conditions on its source, from `<prefix>match`, `<prefix>none-match`,
/// `<prefix>modified-since` and `<prefix>unmodified-since` (S3: `x-amz-copy-source-if-`, OSS:
/// `x-oss-copy-source-if-`). A date that does not parse is ignored, as S3 and OSS do.
pub fn source_conditions(headers: &HeaderMap, prefix: &str) -> SourceConditions {
    let text = |name: &str| headers.get(format!("{prefix}{name}")).and_then(|v| v.to_str().ok());
    let date = |name: &str| text(name).and_then(crate::dates::parse_http_date).filter(|millis| *millis >= 0);
    SourceConditions {
        if_match: text("match").map(str::to_string),
        if_none_match: text("none-match").map(str::to_string),
        if_modified_since: date("modified-since"),
        if_unmodified_since: date("unmodified-since"),
    }
}
