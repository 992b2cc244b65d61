//! The engine: upload sessions, parts, commit, objects, buckets, expiry and garbage collection.
//!
//! This module holds what every part shares: [`Engine`] itself and its [`EngineConfig`], the
//! types front-ends pass in and get back, the [`Observer`] hook for metrics, and the small
//! validation rules (keys, bucket names, ranges) that protect storage whatever the dialect. The work is
//! split by what it owns, each in `impl Engine` blocks of its own file:
//!
//! - [`sessions`]: creating, opening, listing and aborting upload sessions, and their expiry rules;
//! - [`parts`]: storing parts (uploaded or copied), listing them, and the ingest pipeline with its
//!   free-space check;
//! - [`commit`]: verifying a part list and publishing it by metadata only, exactly once;
//! - [`objects`]: buckets and whole objects (put, copy, read, delete, list);
//! - [`maintenance`]: the sweeper, the orphan scan, start-up recovery and the work lease;
//! - [`tables`]: the table bucket and table upload sessions, for the table service
//!   (`ferry-tables`), which owns schemas, partitions and Parquet;
//! - [`scrub`]: re-reading every blob against its recorded digests, flagging damaged objects;
//! - [`lifecycle`]: bucket lifecycle rules, kept per bucket and applied by the sweeper.

mod commit;
mod events;
mod lifecycle;
mod maintenance;
mod objects;
mod parts;
mod scrub;
mod sessions;
mod tables;
mod uploads;

pub use scrub::{FindingKind, ScrubFinding, ScrubOptions, ScrubReport, ScrubSubject};

pub use maintenance::{SweepObserver, SweeperConfig, run_sweeper};
pub use uploads::{AppendError, MAX_APPENDS, UploadProgress};

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
    /// How long a "day" of a bucket lifecycle rule lasts (24 hours; shorter for tests).
    pub lifecycle_day: Duration,
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
            lifecycle_day: Duration::from_secs(24 * 3600),
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

/// The protocol's rules for a commit, chosen by the front-end. [`CommitRules::new`] gives S3's
/// (ascending list, a minimum size for every part but the last); the builder methods add the
/// rules other dialects have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRules {
    /// Every part but the last must be at least this big (`EntityTooSmall`).
    pub min_part_size: u64,
    /// At most this many parts (`InvalidArgument`).
    pub max_parts: usize,
    /// When set, the parts must be numbered `first, first + 1, ...` without a gap (US3: from 0);
    /// a gap is `MissingPart` with the first number absent.
    pub contiguous_from: Option<u32>,
    /// When set, every part but the last must be exactly this big (US3's block size), else
    /// `PartSizeMismatch`.
    pub exact_part_size: Option<u64>,
}

impl CommitRules {
    /// S3's rules: an ascending list of at most `max_parts`, every part but the last at least
    /// `min_part_size`.
    pub fn new(min_part_size: u64, max_parts: usize) -> Self {
        CommitRules { min_part_size, max_parts, contiguous_from: None, exact_part_size: None }
    }

    /// Parts must be numbered `first, first + 1, ...` without a gap.
    pub fn contiguous_from(mut self, first: u32) -> Self {
        self.contiguous_from = Some(first);
        self
    }

    /// Every part but the last must be exactly `size` bytes.
    pub fn exact_part_size(mut self, size: u64) -> Self {
        self.exact_part_size = Some(size);
        self
    }
}

/// Which parts a commit publishes.
#[derive(Debug, Clone)]
pub enum PartList {
    /// Exactly these parts, in this order, each matching what the server holds (S3 and OSS
    /// CompleteMultipartUpload). A repeated commit of a published session with the same list
    /// answers with what it published; another list is `NoSuchUpload`.
    Listed(Vec<CommitPart>),
    /// Every part the session holds, in ascending order, each ETag given naming one of them
    /// (US3's finish, whose SDKs send a loose list of ETags: empty items, duplicates, any order).
    /// An ETag no held part has is `InvalidArgument`; no part held at all is `InvalidArgument`.
    /// A repeated commit of a published session answers with what it published, whatever ETags.
    Held { etags: Vec<String> },
}

/// A commit: the parts to publish and the rules they must meet.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub parts: PartList,
    pub rules: CommitRules,
    /// The object size the client expects (S3's `x-amz-mp-object-size`): any other size is
    /// `InvalidArgument`, and nothing is published.
    pub expected_size: Option<u64>,
    /// A whole-object checksum the client computed (S3's `x-amz-checksum-*` on Complete): the
    /// object's checksum of that algorithm and type must equal it, else `ChecksumMismatch`
    /// (or `InvalidArgument` when that checksum cannot be computed from the parts), and nothing
    /// is published.
    pub expected_checksum: Option<ObjectChecksum>,
}

