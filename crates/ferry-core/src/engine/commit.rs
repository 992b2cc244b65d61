//! Commit: verifying a client's part list against the parts held and publishing the result by
//! metadata only.
//!
//! A commit moves its session `Normal` → `Closing` → `Closed` in the store, so it publishes once:
//! a retry with the same list gets the same answer, a concurrent commit waits for the first one's
//! outcome, and a refused commit reopens the session for more parts. Object uploads publish one
//! object; table uploads publish one file per block.

use std::collections::BTreeMap;
use std::time::Duration;

use md5::{Digest as _, Md5};

use super::events::Change;
use super::{CommitOutcome, CommitPart, CommitRequest, CommitRules, Engine, PartList, validate_key};
use crate::checksum::{self, ChecksumAlgorithm, ChecksumType, DigestKind, Digests};
use crate::conditions::WriteCondition;
use crate::error::{Error, Result};
use crate::events::{EventKind, NewEvent};
use crate::types::*;

impl Engine {
    /// Verify the client's part list against what the server holds and the dialect's
    /// [`CommitRules`], and publish the object by metadata only. A retried commit of an
    /// already-published session answers with the object it published: for a
    /// [`PartList::Listed`] commit only when the list is the same (else `NoSuchUpload`), for a
    /// [`PartList::Held`] commit always.
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
        let objects = self.commit_as(session, Commit::Object(request, condition)).await?;
        objects.into_iter().next().ok_or_else(|| Error::Critical("a commit published no object".into()))
    }

    /// Commit a table upload: `blocks` must be exactly the block ids the session holds (each
    /// stored as the part of that number; `None` takes every block held); each block is
    /// published as its own file, named by `file_key(block)`, in one transaction and by metadata
    /// only. A retried commit of a published session with the same list, an empty list or none
    /// returns an empty list (the files are already published: a retry whose first answer was
    /// lost); another list is `NoSuchUpload`.
    pub(crate) async fn commit_blocks(
        &self,
        session: &Session,
        blocks: Option<&[u32]>,
        file_key: &(dyn Fn(u32) -> String + Sync),
    ) -> Result<Vec<ObjectRecord>> {
        Self::table_session(session)?;
        self.commit_as(session, Commit::Blocks { blocks, file_key }).await
    }

    async fn commit_as(&self, session: &Session, commit: Commit<'_>) -> Result<Vec<ObjectRecord>> {
        let started = std::time::Instant::now();
        let (result, outcome) = self.commit_once(&session.id, session.part_shift, &commit).await;
        self.observer.committed(started.elapsed(), outcome);
        result
    }

    async fn commit_once(
        &self,
        session_id: &str,
        part_shift: u32,
        commit: &Commit<'_>,
    ) -> (Result<Vec<ObjectRecord>>, CommitOutcome) {
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
                Ok(s) if s.target.is_object() == matches!(commit, Commit::Object(..)) => Session { part_shift, ..s },
                Ok(_) => return refused(Error::NoSuchUpload),
                Err(e) => return refused(e),
            };
            match session.state {
                SessionState::Normal => {}
                SessionState::Closed => {
                    let result = self.replay_commit(&session, commit.replays(&fingerprint)).map(|o| match commit {
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
                    self.publish_blocks(&session, *blocks, file_key, fingerprint).await
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
        blocks: Option<&[u32]>,
        file_key: &(dyn Fn(u32) -> String + Sync),
        fingerprint: String,
    ) -> Result<Vec<ObjectRecord>> {
        let held = self.all_parts(&session.id).await?;
        let wanted: std::collections::BTreeSet<u32> = match blocks {
            Some(blocks) => blocks.iter().copied().collect(),
            None => held.keys().copied().collect(),
        };
        if let Some(missing) = wanted.iter().find(|b| !held.contains_key(b)) {
            return Err(Error::InvalidPart(*missing));
        }
        if let Some(extra) = held.keys().filter(|b| !wanted.contains(b)).min() {
            return Err(Error::InvalidPart(*extra));
        }
        // Without a list, what is published is the list a retry may name.
        let fingerprint = if blocks.is_none() { blocks_fingerprint(wanted.clone()) } else { fingerprint };
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
        let events = self.table_commit_events(session, &files).await?;
        self.meta.publish_notify(&session.id, &files, &record, None, &events).await?;
        Ok(files)
    }

    /// The `ferry:TableCommit` events of publishing `files` for a table session: one event for
    /// the commit (not one per block file), keyed by the partition's data prefix in the table
    /// bucket, with the table, partition and files in its detail.
    async fn table_commit_events(&self, session: &Session, files: &[ObjectRecord]) -> Result<Vec<NewEvent>> {
        let Target::TablePartition { project, table, partition } = &session.target else { return Ok(Vec::new()) };
        let Some(first) = files.first() else { return Ok(Vec::new()) };
        let key = first.key.rfind('/').map_or("", |at| &first.key[..=at]);
        let size = files.iter().map(|f| f.size).sum();
        let mut change = Change::new(EventKind::TableCommit, &self.config.table_bucket, key, size, "", first.modified);
        change.detail = Some(serde_json::json!({
            "project": project,
            "table": table,
            "partition": partition,
            "session": session.id,
            "files": files.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        }));
        self.events_for(change).await
    }

    /// The answer to a commit of an already-published session: what it published, when `replays`
    /// says this commit repeats it; else `NoSuchUpload` (the upload is no longer open).
    fn replay_commit(&self, session: &Session, replays: impl Fn(&str) -> bool) -> Result<ObjectRecord> {
        match &session.commit {
            Some(done) if replays(&done.fingerprint) => Ok(ObjectRecord {
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
        // Numbered as the client numbers them (see `Session::part_shift`).
        let held: BTreeMap<u32, PartRecord> = self
            .all_parts(&session.id)
            .await?
            .into_values()
            .map(|mut p| {
                p.number = p.number.saturating_sub(session.part_shift);
                (p.number, p)
            })
            .collect();
        let (chosen, fingerprint) = match &request.parts {
            PartList::Listed(parts) => (chosen_parts(&held, parts)?, fingerprint),
            PartList::Held { etags } => {
                let chosen = every_part_held(&held, etags, &request.rules)?;
                let listed: Vec<CommitPart> = chosen
                    .iter()
                    .map(|p| CommitPart { number: p.number, etag: Some(p.etag()), checksums: Vec::new() })
                    .collect();
                (chosen, commit_fingerprint(&listed))
            }
        };
        check_rules(&chosen, &request.rules)?;
        let digests: Vec<Digests> = chosen.iter().map(|p| p.digests).collect();
        let crc = combine_crcs(chosen.iter().map(|p| (&p.digests, p.size)));
        let checksum = session.checksum.and_then(|c| object_checksum(c, &digests, &crc));
        let mut manifest = Vec::with_capacity(chosen.len());
        let mut offset = 0;
        for p in &chosen {
            manifest.push(ManifestEntry { blob: p.blob.clone(), offset, size: p.size });
            offset += p.size;
        }
        check_expected(request, &digests, &crc, offset)?;
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
        let events = self.events_for(Change::published(EventKind::CompleteMultipartUpload, &object)).await?;
        self.meta.publish_notify(&session.id, std::slice::from_ref(&object), &record, condition, &events).await?;
        Ok(object)
    }

    async fn all_parts(&self, session_id: &str) -> Result<BTreeMap<u32, PartRecord>> {
        let mut held = BTreeMap::new();
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
    /// `None` publishes every block held.
    Blocks { blocks: Option<&'a [u32]>, file_key: &'a (dyn Fn(u32) -> String + Sync) },
}

impl Commit<'_> {
    fn fingerprint(&self) -> String {
        match self {
            Commit::Object(request, _) => match &request.parts {
                PartList::Listed(parts) => commit_fingerprint(parts),
                // Known only once the held parts are read, under the commit's lock.
                PartList::Held { .. } => String::new(),
            },
            Commit::Blocks { blocks, .. } => blocks_fingerprint(blocks.unwrap_or_default().iter().copied().collect()),
        }
    }

    fn check(&self) -> Result<()> {
        match self {
            Commit::Object(CommitRequest { parts: PartList::Listed(parts), rules, .. }, _) => {
                check_part_list(parts, rules)
            }
            Commit::Object(CommitRequest { parts: PartList::Held { .. }, .. }, _) | Commit::Blocks { .. } => Ok(()),
        }
    }

    /// Whether this commit, reaching a session already published with `published` (the
    /// fingerprint of what it published), is a retry to answer with that result. A commit that
    /// takes whatever is held (US3's finish, Tunnel's commit without a list or with an empty
    /// one) repeats any earlier commit: its first answer was lost.
    fn replays<'s>(&'s self, fingerprint: &'s str) -> impl Fn(&str) -> bool + 's {
        let any = match self {
            Commit::Object(request, _) => matches!(request.parts, PartList::Held { .. }),
            Commit::Blocks { blocks, .. } => blocks.is_none_or(|b| b.is_empty()),
        };
        move |published: &str| any || published == fingerprint
    }
}

/// The held parts a listed commit names, in its order, each matching the ETag and checksums
/// the client holds for it.
fn chosen_parts<'h>(held: &'h BTreeMap<u32, PartRecord>, parts: &[CommitPart]) -> Result<Vec<&'h PartRecord>> {
    let mut chosen = Vec::with_capacity(parts.len());
    for wanted in parts {
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
    Ok(chosen)
}

/// Every held part, ascending, for a [`PartList::Held`] commit: at least one must be held, and
/// each non-empty ETag the client listed must be one of theirs. Contiguity is checked first
/// when the rules ask for it, so a gap is reported as the missing part rather than as an
/// unknown ETag.
fn every_part_held<'h>(
    held: &'h BTreeMap<u32, PartRecord>,
    etags: &[String],
    rules: &CommitRules,
) -> Result<Vec<&'h PartRecord>> {
    let chosen: Vec<&PartRecord> = held.values().collect();
    if chosen.is_empty() {
        return Err(Error::InvalidArgument("no parts were uploaded".into()));
    }
    check_contiguous(&chosen, rules)?;
    let known: std::collections::HashSet<String> = chosen.iter().map(|p| hex::encode(p.digests.md5)).collect();
    if let Some(unknown) = etags.iter().map(|e| normalize_etag(e)).find(|e| !e.is_empty() && !known.contains(e)) {
        return Err(Error::InvalidArgument(format!("ETag {unknown} does not match any uploaded part")));
    }
    Ok(chosen)
}

/// `MissingPart` with the first number absent, when the rules want parts without gaps.
fn check_contiguous(chosen: &[&PartRecord], rules: &CommitRules) -> Result<()> {
    if let Some(first) = rules.contiguous_from {
        for (i, p) in chosen.iter().enumerate() {
            let want = first.saturating_add(i as u32);
            if p.number != want {
                return Err(Error::MissingPart(want));
            }
        }
    }
    Ok(())
}

/// The dialect's rules on the parts about to be published, in order: contiguity, then exact
/// and minimum sizes of every part but the last.
fn check_rules(chosen: &[&PartRecord], rules: &CommitRules) -> Result<()> {
    check_contiguous(chosen, rules)?;
    let Some((_, init)) = chosen.split_last() else { return Ok(()) };
    if let Some(expected) = rules.exact_part_size
        && let Some(odd) = init.iter().find(|p| p.size != expected)
    {
        return Err(Error::PartSizeMismatch { number: odd.number, size: odd.size, expected });
    }
    if let Some(small) = init.iter().find(|p| p.size < rules.min_part_size) {
        return Err(Error::EntityTooSmall { number: small.number, size: small.size, min: rules.min_part_size });
    }
    Ok(())
}

/// Structural checks of a commit list, before anything is locked.
fn check_part_list(parts: &[CommitPart], rules: &CommitRules) -> Result<()> {
    if parts.is_empty() {
        return Err(Error::InvalidArgument("the part list is empty".into()));
    }
    if parts.len() > rules.max_parts {
        return Err(Error::InvalidArgument(format!("more than {} parts", rules.max_parts)));
    }
    if parts.windows(2).any(|w| w[0].number >= w[1].number) {
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

/// Identifies a block list (in any order), so a retry with the same list is recognised.
fn blocks_fingerprint(blocks: std::collections::BTreeSet<u32>) -> String {
    let mut h = Md5::new();
    h.update(b"blocks");
    for b in blocks {
        h.update(b.to_be_bytes());
    }
    hex::encode(h.finalize())
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

/// What the client said the object would be (its size, a whole-object checksum), checked
/// before anything is published.
fn check_expected(request: &CommitRequest, parts: &[Digests], crc: &WholeCrc, size: u64) -> Result<()> {
    if let Some(expected) = request.expected_size
        && expected != size
    {
        return Err(Error::InvalidArgument(format!(
            "the parts listed make an object of {size} bytes, not the {expected} bytes expected"
        )));
    }
    if let Some(want) = &request.expected_checksum {
        let kind = ChecksumRequest { algorithm: want.algorithm, kind: want.kind };
        let have = object_checksum(kind, parts, crc).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "a {} {} checksum cannot be computed for these parts",
                want.kind.name(),
                want.algorithm.name()
            ))
        })?;
        // A composite value may be given with or without its "-<parts>" suffix.
        let given = want.value.trim();
        let matches = have.value == given
            || (want.kind == ChecksumType::Composite && have.value.split('-').next() == Some(given));
        if !matches {
            let raw = have.value.split('-').next().and_then(checksum::from_base64).unwrap_or_default();
            return Err(Error::ChecksumMismatch { kind: want.algorithm.digest_kind(), computed: raw });
        }
    }
    Ok(())
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

    fn part(number: u32, size: u64) -> PartRecord {
        let mut digests = Digests::default();
        digests.md5[0] = number as u8;
        PartRecord { number, blob: BlobId(format!("b{number}")), size, digests, modified: 0 }
    }

    fn held(parts: &[(u32, u64)]) -> BTreeMap<u32, PartRecord> {
        parts.iter().map(|&(n, size)| (n, part(n, size))).collect()
    }

    #[test]
    fn part_list_order() {
        let rules = CommitRules::new(0, 10_000);
        let parts = |ns: &[u32]| -> Vec<CommitPart> {
            ns.iter().map(|&number| CommitPart { number, ..Default::default() }).collect()
        };
        assert!(check_part_list(&parts(&[1, 2, 5]), &rules).is_ok());
        assert!(matches!(check_part_list(&parts(&[2, 1]), &rules), Err(Error::InvalidPartOrder)));
        assert!(matches!(check_part_list(&parts(&[1, 1]), &rules), Err(Error::InvalidPartOrder)));
        assert!(matches!(check_part_list(&parts(&[]), &rules), Err(Error::InvalidArgument(_))));
        assert!(matches!(check_part_list(&parts(&[1, 2, 3]), &CommitRules::new(0, 2)), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn s3_rules_want_a_minimum_size_but_the_last_and_allow_gaps() {
        let rules = CommitRules::new(10, 10_000);
        let h = held(&[(1, 10), (3, 12), (4, 1)]);
        let all: Vec<&PartRecord> = h.values().collect();
        assert!(check_rules(&all, &rules).is_ok(), "gaps and a short last part are fine");
        let h = held(&[(1, 9), (2, 10)]);
        let all: Vec<&PartRecord> = h.values().collect();
        assert!(matches!(check_rules(&all, &rules), Err(Error::EntityTooSmall { number: 1, size: 9, min: 10 })));
    }

    #[test]
    fn contiguity_counts_from_the_dialects_first_number() {
        let from_zero = CommitRules::new(0, 10_000).contiguous_from(0);
        let h = held(&[(0, 4), (1, 4), (2, 1)]);
        assert!(check_rules(&h.values().collect::<Vec<_>>(), &from_zero).is_ok());
        let h = held(&[(0, 4), (2, 4)]);
        assert!(matches!(check_rules(&h.values().collect::<Vec<_>>(), &from_zero), Err(Error::MissingPart(1))));
        let h = held(&[(1, 4), (2, 4)]);
        assert!(matches!(check_rules(&h.values().collect::<Vec<_>>(), &from_zero), Err(Error::MissingPart(0))));
        let from_one = CommitRules::new(0, 10_000).contiguous_from(1);
        assert!(check_rules(&h.values().collect::<Vec<_>>(), &from_one).is_ok());
    }

    #[test]
    fn exact_part_size_spares_only_the_last_part() {
        let block = CommitRules::new(4, 10_000).exact_part_size(4);
        let h = held(&[(0, 4), (1, 4), (2, 3)]);
        assert!(check_rules(&h.values().collect::<Vec<_>>(), &block).is_ok());
        let h = held(&[(0, 4), (1, 5), (2, 3)]);
        assert!(matches!(
            check_rules(&h.values().collect::<Vec<_>>(), &block),
            Err(Error::PartSizeMismatch { number: 1, size: 5, expected: 4 })
        ));
        let h = held(&[(0, 9)]);
        assert!(check_rules(&h.values().collect::<Vec<_>>(), &block).is_ok(), "a single part may be any size");
    }

    #[test]
    fn held_commits_take_every_part_and_check_each_etag_given() {
        let rules = CommitRules::new(0, 10_000).contiguous_from(0);
        let h = held(&[(0, 4), (1, 2)]);
        let etag0 = hex::encode(h[&0].digests.md5);
        let chosen = every_part_held(&h, &["".into(), format!("\"{}\"", etag0.to_uppercase()), etag0.clone()], &rules);
        assert_eq!(chosen.map(|c| c.iter().map(|p| p.number).collect::<Vec<_>>()).ok(), Some(vec![0, 1]));
        let unknown = every_part_held(&h, &["ffff".into()], &rules);
        assert!(matches!(unknown, Err(Error::InvalidArgument(m)) if m == "ETag ffff does not match any uploaded part"));
        let empty = BTreeMap::new();
        let none = every_part_held(&empty, &[], &rules);
        assert!(matches!(none, Err(Error::InvalidArgument(m)) if m == "no parts were uploaded"));
        let one = held(&[(1, 4)]);
        let gap = every_part_held(&one, &["ffff".into()], &rules);
        assert!(matches!(gap, Err(Error::MissingPart(0))), "a gap is reported before an unknown ETag");
    }

    #[test]
    fn a_commit_checks_the_size_and_whole_object_checksum_the_client_expects() {
        let mut hasher = checksum::MultiHasher::new(checksum::Wanted::default());
        hasher.update(b"hello ");
        let a = hasher.finish();
        let mut hasher = checksum::MultiHasher::new(checksum::Wanted::default());
        hasher.update(b"world");
        let b = hasher.finish();
        let digests = [a, b];
        let crc = combine_crcs([(&a, 6), (&b, 5)].into_iter());
        let rules = CommitRules::new(0, 10_000);
        let request = || CommitRequest::listed(Vec::new(), rules);
        let full = |algorithm, value: &str| {
            Some(ObjectChecksum { algorithm, kind: ChecksumType::FullObject, value: value.into() })
        };
        assert!(check_expected(&request().expect_size(Some(11)), &digests, &crc, 11).is_ok());
        let wrong_size = check_expected(&request().expect_size(Some(12)), &digests, &crc, 11);
        assert!(matches!(wrong_size, Err(Error::InvalidArgument(m)) if m.contains("11 bytes, not the 12")));
        // CRC32 of "hello world" is 0x0d4a1185: the parts' CRCs combined into the whole object's.
        let right = request().expect_checksum(full(ChecksumAlgorithm::Crc32, "DUoRhQ=="));
        assert!(check_expected(&right, &digests, &crc, 11).is_ok());
        let wrong = request().expect_checksum(full(ChecksumAlgorithm::Crc32, "AAAAAA=="));
        assert!(matches!(
            check_expected(&wrong, &digests, &crc, 11),
            Err(Error::ChecksumMismatch { kind: DigestKind::Crc32, computed }) if computed == [0x0d, 0x4a, 0x11, 0x85]
        ));
        // A composite value names the part count too; SHA-256 has no full-object form.
        let composite = checksum::composite_checksum(ChecksumAlgorithm::Crc32c, &digests);
        let listed = |value: &str| {
            request().expect_checksum(Some(ObjectChecksum {
                algorithm: ChecksumAlgorithm::Crc32c,
                kind: ChecksumType::Composite,
                value: value.into(),
            }))
        };
        let value = composite.unwrap_or_default();
        assert!(value.ends_with("-2") && check_expected(&listed(&value), &digests, &crc, 11).is_ok());
        let other_count = value.replace("-2", "-3");
        assert!(matches!(
            check_expected(&listed(&other_count), &digests, &crc, 11),
            Err(Error::ChecksumMismatch { .. })
        ));
        let sha = request().expect_checksum(full(ChecksumAlgorithm::Sha256, "AAAA"));
        assert!(matches!(check_expected(&sha, &digests, &crc, 11), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn which_commits_replay_a_published_one() {
        let rules = CommitRules::new(0, 10_000);
        let listed =
            Commit::Object(CommitRequest::listed(vec![CommitPart { number: 1, ..Default::default() }], rules), None);
        let fingerprint = listed.fingerprint();
        assert!(listed.replays(&fingerprint)(&fingerprint), "the same list");
        assert!(!listed.replays(&fingerprint)("other"), "another list");
        let held = Commit::Object(CommitRequest::held(vec!["x".into()], rules), None);
        assert!(held.replays("")("anything"), "a commit of whatever is held repeats any");
        let key = |b: u32| b.to_string();
        for (blocks, any) in [(None, true), (Some(&[][..]), true), (Some(&[0u32, 1][..]), false)] {
            let commit = Commit::Blocks { blocks, file_key: &key };
            assert_eq!(commit.replays("")("another list"), any, "{blocks:?}");
        }
        let same = Commit::Blocks { blocks: Some(&[1, 0]), file_key: &key };
        let again = Commit::Blocks { blocks: Some(&[0, 1]), file_key: &key };
        assert!(same.replays(&same.fingerprint())(&again.fingerprint()), "block order does not matter");
    }
}
