//! Entry points for the fuzz targets in `fuzz/` and for the tests that replay their corpora:
//! each takes arbitrary bytes, feeds them to the parsers that read the network, and must
//! return without panicking whatever the bytes are. Not part of ferry's API.

use crate::{Query, dates, range, xml};

/// XML request bodies of every dialect: CompleteMultipartUpload, Delete (S3's entries and
/// OSS's keys), CreateBucketConfiguration, S3 ACL grants, and the Tunnel instance's SQL.
pub fn xml(data: &[u8]) {
    let _ = xml::parse_complete(data);
    let _ = xml::parse_delete_entries(data);
    let _ = xml::parse_delete(data);
    let _ = xml::check_create_bucket(data);
    let _ = xml::element_text(data, &["Instance", "Job", "Tasks", "SQL", "Query"]);
    let grants = ["AccessControlPolicy", "AccessControlList", "Grant"];
    let _ = xml::element_texts(data, &[grants[0], grants[1], grants[2], "Permission"]);
    let _ = xml::element_texts(data, &[grants[0], grants[1], grants[2], "Grantee", "ID"]);
}

/// Header and query fields every front-end reads: `Range` (and its resolution against an
/// object size taken from the first 8 bytes), query strings, HTTP dates and `response-*`
/// overrides. The text after the first 8 bytes is the field.
pub fn http_fields(data: &[u8]) {
    let (size, text) = match data.split_first_chunk::<8>() {
        Some((size, rest)) => (u64::from_le_bytes(*size), String::from_utf8_lossy(rest)),
        None => (0, String::from_utf8_lossy(data)),
    };
    if let Some(spec) = range::parse_range(&text) {
        let _ = ferry_core::resolve_range(spec, size);
    }
    let _ = dates::parse_http_date(&text);
    let query = Query::parse(Some(&text));
    let _ = query.signed_subresources(&["acl", "uploads", "partNumber", "uploadId", "response-content-type"]);
    let mut response = http::Response::new(crate::empty());
    crate::response_overrides(&mut response, &query);
    if let Ok(uri) = text.parse::<http::Uri>() {
        let _ = Query::parse(uri.query());
    }
}

/// The one key pair the fuzz requests are signed with: `AKIDFUZZ` / `fuzzsecret`.
pub fn credentials() -> ferry_core::credentials::CredentialStore {
    ferry_core::credentials::CredentialStore::new(vec![ferry_core::credentials::Credentials {
        access_key_id: "AKIDFUZZ".into(),
        secret_access_key: "fuzzsecret".into(),
    }])
}

/// Build request head from fuzz text, for the signature parsers of every dialect:
///
/// ```text
/// METHOD /path?query
/// Name: value
/// …
/// ```
///
/// The tokens `@AMZDATE@` (`20260102T030405Z`), `@DATE8@` (`20260102`), `@HTTPDATE@` and
/// `@EPOCH@` (seconds) are replaced by the current time, so seeds stay within every dialect's
/// clock-skew window and the fuzzer reaches the code past it. `None` when the text does not
/// make a request `http` accepts (hyper would have refused it before any front-end).
pub fn request_parts(data: &[u8]) -> Option<http::request::Parts> {
    let text = std::str::from_utf8(data).ok()?;
    let text = with_current_time(text);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let (method, target) = lines.next()?.split_once(' ')?;
    let mut builder = http::Request::builder().method(method).uri(target);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    builder.body(()).ok().map(|r| r.into_parts().0)
}

fn with_current_time(text: &str) -> String {
    if !text.contains('@') {
        return text.to_string();
    }
    let now = ferry_core::now_millis();
    let amz = dates::iso8601(now);
    // `2026-01-02T03:04:05.000Z` → `20260102T030405Z`
    let amz_date: String = amz.chars().filter(|c| c.is_ascii_digit() || *c == 'T').take(15).collect::<String>() + "Z";
    text.replace("@AMZDATE@", &amz_date)
        .replace("@DATE8@", &amz_date[..8.min(amz_date.len())])
        .replace("@HTTPDATE@", &dates::http_date(now))
        .replace("@EPOCH@", &(now / 1000).to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_text_becomes_parts_with_the_current_time() {
        let parts = request_parts(b"PUT /b/k?uploads HTTP\r\nx-amz-date: @AMZDATE@\r\nHost: h\r\n").is_none();
        assert!(parts, "a request line with a space in the target is refused");
        let parts = request_parts(b"PUT /b/k?uploads\r\nx-amz-date: @AMZDATE@\r\nDate: @HTTPDATE@\r\n").unwrap();
        assert_eq!(parts.method, http::Method::PUT);
        assert_eq!(parts.uri.query(), Some("uploads"));
        let amz = parts.headers["x-amz-date"].to_str().unwrap();
        assert_eq!(amz.len(), 16, "{amz}");
        assert!(amz.ends_with('Z') && amz.as_bytes()[8] == b'T', "{amz}");
        let date = parts.headers["date"].to_str().unwrap();
        assert!(dates::parse_http_date(date).is_some(), "{date}");
    }
}
