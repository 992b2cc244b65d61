//! Download sessions and their readers: a row range, decoded as it arrives.

use bytes::Bytes;
use ferry_table::{TableSchema, Value};
use ferry_tunnel_wire::codec::RecordDecoder;
use futures_util::StreamExt;
use http::Method;
use http_body_util::BodyExt;

use super::{TunnelClient, full};
use crate::error::{ClientError, Result};

/// A snapshot of a partition, read by row ranges.
#[derive(Debug)]
pub struct DownloadSession {
    pub(super) client: TunnelClient,
    pub(super) table: String,
    pub(super) partition: String,
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
