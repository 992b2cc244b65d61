use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::checksum::{ChecksumAlgorithm, ChecksumType, Digests};

/// Milliseconds since the Unix epoch. All engine times use it so stores need no date types.
pub type Millis = i64;

/// The current wall-clock time in [`Millis`].
pub fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}

/// 32 lowercase hex characters of OS randomness: upload ids, blob ids, keys.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // getrandom only fails when the OS has no entropy source at all; a time-based id keeps
    // the server running there rather than panicking on a request path.
    if getrandom::fill(&mut bytes).is_err() {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        bytes = t.to_le_bytes();
    }
    hex::encode(bytes)
}

/// Identifies one stored blob (a part's bytes). Opaque to everyone but the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobId(pub String);

impl BlobId {
    pub fn random() -> Self {
        BlobId(random_id())
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The life of an upload session. The Tunnel set is the superset; S3 uses a subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionState {
    /// Being created.
    Unknown,
    /// Accepting parts.
    Normal,
    /// A commit is running; parts are refused.
    Closing,
    /// Published.
    Closed,
    /// Lifetime or idle timeout passed; parts are garbage.
    Expired,
    /// Cancelled by the client; parts are garbage.
    Aborted,
    /// An internal inconsistency was found. Never silently "fixed".
    Critical,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Unknown => "UNKNOWN",
            SessionState::Normal => "NORMAL",
            SessionState::Closing => "CLOSING",
            SessionState::Closed => "CLOSED",
            SessionState::Expired => "EXPIRED",
            SessionState::Aborted => "ABORTED",
            SessionState::Critical => "CRITICAL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "UNKNOWN" => SessionState::Unknown,
            "NORMAL" => SessionState::Normal,
            "CLOSING" => SessionState::Closing,
            "CLOSED" => SessionState::Closed,
            "EXPIRED" => SessionState::Expired,
            "ABORTED" => SessionState::Aborted,
            "CRITICAL" => SessionState::Critical,
            _ => return None,
        })
    }
}

/// Content headers and user metadata kept with an object, shared by every dialect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    /// User metadata, names lowercased, in the order received.
    pub user: Vec<(String, String)>,
}

/// The whole-object checksum the client asked for when it created the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumRequest {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumType,
}

/// What a session publishes to when committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectTarget {
    pub bucket: String,
    pub key: String,
}

/// What a session writes to. Every session has exactly one target, fixed when it is created,
/// and the engine refuses to use a session through an operation meant for the other kind: an
/// object dialect never sees a table upload, and a table upload never publishes an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// An object upload (S3, OSS and US3 multipart uploads).
    Object { bucket: String, key: String },
    /// A table upload (Tunnel): blocks become files of one partition. `partition` is the
    /// normalized spec (`k=v,k2=v2` in schema order), empty for a table without partitions.
    TablePartition { project: String, table: String, partition: String },
}

impl Target {
    /// The object target (bucket, key).
    pub fn object(bucket: impl Into<String>, key: impl Into<String>) -> Target {
        Target::Object { bucket: bucket.into(), key: key.into() }
    }

    /// The bucket of an object target; `None` for a table target.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            Target::Object { bucket, .. } => Some(bucket),
            Target::TablePartition { .. } => None,
        }
    }

    /// The key of an object target; `""` for a table target (which has none), so listings of
    /// object sessions can print it directly.
    pub fn key(&self) -> &str {
        match self {
            Target::Object { key, .. } => key,
            Target::TablePartition { .. } => "",
        }
    }

    /// Whether this is an object target.
    pub fn is_object(&self) -> bool {
        matches!(self, Target::Object { .. })
    }
}

impl From<ObjectTarget> for Target {
    fn from(t: ObjectTarget) -> Target {
        Target::Object { bucket: t.bucket, key: t.key }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Object { bucket, key } => write!(f, "object {bucket}/{key}"),
            Target::TablePartition { project, table, partition } if partition.is_empty() => {
                write!(f, "table {project}.{table}")
            }
            Target::TablePartition { project, table, partition } => {
                write!(f, "partition {partition} of table {project}.{table}")
            }
        }
    }
}

