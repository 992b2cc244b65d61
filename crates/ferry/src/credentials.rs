//! Where the server's key pair comes from: the environment, else a file in the data directory
//! generated on first start.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use ferry_core::credentials::{CredentialStore, Credentials};
use serde::{Deserialize, Serialize};

const FILE: &str = "credentials.json";

#[derive(Serialize, Deserialize)]
struct Stored {
    access_key_id: String,
    secret_access_key: String,
}

/// How the credentials were obtained, for the start-up banner.
pub enum Origin {
    Environment,
    Generated,
    DataDir,
}

/// Whether the data directory holds a key pair.
pub fn exists(data_dir: &Path) -> bool {
    data_dir.join(FILE).exists()
}

pub fn load(data_dir: &Path, from_env: Option<(String, String)>) -> anyhow::Result<(Credentials, Origin)> {
    if let Some((id, secret)) = from_env {
        anyhow::ensure!(
            !id.is_empty() && !secret.is_empty(),
            "FERRY_ACCESS_KEY_ID and FERRY_SECRET_ACCESS_KEY must not be empty"
        );
        return Ok((Credentials { access_key_id: id, secret_access_key: secret }, Origin::Environment));
    }
    let path = data_dir.join(FILE);
    if path.exists() {
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let stored: Stored = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid; delete it to generate new credentials", path.display()))?;
        return Ok((
            Credentials { access_key_id: stored.access_key_id, secret_access_key: stored.secret_access_key },
            Origin::DataDir,
        ));
    }
    let creds = CredentialStore::generate();
    let stored =
        Stored { access_key_id: creds.access_key_id.clone(), secret_access_key: creds.secret_access_key.clone() };
    let temp = data_dir.join(format!("{FILE}.tmp"));
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp).with_context(|| format!("writing {}", temp.display()))?;
        file.write_all(serde_json::to_string_pretty(&stored)?.as_bytes())?;
        file.sync_all()?;
    }
    fs::rename(&temp, &path)?;
    Ok((creds, Origin::Generated))
}
