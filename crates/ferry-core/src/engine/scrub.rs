//! Scrub: re-read every stored blob and compare it with what the metadata recorded when it was
//! written, so data damaged at rest (a flipped bit, a truncated or deleted file, an object
//! changed behind ferry's back in the blob bucket) is found before a client reads it.
//!
//! What is compared, per blob, streaming it once (never whole in memory):
//! - published objects: each manifest blob's size; then, over the blobs in order, the object's
//!   ETag (the MD5 of a one-blob object, or the MD5 of the blobs' MD5s for a multipart
//!   `hex-N` ETag) and its four whole-object CRCs (CRC32, CRC32C, CRC64NVME, CRC64/XZ);
//! - parts of open sessions (not yet published): size, MD5, the four CRCs, and SHA-1/SHA-256
//!   when the part recorded them.
//!
//! A damaged object is flagged in the metadata store; reads of it then fail with
//! [`Error::Damaged`] instead of serving bad bytes. Deleting or overwriting it works (the new
//! object row carries no flag), and a later scrub that finds its blobs good again clears it.
//! Parts of open sessions are only reported. Anything that changed while the scrub read it
//! (an object overwritten or deleted, a part replaced or committed) is re-checked before it is
//! reported, so a busy server yields no false findings.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use super::Engine;
use super::commit::combine_crcs;
use crate::checksum::{Digests, MultiHasher, Wanted, multipart_etag};
use crate::error::{Error, Result};
use crate::types::*;

/// Objects listed per page.
const OBJECT_PAGE: usize = 1000;
/// Sessions and parts listed per page.
const SESSION_PAGE: usize = 200;

/// How a scrub runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubOptions {
    /// Read at most this many bytes per second, on average (`None`: as fast as the stores go).
    pub rate: Option<u64>,
}

/// What one scrub checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScrubReport {
    /// Published objects verified (table files included).
    pub objects: u64,
    /// Parts of open sessions verified.
    pub parts: u64,
    /// Blobs read.
    pub blobs: u64,
    /// Bytes read and verified.
    pub bytes: u64,
    /// Objects found damaged by this scrub (and flagged).
    pub damaged_objects: u64,
    /// Parts of open sessions found damaged (reported only).
    pub damaged_parts: u64,
    /// Objects whose earlier flag this scrub cleared, their blobs now reading back correctly.
    pub cleared_objects: u64,
    /// Objects flagged damaged in the store when the scrub ended (earlier scrubs included).
    pub flagged_objects: u64,
    /// Every damaged object or part found, in the order found.
    pub findings: Vec<ScrubFinding>,
}

impl ScrubReport {
    /// Whether the scrub found nothing damaged and no flagged object is left.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty() && self.flagged_objects == 0
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "subject", rename_all = "snake_case")]
pub enum ScrubSubject {
    /// A published object (table files are objects of the table bucket).
    Object { bucket: String, key: String },
    /// A part of an open upload session.
    Part { session: String, part: u32 },
}

impl std::fmt::Display for ScrubSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScrubSubject::Object { bucket, key } => write!(f, "object {bucket}/{key}"),
            ScrubSubject::Part { session, part } => write!(f, "part {part} of upload {session}"),
        }
    }
}

/// How a blob failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The blob does not exist.
    Missing,
    /// The blob's size differs from the recorded one.
    Size,
    /// The bytes do not hash to the recorded digest.
    Checksum,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::Size => "size",
            FindingKind::Checksum => "checksum",
        }
    }
}

/// One damaged object or part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScrubFinding {
    #[serde(flatten)]
    pub subject: ScrubSubject,
    /// The blob at fault; `None` when a whole-object digest over several blobs failed and no
    /// single blob can be blamed.
    pub blob: Option<BlobId>,
    pub kind: FindingKind,
    /// What was compared: `size`, `ETag`, `MD5`, `CRC32`, `CRC32C`, `CRC64NVME`, `CRC64ECMA`,
    /// `SHA1`, `SHA256`.
    pub check: String,
    /// The recorded value (sizes in bytes, digests in hex).
    pub expected: String,
    /// What the blob holds (`missing` when it does not exist).
    pub actual: String,
}

impl ScrubFinding {
    /// One line for logs and for the object's damage flag.
    pub fn reason(&self) -> String {
        let blob = self.blob.as_ref().map(|b| format!("blob {b}")).unwrap_or_else(|| "its data".into());
        match self.kind {
            FindingKind::Missing => format!("{blob} is missing"),
            FindingKind::Size => format!("{blob} is {} bytes, {} recorded", self.actual, self.expected),
            FindingKind::Checksum => {
                format!("{blob} has {} {}, {} recorded", self.check, self.actual, self.expected)
            }
        }
    }
}