impl CommitRequest {
    /// Exactly `parts`, in order ([`PartList::Listed`]).
    pub fn listed(parts: Vec<CommitPart>, rules: CommitRules) -> Self {
        CommitRequest { parts: PartList::Listed(parts), rules, expected_size: None, expected_checksum: None }
    }

    /// Every part held ([`PartList::Held`]), each of `etags` naming one of them.
    pub fn held(etags: Vec<String>, rules: CommitRules) -> Self {
        CommitRequest { parts: PartList::Held { etags }, rules, expected_size: None, expected_checksum: None }
    }

    /// Publish only an object of exactly `size` bytes ([`CommitRequest::expected_size`]).
    pub fn expect_size(mut self, size: Option<u64>) -> Self {
        self.expected_size = size;
        self
    }

    /// Publish only an object whose checksum is `checksum` ([`CommitRequest::expected_checksum`]).
    pub fn expect_checksum(mut self, checksum: Option<ObjectChecksum>) -> Self {
        self.expected_checksum = checksum;
        self
    }
}

/// A page of parts.
#[derive(Debug, Clone)]
pub struct PartListing {
    pub parts: Vec<PartRecord>,
    pub truncated: bool,
}

impl PartListing {
    /// The part-number marker the next page starts after: the last part returned.
    pub fn next_marker(&self) -> Option<u32> {
        self.parts.last().map(|p| p.number)
    }
}

/// Where a listing of uploads in progress resumes. Uploads are listed by key, then oldest
/// first; the marker names the last upload a client saw, or a key whose uploads it skips.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UploadMarker {
    /// From the first upload.
    #[default]
    Start,
    /// After every upload of this key (S3's `key-marker` without `upload-id-marker`).
    AfterKey(String),
    /// After upload `id` of `key`: the next page of the same key carries on with younger
    /// uploads of it, then the next keys. An id that names no upload of `key` skips every
    /// upload of `key`.
    AfterUpload { key: String, id: String },
}

impl UploadMarker {
    /// The marker S3 and OSS send: `key-marker` and `upload-id-marker`, empty when absent. An
    /// upload-id marker without a key marker is ignored, as S3 does.
    pub fn from_markers(key_marker: &str, upload_id_marker: &str) -> Self {
        match (key_marker, upload_id_marker) {
            ("", _) => UploadMarker::Start,
            (key, "") => UploadMarker::AfterKey(key.to_string()),
            (key, id) => UploadMarker::AfterUpload { key: key.to_string(), id: id.to_string() },
        }
    }

    /// As the store takes it: (key, id) to resume after; an id no upload has (the greatest
    /// character, which random ids never hold) for a key marker alone.
    fn as_store_after(&self) -> Option<(&str, &str)> {
        match self {
            UploadMarker::Start => None,
            UploadMarker::AfterKey(key) => Some((key, "\u{10FFFF}")),
            UploadMarker::AfterUpload { key, id } => Some((key, id)),
        }
    }
}

/// A page of uploads in progress.
#[derive(Debug, Clone)]
pub struct UploadListing {
    pub sessions: Vec<Session>,
    pub truncated: bool,
}

impl UploadListing {
    /// Where the next page starts, when there is one: after the last upload returned.
    pub fn next_marker(&self) -> Option<UploadMarker> {
        let last = self.sessions.last().filter(|_| self.truncated)?;
        Some(UploadMarker::AfterUpload { key: last.target.key().to_string(), id: last.id.clone() })
    }
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
    /// A scrub read and verified `bytes` more bytes of stored data.
    fn scrubbed(&self, _bytes: u64) {}
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
    damage_hint: Arc<scrub::DamageHint>,
    /// Names of the notification targets the server delivers to (see [`Engine::with_event_targets`]).
    event_targets: Arc<std::collections::BTreeSet<String>>,
}

impl Engine {
    pub fn new(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, config: EngineConfig) -> Self {
        Engine {
            meta,
            blobs,
            config,
            observer: Arc::new(Unobserved),
            damage_hint: Default::default(),
            event_targets: Default::default(),
        }
    }

    /// Report work to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
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

/// What the engine asks of a bucket name, to protect its storage: 1 to 255 bytes, no `/` (bucket
/// and key are joined with one in copy sources and table paths) and no control characters.
/// Each dialect applies its own naming rules before this (S3's: `ferry_http::names`).
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let ok = (1..=255).contains(&name.len()) && !name.contains('/') && !name.chars().any(char::is_control);
    if ok { Ok(()) } else { Err(Error::InvalidBucketName(name.to_string())) }
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
    fn bucket_names_only_protect_storage() {
        // Dialect rules (case, length 3..63, IP shapes) are the front-ends' to apply.
        for fine in ["abc", "Upper_Case", "192.168.1.1", "x"] {
            assert!(validate_bucket_name(fine).is_ok(), "{fine}");
        }
        for bad in ["", "a/b", "a\0b", &"x".repeat(256)] {
            assert!(validate_bucket_name(bad).is_err(), "{bad:?}");
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
