//! AWS Signature Version 4 for S3.

use ferry_core::access::Principal;
use ferry_core::credentials::CredentialStore;
use ferry_sigv4::{
    ALGORITHM, EMPTY_SHA256, canonical_query, canonical_request, canonical_uri, scope, sha256_hex, signature_matches,
    signing_key, string_to_sign,
};
use http::request::Parts;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Payload, lookup};
use crate::error::{S3Error, S3Result};
use crate::request::Query;

const MAX_SKEW_SECS: i64 = 15 * 60;

fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, &fmt).ok().map(|t| t.assume_utc())
}

/// The parsed `Credential=` value: `AKID/yyyymmdd/region/service/aws4_request`.
struct Scope<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

impl<'a> Scope<'a> {
    fn parse(credential: &'a str) -> S3Result<Self> {
        let parts: Vec<&str> = credential.split('/').collect();
        match parts.as_slice() {
            [access_key, date, region, service, "aws4_request"] if date.len() == 8 => {
                Ok(Scope { access_key, date, region, service })
            }
            _ => Err(S3Error::authorization_header_malformed(format!(
                "The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\". ({credential})"
            ))),
        }
    }

    fn string(&self) -> String {
        scope(self.date, self.region, self.service)
    }
}

fn canonical_query_of(query: &Query, skip: Option<&str>) -> String {
    canonical_query(query.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())), skip)
}

