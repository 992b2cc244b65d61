//! A blocking worker fed with chunks through a bounded channel.
//!
//! Hashing and file writes are CPU- and syscall-bound; doing them on the async workers would
//! stall every other connection. Each in-flight part gets its own thread, which hashes each
//! chunk and then writes it to its file ([`HashWriteSink`]; stores that write asynchronously get
//! a hashing thread only), so network reads overlap hashing and writing. The bounded channel is
//! the back-pressure that keeps memory per part small.

use std::io;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Batches in flight per stage; with [`BATCH_BYTES`] this bounds the memory of a part.
pub const STAGE_DEPTH: usize = 2;

/// Chunks are handed to a stage in batches of about this many bytes. hyper hands over chunks of
/// tens to a few hundred KiB; passing each on its own costs a thread wake-up (and often a
/// context switch) per chunk, which showed up as a tenth of the server's CPU per uploaded byte.
/// 512 KiB keeps a part's memory near 2 MiB (the batch being gathered, two queued, one being
/// consumed); 1 MiB saved a few more wake-ups but doubled that.
pub const BATCH_BYTES: usize = 512 * 1024;

/// What a stage does with each chunk and at the end.
pub trait Sink: Send + 'static {
    type Output: Send + 'static;
    fn consume(&mut self, chunk: &[u8]) -> io::Result<()>;
    fn finish(self) -> io::Result<Self::Output>;
}

/// A running stage. Dropping it without [`Stage::finish`] stops the thread after the queued
/// chunks; the sink's `finish` is then not called.
pub struct Stage<T> {
    tx: Option<mpsc::Sender<Vec<Bytes>>>,
    /// Chunks pushed but not yet sent to the thread, and their total size.
    batch: Vec<Bytes>,
    batched: usize,
    handle: JoinHandle<io::Result<Option<T>>>,
}

impl<T: Send + 'static> Stage<T> {
    pub fn spawn<S: Sink<Output = T>>(mut sink: S) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(STAGE_DEPTH);
        let handle = tokio::task::spawn_blocking(move || {
            let mut finished_cleanly = false;
            while let Some(batch) = rx.blocking_recv() {
                if batch.is_empty() {
                    // An empty batch is the end marker sent by `finish`.
                    finished_cleanly = true;
                    break;
                }
                for chunk in &batch {
                    sink.consume(chunk)?;
                }
            }
            if finished_cleanly { sink.finish().map(Some) } else { Ok(None) }
        });
        Stage { tx: Some(tx), batch: Vec::new(), batched: 0, handle }
    }

    /// Queue one chunk; it is sent to the thread with the next full batch. Waits while the
    /// stage is `STAGE_DEPTH` batches behind.
    pub async fn push(&mut self, chunk: Bytes) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= BATCH_BYTES {
            let batch = std::mem::take(&mut self.batch);
            self.batched = 0;
            self.send(batch).await?;
        }
        Ok(())
    }

    async fn send(&mut self, batch: Vec<Bytes>) -> io::Result<()> {
        let Some(tx) = &self.tx else { return Err(io::Error::other("stage already finished")) };
        if tx.send(batch).await.is_err() {
            // The thread stopped early: surface its error.
            self.tx = None;
            return Err(match (&mut self.handle).await {
                Ok(Err(e)) => e,
                _ => io::Error::other("stage stopped unexpectedly"),
            });
        }
        Ok(())
    }

    /// Wait for every queued chunk to be consumed and return the sink's result.
    pub async fn finish(mut self) -> io::Result<T> {
        if let Some(tx) = self.tx.take() {
            // A failed send means the thread already ended; its result below says why.
            let last = std::mem::take(&mut self.batch);
            if last.is_empty() || tx.send(last).await.is_ok() {
                let _ = tx.send(Vec::new()).await;
            }
        }
        match self.handle.await {
            Ok(Ok(Some(out))) => Ok(out),
            Ok(Ok(None)) => Err(io::Error::other("stage ended before its end marker")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(io::Error::other(format!("stage thread failed: {e}"))),
        }
    }
}

/// A hashing stage computing every digest of the bytes pushed through it.
pub struct HashSink(pub crate::checksum::MultiHasher);

impl Sink for HashSink {
    type Output = crate::checksum::Digests;
    fn consume(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.update(chunk);
        Ok(())
    }
    fn finish(self) -> io::Result<Self::Output> {
        Ok(self.0.finish())
    }
}

/// A stage that hashes each chunk and then writes it to its blob, on one thread: a chunk is
/// handed over once instead of twice (to a hashing thread, then to a writing thread), and it
/// is still in the core's cache when it is written.
pub struct HashWriteSink {
    pub hasher: crate::checksum::MultiHasher,
    pub blob: Box<dyn crate::store::BlockingBlobWrite>,
}

impl Sink for HashWriteSink {
    type Output = crate::checksum::Digests;
    fn consume(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.blob.write(chunk)
    }
    fn finish(self) -> io::Result<Self::Output> {
        self.blob.finish()?;
        Ok(self.hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what it is fed, to check order and completeness.
    struct Collect(Vec<u8>);

    impl Sink for Collect {
        type Output = Vec<u8>;
        fn consume(&mut self, chunk: &[u8]) -> io::Result<()> {
            self.0.extend_from_slice(chunk);
            Ok(())
        }
        fn finish(self) -> io::Result<Vec<u8>> {
            Ok(self.0)
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_chunk_arrives_in_order_including_a_last_partial_batch() {
        let mut stage = Stage::spawn(Collect(Vec::new()));
        let mut expected = Vec::new();
        // 2.5 batches of 100 KiB chunks with distinct contents, so a lost or reordered chunk shows.
        for i in 0..(BATCH_BYTES * 5 / 2 / (100 * 1024)) {
            let chunk = vec![i as u8; 100 * 1024];
            expected.extend_from_slice(&chunk);
            stage.push(Bytes::from(chunk)).await.expect("push");
        }
        assert_eq!(stage.finish().await.expect("finish"), expected);
    }

    /// Fails on its first chunk.
    struct Broken;

    impl Sink for Broken {
        type Output = ();
        fn consume(&mut self, _: &[u8]) -> io::Result<()> {
            Err(io::Error::other("disk on fire"))
        }
        fn finish(self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_sink_surfaces_its_error_from_push_or_finish() {
        let mut stage = Stage::spawn(Broken);
        let mut pushed = Ok(());
        for _ in 0..(STAGE_DEPTH + 2) * (BATCH_BYTES / (64 * 1024)) {
            pushed = stage.push(Bytes::from(vec![0u8; 64 * 1024])).await;
            if pushed.is_err() {
                break;
            }
        }
        let err = match pushed {
            Err(e) => e,
            Ok(()) => stage.finish().await.expect_err("the sink failed"),
        };
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn finishing_with_a_partial_batch_after_the_thread_failed_reports_the_failure() {
        let mut stage = Stage::spawn(Broken);
        stage.push(Bytes::from(vec![0u8; BATCH_BYTES])).await.expect("first batch is queued");
        stage.push(Bytes::from_static(b"tail")).await.expect("held in the batch");
        let err = stage.finish().await.expect_err("the sink failed");
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }
}
