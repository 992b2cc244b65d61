//! Download sessions: a snapshot of a partition's committed files, read by row ranges.
//!
//! A session is its id — `<snapshot time ms>-<row count>-<random>` — so any node can serve its
//! reads without shared state: the snapshot is the files published at or before that time, and
//! if their rows no longer add up to the count (the table was dropped, re-created or a commit
//! raced the snapshot) the read is refused with `TableModified` rather than answering with
//! different rows.

use bytes::Bytes;
use ferry_core::{Error, Millis, TableError, now_millis, random_id};
use ferry_http::Response;
use ferry_table::{Column, ColumnType};
use ferry_tables::{TableFile, TableInfo, TableName, TableRows, Tables};
use http::StatusCode;
use serde_json::json;

use crate::codec::RecordEncoder;
use crate::control::schema_json;
use crate::error::{OdpsError, OdpsResult};
use crate::{Ctx, json_response};

struct DownloadId {
    until: Millis,
    rows: u64,
}

impl DownloadId {
    fn parse(id: &str) -> OdpsResult<DownloadId> {
        let mut parts = id.splitn(3, '-');
        let (Some(until), Some(rows), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(OdpsError::new(
                StatusCode::NOT_FOUND,
                "NoSuchDownload",
                format!("download {id:?} does not exist"),
            ));
        };
        match (until.parse(), rows.parse()) {
            (Ok(until), Ok(rows)) => Ok(DownloadId { until, rows }),
            _ => {
                Err(OdpsError::new(StatusCode::NOT_FOUND, "NoSuchDownload", format!("download {id:?} does not exist")))
            }
        }
    }
}

fn session_json(id: &str, rows: u64, info: &TableInfo) -> serde_json::Value {
    json!({
        "DownloadID": id,
        "Status": "NORMAL",
        "RecordCount": rows,
        "Schema": schema_json(info),
        "QuotaName": "",
        "SupportReadByRawSize": false,
    })
}

/// `POST ?downloads`: snapshot the partition now.
pub async fn create(ctx: &Ctx<'_>, table: &TableName) -> OdpsResult<Response> {
    let info = ctx.tables().table(table).await?;
    let until = now_millis();
    let files = ctx.tables().table_files(&info, &ctx.partition()?, until).await?;
    let rows: u64 = files.iter().map(|f| f.rows).sum();
    let id = format!("{until}-{rows}-{}", random_id());
    Ok(json_response(StatusCode::OK, &session_json(&id, rows, &info)))
}

/// `GET ?downloadid=`: the session again.
pub async fn status(ctx: &Ctx<'_>, table: &TableName) -> OdpsResult<Response> {
    let id = ctx.query.get("downloadid").unwrap_or("");
    let snapshot = DownloadId::parse(id)?;
    let info = ctx.tables().table(table).await?;
    Ok(json_response(StatusCode::OK, &session_json(id, snapshot.rows, &info)))
}

/// `(start,count)` as the client writes a row range.
fn row_range(text: &str) -> OdpsResult<(u64, u64)> {
    let bad = || OdpsError::invalid_argument(format!("rowrange {text:?} is not (start,count)"));
    let inner = text.trim().strip_prefix('(').and_then(|t| t.strip_suffix(')')).ok_or_else(bad)?;
    let (start, count) = inner.split_once(',').ok_or_else(bad)?;
    Ok((start.trim().parse().map_err(|_| bad())?, count.trim().parse().map_err(|_| bad())?))
}

/// The `columns=a,b` asked for, in that order, or all of the table's.
fn projection(columns: &[Column], asked: Option<&str>) -> OdpsResult<Vec<Column>> {
    let Some(asked) = asked.filter(|a| !a.trim().is_empty()) else { return Ok(columns.to_vec()) };
    asked
        .split(',')
        .map(|name| {
            let name = name.trim();
            columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
                .cloned()
                .ok_or_else(|| OdpsError::invalid_argument(format!("the table has no column {name:?}")))
        })
        .collect()
}

/// `GET ?data&downloadid=&rowrange=(start,count)[&columns=a,b]`: the rows as a record stream,
/// produced one data file at a time.
pub async fn read(ctx: &Ctx<'_>, table: &TableName) -> OdpsResult<Response> {
    let snapshot = DownloadId::parse(ctx.query.get("downloadid").unwrap_or(""))?;
    let (start, count) = row_range(ctx.query.get("rowrange").unwrap_or(""))?;
    let end = start.checked_add(count).filter(|e| *e <= snapshot.rows).ok_or_else(|| {
        OdpsError::invalid_argument(format!(
            "rowrange ({start},{count}) is past the {} rows of the download session",
            snapshot.rows
        ))
    })?;
    let info = ctx.tables().table(table).await?;
    let picked = projection(&info.schema.columns, ctx.query.get("columns"))?;
    let files = ctx.tables().table_files(&info, &ctx.partition()?, snapshot.until).await?;
    if files.iter().map(|f| f.rows).sum::<u64>() != snapshot.rows {
        return Err(Error::Table(TableError::Modified(table.to_string())).into());
    }
    // Only the files the range touches, each with the slice of its rows wanted.
    let mut first_row = 0u64;
    let mut wanted: Vec<(TableFile, usize, usize)> = Vec::new();
    for file in files {
        let rows = file.rows;
        let (lo, hi) = (first_row.max(start), (first_row + rows).min(end));
        if lo < hi {
            wanted.push((file, (lo - first_row) as usize, (hi - first_row) as usize));
        }
        first_row += rows;
    }
    let types: Vec<ColumnType> = picked.iter().map(|c| c.column_type).collect();
    let body = encode(ctx.tables().clone(), picked, types, wanted);
    let mut r = Response::new(ferry_http::stream(body));
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/octet-stream"));
    Ok(r)
}

struct Encoding {
    tables: Tables,
    columns: Vec<Column>,
    files: std::vec::IntoIter<(TableFile, usize, usize)>,
    /// The file being read.
    current: Option<TableRows>,
    encoder: Option<RecordEncoder>,
}

/// The record stream of `files` (each with the slice of its rows wanted), a batch of rows per
/// chunk: rows are read from each file as they are sent, never a whole file at once.
fn encode(
    tables: Tables,
    columns: Vec<Column>,
    types: Vec<ColumnType>,
    files: Vec<(TableFile, usize, usize)>,
) -> ferry_core::store::ByteStream {
    let state =
        Encoding { tables, columns, files: files.into_iter(), current: None, encoder: Some(RecordEncoder::new(types)) };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            st.encoder.as_ref()?;
            let batch = match st.current.as_mut() {
                Some(rows) => rows.next().await,
                None => None,
            };
            let rows = match batch {
                Some(Ok(rows)) => rows,
                Some(Err(e)) => {
                    st.encoder = None;
                    return Some((Err(std::io::Error::other(e.to_string())), st));
                }
                None => {
                    // This file is done (or none was open): the next one, or the trailer.
                    match st.files.next() {
                        Some((file, lo, hi)) => {
                            st.current = Some(st.tables.table_file_rows(&file, &st.columns, lo..hi))
                        }
                        None => {
                            let tail = st.encoder.take()?.finish();
                            return Some((Ok(Bytes::from(tail)), st));
                        }
                    }
                    continue;
                }
            };
            let encoder = st.encoder.as_mut()?;
            for row in &rows {
                if let Err(e) = encoder.write(row) {
                    st.encoder = None;
                    return Some((Err(std::io::Error::other(e.to_string())), st));
                }
            }
            return Some((Ok(Bytes::from(encoder.take())), st));
        }
    }))
}
