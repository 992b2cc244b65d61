//! A Tunnel client: tables and their upload and download sessions, as pyodps' `TableTunnel`
//! offers them, over the same wire format (so it works against ferry and any server speaking
//! the dialect).
//!
//! - [`UploadSession::open_record_writer`]: one block, streamed to the server as it is written.
//! - [`UploadSession::open_buffered_writer`]: block ids handled for you; blocks are buffered,
//!   sent several at a time, and a failed block is sent again automatically.
//! - [`DownloadSession::open_record_reader`]: a row range, decoded as it arrives.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_table::{TableSchema, Value};
use ferry_tunnel_wire::auth;
use ferry_tunnel_wire::codec::{RecordDecoder, RecordEncoder};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value as Json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{ClientError, Result};
use crate::xml::Node;

type RequestBody = BoxBody<Bytes, std::io::Error>;

/// Query values keep these characters as they are.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// Encoded bytes handed to the connection at a time by a record writer.
const WRITE_CHUNK: usize = 256 * 1024;

/// A Tunnel endpoint (`http://host:port/odps`), a project and a key pair. Cheap to clone.
#[derive(Clone)]
pub struct TunnelClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// `scheme://authority`
    origin: String,
    /// The endpoint's path (`/odps`), which signatures are relative to.
    prefix: String,
    project: String,
    access_id: String,
    secret: String,
    http: Client<HttpsConnector<HttpConnector>, RequestBody>,
}

impl std::fmt::Debug for TunnelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelClient")
            .field("endpoint", &format!("{}{}", self.inner.origin, self.inner.prefix))
            .field("project", &self.inner.project)
            .field("access_id", &self.inner.access_id)
            .finish_non_exhaustive()
    }
}

fn full(bytes: impl Into<Bytes>) -> RequestBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

fn service_error(status: StatusCode, body: &[u8]) -> ClientError {
    match Node::parse(body) {
        Ok(error) => ClientError::Service {
            status: status.as_u16(),
            code: error.text_of("Code").unwrap_or("").to_string(),
            message: error.text_of("Message").unwrap_or("").to_string(),
        },
        Err(_) => ClientError::Service {
            status: status.as_u16(),
            code: status.canonical_reason().unwrap_or("Error").replace(' ', ""),
            message: String::from_utf8_lossy(body).into_owned(),
        },
    }
}

fn json_of(body: &[u8]) -> Result<Json> {
    serde_json::from_slice(body).map_err(|e| ClientError::Protocol(format!("not JSON: {e}")))
}

fn schema_of(doc: &Json) -> Result<TableSchema> {
    TableSchema::from_json(doc.get("Schema").unwrap_or(doc)).map_err(ClientError::Protocol)
}

