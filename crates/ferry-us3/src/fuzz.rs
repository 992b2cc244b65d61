//! Entry point for the US3 signature fuzz target in `fuzz/` and for the test that replays its
//! corpus: arbitrary bytes in, no panic out. Not part of ferry's API.

use ferry_http::Query;

/// US3 request heads (see `ferry_http::fuzz::request_parts` for the text form): the file name,
/// routing, and `Authorization: UCloud …` / private-URL signature verification. The bucket is
/// the Host's first label, as under a `--us3-domain`.
pub fn auth(data: &[u8]) {
    let Some(parts) = ferry_http::fuzz::request_parts(data) else { return };
    let _ = crate::auth::is_us3_signed(&parts);
    let query = Query::parse(parts.uri.query());
    let Ok(key) = crate::decode_key(&parts) else { return };
    let _ = crate::router::route(&parts.method, &key, &query, &parts.headers);
    let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let bucket = host.split('.').next().unwrap_or("");
    let _ = crate::auth::authenticate(&parts, &query, bucket, &key, &ferry_http::fuzz::credentials(), None);
}
