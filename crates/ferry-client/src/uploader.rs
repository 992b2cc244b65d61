//! A file upload in parallel parts that survives being killed at any moment.
//!
//! On start the checkpoint (if any) names the upload to continue; the server's ListParts is the
//! truth about which parts are there (a part counts only if its size and ETag match the local
//! bytes). A changed source file, a vanished upload or a corrupt record starts a new upload and
//! aborts the old one. At most `parallel` parts are in flight, so a kill loses at most
//! `parallel × part_size` bytes of work.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use tokio::sync::watch;

use crate::checkpoint::{Checkpoint, FileIdentity};
use crate::client::S3Client;
use crate::error::{ClientError, Result};

/// An average bandwidth limit shared by every part of a transfer. Parts are sent whole, each
/// after waiting for its slot, so the rate holds on average over several parts.
#[derive(Debug, Clone)]
pub struct RateLimit {
    bytes_per_second: u64,
    next_slot: Arc<tokio::sync::Mutex<tokio::time::Instant>>,
}

impl RateLimit {
    pub fn new(bytes_per_second: u64) -> Self {
        RateLimit {
            bytes_per_second: bytes_per_second.max(1),
            next_slot: Arc::new(tokio::sync::Mutex::new(tokio::time::Instant::now())),
        }
    }

    /// Wait until `len` more bytes fit within the limit.
    pub async fn acquire(&self, len: u64) {
        let start = {
            let mut next = self.next_slot.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + Duration::from_secs_f64(len as f64 / self.bytes_per_second as f64);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

const MIN_PART: u64 = 100 * 1024;
const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
const DEFAULT_PART: u64 = 8 * 1024 * 1024;
const MAX_PARTS: u64 = 10_000;

/// How an upload is done.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Part size; by default 8 MiB, or larger so the object fits in 10,000 parts.
    pub part_size: Option<u64>,
    pub parallel: usize,
    /// Attempts after the first for each request.
    pub retries: u32,
    /// First back-off delay; doubled each attempt, with jitter.
    pub retry_interval: Duration,
    /// Where the checkpoint lives; `None` disables it.
    pub checkpoint: Option<PathBuf>,
    /// Headers for the new object (content-type, x-amz-meta-*).
    pub headers: Vec<(String, String)>,
    /// Average upload rate limit in bytes per second.
    pub rate_limit: Option<RateLimit>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            part_size: None,
            parallel: 4,
            retries: 5,
            retry_interval: Duration::from_millis(200),
            checkpoint: None,
            headers: Vec::new(),
            rate_limit: None,
        }
    }
}

/// What happens during an upload, for progress displays and machine-readable output.
#[derive(Debug, Clone)]
pub enum Event {
    /// The upload is about to send `total` bytes in `parts` parts.
    Started {
        upload_id: Option<String>,
        total: u64,
        parts: u32,
        part_size: u64,
    },
    /// An earlier run already stored these parts.
    Resumed {
        parts: u32,
        bytes: u64,
    },
    /// An earlier upload of a different version of the file was abandoned.
    Restarted {
        reason: String,
    },
    PartStarted {
        number: u32,
        size: u64,
    },
    PartDone {
        number: u32,
        size: u64,
    },
    Retrying {
        number: u32,
        attempt: u32,
        error: String,
    },
    Completed {
        etag: String,
    },
}

/// Receives [`Event`]s; called from the upload's tasks, so it must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    fn event(&self, event: &Event);
}

impl Progress for () {
    fn event(&self, _: &Event) {}
}

#[derive(Debug, Clone)]
pub struct UploadOutcome {
    pub etag: String,
    pub size: u64,
    pub parts: u32,
    /// Bytes found already on the server from an earlier run.
    pub resumed_bytes: u64,
}

/// Uploads files with a given client and options.
pub struct Uploader {
    client: S3Client,
    endpoint: String,
    options: UploadOptions,
}

