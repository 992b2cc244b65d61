//! Reading a partition: its committed files with their row counts (read once from each file's
//! footer, then cached), and the rows of a file, decoded by byte ranges.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use ferry_core::{Error, Millis, RangeSpec, Result, TableError};
use ferry_table::{Column, PartitionSpec, Value};

use crate::{TableInfo, Tables, corrupt};

/// Listing page size when a partition's files are read.
const LIST_PAGE: usize = 1000;
/// Row counts remembered per node; data files never change, so entries never go stale.
const ROW_COUNT_CACHE: usize = 100_000;

/// A committed data file of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    pub key: String,
    pub size: u64,
    pub rows: u64,
    pub modified: Millis,
}

/// Rows per committed file, read once from each file's footer.
#[derive(Default)]
pub(crate) struct RowCounts(Mutex<HashMap<String, u64>>);

impl RowCounts {
    fn get(&self, key: &str) -> Option<u64> {
        self.0.lock().ok()?.get(key).copied()
    }

    fn put(&self, key: &str, rows: u64) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= ROW_COUNT_CACHE {
                map.clear();
            }
            map.insert(key.to_string(), rows);
        }
    }
}

fn unreadable(key: &str) -> impl Fn(ferry_table::BlockError) -> Error + '_ {
    move |e| corrupt(format!("data file {key} is not readable Parquet: {e}"))
}

impl Tables {
    /// The committed files of a partition (of the whole table when it has none) published at or
    /// before `until`, in key order, with their row counts.
    pub async fn table_files(&self, info: &TableInfo, spec: &PartitionSpec, until: Millis) -> Result<Vec<TableFile>> {
        let spec = info.partition(spec)?;
        if !self.partition_exists(info, &spec).await? {
            return Err(Error::Table(TableError::NoSuchPartition(info.name.to_string(), spec.to_string())));
        }
        let prefix = info.data_prefix(&spec);
        let mut files = Vec::new();
        let mut after = String::new();
        loop {
            let page = match self.engine.list_objects(self.engine.table_bucket(), &prefix, "/", &after, LIST_PAGE).await
            {
                Ok(page) => page,
                Err(Error::NoSuchBucket) => return Ok(files),
                Err(e) => return Err(e),
            };
            for object in &page.objects {
                if object.key.ends_with(".parquet") && object.modified <= until {
                    let rows = self.file_rows(&object.key).await?;
                    files.push(TableFile {
                        key: object.key.clone(),
                        size: object.size,
                        rows,
                        modified: object.modified,
                    });
                }
            }
            match page.next_marker {
                Some(next) if page.truncated => after = next,
                _ => return Ok(files),
            }
        }
    }

    async fn file_rows(&self, key: &str) -> Result<u64> {
        if let Some(rows) = self.row_counts.get(key) {
            return Ok(rows);
        }
        let tail = self.read_all(key, Some(RangeSpec::Suffix(ferry_table::FOOTER_TAIL as u64))).await?;
        let footer_len = ferry_table::footer_length(&tail).map_err(unreadable(key))? as u64;
        let footer = self.read_all(key, Some(RangeSpec::Suffix(footer_len + ferry_table::FOOTER_TAIL as u64))).await?;
        let rows = ferry_table::rows_in_footer(&footer[..footer_len as usize]).map_err(unreadable(key))?;
        self.row_counts.put(key, rows);
        Ok(rows)
    }

    /// Rows `rows` (row numbers within the file) of a data file, only `columns`, in batches as
    /// they are decoded. The file is read by byte ranges on a blocking thread, so memory holds
    /// about a page of each column asked for, whatever the file's size, and a narrow window of
    /// rows reads little more than the pages that hold it.
    pub fn table_file_rows(&self, file: &TableFile, columns: &[Column], rows: std::ops::Range<usize>) -> TableRows {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let source = FileRanges {
            tables: self.clone(),
            key: file.key.clone(),
            size: file.size,
            runtime: tokio::runtime::Handle::current(),
        };
        let columns = columns.to_vec();
        tokio::task::spawn_blocking(move || {
            let key = source.key.clone();
            let corrupt = unreadable(&key);
            let batches = match ferry_table::ParquetRows::open_ranges(source, &columns, rows) {
                Ok(batches) => batches,
                Err(e) => {
                    let _ = tx.blocking_send(Err(corrupt(e)));
                    return;
                }
            };
            for batch in batches {
                let failed = batch.is_err();
                // A closed channel means the reader went away (the client hung up): stop.
                if tx.blocking_send(batch.map_err(&corrupt)).is_err() || failed {
                    return;
                }
            }
        });
        TableRows { batches: rx }
    }
}

/// Batches of rows from [`Tables::table_file_rows`].
pub struct TableRows {
    batches: tokio::sync::mpsc::Receiver<Result<Vec<Vec<Value>>>>,
}

impl TableRows {
    /// The next batch; `None` once every row asked for was returned (or after an error).
    pub async fn next(&mut self) -> Option<Result<Vec<Vec<Value>>>> {
        self.batches.recv().await
    }
}

/// A committed data file as the Parquet reader sees it: byte ranges fetched through the engine
/// (from whichever blob store holds it), run from a blocking thread.
struct FileRanges {
    tables: Tables,
    key: String,
    size: u64,
    runtime: tokio::runtime::Handle,
}

impl ferry_table::RangeSource for FileRanges {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_range(&self, start: u64, len: usize) -> std::io::Result<Bytes> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = RangeSpec::From { first: start, last: Some(start + len as u64 - 1) };
        self.runtime.block_on(self.tables.read_all(&self.key, Some(range))).map_err(std::io::Error::other)
    }
}
