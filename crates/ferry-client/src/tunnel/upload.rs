//! Upload sessions and their writers: one block streamed as it is written, or blocks buffered
//! and sent several at a time with retries.

use std::time::Duration;

use bytes::Bytes;
use ferry_table::{TableSchema, Value};
use ferry_tunnel_wire::codec::RecordEncoder;
use http::Method;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::Value as Json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{RequestBody, TunnelClient, WRITE_CHUNK, full, json_of, schema_of};
use crate::error::{ClientError, Result};

/// An upload session on one partition.
#[derive(Debug, Clone)]
pub struct UploadSession {
    pub(super) client: TunnelClient,
    pub(super) table: String,
    pub(super) partition: String,
    pub id: String,
    /// The table's columns (partition keys apart).
    pub schema: TableSchema,
}

/// What the server says of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    /// `NORMAL`, `CLOSING`, `CLOSED`, `EXPIRED`, `CANCELED`, `CRITICAL` or `UNKNOWN`.
    pub status: String,
    /// Every block the server holds, ascending.
    pub blocks: Vec<u32>,
}

impl UploadSession {
    pub(super) fn from_json(client: TunnelClient, table: &str, partition: &str, doc: &Json) -> Result<Self> {
        Ok(UploadSession {
            client,
            table: table.to_string(),
            partition: partition.to_string(),
            id: doc["UploadID"].as_str().ok_or_else(|| ClientError::Protocol("no UploadID".into()))?.to_string(),
            schema: schema_of(doc)?,
        })
    }

    fn query<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut q = vec![("uploadid", self.id.as_str())];
        if !self.partition.is_empty() {
            q.push(("partition", self.partition.as_str()));
        }
        q.extend_from_slice(extra);
        q
    }

    pub(super) async fn reload(&self) -> Result<Json> {
        let path = self.client.table_path(&self.table);
        let (_, body) = self.client.call(Method::GET, &path, &self.query(&[("reload", "True")]), Bytes::new()).await?;
        json_of(&body)
    }

    pub async fn status(&self) -> Result<UploadStatus> {
        let doc = self.reload().await?;
        let mut blocks: Vec<u32> = doc["UploadedBlockList"]
            .as_array()
            .map(|l| l.iter().filter_map(|b| b["BlockID"].as_u64()).filter_map(|b| u32::try_from(b).ok()).collect())
            .unwrap_or_default();
        blocks.sort_unstable();
        Ok(UploadStatus { status: doc["Status"].as_str().unwrap_or("UNKNOWN").to_ascii_uppercase(), blocks })
    }

    /// The blocks the server holds.
    pub async fn block_list(&self) -> Result<Vec<u32>> {
        Ok(self.status().await?.blocks)
    }

    /// Publish exactly `blocks` (which must be what the server holds) into the partition.
    ///
    /// Exactly once: when the reply is lost (network cut, server error) the same commit is sent
    /// again, and the server answers a repeated commit of a committed session with the same list
    /// as a success without publishing anything twice (a different list is refused).
    pub async fn commit(&self, blocks: &[u32]) -> Result<()> {
        let path = self.client.table_path(&self.table);
        let body = Bytes::from(serde_json::json!({ "BlockList": blocks }).to_string());
        let mut attempt = 0;
        loop {
            match self.client.call(Method::POST, &path, &self.query(&[]), body.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < 4 => attempt += 1,
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }

    /// Store one complete encoded block (replacing an earlier copy of that id).
    pub async fn put_block(&self, block: u32, encoded: Bytes) -> Result<()> {
        let path = self.client.table_path(&self.table);
        let id = block.to_string();
        let query = self.query(&[("blockid", id.as_str())]);
        let (_, _, body) =
            self.client.send(Method::PUT, &path, &query, Some("application/octet-stream"), full(encoded)).await?;
        body.collect().await.map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(())
    }

    /// Encode whole rows as one block body (for [`Self::put_block`]).
    pub fn encode_block(&self, rows: &[Vec<Value>]) -> Result<Bytes> {
        let mut encoder = RecordEncoder::new(self.schema.column_types());
        for row in rows {
            encoder.write(row).map_err(|e| ClientError::Invalid(e.to_string()))?;
        }
        Ok(Bytes::from(encoder.finish()))
    }

    /// [`Self::put_block`], sent again after a pause (up to `retries` times) when it fails in a
    /// way worth retrying.
    pub async fn put_block_retrying(&self, block: u32, data: Bytes, retries: u32) -> Result<()> {
        put_with_retries(self.clone(), block, data, retries).await.map(|_| ())
    }

    /// Write block `block`: records stream to the server as they are written; `close` finishes
    /// the block and waits for the server to store it.
    pub fn open_record_writer(&self, block: u32) -> RecordWriter {
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
        let session = self.clone();
        let request =
            tokio::spawn(async move {
                let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|c| (c.map(Frame::data), rx))
                });
                let body: RequestBody = BodyExt::boxed(StreamBody::new(stream));
                let path = session.client.table_path(&session.table);
                let id = block.to_string();
                let query = session.query(&[("blockid", id.as_str())]);
                let (_, _, response) =
                    session.client.send(Method::PUT, &path, &query, Some("application/octet-stream"), body).await?;
                response.collect().await.map_err(|e| ClientError::Transport(e.to_string()))?;
                Ok(())
            });
        RecordWriter { encoder: RecordEncoder::new(self.schema.column_types()), tx: Some(tx), request }
    }

    /// A writer that hides block ids: rows are buffered into blocks of about `options.block_size`
    /// bytes, up to `options.parallel` blocks are sent at once, and a block that fails is sent
    /// again (`options.retries` times). `close` returns the blocks written, for [`Self::commit`].
    pub fn open_buffered_writer(&self, options: BufferedOptions) -> BufferedWriter {
        BufferedWriter {
            session: self.clone(),
            encoder: RecordEncoder::new(self.schema.column_types()),
            next_block: options.first_block,
            written: Vec::new(),
            in_flight: tokio::task::JoinSet::new(),
            options,
        }
    }
}

