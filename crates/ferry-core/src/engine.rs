//! The engine: upload sessions, parts, commit, objects, buckets, expiry and garbage collection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use md5::{Digest as _, Md5};

use crate::checksum::{self, ChecksumAlgorithm, ChecksumType, DigestKind, Digests, MultiHasher, Wanted};
use crate::conditions::{SourceConditions, WriteCondition};
use crate::error::{Error, Result};
use crate::pipeline::{HashSink, Stage};
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

/// The greatest Unicode scalar; appended to a prefix it sorts after every key under that prefix.
const MAX_CHAR: char = '\u{10FFFF}';

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

    // ----- buckets -------------------------------------------------------------------------

    /// Errors with `AccessDenied` for the table bucket's name (the engine creates it).
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        validate_bucket_name(name)?;
        self.refuse_table_bucket(name)?;
        self.meta.create_bucket(name, now_millis()).await
    }

    /// Errors with `AccessDenied` for the table bucket.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.refuse_table_bucket(name)?;
        self.meta.delete_bucket(name, now_millis()).await
    }

    /// Errors with `NoSuchBucket` when absent.
    pub async fn bucket(&self, name: &str) -> Result<BucketInfo> {
        self.meta.get_bucket(name).await?.ok_or(Error::NoSuchBucket)
    }

    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.meta.list_buckets().await
    }

    // ----- sessions ------------------------------------------------------------------------
    //
    // Every session rule lives here, for every dialect: which target a session belongs to, which
    // states accept which operation, and when it has expired. A front-end opens a session with
    // `open_session` (never by loading it and comparing fields itself) and hands the opened
    // session to `put_part`, `list_parts`, `commit` or `abort`, which check it again.

    /// Open an object upload session publishing to `target`. Errors with `AccessDenied` for a
    /// target in the table bucket (only the engine writes there).
    pub async fn create_session(
        &self,
        target: ObjectTarget,
        meta: ObjectMeta,
        checksum: Option<ChecksumRequest>,
    ) -> Result<Session> {
        validate_key(&target.key)?;
        self.refuse_table_bucket(&target.bucket)?;
        self.bucket(&target.bucket).await?;
        self.new_session(target.into(), meta, checksum).await
    }

    /// Store a new `Normal` session on any target (table uploads come through here too).
    pub(crate) async fn new_session(
        &self,
        target: Target,
        meta: ObjectMeta,
        checksum: Option<ChecksumRequest>,
    ) -> Result<Session> {
        self.check_free_space().await?;
        let now = now_millis();
        let session = Session {
            id: random_id(),
            target,
            state: SessionState::Normal,
            created: now,
            last_activity: now,
            expires: now + self.config.session_lifetime.as_millis() as Millis,
            meta,
            checksum,
            commit: None,
        };
        self.meta.create_session(&session).await?;
        Ok(session)
    }

    /// The clock session operations are judged by now.
    pub fn session_clock(&self) -> SessionClock {
        let now = now_millis();
        SessionClock { now, idle_before: now - self.config.idle_timeout.as_millis() as Millis }
    }

    /// The stored session, in any state, without any check. Errors with `NoSuchUpload`.
    pub(crate) async fn load_session(&self, id: &str) -> Result<Session> {
        self.meta.get_session(id).await?.ok_or(Error::NoSuchUpload)
    }

    /// Open session `id` for an operation on `target`: the one way every dialect loads a
    /// session. Errors with `NoSuchUpload` when the id is unknown or the session writes to
    /// anything but `target` (an object dialect naming a table upload's id gets exactly what it
    /// would get for an id that never existed), and with `AccessDenied` for an object session in
    /// the table bucket (one left from before that bucket was closed to object writes).
    ///
    /// A live session whose lifetime ended or that went idle too long is expired here, by the
    /// store and against the clock, so it comes back `Expired` even if the sweeper has not run;
    /// the session returned is otherwise in whatever state it is (`Closed` for a retried
    /// commit, `Expired` for Tunnel's status call), and the operation it is handed to decides
    /// whether that state will do.
    pub async fn open_session(&self, id: &str, target: &Target) -> Result<Session> {
        self.open_where(id, |t| t == target).await
    }

    /// Open object session `id` of `bucket`, whatever its key: for a dialect that addresses an
    /// upload by bucket and id alone (US3's bucket-level part listing). Otherwise as
    /// [`Engine::open_session`].
    pub async fn open_bucket_session(&self, id: &str, bucket: &str) -> Result<Session> {
        self.open_where(id, |t| t.bucket() == Some(bucket)).await
    }

    pub(crate) async fn open_where(&self, id: &str, belongs: impl Fn(&Target) -> bool) -> Result<Session> {
        let mut session = self.load_session(id).await?;
        if !belongs(&session.target) {
            return Err(Error::NoSuchUpload);
        }
        if let Target::Object { bucket, .. } = &session.target {
            self.refuse_table_bucket(bucket)?;
        }
        let clock = self.session_clock();
        if clock.looks_stale(&session) {
            if self.meta.expire_session(id, clock).await? {
                session.state = SessionState::Expired;
            } else {
                // Still live (a part arrived that this copy did not show) or changed state:
                // take what the store holds now.
                session = self.load_session(id).await?;
            }
        }
        Ok(session)
    }

    /// `Ok` if the session accepts parts, else `NoSuchUpload` (or `Busy` while committing).
    fn accepting_parts(session: &Session) -> Result<()> {
        match session.state {
            SessionState::Normal => Ok(()),
            SessionState::Closing => Err(Error::Busy),
            _ => Err(Error::NoSuchUpload),
        }
    }

    /// `Ok` for an object session; `NoSuchUpload` for a table session handed to an object
    /// operation (the id names no object upload).
    fn object_session(session: &Session) -> Result<()> {
        if session.target.is_object() { Ok(()) } else { Err(Error::NoSuchUpload) }
    }

    /// `Ok` for a table session; `NoSuchUpload` for an object session handed to a table
    /// operation.
    pub(crate) fn table_session(session: &Session) -> Result<()> {
        if session.target.is_object() { Err(Error::NoSuchUpload) } else { Ok(()) }
    }

    /// Object sessions accepting parts on `bucket`, ordered by key then age, after (key, id).
    /// Table uploads are never listed, nor sessions whose time is up.
    pub async fn list_sessions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<(Vec<Session>, bool)> {
        self.bucket(bucket).await?;
        let clock = self.session_clock();
        let mut sessions = self.meta.list_sessions(bucket, prefix, after, limit + 1, clock).await?;
        let truncated = sessions.len() > limit;
        sessions.truncate(limit);
        Ok((sessions, truncated))
    }

    /// Store part `number` of an object session (from [`Engine::open_session`]) from a stream,
    /// replacing any earlier copy atomically. The store checks state and expiry again when it
    /// records the part, so a session that expired while the body streamed gets nothing.
    pub async fn put_part(&self, session: &Session, number: u32, input: PartInput) -> Result<PartRecord> {
        Self::object_session(session)?;
        self.store_part(session, number, input).await
    }

    /// [`Engine::put_part`] for either kind of session; table blocks come through here.
    pub(crate) async fn store_part(&self, session: &Session, number: u32, input: PartInput) -> Result<PartRecord> {
        Self::accepting_parts(session)?;
        let mut wanted = input.wanted;
        if let Some(c) = session.checksum {
            wanted.add(c.algorithm.digest_kind());
        }
        let (blob, size, digests) = self.ingest(input, wanted).await?;
        let part = PartRecord { number, blob, size, digests, modified: now_millis() };
        if let Err(e) = self.meta.put_part(&session.id, &part, self.session_clock()).await {
            self.discard(&part.blob).await;
            return Err(e);
        }
        self.observer.stored(size, true);
        Ok(part)
    }

    /// Store part `number` from a range of an existing object (server-side, streamed).
    pub async fn copy_part(
        &self,
        session: &Session,
        number: u32,
        source: &ObjectTarget,
        range: Option<RangeSpec>,
        max_size: u64,
    ) -> Result<PartRecord> {
        self.copy_part_if(session, number, source, &SourceConditions::default(), range, max_size).await
    }

    /// [`Engine::copy_part`] when the source meets `conditions` (checked before the range, as
    /// S3 does); else `PreconditionFailed(Source)` and nothing is stored.
    pub async fn copy_part_if(
        &self,
        session: &Session,
        number: u32,
        source: &ObjectTarget,
        conditions: &SourceConditions,
        range: Option<RangeSpec>,
        max_size: u64,
    ) -> Result<PartRecord> {
        Self::object_session(session)?;
        Self::accepting_parts(session)?;
        let object = self.head_object(&source.bucket, &source.key).await?;
        conditions.check(&object)?;
        // Read from the record just checked, so the bytes copied are those of the version the
        // conditions held for (its blobs stay readable for the grace time even if replaced).
        let (first, end) = match range {
            Some(spec) => {
                let (first, last) = resolve_range(spec, object.size)?;
                (first, last + 1)
            }
            None => (0, object.size),
        };
        let size = end - first;
        let input = PartInput {
            body: self.read_span(&object.manifest, first, end),
            expected_size: Some(size),
            max_size,
            expected: Vec::new(),
            trailer: None,
            wanted: Wanted::default(),
        };
        self.put_part(session, number, input).await
    }

    /// Parts of an opened session with number > `after`, ascending, at most `limit`. Errors
    /// with `NoSuchUpload` unless the session is `Normal` or `Closing`.
    pub async fn list_parts(&self, session: &Session, after: Option<u32>, limit: usize) -> Result<PartListing> {
        // Judged as the session is now, not as the caller's copy was: a listing is the resume
        // source of truth, and must not show parts of a session that has since ended.
        let session = self.open_where(&session.id, |t| *t == session.target).await?;
        if !matches!(session.state, SessionState::Normal | SessionState::Closing) {
            return Err(Error::NoSuchUpload);
        }
        let mut parts = self.meta.list_parts(&session.id, after, limit + 1).await?;
        let truncated = parts.len() > limit;
        parts.truncate(limit);
        Ok(PartListing { parts, truncated })
    }

    /// Verify the client's part list against what the server holds and publish the object by
    /// metadata only. A retried commit of an already-published session with the same list
    /// returns the same result.
    ///
    /// `session` comes from [`Engine::open_session`]; a table session is `NoSuchUpload`. A
    /// session whose time ran out is expired by the store as the commit starts, and the commit
    /// is `NoSuchUpload`: nothing is published.
    pub async fn commit(&self, session: &Session, request: CommitRequest) -> Result<ObjectRecord> {
        self.commit_if(session, request, None).await
    }

    /// [`Engine::commit`], publishing only if `condition` holds for the object at the target key
    /// at the moment of publishing (checked atomically with it; see [`WriteCondition`]). When it
    /// does not, the error is `PreconditionFailed` (or `NoSuchKey` for `IfMatch` on a missing
    /// key), nothing is published, and the session accepts parts and commits again, as S3
    /// keeps a multipart upload after a 412.
    pub async fn commit_if(
        &self,
        session: &Session,
        request: CommitRequest,
        condition: Option<WriteCondition>,
    ) -> Result<ObjectRecord> {
        Self::object_session(session)?;
        let objects = self.commit_as(&session.id, Commit::Object(request, condition)).await?;
        objects.into_iter().next().ok_or_else(|| Error::Critical("a commit published no object".into()))
    }

    /// Commit a table upload: `blocks` must be exactly the block ids the session holds (each
    /// stored as the part of that number); each block is published as its own file, named by
    /// `file_key(block)`, in one transaction and by metadata only. A retried commit of the same
    /// list returns an empty list (the files are already published).
    pub(crate) async fn commit_blocks(
        &self,
        session: &Session,
        blocks: &[u32],
        file_key: &(dyn Fn(u32) -> String + Sync),
    ) -> Result<Vec<ObjectRecord>> {
        Self::table_session(session)?;
        self.commit_as(&session.id, Commit::Blocks { blocks, file_key }).await
    }

    async fn commit_as(&self, session_id: &str, commit: Commit<'_>) -> Result<Vec<ObjectRecord>> {
        let started = std::time::Instant::now();
        let (result, outcome) = self.commit_once(session_id, &commit).await;
        self.observer.committed(started.elapsed(), outcome);
        result
    }

    async fn commit_once(&self, session_id: &str, commit: &Commit<'_>) -> (Result<Vec<ObjectRecord>>, CommitOutcome) {
        let refused = |e: Error| (Err(e), CommitOutcome::Refused);
        let fingerprint = commit.fingerprint();
        if let Err(e) = commit.check() {
            return refused(e);
        }
        // A commit already running (on this node or another) usually finishes within
        // milliseconds; wait for its outcome and answer as for a retried commit, rather than
        // failing a client that merely raced itself.
        let deadline = std::time::Instant::now() + self.config.commit_wait;
        loop {
            let session = match self.load_session(session_id).await {
                // The stored target decides, not the caller's copy: an object commit never
                // publishes a table upload's blocks, nor the reverse.
                Ok(s) if s.target.is_object() == matches!(commit, Commit::Object(..)) => s,
                Ok(_) => return refused(Error::NoSuchUpload),
                Err(e) => return refused(e),
            };
            match session.state {
                SessionState::Normal => {}
                SessionState::Closed => {
                    let result = self.replay_commit(&session, &fingerprint).map(|o| match commit {
                        Commit::Object(..) => vec![o],
                        Commit::Blocks { .. } => Vec::new(),
                    });
                    let outcome = if result.is_ok() { CommitOutcome::Replayed } else { CommitOutcome::Refused };
                    return (result, outcome);
                }
                SessionState::Closing if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                SessionState::Closing => return refused(Error::Busy),
                _ => return refused(Error::NoSuchUpload),
            }
            // The store refuses (and expires) a session whose time ran out, in this transition.
            match self
                .meta
                .transition(session_id, &[SessionState::Normal], SessionState::Closing, self.session_clock())
                .await
            {
                Ok(true) => {}
                Ok(false) => continue, // another commit, an abort or expiry got there first: see how it ended
                Err(e) => return refused(e),
            }
            let published = match commit {
                Commit::Object(request, condition) => {
                    self.publish(&session, request, condition.as_ref(), fingerprint).await.map(|o| vec![o])
                }
                Commit::Blocks { blocks, file_key } => {
                    self.publish_blocks(&session, blocks, file_key, fingerprint).await
                }
            };
            return match published {
                Ok(objects) => (Ok(objects), CommitOutcome::Published),
                Err(e) => {
                    // Verification failed: the session accepts parts again, as S3 and Tunnel expect.
                    let reopened = self
                        .meta
                        .transition(session_id, &[SessionState::Closing], SessionState::Normal, self.session_clock())
                        .await;
                    refused(reopened.err().unwrap_or(e))
                }
            };
        }
    }

    async fn publish_blocks(
        &self,
        session: &Session,
        blocks: &[u32],
        file_key: &(dyn Fn(u32) -> String + Sync),
        fingerprint: String,
    ) -> Result<Vec<ObjectRecord>> {
        let held = self.all_parts(&session.id).await?;
        let wanted: std::collections::BTreeSet<u32> = blocks.iter().copied().collect();
        if let Some(missing) = wanted.iter().find(|b| !held.contains_key(b)) {
            return Err(Error::InvalidPart(*missing));
        }
        if let Some(extra) = held.keys().filter(|b| !wanted.contains(b)).min() {
            return Err(Error::InvalidPart(*extra));
        }
        let modified = now_millis();
        let files: Vec<ObjectRecord> = wanted
            .iter()
            .map(|b| {
                let part = &held[b];
                ObjectRecord {
                    bucket: self.config.table_bucket.clone(),
                    key: file_key(*b),
                    size: part.size,
                    etag: hex::encode(part.digests.md5),
                    modified,
                    meta: ObjectMeta {
                        content_type: Some("application/vnd.apache.parquet".into()),
                        ..ObjectMeta::default()
                    },
                    checksum: None,
                    crc: WholeCrc {
                        crc32: part.digests.crc32,
                        crc32c: part.digests.crc32c,
                        crc64nvme: part.digests.crc64nvme,
                        crc64xz: part.digests.crc64xz,
                    },
                    manifest: vec![ManifestEntry { blob: part.blob.clone(), offset: 0, size: part.size }],
                }
            })
            .collect();
        for f in &files {
            validate_key(&f.key)?;
        }
        let record =
            CommitRecord { fingerprint, etag: String::new(), checksum: None, size: files.iter().map(|f| f.size).sum() };
        self.meta.publish(&session.id, &files, &record).await?;
        Ok(files)
    }

    fn replay_commit(&self, session: &Session, fingerprint: &str) -> Result<ObjectRecord> {
        match &session.commit {
            Some(done) if done.fingerprint == fingerprint => Ok(ObjectRecord {
                bucket: session.target.bucket().unwrap_or_default().to_string(),
                key: session.target.key().to_string(),
                size: done.size,
                etag: done.etag.clone(),
                modified: session.last_activity,
                meta: session.meta.clone(),
                checksum: done.checksum.clone(),
                crc: WholeCrc::default(),
                manifest: Vec::new(),
            }),
            _ => Err(Error::NoSuchUpload),
        }
    }

    async fn publish(
        &self,
        session: &Session,
        request: &CommitRequest,
        condition: Option<&WriteCondition>,
        fingerprint: String,
    ) -> Result<ObjectRecord> {
        let held = self.all_parts(&session.id).await?;
        let mut chosen: Vec<&PartRecord> = Vec::with_capacity(request.parts.len());
        for wanted in &request.parts {
            let part = held.get(&wanted.number).ok_or(Error::InvalidPart(wanted.number))?;
            if let Some(etag) = &wanted.etag
                && !etag_matches(etag, &part.digests.md5)
            {
                return Err(Error::InvalidPart(wanted.number));
            }
            for (algorithm, value) in &wanted.checksums {
                if part.digests.base64(*algorithm).as_deref() != Some(value.trim()) {
                    return Err(Error::InvalidPart(wanted.number));
                }
            }
            chosen.push(part);
        }
        if let Some((_, init)) = chosen.split_last()
            && let Some(small) = init.iter().find(|p| p.size < request.rules.min_part_size)
        {
            return Err(Error::EntityTooSmall {
                number: small.number,
                size: small.size,
                min: request.rules.min_part_size,
            });
        }
        let digests: Vec<Digests> = chosen.iter().map(|p| p.digests).collect();
        let crc = combine_crcs(chosen.iter().map(|p| (&p.digests, p.size)));
        let checksum = session.checksum.and_then(|c| object_checksum(c, &digests, &crc));
        let mut manifest = Vec::with_capacity(chosen.len());
        let mut offset = 0;
        for p in &chosen {
            manifest.push(ManifestEntry { blob: p.blob.clone(), offset, size: p.size });
            offset += p.size;
        }
        let object = ObjectRecord {
            bucket: session.target.bucket().unwrap_or_default().to_string(),
            key: session.target.key().to_string(),
            size: offset,
            etag: checksum::multipart_etag(chosen.iter().map(|p| &p.digests.md5)),
            modified: now_millis(),
            meta: session.meta.clone(),
            checksum,
            crc,
            manifest,
        };
        let record = CommitRecord {
            fingerprint,
            etag: object.etag.clone(),
            checksum: object.checksum.clone(),
            size: object.size,
        };
        self.meta.publish_if(&session.id, std::slice::from_ref(&object), &record, condition).await?;
        Ok(object)
    }

    async fn all_parts(&self, session_id: &str) -> Result<HashMap<u32, PartRecord>> {
        let mut held = HashMap::new();
        let mut after = None;
        loop {
            let page = self.meta.list_parts(session_id, after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.number);
            held.extend(page.into_iter().map(|p| (p.number, p)));
        }
        Ok(held)
    }

    /// Cancel an opened session (either kind); its parts become garbage. Errors with
    /// `NoSuchUpload` unless it was live (an expired session is `NoSuchUpload`, as in S3).
    pub async fn abort(&self, session: &Session) -> Result<()> {
        let moved = self
            .meta
            .transition(
                &session.id,
                &[SessionState::Normal, SessionState::Unknown],
                SessionState::Aborted,
                self.session_clock(),
            )
            .await?;
        if moved {
            Ok(())
        } else {
            match self.load_session(&session.id).await?.state {
                SessionState::Closing => Err(Error::Busy),
                _ => Err(Error::NoSuchUpload),
            }
        }
    }

    // ----- objects -------------------------------------------------------------------------

    /// Store a whole object in one request. `checksum` names the algorithm the client chose, so
    /// the object records it as a full-object checksum.
    pub async fn put_object(
        &self,
        target: ObjectTarget,
        meta: ObjectMeta,
        input: PartInput,
        checksum: Option<ChecksumAlgorithm>,
    ) -> Result<ObjectRecord> {
        self.put_object_if(target, meta, input, checksum, None).await
    }

    /// [`Engine::put_object`], publishing only if `condition` holds for the object at the key at
    /// the moment of publishing (checked atomically with it; see [`WriteCondition`]). A refused
    /// write publishes nothing and its body's blob is deleted (or queued as garbage).
    pub async fn put_object_if(
        &self,
        target: ObjectTarget,
        meta: ObjectMeta,
        input: PartInput,
        checksum: Option<ChecksumAlgorithm>,
        condition: Option<WriteCondition>,
    ) -> Result<ObjectRecord> {
        validate_key(&target.key)?;
        self.refuse_table_bucket(&target.bucket)?;
        self.bucket(&target.bucket).await?;
        if let Some(condition) = &condition {
            // Refuse early when the condition already fails, before any byte is stored; the
            // check that counts is the store's, made again when publishing.
            let current = self.meta.get_object(&target.bucket, &target.key).await?;
            condition.check(current.as_ref().map(|o| o.etag.as_str()))?;
        }
        let mut wanted = input.wanted;
        if let Some(a) = checksum {
            wanted.add(a.digest_kind());
        }
        let (blob, size, digests) = self.ingest(input, wanted).await?;
        let object = ObjectRecord {
            bucket: target.bucket,
            key: target.key,
            size,
            etag: hex::encode(digests.md5),
            modified: now_millis(),
            meta,
            checksum: checksum.and_then(|algorithm| {
                digests.base64(algorithm).map(|value| ObjectChecksum {
                    algorithm,
                    kind: ChecksumType::FullObject,
                    value,
                })
            }),
            crc: WholeCrc {
                crc32: digests.crc32,
                crc32c: digests.crc32c,
                crc64nvme: digests.crc64nvme,
                crc64xz: digests.crc64xz,
            },
            manifest: vec![ManifestEntry { blob: blob.clone(), offset: 0, size }],
        };
        if let Err(e) = self.meta.put_object_if(&object, condition.as_ref()).await {
            self.discard(&blob).await;
            return Err(e);
        }
        self.observer.stored(size, false);
        Ok(object)
    }

    /// Copy an object by metadata only: the new object shares the source's blobs. `meta`
    /// replaces the source's metadata when given.
    pub async fn copy_object(
        &self,
        source: &ObjectTarget,
        target: ObjectTarget,
        meta: Option<ObjectMeta>,
    ) -> Result<ObjectRecord> {
        self.copy_object_if(source, &SourceConditions::default(), target, meta, None).await
    }

    /// [`Engine::copy_object`] when the source meets `conditions` (else
    /// `PreconditionFailed(Source)`), publishing only if `condition` holds for the object at the
    /// target key at the moment of publishing (see [`WriteCondition`]).
    pub async fn copy_object_if(
        &self,
        source: &ObjectTarget,
        conditions: &SourceConditions,
        target: ObjectTarget,
        meta: Option<ObjectMeta>,
        condition: Option<WriteCondition>,
    ) -> Result<ObjectRecord> {
        validate_key(&target.key)?;
        self.refuse_table_bucket(&target.bucket)?;
        let src = self.head_object(&source.bucket, &source.key).await?;
        conditions.check(&src)?;
        self.bucket(&target.bucket).await?;
        let object = ObjectRecord {
            bucket: target.bucket,
            key: target.key,
            modified: now_millis(),
            meta: meta.unwrap_or(src.meta),
            ..src
        };
        self.meta.put_object_if(&object, condition.as_ref()).await?;
        Ok(object)
    }

    /// The object's record. Errors with `NoSuchBucket` or `NoSuchKey`.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectRecord> {
        match self.meta.get_object(bucket, key).await? {
            Some(o) => Ok(o),
            None => {
                self.bucket(bucket).await?;
                Err(Error::NoSuchKey)
            }
        }
    }

    /// Read an object, a byte range of it, or one of its parts (1-based), streaming across its
    /// manifest's blobs.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<RangeSpec>,
        part_number: Option<u32>,
    ) -> Result<ObjectRead> {
        let object = self.head_object(bucket, key).await?;
        let span = match (part_number, range) {
            (Some(n), _) => {
                let entry = usize::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| object.manifest.get(i))
                    .ok_or(Error::InvalidRange { size: object.size })?;
                if entry.size == 0 { None } else { Some((entry.offset, entry.offset + entry.size - 1)) }
            }
            (None, Some(spec)) => Some(resolve_range(spec, object.size)?),
            (None, None) => None,
        };
        let (first, end) = match span {
            Some((a, b)) => (a, b + 1),
            None => (0, object.size),
        };
        let body = self.read_span(&object.manifest, first, end);
        Ok(ObjectRead { object, range: span, body })
    }

    /// Stream bytes [first, end) of a manifest, opening each blob only when reached.
    fn read_span(&self, manifest: &[ManifestEntry], first: u64, end: u64) -> ByteStream {
        let pieces: Vec<(BlobId, u64, u64)> = manifest
            .iter()
            .filter(|e| e.offset < end && e.offset + e.size > first && e.size > 0)
            .map(|e| {
                let from = first.max(e.offset) - e.offset;
                let to = end.min(e.offset + e.size) - e.offset;
                (e.blob.clone(), from, to - from)
            })
            .collect();
        let blobs = self.blobs.clone();
        let observer = self.observer.clone();
        Box::pin(
            futures_util::stream::iter(pieces)
                .then(move |(blob, offset, len)| {
                    let blobs = blobs.clone();
                    async move { blobs.read(&blob, offset, len).await.map_err(std::io::Error::other) }
                })
                .try_flatten()
                .inspect_ok(move |chunk| observer.served(chunk.len() as u64)),
        )
    }

    /// Delete an object; deleting a missing key succeeds. Errors with `NoSuchBucket`.
    /// Errors with `AccessDenied` in the table bucket.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        self.refuse_table_bucket(bucket)?;
        self.bucket(bucket).await?;
        self.meta.delete_object(bucket, key).await
    }

    /// List keys under `prefix` after `after`, rolling keys that contain `delimiter` past the
    /// prefix up into common prefixes; at most `limit` entries (objects + prefixes).
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: &str,
        limit: usize,
    ) -> Result<ObjectListing> {
        self.bucket(bucket).await?;
        let mut listing = ObjectListing::default();
        if limit == 0 {
            return Ok(listing);
        }
        // A marker that is itself a common prefix continues after everything under it.
        let mut cursor = if !delimiter.is_empty() && after.len() > prefix.len() && after.ends_with(delimiter) {
            format!("{after}{MAX_CHAR}")
        } else {
            after.to_string()
        };
        'pages: loop {
            let batch = self.meta.list_objects(bucket, prefix, &cursor, 1000).await?;
            if batch.is_empty() {
                break;
            }
            for object in batch {
                if listing.objects.len() + listing.common_prefixes.len() >= limit {
                    listing.truncated = true;
                    break 'pages;
                }
                let rest = object.key.get(prefix.len()..).unwrap_or("");
                if let Some(at) = (!delimiter.is_empty()).then(|| rest.find(delimiter)).flatten() {
                    let common = format!("{prefix}{}", &rest[..at + delimiter.len()]);
                    cursor = format!("{common}{MAX_CHAR}");
                    listing.next_marker = Some(common.clone());
                    listing.common_prefixes.push(common);
                    continue 'pages;
                }
                cursor = object.key.clone();
                listing.next_marker = Some(object.key.clone());
                listing.objects.push(object);
            }
        }
        if !listing.truncated {
            listing.next_marker = None;
        }
        Ok(listing)
    }

    // ----- expiry and garbage --------------------------------------------------------------

    /// Take or renew the lease `name` for `holder` for `ttl`: among nodes sharing the stores, the
    /// holder does the periodic work the lease names.
    pub async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        self.meta.acquire_lease(name, holder, now_millis(), ttl.as_millis() as Millis).await
    }

    /// How many sessions are in each state.
    pub async fn session_counts(&self) -> Result<Vec<(SessionState, u64)>> {
        self.meta.count_sessions().await
    }

    /// Expire stale sessions, reset stalled commits, and delete garbage older than the grace time.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let now = now_millis();
        let idle_before = now - self.config.idle_timeout.as_millis() as Millis;
        let closing_before = now - self.config.closing_timeout.as_millis() as Millis;
        let expired_sessions = self.meta.expire_sessions(now, idle_before, closing_before).await?;
        let before = now - self.config.gc_grace.as_millis() as Millis;
        let mut deleted_blobs = 0;
        loop {
            let batch = self.meta.garbage(before, 500).await?;
            if batch.is_empty() {
                break;
            }
            for blob in &batch {
                self.blobs.delete(blob).await?;
            }
            self.meta.forget_garbage(&batch).await?;
            deleted_blobs += batch.len() as u64;
        }
        Ok(SweepReport { expired_sessions, deleted_blobs })
    }

    /// Delete blobs that no metadata references and that are older than `min_age` (left by a
    /// crash between writing a blob and recording it). Returns how many were deleted.
    pub async fn collect_orphans(&self, min_age: Duration) -> Result<u64> {
        let before = now_millis() - min_age.as_millis() as Millis;
        let mut deleted = 0;
        for blob in self.blobs.list_older_than(before).await? {
            if !self.meta.is_referenced(&blob).await? {
                self.blobs.delete(&blob).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Start-up recovery: drop half-written blobs left by a crash. With `exclusive` (this process
    /// is the only one using the stores, as the embedded default guarantees with its lock), a
    /// session left `Closing` by a crash mid-commit is reopened at once instead of after
    /// `closing_timeout`, so the client's retried commit succeeds.
    pub async fn recover(&self, exclusive: bool) -> Result<()> {
        self.blobs.clean_incomplete().await?;
        if exclusive {
            let now = now_millis();
            let idle_before = now - self.config.idle_timeout.as_millis() as Millis;
            self.meta.expire_sessions(now, idle_before, now).await?;
        }
        Ok(())
    }

    // ----- ingest --------------------------------------------------------------------------

    /// Refuses new data while free space is below `min_free_space`: what is left stays for the
    /// metadata writes that free space (deletes, aborts, the sweeper).
    pub async fn check_free_space(&self) -> Result<()> {
        match self.blobs.available_space().await {
            Some(free) if free < self.config.min_free_space => Err(Error::InsufficientStorage(format!(
                "{free} bytes free, below the {} kept for deletes and aborts",
                self.config.min_free_space
            ))),
            _ => Ok(()),
        }
    }

    /// Bytes free in the blob store, when it can tell (for metrics and readiness).
    pub async fn available_space(&self) -> Option<u64> {
        self.blobs.available_space().await
    }

    /// Stream a body into a new blob while hashing it on another thread; verify size and
    /// expected digests; only then make the blob durable.
    pub(crate) async fn ingest(&self, mut input: PartInput, mut wanted: Wanted) -> Result<(BlobId, u64, Digests)> {
        self.check_free_space().await?;
        for e in &input.expected {
            wanted.add(e.kind);
        }
        let mut writer = self.blobs.create().await?;
        // A small body is hashed right here as it arrives; once it grows past INLINE_HASH the
        // hasher, state and all, moves to its own thread so hashing overlaps the network and
        // the disk. Handing a 4 KiB part between threads would cost more than hashing it.
        let mut hasher = Hasher::Inline(Box::new(MultiHasher::new(wanted)));
        let mut size: u64 = 0;
        let failure = loop {
            let chunk: Bytes = match input.body.next().await {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => break Some(Error::IncompleteBody(e.to_string())),
            };
            size += chunk.len() as u64;
            if size > input.max_size {
                break Some(Error::EntityTooLarge { max: input.max_size });
            }
            if let Err(e) = hasher.push(chunk.clone(), size).await {
                break Some(Error::Blob(e));
            }
            if let Err(e) = writer.write(chunk).await {
                break Some(e);
            }
        };
        let result = match failure {
            Some(e) => Err(e),
            None => match hasher.finish().await {
                Ok(digests) => verify(&input, size, &digests).map(|()| digests),
                Err(e) => Err(Error::Blob(e)),
            },
        };
        match result {
            Ok(digests) => {
                let id = writer.id().clone();
                writer.finish().await?;
                Ok((id, size, digests))
            }
            Err(e) => {
                writer.abort().await;
                Err(e)
            }
        }
    }

    /// Delete a blob that was written but could not be recorded; queue it if deletion fails.
    pub(crate) async fn discard(&self, blob: &BlobId) {
        if self.blobs.delete(blob).await.is_err()
            && let Err(e) = self.meta.queue_garbage(std::slice::from_ref(blob), now_millis()).await
        {
            tracing::warn!(%blob, error = %e, "could not delete or queue an unrecorded blob; the orphan scan will");
        }
    }
}

/// Bodies up to this size are hashed on the task that receives them.
const INLINE_HASH: u64 = 64 * 1024;

/// The hasher of one body: inline while the body is small, then on its own thread.
enum Hasher {
    Inline(Box<MultiHasher>),
    Thread(Stage<Digests>),
    Moving,
}

impl Hasher {
    /// Hash `chunk`; `size` is the body's size so far, this chunk included.
    async fn push(&mut self, chunk: Bytes, size: u64) -> std::io::Result<()> {
        if let Hasher::Inline(h) = self {
            if size <= INLINE_HASH {
                h.update(&chunk);
                return Ok(());
            }
            if let Hasher::Inline(h) = std::mem::replace(self, Hasher::Moving) {
                *self = Hasher::Thread(Stage::spawn(HashSink(*h)));
            }
        }
        match self {
            Hasher::Thread(stage) => stage.push(chunk).await,
            _ => Err(std::io::Error::other("hasher already finished")),
        }
    }

    async fn finish(self) -> std::io::Result<Digests> {
        match self {
            Hasher::Inline(h) => Ok(h.finish()),
            Hasher::Thread(stage) => stage.finish().await,
            Hasher::Moving => Err(std::io::Error::other("hasher lost its state")),
        }
    }
}

fn verify(input: &PartInput, size: u64, digests: &Digests) -> Result<()> {
    if let Some(expected) = input.expected_size
        && expected != size
    {
        return Err(Error::IncompleteBody(format!("received {size} of {expected} bytes")));
    }
    let trailer: Vec<Expected> = match &input.trailer {
        Some(slot) => slot.lock().map(|v| v.clone()).unwrap_or_default(),
        None => Vec::new(),
    };
    for e in input.expected.iter().chain(trailer.iter()) {
        let computed = digests.raw(e.kind).unwrap_or_default();
        if computed != e.value {
            return Err(Error::ChecksumMismatch { kind: e.kind, computed });
        }
    }
    Ok(())
}

/// Structural checks of a commit list, before anything is locked.
/// What a commit publishes.
enum Commit<'a> {
    /// One object from a list of parts, published if the condition holds.
    Object(CommitRequest, Option<WriteCondition>),
    /// One file per block: the list must match the blocks held exactly.
    Blocks { blocks: &'a [u32], file_key: &'a (dyn Fn(u32) -> String + Sync) },
}

impl Commit<'_> {
    fn fingerprint(&self) -> String {
        match self {
            Commit::Object(request, _) => commit_fingerprint(&request.parts),
            Commit::Blocks { blocks, .. } => {
                let sorted: std::collections::BTreeSet<u32> = blocks.iter().copied().collect();
                let mut h = Md5::new();
                h.update(b"blocks");
                for b in sorted {
                    h.update(b.to_be_bytes());
                }
                hex::encode(h.finalize())
            }
        }
    }

    fn check(&self) -> Result<()> {
        match self {
            Commit::Object(request, _) => check_part_list(request),
            Commit::Blocks { .. } => Ok(()),
        }
    }
}

fn check_part_list(request: &CommitRequest) -> Result<()> {
    if request.parts.is_empty() {
        return Err(Error::InvalidArgument("the part list is empty".into()));
    }
    if request.parts.len() > request.rules.max_parts {
        return Err(Error::InvalidArgument(format!("more than {} parts", request.rules.max_parts)));
    }
    if request.parts.windows(2).any(|w| w[0].number >= w[1].number) {
        return Err(Error::InvalidPartOrder);
    }
    Ok(())
}

fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

fn etag_matches(client: &str, md5: &[u8; 16]) -> bool {
    normalize_etag(client) == hex::encode(md5)
}

/// Identifies a commit list, so a retry with the same list is recognised.
fn commit_fingerprint(parts: &[CommitPart]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.number.to_be_bytes());
        h.update(normalize_etag(p.etag.as_deref().unwrap_or("")).as_bytes());
        h.update(b";");
    }
    hex::encode(h.finalize())
}

