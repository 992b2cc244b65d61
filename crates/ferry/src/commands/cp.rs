//! `ferry cp`: local → S3 (resumable, checkpointed) and S3 → local (parallel ranged GETs).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use ferry_client::{Checkpoint, ClientError, RateLimit, S3Client, UploadOptions, Uploader};
use futures_util::StreamExt;
use md5::{Digest as _, Md5};

use super::config::{ConnectArgs, connect, parse_s3_url};
use super::progress::Display;
use crate::exit::Interrupted;

#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// Source: a local file or s3://bucket/key.
    pub src: String,
    /// Destination: s3://bucket/key (a trailing / appends the file name) or a local path.
    pub dst: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Part size, e.g. 16MiB (100 KiB to 5 GiB; default 8 MiB or what fits 10,000 parts).
    #[arg(long, value_parser = parse_size)]
    pub part_size: Option<u64>,
    /// Parts in flight at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Retries per request after the first attempt.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Directory for checkpoint records (default: beside the source file).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Do not keep a checkpoint; an interrupted upload starts over.
    #[arg(long)]
    pub no_checkpoint: bool,
    /// On Ctrl-C, abort the upload on the server and delete the checkpoint.
    #[arg(long)]
    pub delete_on_cancel: bool,
    /// Content-Type of the new object.
    #[arg(long)]
    pub content_type: Option<String>,
    /// User metadata, repeatable: --meta owner=me
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Machine-readable progress and result, one JSON object per line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Average bandwidth limit per second, e.g. 20MiB.
    #[arg(long, value_parser = parse_size)]
    pub limit_rate: Option<u64>,
}

/// `16MiB`, `512KiB`, `1GiB`, `1048576`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a size like 16MiB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown size unit in {text:?} (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{text:?} is too large"))
}

pub async fn run(args: CpArgs) -> anyhow::Result<()> {
    match (parse_s3_url(&args.src), parse_s3_url(&args.dst)) {
        (None, Some((bucket, key))) => upload(&args, bucket, key).await,
        (Some((bucket, key)), None) => download(&args, &bucket, &key).await,
        (Some(_), Some(_)) => bail!("copying between two s3:// locations is not supported yet"),
        (None, None) => bail!("one of SRC and DST must be an s3://bucket/key URL"),
    }
}

async fn upload(args: &CpArgs, bucket: String, key: String) -> anyhow::Result<()> {
    if args.src == "-" {
        return upload_stdin(args, &bucket, &key).await;
    }
    let source = PathBuf::from(&args.src);
    if !source.is_file() {
        bail!("{} is not a file", source.display());
    }
    let key = if key.is_empty() || key.ends_with('/') {
        let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        format!("{key}{name}")
    } else {
        key
    };
    let checkpoint =
        (!args.no_checkpoint).then(|| Checkpoint::path_for(&source, args.checkpoint_dir.as_deref(), &bucket, &key));
    if let Some(dir) = &args.checkpoint_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let uploader = uploader(args, &key, checkpoint.clone())?;
    let display = Arc::new(Display::new(args.json));
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel_tx.send(true);
        }
    });
    let result = uploader.upload_file(&source, &bucket, &key, display.clone(), cancel_rx).await;
    display.finish();
    match result {
        Ok(outcome) => {
            if args.json {
                Display::json_line(serde_json::json!({
                    "event": "result", "bucket": bucket, "key": key, "etag": outcome.etag,
                    "size": outcome.size, "parts": outcome.parts, "resumed_bytes": outcome.resumed_bytes}));
            } else {
                eprintln!(
                    "uploaded {} to s3://{bucket}/{key} ({} bytes, ETag {})",
                    source.display(),
                    outcome.size,
                    outcome.etag
                );
            }
            Ok(())
        }
        Err(ClientError::Cancelled) => {
            match (&checkpoint, args.delete_on_cancel) {
                (Some(path), true) => {
                    uploader.discard(path).await?;
                    eprintln!("cancelled; the upload was aborted on the server and its checkpoint deleted");
                }
                (Some(path), false) => {
                    eprintln!("interrupted; run the same command again to resume (checkpoint {})", path.display())
                }
                (None, _) => eprintln!("interrupted; without a checkpoint the upload starts over next time"),
            }
            Err(Interrupted.into())
        }
        // Usage mistakes are reported as they are; only failures on the way can be resumed.
        Err(e @ ClientError::Invalid(_)) => Err(e.into()),
        Err(e) => Err(anyhow::Error::new(e).context(match &checkpoint {
            Some(path) => {
                format!("upload failed; run the same command again to resume (checkpoint {})", path.display())
            }
            None => "upload failed".to_string(),
        })),
    }
}