/// Streams one block; see [`UploadSession::open_record_writer`].
pub struct RecordWriter {
    encoder: RecordEncoder,
    tx: Option<mpsc::Sender<std::io::Result<Bytes>>>,
    request: JoinHandle<Result<()>>,
}

impl RecordWriter {
    /// Append one record (values in column order, `Value::Null` for NULL).
    pub async fn write(&mut self, row: &[Value]) -> Result<()> {
        self.encoder.write(row).map_err(|e| ClientError::Invalid(e.to_string()))?;
        if self.encoder.pending() >= WRITE_CHUNK {
            let chunk = Bytes::from(self.encoder.take());
            self.send(chunk).await?;
        }
        Ok(())
    }

    async fn send(&mut self, chunk: Bytes) -> Result<()> {
        let tx = self.tx.as_ref().ok_or(ClientError::Cancelled)?;
        if tx.send(Ok(chunk)).await.is_err() {
            // The request ended early: its error says why.
            self.tx = None;
            return Err(match (&mut self.request).await {
                Ok(Err(e)) => e,
                _ => ClientError::Transport("the block upload ended early".into()),
            });
        }
        Ok(())
    }

    /// Finish the block (trailer) and wait until the server has stored it.
    pub async fn close(mut self) -> Result<()> {
        let encoder = std::mem::replace(&mut self.encoder, RecordEncoder::new(Vec::new()));
        let tail = Bytes::from(encoder.finish());
        self.send(tail).await?;
        self.tx = None;
        (&mut self.request).await.map_err(|e| ClientError::Transport(format!("block upload task: {e}")))?
    }
}

/// Settings of a [`BufferedWriter`].
#[derive(Debug, Clone)]
pub struct BufferedOptions {
    /// Encoded bytes per block.
    pub block_size: usize,
    /// Blocks sent at once.
    pub parallel: usize,
    /// Extra attempts for a block that fails with a retryable error.
    pub retries: u32,
    /// The first block id used (later ones count up).
    pub first_block: u32,
}

impl Default for BufferedOptions {
    fn default() -> Self {
        BufferedOptions { block_size: 32 << 20, parallel: 4, retries: 4, first_block: 1 }
    }
}

/// Buffers rows into blocks and sends them with retries; see
/// [`UploadSession::open_buffered_writer`].
pub struct BufferedWriter {
    session: UploadSession,
    encoder: RecordEncoder,
    next_block: u32,
    written: Vec<u32>,
    in_flight: tokio::task::JoinSet<Result<u32>>,
    options: BufferedOptions,
}

/// Send a block, again after a pause when the failure is worth retrying.
async fn put_with_retries(session: UploadSession, block: u32, data: Bytes, retries: u32) -> Result<u32> {
    let mut attempt = 0;
    loop {
        match session.put_block(block, data.clone()).await {
            Ok(()) => return Ok(block),
            Err(e) if e.is_retryable() && attempt < retries => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

impl BufferedWriter {
    pub async fn write(&mut self, row: &[Value]) -> Result<()> {
        self.encoder.write(row).map_err(|e| ClientError::Invalid(e.to_string()))?;
        if self.encoder.pending() >= self.options.block_size {
            self.flush_block().await?;
        }
        Ok(())
    }

    async fn flush_block(&mut self) -> Result<()> {
        let types = self.session.schema.column_types();
        let encoder = std::mem::replace(&mut self.encoder, RecordEncoder::new(types));
        if encoder.count() == 0 {
            return Ok(());
        }
        let data = Bytes::from(encoder.finish());
        if self.next_block >= 20_000 {
            return Err(ClientError::Invalid("a session holds at most 20000 blocks; use larger blocks".into()));
        }
        let block = self.next_block;
        self.next_block += 1;
        while self.in_flight.len() >= self.options.parallel.max(1) {
            self.join_one().await?;
        }
        self.in_flight.spawn(put_with_retries(self.session.clone(), block, data, self.options.retries));
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        if let Some(done) = self.in_flight.join_next().await {
            let block = done.map_err(|e| ClientError::Transport(format!("block upload task: {e}")))??;
            self.written.push(block);
        }
        Ok(())
    }

    /// Send what is buffered and wait for every block; returns the block ids written, sorted.
    pub async fn close(mut self) -> Result<Vec<u32>> {
        self.flush_block().await?;
        while !self.in_flight.is_empty() {
            self.join_one().await?;
        }
        self.written.sort_unstable();
        Ok(self.written)
    }
}
