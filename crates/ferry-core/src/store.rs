//! The two storage contracts the engine runs on. Implementations: SQLite / local disk (embedded
//! default) and, for scale-out, PostgreSQL / an S3-compatible object store. Every implementation
//! must pass the conformance suite in `ferry-conformance`.

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::conditions::WriteCondition;
use crate::error::Result;
use crate::types::*;

/// A stream of bytes, as bodies arrive and as blobs are read.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Durable metadata: buckets, sessions, parts, objects and the garbage queue.
///
/// Every mutating call is atomic and durable when it returns `Ok`. Calls that orphan blobs
/// (replacing a part, expiring or aborting a session, overwriting or deleting an object)
/// queue those blobs for collection in the same transaction, so no blob is lost track of.
/// Notification configurations and the event outbox are its [`crate::events::EventStore`] part.
#[async_trait]
pub trait MetaStore:
    crate::lifecycle::LifecycleStore + crate::events::EventStore + crate::uploads::UploadStore + Send + Sync + 'static
{
    /// Errors with `BucketAlreadyExists` when present.
    async fn create_bucket(&self, name: &str, now: Millis) -> Result<()>;
    /// Errors with `NoSuchBucket`, or `BucketNotEmpty` while it holds objects. Live sessions
    /// on the bucket are aborted with it.
    async fn delete_bucket(&self, name: &str, now: Millis) -> Result<()>;
    async fn get_bucket(&self, name: &str) -> Result<Option<BucketInfo>>;
    /// All buckets by name.
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>>;

    /// Store a new session. Errors with `NoSuchBucket` when the bucket of an object target is
    /// missing (a table target needs no bucket).
    async fn create_session(&self, session: &Session) -> Result<()>;
    async fn get_session(&self, id: &str) -> Result<Option<Session>>;
    /// Object sessions in `Normal` state on `bucket` whose key starts with `prefix` and that
    /// are not stale by `clock`, ordered by (key, created, id), at most `limit`. With `after` =
    /// (key, id): only those after session `id` of `key` in that order; when no session `id`
    /// exists, only those after every session of `key`. Table sessions are never listed.
    async fn list_sessions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        clock: SessionClock,
    ) -> Result<Vec<Session>>;
    /// Compare-and-set the state: `Ok(true)` when the session was in one of `from` and is now
    /// `to`, with `last_activity = clock.now`. When `from` includes a live state (`Normal`,
    /// `Unknown`) and the session is stale by `clock`, it is moved to `Expired` instead (parts
    /// discarded) in the same transaction and the answer is `Ok(false)`.
    async fn transition(&self, id: &str, from: &[SessionState], to: SessionState, clock: SessionClock) -> Result<bool>;
    /// Expire the session if it is live and stale by `clock` (lifetime over, or no session or
    /// part activity since `clock.idle_before`), discarding its parts, in one transaction.
    /// `Ok(true)` when this call expired it.
    async fn expire_session(&self, id: &str, clock: SessionClock) -> Result<bool>;

    /// Record a part while the session is `Normal` and not stale by `clock`, replacing any part
    /// with the same number (its blob is queued as garbage). Errors with `NoSuchUpload` when the
    /// session is missing, not `Normal`, or stale (a stale session is expired on the way), and
    /// with `Busy` while it is `Closing`; the caller then owns `part.blob` and must delete it.
    async fn put_part(&self, session: &str, part: &PartRecord, clock: SessionClock) -> Result<()>;
    /// Parts with number > `after`, ascending, at most `limit`.
    async fn list_parts(&self, session: &str, after: Option<u32>, limit: usize) -> Result<Vec<PartRecord>>;

    /// Publish `objects` (one for an object upload; one file per block for a table upload) for a
    /// `Closing` session in one transaction, moving it to `Closed` with `commit` recorded; the
    /// session's parts in no manifest and any objects replaced are queued as garbage. Errors with
    /// `NoSuchUpload` when the session is not `Closing`, or when a manifest names a blob that is
    /// not (any longer) one of the session's parts — a commit that stalled past the closing
    /// timeout while the client re-sent parts must not publish blobs already queued as garbage.
    async fn publish(&self, session: &str, objects: &[ObjectRecord], commit: &CommitRecord) -> Result<()> {
        self.publish_if(session, objects, commit, None).await
    }
    /// [`MetaStore::publish`], publishing only if `condition` holds for the object now at each
    /// object's key, checked in the publishing transaction while writers of those keys (on any
    /// node) are held off. When it fails (the [`WriteCondition::check`] error) nothing changes:
    /// the session stays `Closing` with its parts, so the caller can reopen it.
    async fn publish_if(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
    ) -> Result<()>;
    /// Expire `Normal` sessions past `expires` or idle since `idle_before`, and reset
    /// `Closing` sessions whose commit stalled since `closing_before` back to `Normal`.
    /// Returns how many sessions expired.
    async fn expire_sessions(&self, now: Millis, idle_before: Millis, closing_before: Millis) -> Result<u64>;

    /// Publish an object without a session (single-shot put), replacing any existing one.
    async fn put_object(&self, object: &ObjectRecord) -> Result<()> {
        self.put_object_if(object, None).await
    }
    /// [`MetaStore::put_object`], publishing only if `condition` holds for the object now at the
    /// key, checked in the same transaction while writers of the key (on any node) are held
    /// off. When it fails (the [`WriteCondition::check`] error) nothing changes and the caller
    /// still owns the object's blobs.
    async fn put_object_if(&self, object: &ObjectRecord, condition: Option<&WriteCondition>) -> Result<()>;
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>>;
    /// `Ok(false)` when there was nothing to delete.
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool>;
    /// Objects with keys starting with `prefix` and greater than `after`, in byte order.
    async fn list_objects(&self, bucket: &str, prefix: &str, after: &str, limit: usize) -> Result<Vec<ObjectSummary>>;

    /// Queue blobs as garbage (for blobs the caller wrote but never recorded).
    async fn queue_garbage(&self, blobs: &[BlobId], now: Millis) -> Result<()>;
    /// Garbage queued at or before `before` and no longer referenced, at most `limit`.
    async fn garbage(&self, before: Millis, limit: usize) -> Result<Vec<BlobId>>;
    /// Remove collected blobs from the queue.
    async fn forget_garbage(&self, blobs: &[BlobId]) -> Result<()>;
    /// Whether any part or manifest references the blob (for the orphan scan).
    async fn is_referenced(&self, blob: &BlobId) -> Result<bool>;

    /// Take or renew the lease `name` for `holder` until `now + ttl`: `Ok(true)` when the lease
    /// was free, expired or already `holder`'s. Nodes sharing a store use it so that one of them
    /// at a time does periodic work (expiry, garbage collection).
    async fn acquire_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool>;
    /// How many sessions are in each state (states with none may be left out).
    async fn count_sessions(&self) -> Result<Vec<(SessionState, u64)>>;

    /// Ids of sessions holding parts (of any target kind), ascending, greater than `after`; at
    /// most `limit`. The scrub walks them to verify parts not yet published.
    async fn sessions_with_parts(&self, after: &str, limit: usize) -> Result<Vec<String>>;
    /// Flag the object at (bucket, key) as damaged with `reason`, or clear its flag with `None`,
    /// but only while its manifest still names `blob`: an object overwritten since the scrub read
    /// it is left alone. `Ok(true)` when the object was changed.
    async fn mark_damaged(&self, bucket: &str, key: &str, blob: &BlobId, reason: Option<&str>) -> Result<bool>;
    /// Why the object at (bucket, key) is flagged damaged; `None` when it is not (or absent).
    async fn object_damage(&self, bucket: &str, key: &str) -> Result<Option<String>>;
    /// How many objects are flagged damaged.
    async fn count_damaged(&self) -> Result<u64>;
}