/// How long a node trusts its last count of flagged objects. Reads look a flag up only while
/// some object is flagged, so the common case (none) costs one count per this interval; a flag
/// set by another node or by `ferry scrub` is seen by reads within it.
const DAMAGE_HINT_TTL: Duration = Duration::from_secs(1);

/// The last count of flagged objects and when it was taken.
#[derive(Default)]
pub(crate) struct DamageHint(std::sync::Mutex<Option<(Instant, u64)>>);

/// A blob that failed verification: (kind, check, expected, actual).
type Bad = (FindingKind, String, String, String);

/// Keeps the average read rate at or below the limit.
struct Pace {
    rate: Option<u64>,
    start: Instant,
    bytes: u64,
}

impl Pace {
    async fn account(&mut self, n: u64) {
        self.bytes += n;
        if let Some(rate) = self.rate.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
            let elapsed = self.start.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
    }
}

impl Engine {
    /// `Damaged` when the object at (bucket, key) is flagged damaged, so a read fails loudly
    /// rather than serving bytes known to be bad.
    pub(super) async fn refuse_damaged(&self, bucket: &str, key: &str) -> Result<()> {
        let fresh =
            self.damage_hint.0.lock().ok().and_then(|hint| *hint).filter(|(at, _)| at.elapsed() < DAMAGE_HINT_TTL);
        let flagged = match fresh {
            Some((_, n)) => n,
            None => {
                let n = self.meta.count_damaged().await?;
                if let Ok(mut hint) = self.damage_hint.0.lock() {
                    *hint = Some((Instant::now(), n));
                }
                n
            }
        };
        if flagged == 0 {
            return Ok(());
        }
        match self.meta.object_damage(bucket, key).await? {
            Some(reason) => {
                Err(Error::Damaged(format!("the stored data of object {bucket}/{key} is damaged ({reason})")))
            }
            None => Ok(()),
        }
    }

    /// How many objects are flagged damaged in the store.
    pub async fn damaged_objects(&self) -> Result<u64> {
        self.meta.count_damaged().await
    }

    fn forget_damage_hint(&self) {
        if let Ok(mut hint) = self.damage_hint.0.lock() {
            *hint = None;
        }
    }

    /// Verify every published object (all buckets, the table bucket included) and every part of
    /// every open session against its recorded size and digests, flag damaged objects so reads
    /// refuse them, and clear the flag of objects that read back correctly again. Errors only
    /// when a store fails (not for damage found: that is in the report); the flags set up to
    /// then are kept.
    pub async fn scrub(&self, options: ScrubOptions) -> Result<ScrubReport> {
        let mut report = ScrubReport::default();
        let mut pace = Pace { rate: options.rate, start: Instant::now(), bytes: 0 };
        let flagged_before = self.meta.count_damaged().await?;
        let result = self.scrub_all(&mut report, &mut pace, flagged_before > 0).await;
        // Readers see flags set so far at once, whatever happened.
        self.forget_damage_hint();
        result?;
        report.flagged_objects = self.meta.count_damaged().await?;
        Ok(report)
    }

