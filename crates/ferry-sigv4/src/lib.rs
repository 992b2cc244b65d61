//! AWS Signature Version 4 primitives: canonical forms, the signing key, signatures. The server
//! verifies with them and the client signs with them, so both sides canonicalise identically.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// SHA-256 of the empty string, hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so new_from_slice cannot fail here.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison of a hex signature against HMAC(key, data).
pub fn signature_matches(key: &[u8], data: &[u8], hex_signature: &str) -> bool {
    let Ok(given) = hex::decode(hex_signature) else { return false };
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else { return false };
    mac.update(data);
    mac.verify_slice(&given).is_ok()
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Percent-encode as SigV4 canonical forms do: everything but `A-Za-z0-9-._~` (and `/` when
/// `keep_slash`).
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len() * 3);
    for &b in input {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical URI of a raw (as sent) path: decoded, then re-encoded uniformly. S3 does not
/// normalise dot segments.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw_path).collect();
    uri_encode(&decoded, true)
}

/// The canonical query of decoded (name, value) pairs, leaving out `skip` (the signature itself
/// in presigned URLs).
pub fn canonical_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, skip: Option<&str>) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| Some(*k) != skip)
        .map(|(k, v)| (uri_encode(k.as_bytes(), false), uri_encode(v.as_bytes(), false)))
        .collect();
    encoded.sort();
    encoded.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// `yyyymmdd/region/service/aws4_request`
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// The canonical request: method, URI, query, headers (`name:value\n` each, lowercase names in
/// `signed_headers` order), the signed header list and the payload hash.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example signing key derivation.
    #[test]
    fn signing_key_matches_aws_example() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        assert_eq!(hex::encode(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_uri("/b/a%20b+c/%C3%A9"), "/b/a%20b%2Bc/%C3%A9");
        assert_eq!(canonical_query([("uploads", ""), ("a b", "x/y")], None), "a%20b=x%2Fy&uploads=");
        assert_eq!(canonical_query([("X-Amz-Signature", "s"), ("b", "1")], Some("X-Amz-Signature")), "b=1");
    }
}
