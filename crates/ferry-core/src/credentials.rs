//! The credential store shared by every front-end: who signed a request, with which secret, and
//! what that key may do.
//!
//! Each dialect signs differently, but all of them resolve the access key id (and, for temporary
//! credentials, the session token) here into the secret to check the signature with and the
//! [`Principal`] to authorize with. The admin key comes from the environment or
//! `credentials.json`; every other key lives in the metadata store ([`KeyStore`]) and is read
//! through a snapshot refreshed every second or so, so a disabled or deleted key stops working
//! on every node within seconds while requests never wait on the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::access::{Grant, Principal, SessionPolicy};
use crate::error::{Error, Result};
use crate::keys::{KeyRecord, KeyStore, MasterKey, SECRET_PURPOSE};
use crate::sts::{self, TemporaryCredentials, TokenClaims, TokenError};
use crate::types::{Millis, now_millis};
use crate::upload_token::{self, MintError, TokenRequest, UploadClaims, UploadTokenError};

/// A key pair clients sign requests with.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret by accident (logs, panics).
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// A resolved signer: the secret to verify with, and who it is.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub secret: String,
    pub principal: Principal,
}

/// Why an access key id (with its token) does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("The access key id you provided does not exist in our records.")]
    UnknownKey,
    #[error("The access key is disabled.")]
    Disabled,
    #[error("{0}")]
    Token(#[from] TokenError),
}

#[derive(Clone)]
struct CachedKey {
    secret: String,
    enabled: bool,
    grants: Vec<Grant>,
}

/// Looks signers up by access key id.
pub struct CredentialStore {
    admin: Vec<Credentials>,
    master: Option<MasterKey>,
    store: Option<Arc<dyn KeyStore>>,
    keys: RwLock<HashMap<String, CachedKey>>,
    used: Mutex<HashMap<String, Millis>>,
    /// Shortest STS session allowed, in seconds (AWS: 900).
    sts_min_duration: u64,
}

impl std::fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStore").field("admin", &self.admin).finish_non_exhaustive()
    }
}

/// The longest STS session (AWS's limit for GetSessionToken is longer; ferry keeps one bound).
pub const STS_MAX_DURATION: u64 = 43_200;

impl CredentialStore {
    /// Only the given admin keys; no stored keys, no temporary credentials.
    pub fn new(keys: Vec<Credentials>) -> Self {
        CredentialStore {
            admin: keys,
            master: None,
            store: None,
            keys: RwLock::new(HashMap::new()),
            used: Mutex::new(HashMap::new()),
            sts_min_duration: 900,
        }
    }

    /// The admin key plus the keys in `store`, sealed under `master`. Call
    /// [`CredentialStore::refresh`] once before serving (it reports a wrong master key).
    pub fn with_store(admin: Credentials, master: MasterKey, store: Arc<dyn KeyStore>, sts_min_duration: u64) -> Self {
        CredentialStore {
            admin: vec![admin],
            master: Some(master),
            store: Some(store),
            keys: RwLock::new(HashMap::new()),
            used: Mutex::new(HashMap::new()),
            sts_min_duration,
        }
    }

    /// Shortest STS session, in seconds.
    pub fn sts_min_duration(&self) -> u64 {
        self.sts_min_duration
    }

    /// Reload the stored keys. Errors when a stored secret does not open under the master key
    /// (the wrong `FERRY_MASTER_KEY` or `master.key`); the previous snapshot stays in use.
    pub async fn refresh(&self) -> Result<()> {
        let (Some(store), Some(master)) = (&self.store, &self.master) else {
            return Ok(());
        };
        let records = store.list_keys().await?;
        let mut fresh = HashMap::with_capacity(records.len());
        for r in records {
            let secret =
                master.open(SECRET_PURPOSE, &r.sealed_secret).ok().and_then(|s| String::from_utf8(s).ok()).ok_or_else(
                    || {
                        Error::Meta(format!(
                            "the master key does not decrypt the secret of stored key {} ({}); start with the \
                         FERRY_MASTER_KEY or master.key the keys were created with",
                            r.name, r.access_key_id
                        ))
                    },
                )?;
            fresh.insert(r.access_key_id, CachedKey { secret, enabled: r.enabled, grants: r.grants });
        }
        if let Ok(mut keys) = self.keys.write() {
            *keys = fresh;
        }
        Ok(())
    }

