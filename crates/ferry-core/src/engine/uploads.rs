//! Offset-based uploads (tus, the IETF resumable-uploads draft): bytes are appended at the
//! session's offset, each append stored as the session's next part, so a resumed append never
//! rewrites what is durable. The rules live here, not in the front-ends:
//!
//! - the offset is the sum of the stored parts (of the published object once closed);
//! - an append names the offset it writes at; any other offset is [`AppendError::Conflict`];
//! - two appends racing for one offset (on one node or two) store one part: the store's
//!   conditional put lets the first in, the second is a conflict and keeps nothing;
//! - a length, once declared, never changes, and bytes beyond it are refused;
//! - finished uploads concatenate into one object by metadata only.

use std::collections::BTreeMap;

use super::commit::combine_crcs;
use super::events::Change;
use super::{CommitRequest, CommitRules, Engine, PartInput};
use crate::checksum;
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::types::*;
use crate::uploads::ConcatSource;

/// At most this many appends (parts) per upload.
pub const MAX_APPENDS: usize = 10_000;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes durably stored.
    pub offset: u64,
    /// How many appends stored them.
    pub appends: u32,
    /// The declared length, once declared.
    pub length: Option<u64>,
    /// The upload was published (its session is closed).
    pub published: bool,
}

impl UploadProgress {
    /// Every declared byte is stored.
    pub fn complete(&self) -> bool {
        self.length == Some(self.offset)
    }
}

/// Why an append, a length declaration or a concatenation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The append named another offset than the upload's, or another append stored the same
    /// offset first. Nothing of the body was kept.
    #[error("the upload's offset is {offset}, not {claimed}")]
    Conflict { offset: u64, claimed: u64 },
    /// A length other than the one declared, or below the bytes already stored.
    #[error("the upload's length is {declared}; it cannot become {wanted}")]
    LengthMismatch { declared: u64, wanted: u64 },
    /// The body goes past the declared length. Nothing of it was kept.
    #[error("the body goes past the upload's length {length}")]
    LengthExceeded { length: u64 },
    /// The upload is published (complete): nothing more can be appended.
    #[error("the upload is complete")]
    Completed,
    /// A concatenation named an upload that is not complete (or has no length yet).
    #[error("upload {0} is not complete")]
    Incomplete(String),
    #[error(transparent)]
    Engine(#[from] Error),
}

impl Engine {
    /// Where `session` (from [`Engine::open_session`] or [`Engine::open_bucket_session`])
    /// stands: its durable offset, the number of appends, the declared length.
    pub async fn upload_progress(&self, session: &Session) -> Result<UploadProgress> {
        Self::object_session(session)?;
        // Judged as the session is now, not as the caller's copy was: another request (on any
        // node) may have published or ended it since.
        let current = self.load_session(&session.id).await?;
        match current.state {
            SessionState::Closed => {
                let size = current.commit.as_ref().map_or(0, |c| c.size);
                return Ok(UploadProgress { offset: size, appends: 0, length: Some(size), published: true });
            }
            SessionState::Normal | SessionState::Closing => {}
            _ => return Err(Error::NoSuchUpload),
        }
        let length = self.meta.declared_length(&session.id).await?;
        let (mut offset, mut appends, mut after) = (0u64, 0u32, None);
        loop {
            let page = self.meta.list_parts(&session.id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.number);
            for part in &page {
                offset += part.size;
                appends += 1;
            }
        }
        Ok(UploadProgress { offset, appends, length, published: false })
    }

    /// Declare the upload's length. A second declaration of the same length is fine; another
    /// length, or one below the bytes already stored, is [`AppendError::LengthMismatch`].
    pub async fn declare_upload_length(&self, session: &Session, length: u64) -> Result<u64, AppendError> {
        let progress = self.upload_progress(session).await?;
        if let Some(declared) = progress.length {
            return if declared == length {
                Ok(length)
            } else {
                Err(AppendError::LengthMismatch { declared, wanted: length })
            };
        }
        if length < progress.offset {
            return Err(AppendError::LengthMismatch { declared: progress.offset, wanted: length });
        }
        match self.meta.declare_length(&session.id, length).await? {
            Some(declared) if declared == length => Ok(length),
            Some(declared) => Err(AppendError::LengthMismatch { declared, wanted: length }),
            None => Err(Error::NoSuchUpload.into()),
        }
    }

