//! Choosing the stores from `--meta` and `--blobs`: the embedded default (SQLite and files in
//! the data directory) or shared ones (PostgreSQL, an S3-compatible bucket) for several nodes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ferry_blob::{LocalBlobStore, S3BlobStore};
use ferry_core::keys::KeyStore;
use ferry_core::{BlobStore, MetaStore};
use ferry_meta::{PostgresMetaStore, SqliteMetaStore};

/// Where metadata lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Where blobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    Files(PathBuf),
    S3(String),
}

impl MetaLocation {
    /// `sqlite://PATH` or `postgres://...`; none means `meta.db` in the data directory.
    pub fn parse(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        match url {
            None => Ok(MetaLocation::Sqlite(data_dir.join("meta.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(MetaLocation::Postgres(url.to_string()))
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) if !path.is_empty() => Ok(MetaLocation::Sqlite(PathBuf::from(path))),
                _ => anyhow::bail!("--meta {url:?}: use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
            },
        }
    }
}

impl BlobLocation {
    /// `file://DIR` or `s3://BUCKET/PREFIX`; none means the data directory.
    pub fn parse(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        match url {
            None => Ok(BlobLocation::Files(data_dir.to_path_buf())),
            Some(url) if url.starts_with("s3://") => Ok(BlobLocation::S3(url.to_string())),
            Some(url) => match url.strip_prefix("file://") {
                Some(path) if !path.is_empty() => Ok(BlobLocation::Files(PathBuf::from(path))),
                _ => anyhow::bail!("--blobs {url:?}: use file://DIR or s3://BUCKET/PREFIX"),
            },
        }
    }
}

/// A password in a URL, replaced for display.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The opened stores and what the server may assume about them.
pub struct Stores {
    pub meta: Arc<dyn MetaStore>,
    /// The access keys, in the same database as the metadata.
    pub keys: Arc<dyn KeyStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// This process is the only user of the metadata (SQLite, locked), so start-up recovery
    /// may reopen commits a crash left half done at once.
    pub exclusive: bool,
    pub meta_description: String,
    pub blobs_description: String,
    /// Locks on local directories, held while the server runs.
    _locks: Vec<fs::File>,
}

/// The store flags `ferry serve` takes, shared with the commands that open the stores directly
/// (`ferry scrub`).
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory for metadata (SQLite) and blobs on the embedded default, and credentials.json.
    #[arg(long, env = "FERRY_DATA_DIR", default_value = "./ferry-data")]
    pub data_dir: PathBuf,
    /// Metadata store: sqlite://PATH (default: meta.db in the data directory) or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE, shared by several nodes.
    #[arg(long, env = "FERRY_META")]
    pub meta: Option<String>,
    /// Blob store: file://DIR (default: the data directory) or s3://BUCKET/PREFIX on any
    /// S3-compatible store, configured by AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... .
    #[arg(long, env = "FERRY_BLOBS")]
    pub blobs: Option<String>,
}

impl StoreArgs {
    /// Where metadata and blobs are, from the flags.
    pub fn locations(&self) -> anyhow::Result<(MetaLocation, BlobLocation)> {
        Ok((
            MetaLocation::parse(self.meta.as_deref(), &self.data_dir)?,
            BlobLocation::parse(self.blobs.as_deref(), &self.data_dir)?,
        ))
    }
}

impl Stores {
    /// Open the stores for a server: local directories are locked while it runs.
    pub async fn open(meta: &MetaLocation, blobs: &BlobLocation) -> anyhow::Result<Stores> {
        Self::open_with(meta, blobs, true).await
    }

    /// Open the stores beside a server that may be running on them (`ferry scrub`): no
    /// directory lock is taken. Only for work that writes no blob and collects nothing; SQLite
    /// itself keeps concurrent metadata writes safe.
    pub async fn open_shared(meta: &MetaLocation, blobs: &BlobLocation) -> anyhow::Result<Stores> {
        Self::open_with(meta, blobs, false).await
    }

    async fn open_with(meta: &MetaLocation, blobs: &BlobLocation, take_locks: bool) -> anyhow::Result<Stores> {
        let mut locked: Vec<PathBuf> = Vec::new();
        let mut locks = Vec::new();
        let mut lock = |dir: &Path| -> anyhow::Result<()> {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let dir = dir.canonicalize()?;
            if take_locks && !locked.contains(&dir) {
                locks.push(lock_dir(&dir)?);
                locked.push(dir);
            }
            Ok(())
        };
        let (meta_store, key_store, meta_description): (Arc<dyn MetaStore>, Arc<dyn KeyStore>, String) = match meta {
            MetaLocation::Sqlite(path) => {
                lock(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
                let store = Arc::new(SqliteMetaStore::open(path).context("opening the metadata database")?);
                (store.clone(), store, format!("SQLite {}", path.display()))
            }
            MetaLocation::Postgres(url) => {
                let store =
                    Arc::new(PostgresMetaStore::connect(url).await.context("connecting to PostgreSQL (--meta)")?);
                (store.clone(), store, format!("PostgreSQL {}", redact(url)))
            }
        };
        let (blob_store, blobs_description): (Arc<dyn BlobStore>, String) = match blobs {
            BlobLocation::Files(dir) => {
                lock(dir)?;
                let store = LocalBlobStore::open(dir).context("opening the blob directory")?;
                (Arc::new(store), format!("files in {}", dir.display()))
            }
            BlobLocation::S3(url) => {
                let store = S3BlobStore::from_env(url).context("configuring the S3 blob store (--blobs)")?;
                store.prepare().await.with_context(|| format!("writing to the blob store {url}"))?;
                let description = store.description().to_string();
                (Arc::new(store), description)
            }
        };
        Ok(Stores {
            meta: meta_store,
            keys: key_store,
            blobs: blob_store,
            exclusive: matches!(meta, MetaLocation::Sqlite(_)),
            meta_description,
            blobs_description,
            _locks: locks,
        })
    }
}

/// One server per local directory: a second would corrupt nothing (SQLite locks) but would
/// sweep blobs the first one is writing.
fn lock_dir(dir: &Path) -> anyhow::Result<fs::File> {
    let file = fs::File::create(dir.join("ferry.lock"))?;
    file.try_lock().map_err(|_| {
        anyhow::anyhow!("another ferry server is using {}; stop it or choose another directory", dir.display())
    })?;
    Ok(file)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_with_defaults_and_clear_errors() {
        let dir = Path::new("/data");
        assert_eq!(MetaLocation::parse(None, dir).unwrap(), MetaLocation::Sqlite("/data/meta.db".into()));
        assert_eq!(
            MetaLocation::parse(Some("sqlite:///var/m.db"), dir).unwrap(),
            MetaLocation::Sqlite("/var/m.db".into())
        );
        assert!(matches!(MetaLocation::parse(Some("postgresql://u@h/db"), dir).unwrap(), MetaLocation::Postgres(_)));
        assert!(MetaLocation::parse(Some("mysql://x"), dir).unwrap_err().to_string().contains("postgres://"));
        assert_eq!(BlobLocation::parse(None, dir).unwrap(), BlobLocation::Files("/data".into()));
        assert_eq!(BlobLocation::parse(Some("s3://b/p"), dir).unwrap(), BlobLocation::S3("s3://b/p".into()));
        assert!(BlobLocation::parse(Some("gs://b"), dir).unwrap_err().to_string().contains("s3://"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://ferry:s3cret@db:5432/ferry"), "postgres://ferry:***@db:5432/ferry");
        assert_eq!(redact("postgres://ferry@db/ferry"), "postgres://ferry@db/ferry");
    }
}
