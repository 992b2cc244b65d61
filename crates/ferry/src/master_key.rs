//! The master key stored key secrets are sealed under and STS tokens are derived from:
//! `FERRY_MASTER_KEY` (64 hex digits), else `master.key` in the data directory, generated (mode
//! 0600) on first start. A missing or different master key while keys are stored is a start-up
//! error; nothing is generated or overwritten then, so the keys stay recoverable.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use ferry_core::keys::MasterKey;

const FILE: &str = "master.key";

/// Where the master key came from, for the start-up banner.
pub enum MasterOrigin {
    Environment,
    DataDir,
    Generated,
}

impl MasterOrigin {
    pub fn describe(&self) -> &'static str {
        match self {
            MasterOrigin::Environment => "from FERRY_MASTER_KEY",
            MasterOrigin::DataDir => "from master.key in the data directory",
            MasterOrigin::Generated => "generated now into master.key in the data directory; back it up",
        }
    }
}

/// Load the master key; `keys_stored` says whether the store already holds sealed secrets (then
/// a missing master key is an error rather than a reason to generate one).
pub fn load(data_dir: &Path, from_env: Option<&str>, keys_stored: bool) -> anyhow::Result<(MasterKey, MasterOrigin)> {
    if let Some(text) = from_env {
        let key = MasterKey::from_hex(text).map_err(|e| anyhow::anyhow!("FERRY_MASTER_KEY: {e}"))?;
        return Ok((key, MasterOrigin::Environment));
    }
    let path = data_dir.join(FILE);
    if path.exists() {
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let key = MasterKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok((key, MasterOrigin::DataDir));
    }
    if keys_stored {
        anyhow::bail!(
            "the metadata store holds access keys but there is no master key to decrypt them: set \
             FERRY_MASTER_KEY or restore {} from your backup (nothing was changed)",
            path.display()
        );
    }
    let key = MasterKey::generate();
    let temp = data_dir.join(format!("{FILE}.tmp"));
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp).with_context(|| format!("writing {}", temp.display()))?;
        file.write_all(key.to_hex().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
    }
    fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok((key, MasterOrigin::Generated))
}
