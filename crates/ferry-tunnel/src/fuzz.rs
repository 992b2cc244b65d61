//! Entry points for the Tunnel fuzz targets in `fuzz/` and for the tests that replay their
//! corpora: arbitrary bytes in, no panic out. Not part of ferry's API.

use std::time::Duration;

use bytes::Bytes;
use ferry_core::store::ByteStream;
use ferry_http::Query;
use ferry_table::{Column, ColumnType};
use futures_util::StreamExt;

use crate::records::{Encoding, row_batches};

/// The SQL of the instance API (CREATE TABLE, DROP TABLE, ALTER TABLE … ADD PARTITION).
pub fn ddl(data: &[u8]) {
    if let Ok(sql) = std::str::from_utf8(data) {
        let _ = crate::ddl::parse(sql);
    }
}

/// Tunnel and control-plane request heads (see `ferry_http::fuzz::request_parts` for the text
/// form): `Authorization: ODPS id:signature`, the canonical string over headers and the
/// percent-decoded target, the `Date` check, routing and the `partition` parameter.
pub fn auth(data: &[u8]) {
    let Some(parts) = ferry_http::fuzz::request_parts(data) else { return };
    let query = Query::parse(parts.uri.query());
    let path = parts.uri.path();
    let prefix = path.find("/projects/").map_or("", |at| &path[..at]);
    let _ = crate::authenticate(&ferry_http::fuzz::credentials(), &parts, prefix);
    let _ = crate::check_date(&parts);
    if let Some(rest) = path.strip_prefix(prefix).and_then(|p| p.strip_prefix("/projects/")) {
        let segments: Vec<&str> = rest.split('/').collect();
        if let Some((_, rest)) = segments.split_first() {
            let _ = crate::router::route(&parts.method, rest, &query);
        }
    }
    let _ = ferry_table::PartitionSpec::parse(query.get("partition").unwrap_or(""));
}

/// The column lists a record stream is decoded against, chosen by the fuzz input.
fn columns(choice: u8) -> Vec<ColumnType> {
    use ColumnType::*;
    match choice % 4 {
        0 => vec![Bigint, String],
        1 => vec![Double, Float, Boolean, Datetime, Date, Timestamp],
        2 => vec![Int, Smallint, Tinyint, Binary, Varchar(5), Char(3), Decimal { precision: 10, scale: 2 }],
        // The columns of crates/ferry-tunnel-wire/tests/golden/pyodps-all-types.bin.
        _ => vec![
            Bigint,
            Int,
            Double,
            Float,
            Boolean,
            String,
            Binary,
            Datetime,
            Date,
            Decimal { precision: 10, scale: 2 },
            Timestamp,
        ],
    }
}

/// A block upload's body: the record stream decoder behind optional deflate. The first byte
/// chooses the columns (bits 0–1), deflate (bit 2) and the size of the network reads (bits 3–7,
/// 0: one read).
pub fn records(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else { return };
    let encoding = if mode & 0x04 != 0 { Encoding::Deflate } else { Encoding::Identity };
    let read = match usize::from(mode >> 3) {
        0 => body.len().max(1),
        n => n,
    };
    let reads: Vec<std::io::Result<Bytes>> = body.chunks(read).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let stream: ByteStream = Box::pin(futures_util::stream::iter(reads));
    let columns: Vec<Column> =
        columns(mode & 0x03).into_iter().enumerate().map(|(i, t)| Column::new(&format!("c{i}"), t)).collect();
    let mut batches = row_batches(stream, encoding, &columns, Duration::from_secs(60));
    RUNTIME.with(|rt| {
        rt.block_on(async {
            while let Some(batch) = batches.next().await {
                if batch.is_err() {
                    break;
                }
            }
        })
    });
}

thread_local! {
    // The decoder's idle cut-off is a tokio timer, so it runs on a runtime; one per thread,
    // not one per input.
    #[allow(clippy::expect_used)]
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread tokio runtime");
}