/// Build the uploader and the object headers from the flags. The content type is the one given,
/// else guessed from the key's extension.
fn uploader(args: &CpArgs, key: &str, checkpoint: Option<PathBuf>) -> anyhow::Result<Uploader> {
    let conn = connect(&args.connect)?;
    let mut headers = Vec::new();
    let content_type = args.content_type.clone().or_else(|| mime_guess::from_path(key).first().map(|m| m.to_string()));
    if let Some(ct) = content_type {
        headers.push(("content-type".to_string(), ct));
    }
    for m in &args.meta {
        let (k, v) = m.split_once('=').with_context(|| format!("--meta {m:?} must be KEY=VALUE"))?;
        headers.push((format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.to_string()));
    }
    let options = UploadOptions {
        part_size: args.part_size,
        parallel: args.parallel,
        retries: args.retries,
        checkpoint,
        headers,
        rate_limit: args.limit_rate.map(RateLimit::new),
        ..UploadOptions::default()
    };
    Ok(Uploader::new(conn.client, &conn.endpoint, options))
}

/// Cancelled (true) on the first Ctrl-C.
fn cancel_on_ctrl_c() -> tokio::sync::watch::Receiver<bool> {
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel_tx.send(true);
        }
    });
    cancel_rx
}

async fn upload_stdin(args: &CpArgs, bucket: &str, key: &str) -> anyhow::Result<()> {
    if key.is_empty() || key.ends_with('/') {
        bail!("uploading stdin needs a full key: s3://{bucket}/{key}NAME");
    }
    let uploader = uploader(args, key, None)?;
    let display = Arc::new(Display::new(args.json));
    let result = uploader.upload_stream(tokio::io::stdin(), bucket, key, display.clone(), cancel_on_ctrl_c()).await;
    display.finish();
    match result {
        Ok(outcome) => {
            report_upload(args, bucket, key, "stdin", &outcome);
            Ok(())
        }
        Err(ClientError::Cancelled) => {
            eprintln!("interrupted; a stream cannot be resumed, so its upload was aborted");
            Err(Interrupted.into())
        }
        Err(e) => Err(anyhow::Error::new(e).context("upload from stdin failed")),
    }
}

fn report_upload(args: &CpArgs, bucket: &str, key: &str, source: &str, outcome: &ferry_client::UploadOutcome) {
    if args.json {
        Display::json_line(serde_json::json!({
            "event": "result", "bucket": bucket, "key": key, "etag": outcome.etag,
            "size": outcome.size, "parts": outcome.parts, "resumed_bytes": outcome.resumed_bytes}));
    } else {
        eprintln!("uploaded {source} to s3://{bucket}/{key} ({} bytes, ETag {})", outcome.size, outcome.etag);
    }
}

