//! The checkpoint record of an upload: enough to find the upload again after any crash and to
//! tell whether the source file is still the same. Written atomically (temp file, fsync,
//! rename), so a crash never leaves a half-written record.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes hashed at each end of the file for its identity.
const EDGE: u64 = 1024 * 1024;
const VERSION: u32 = 1;

/// What identifies a source file's content cheaply: size, modification time and a hash of its
/// first and last MiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub size: u64,
    pub mtime_ns: u128,
    pub edges_sha256: String,
}

impl FileIdentity {
    pub fn of(path: &Path) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let size = meta.len();
        let mtime_ns = meta.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let mut hasher = Sha256::new();
        let mut buf = vec![0; EDGE.min(size) as usize];
        file.read_exact(&mut buf)?;
        hasher.update(&buf);
        if size > EDGE {
            let tail = EDGE.min(size - EDGE);
            file.seek(SeekFrom::Start(size - tail))?;
            let mut buf = vec![0; tail as usize];
            file.read_exact(&mut buf)?;
            hasher.update(&buf);
        }
        Ok(FileIdentity { size, mtime_ns, edges_sha256: hex::encode(hasher.finalize()) })
    }
}

/// An interrupted upload, as recorded on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub source: PathBuf,
    pub file: FileIdentity,
    pub part_size: u64,
    /// Parts confirmed by the server: number → ETag. A hint only; the server's list decides.
    pub parts: BTreeMap<u32, String>,
}

impl Checkpoint {
    pub fn new(
        endpoint: &str,
        bucket: &str,
        key: &str,
        upload_id: &str,
        source: &Path,
        file: FileIdentity,
        part_size: u64,
    ) -> Self {
        Checkpoint {
            version: VERSION,
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
            source: source.to_path_buf(),
            file,
            part_size,
            parts: BTreeMap::new(),
        }
    }

    /// `<source>.ferry-checkpoint` beside the file, or a name derived from the source path and
    /// the target inside `dir`.
    pub fn path_for(source: &Path, dir: Option<&Path>, bucket: &str, key: &str) -> PathBuf {
        match dir {
            None => {
                let mut name = source.as_os_str().to_owned();
                name.push(".ferry-checkpoint");
                PathBuf::from(name)
            }
            Some(dir) => {
                let absolute = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
                let digest = Sha256::digest(format!("{}\n{bucket}\n{key}", absolute.display()).as_bytes());
                let stem = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                dir.join(format!("{stem}.{}.ferry-checkpoint", &hex::encode(digest)[..16]))
            }
        }
    }

    /// The record at `path`; `None` when absent, unreadable or of another version (a corrupt
    /// record means starting over, never a failure).
    pub fn load(path: &Path) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        let record: Checkpoint = serde_json::from_str(&text).ok()?;
        (record.version == VERSION).then_some(record)
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        {
            let mut file = File::create(&temp)?;
            file.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
            file.sync_all()?;
        }
        fs::rename(&temp, path)
    }

    pub fn remove(path: &Path) {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_identity() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let src = dir.path().join("f.bin");
        fs::write(&src, vec![7u8; 3 * 1024 * 1024]).unwrap_or_else(|e| panic!("{e}"));
        let id = FileIdentity::of(&src).unwrap_or_else(|e| panic!("{e}"));
        let mut cp = Checkpoint::new("http://x", "b", "k", "u", &src, id.clone(), 8);
        cp.parts.insert(1, "etag".into());
        let path = Checkpoint::path_for(&src, None, "b", "k");
        cp.save(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Checkpoint::load(&path), Some(cp));
        fs::write(&path, b"{ half a record").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Checkpoint::load(&path), None, "a corrupt record is ignored");
        // Same size, different tail: a different file.
        let mut data = vec![7u8; 3 * 1024 * 1024];
        data[3 * 1024 * 1024 - 1] = 8;
        fs::write(&src, data).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(FileIdentity::of(&src).unwrap_or_else(|e| panic!("{e}")).edges_sha256, id.edges_sha256);
    }
}
