//! The engine: upload sessions, parts, commit, objects, buckets, expiry and garbage collection.
//!
//! This module holds what every part shares: [`Engine`] itself and its [`EngineConfig`], the
//! types front-ends pass in and get back, the [`Observer`] hook for metrics, and the small
//! validation rules (keys, bucket names, ranges) every dialect applies the same way. The work is
//! split by what it owns, each in `impl Engine` blocks of its own file:
//!
//! - [`sessions`]: creating, opening, listing and aborting upload sessions, and their expiry rules;
//! - [`parts`]: storing parts (uploaded or copied), listing them, and the ingest pipeline with its
//!   free-space check;
//! - [`commit`]: verifying a part list and publishing it by metadata only, exactly once;
//! - [`objects`]: buckets and whole objects (put, copy, read, delete, list);
//! - [`maintenance`]: the sweeper, the orphan scan, start-up recovery and the work lease.

mod commit;
mod maintenance;
mod objects;
mod parts;
mod sessions;

pub use maintenance::{SweepObserver, SweeperConfig, run_sweeper};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::checksum::{ChecksumAlgorithm, DigestKind, Wanted};
use crate::error::{Error, Result};
use crate::store::{BlobStore, ByteStream, MetaStore};
use crate::types::*;

/// Limits and timings of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How long a session may live from creation (default 24 h).
    pub session_lifetime: Duration,
    /// How long a session may go without a part before it expires (default 24 h).
    pub idle_timeout: Duration,
    /// How long garbage waits before deletion, so readers that opened a manifest just before an
    /// overwrite can finish.
    pub gc_grace: Duration,
    /// A commit still `Closing` after this long is assumed dead (crash) and reset to `Normal`.
    pub closing_timeout: Duration,
    /// How long a commit waits for a concurrent commit of the same session to finish before
    /// answering `Busy`.
    pub commit_wait: Duration,
    /// The bucket holding tables (schemas, partitions and Parquet data files).
    pub table_bucket: String,
    /// New uploads are refused (`InsufficientStorage`) while the blob store has less free space
    /// than this, so deletes, aborts and the sweeper always find room to free space.
    pub min_free_space: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            session_lifetime: Duration::from_secs(24 * 3600),
            idle_timeout: Duration::from_secs(24 * 3600),
            gc_grace: Duration::from_secs(60),
            closing_timeout: Duration::from_secs(600),
            commit_wait: Duration::from_secs(10),
            table_bucket: "ferry-tables".into(),
            min_free_space: 256 * 1024 * 1024,
        }
    }
}

/// A body to store as a part or object, with what it is expected to hash to.
pub struct PartInput {
    pub body: ByteStream,
    /// The length the client announced; a different length is an incomplete body.
    pub expected_size: Option<u64>,
    /// The front-end's size limit for one body.
    pub max_size: u64,
    /// Digests the client sent up front (Content-MD5, checksum headers, payload hash).
    pub expected: Vec<Expected>,
    /// Digests that arrive after the body (aws-chunked trailers); read once the body ended.
    pub trailer: Option<TrailerSlot>,
    /// Optional digests to compute although nothing is expected of them yet.
    pub wanted: Wanted,
}

/// A digest value the body must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub kind: DigestKind,
    pub value: Vec<u8>,
}

/// Where a body decoder puts the digests it found after the body.
pub type TrailerSlot = Arc<Mutex<Vec<Expected>>>;

/// One entry of a client's commit list.
#[derive(Debug, Clone, Default)]
pub struct CommitPart {
    pub number: u32,
    /// The ETag the client holds for the part, if the protocol sends one (quotes allowed).
    pub etag: Option<String>,
    /// Part checksums the client holds (base64 wire values).
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

/// The protocol's rules for a commit.
#[derive(Debug, Clone, Copy)]
pub struct CommitRules {
    /// Every part but the last must be at least this big.
    pub min_part_size: u64,
    pub max_parts: usize,
}

#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub parts: Vec<CommitPart>,
    pub rules: CommitRules,
}

/// A page of parts.
#[derive(Debug, Clone)]
pub struct PartListing {
    pub parts: Vec<PartRecord>,
    pub truncated: bool,
}

/// A page of an object listing, with keys rolled up under `delimiter` into common prefixes.
#[derive(Debug, Clone, Default)]
pub struct ObjectListing {
    pub objects: Vec<ObjectSummary>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts (the last key or common prefix returned).
    pub next_marker: Option<String>,
}

/// An object being read: its record, the byte range served and the bytes.
pub struct ObjectRead {
    pub object: ObjectRecord,
    /// Inclusive range when a range or part was asked for.
    pub range: Option<(u64, u64)>,
    pub body: ByteStream,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired_sessions: u64,
    pub deleted_blobs: u64,
}

/// A requested byte range, before it is resolved against an object's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-[last]`
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// What the engine reports as it works, for metrics. Every method has a no-op default.
pub trait Observer: Send + Sync + 'static {
    /// A body was stored (a part or a whole object) of `size` bytes.
    fn stored(&self, _size: u64, _is_part: bool) {}
    /// Bytes of object data were handed to a reader.
    fn served(&self, _bytes: u64) {}
    /// A commit finished: `published` when this call published the object (not a replay of an
    /// earlier commit, not a refusal).
    fn committed(&self, _elapsed: Duration, _outcome: CommitOutcome) {}
}

