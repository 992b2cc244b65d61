//! A blocking worker fed with chunks through a bounded channel.
//!
//! Hashing and file writes are CPU- and syscall-bound; doing them on the async workers would
//! stall every other connection. Each in-flight part gets its own hashing thread (and the local
//! blob store its own writer thread), so network reads, hashing and disk writes overlap. The
//! bounded channel is the back-pressure that keeps memory per part small.

use std::io;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight per stage; with hyper's read buffer capped this bounds memory per part.
pub const STAGE_DEPTH: usize = 4;

/// What a stage does with each chunk and at the end.
pub trait Sink: Send + 'static {
    type Output: Send + 'static;
    fn consume(&mut self, chunk: &[u8]) -> io::Result<()>;
    fn finish(self) -> io::Result<Self::Output>;
}

/// A running stage. Dropping it without [`Stage::finish`] stops the thread after the queued
/// chunks; the sink's `finish` is then not called.
pub struct Stage<T> {
    tx: Option<mpsc::Sender<Bytes>>,
    handle: JoinHandle<io::Result<Option<T>>>,
}

impl<T: Send + 'static> Stage<T> {
    pub fn spawn<S: Sink<Output = T>>(mut sink: S) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(STAGE_DEPTH);
        let handle = tokio::task::spawn_blocking(move || {
            let mut finished_cleanly = false;
            while let Some(chunk) = rx.blocking_recv() {
                if chunk.is_empty() {
                    // An empty chunk is the end marker sent by `finish`.
                    finished_cleanly = true;
                    break;
                }
                sink.consume(&chunk)?;
            }
            if finished_cleanly { sink.finish().map(Some) } else { Ok(None) }
        });
        Stage { tx: Some(tx), handle }
    }

    /// Queue one chunk; waits while the stage is `STAGE_DEPTH` chunks behind.
    pub async fn push(&mut self, chunk: Bytes) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else { return Err(io::Error::other("stage already finished")) };
        if tx.send(chunk).await.is_err() {
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
            // If the send fails the thread already ended; its result below says why.
            let _ = tx.send(Bytes::new()).await;
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