/// Bytes, written once and read many times, addressed by [`BlobId`].
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Start writing a new blob. Nothing is visible until [`BlobWriter::finish`].
    async fn create(&self) -> Result<Box<dyn BlobWriter>>;
    /// Read `len` bytes from `offset` (the range must lie inside the blob).
    async fn read(&self, blob: &BlobId, offset: u64, len: u64) -> Result<ByteStream>;
    /// Idempotent: deleting a missing blob is `Ok`.
    async fn delete(&self, blob: &BlobId) -> Result<()>;
    /// The size of a finished blob, `None` when it does not exist (for the scrub).
    async fn size(&self, blob: &BlobId) -> Result<Option<u64>>;
    /// Blobs written (finished) before `before`, for the orphan scan.
    async fn list_older_than(&self, before: Millis) -> Result<Vec<BlobId>>;
    /// Remove leftovers of writes that never finished (after a crash). Called at start-up.
    async fn clean_incomplete(&self) -> Result<()>;
    /// Whether the store answers and holds ferry's data (for `/health/ready`).
    async fn check(&self) -> Result<()>;
    /// Bytes still free where blobs are written, when the store can tell (a local disk); `None`
    /// for stores without such a limit (an object store).
    async fn available_space(&self) -> Option<u64> {
        None
    }
    /// Give back the space kept in reserve for a full disk (see `ferry_blob::LocalBlobStore`),
    /// so that metadata writes that free space (deletes, aborts, the sweeper) have room. `true`
    /// when there was a reserve to release.
    async fn release_reserve(&self) -> bool {
        false
    }
    /// Set the reserve aside again once there is room for it.
    async fn restore_reserve(&self) {}
}

/// One blob being written.
#[async_trait]
pub trait BlobWriter: Send {
    fn id(&self) -> &BlobId;
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Hand the rest of the blob to a writer called from a blocking thread, for stores whose
    /// writes are plain blocking system calls (local files): the engine then hashes and writes
    /// each chunk on one thread, instead of passing every chunk from a hashing thread to a
    /// writing thread. `None` (the default) when the store has none; the blob is then written
    /// through [`BlobWriter::write`] as before.
    ///
    /// Once handed over, `write` here fails; bytes already written here come first in the blob.
    /// [`BlobWriter::finish`] succeeds only after [`BlockingBlobWrite::finish`] did (it is
    /// what makes the bytes durable); `abort` discards the blob either way.
    async fn hand_to_blocking(&mut self) -> Result<Option<Box<dyn BlockingBlobWrite>>> {
        Ok(None)
    }
    /// Make the blob durable and visible; returns its size.
    async fn finish(self: Box<Self>) -> Result<u64>;
    /// Discard everything written.
    async fn abort(self: Box<Self>);
}

/// The blocking half of a [`BlobWriter`] (see [`BlobWriter::hand_to_blocking`]); each call may
/// block on the disk, so it runs on a blocking thread.
pub trait BlockingBlobWrite: Send {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// Make every byte written durable; returns the blob's size.
    fn finish(self: Box<Self>) -> io::Result<u64>;
}