    /// Refresh every `every` and record last-used times about once a minute, until the task is
    /// aborted.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last_flush = std::time::Instant::now();
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = this.refresh().await {
                    tracing::warn!("reloading access keys: {e}");
                }
                if last_flush.elapsed() >= Duration::from_secs(60) {
                    last_flush = std::time::Instant::now();
                    this.flush_last_used().await;
                }
            }
        })
    }

    /// Write the last-used times gathered since the last flush.
    pub async fn flush_last_used(&self) {
        let Some(store) = &self.store else { return };
        let used: Vec<(String, Millis)> = match self.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return,
        };
        let Some(latest) = used.iter().map(|(_, t)| *t).max() else { return };
        let ids: Vec<String> = used.into_iter().map(|(id, _)| id).collect();
        if let Err(e) = store.touch_keys(&ids, latest).await {
            tracing::warn!("recording when access keys were last used: {e}");
        }
    }

    /// The secret and principal for a request signed with `access_key_id`, carrying
    /// `session_token` when the credentials are temporary.
    pub fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> std::result::Result<Resolved, AuthError> {
        if let Some(token) = session_token {
            return self.resolve_temporary(access_key_id, token);
        }
        if let Some(admin) = self.admin.iter().find(|c| c.access_key_id == access_key_id) {
            return Ok(Resolved {
                secret: admin.secret_access_key.clone(),
                principal: Principal::admin(access_key_id),
            });
        }
        let key = self.cached(access_key_id).ok_or(AuthError::UnknownKey)?;
        if !key.enabled {
            return Err(AuthError::Disabled);
        }
        if let Ok(mut used) = self.used.lock() {
            used.insert(access_key_id.to_string(), now_millis());
        }
        Ok(Resolved {
            secret: key.secret,
            principal: Principal {
                access_key_id: access_key_id.to_string(),
                key: Some(access_key_id.to_string()),
                admin: false,
                grants: key.grants,
                policy: None,
                temporary: false,
                upload_limit: None,
            },
        })
    }

    fn cached(&self, access_key_id: &str) -> Option<CachedKey> {
        self.keys.read().ok().and_then(|keys| keys.get(access_key_id).cloned())
    }

    fn resolve_temporary(&self, access_key_id: &str, token: &str) -> std::result::Result<Resolved, AuthError> {
        let master = self.master.as_ref().ok_or(TokenError::Invalid)?;
        let now = now_millis() / 1000;
        let (claims, secret) = sts::open(master, token, access_key_id, now)?;
        let policy = match &claims.policy {
            Some(text) => Some(SessionPolicy::parse(text).map_err(|_| TokenError::Invalid)?),
            None => None,
        };
        // The parent is looked up now, not when the token was minted: disabling or deleting it
        // ends every token it issued.
        let mut principal = match self.resolve(&claims.parent, None) {
            Ok(parent) => parent.principal,
            Err(AuthError::Disabled) => return Err(AuthError::Disabled),
            Err(_) => return Err(AuthError::Token(TokenError::Invalid)),
        };
        principal.access_key_id = access_key_id.to_string();
        principal.policy = policy;
        principal.temporary = true;
        Ok(Resolved { secret, principal })
    }

    /// Temporary credentials acting for `principal` for `duration` seconds, narrowed by `policy`.
    /// Errors (as text for the STS error message) when the principal is itself temporary, the
    /// duration is out of range or no master key is configured.
    pub fn mint(
        &self,
        principal: &Principal,
        duration: u64,
        policy: Option<&str>,
    ) -> std::result::Result<TemporaryCredentials, String> {
        let master = self.master.as_ref().ok_or("temporary credentials are not enabled on this server")?;
        if principal.temporary {
            return Err("temporary credentials cannot request further temporary credentials".into());
        }
        if duration < self.sts_min_duration || duration > STS_MAX_DURATION {
            return Err(format!(
                "DurationSeconds must be between {} and {STS_MAX_DURATION} seconds",
                self.sts_min_duration
            ));
        }
        if let Some(text) = policy {
            SessionPolicy::parse(text)?;
        }
        let parent = principal.key.clone().unwrap_or_else(|| principal.access_key_id.clone());
        let expires = now_millis() / 1000 + duration as i64;
        Ok(sts::mint(master, &TokenClaims { parent, expires, policy: policy.map(str::to_string) }))
    }

    /// The principal for an `Authorization: Bearer` upload token: the parent key as it is now
    /// (disabled or deleted → refused), narrowed to writing under the token's bucket/prefix and
    /// carrying its size limit ([`Principal::upload_limit`]).
    pub fn resolve_upload_token(&self, token: &str) -> std::result::Result<Principal, UploadTokenError> {
        let master = self.master.as_ref().ok_or(UploadTokenError::Disabled)?;
        let claims = upload_token::open(master, token, now_millis() / 1000)?;
        let parent = match self.resolve(&claims.parent, None) {
            Ok(parent) => parent.principal,
            Err(AuthError::Disabled) => return Err(UploadTokenError::ParentDisabled),
            Err(_) => return Err(UploadTokenError::ParentGone),
        };
        claims.narrow(parent)
    }

    /// Mint an upload token for `principal` (the signer of a token API request). See
    /// [`upload_token::mint_for`] for when it is refused.
    pub fn mint_upload_token(
        &self,
        principal: &Principal,
        request: &TokenRequest,
    ) -> std::result::Result<(String, UploadClaims), MintError> {
        let master = self.master.as_ref().ok_or_else(|| MintError(UploadTokenError::Disabled.to_string()))?;
        upload_token::mint_for(master, principal, request, now_millis() / 1000)
    }

    /// The key that created `bucket` now holds `admin` on it (the admin key needs no grant).
    pub async fn bucket_created(&self, principal: &Principal, bucket: &str) -> Result<()> {
        let (Some(store), Some(key)) = (&self.store, &principal.key) else { return Ok(()) };
        let Some(cached) = self.cached(key) else { return Ok(()) };
        let owner = Grant::parse(&format!("{bucket}:admin")).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if cached.grants.contains(&owner) {
            return Ok(());
        }
        let mut grants = cached.grants.clone();
        grants.push(owner);
        store.update_key(key, &grants, cached.enabled).await?;
        // This node sees the new grant at once; others at their next refresh.
        if let Ok(mut keys) = self.keys.write()
            && let Some(entry) = keys.get_mut(key)
        {
            entry.grants = grants;
        }
        Ok(())
    }

    /// Generate a fresh key pair: an AWS-looking 20-character id and a 40-character secret.
    pub fn generate() -> Credentials {
        let id = crate::random_id().to_ascii_uppercase();
        let secret = format!("{}{}", crate::random_id(), crate::random_id());
        Credentials { access_key_id: format!("FERRY{}", &id[..15]), secret_access_key: secret[..40].to_string() }
    }

    /// A new stored key named `name` with `grants`, its secret sealed under `master`; returns
    /// the record to insert and the plain secret to show once.
    pub fn new_key(master: &MasterKey, name: &str, grants: Vec<Grant>) -> (KeyRecord, Credentials) {
        let creds = Self::generate();
        let record = KeyRecord {
            access_key_id: creds.access_key_id.clone(),
            name: name.to_string(),
            sealed_secret: master.seal(SECRET_PURPOSE, creds.secret_access_key.as_bytes()),
            created: now_millis(),
            last_used: None,
            enabled: true,
            grants,
        };
        (record, creds)
    }
}
