//! Table blocks: rows arriving in batches become one Parquet file, stored as the part of the
//! block's number. Encoding runs on a blocking thread and its output streams into the blob as
//! it is produced, so memory stays bounded by a row group, not the block.

use std::io::{self, Write};
use std::pin::Pin;

use bytes::Bytes;
use ferry_table::{BlockWriter, Column, Rows};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use ferry_core::checksum::Wanted;
use ferry_core::{Engine, Error, PartInput, PartRecord, Result, Session};

use crate::Tables;

/// Batches of rows, in column order, as a front-end decodes them.
pub type RowBatches = Pin<Box<dyn Stream<Item = Result<Rows>> + Send>>;

/// Bytes handed to the blob per send.
const CHUNK: usize = 1 << 20;

/// A buffer for one chunk and the write that fills it past [`CHUNK`], so it is never grown by
/// copying.
fn chunk_buffer() -> Vec<u8> {
    Vec::with_capacity(CHUNK + (256 << 10))
}

/// `Write` into a channel of byte chunks (the Parquet writer's output, on its thread).
struct ChannelWrite {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWrite {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, chunk_buffer()));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::other("the block's blob writer went away"))
    }
}

impl Write for ChannelWrite {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Tables {
    /// Store block `block` of a table upload session from `rows`, replacing any earlier copy.
    /// Returns the part recorded and the number of rows. A row that does not fit its column,
    /// or an error in `rows`, stores nothing.
    pub async fn put_block(
        &self,
        session: &Session,
        block: u32,
        columns: &[Column],
        mut rows: RowBatches,
        max_size: u64,
    ) -> Result<(PartRecord, u64)> {
        // An object session is refused before any row is read.
        if session.target.is_object() {
            return Err(Error::NoSuchUpload);
        }
        // Refused before a row is decoded; the store checks again when it records the block.
        Engine::accepting_parts(session)?;
        let (row_tx, mut row_rx) = mpsc::channel::<Rows>(4);
        let (byte_tx, byte_rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let columns = columns.to_vec();
        let encoder_tx = byte_tx.clone();
        let encoder = tokio::task::spawn_blocking(move || -> std::result::Result<u64, String> {
            let out = ChannelWrite { tx: encoder_tx.clone(), buf: chunk_buffer() };
            let run = || -> std::result::Result<u64, String> {
                let mut writer = BlockWriter::new(out, &columns).map_err(|e| e.to_string())?;
                while let Some(batch) = row_rx.blocking_recv() {
                    writer.write_rows(batch).map_err(|e| e.to_string())?;
                }
                let count = writer.rows();
                let mut out = writer.finish().map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
                Ok(count)
            };
            let result = run();
            if let Err(e) = &result {
                // The body fails, so the blob is discarded and nothing is recorded.
                let _ = encoder_tx.blocking_send(Err(io::Error::new(io::ErrorKind::InvalidData, e.clone())));
            }
            result
        });
        // Rows flow in while the Parquet bytes flow out; an error in the rows fails the body.
        let feeder = async move {
            while let Some(batch) = rows.next().await {
                match batch {
                    Ok(batch) => {
                        if row_tx.send(batch).await.is_err() {
                            break; // the encoder stopped; its error is in the body
                        }
                    }
                    Err(e) => {
                        // Reported as InvalidArgument below: keep its message, not its prefix.
                        let message = match e {
                            Error::InvalidArgument(message) => message,
                            other => other.to_string(),
                        };
                        let _ = byte_tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, message))).await;
                        break;
                    }
                }
            }
        };
        let body =
            Box::pin(futures_util::stream::unfold(
                byte_rx,
                |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
            ));
        let input = PartInput {
            body,
            expected_size: None,
            max_size,
            expected: Vec::new(),
            trailer: None,
            wanted: Wanted::default(),
        };
        let ((), stored) = tokio::join!(feeder, self.engine.put_table_part(session, block, input));
        let count = encoder.await.map_err(|e| Error::Critical(format!("block encoder failed: {e}")))?;
        // A row that did not fit, or bad rows, reached put_part as the body's error: its message
        // is the one to report.
        match stored {
            Ok(part) => match count {
                Ok(count) => Ok((part, count)),
                Err(e) => Err(Error::Critical(format!("block {block} was stored but its encoder failed: {e}"))),
            },
            Err(Error::IncompleteBody(message)) => Err(Error::InvalidArgument(message)),
            Err(e) => Err(e),
        }
    }
}