fn jitter_ms(max: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) % max.max(1)
}

fn part_size_for(size: u64, requested: Option<u64>) -> Result<u64> {
    match requested {
        Some(p) if !(MIN_PART..=MAX_PART).contains(&p) => {
            Err(ClientError::Invalid(format!("--part-size must be between 100 KiB and 5 GiB (got {p} bytes)")))
        }
        Some(p) if size.div_ceil(p) > MAX_PARTS => Err(ClientError::Invalid(format!(
            "a part size of {p} bytes needs more than 10,000 parts for {size} bytes; use at least {}",
            size.div_ceil(MAX_PARTS)
        ))),
        Some(p) => Ok(p),
        None => {
            let needed = size.div_ceil(MAX_PARTS).next_multiple_of(1024 * 1024);
            Ok(DEFAULT_PART.max(needed))
        }
    }
}

/// Wait before the next attempt, or stop when cancelled.
async fn backoff(interval: Duration, attempt: u32, cancel: &mut watch::Receiver<bool>) -> Result<()> {
    let base = interval.as_millis() as u64 * (1u64 << attempt.min(6));
    let delay = Duration::from_millis(base / 2 + jitter_ms(base / 2 + 1));
    tokio::select! {
        _ = tokio::time::sleep(delay) => Ok(()),
        _ = cancel.wait_for(|c| *c) => Err(ClientError::Cancelled),
    }
}

/// Run `op` with retries on retryable errors.
async fn with_retries<T, F, Fut>(
    options: &UploadOptions,
    number: u32,
    progress: &dyn Progress,
    cancel: &mut watch::Receiver<bool>,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        if *cancel.borrow() {
            return Err(ClientError::Cancelled);
        }
        let result = tokio::select! {
            r = op() => r,
            _ = cancel.wait_for(|c| *c) => return Err(ClientError::Cancelled),
        };
        match result {
            Err(e) if e.is_retryable() && attempt < options.retries => {
                progress.event(&Event::Retrying { number, attempt: attempt + 1, error: e.to_string() });
                backoff(options.retry_interval, attempt, cancel).await?;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn read_part(path: &Path, offset: u64, len: u64) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}

/// Read up to `len` bytes (fewer only at the end of the stream).
async fn read_chunk<R: tokio::io::AsyncRead + Unpin>(reader: &mut R, len: u64) -> Result<Bytes> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::with_capacity(len as usize);
    let mut limited = reader.take(len);
    while (buf.len() as u64) < len {
        if limited.read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(Bytes::from(buf))
}

async fn read_part_async(path: &Path, offset: u64, len: u64) -> Result<Bytes> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_part(&path, offset, len))
        .await
        .map_err(|e| ClientError::Invalid(format!("read task failed: {e}")))?
        .map_err(ClientError::Io)
}

impl Uploader {
    pub fn new(client: S3Client, endpoint: &str, options: UploadOptions) -> Self {
        Uploader { client, endpoint: endpoint.into(), options }
    }