fn combine_crcs<'a>(parts: impl Iterator<Item = (&'a Digests, u64)>) -> WholeCrc {
    const KINDS: [DigestKind; 4] = [DigestKind::Crc32, DigestKind::Crc32c, DigestKind::Crc64Nvme, DigestKind::Crc64Xz];
    let mut whole: Option<[u64; 4]> = None;
    // Parts mostly share one size: build the shift operators once per distinct size.
    let mut shifts: Option<(u64, Vec<checksum::CrcShift>)> = None;
    for (d, len) in parts {
        let crcs = [d.crc32 as u64, d.crc32c as u64, d.crc64nvme, d.crc64xz];
        whole = Some(match whole {
            None => crcs,
            Some(acc) => {
                if shifts.as_ref().is_none_or(|(l, _)| *l != len) {
                    shifts = Some((len, KINDS.iter().filter_map(|k| checksum::CrcShift::new(*k, len)).collect()));
                }
                let ops = shifts.as_ref().map(|(_, ops)| ops.as_slice()).unwrap_or_default();
                let mut next = acc;
                for (i, op) in ops.iter().enumerate() {
                    next[i] = op.combine(acc[i], crcs[i]);
                }
                next
            }
        });
    }
    let [crc32, crc32c, crc64nvme, crc64xz] = whole.unwrap_or_default();
    WholeCrc { crc32: crc32 as u32, crc32c: crc32c as u32, crc64nvme, crc64xz }
}

