//! OSS request signatures: V1 (`OSS ak:signature`, HMAC-SHA1; also presigned URLs) and V4
//! (`OSS4-HMAC-SHA256`), verified against the shared credential store.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::access::Principal;
use ferry_core::credentials::{AuthError, CredentialStore, Resolved};
use ferry_core::sts::TokenError;
use ferry_sigv4 as sigv4;
use hmac::{Hmac, Mac};
use http::request::Parts;
use sha1::Sha1;

use crate::address::Address;
use crate::error::{OssError, OssResult};
use ferry_http::Query;

/// Query parameters that are part of the V1 canonical resource (oss2's `_subresource_key_set`).
const SUBRESOURCES: &[&str] = &[
    "acl",
    "uploads",
    "location",
    "cors",
    "logging",
    "website",
    "referer",
    "lifecycle",
    "delete",
    "append",
    "tagging",
    "objectMeta",
    "uploadId",
    "partNumber",
    "security-token",
    "position",
    "img",
    "style",
    "styleName",
    "replication",
    "replicationProgress",
    "replicationLocation",
    "cname",
    "bucketInfo",
    "comp",
    "qos",
    "live",
    "status",
    "vod",
    "startTime",
    "endTime",
    "symlink",
    "x-oss-process",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "udf",
    "udfName",
    "udfImage",
    "udfId",
    "udfImageDesc",
    "udfApplication",
    "udfApplicationLog",
    "restore",
    "callback",
    "callback-var",
    "stat",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    "policy",
    "requestPayment",
    "x-oss-traffic-limit",
    "qosInfo",
    "asyncFetch",
    "x-oss-request-payer",
    "sequential",
    "inventory",
    "inventoryId",
    "continuation-token",
    "worm",
    "wormId",
    "wormExtend",
    "resourceGroup",
    "regionList",
];

const MAX_SKEW_SECS: u64 = 15 * 60;

/// Whether the request carries an OSS signature (used by the router).
pub fn is_oss_signed(parts: &Parts) -> bool {
    let auth = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth.starts_with("OSS ") || auth.starts_with("OSS4-HMAC-SHA256 ") {
        return true;
    }
    let q = parts.uri.query().unwrap_or("");
    q.contains("OSSAccessKeyId=") || q.contains("x-oss-signature-version=")
}

fn header<'a>(parts: &'a Parts, name: &str) -> &'a str {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The STS security token: the `x-oss-security-token` header, or (presigned URLs) the
/// `security-token` query parameter.
fn security_token<'a>(parts: &'a Parts, query: &'a Query) -> Option<&'a str> {
    if let Some(v) = parts.headers.get("x-oss-security-token") {
        return Some(v.to_str().unwrap_or(""));
    }
    query.get("security-token").or_else(|| query.get("x-oss-security-token"))
}

/// The secret and principal for an access key id (with the request's security token, if any).
fn lookup(creds: &CredentialStore, parts: &Parts, query: &Query, access_key: &str) -> OssResult<Resolved> {
    creds.resolve(access_key, security_token(parts, query)).map_err(|e| match e {
        AuthError::UnknownKey => {
            OssError::invalid_access_key_id("The OSS Access Key Id you provided does not exist in our records.")
        }
        AuthError::Disabled => OssError::invalid_access_key_id("The OSS Access Key Id you provided is disabled."),
        AuthError::Token(TokenError::Expired) => {
            OssError::invalid_security_token("The security token you provided has expired.")
        }
        AuthError::Token(_) => OssError::invalid_security_token("The security token you provided is invalid."),
    })
}

fn mismatch() -> OssError {
    OssError::signature_does_not_match("The request signature we calculated does not match the signature you provided.")
}