async fn download(args: &CpArgs, bucket: &str, key: &str) -> anyhow::Result<()> {
    let conn = connect(&args.connect)?;
    let client = conn.client;
    let info = client.head_object(bucket, key).await.with_context(|| format!("reading s3://{bucket}/{key}"))?;
    let chunk = args.part_size.unwrap_or(8 << 20).max(1 << 20);
    let ranges: Vec<(u64, u64)> =
        (0..info.size.div_ceil(chunk)).map(|i| (i * chunk, ((i + 1) * chunk).min(info.size) - 1)).collect();
    if args.dst == "-" {
        let mut stdout = std::io::stdout().lock();
        for (first, last) in ranges {
            let bytes = fetch(&client, bucket, key, first, last, args.retries).await?;
            std::io::Write::write_all(&mut stdout, &bytes)?;
        }
        return Ok(());
    }
    let mut dst = PathBuf::from(&args.dst);
    if dst.is_dir() {
        dst = dst.join(key.rsplit('/').next().unwrap_or(key));
    }
    let temp = temp_path(&dst);
    let record_path = PathBuf::from(format!("{}.json", temp.display()));
    // A download killed earlier continues if the object is unchanged (same ETag and size).
    let fresh = DownloadRecord {
        bucket: bucket.into(),
        key: key.into(),
        etag: info.etag.clone(),
        size: info.size,
        chunk,
        done: Default::default(),
    };
    let record = std::fs::read(&record_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<DownloadRecord>(&b).ok())
        .filter(|r| r.same_object(&fresh) && temp.exists())
        .unwrap_or(fresh);
    let file = Arc::new(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(record.done.is_empty())
            .open(&temp)
            .with_context(|| format!("creating {}", temp.display()))?,
    );
    file.set_len(info.size)?;
    let record = Arc::new(std::sync::Mutex::new(record));
    let limit = args.limit_rate.map(RateLimit::new);
    let todo: Vec<(usize, (u64, u64))> = {
        let r = record.lock().map_err(|_| anyhow::anyhow!("record lock"))?;
        if !r.done.is_empty() {
            if args.json {
                Display::json_line(serde_json::json!({"event": "resumed", "chunks": r.done.len()}));
            } else {
                eprintln!("resuming: {} chunks already downloaded", r.done.len());
            }
        }
        ranges.into_iter().enumerate().filter(|(i, _)| !r.done.contains(i)).collect()
    };
    let window = SyncWindow::new(chunk);
    let results = futures_util::stream::iter(todo)
        .map(|(index, (first, last))| {
            let client = client.clone();
            let file = file.clone();
            let record = record.clone();
            let record_path = record_path.clone();
            let limit = limit.clone();
            let window = &window;
            async move {
                if let Some(limit) = &limit {
                    limit.acquire(last - first + 1).await;
                }
                fetch_into(&client, bucket, key, first, last, &file, args.retries).await?;
                if window.written(index, last - first + 1)? {
                    window.commit(&file, &record, &record_path, args.json).await?;
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(args.parallel.max(1))
        .collect::<Vec<_>>()
        .await;
    for r in results {
        r?;
    }
    // Record what the last window holds too: the final rename below may still fail.
    window.commit(&file, &record, &record_path, args.json).await?;
    // A single-part ETag is the MD5 of the whole object: check it before the file is shown.
    if !info.etag.contains('-') {
        let path = temp.clone();
        let md5 = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut h = Md5::new();
            std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
            Ok(hex::encode(h.finalize()))
        })
        .await??;
        if md5 != info.etag {
            let _ = std::fs::remove_file(&temp);
            bail!("the downloaded bytes do not match the object's ETag; try again");
        }
    }
    std::fs::rename(&temp, &dst)?;
    let _ = std::fs::remove_file(&record_path);
    if args.json {
        Display::json_line(serde_json::json!({"event": "result", "path": dst, "size": info.size, "etag": info.etag}));
    } else {
        eprintln!("downloaded s3://{bucket}/{key} to {} ({} bytes)", dst.display(), info.size);
    }
    Ok(())
}

/// Which chunks of a download are already in its temp file.
#[derive(serde::Serialize, serde::Deserialize)]
struct DownloadRecord {
    bucket: String,
    key: String,
    etag: String,
    size: u64,
    chunk: u64,
    done: std::collections::BTreeSet<usize>,
}

impl DownloadRecord {
    fn same_object(&self, other: &DownloadRecord) -> bool {
        (&self.bucket, &self.key, &self.etag, self.size, self.chunk)
            == (&other.bucket, &other.key, &other.etag, other.size, other.chunk)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(temp, path)
}

fn temp_path(dst: &Path) -> PathBuf {
    let mut name = dst.as_os_str().to_owned();
    name.push(".ferry-download");
    PathBuf::from(name)
}

async fn fetch(
    client: &S3Client,
    bucket: &str,
    key: &str,
    first: u64,
    last: u64,
    retries: u32,
) -> anyhow::Result<bytes::Bytes> {
    let mut attempt = 0;
    loop {
        match client.get_range(bucket, key, first, last).await {
            Ok(b) => return Ok(b),
            Err(e) if e.is_retryable() && attempt < retries => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt.min(5))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// [`S3Client::get_range_into`] with retries.
async fn fetch_into(
    client: &S3Client,
    bucket: &str,
    key: &str,
    first: u64,
    last: u64,
    file: &std::fs::File,
    retries: u32,
) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match client.get_range_into(bucket, key, first, last, file).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < retries => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt.min(5))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Bytes written between two syncs of a download's temp file, at most.
const SYNC_BYTES: u64 = 64 << 20;
/// Chunks written between two syncs, at most (bounds the lost work with small chunks).
const SYNC_CHUNKS: usize = 8;

/// Chunks written into the temp file but not yet synced. The download record names a chunk
/// done only after a sync covering it, so a crash never leaves the record claiming bytes the
/// disk does not hold; syncing once per window (64 MiB or 8 chunks) instead of once per chunk
/// keeps the download from waiting on the disk after every chunk.
struct SyncWindow {
    pending: std::sync::Mutex<(Vec<(usize, u64)>, u64)>,
    chunk_limit: usize,
    /// Held while syncing and writing the record, so records are written in order.
    committing: tokio::sync::Mutex<()>,
}

impl SyncWindow {
    fn new(chunk: u64) -> Self {
        let chunk_limit = (SYNC_BYTES / chunk.max(1)).clamp(1, SYNC_CHUNKS as u64) as usize;
        SyncWindow { pending: Default::default(), chunk_limit, committing: tokio::sync::Mutex::new(()) }
    }

    /// Note chunk `index` (`len` bytes) as written; true when the window is full.
    fn written(&self, index: usize, len: u64) -> anyhow::Result<bool> {
        let mut p = self.pending.lock().map_err(|_| anyhow::anyhow!("download window lock"))?;
        p.0.push((index, len));
        p.1 += len;
        Ok(p.0.len() >= self.chunk_limit || p.1 >= SYNC_BYTES)
    }

    /// Sync the file, then record every chunk written before the sync as done.
    async fn commit(
        &self,
        file: &Arc<std::fs::File>,
        record: &std::sync::Mutex<DownloadRecord>,
        record_path: &Path,
        json: bool,
    ) -> anyhow::Result<()> {
        let _order = self.committing.lock().await;
        // Every chunk listed now is completely written; the sync below covers it.
        let (chunks, _) =
            std::mem::take(&mut *self.pending.lock().map_err(|_| anyhow::anyhow!("download window lock"))?);
        if chunks.is_empty() {
            return Ok(());
        }
        let synced = file.clone();
        tokio::task::spawn_blocking(move || synced.sync_data()).await??;
        let snapshot = {
            let mut r = record.lock().map_err(|_| anyhow::anyhow!("record lock"))?;
            r.done.extend(chunks.iter().map(|&(index, _)| index));
            serde_json::to_vec(&*r)?
        };
        write_atomically(record_path, &snapshot)?;
        if json {
            for (index, size) in chunks {
                Display::json_line(serde_json::json!({"event": "chunk_done", "index": index, "size": size}));
            }
        }
        Ok(())
    }
}
