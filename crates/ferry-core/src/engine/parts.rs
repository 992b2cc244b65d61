//! Parts and ingest: storing a part (uploaded or copied from an object), listing a session's
//! parts, and the pipeline every body goes through on its way to a blob.
//!
//! Ingest streams a body into a new blob while hashing it, verifies the size and the digests the
//! client announced, and only then makes the blob durable; a body that fails any check leaves
//! nothing behind. New data is refused while the blob store is short of free space, so deletes,
//! aborts and the sweeper always find room.

use bytes::Bytes;
use futures_util::StreamExt;

use super::{Engine, Expected, PartInput, PartListing, RangeSpec, resolve_range};
use crate::checksum::{Digests, MultiHasher, Wanted};
use crate::conditions::SourceConditions;
use crate::error::{Error, Result};
use crate::pipeline::{HashSink, HashWriteSink, Stage};
use crate::store::BlobWriter;
use crate::types::*;

impl Engine {
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
        let stored = number.checked_add(session.part_shift).ok_or(Error::InvalidPart(number))?;
        let mut part = PartRecord { number: stored, blob, size, digests, modified: now_millis() };
        if let Err(e) = self.meta.put_part(&session.id, &part, self.session_clock()).await {
            self.discard(&part.blob).await;
            return Err(e);
        }
        self.observer.stored(size, true);
        part.number = number;
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

    /// Parts of an opened session with number > `after`, ascending, at most `limit`, numbered as
    /// the session's dialect numbers them. Errors with `NoSuchUpload` unless the session is
    /// `Normal` or `Closing`.
    pub async fn list_parts(&self, session: &Session, after: Option<u32>, limit: usize) -> Result<PartListing> {
        // Judged as the session is now, not as the caller's copy was: a listing is the resume
        // source of truth, and must not show parts of a session that has since ended.
        let session_shift = session.part_shift;
        let session = self.open_where(&session.id, |t| *t == session.target).await?;
        if !matches!(session.state, SessionState::Normal | SessionState::Closing) {
            return Err(Error::NoSuchUpload);
        }
        let shift = session_shift;
        let after = after.map(|n| n.saturating_add(shift));
        let mut parts = self.meta.list_parts(&session.id, after, limit + 1).await?;
        let truncated = parts.len() > limit;
        parts.truncate(limit);
        for p in &mut parts {
            p.number = p.number.saturating_sub(shift);
        }
        Ok(PartListing { parts, truncated })
    }

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

    /// What to tell operators (logs, readiness) while `free` bytes are below `min_free_space`
    /// and new uploads are refused; `None` while there is room.
    pub fn low_space_note(&self, free: u64) -> Option<String> {
        let min = self.config.min_free_space;
        (free < min)
            .then(|| format!("low space: {free} bytes free, below --min-free-space {min}; new uploads are refused"))
    }

    /// Stream a body into a new blob while hashing it on another thread; verify size and
    /// expected digests; only then acknowledge the blob as durable.
    pub(crate) async fn ingest(&self, mut input: PartInput, mut wanted: Wanted) -> Result<(BlobId, u64, Digests)> {
        self.check_free_space().await?;
        for e in &input.expected {
            wanted.add(e.kind);
        }
        let mut writer = self.blobs.create().await?;
        // A small body is hashed right here as it arrives; once it grows past INLINE_HASH the
        // hasher, state and all, moves to its own thread so hashing overlaps the network (and
        // the disk, for stores that write asynchronously). Handing a 4 KiB part between threads
        // would cost more than hashing it.
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
            if let Err(e) = hasher.push(chunk, size, &mut writer).await {
                break Some(e);
            }
        };
        let result = match failure {
            Some(e) => Err(e),
            None => match hasher.finish().await {
                Ok(digests) => verify(&input, size, &digests).map(|()| digests),
                // On local disk this includes the last writes and fsync: a full disk is told apart.
                Err(e) => Err(Error::from(e)),
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

/// Where a body's chunks go: hashed inline while the body is small, then on a thread of its own.
enum Hasher {
    /// Hashed here; the blob writer gets each chunk.
    Inline(Box<MultiHasher>),
    /// Hashed and written on one blocking thread (stores with a
    /// [`BlockingBlobWrite`](crate::store::BlockingBlobWrite)).
    Joined(Stage<Digests>),
    /// Hashed on a thread; the blob writer gets each chunk as well (stores that write
    /// asynchronously, such as an object store).
    Apart(Stage<Digests>),
    Moving,
}

impl Hasher {
    /// Hash and write `chunk`; `size` is the body's size so far, this chunk included.
    async fn push(&mut self, chunk: Bytes, size: u64, writer: &mut Box<dyn BlobWriter>) -> Result<()> {
        if let Hasher::Inline(h) = self {
            if size <= INLINE_HASH {
                h.update(&chunk);
                return writer.write(chunk).await;
            }
            if let Hasher::Inline(h) = std::mem::replace(self, Hasher::Moving) {
                *self = match writer.hand_to_blocking().await? {
                    Some(blob) => Hasher::Joined(Stage::spawn(HashWriteSink { hasher: *h, blob })),
                    None => Hasher::Apart(Stage::spawn(HashSink(*h))),
                };
            }
        }
        match self {
            // The writes happen on that thread: a full disk is told apart (see `Error::from`).
            Hasher::Joined(stage) => stage.push(chunk).await.map_err(Error::from),
            Hasher::Apart(stage) => {
                stage.push(chunk.clone()).await.map_err(Error::Blob)?;
                writer.write(chunk).await
            }
            _ => Err(Error::Blob(std::io::Error::other("hasher already finished"))),
        }
    }

    /// The digests; for a joined stage also the blocking writer's durable finish.
    async fn finish(self) -> std::io::Result<Digests> {
        match self {
            Hasher::Inline(h) => Ok(h.finish()),
            Hasher::Joined(stage) | Hasher::Apart(stage) => stage.finish().await,
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
