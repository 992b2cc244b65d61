//! What offset-based upload protocols (tus, the IETF "Resumable Uploads for HTTP" draft) need
//! of the metadata store beyond [`crate::MetaStore`]: a declared length kept with the session,
//! a part put that never replaces, and the concatenation of finished uploads into one object.
//! The rules themselves are the engine's (`Engine::append_at`, `Engine::concat_uploads`).

use async_trait::async_trait;

use crate::error::Result;
use crate::events::NewEvent;
use crate::types::{BlobId, CommitRecord, ObjectRecord, PartRecord, SessionClock};

/// One finished upload whose parts a concatenation takes, as the engine read it: the store
/// refuses the concatenation if its part blobs are not (any longer) exactly `blobs`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcatSource {
    pub session: String,
    pub blobs: Vec<BlobId>,
    pub size: u64,
}

/// Store side of offset-based uploads. Every call is atomic and durable when it returns `Ok`.
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Record `length` as the session's declared upload length unless one is recorded already.
    /// Returns the length recorded after the call (the earlier one if there was one), `None`
    /// when no such session exists.
    async fn declare_length(&self, session: &str, length: u64) -> Result<Option<u64>>;
    /// The session's declared upload length, if one was declared.
    async fn declared_length(&self, session: &str) -> Result<Option<u64>>;
    /// [`crate::MetaStore::put_part`], but only when the session holds no part `number` yet:
    /// `Ok(false)` (and nothing changes) when it does — another writer, on any node, stored
    /// that part first.
    async fn put_part_once(&self, session: &str, part: &PartRecord, clock: SessionClock) -> Result<bool>;
    /// In one transaction: check `session` is `Closing` and every source is `Normal` holding
    /// exactly its listed blobs (else `NoSuchUpload`, nothing changes); move the sources' parts
    /// to `session`; close every source (its commit record says its size); publish `object`
    /// (whose manifest names those blobs) from `session` as [`crate::MetaStore::publish`] does,
    /// with `commit` on `session`, and queue `events`.
    async fn publish_concat(
        &self,
        session: &str,
        sources: &[ConcatSource],
        object: &ObjectRecord,
        commit: &CommitRecord,
        events: &[NewEvent],
    ) -> Result<()>;
}

/// The commit fingerprint of a target published by concatenation: this prefix, then the
/// source session ids joined by commas.
pub const CONCAT_PREFIX: &str = "concat:";
/// The commit fingerprint of a source consumed by a concatenation: this prefix, then the
/// target session id.
pub const CONSUMED_PREFIX: &str = "concatenated into ";

/// The sessions `session` was concatenated from, in order, if it was published by
/// concatenation.
pub fn concatenated_from(session: &crate::types::Session) -> Option<Vec<String>> {
    let ids = session.commit.as_ref()?.fingerprint.strip_prefix(CONCAT_PREFIX)?;
    Some(ids.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
}

impl ConcatSource {
    /// The commit record a source is closed with when it is consumed by the concatenation
    /// published as session `target`.
    pub fn consumed_by(&self, target: &str) -> crate::types::CommitRecord {
        crate::types::CommitRecord {
            fingerprint: format!("{CONSUMED_PREFIX}{target}"),
            etag: String::new(),
            checksum: None,
            size: self.size,
        }
    }
}

/// Whether `session` was consumed as a source by a concatenation.
pub fn was_concatenated(session: &crate::types::Session) -> bool {
    session.commit.as_ref().is_some_and(|c| c.fingerprint.starts_with(CONSUMED_PREFIX))
}