/// The clock one session operation is judged by. A live session (`Normal` or `Unknown`) whose
/// lifetime ended (`expires <= now`) or that saw no activity since `idle_before` is expired by
/// whichever operation finds it so, inside the store's transaction, whatever the sweeper has
/// done yet; the sweeper only cleans up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionClock {
    pub now: Millis,
    /// Sessions idle since at or before this instant are expired.
    pub idle_before: Millis,
}

impl SessionClock {
    /// Whether `session` looks stale by its own fields. A store may know of later activity
    /// (PostgreSQL keeps part times on the parts), so `true` here means "ask the store", while
    /// `false` is final.
    pub fn looks_stale(&self, session: &Session) -> bool {
        matches!(session.state, SessionState::Normal | SessionState::Unknown)
            && (session.expires <= self.now || session.last_activity <= self.idle_before)
    }
}

/// An upload session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub target: Target,
    pub state: SessionState,
    pub created: Millis,
    pub last_activity: Millis,
    pub expires: Millis,
    pub meta: ObjectMeta,
    pub checksum: Option<ChecksumRequest>,
    /// Set once Closed: fingerprint of the committed part list and the published ETag, so a
    /// retried identical commit gets the same answer.
    pub commit: Option<CommitRecord>,
    /// The session was open when ferry began keeping part numbers as each protocol sends them.
    /// Before, US3 uploads stored part n as n + 1; see [`Session::numbered_from`]. New sessions
    /// are never legacy.
    pub legacy_numbering: bool,
    /// Added to every part number a front-end hands the engine for this session, subtracted
    /// from every number the engine hands back: 1 for a legacy session opened by a dialect
    /// numbering its parts from 0 (US3), else 0. Not stored: set by [`Session::numbered_from`].
    pub part_shift: u32,
    /// The protocol that opened the session ("s3", "oss", "us3", "tunnel", "console"); `None`
    /// for sessions opened before ferry recorded it, or by a front-end that does not say.
    pub dialect: Option<String>,
}

impl Session {
    /// This session as seen by a dialect whose first part number is `first` (US3: 0): a legacy
    /// object session held its parts one higher than such a dialect numbers them, and the
    /// engine keeps translating for it so an upload open across the upgrade finishes correctly.
    pub fn numbered_from(mut self, first: u32) -> Session {
        self.part_shift = u32::from(self.legacy_numbering && first == 0 && self.target.is_object());
        self
    }
}

/// What a finished commit leaves on its session for idempotent retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    pub fingerprint: String,
    pub etag: String,
    pub checksum: Option<ObjectChecksum>,
    pub size: u64,
}

/// One stored part: the receipt a client gets for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub number: u32,
    pub blob: BlobId,
    pub size: u64,
    pub digests: Digests,
    pub modified: Millis,
}

impl PartRecord {
    /// The S3/OSS-style ETag of this part: hex MD5 of its bytes, without quotes.
    pub fn etag(&self) -> String {
        hex::encode(self.digests.md5)
    }
}

/// A whole-object checksum in its wire form (base64, `-N` suffix when composite).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub kind: ChecksumType,
    pub value: String,
}

/// One piece of an object's manifest: a blob and its place in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub blob: BlobId,
    pub offset: u64,
    pub size: u64,
}

/// A published object: metadata plus the ordered list of blobs holding its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Without quotes: hex MD5, or `hex-N` for a multipart object.
    pub etag: String,
    pub modified: Millis,
    pub meta: ObjectMeta,
    pub checksum: Option<ObjectChecksum>,
    /// CRCs of the whole object, derived without re-reading data.
    pub crc: WholeCrc,
    pub manifest: Vec<ManifestEntry>,
}

/// Full-object CRC values, combined from the parts' CRCs at commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholeCrc {
    pub crc32: u32,
    pub crc32c: u32,
    pub crc64nvme: u64,
    pub crc64xz: u64,
}

/// A line of an object listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub modified: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created: Millis,
}
