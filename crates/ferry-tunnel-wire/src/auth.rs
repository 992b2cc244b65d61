//! The ODPS request signature (v2) that pyodps sends for the control plane and the tunnel:
//! `Authorization: ODPS <access id>:<base64 HMAC-SHA1(secret, canonical string)>`.
//!
//! The canonical string is, one per line: the method; `Content-MD5` and `Content-Type` (empty
//! when absent); `Date`; every `x-odps-*` header (and query parameter) as `name:value`, sorted by
//! name; and the resource — the request path *relative to the endpoint the client was configured
//! with*, percent-decoded, with the query parameters sorted by name (`k=v`, a bare `k` when the
//! value is empty). The decoding mirrors pyodps exactly (the whole URL is decoded once, then the
//! query is split as Python's `parse_qsl` does), since the signature is over its result.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha1::Sha1;

/// How far a request's signed `Date` may be from the server's clock, in milliseconds (MaxCompute
/// allows 15 minutes). The signature covers the Date, so a captured request can be replayed only
/// within this window.
pub const MAX_SKEW_MILLIS: i64 = 15 * 60 * 1000;

/// Whether a request signed with a `Date` of `date` is fresh at `now` (both in milliseconds
/// since the epoch).
pub fn is_fresh(date: i64, now: i64) -> bool {
    now.abs_diff(date) <= MAX_SKEW_MILLIS.unsigned_abs()
}

/// The access id and signature of an `Authorization: ODPS id:signature` header.
pub fn parse_authorization(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix("ODPS ")?;
    let (id, signature) = rest.rsplit_once(':')?;
    // A v4 credential is `id/date/region/odps/aliyun_v4_request`; only v2 is spoken here.
    if id.is_empty() || id.contains('/') || signature.is_empty() {
        return None;
    }
    Some((id, signature))
}

/// The canonical string of a request. `relative_target` is the request target (path and query,
/// as sent, still percent-encoded) with the endpoint's path prefix removed.
pub fn canonical_string(method: &str, headers: &http::HeaderMap, relative_target: &str) -> String {
    let decoded = percent_decode_str(relative_target).decode_utf8_lossy();
    let (path, query) = decoded.split_once('?').unwrap_or((&decoded, ""));
    // parse_qsl(keep_blank_values=True) into a dict: later duplicates win.
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(unquote_plus(k), unquote_plus(v));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut signed: BTreeMap<String, String> = BTreeMap::new();
    signed.insert("content-md5".into(), header("content-md5"));
    signed.insert("content-type".into(), header("content-type"));
    signed.insert("date".into(), header("date"));
    for (name, value) in headers {
        if name.as_str().starts_with("x-odps-") {
            signed.insert(name.as_str().to_string(), value.to_str().unwrap_or("").to_string());
        }
    }
    for (k, v) in &params {
        if k.starts_with("x-odps-") {
            signed.insert(k.clone(), v.clone());
        }
    }
    let mut lines = vec![method.to_string()];
    for (k, v) in signed {
        lines.push(if k.starts_with("x-odps-") { format!("{k}:{v}") } else { v });
    }
    let mut resource = path.to_string();
    if !query.is_empty() {
        let sorted: Vec<String> =
            params.iter().map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") }).collect();
        resource.push('?');
        resource.push_str(&sorted.join("&"));
    }
    lines.push(resource);
    lines.join("\n")
}

/// Python's `unquote_plus`: `+` is a space, then percent-decoding.
fn unquote_plus(s: &str) -> String {
    percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// The base64 HMAC-SHA1 signature of `canonical` with `secret`.
pub fn sign(secret: &str, canonical: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(canonical.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    /// Signatures computed by pyodps 0.13.2's own `CloudAccount.sign_request` (access id
    /// `ferryid`, secret `ferrysecret`).
    #[test]
    fn matches_pyodps_signatures() {
        let ua = ("x-odps-user-agent", "pyodps/0.13.2 CPython/3.11.7");
        let cases = [
            (
                "GET",
                "/projects/p1/tables/t1?curr_project=p1",
                headers(&[("date", "Mon, 23 Nov 2026 17:51:12 GMT"), ua]),
                "8OIpcqJsuUBsQHy2f0vifZwsZEY=",
            ),
            (
                "PUT",
                "/tunnel/projects/p1/tables/t%201?uploadid=ABC&blockid=0&partition=pt%3Dp1%2Cds%3D2&curr_project=p1",
                headers(&[
                    ("date", "Mon, 23 Nov 2026 17:51:13 GMT"),
                    ("content-type", "application/octet-stream"),
                    ("x-odps-tunnel-version", "6"),
                    ua,
                ]),
                "BCKST2ossyme5UNov0tjCOhyhCY=",
            ),
            (
                "POST",
                "/tunnel/projects/p1/tables/t1?downloads&asyncmode=true&curr_project=p1",
                headers(&[("date", "Mon, 23 Nov 2026 17:51:14 GMT"), ("x-odps-tunnel-version", "6"), ua]),
                "Ct+eIE9AC0KZnbQTIrIQ/Wpc+DU=",
            ),
        ];
        for (method, target, headers, expected) in cases {
            assert_eq!(sign("ferrysecret", &canonical_string(method, &headers, target)), expected, "{target}");
        }
        assert_eq!(
            canonical_string("PUT", &cases_headers(), "/tunnel/projects/p1/tables/t%201?uploadid=ABC&blockid=0"),
            "PUT\n\napplication/octet-stream\nMon, 23 Nov 2026 17:51:13 GMT\n/tunnel/projects/p1/tables/t 1?blockid=0&uploadid=ABC"
        );
    }

    fn cases_headers() -> http::HeaderMap {
        headers(&[("date", "Mon, 23 Nov 2026 17:51:13 GMT"), ("content-type", "application/octet-stream")])
    }

    #[test]
    fn dates_within_fifteen_minutes_are_fresh() {
        let now = 1_800_000_000_000;
        assert!(is_fresh(now, now));
        assert!(is_fresh(now - MAX_SKEW_MILLIS, now));
        assert!(is_fresh(now + MAX_SKEW_MILLIS, now));
        assert!(!is_fresh(now - MAX_SKEW_MILLIS - 1, now));
        assert!(!is_fresh(now + MAX_SKEW_MILLIS + 1, now));
        assert!(!is_fresh(0, now));
    }

    #[test]
    fn authorization_headers_parse() {
        assert_eq!(parse_authorization("ODPS id:c2ln"), Some(("id", "c2ln")));
        assert_eq!(parse_authorization("ODPS id/20261123/cn/odps/aliyun_v4_request:c2ln"), None);
        assert_eq!(parse_authorization("AWS id:sig"), None);
        assert_eq!(parse_authorization("ODPS :sig"), None);
    }
}
