//! AWS Signature Version 2 (HMAC-SHA1): header auth and presigned URLs. boto3 still produces
//! SigV2 presigned URLs by default for us-east-1, so ferry accepts them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::access::Principal;
use ferry_core::credentials::CredentialStore;
use hmac::{Hmac, Mac};
use http::request::Parts;
use sha1::Sha1;

use super::{Payload, lookup};
use crate::error::{S3Error, S3Result};
use crate::request::Query;

type HmacSha1 = Hmac<Sha1>;

/// Sub-resources that are part of the signed resource (as botocore's HmacV1 signer lists them).
const SIGNED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "cors",
    "defaultObjectAcl",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
    "object-lock",
];

fn canonical_resource(parts: &Parts, query: &Query, host_bucket: Option<&str>) -> String {
    // Virtual-host requests sign "/bucket/key" although the path is only "/key".
    let mut resource = match host_bucket {
        Some(bucket) => format!("/{bucket}{}", parts.uri.path()),
        None => parts.uri.path().to_string(),
    };
    resource.push_str(&query.signed_subresources(SIGNED_SUBRESOURCES));
    resource
}

fn canonical_amz_headers(parts: &Parts) -> String {
    let mut amz: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-amz-"))
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).trim().to_string()))
        .collect();
    amz.sort();
    let mut out = String::new();
    let mut i = 0;
    while i < amz.len() {
        let name = &amz[i].0;
        let mut values = vec![amz[i].1.clone()];
        while i + 1 < amz.len() && amz[i + 1].0 == *name {
            i += 1;
            values.push(amz[i].1.clone());
        }
        out.push_str(&format!("{name}:{}\n", values.join(",")));
        i += 1;
    }
    out
}

fn string_to_sign(parts: &Parts, query: &Query, host_bucket: Option<&str>, date_or_expires: &str) -> String {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        parts.method,
        header("content-md5"),
        header("content-type"),
        date_or_expires,
        canonical_amz_headers(parts),
        canonical_resource(parts, query, host_bucket)
    )
}

fn verify(secret: &str, sts: &str, signature_b64: &str) -> S3Result<()> {
    // A '+' in an unencoded query string arrives as ' '; restore it before decoding.
    let given = B64.decode(signature_b64.trim().replace(' ', "+")).unwrap_or_default();
    let Ok(mut mac) = HmacSha1::new_from_slice(secret.as_bytes()) else {
        return Err(S3Error::internal_error("HMAC key rejected"));
    };
    mac.update(sts.as_bytes());
    mac.verify_slice(&given).map_err(|_| {
        tracing::debug!(string_to_sign = sts, "SigV2 mismatch");
        S3Error::signature_does_not_match(
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    })
}

/// `Authorization: AWS AKID:base64(hmac-sha1)`
pub fn verify_header(
    parts: &Parts,
    query: &Query,
    host_bucket: Option<&str>,
    authorization: &str,
    creds: &CredentialStore,
) -> S3Result<(Payload, Principal)> {
    let (access_key, signature) = authorization["AWS ".len()..].split_once(':').ok_or_else(|| {
        S3Error::invalid_argument("AWS authorization header is invalid. Expected AwsAccessKeyId:signature")
    })?;
    let resolved = lookup(creds, parts, query, access_key)?;
    // With x-amz-date present the Date line is empty (the amz header is signed instead).
    let date = if parts.headers.contains_key("x-amz-date") {
        ""
    } else {
        parts.headers.get(http::header::DATE).and_then(|v| v.to_str().ok()).unwrap_or("")
    };
    if let Some(at) = parts
        .headers
        .get("x-amz-date")
        .or_else(|| parts.headers.get(http::header::DATE))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let skew = std::time::SystemTime::now().duration_since(at).unwrap_or_else(|e| e.duration()).as_secs();
        if skew > 15 * 60 {
            return Err(S3Error::request_time_too_skewed(
                "The difference between the request time and the server's time is too large.",
            ));
        }
    } else {
        return Err(S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header"));
    }
    verify(&resolved.secret, &string_to_sign(parts, query, host_bucket, date), signature)?;
    Ok((Payload::Unsigned, resolved.principal))
}

/// `?AWSAccessKeyId=…&Expires=…&Signature=…`
pub fn verify_presigned(
    parts: &Parts,
    query: &Query,
    host_bucket: Option<&str>,
    creds: &CredentialStore,
) -> S3Result<(Payload, Principal)> {
    let access_key = query.get("AWSAccessKeyId").unwrap_or("");
    let expires =
        query.get("Expires").ok_or_else(|| S3Error::access_denied("Query-string authentication requires Expires"))?;
    let signature = query
        .get("Signature")
        .ok_or_else(|| S3Error::access_denied("Query-string authentication requires Signature"))?;
    let expires_at: u64 = expires.parse().map_err(|_| S3Error::access_denied("Expires must be a number of seconds"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if now > expires_at {
        return Err(S3Error::access_denied("Request has expired"));
    }
    let resolved = lookup(creds, parts, query, access_key)?;
    verify(&resolved.secret, &string_to_sign(parts, query, host_bucket, expires), signature)?;
    Ok((Payload::Unsigned, resolved.principal))
}