impl TunnelClient {
    /// `endpoint` is the ODPS endpoint, e.g. `http://127.0.0.1:9720/odps`.
    pub fn new(endpoint: &str, project: &str, access_id: &str, secret: &str) -> Result<Self> {
        let uri: http::Uri =
            endpoint.parse().map_err(|e| ClientError::Invalid(format!("invalid endpoint {endpoint:?}: {e}")))?;
        let (Some(scheme @ ("http" | "https")), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(ClientError::Invalid(format!("the endpoint {endpoint:?} must be http(s)://host[:port]/path")));
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(crate::https_connector()?);
        Ok(TunnelClient {
            inner: Arc::new(Inner {
                origin: format!("{scheme}://{authority}"),
                prefix: uri.path().trim_end_matches('/').to_string(),
                project: project.to_string(),
                access_id: access_id.to_string(),
                secret: secret.to_string(),
                http,
            }),
        })
    }

    pub fn project(&self) -> &str {
        &self.inner.project
    }

    fn table_path(&self, table: &str) -> String {
        format!("/projects/{}/tables/{}", self.inner.project, table)
    }

    /// Send one signed request; the response body is left to the caller.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        content_type: Option<&str>,
        body: RequestBody,
    ) -> Result<(StatusCode, HeaderMap, Incoming)> {
        let mut target = path.to_string();
        let mut sep = '?';
        for (k, v) in query {
            target.push(sep);
            target.push_str(k);
            if !v.is_empty() {
                target.push('=');
                target.push_str(&utf8_percent_encode(v, QUERY).to_string());
            }
            sep = '&';
        }
        let mut headers = HeaderMap::new();
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        headers
            .insert(http::header::DATE, HeaderValue::from_str(&date).map_err(|e| ClientError::Invalid(e.to_string()))?);
        headers.insert("x-odps-tunnel-version", HeaderValue::from_static("6"));
        if let Some(ct) = content_type {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_str(ct).map_err(|e| ClientError::Invalid(e.to_string()))?,
            );
        }
        let canonical = auth::canonical_string(method.as_str(), &headers, &target);
        let authorization = format!("ODPS {}:{}", self.inner.access_id, auth::sign(&self.inner.secret, &canonical));
        let mut request =
            Request::builder().method(method).uri(format!("{}{}{target}", self.inner.origin, self.inner.prefix));
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let request = request
            .header(http::header::AUTHORIZATION, authorization)
            .body(body)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let response = self.inner.http.request(request).await.map_err(|e| ClientError::Transport(e.to_string()))?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            let bytes = body.collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
            return Err(service_error(parts.status, &bytes));
        }
        Ok((parts.status, parts.headers, body))
    }

    /// One request, whole response body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(HeaderMap, Bytes)> {
        let (_, headers, incoming) = self.send(method, path, query, None, full(body)).await?;
        let bytes = incoming.collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
        Ok((headers, bytes))
    }

    /// Run one SQL statement through the instance API (ferry runs the DDL for tables and
    /// partitions) and wait for it to finish.
    pub async fn run_sql(&self, sql: &str) -> Result<()> {
        let escaped = sql.replace("]]>", "]]]]><![CDATA[>");
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance><Job><Priority>9</Priority><Tasks><SQL>\
             <Name>AnonymousSQLTask</Name><Query><![CDATA[{escaped}]]></Query></SQL></Tasks></Job></Instance>"
        );
        let path = format!("/projects/{}/instances", self.inner.project);
        let (headers, _) = self.call(Method::POST, &path, &[], Bytes::from(xml)).await?;
        let location = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let id = location.rsplit('/').next().filter(|id| !id.is_empty());
        let id = id.ok_or_else(|| ClientError::Protocol("the instance has no Location".into()))?.to_string();
        for attempt in 0..600u32 {
            let (_, body) = self.call(Method::GET, &format!("{path}/{id}"), &[], Bytes::new()).await?;
            let status = Node::parse(&body)?.text_of("Status").unwrap_or("").to_string();
            if status == "Terminated" {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10) + 1))).await;
        }
        Err(ClientError::Protocol(format!("instance {id} did not finish")))
    }

    /// The table's schema.
    pub async fn table_schema(&self, table: &str) -> Result<TableSchema> {
        let (_, body) = self.call(Method::GET, &self.table_path(table), &[], Bytes::new()).await?;
        let xml = Node::parse(&body)?;
        let doc = xml.required("Schema")?;
        let doc: Json = serde_json::from_str(doc).map_err(|e| ClientError::Protocol(format!("schema: {e}")))?;
        TableSchema::from_json(&doc).map_err(ClientError::Protocol)
    }

    /// Open an upload session on a partition (`""` for a table without partitions).
    pub async fn create_upload_session(
        &self,
        table: &str,
        partition: &str,
        create_partition: bool,
    ) -> Result<UploadSession> {
        let mut query = vec![("uploads", "1")];
        if !partition.is_empty() {
            query.push(("partition", partition));
        }
        if create_partition {
            query.push(("create_partition", "true"));
        }
        let (_, body) = self.call(Method::POST, &self.table_path(table), &query, Bytes::new()).await?;
        UploadSession::from_json(self.clone(), table, partition, &json_of(&body)?)
    }

    /// Reattach to an upload session by id (after a crash, from another process, ...).
    pub async fn attach_upload_session(&self, table: &str, partition: &str, id: &str) -> Result<UploadSession> {
        let session = UploadSession {
            client: self.clone(),
            table: table.to_string(),
            partition: partition.to_string(),
            id: id.to_string(),
            schema: TableSchema::default(),
        };
        let doc = session.reload().await?;
        UploadSession::from_json(self.clone(), table, partition, &doc)
    }

    /// Snapshot a partition for reading.
    pub async fn create_download_session(&self, table: &str, partition: &str) -> Result<DownloadSession> {
        let mut query = vec![("downloads", "")];
        if !partition.is_empty() {
            query.push(("partition", partition));
        }
        let (_, body) = self.call(Method::POST, &self.table_path(table), &query, Bytes::new()).await?;
        let doc = json_of(&body)?;
        Ok(DownloadSession {
            client: self.clone(),
            table: table.to_string(),
            partition: partition.to_string(),
            id: doc["DownloadID"].as_str().unwrap_or("").to_string(),
            count: doc["RecordCount"].as_u64().unwrap_or(0),
            schema: schema_of(&doc)?,
        })
    }
}