fn object_checksum(request: ChecksumRequest, parts: &[Digests], crc: &WholeCrc) -> Option<ObjectChecksum> {
    let value = match request.kind {
        ChecksumType::Composite => checksum::composite_checksum(request.algorithm, parts)?,
        ChecksumType::FullObject => {
            let raw = match request.algorithm {
                ChecksumAlgorithm::Crc32 => crc.crc32.to_be_bytes().to_vec(),
                ChecksumAlgorithm::Crc32c => crc.crc32c.to_be_bytes().to_vec(),
                ChecksumAlgorithm::Crc64Nvme => crc.crc64nvme.to_be_bytes().to_vec(),
                ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
            };
            checksum::to_base64(&raw)
        }
    };
    Some(ObjectChecksum { algorithm: request.algorithm, kind: request.kind, value })
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

    #[test]
    fn part_list_order() {
        let rules = CommitRules { min_part_size: 0, max_parts: 10_000 };
        let parts = |ns: &[u32]| CommitRequest {
            parts: ns.iter().map(|&number| CommitPart { number, ..Default::default() }).collect(),
            rules,
        };
        assert!(check_part_list(&parts(&[1, 2, 5])).is_ok());
        assert!(matches!(check_part_list(&parts(&[2, 1])), Err(Error::InvalidPartOrder)));
        assert!(matches!(check_part_list(&parts(&[1, 1])), Err(Error::InvalidPartOrder)));
        assert!(matches!(check_part_list(&parts(&[])), Err(Error::InvalidArgument(_))));
    }
}
