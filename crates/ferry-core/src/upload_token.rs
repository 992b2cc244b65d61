//! Upload tokens: short-lived bearer tokens that let a browser or an app upload (and only upload)
//! under one bucket/prefix, without ever seeing an access key's secret.
//!
//! An application server holding an access key mints a token (`ferry token create`, or
//! `POST /_ferry/v1/upload-tokens` signed with the key) and hands it to the client, which sends it
//! as `Authorization: Bearer <token>` to the tus (and IETF upload) endpoint. Like the STS session
//! token ([`crate::sts`]) the token is self-contained: its claims are sealed (AES-256-GCM) under a
//! key derived from the master key, so any node can check it without a metadata read, and a
//! changed byte makes it fail to open. The parent key is looked up on every request (see
//! [`crate::credentials::CredentialStore::resolve_upload_token`]), so disabling or deleting it,
//! or revoking its write grant, ends its tokens at once.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::access::{Action, Principal, Resource, SessionPolicy};
use crate::keys::{MasterKey, open_with, seal_with};

const TOKEN_PURPOSE: &str = "ferry upload token v1";
/// Every upload token starts with this (so logs and errors can say what a string is without
/// printing it).
pub const TOKEN_PREFIX: &str = "FUT1";
/// The shortest lifetime a token may be minted with, in seconds.
pub const MIN_TTL: u64 = 60;
/// The longest lifetime a token may be minted with, in seconds (24 hours).
pub const MAX_TTL: u64 = 86_400;

/// What an upload token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadClaims {
    /// The access key the token acts for (its grants are re-checked on every request).
    #[serde(rename = "k")]
    pub parent: String,
    /// The one bucket uploads may go to.
    #[serde(rename = "b")]
    pub bucket: String,
    /// Keys must start with this (empty: the whole bucket).
    #[serde(rename = "p", default)]
    pub prefix: String,
    /// The largest upload, in bytes.
    #[serde(rename = "m")]
    pub max_size: u64,
    /// Expiry, in seconds since the Unix epoch.
    #[serde(rename = "e")]
    pub expires: i64,
}

/// Why an upload token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadTokenError {
    /// Not a token ferry minted with this master key, or altered.
    #[error("the upload token is malformed or was altered")]
    Invalid,
    /// Past its expiry (seconds since the Unix epoch).
    #[error("the upload token expired at {} (Unix time); ask the application for a new one", .0)]
    Expired(i64),
    /// The key that minted it is disabled.
    #[error("the access key that issued the upload token is disabled")]
    ParentDisabled,
    /// The key that minted it no longer exists.
    #[error("the access key that issued the upload token no longer exists")]
    ParentGone,
    /// This server has no master key (tokens need one).
    #[error("upload tokens are not enabled on this server (it has no master key)")]
    Disabled,
}

/// Why a token could not be minted: the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MintError(pub String);

impl UploadClaims {
    /// Check the claims a caller asks for: a bucket, a prefix without glob characters, a
    /// positive size and a lifetime within [`MIN_TTL`]..=[`MAX_TTL`].
    pub fn validate(bucket: &str, prefix: &str, max_size: u64, ttl: u64) -> Result<(), MintError> {
        crate::validate_bucket_name(bucket).map_err(|e| MintError(e.to_string()))?;
        if prefix.contains(['*', '?']) {
            return Err(MintError("the prefix may not contain '*' or '?'".into()));
        }
        if max_size == 0 {
            return Err(MintError("the size limit must be at least one byte".into()));
        }
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(MintError(format!("the lifetime must be between {MIN_TTL} and {MAX_TTL} seconds (1m..24h)")));
        }
        Ok(())
    }

    /// The session policy that narrows the parent's grants to writing under bucket/prefix.
    fn policy(&self) -> Option<SessionPolicy> {
        let text = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [format!("arn:aws:s3:::{}/{}*", self.bucket, self.prefix)],
            }]
        })
        .to_string();
        SessionPolicy::parse(&text).ok()
    }

    /// `parent` (the live principal of the parent key) narrowed to what this token allows:
    /// [`Action::Write`] on keys under bucket/prefix, at most `max_size` bytes per upload, and
    /// no further credentials. Errors when the claims cannot be expressed (never for claims that
    /// passed [`UploadClaims::validate`]).
    pub fn narrow(&self, mut parent: Principal) -> Result<Principal, UploadTokenError> {
        parent.policy = Some(self.policy().ok_or(UploadTokenError::Invalid)?);
        parent.temporary = true;
        parent.upload_limit = Some(self.max_size);
        Ok(parent)
    }

    /// Whether `parent` may write everywhere the token would let a client write.
    pub fn covered_by(&self, parent: &Principal) -> bool {
        // A grant covers every key under the token's prefix exactly when its own prefix is a
        // prefix of the token's; asking about the token's prefix as a key checks just that.
        parent.allows(Action::Write, &Resource::Object { bucket: &self.bucket, key: &self.prefix })
    }
}