/// How a commit call ended, for [`Observer::committed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Published,
    /// An earlier commit of the same list had published; its result was returned again.
    Replayed,
    Refused,
}

impl CommitOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitOutcome::Published => "published",
            CommitOutcome::Replayed => "replayed",
            CommitOutcome::Refused => "refused",
        }
    }
}

struct Unobserved;
impl Observer for Unobserved {}

/// The engine. Cheap to clone; all state lives in the stores.
#[derive(Clone)]
pub struct Engine {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    config: EngineConfig,
    observer: Arc<dyn Observer>,
    row_counts: crate::tables::SharedRowCounts,
}

impl Engine {
    pub fn new(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, config: EngineConfig) -> Self {
        Engine { meta, blobs, config, observer: Arc::new(Unobserved), row_counts: Default::default() }
    }

    /// Report work to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub(crate) fn row_counts(&self) -> &crate::tables::RowCounts {
        &self.row_counts
    }

    /// The metadata store, for the table module's own writes into the table bucket.
    pub(crate) fn meta_store(&self) -> &dyn MetaStore {
        self.meta.as_ref()
    }

    /// `AccessDenied` for the table bucket. The object dialects may read tables (every table is
    /// plain Parquet under `EngineConfig::table_bucket`) but never write there: a schema, data
    /// file or upload written around the table rules would break the table for every client.
    fn refuse_table_bucket(&self, bucket: &str) -> Result<()> {
        if bucket == self.config.table_bucket {
            return Err(Error::AccessDenied(format!(
                "bucket {bucket} holds ferry's tables and is read-only here; write tables through the Tunnel API"
            )));
        }
        Ok(())
    }
}

/// Resolve a range against an object size: inclusive (first, last), end clamped.
pub fn resolve_range(spec: RangeSpec, size: u64) -> Result<(u64, u64)> {
    match spec {
        RangeSpec::From { first, last } => {
            if first >= size {
                return Err(Error::InvalidRange { size });
            }
            let last = last.unwrap_or(u64::MAX).min(size - 1);
            if last < first {
                return Err(Error::InvalidRange { size });
            }
            Ok((first, last))
        }
        RangeSpec::Suffix(n) => {
            if n == 0 || size == 0 {
                return Err(Error::InvalidRange { size });
            }
            Ok((size - n.min(size), size - 1))
        }
    }
}

/// S3's bucket naming rules, which every dialect ferry speaks accepts.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let ok_len = (3..=63).contains(&name.len());
    let ok_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ok_ends = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    let ok_dots = !name.contains("..");
    // S3 refuses names shaped like an IPv4 address (`192.168.5.4`): a virtual-host request
    // for one could not be told from a request to that address.
    let parts: Vec<&str> = name.split('.').collect();
    let ip_shaped = parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok_len && ok_chars && ok_ends && ok_dots && !ip_shaped {
        Ok(())
    } else {
        Err(Error::InvalidBucketName(name.to_string()))
    }
}

/// Object keys are opaque strings: any UTF-8 except NUL, 1..=1024 bytes. They never become
/// file paths (blobs are addressed by random ids), so `..` or `/` carry no risk.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("the key is empty".into()));
    }
    if key.len() > 1024 {
        return Err(Error::KeyTooLong(key.len()));
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey("the key contains a NUL character".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_s3() {
        assert_eq!(resolve_range(RangeSpec::From { first: 0, last: Some(9) }, 100).ok(), Some((0, 9)));
        assert_eq!(resolve_range(RangeSpec::From { first: 90, last: Some(500) }, 100).ok(), Some((90, 99)));
        assert_eq!(resolve_range(RangeSpec::From { first: 10, last: None }, 100).ok(), Some((10, 99)));
        assert_eq!(resolve_range(RangeSpec::Suffix(10), 100).ok(), Some((90, 99)));
        assert_eq!(resolve_range(RangeSpec::Suffix(1000), 100).ok(), Some((0, 99)));
        assert!(matches!(
            resolve_range(RangeSpec::From { first: 100, last: None }, 100),
            Err(Error::InvalidRange { .. })
        ));
        assert!(matches!(resolve_range(RangeSpec::From { first: 0, last: None }, 0), Err(Error::InvalidRange { .. })));
    }

    #[test]
    fn bucket_names() {
        for good in ["abc", "my-bucket.2", "a1b", "192.168.1.1.x", "1.2.3", "1.2.3.4.5"] {
            assert!(validate_bucket_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Upper", "-x-", "a..b", "under_score", &"x".repeat(64), "192.168.1.1", "10.0.0.255"] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert!(validate_key("../../etc/passwd").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\0b").is_err());
        assert!(validate_key(&"k".repeat(1025)).is_err());
        assert!(validate_key(&"k".repeat(1024)).is_ok());
    }
}