/// Verify the request's signature: who signed it. Anonymous requests are refused.
pub fn authenticate(parts: &Parts, query: &Query, addr: &Address, creds: &CredentialStore) -> OssResult<Principal> {
    let authorization = header(parts, "authorization");
    if let Some(rest) = authorization.strip_prefix("OSS ") {
        let (access_key, signature) =
            rest.split_once(':').ok_or_else(|| OssError::invalid_argument("Authorization header is invalid."))?;
        let date = match header(parts, "x-oss-date") {
            "" => header(parts, "date"),
            d => d,
        };
        check_skew(date)?;
        let resolved = lookup(creds, parts, query, access_key)?;
        verify_v1(parts, query, addr, &resolved.secret, date, signature)?;
        return Ok(resolved.principal);
    }
    if let Some(rest) = authorization.strip_prefix("OSS4-HMAC-SHA256 ") {
        return verify_v4(parts, query, addr, rest, creds);
    }
    if let Some(access_key) = query.get("OSSAccessKeyId") {
        let expires = query.get("Expires").unwrap_or("");
        let at: u64 = expires.parse().map_err(|_| OssError::access_denied("Expires must be a number of seconds"))?;
        if now_secs() > at {
            return Err(OssError::access_denied("Request has expired."));
        }
        let signature = query.get("Signature").unwrap_or("");
        let resolved = lookup(creds, parts, query, access_key)?;
        verify_v1(parts, query, addr, &resolved.secret, expires, signature)?;
        return Ok(resolved.principal);
    }
    Err(OssError::access_denied("You have no right to access this object because of bucket acl."))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn check_skew(date: &str) -> OssResult<()> {
    let at = httpdate::parse_http_date(date)
        .map_err(|_| OssError::access_denied("OSS authentication requires a valid Date."))?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now_secs().abs_diff(at) > MAX_SKEW_SECS {
        return Err(OssError::request_time_too_skewed(
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

/// The V4 signature covers `x-oss-date` (`20261123T175107Z`); like V1's Date it must be within
/// 15 minutes of the server's clock, so a captured request cannot be replayed later.
fn check_v4_skew(datetime: &str) -> OssResult<()> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(datetime, &fmt)
        .map_err(|_| OssError::access_denied("OSS V4 authentication requires a valid x-oss-date."))?
        .assume_utc();
    if (time::OffsetDateTime::now_utc() - at).whole_seconds().unsigned_abs() > MAX_SKEW_SECS {
        return Err(OssError::request_time_too_skewed(
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

/// `/bucket/key` (decoded), `/bucket/` or `/`: what both signature versions sign as the path.
fn resource_path(addr: &Address) -> String {
    match (&addr.bucket, &addr.key) {
        (Some(b), Some(k)) => format!("/{b}/{k}"),
        (Some(b), None) => format!("/{b}/"),
        _ => "/".to_string(),
    }
}

/// The signed path plus the signed sub-resources (V1).
fn canonical_resource(query: &Query, addr: &Address) -> String {
    let mut resource = resource_path(addr);
    resource.push_str(&query.signed_subresources(SUBRESOURCES));
    resource
}

/// The V1 string to sign: method, Content-MD5, Content-Type, date (or `Expires`), the
/// `x-oss-*` headers sorted, and the canonical resource.
fn string_to_sign_v1(parts: &Parts, query: &Query, addr: &Address, date: &str) -> String {
    let mut oss_headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-oss-"))
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).trim().to_string()))
        .collect();
    oss_headers.sort();
    let canonical_headers: String = oss_headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        parts.method,
        header(parts, "content-md5"),
        header(parts, "content-type"),
        date,
        canonical_headers,
        canonical_resource(query, addr)
    )
}

fn hmac_sha1(secret: &str, data: &str) -> OssResult<Hmac<Sha1>> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).map_err(|_| OssError::internal_error("HMAC key"))?;
    mac.update(data.as_bytes());
    Ok(mac)
}

fn verify_v1(parts: &Parts, query: &Query, addr: &Address, secret: &str, date: &str, signature: &str) -> OssResult<()> {
    let sts = string_to_sign_v1(parts, query, addr, date);
    let given = B64.decode(signature.trim().replace(' ', "+")).unwrap_or_default();
    hmac_sha1(secret, &sts)?.verify_slice(&given).map_err(|_| {
        tracing::debug!(string_to_sign = sts, "OSS V1 mismatch");
        mismatch()
    })
}

/// The `Authorization` header value (`OSS <access key>:<signature>`) of a V1-signed request,
/// computed exactly as ferry verifies it: what oss2 sends. The request must carry its `Date`
/// (or `x-oss-date`) and every `x-oss-*` header already. For tests and tools that talk to ferry.
pub fn sign_v1(parts: &Parts, domain: Option<&str>, access_key: &str, secret: &str) -> OssResult<String> {
    let addr = Address::resolve(parts, domain)?;
    let query = Query::parse(parts.uri.query());
    let date = match header(parts, "x-oss-date") {
        "" => header(parts, "date"),
        d => d,
    };
    let sts = string_to_sign_v1(parts, &query, &addr, date);
    let signature = B64.encode(hmac_sha1(secret, &sts)?.finalize().into_bytes());
    Ok(format!("OSS {access_key}:{signature}"))
}

fn encode_query(query: &Query) -> String {
    let mut pairs: Vec<(String, String)> = query
        .pairs()
        .iter()
        .map(|(k, v)| (sigv4::uri_encode(k.as_bytes(), false), sigv4::uri_encode(v.as_bytes(), false)))
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") }).collect::<Vec<_>>().join("&")
}

fn verify_v4(
    parts: &Parts,
    query: &Query,
    addr: &Address,
    fields: &str,
    creds: &CredentialStore,
) -> OssResult<Principal> {
    let mut credential = "";
    let mut additional = "";
    let mut signature = "";
    for field in fields.split(',').map(str::trim) {
        if let Some(v) = field.strip_prefix("Credential=") {
            credential = v;
        } else if let Some(v) = field.strip_prefix("AdditionalHeaders=") {
            additional = v;
        } else if let Some(v) = field.strip_prefix("Signature=") {
            signature = v;
        }
    }
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, "oss", "aliyun_v4_request"] = scope.as_slice() else {
        return Err(OssError::invalid_argument(
            "The Credential of the OSS4-HMAC-SHA256 Authorization header is malformed.",
        ));
    };
    let resolved = lookup(creds, parts, query, access_key)?;
    let secret = resolved.secret.as_str();
    let datetime = header(parts, "x-oss-date");
    if !datetime.starts_with(date) {
        return Err(OssError::access_denied("x-oss-date does not match the credential date."));
    }
    check_v4_skew(datetime)?;
    let resource = resource_path(addr);
    let extra: Vec<String> = additional.split(';').filter(|h| !h.is_empty()).map(str::to_ascii_lowercase).collect();
    let mut names: Vec<String> = parts
        .headers
        .keys()
        .map(|n| n.as_str().to_string())
        .filter(|n| n.starts_with("x-oss-") || n == "content-type" || n == "content-md5" || extra.contains(n))
        .collect();
    names.sort();
    names.dedup();
    let canonical_headers: String = names
        .iter()
        .map(|n| {
            let values: Vec<String> = parts
                .headers
                .get_all(n.as_str())
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
                .collect();
            format!("{n}:{}\n", values.join(","))
        })
        .collect();
    let payload = match header(parts, "x-oss-content-sha256") {
        "" => "UNSIGNED-PAYLOAD",
        p => p,
    };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        sigv4::uri_encode(resource.as_bytes(), true),
        encode_query(query),
        canonical_headers,
        extra.join(";"),
        payload
    );
    let scope = format!("{date}/{region}/oss/aliyun_v4_request");
    let sts = format!("OSS4-HMAC-SHA256\n{datetime}\n{scope}\n{}", sigv4::sha256_hex(canonical.as_bytes()));
    let k_date = sigv4::hmac(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
    let k_region = sigv4::hmac(&k_date, region.as_bytes());
    let k_service = sigv4::hmac(&k_region, b"oss");
    let key = sigv4::hmac(&k_service, b"aliyun_v4_request");
    if sigv4::signature_matches(&key, sts.as_bytes(), signature) {
        Ok(resolved.principal)
    } else {
        tracing::debug!(canonical_request = canonical, string_to_sign = sts, "OSS V4 mismatch");
        Err(mismatch())
    }
}