    async fn scrub_all(&self, report: &mut ScrubReport, pace: &mut Pace, any_flagged: bool) -> Result<()> {
        for bucket in self.meta.list_buckets().await? {
            let mut after = String::new();
            loop {
                let page = self.meta.list_objects(&bucket.name, "", &after, OBJECT_PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.key.clone();
                for summary in &page {
                    // Deleted since it was listed: nothing to verify.
                    let Some(object) = self.meta.get_object(&bucket.name, &summary.key).await? else { continue };
                    self.scrub_object(&object, report, pace, any_flagged).await?;
                }
            }
        }
        let mut after = String::new();
        loop {
            let sessions = self.meta.sessions_with_parts(&after, SESSION_PAGE).await?;
            let Some(last) = sessions.last() else { break };
            after = last.clone();
            for session in &sessions {
                self.scrub_session(session, report, pace).await?;
            }
        }
        Ok(())
    }

    async fn scrub_object(
        &self,
        object: &ObjectRecord,
        report: &mut ScrubReport,
        pace: &mut Pace,
        any_flagged: bool,
    ) -> Result<()> {
        report.objects += 1;
        let Some(anchor) = object.manifest.first().map(|e| e.blob.clone()) else {
            // An empty object has no bytes to damage.
            return Ok(());
        };
        let bad = self.verify_object(object, report, pace).await?;
        let (bucket, key) = (object.bucket.as_str(), object.key.as_str());
        let Some((blob, (kind, check, expected, actual))) = bad else {
            if any_flagged
                && self.meta.object_damage(bucket, key).await?.is_some()
                && self.meta.mark_damaged(bucket, key, &anchor, None).await?
            {
                tracing::info!(bucket, key, "scrub: a damaged object reads back correctly now; flag cleared");
                report.cleared_objects += 1;
            }
            return Ok(());
        };
        // Overwritten or deleted while it was read: its old blobs may already be collected.
        let current = self.meta.get_object(bucket, key).await?;
        if current.as_ref().is_none_or(|c| c.manifest != object.manifest || c.etag != object.etag) {
            return Ok(());
        }
        let finding = ScrubFinding {
            subject: ScrubSubject::Object { bucket: bucket.into(), key: key.into() },
            blob,
            kind,
            check,
            expected,
            actual,
        };
        let reason = finding.reason();
        if !self.meta.mark_damaged(bucket, key, &anchor, Some(&reason)).await? {
            return Ok(());
        }
        tracing::error!(bucket, key, %reason, "scrub: object damaged; reads of it now fail");
        report.damaged_objects += 1;
        report.findings.push(finding);
        Ok(())
    }

    /// Read the object's blobs in order; the first blob that fails, or the whole-object digest
    /// that does not match.
    async fn verify_object(
        &self,
        object: &ObjectRecord,
        report: &mut ScrubReport,
        pace: &mut Pace,
    ) -> Result<Option<(Option<BlobId>, Bad)>> {
        let mut digests = Vec::with_capacity(object.manifest.len());
        for entry in &object.manifest {
            match self.verify_blob(&entry.blob, entry.size, Wanted::default(), report, pace).await? {
                Ok(d) => digests.push((d, entry.size)),
                Err(bad) => return Ok(Some((Some(entry.blob.clone()), bad))),
            }
        }
        // A single blob is to blame when it is the only one.
        let blame = |n: usize| if n == 1 { object.manifest.first().map(|e| e.blob.clone()) } else { None };
        let etag = match object.etag.split_once('-') {
            Some((_, n)) if n.parse::<usize>().ok() == Some(digests.len()) => {
                Some(multipart_etag(digests.iter().map(|(d, _)| &d.md5)))
            }
            None if object.etag.len() == 32 && digests.len() == 1 => digests.first().map(|(d, _)| hex::encode(d.md5)),
            // An ETag of another shape says nothing checkable about these blobs.
            _ => None,
        };
        if let Some(etag) = etag
            && etag != object.etag
        {
            return Ok(Some((blame(digests.len()), (FindingKind::Checksum, "ETag".into(), object.etag.clone(), etag))));
        }
        let whole = combine_crcs(digests.iter().map(|(d, size)| (d, *size)));
        // Every object since the first release records its CRCs; all zero means none recorded.
        if object.crc != WholeCrc::default() {
            let pairs = [
                ("CRC32", object.crc.crc32 as u64, whole.crc32 as u64, 8),
                ("CRC32C", object.crc.crc32c as u64, whole.crc32c as u64, 8),
                ("CRC64NVME", object.crc.crc64nvme, whole.crc64nvme, 16),
                ("CRC64ECMA", object.crc.crc64xz, whole.crc64xz, 16),
            ];
            for (name, recorded, read, width) in pairs {
                if recorded != read {
                    let bad = (
                        FindingKind::Checksum,
                        name.to_string(),
                        format!("{recorded:0width$x}"),
                        format!("{read:0width$x}"),
                    );
                    return Ok(Some((blame(digests.len()), bad)));
                }
            }
        }
        Ok(None)
    }

    async fn scrub_session(&self, session: &str, report: &mut ScrubReport, pace: &mut Pace) -> Result<()> {
        let mut after = None;
        loop {
            let parts = self.meta.list_parts(session, after, SESSION_PAGE).await?;
            let Some(last) = parts.last() else { return Ok(()) };
            after = Some(last.number);
            for part in &parts {
                report.parts += 1;
                let wanted = Wanted { sha1: part.digests.sha1.is_some(), sha256: part.digests.sha256.is_some() };
                let bad = match self.verify_blob(&part.blob, part.size, wanted, report, pace).await? {
                    Ok(read) => compare_part(&part.digests, &read),
                    Err(bad) => Some(bad),
                };
                let Some((kind, check, expected, actual)) = bad else { continue };
                // Replaced, committed or discarded while it was read: its blob may be gone.
                let now = self.meta.list_parts(session, part.number.checked_sub(1), 1).await?;
                if !now.first().is_some_and(|p| p.number == part.number && p.blob == part.blob) {
                    continue;
                }
                let finding = ScrubFinding {
                    subject: ScrubSubject::Part { session: session.to_string(), part: part.number },
                    blob: Some(part.blob.clone()),
                    kind,
                    check,
                    expected,
                    actual,
                };
                tracing::error!(session, part = part.number, reason = %finding.reason(), "scrub: part damaged");
                report.damaged_parts += 1;
                report.findings.push(finding);
            }
        }
    }

    /// Stream one blob of recorded size `size` through the digests: `Ok(Err(..))` when it is
    /// missing, of another size or cut short; `Err` only when the store fails otherwise.
    async fn verify_blob(
        &self,
        blob: &BlobId,
        size: u64,
        wanted: Wanted,
        report: &mut ScrubReport,
        pace: &mut Pace,
    ) -> Result<std::result::Result<Digests, Bad>> {
        let missing = || Ok(Err((FindingKind::Missing, "size".to_string(), size.to_string(), "missing".to_string())));
        let wrong_size =
            |actual: u64| Ok(Err((FindingKind::Size, "size".to_string(), size.to_string(), actual.to_string())));
        report.blobs += 1;
        match self.blobs.size(blob).await? {
            None => return missing(),
            Some(actual) if actual != size => return wrong_size(actual),
            Some(_) => {}
        }
        let mut hasher = MultiHasher::new(wanted);
        if size == 0 {
            return Ok(Ok(hasher.finish()));
        }
        let mut stream = match self.blobs.read(blob, 0, size).await {
            Ok(stream) => stream,
            // The local store reports a vanished file as an inconsistency.
            Err(Error::Critical(_)) => return missing(),
            Err(Error::Blob(e)) if e.kind() == std::io::ErrorKind::NotFound => return missing(),
            Err(e) => return Err(e),
        };
        let mut read = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return wrong_size(read),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return missing(),
                Err(e) => return Err(Error::Blob(e)),
            };
            hasher.update(&chunk);
            read += chunk.len() as u64;
            report.bytes += chunk.len() as u64;
            self.observer.scrubbed(chunk.len() as u64);
            pace.account(chunk.len() as u64).await;
        }
        if read != size {
            return wrong_size(read);
        }
        Ok(Ok(hasher.finish()))
    }
}

