//! UCloud signatures: `Authorization: UCloud <public key>:<base64 HMAC-SHA1>` and the
//! `UCloudPublicKey`/`Expires`/`Signature` query form of private download URLs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::access::Principal;
use ferry_core::credentials::{AuthError, CredentialStore};
use ferry_http::Query;
use hmac::{Hmac, Mac};
use http::request::Parts;
use sha1::Sha1;
use std::time::Duration;

use crate::error::{Us3Error, Us3Result};

pub fn is_us3_signed(parts: &Parts) -> bool {
    let auth = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    auth.starts_with("UCloud ") || parts.uri.query().unwrap_or("").contains("UCloudPublicKey=")
}

fn header<'a>(parts: &'a Parts, name: &str) -> &'a str {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Verify the signature over `/bucket/key`. `listobjects` requests also sign their parameters.
/// With `max_age`, a header signature must also sign a `Date` within that long of now.
pub fn authenticate(
    parts: &Parts,
    query: &Query,
    bucket: &str,
    key: &str,
    creds: &CredentialStore,
    max_age: Option<Duration>,
) -> Us3Result<Principal> {
    let authorization = header(parts, "authorization");
    let (public_key, signature, date_line) = if let Some(rest) = authorization.strip_prefix("UCloud ") {
        let (pk, sig) = rest.split_once(':').ok_or_else(|| Us3Error::unauthorized("invalid Authorization header"))?;
        let date = header(parts, "date");
        if let Some(window) = max_age {
            check_freshness(date, window)?;
        }
        (pk, sig, date.to_string())
    } else if let Some(pk) = query.get("UCloudPublicKey") {
        let expires = query.get("Expires").unwrap_or("");
        let at: u64 = expires.parse().map_err(|_| Us3Error::unauthorized("Expires must be a number of seconds"))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if now > at {
            return Err(Us3Error::unauthorized("the URL has expired"));
        }
        (pk, query.get("Signature").unwrap_or(""), expires.to_string())
    } else {
        return Err(Us3Error::unauthorized("no Authorization header; sign requests with your UCloud key pair"));
    };
    let resolved = creds.resolve(public_key, None).map_err(|e| match e {
        AuthError::Disabled => Us3Error::unauthorized("the public key is disabled"),
        _ => Us3Error::unauthorized("the public key does not exist"),
    })?;
    let secret = resolved.secret.as_str();
    let sts = string_to_sign(parts, query, bucket, key, &date_line);
    // The query form can carry a raw '+' that decoding turned into ' '.
    let given = B64.decode(signature.trim().replace(' ', "+")).unwrap_or_default();
    hmac_sha1(secret, &sts)?.verify_slice(&given).map_err(|_| {
        tracing::debug!(string_to_sign = sts, "UCloud signature mismatch");
        Us3Error::unauthorized("signature mismatch")
    })?;
    Ok(resolved.principal)
}

/// Method, Content-MD5, Content-Type, the date line (`Date`, or `Expires` of a URL) and
/// `/bucket/key`; `listobjects` requests also sign their parameters.
fn string_to_sign(parts: &Parts, query: &Query, bucket: &str, key: &str, date_line: &str) -> String {
    let resource = format!("/{bucket}/{key}");
    let mut sts = format!(
        "{}\n{}\n{}\n{}\n{}",
        parts.method,
        header(parts, "content-md5"),
        header(parts, "content-type"),
        date_line,
        resource
    );
    if query.has("listobjects") {
        for name in ["delimiter", "marker", "max-keys", "prefix"] {
            sts.push_str(&format!("\n{name}:{}", query.get(name).unwrap_or("")));
        }
        sts = sts.replacen(&resource, &format!("{resource}\nlistobjects"), 1);
    }
    sts
}

fn hmac_sha1(secret: &str, data: &str) -> Us3Result<Hmac<Sha1>> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|_| Us3Error::unauthorized("bad key"))?;
    mac.update(data.as_bytes());
    Ok(mac)
}

/// The `Authorization` header value (`UCloud <public key>:<signature>`) of a request for
/// `bucket`/`key`, computed exactly as ferry verifies it: what the UFile SDK sends. The request
/// must carry its `Date`, `Content-Type` and `Content-MD5` (if any) already. For tests and tools.
pub fn sign(parts: &Parts, bucket: &str, key: &str, public_key: &str, secret: &str) -> Us3Result<String> {
    let query = Query::parse(parts.uri.query());
    let sts = string_to_sign(parts, &query, bucket, key, header(parts, "date"));
    Ok(format!("UCloud {public_key}:{}", B64.encode(hmac_sha1(secret, &sts)?.finalize().into_bytes())))
}

/// The opt-in replay limit: the signed `Date` must be within `window` of the server's clock.
fn check_freshness(date: &str, window: Duration) -> Us3Result<()> {
    if date.is_empty() {
        return Err(Us3Error::unauthorized(
            "this server requires a signed Date header on US3 requests (--us3-max-request-age)",
        ));
    }
    let at = ferry_http::dates::parse_http_date(date)
        .ok_or_else(|| Us3Error::unauthorized(format!("the Date header {date:?} is not an HTTP date")))?;
    let skew = ferry_core::now_millis().abs_diff(at);
    if u128::from(skew) > window.as_millis() {
        return Err(Us3Error::unauthorized(format!(
            "RequestTimeTooSkewed: the request's Date {date} is more than {}s from the server's time",
            window.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_window() {
        let window = Duration::from_secs(900);
        let now = ferry_http::dates::http_date(ferry_core::now_millis());
        assert!(check_freshness(&now, window).is_ok());
        let old = ferry_http::dates::http_date(ferry_core::now_millis() - 16 * 60 * 1000);
        assert!(matches!(check_freshness(&old, window), Err(e) if e.message.contains("RequestTimeTooSkewed")));
        assert!(check_freshness("", window).is_err());
        assert!(check_freshness("yesterday", window).is_err());
    }
}