fn canonical_headers(parts: &Parts, signed: &str) -> S3Result<String> {
    let mut out = String::new();
    for name in signed.split(';') {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                let text = String::from_utf8_lossy(v.as_bytes());
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(S3Error::signature_does_not_match(format!(
                "The signed header {name} is missing from the request"
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

fn check_skew(at: OffsetDateTime) -> S3Result<()> {
    let skew = (OffsetDateTime::now_utc() - at).whole_seconds().abs();
    if skew > MAX_SKEW_SECS {
        return Err(S3Error::request_time_too_skewed(
            "The difference between the request time and the server's time is too large.",
        ));
    }
    Ok(())
}

fn mismatch(string_to_sign: &str, canonical_request: &str) -> S3Error {
    tracing::debug!(canonical_request, string_to_sign, "SigV4 mismatch");
    S3Error::signature_does_not_match(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

/// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
pub fn verify_header(
    parts: &Parts,
    query: &Query,
    authorization: &str,
    creds: &CredentialStore,
) -> S3Result<(Payload, Principal)> {
    verify_header_with(parts, query, authorization, creds, None)
}

/// [`verify_header`] for requests whose body hash is known without the `x-amz-content-sha256`
/// header (STS: SDKs sign the body's hash without sending it).
pub fn verify_header_with(
    parts: &Parts,
    query: &Query,
    authorization: &str,
    creds: &CredentialStore,
    body_sha256: Option<&str>,
) -> S3Result<(Payload, Principal)> {
    let fields = &authorization[ALGORITHM.len()..];
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in fields.split(',') {
        let field = field.trim();
        if let Some(v) = field.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = field.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = field.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
        return Err(S3Error::authorization_header_malformed("The authorization header is malformed."));
    };
    let scope = Scope::parse(credential)?;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let amz_date = header("x-amz-date")
        .ok_or_else(|| S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header"))?;
    let at = parse_amz_date(amz_date).ok_or_else(|| S3Error::access_denied("Invalid x-amz-date header"))?;
    if !amz_date.starts_with(scope.date) {
        return Err(S3Error::authorization_header_malformed(
            "The authorization header is malformed; the Credential date does not match x-amz-date.",
        ));
    }
    check_skew(at)?;
    let resolved = lookup(creds, parts, query, scope.access_key)?;
    let secret = resolved.secret.as_str();
    let content_sha256 = match (header("x-amz-content-sha256"), body_sha256) {
        (Some(sent), Some(actual)) if sent != actual => {
            return Err(S3Error::new(
                "XAmzContentSHA256Mismatch",
                http::StatusCode::BAD_REQUEST,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
        (Some(sent), _) => sent,
        (None, Some(actual)) => actual,
        (None, None) => {
            return Err(S3Error::invalid_request("Missing required header for this request: x-amz-content-sha256"));
        }
    };
    let payload = match content_sha256 {
        "UNSIGNED-PAYLOAD" => Payload::Unsigned,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Payload::Chunked { signer: None },
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Payload::Chunked {
            signer: Some(ChunkSigner {
                key: signing_key(secret, scope.date, scope.region, scope.service),
                amz_date: amz_date.to_string(),
                scope: scope.string(),
                previous: signature.to_string(),
            }),
        },
        hex_hash => {
            let raw = hex::decode(hex_hash).ok().and_then(|v| <[u8; 32]>::try_from(v).ok()).ok_or_else(|| {
                S3Error::invalid_argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-… or a hex SHA-256")
            })?;
            Payload::Sha256(raw)
        }
    };
    let signed = Signed { signed_headers, payload_hash: content_sha256, amz_date, signature, skip_query: None };
    check(parts, query, &scope, secret, &signed)?;
    Ok((payload, resolved.principal))
}

/// What a request's signature covers, wherever (header or query) it came from.
struct Signed<'a> {
    signed_headers: &'a str,
    payload_hash: &'a str,
    amz_date: &'a str,
    signature: &'a str,
    /// The query parameter holding the signature itself (presigned URLs), left out of the
    /// canonical query.
    skip_query: Option<&'static str>,
}

/// Rebuild the canonical request and compare signatures.
fn check(parts: &Parts, query: &Query, scope: &Scope<'_>, secret: &str, signed: &Signed<'_>) -> S3Result<()> {
    let canonical_request = canonical_request(
        parts.method.as_str(),
        &canonical_uri(parts.uri.path()),
        &canonical_query_of(query, signed.skip_query),
        &canonical_headers(parts, signed.signed_headers)?,
        signed.signed_headers,
        signed.payload_hash,
    );
    let sts = string_to_sign(signed.amz_date, &scope.string(), &canonical_request);
    let key = signing_key(secret, scope.date, scope.region, scope.service);
    if !signature_matches(&key, sts.as_bytes(), signed.signature) {
        return Err(mismatch(&sts, &canonical_request));
    }
    Ok(())
}

/// `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=…&…`
pub fn verify_presigned(parts: &Parts, query: &Query, creds: &CredentialStore) -> S3Result<(Payload, Principal)> {
    let param = |name: &str| {
        query.get(name).ok_or_else(|| {
            S3Error::authorization_header_malformed(format!("Query-string authentication requires {name}"))
        })
    };
    if param("X-Amz-Algorithm")? != ALGORITHM {
        return Err(S3Error::invalid_argument("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
    }
    let scope = Scope::parse(param("X-Amz-Credential")?)?;
    let amz_date = param("X-Amz-Date")?;
    let at = parse_amz_date(amz_date)
        .ok_or_else(|| S3Error::access_denied("X-Amz-Date must be in the ISO8601 Long Format"))?;
    let expires: i64 = param("X-Amz-Expires")?
        .parse()
        .map_err(|_| S3Error::authorization_query_parameters_error("X-Amz-Expires should be a number"))?;
    if expires < 1 {
        return Err(S3Error::authorization_query_parameters_error("X-Amz-Expires must be non-negative"));
    }
    if expires > 604_800 {
        return Err(S3Error::authorization_query_parameters_error(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    let now = OffsetDateTime::now_utc();
    if (at - now).whole_seconds() > MAX_SKEW_SECS {
        return Err(S3Error::request_time_too_skewed("X-Amz-Date is in the future"));
    }
    if (now - at).whole_seconds() > expires {
        return Err(S3Error::access_denied("Request has expired"));
    }
    let signed_headers = param("X-Amz-SignedHeaders")?;
    let signature = param("X-Amz-Signature")?;
    let resolved = lookup(creds, parts, query, scope.access_key)?;
    let payload_hash = query.get("X-Amz-Content-Sha256").unwrap_or("UNSIGNED-PAYLOAD");
    let signed = Signed { signed_headers, payload_hash, amz_date, signature, skip_query: Some("X-Amz-Signature") };
    check(parts, query, &scope, &resolved.secret, &signed)?;
    Ok((Payload::Unsigned, resolved.principal))
}

/// Verifies the signature chain of an aws-chunked body: each chunk is signed over the previous
/// signature and the chunk's SHA-256; the trailer over the previous signature and its lines.
#[derive(Clone)]
pub struct ChunkSigner {
    pub(crate) key: [u8; 32],
    pub(crate) amz_date: String,
    pub(crate) scope: String,
    pub(crate) previous: String,
}

impl std::fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigner").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl ChunkSigner {
    /// Check one chunk's signature given the SHA-256 of its data; advances the chain.
    pub fn verify_chunk(&mut self, data_sha256: &[u8; 32], signature: &str) -> bool {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex::encode(data_sha256)
        );
        self.advance(&sts, signature)
    }

    /// Check the trailer signature over the trailer lines (each `name:value\n`).
    pub fn verify_trailer(&mut self, canonical_trailer: &str, signature: &str) -> bool {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(canonical_trailer.as_bytes())
        );
        self.advance(&sts, signature)
    }

    fn advance(&mut self, sts: &str, signature: &str) -> bool {
        let ok = signature_matches(&self.key, sts.as_bytes(), signature);
        self.previous = signature.to_string();
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The chunk-signature example from AWS's "Signature Calculations for the Authorization
    /// Header: Transferring Payload in Multiple Chunks" page: first chunk of 65536 'a' bytes.
    #[test]
    fn chunk_signature_matches_aws_example() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3");
        let mut signer = ChunkSigner {
            key,
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let data = vec![b'a'; 65536];
        let hash: [u8; 32] = Sha256::digest(&data).into();
        assert!(signer.verify_chunk(&hash, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"));
        let more = vec![b'a'; 1024];
        let hash: [u8; 32] = Sha256::digest(&more).into();
        assert!(signer.verify_chunk(&hash, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"));
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert!(signer.verify_chunk(&empty, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"));
        assert!(!signer.verify_chunk(&empty, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"));
    }
}
