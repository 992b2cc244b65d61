//! Commit: verifying a client's part list against the parts held and publishing the result by
//! metadata only.
//!
//! A commit moves its session `Normal` → `Closing` → `Closed` in the store, so it publishes once:
//! a retry with the same list gets the same answer, a concurrent commit waits for the first one's
//! outcome, and a refused commit reopens the session for more parts. Object uploads publish one
//! object; table uploads publish one file per block.

use std::collections::HashMap;
use std::time::Duration;

use md5::{Digest as _, Md5};

use super::{CommitOutcome, CommitPart, CommitRequest, Engine, validate_key};
use crate::checksum::{self, ChecksumAlgorithm, ChecksumType, DigestKind, Digests};
use crate::conditions::WriteCondition;
use crate::error::{Error, Result};
use crate::types::*;

impl Engine {
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
}

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

/// Structural checks of a commit list, before anything is locked.
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

pub(super) fn combine_crcs<'a>(parts: impl Iterator<Item = (&'a Digests, u64)>) -> WholeCrc {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::CommitRules;

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
