//! UCloud signatures: `Authorization: UCloud <public key>:<base64 HMAC-SHA1>` and the
//! `UCloudPublicKey`/`Expires`/`Signature` query form of private download URLs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::credentials::CredentialStore;
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
) -> Us3Result<()> {
    let resource = format!("/{bucket}/{key}");
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
    let secret = creds.secret_for(public_key).ok_or_else(|| Us3Error::unauthorized("the public key does not exist"))?;
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
    // The query form can carry a raw '+' that decoding turned into ' '.
    let given = B64.decode(signature.trim().replace(' ', "+")).unwrap_or_default();
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|_| Us3Error::unauthorized("bad key"))?;
    mac.update(sts.as_bytes());
    mac.verify_slice(&given).map_err(|_| {
        tracing::debug!(string_to_sign = sts, "UCloud signature mismatch");
        Us3Error::unauthorized("signature mismatch")
    })
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
