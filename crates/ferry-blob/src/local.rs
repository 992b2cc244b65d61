//! Blobs as files: `blobs/<first two hex chars>/<id>`.
//!
//! A blob is written in place and fsynced before `finish` returns; metadata references it only
//! after that, so a blob cut short by a crash is never read — it is an unreferenced file that
//! the orphan scan removes.
//!
//! Making a new file durable takes two fsyncs: the file's data, and its directory's entry. The
//! second is paid in bulk: files are created ahead of need, [`POOL_BATCH`] at a time in one shard
//! directory followed by one directory fsync, and each new blob takes one of them. A small part
//! then costs one fsync instead of two. (Group commit of directory entries is specific enough to
//! this layout that no crate offers it.)

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::pipeline::{Sink, Stage};
use ferry_core::store::ByteStream;
use ferry_core::{BlobId, BlobStore, BlobWriter, BlockingBlobWrite, Error, Millis, Result};
use tokio::sync::mpsc;

/// Size of the reads that serve GETs. (1 MiB chunks, for fewer hand-overs, cost more CPU: the
/// allocator then maps fresh pages for most of them, and the kernel zeroes those.)
const READ_CHUNK: usize = 256 * 1024;
/// Chunks read ahead of the connection, per GET.
const READ_AHEAD: usize = 4;
/// Bytes written between intermediate fsyncs of a blob being written.
const SYNC_EVERY: u64 = 8 * 1024 * 1024;
/// Size of the write buffer in front of each blob file.
const WRITE_BUFFER: usize = 256 * 1024;

/// Empty files created (and their directory entries fsynced) per batch.
const POOL_BATCH: usize = 64;

/// Space kept in `<data dir>/reserve` for a full disk: when another process fills the disk to
/// the last byte, the metadata writes that free space (deletes, aborts, the sweeper's lease and
/// garbage collection) would fail for want of a few pages. The engine releases this file when
/// such a write fails and retries; the sweeper sets it aside again once the disk has room.
pub const RESERVE_BYTES: u64 = 8 * 1024 * 1024;

/// Blobs as files under one directory.
pub struct LocalBlobStore {
    blobs: PathBuf,
    /// The file holding [`RESERVE_BYTES`] for a full disk.
    reserve: PathBuf,
    /// Staging directory of earlier versions, removed at start-up (see `clean_incomplete`).
    tmp: PathBuf,
    pool: Arc<Mutex<Pool>>,
}

/// Files created ahead of need by this process, and files being written. Only this run's pool is
/// ever claimed: files left by an earlier run look like orphans and are collected as such.
#[derive(Default)]
struct Pool {
    ready: Vec<BlobId>,
    /// `ready` plus the blobs being written: never reported to the orphan scan.
    reserved: HashSet<BlobId>,
    next_shard: u8,
}

impl Pool {
    /// Take a ready file, creating a batch first when none is left.
    fn claim(&mut self, blobs: &Path) -> io::Result<BlobId> {
        if self.ready.is_empty() {
            self.refill(blobs)?;
        }
        self.ready.pop().ok_or_else(|| io::Error::other("blob file pool is empty after refill"))
    }

    fn refill(&mut self, blobs: &Path) -> io::Result<()> {
        let shard = format!("{:02x}", self.next_shard);
        self.next_shard = self.next_shard.wrapping_add(1);
        let dir = blobs.join(&shard);
        let mut made = Vec::with_capacity(POOL_BATCH);
        for _ in 0..POOL_BATCH {
            let id = BlobId(format!("{shard}{}", &BlobId::random().0[2..]));
            File::create_new(dir.join(&id.0))?;
            made.push(id);
        }
        sync_dir(&dir)?;
        self.reserved.extend(made.iter().cloned());
        self.ready.extend(made);
        Ok(())
    }
}

fn release(pool: &Mutex<Pool>, id: &BlobId) {
    if let Ok(mut pool) = pool.lock() {
        pool.reserved.remove(id);
    }
}