/// The first recorded digest of a part that its bytes do not match.
fn compare_part(recorded: &Digests, read: &Digests) -> Option<Bad> {
    let hex32 = |v: u32| format!("{v:08x}");
    let hex64 = |v: u64| format!("{v:016x}");
    let mut checks: Vec<(&str, String, String)> = vec![
        ("MD5", hex::encode(recorded.md5), hex::encode(read.md5)),
        ("CRC32", hex32(recorded.crc32), hex32(read.crc32)),
        ("CRC32C", hex32(recorded.crc32c), hex32(read.crc32c)),
        ("CRC64NVME", hex64(recorded.crc64nvme), hex64(read.crc64nvme)),
        ("CRC64ECMA", hex64(recorded.crc64xz), hex64(read.crc64xz)),
    ];
    if let Some(sha1) = recorded.sha1 {
        checks.push(("SHA1", hex::encode(sha1), read.sha1.map(hex::encode).unwrap_or_default()));
    }
    if let Some(sha256) = recorded.sha256 {
        checks.push(("SHA256", hex::encode(sha256), read.sha256.map(hex::encode).unwrap_or_default()));
    }
    checks
        .into_iter()
        .find(|(_, expected, actual)| expected != actual)
        .map(|(name, expected, actual)| (FindingKind::Checksum, name.to_string(), expected, actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_report_the_first_digest_that_differs() {
        let mut hasher = MultiHasher::new(Wanted { sha1: false, sha256: true });
        hasher.update(b"hello");
        let good = hasher.finish();
        assert_eq!(compare_part(&good, &good), None);
        let mut flipped = good;
        flipped.crc32c ^= 1;
        let (kind, check, ..) = compare_part(&flipped, &good).expect("a difference");
        assert_eq!((kind, check.as_str()), (FindingKind::Checksum, "CRC32C"));
        let mut sha = good;
        sha.sha256 = Some([0; 32]);
        assert_eq!(compare_part(&sha, &good).map(|b| b.1), Some("SHA256".to_string()));
    }

    #[test]
    fn findings_serialize_flat_with_their_subject() {
        let finding = ScrubFinding {
            subject: ScrubSubject::Object { bucket: "b".into(), key: "k".into() },
            blob: Some(BlobId("ab".repeat(16))),
            kind: FindingKind::Size,
            check: "size".into(),
            expected: "10".into(),
            actual: "4".into(),
        };
        let json = serde_json::to_value(&finding).expect("json");
        assert_eq!(json["subject"], "object");
        assert_eq!(json["bucket"], "b");
        assert_eq!(json["kind"], "size");
        assert_eq!(json["blob"], "ab".repeat(16));
        assert_eq!(finding.reason(), format!("blob {} is 4 bytes, 10 recorded", "ab".repeat(16)));
    }
}