    /// Upload `source` to `bucket/key`, resuming from the checkpoint when it matches. Stops
    /// with `Cancelled` (keeping the checkpoint) when `cancel` becomes true.
    pub async fn upload_file(
        &self,
        source: &Path,
        bucket: &str,
        key: &str,
        progress: Arc<dyn Progress>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<UploadOutcome> {
        let identity = FileIdentity::of(source)?;
        let size = identity.size;
        let part_size = part_size_for(size, self.options.part_size)?;
        let headers: Vec<(&str, String)> = self.options.headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        if size <= part_size {
            progress.event(&Event::Started { upload_id: None, total: size, parts: 1, part_size });
            progress.event(&Event::PartStarted { number: 1, size });
            let data = read_part_async(source, 0, size).await?;
            let etag = with_retries(&self.options, 1, &*progress, &mut cancel, || {
                self.client.put_object(bucket, key, data.clone(), &headers)
            })
            .await?;
            progress.event(&Event::PartDone { number: 1, size });
            progress.event(&Event::Completed { etag: etag.clone() });
            if let Some(path) = &self.options.checkpoint {
                Checkpoint::remove(path);
            }
            return Ok(UploadOutcome { etag, size, parts: 1, resumed_bytes: 0 });
        }
        let count = size.div_ceil(part_size) as u32;
        let part_len = |n: u32| part_size.min(size - (n as u64 - 1) * part_size);

        // Find the upload to continue, if any.
        let mut record = None;
        let mut held: Vec<crate::client::Part> = Vec::new();
        if let Some(path) = &self.options.checkpoint
            && let Some(old) = Checkpoint::load(path)
        {
            let same_target = old.endpoint == self.endpoint && old.bucket == bucket && old.key == key;
            if same_target && old.file == identity && old.part_size == part_size {
                match self.client.list_parts(bucket, key, &old.upload_id).await {
                    Ok(parts) => {
                        held = parts;
                        record = Some(old);
                    }
                    Err(e) if e.code() == Some("NoSuchUpload") => {
                        // The upload may be gone because it was completed and only the reply was
                        // lost: then the object is exactly the checkpoint's parts, and nothing
                        // needs sending again.
                        if let Some(etag) = self.completed_earlier(bucket, key, &old, count, size).await {
                            Checkpoint::remove(path);
                            progress.event(&Event::Completed { etag: etag.clone() });
                            return Ok(UploadOutcome { etag, size, parts: count, resumed_bytes: size });
                        }
                        progress.event(&Event::Restarted { reason: "the server no longer has the upload".into() });
                    }
                    Err(e) => return Err(e),
                }
            } else {
                progress.event(&Event::Restarted { reason: "the source file or target changed".into() });
                if same_target {
                    let _ = self.client.abort_multipart_upload(bucket, key, &old.upload_id).await;
                }
                Checkpoint::remove(path);
            }
        }
        let mut record = match record {
            Some(r) => r,
            None => {
                let upload_id = with_retries(&self.options, 0, &*progress, &mut cancel, || {
                    self.client.create_multipart_upload(bucket, key, &headers)
                })
                .await?;
                let r = Checkpoint::new(&self.endpoint, bucket, key, &upload_id, source, identity.clone(), part_size);
                if let Some(path) = &self.options.checkpoint {
                    r.save(path)?;
                }
                r
            }
        };
        progress.event(&Event::Started {
            upload_id: Some(record.upload_id.clone()),
            total: size,
            parts: count,
            part_size,
        });

        // Parts the server holds count only if they are exactly our bytes.
        let mut done: BTreeMap<u32, String> = BTreeMap::new();
        for part in held.iter().filter(|p| p.number >= 1 && p.number <= count) {
            if part.size != part_len(part.number) {
                continue;
            }
            let known = record.parts.get(&part.number) == Some(&part.etag);
            let verified = known || {
                let data = read_part_async(source, (part.number as u64 - 1) * part_size, part.size).await?;
                hex::encode(Md5::digest(&data)) == part.etag
            };
            if verified {
                done.insert(part.number, part.etag.clone());
            }
        }
        record.parts = done.clone();
        let resumed_bytes: u64 = done.keys().map(|&n| part_len(n)).sum();
        if !done.is_empty() {
            progress.event(&Event::Resumed { parts: done.len() as u32, bytes: resumed_bytes });
        }

        let record = Arc::new(Mutex::new(record));
        let missing: Vec<u32> = (1..=count).filter(|n| !done.contains_key(n)).collect();
        let upload_id = record.lock().map(|r| r.upload_id.clone()).map_err(|_| ClientError::Invalid("lock".into()))?;
        let results = futures_util::stream::iter(missing)
            .map(|number| {
                let progress = progress.clone();
                let mut cancel = cancel.clone();
                let record = record.clone();
                let upload_id = upload_id.clone();
                async move {
                    let len = part_len(number);
                    let data = read_part_async(source, (number as u64 - 1) * part_size, len).await?;
                    if let Some(limit) = &self.options.rate_limit {
                        limit.acquire(len).await;
                    }
                    progress.event(&Event::PartStarted { number, size: len });
                    let etag = with_retries(&self.options, number, &*progress, &mut cancel, || {
                        self.client.upload_part(bucket, key, &upload_id, number, data.clone())
                    })
                    .await?;
                    if let Some(path) = &self.options.checkpoint {
                        let snapshot = {
                            let mut r = record.lock().map_err(|_| ClientError::Invalid("lock".into()))?;
                            r.parts.insert(number, etag.clone());
                            r.clone()
                        };
                        snapshot.save(path)?;
                    }
                    progress.event(&Event::PartDone { number, size: len });
                    Ok::<_, ClientError>((number, etag))
                }
            })
            .buffer_unordered(self.options.parallel.max(1))
            .collect::<Vec<_>>()
            .await;
        for r in results {
            let (number, etag) = r?;
            done.insert(number, etag);
        }

        let list: Vec<(u32, String)> = done.into_iter().collect();
        let etag = with_retries(&self.options, 0, &*progress, &mut cancel, || {
            self.client.complete_multipart_upload(bucket, key, &upload_id, &list)
        })
        .await?;
        let mut md5s = Md5::new();
        for (_, e) in &list {
            md5s.update(hex::decode(e).unwrap_or_default());
        }
        let expected = format!("{}-{}", hex::encode(md5s.finalize()), list.len());
        if etag != expected {
            return Err(ClientError::Protocol(format!(
                "the completed object's ETag {etag} is not the expected {expected}"
            )));
        }
        if let Some(path) = &self.options.checkpoint {
            Checkpoint::remove(path);
        }
        progress.event(&Event::Completed { etag: etag.clone() });
        Ok(UploadOutcome { etag, size, parts: count, resumed_bytes })
    }

    /// The object's ETag when `record`'s upload was already completed: every one of its `count`
    /// parts is confirmed in the checkpoint and the object at the key has exactly the ETag
    /// (MD5 of the parts' MD5s) and size those parts make.
    async fn completed_earlier(
        &self,
        bucket: &str,
        key: &str,
        record: &Checkpoint,
        count: u32,
        size: u64,
    ) -> Option<String> {
        if !(1..=count).all(|n| record.parts.contains_key(&n)) || record.parts.len() != count as usize {
            return None;
        }
        let mut md5s = Md5::new();
        for etag in record.parts.values() {
            md5s.update(hex::decode(etag).ok()?);
        }
        let expected = format!("{}-{}", hex::encode(md5s.finalize()), count);
        let object = self.client.head_object(bucket, key).await.ok()?;
        (object.etag == expected && object.size == size).then_some(expected)
    }

    /// Upload a stream of unknown length (stdin, a pipe) with at most `parallel` parts of
    /// `part_size` in memory. There is no checkpoint: a stream cannot be re-read. A stream that
    /// ends within the first part becomes a single PUT.
    pub async fn upload_stream<R: tokio::io::AsyncRead + Unpin>(
        &self,
        mut reader: R,
        bucket: &str,
        key: &str,
        progress: Arc<dyn Progress>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<UploadOutcome> {
        let part_size = self.options.part_size.unwrap_or(DEFAULT_PART);
        part_size_for(part_size, Some(part_size))?;
        let headers: Vec<(&str, String)> = self.options.headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let first = read_chunk(&mut reader, part_size).await?;
        if (first.len() as u64) < part_size {
            let size = first.len() as u64;
            progress.event(&Event::Started { upload_id: None, total: size, parts: 1, part_size });
            let etag = with_retries(&self.options, 1, &*progress, &mut cancel, || {
                self.client.put_object(bucket, key, first.clone(), &headers)
            })
            .await?;
            progress.event(&Event::PartDone { number: 1, size });
            progress.event(&Event::Completed { etag: etag.clone() });
            return Ok(UploadOutcome { etag, size, parts: 1, resumed_bytes: 0 });
        }
        let upload_id = with_retries(&self.options, 0, &*progress, &mut cancel, || {
            self.client.create_multipart_upload(bucket, key, &headers)
        })
        .await?;
        progress.event(&Event::Started { upload_id: Some(upload_id.clone()), total: 0, parts: 0, part_size });
        let outcome = self.stream_parts(&mut reader, first, bucket, key, &upload_id, &*progress, &mut cancel).await;
        match outcome {
            Ok((list, size)) => {
                let etag = with_retries(&self.options, 0, &*progress, &mut cancel, || {
                    self.client.complete_multipart_upload(bucket, key, &upload_id, &list)
                })
                .await?;
                progress.event(&Event::Completed { etag: etag.clone() });
                Ok(UploadOutcome { etag, size, parts: list.len() as u32, resumed_bytes: 0 })
            }
            Err(e) => {
                // Nothing can resume a stream: do not leave its parts behind.
                let _ = self.client.abort_multipart_upload(bucket, key, &upload_id).await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream_parts<R: tokio::io::AsyncRead + Unpin>(
        &self,
        reader: &mut R,
        first: Bytes,
        bucket: &str,
        key: &str,
        upload_id: &str,
        progress: &dyn Progress,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<(Vec<(u32, String)>, u64)> {
        let part_size = first.len() as u64;
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        let mut done = BTreeMap::new();
        let mut next = Some(first);
        let mut number = 0u32;
        let mut size = 0u64;
        loop {
            while in_flight.len() < self.options.parallel.max(1) {
                let Some(data) = next.take() else { break };
                number += 1;
                if u64::from(number) > MAX_PARTS {
                    return Err(ClientError::Invalid(format!(
                        "the stream needs more than 10,000 parts of {part_size} bytes; pass a larger --part-size"
                    )));
                }
                size += data.len() as u64;
                let n = number;
                let mut cancel = cancel.clone();
                progress.event(&Event::PartStarted { number: n, size: data.len() as u64 });
                in_flight.push(async move {
                    let len = data.len() as u64;
                    if let Some(limit) = &self.options.rate_limit {
                        limit.acquire(len).await;
                    }
                    let etag = with_retries(&self.options, n, progress, &mut cancel, || {
                        self.client.upload_part(bucket, key, upload_id, n, data.clone())
                    })
                    .await?;
                    progress.event(&Event::PartDone { number: n, size: len });
                    Ok::<_, ClientError>((n, etag))
                });
                let chunk = read_chunk(reader, part_size).await?;
                if !chunk.is_empty() {
                    next = Some(chunk);
                }
            }
            match in_flight.next().await {
                Some(result) => {
                    let (n, etag) = result?;
                    done.insert(n, etag);
                }
                None => break,
            }
        }
        Ok((done.into_iter().collect(), size))
    }

    /// Abort the upload a checkpoint names and delete the record.
    pub async fn discard(&self, checkpoint: &Path) -> Result<()> {
        if let Some(record) = Checkpoint::load(checkpoint) {
            match self.client.abort_multipart_upload(&record.bucket, &record.key, &record.upload_id).await {
                Ok(()) => {}
                Err(e) if e.code() == Some("NoSuchUpload") => {}
                Err(e) => return Err(e),
            }
        }
        Checkpoint::remove(checkpoint);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        assert_eq!(part_size_for(100, None).ok(), Some(DEFAULT_PART));
        let huge = 200 * 1024 * 1024 * 1024u64;
        let p = part_size_for(huge, None).unwrap_or(0);
        assert!(huge.div_ceil(p) <= MAX_PARTS);
        assert!(part_size_for(10, Some(1024)).is_err());
        assert!(part_size_for(huge, Some(5 * 1024 * 1024)).is_err());
    }
}