impl LocalBlobStore {
    /// Open (creating if needed) a store rooted at `root`.
    pub fn open(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref();
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        // All 256 shard directories exist from the start, so writing a blob never has to create
        // (and fsync) a directory entry beyond the file's own.
        for shard in 0..=255u8 {
            fs::create_dir_all(blobs.join(format!("{shard:02x}")))?;
        }
        sync_dir(root)?;
        sync_dir(&blobs)?;
        let store = LocalBlobStore { blobs, tmp, reserve: root.join("reserve"), pool: Arc::default() };
        set_reserve_aside(&store.reserve);
        Ok(store)
    }

    fn path(&self, id: &BlobId) -> Result<PathBuf> {
        crate::check_id(id)?;
        Ok(self.blobs.join(&id.0[..2]).join(&id.0))
    }
}

/// Write the reserve file at `path` unless it is there whole. Best effort: on a disk too full
/// for it, there is none until the sweeper finds room.
fn set_reserve_aside(path: &Path) {
    if fs::metadata(path).is_ok_and(|m| m.len() == RESERVE_BYTES) {
        return;
    }
    let written = (|| {
        // Zeros, not a sparse `set_len`: only written blocks hold space.
        let mut file = File::create(path)?;
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..RESERVE_BYTES / zeros.len() as u64 {
            file.write_all(&zeros)?;
        }
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(path);
        tracing::warn!(error = %e, "no room for the full-disk reserve yet");
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        let ready = self.pool.lock().map_err(|_| io::Error::other("blob pool lock poisoned"))?.ready.pop();
        let id = match ready {
            Some(id) => id,
            None => {
                let (pool, blobs) = (self.pool.clone(), self.blobs.clone());
                tokio::task::spawn_blocking(move || {
                    pool.lock().map_err(|_| io::Error::other("blob pool lock poisoned"))?.claim(&blobs)
                })
                .await
                .map_err(io::Error::other)??
            }
        };
        let path = self.path(&id)?;
        Ok(Box::new(LocalWriter {
            id,
            path,
            pool: self.pool.clone(),
            state: WriterState::Buffering(Vec::new(), 0),
            settled: false,
        }))
    }

    async fn read(&self, blob: &BlobId, offset: u64, len: u64) -> Result<ByteStream> {
        let path = self.path(blob)?;
        let mut file = File::open(&path).map_err(|e| missing_is_critical(e, blob))?;
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(READ_AHEAD);
        tokio::task::spawn_blocking(move || {
            let mut left = len;
            if let Err(e) = file.seek(SeekFrom::Start(offset)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            while left > 0 {
                let want = left.min(READ_CHUNK as u64);
                // read_to_end fills the spare capacity without zeroing it first (a memset of
                // every byte served, otherwise), and retries short and interrupted reads.
                let mut buf = Vec::with_capacity(want as usize);
                let got = match (&mut file).take(want).read_to_end(&mut buf) {
                    Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than its manifest")),
                    Ok(n) => Ok(n),
                    Err(e) => Err(e),
                };
                let chunk = got.map(|n| {
                    left -= n as u64;
                    Bytes::from(buf)
                });
                let failed = chunk.is_err();
                // A closed channel means the reader went away (client disconnected): stop.
                if tx.blocking_send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })))
    }

    async fn size(&self, blob: &BlobId) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.path(blob)?).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, blob: &BlobId) -> Result<()> {
        let path = self.path(blob)?;
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list_older_than(&self, before: Millis) -> Result<Vec<BlobId>> {
        let blobs = self.blobs.clone();
        // Taken before listing: a file claimed after this point has a fresh modification time.
        let reserved: HashSet<String> = match self.pool.lock() {
            Ok(pool) => pool.reserved.iter().map(|b| b.0.clone()).collect(),
            Err(_) => return Err(Error::Blob(io::Error::other("blob pool lock poisoned"))),
        };
        let found = tokio::task::spawn_blocking(move || -> io::Result<Vec<BlobId>> {
            let mut out = Vec::new();
            for shard in fs::read_dir(&blobs)? {
                for entry in fs::read_dir(shard?.path())? {
                    let entry = entry?;
                    let modified = entry.metadata()?.modified()?;
                    let millis = modified.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0);
                    if millis < before
                        && let Some(name) = entry.file_name().to_str()
                        && !reserved.contains(name)
                    {
                        out.push(BlobId(name.to_string()));
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(found.into_iter().filter(|id| crate::check_id(id).is_ok()).collect())
    }

    async fn available_space(&self) -> Option<u64> {
        // statvfs is one cheap syscall; bytes an unprivileged writer may still use.
        let stat = rustix::fs::statvfs(&self.blobs).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    async fn release_reserve(&self) -> bool {
        fs::remove_file(&self.reserve).is_ok()
    }

    async fn restore_reserve(&self) {
        // Only with room to spare, so the reserve never takes the last bytes itself.
        if !self.reserve.exists() && self.available_space().await.is_some_and(|free| free > 4 * RESERVE_BYTES) {
            let path = self.reserve.clone();
            let _ = tokio::task::spawn_blocking(move || set_reserve_aside(&path)).await;
        }
    }

    async fn check(&self) -> Result<()> {
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || std::fs::metadata(blobs).map(|_| ()))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }

    async fn clean_incomplete(&self) -> Result<()> {
        // Blobs are written in place now, and one cut short is an unreferenced file that the
        // orphan scan removes. Data directories of earlier versions staged blobs under `tmp/`;
        // what a crash left there is removed once.
        let tmp = self.tmp.clone();
        tokio::task::spawn_blocking(move || match fs::remove_dir_all(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
        .map_err(io::Error::other)??;
        Ok(())
    }
}

fn missing_is_critical(e: io::Error, blob: &BlobId) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::Critical(format!("blob {blob} referenced by metadata is missing"))
    } else {
        e.into()
    }
}

/// Open a file taken from the pool for writing.
fn open_claimed(path: &Path) -> io::Result<BufWriter<File>> {
    let file = fs::OpenOptions::new().write(true).open(path)?;
    // The file's age is its blob's age (the orphan scan goes by it), even for an empty blob.
    file.set_modified(SystemTime::now())?;
    Ok(BufWriter::with_capacity(WRITE_BUFFER, file))
}

/// Make what was written durable. The directory entry was made durable when the file was
/// created (see the pool).
fn sync(file: BufWriter<File>) -> io::Result<()> {
    file.into_inner().map_err(|e| e.into_error())?.sync_data()
}

/// Writes a blob from a blocking thread, fsynced as it goes and at the end: on a writer thread
/// of its own ([`WriterState::Streaming`]) or on the engine's hashing thread
/// ([`BlobWriter::hand_to_blocking`]). Each chunk is written straight from the buffer the network
/// read it into: the chunks hyper hands over are tens to hundreds of KiB, so a user-space write
/// buffer would only add a copy of every byte.
struct FileSink {
    file: File,
    size: u64,
    unsynced: u64,
    /// Set to the size once the blob is durable, for [`LocalWriter::finish`] after a hand-over.
    durable: Option<Arc<OnceLock<u64>>>,
}

impl FileSink {
    fn new(file: File) -> Self {
        FileSink { file, size: 0, unsynced: 0, durable: None }
    }

    fn append(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.size += chunk.len() as u64;
        self.file.write_all(chunk)?;
        self.unsynced += chunk.len() as u64;
        // Flush to disk as the part streams in rather than all at the end: the disk works while
        // the network does, and the final fsync that the acknowledgement waits for is short.
        if self.unsynced >= SYNC_EVERY {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    fn sync(self) -> io::Result<u64> {
        self.file.sync_data()?;
        if let Some(durable) = &self.durable {
            let _ = durable.set(self.size);
        }
        Ok(self.size)
    }
}

impl Sink for FileSink {
    type Output = u64;

    fn consume(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.append(chunk)
    }

    fn finish(self) -> io::Result<u64> {
        self.sync()
    }
}

impl BlockingBlobWrite for FileSink {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.append(chunk)
    }

    fn finish(self: Box<Self>) -> io::Result<u64> {
        self.sync()
    }
}

/// A small blob is kept in memory until it ends and written by one blocking call; past
/// [`SMALL_BLOB`] it streams through a writer thread. Most of a small part's cost would
/// otherwise be handing it between threads.
enum WriterState {
    Buffering(Vec<Bytes>, usize),
    Streaming(Stage<u64>),
    /// Handed to the engine's thread; holds the size once that thread made the blob durable.
    Handed(Arc<OnceLock<u64>>),
    Closed,
}

/// The most a blob buffers in memory before it streams to its file.
const SMALL_BLOB: usize = 256 * 1024;

struct LocalWriter {
    id: BlobId,
    path: PathBuf,
    pool: Arc<Mutex<Pool>>,
    state: WriterState,
    /// Finished or aborted: the file is no longer this writer's to remove.
    settled: bool,
}

impl LocalWriter {
    /// Open the file on a blocking thread and write what was buffered into it.
    async fn open_with_buffered(&mut self) -> Result<FileSink> {
        let WriterState::Buffering(chunks, _) = std::mem::replace(&mut self.state, WriterState::Closed) else {
            return Err(Error::Blob(io::Error::other("blob writer is no longer buffering")));
        };
        let path = self.path.clone();
        let sink = tokio::task::spawn_blocking(move || -> io::Result<FileSink> {
            // Nothing was written through the fresh buffer, so taking the file out cannot fail.
            let file = open_claimed(&path)?.into_inner().map_err(|e| e.into_error())?;
            let mut sink = FileSink::new(file);
            for chunk in &chunks {
                sink.append(chunk)?;
            }
            Ok(sink)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(sink)
    }

    /// Start the writer thread, handing it what was buffered.
    async fn stream(&mut self) -> Result<()> {
        if matches!(self.state, WriterState::Buffering(..)) {
            let sink = self.open_with_buffered().await?;
            self.state = WriterState::Streaming(Stage::spawn(sink));
        }
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for LocalWriter {
    fn id(&self) -> &BlobId {
        &self.id
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if let WriterState::Buffering(chunks, size) = &mut self.state {
            if *size + chunk.len() <= SMALL_BLOB {
                *size += chunk.len();
                chunks.push(chunk);
                return Ok(());
            }
            self.stream().await?;
        }
        match &mut self.state {
            WriterState::Streaming(stage) => Ok(stage.push(chunk).await?),
            _ => Err(Error::Blob(io::Error::other("blob writer already closed"))),
        }
    }

    async fn hand_to_blocking(&mut self) -> Result<Option<Box<dyn BlockingBlobWrite>>> {
        if !matches!(self.state, WriterState::Buffering(..)) {
            return Ok(None);
        }
        let mut sink = self.open_with_buffered().await?;
        let durable = Arc::new(OnceLock::new());
        sink.durable = Some(durable.clone());
        self.state = WriterState::Handed(durable);
        Ok(Some(Box::new(sink)))
    }

    async fn finish(mut self: Box<Self>) -> Result<u64> {
        let result = match std::mem::replace(&mut self.state, WriterState::Closed) {
            WriterState::Buffering(chunks, size) => {
                let path = self.path.clone();
                tokio::task::spawn_blocking(move || -> io::Result<u64> {
                    let mut file = open_claimed(&path)?;
                    for chunk in &chunks {
                        file.write_all(chunk)?;
                    }
                    sync(file)?;
                    Ok(size as u64)
                })
                .await
                .map_err(io::Error::other)
                .and_then(|r| r)
            }
            WriterState::Streaming(stage) => stage.finish().await,
            WriterState::Handed(durable) => durable
                .get()
                .copied()
                .ok_or_else(|| io::Error::other("the blocking writer never made the blob durable")),
            WriterState::Closed => Err(io::Error::other("blob writer already closed")),
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&self.path).await;
        }
        self.settled = true;
        release(&self.pool, &self.id);
        Ok(result?)
    }

    async fn abort(mut self: Box<Self>) {
        // A writer thread may still hold the file open; unlinking works regardless on Unix.
        self.state = WriterState::Closed;
        let _ = tokio::fs::remove_file(&self.path).await;
        self.settled = true;
        release(&self.pool, &self.id);
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // A writer dropped without finish/abort (request cancelled mid-body) leaves no file.
        if !self.settled {
            let _ = fs::remove_file(&self.path);
            release(&self.pool, &self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn conformance() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalBlobStore::open(dir.path()).expect("open");
        ferry_conformance::blob_store_suite(std::sync::Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn files_made_ahead_are_neither_listed_nor_reused_across_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalBlobStore::open(dir.path()).expect("open");
        let mut writer = store.create().await.expect("create");
        let id = writer.id().clone();
        writer.write(Bytes::from_static(b"data")).await.expect("write");
        writer.finish().await.expect("finish");
        let far = ferry_core::now_millis() + 3_600_000;
        assert_eq!(store.list_older_than(far).await.expect("list"), vec![id.clone()], "unused pool files are hidden");

        // A new run does not know the old run's unused files: they are orphans, listed for the scan,
        // and never handed out again.
        let again = LocalBlobStore::open(dir.path()).expect("reopen");
        let leftovers = again.list_older_than(far).await.expect("list");
        assert_eq!(leftovers.len(), POOL_BATCH, "the finished blob and the unused files: {leftovers:?}");
        let fresh = again.create().await.expect("create");
        assert!(!leftovers.contains(fresh.id()), "a leftover file is never reused");
        fresh.abort().await;
    }

    async fn read_all(store: &LocalBlobStore, id: &BlobId, len: u64) -> Vec<u8> {
        use futures_util::StreamExt;
        let mut stream = store.read(id, 0, len).await.expect("read");
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_blob_handed_to_a_blocking_writer_keeps_what_was_buffered_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalBlobStore::open(dir.path()).expect("open");
        let mut writer = store.create().await.expect("create");
        let id = writer.id().clone();
        writer.write(Bytes::from_static(b"head-")).await.expect("write");
        let mut blocking = writer.hand_to_blocking().await.expect("hand over").expect("local files have one");
        assert!(writer.write(Bytes::from_static(b"x")).await.is_err(), "no writes here once handed over");
        let tail = vec![7u8; 3 * 1024 * 1024];
        let size = tokio::task::spawn_blocking(move || {
            blocking.write(&tail)?;
            blocking.finish()
        })
        .await
        .expect("thread")
        .expect("blocking finish");
        assert_eq!(size, 5 + 3 * 1024 * 1024);
        assert_eq!(writer.finish().await.expect("finish"), size);
        let bytes = read_all(&store, &id, size).await;
        assert_eq!(&bytes[..5], b"head-");
        assert!(bytes[5..].iter().all(|&b| b == 7));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_handed_over_blob_is_not_finished_unless_the_blocking_writer_made_it_durable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalBlobStore::open(dir.path()).expect("open");
        let mut writer = store.create().await.expect("create");
        let path = store.path(writer.id()).expect("path");
        let mut blocking = writer.hand_to_blocking().await.expect("hand over").expect("local files have one");
        blocking.write(b"never synced").expect("write");
        drop(blocking);
        assert!(writer.finish().await.is_err());
        assert!(!path.exists(), "a blob that failed to finish leaves no file");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn ids_never_name_paths_outside_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalBlobStore::open(dir.path()).expect("open");
        for bad in ["../../etc/passwd", "", "ABCDEF", "0123456789abcdef0123456789abcde/"] {
            assert!(store.read(&BlobId(bad.into()), 0, 1).await.is_err(), "{bad}");
            assert!(store.delete(&BlobId(bad.into())).await.is_err(), "{bad}");
        }
    }
}
