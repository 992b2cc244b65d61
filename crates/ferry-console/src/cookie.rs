//! The console's sign-in session: a cookie sealed (AES-256-GCM) under a key derived from the
//! master key, and the CSRF token bound to it.
//!
//! The cookie holds only the access key id, the expiry and a random nonce; the secret never
//! leaves the sign-in request. Any node holding the master key can open it, so nothing is stored
//! per sign-in. The CSRF token is an HMAC of the nonce: a page that can read the sign-in answer
//! (same origin only) knows it, a cross-site form cannot guess it, and a stolen token is useless
//! without the cookie it was minted for.

use base64::Engine as _;
use ferry_core::keys::MasterKey;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const COOKIE_PURPOSE: &str = "ferry console session v1";
const CSRF_PURPOSE: &str = "ferry console csrf v1";

/// The cookie's name.
pub const COOKIE_NAME: &str = "ferry_console";
/// The longest cookie (name, `=` and value) browsers are sure to keep (RFC 6265 §6.1); a longer
/// one is dropped without a word, which would look like a sign-in that did not last.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// What a session cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The access key id signed in.
    #[serde(rename = "k")]
    pub key: String,
    /// Expiry, in seconds since the Unix epoch.
    #[serde(rename = "e")]
    pub expires: i64,
    /// Random, per sign-in; the CSRF token is derived from it.
    #[serde(rename = "n")]
    pub nonce: String,
    /// The session token of temporary (STS) credentials, sent again with every resolution so
    /// the console stops working when the credentials expire.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Seal `claims` into a cookie value (URL-safe base64, no padding: cookie-safe characters).
pub fn seal(master: &MasterKey, claims: &Claims) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(master.seal(COOKIE_PURPOSE, &json))
}

/// Open a cookie value at `now` (seconds). `None` when it was not sealed under this master key,
/// was altered, or has expired.
pub fn open(master: &MasterKey, value: &str, now: i64) -> Option<Claims> {
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value).ok()?;
    let json = master.open(COOKIE_PURPOSE, &sealed).ok()?;
    let claims: Claims = serde_json::from_slice(&json).ok()?;
    (now < claims.expires).then_some(claims)
}

fn mac(master: &MasterKey) -> Option<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(&master.derive(CSRF_PURPOSE)).ok()
}

/// The CSRF token of a session (hex).
pub fn csrf_token(master: &MasterKey, claims: &Claims) -> String {
    match mac(master) {
        Some(mut m) => {
            m.update(claims.nonce.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
        None => String::new(),
    }
}

/// Whether `token` is the session's CSRF token (compared in constant time).
pub fn csrf_matches(master: &MasterKey, claims: &Claims, token: &str) -> bool {
    let (Some(mut m), Ok(given)) = (mac(master), hex::decode(token)) else { return false };
    m.update(claims.nonce.as_bytes());
    m.verify_slice(&given).is_ok()
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn find<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The `Set-Cookie` value for a session: HttpOnly, SameSite=Strict, scoped to the console.
pub fn set_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims { key: "FERRYKEY".into(), expires: 1000, nonce: "n1".into(), token: None }
    }

    #[test]
    fn cookies_open_under_their_master_key_until_expiry() {
        let master = MasterKey::generate();
        let value = seal(&master, &claims());
        assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(open(&master, &value, 999), Some(claims()));
        assert_eq!(open(&master, &value, 1000), None, "expired");
        assert_eq!(open(&MasterKey::generate(), &value, 1), None, "another master key");
        let mut tampered = value.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&master, &String::from_utf8(tampered).unwrap(), 1), None, "altered");
        assert_eq!(open(&master, "not base64!", 1), None);
    }

    #[test]
    fn the_csrf_token_is_bound_to_the_cookie() {
        let master = MasterKey::generate();
        let token = csrf_token(&master, &claims());
        assert!(csrf_matches(&master, &claims(), &token));
        let other = Claims { nonce: "n2".into(), ..claims() };
        assert!(!csrf_matches(&master, &other, &token), "another sign-in's token");
        assert!(!csrf_matches(&MasterKey::generate(), &claims(), &token));
        assert!(!csrf_matches(&master, &claims(), ""));
        assert!(!csrf_matches(&master, &claims(), "zz"));
    }

    #[test]
    fn cookie_attributes() {
        let set = set_cookie("v", 3600, true);
        for part in ["ferry_console=v", "Path=/console", "HttpOnly", "SameSite=Strict", "Max-Age=3600", "Secure"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set_cookie("v", 1, false).contains("Secure"));
        assert_eq!(find("a=1; ferry_console=xyz; b=2", COOKIE_NAME), Some("xyz"));
        assert_eq!(find("a=1", COOKIE_NAME), None);
    }
}