    /// Store `input` at byte `at` of the upload, as its next part. `at` must be the durable
    /// offset ([`AppendError::Conflict`] otherwise, also when a concurrent append took the
    /// offset first); the body may not go past the declared length
    /// ([`AppendError::LengthExceeded`]). An empty body stores nothing. Returns the progress
    /// after the append; the caller publishes with [`Engine::finish_upload`] once complete.
    pub async fn append_at(
        &self,
        session: &Session,
        at: u64,
        mut input: PartInput,
    ) -> Result<UploadProgress, AppendError> {
        Self::object_session(session)?;
        let progress = self.upload_progress(session).await?;
        if progress.published {
            return Err(AppendError::Completed);
        }
        Self::accepting_parts(session)?;
        if at != progress.offset {
            return Err(AppendError::Conflict { offset: progress.offset, claimed: at });
        }
        if let Some(length) = progress.length {
            let remaining = length - progress.offset.min(length);
            if input.expected_size.is_some_and(|n| n > remaining) {
                return Err(AppendError::LengthExceeded { length });
            }
            input.max_size = input.max_size.min(remaining);
        }
        if progress.appends as usize >= MAX_APPENDS {
            return Err(Error::InvalidArgument(format!(
                "an upload takes at most {MAX_APPENDS} appends; send larger chunks"
            ))
            .into());
        }
        let (blob, size, digests) = match (self.ingest(input, Default::default()).await, progress.length) {
            (Ok(stored), _) => stored,
            (Err(Error::EntityTooLarge { .. }), Some(length)) => return Err(AppendError::LengthExceeded { length }),
            (Err(e), _) => return Err(e.into()),
        };
        if size == 0 {
            // An empty part would only take a number.
            self.discard(&blob).await;
            return Ok(progress);
        }
        let number = progress.appends + 1;
        let part = PartRecord { number, blob, size, digests, modified: now_millis() };
        match self.meta.put_part_once(&session.id, &part, self.session_clock()).await {
            Ok(true) => {}
            Ok(false) => {
                self.discard(&part.blob).await;
                // Another append stored this offset first: the client must ask again.
                let now = self.upload_progress(session).await.map(|p| p.offset).unwrap_or(progress.offset);
                return Err(AppendError::Conflict { offset: now, claimed: at });
            }
            Err(e) => {
                self.discard(&part.blob).await;
                return Err(e.into());
            }
        }
        self.observer.stored(size, true);
        Ok(UploadProgress { offset: progress.offset + size, appends: number, ..progress })
    }

    /// Publish a complete upload (metadata only): its parts in order become the object.
    /// Idempotent: a published upload answers with what it published. An empty upload
    /// publishes an empty object.
    pub async fn finish_upload(&self, session: &Session) -> Result<(), AppendError> {
        let progress = self.upload_progress(session).await?;
        if progress.published {
            return Ok(());
        }
        let Some(length) = progress.length.filter(|l| *l == progress.offset) else {
            return Err(AppendError::Incomplete(session.id.clone()));
        };
        if progress.appends == 0 {
            // Nothing was appended: publish an empty object through one empty part.
            let (blob, size, digests) = self
                .ingest(
                    PartInput {
                        body: Box::pin(futures_util::stream::empty()),
                        expected_size: Some(0),
                        max_size: 0,
                        expected: Vec::new(),
                        trailer: None,
                        wanted: Default::default(),
                    },
                    Default::default(),
                )
                .await?;
            let part = PartRecord { number: 1, blob, size, digests, modified: now_millis() };
            if !self.meta.put_part_once(&session.id, &part, self.session_clock()).await? {
                self.discard(&part.blob).await;
            }
        }
        let rules = CommitRules::new(0, MAX_APPENDS).contiguous_from(1);
        self.commit(session, CommitRequest::held(Vec::new(), rules).expect_size(Some(length))).await?;
        Ok(())
    }