/// An upload session on one partition.
#[derive(Debug, Clone)]
pub struct UploadSession {
    client: TunnelClient,
    table: String,
    partition: String,
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
    fn from_json(client: TunnelClient, table: &str, partition: &str, doc: &Json) -> Result<Self> {
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

    async fn reload(&self) -> Result<Json> {
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

/// A snapshot of a partition, read by row ranges.
#[derive(Debug)]
pub struct DownloadSession {
    client: TunnelClient,
    table: String,
    partition: String,
    pub id: String,
    /// Rows in the snapshot.
    pub count: u64,
    pub schema: TableSchema,
}

impl DownloadSession {
    /// Rows `start..start + count`, of `columns` (all when `None`), decoded as they arrive.
    pub async fn open_record_reader(&self, start: u64, count: u64, columns: Option<&[&str]>) -> Result<RecordReader> {
        let range = format!("({start},{count})");
        let picked = columns.map(|c| c.join(","));
        let mut query = vec![("data", ""), ("downloadid", self.id.as_str()), ("rowrange", range.as_str())];
        if !self.partition.is_empty() {
            query.push(("partition", self.partition.as_str()));
        }
        if let Some(picked) = &picked {
            query.push(("columns", picked.as_str()));
        }
        let types = match columns {
            None => self.schema.column_types(),
            Some(names) => names
                .iter()
                .map(|n| {
                    self.schema
                        .columns
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(n))
                        .map(|c| c.column_type)
                        .ok_or_else(|| ClientError::Invalid(format!("the table has no column {n:?}")))
                })
                .collect::<Result<_>>()?,
        };
        let path = self.client.table_path(&self.table);
        let (_, _, body) = self.client.send(Method::GET, &path, &query, None, full(Bytes::new())).await?;
        Ok(RecordReader { body: Some(body.into_data_stream().boxed()), decoder: Some(RecordDecoder::new(types)) })
    }
}

/// Rows of a download, decoded as they arrive; checksums and the count are checked.
pub struct RecordReader {
    body: Option<futures_util::stream::BoxStream<'static, std::result::Result<Bytes, hyper::Error>>>,
    decoder: Option<RecordDecoder>,
}

impl RecordReader {
    /// The next rows, `None` at the end of the range.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Vec<Value>>>> {
        loop {
            let (Some(body), Some(decoder)) = (self.body.as_mut(), self.decoder.as_mut()) else { return Ok(None) };
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| ClientError::Transport(e.to_string()))?;
                    let mut rows = Vec::new();
                    decoder.feed(&chunk, &mut rows).map_err(|e| ClientError::Protocol(e.to_string()))?;
                    if !rows.is_empty() {
                        return Ok(Some(rows));
                    }
                }
                None => {
                    self.body = None;
                    if let Some(decoder) = self.decoder.take() {
                        decoder.finish().map_err(|e| ClientError::Protocol(e.to_string()))?;
                    }
                    return Ok(None);
                }
            }
        }
    }
}
