//! Temporary credentials (the AWS STS model): a session token that carries its own meaning.
//!
//! The token is the parent key id, the expiry and the session policy, sealed (AES-256-GCM) under
//! a key derived from the master key. The temporary access key id and secret are derived from
//! the token by HMAC, so any node holding the master key can check a request signed with them
//! without a metadata write per STS call. The parent key is looked up on every request, so
//! disabling or deleting it ends its tokens.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::keys::{MasterKey, open_with, seal_with};

const TOKEN_PURPOSE: &str = "ferry sts token v1";
const ID_PURPOSE: &str = "ferry sts id v1";
const SECRET_PURPOSE: &str = "ferry sts secret v1";

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The access key id the credentials act for.
    #[serde(rename = "k")]
    pub parent: String,
    /// Expiry, in seconds since the Unix epoch.
    #[serde(rename = "e")]
    pub expires: i64,
    /// The session policy document, when one narrows the parent's grants.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// A set of temporary credentials.
#[derive(Debug, Clone)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires: i64,
}

/// Why a session token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("The provided token is malformed or otherwise invalid.")]
    Invalid,
    #[error("The provided token has expired.")]
    Expired,
    #[error("The security token does not belong to the access key id that signed the request.")]
    WrongKeyId,
}

/// Mint temporary credentials for `claims`.
pub fn mint(master: &MasterKey, claims: &TokenClaims) -> TemporaryCredentials {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let sealed = seal_with(&master.derive(TOKEN_PURPOSE), &json);
    let token = format!("FST1{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed));
    let (access_key_id, secret_access_key) = derive(master, &token);
    TemporaryCredentials { access_key_id, secret_access_key, session_token: token, expires: claims.expires }
}

/// Open a session token presented with `access_key_id` at `now` (seconds): its claims and the
/// secret the request must have been signed with.
pub fn open(
    master: &MasterKey,
    token: &str,
    access_key_id: &str,
    now: i64,
) -> Result<(TokenClaims, String), TokenError> {
    let body = token.strip_prefix("FST1").ok_or(TokenError::Invalid)?;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Invalid)?;
    let json = open_with(&master.derive(TOKEN_PURPOSE), &sealed).map_err(|_| TokenError::Invalid)?;
    let claims: TokenClaims = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
    let (id, secret) = derive(master, token);
    if id != access_key_id {
        return Err(TokenError::WrongKeyId);
    }
    if now >= claims.expires {
        return Err(TokenError::Expired);
    }
    Ok((claims, secret))
}

fn hmac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// The temporary access key id (`ASIA` + 16 characters, as AWS shapes them) and secret.
fn derive(master: &MasterKey, token: &str) -> (String, String) {
    let id = hex::encode(&hmac(&master.derive(ID_PURPOSE), token.as_bytes())[..8]).to_ascii_uppercase();
    let secret =
        base64::engine::general_purpose::STANDARD.encode(hmac(&master.derive(SECRET_PURPOSE), token.as_bytes()));
    (format!("ASIA{id}"), secret[..40].to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_with_their_key_id_until_expiry() {
        let master = MasterKey::generate();
        let claims = TokenClaims { parent: "FERRYABC".into(), expires: 1000, policy: Some("{}".into()) };
        let creds = mint(&master, &claims);
        assert!(creds.access_key_id.starts_with("ASIA") && creds.access_key_id.len() == 20);
        let (back, secret) = open(&master, &creds.session_token, &creds.access_key_id, 999).unwrap();
        assert_eq!(back, claims);
        assert_eq!(secret, creds.secret_access_key);
        assert_eq!(open(&master, &creds.session_token, &creds.access_key_id, 1000).unwrap_err(), TokenError::Expired);
        assert_eq!(open(&master, &creds.session_token, "ASIAOTHER", 1).unwrap_err(), TokenError::WrongKeyId);
        assert_eq!(
            open(&MasterKey::generate(), &creds.session_token, &creds.access_key_id, 1).unwrap_err(),
            TokenError::Invalid
        );
        let mut tampered = creds.session_token.clone();
        tampered.push('A');
        assert!(open(&master, &tampered, &creds.access_key_id, 1).is_err());
    }
}