/// Mint a token for `parent` (a key's live principal) at `now` (seconds since the Unix epoch):
/// refused when the claims are out of range, when `parent` is itself temporary, or when `parent`
/// may not write everywhere under bucket/prefix (a token only narrows).
pub fn mint_for(
    master: &MasterKey,
    parent: &Principal,
    request: &TokenRequest,
    now: i64,
) -> Result<(String, UploadClaims), MintError> {
    UploadClaims::validate(&request.bucket, &request.prefix, request.max_size, request.ttl)?;
    if parent.temporary {
        return Err(MintError("temporary credentials cannot mint upload tokens; use an access key".into()));
    }
    let claims = UploadClaims {
        parent: parent.key.clone().unwrap_or_else(|| parent.access_key_id.clone()),
        bucket: request.bucket.clone(),
        prefix: request.prefix.clone(),
        max_size: request.max_size,
        expires: now + request.ttl as i64,
    };
    if !claims.covered_by(parent) {
        return Err(MintError(format!(
            "the key {} may not write {}/{}*, so it cannot mint a token for it",
            parent.access_key_id, request.bucket, request.prefix
        )));
    }
    Ok((mint(master, &claims), claims))
}

/// What a caller asks a token for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub bucket: String,
    pub prefix: String,
    /// Largest upload, in bytes.
    pub max_size: u64,
    /// Lifetime, in seconds.
    pub ttl: u64,
}

/// The token of an `Authorization: Bearer <token>` header value, if it is one.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Seal `claims` into a token string.
pub fn mint(master: &MasterKey, claims: &UploadClaims) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let sealed = seal_with(&master.derive(TOKEN_PURPOSE), &json);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed))
}

/// Open a token at `now` (seconds since the Unix epoch): its claims, unless it is altered, from
/// another master key, or expired.
pub fn open(master: &MasterKey, token: &str, now: i64) -> Result<UploadClaims, UploadTokenError> {
    let body = token.strip_prefix(TOKEN_PREFIX).ok_or(UploadTokenError::Invalid)?;
    let sealed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).map_err(|_| UploadTokenError::Invalid)?;
    let json = open_with(&master.derive(TOKEN_PURPOSE), &sealed).map_err(|_| UploadTokenError::Invalid)?;
    let claims: UploadClaims = serde_json::from_slice(&json).map_err(|_| UploadTokenError::Invalid)?;
    if now >= claims.expires {
        return Err(UploadTokenError::Expired(claims.expires));
    }
    Ok(claims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn claims() -> UploadClaims {
        UploadClaims {
            parent: "FERRYABC".into(),
            bucket: "photos".into(),
            prefix: "users/7/".into(),
            max_size: 1000,
            expires: 5000,
        }
    }

    fn key(grants: &[&str]) -> Principal {
        Principal::test_key("FERRYABC", grants)
    }

    #[test]
    fn tokens_open_until_expiry_and_only_under_their_master_key() {
        let master = MasterKey::generate();
        let token = mint(&master, &claims());
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(open(&master, &token, 4999).unwrap(), claims());
        assert_eq!(open(&master, &token, 5000).unwrap_err(), UploadTokenError::Expired(5000));
        assert_eq!(open(&MasterKey::generate(), &token, 1).unwrap_err(), UploadTokenError::Invalid);
        // Change one character in the middle: the seal no longer opens.
        let mut bytes = token.clone().into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&master, &String::from_utf8(bytes).unwrap(), 1).unwrap_err(), UploadTokenError::Invalid);
        assert_eq!(open(&master, "Bearer nonsense", 1).unwrap_err(), UploadTokenError::Invalid);
    }

    #[test]
    fn a_token_only_narrows_its_parent() {
        let c = claims();
        // The parent must be able to write under the whole prefix.
        assert!(c.covered_by(&key(&["photos:write"])));
        assert!(c.covered_by(&key(&["photos/users/:write,read"])));
        assert!(!c.covered_by(&key(&["photos/users/8/:write"])));
        assert!(!c.covered_by(&key(&["photos:read,list"])));
        assert!(!c.covered_by(&key(&["other:write"])));
        assert!(c.covered_by(&Principal::admin("ADMIN")));

        let p = c.narrow(key(&["photos:read,write,delete,list"])).unwrap();
        assert_eq!(p.upload_limit, Some(1000));
        assert!(p.temporary);
        assert!(p.allows(Action::Write, &Resource::Object { bucket: "photos", key: "users/7/a.jpg" }));
        assert!(!p.allows(Action::Write, &Resource::Object { bucket: "photos", key: "users/8/a.jpg" }));
        assert!(!p.allows(Action::Write, &Resource::Object { bucket: "other", key: "users/7/a.jpg" }));
        assert!(!p.allows(Action::Read, &Resource::Object { bucket: "photos", key: "users/7/a.jpg" }));
        assert!(!p.allows(Action::Delete, &Resource::Object { bucket: "photos", key: "users/7/a.jpg" }));
        assert!(!p.allows(Action::List, &Resource::Bucket { bucket: "photos", prefix: "users/7/" }));
        // Even the admin key's tokens are narrowed.
        let admin = c.narrow(Principal::admin("ADMIN")).unwrap();
        assert!(!admin.allows(Action::Write, &Resource::Object { bucket: "photos", key: "x" }));
        assert!(admin.allows(Action::Write, &Resource::Object { bucket: "photos", key: "users/7/x" }));
    }

    #[test]
    fn minting_checks_the_claims() {
        assert!(UploadClaims::validate("photos", "a/", 1, 3600).is_ok());
        assert!(UploadClaims::validate("photos", "a*", 1, 3600).is_err());
        assert!(UploadClaims::validate("photos", "", 0, 3600).is_err());
        assert!(UploadClaims::validate("photos", "", 1, 59).is_err());
        assert!(UploadClaims::validate("photos", "", 1, MAX_TTL + 1).is_err());
        assert!(UploadClaims::validate("a/b", "", 1, 3600).is_err());
    }
}
