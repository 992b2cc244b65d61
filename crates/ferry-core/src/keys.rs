//! Access keys kept in the metadata store, their secrets sealed under the master key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::access::Grant;
use crate::error::{Error, Result};
use crate::types::Millis;

/// One stored access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub access_key_id: String,
    /// Unique, chosen by the operator (`ci`, `webapp`, ...).
    pub name: String,
    /// The secret, sealed by [`MasterKey::seal`] (nonce followed by the AES-256-GCM ciphertext).
    pub sealed_secret: Vec<u8>,
    pub created: Millis,
    /// When a request signed with the key was last seen (recorded about once a minute).
    pub last_used: Option<Millis>,
    pub enabled: bool,
    pub grants: Vec<Grant>,
}

/// Where keys are kept: the metadata store (SQLite or PostgreSQL), so every node sees the same.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Store a new key. Errors with `InvalidArgument` when its name or id is taken.
    async fn insert_key(&self, key: &KeyRecord) -> Result<()>;
    /// Every key, by name.
    async fn list_keys(&self) -> Result<Vec<KeyRecord>>;
    /// Replace a key's grants and enabled flag; `Ok(false)` when there is no such key.
    async fn update_key(&self, access_key_id: &str, grants: &[Grant], enabled: bool) -> Result<bool>;
    /// `Ok(false)` when there was no such key.
    async fn delete_key(&self, access_key_id: &str) -> Result<bool>;
    /// Record that the keys were used at `now` (never moves a time backwards).
    async fn touch_keys(&self, access_key_ids: &[String], now: Millis) -> Result<()>;
}

/// Grants as stored: a JSON array of their text forms, readable in the database.
pub fn grants_to_json(grants: &[Grant]) -> String {
    let texts: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
    serde_json::to_string(&texts).unwrap_or_else(|_| "[]".to_string())
}

/// The stored form back; a grant this build cannot read is an error, not dropped silently.
pub fn grants_from_json(text: &str) -> Result<Vec<Grant>> {
    let texts: Vec<String> = serde_json::from_str(text).map_err(|e| Error::Meta(format!("stored grants: {e}")))?;
    texts.iter().map(|t| Grant::parse(t).map_err(|e| Error::Meta(format!("stored grants: {e}")))).collect()
}

/// The 256-bit key secrets are sealed under and STS tokens are derived from.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The master key does not open a sealed value (a different master key, or corrupted data).
#[derive(Debug, thiserror::Error)]
#[error("the master key does not decrypt the stored key secrets")]
pub struct WrongMasterKey;

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> MasterKey {
        let mut bytes = [0u8; 32];
        let a = hex::decode(crate::random_id()).unwrap_or_default();
        let b = hex::decode(crate::random_id()).unwrap_or_default();
        for (i, byte) in a.iter().chain(b.iter()).take(32).enumerate() {
            bytes[i] = *byte;
        }
        MasterKey(bytes)
    }

    /// From 64 hex digits (what `master.key` and `FERRY_MASTER_KEY` hold).
    pub fn from_hex(text: &str) -> std::result::Result<MasterKey, String> {
        let bytes = hex::decode(text.trim()).map_err(|_| "the master key must be 64 hex digits".to_string())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| "the master key must be 64 hex digits (32 bytes)")?;
        Ok(MasterKey(bytes))
    }

    /// 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A key for one purpose, so the sealing key, the token key and the secret-derivation key
    /// never coincide.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable_mac());
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Encrypt and authenticate `plain` (nonce || ciphertext).
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Vec<u8> {
        seal_with(&self.derive(purpose), plain)
    }

    /// Undo [`MasterKey::seal`].
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> std::result::Result<Vec<u8>, WrongMasterKey> {
        open_with(&self.derive(purpose), sealed)
    }
}

/// HMAC accepts keys of any length, so construction cannot fail; this keeps the code free of
/// `expect` all the same.
fn unreachable_mac() -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable_mac())
}

pub(crate) fn seal_with(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    let random = hex::decode(crate::random_id()).unwrap_or_default();
    for (i, b) in random.iter().take(12).enumerate() {
        nonce[i] = *b;
    }
    // Encryption with a 96-bit nonce only fails for plaintexts far beyond any secret or token.
    let ciphertext = cipher.encrypt(Nonce::from_slice(&nonce), plain).unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    out
}

pub(crate) fn open_with(key: &[u8; 32], sealed: &[u8]) -> std::result::Result<Vec<u8>, WrongMasterKey> {
    if sealed.len() < 12 + 16 {
        return Err(WrongMasterKey);
    }
    let cipher = Aes256Gcm::new(key.into());
    cipher.decrypt(Nonce::from_slice(&sealed[..12]), &sealed[12..]).map_err(|_| WrongMasterKey)
}

/// The purpose under which key secrets are sealed.
pub const SECRET_PURPOSE: &str = "ferry key secret v1";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_master_key() {
        let key = MasterKey::generate();
        let sealed = key.seal(SECRET_PURPOSE, b"s3cret");
        assert_eq!(key.open(SECRET_PURPOSE, &sealed).unwrap(), b"s3cret");
        assert!(MasterKey::generate().open(SECRET_PURPOSE, &sealed).is_err());
        assert!(key.open("other purpose", &sealed).is_err());
        let again = MasterKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(again.open(SECRET_PURPOSE, &sealed).unwrap(), b"s3cret");
        assert!(MasterKey::from_hex("abc").is_err());
    }
}