    /// Publish `target`'s object as the concatenation of `sources` (complete uploads, in
    /// order), by metadata only, in one transaction: the object's manifest is the sources'
    /// parts in order, the sources are closed, `target` (a session with no parts) is closed as
    /// published. A source that is not complete is [`AppendError::Incomplete`]; one that
    /// changes meanwhile makes the store refuse, and nothing is published. The caller checks
    /// the sources belong to whoever asks (the engine knows no callers).
    pub async fn concat_uploads(&self, target: &Session, sources: &[Session]) -> Result<ObjectRecord, AppendError> {
        Self::object_session(target)?;
        Self::accepting_parts(target)?;
        if sources.is_empty() {
            return Err(Error::InvalidArgument("a concatenation needs at least one upload".into()).into());
        }
        let mut chosen: Vec<PartRecord> = Vec::new();
        let mut taken = Vec::with_capacity(sources.len());
        for source in sources {
            Self::object_session(source)?;
            if source.id == target.id || taken.iter().any(|t: &ConcatSource| t.session == source.id) {
                return Err(Error::InvalidArgument("an upload can be concatenated only once".into()).into());
            }
            let progress = self.upload_progress(source).await?;
            if progress.published || !progress.complete() || source.state != SessionState::Normal {
                return Err(AppendError::Incomplete(source.id.clone()));
            }
            let parts = self.parts_in_order(&source.id).await?;
            taken.push(ConcatSource {
                session: source.id.clone(),
                blobs: parts.iter().map(|p| p.blob.clone()).collect(),
                size: progress.offset,
            });
            chosen.extend(parts);
        }
        if chosen.len() > MAX_APPENDS * 16 {
            return Err(Error::InvalidArgument("the concatenation has too many parts".into()).into());
        }
        let crc = combine_crcs(chosen.iter().map(|p| (&p.digests, p.size)));
        let mut manifest = Vec::with_capacity(chosen.len());
        let mut offset = 0;
        for p in &chosen {
            manifest.push(ManifestEntry { blob: p.blob.clone(), offset, size: p.size });
            offset += p.size;
        }
        let object = ObjectRecord {
            bucket: target.target.bucket().unwrap_or_default().to_string(),
            key: target.target.key().to_string(),
            size: offset,
            etag: checksum::multipart_etag(chosen.iter().map(|p| &p.digests.md5)),
            modified: now_millis(),
            meta: target.meta.clone(),
            checksum: None,
            crc,
            manifest,
        };
        let fingerprint = format!(
            "{}{}",
            crate::uploads::CONCAT_PREFIX,
            taken.iter().map(|t| t.session.as_str()).collect::<Vec<_>>().join(",")
        );
        let record = CommitRecord { fingerprint, etag: object.etag.clone(), checksum: None, size: object.size };
        let events = self.events_for(Change::published(EventKind::CompleteMultipartUpload, &object)).await?;
        if !self
            .meta
            .transition(&target.id, &[SessionState::Normal], SessionState::Closing, self.session_clock())
            .await?
        {
            return Err(Error::Busy.into());
        }
        if let Err(e) = self.meta.publish_concat(&target.id, &taken, &object, &record, &events).await {
            // Nothing was published: the target takes a concatenation again.
            let _ = self
                .meta
                .transition(&target.id, &[SessionState::Closing], SessionState::Normal, self.session_clock())
                .await;
            return Err(e.into());
        }
        Ok(object)
    }

    async fn parts_in_order(&self, session: &str) -> Result<Vec<PartRecord>> {
        let mut held = BTreeMap::new();
        let mut after = None;
        loop {
            let page = self.meta.list_parts(session, after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.number);
            held.extend(page.into_iter().map(|p| (p.number, p)));
        }
        Ok(held.into_values().collect())
    }
}
