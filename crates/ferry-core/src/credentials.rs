//! The credential store shared by every front-end: one access key id and its secret.
//!
//! Each dialect signs differently, but all of them look the secret up by access key id here.

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

/// Looks secrets up by access key id.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    keys: Vec<Credentials>,
}

impl CredentialStore {
    pub fn new(keys: Vec<Credentials>) -> Self {
        CredentialStore { keys }
    }

    /// The secret for `access_key_id`, or `None` when the key is unknown.
    pub fn secret_for(&self, access_key_id: &str) -> Option<&str> {
        self.keys.iter().find(|c| c.access_key_id == access_key_id).map(|c| c.secret_access_key.as_str())
    }

    /// Generate a fresh key pair: an AWS-looking 20-character id and a 40-character secret.
    pub fn generate() -> Credentials {
        let id = crate::random_id().to_ascii_uppercase();
        let secret = format!("{}{}", crate::random_id(), crate::random_id());
        Credentials { access_key_id: format!("FERRY{}", &id[..15]), secret_access_key: secret[..40].to_string() }
    }
}
