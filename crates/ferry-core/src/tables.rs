//! Tables: schemas, partitions and the Parquet files that hold their rows, kept as objects in one
//! bucket (`EngineConfig::table_bucket`) so every table is also readable with any S3 client and
//! any Parquet reader:
//!
//! ```text
//! <project>/<table>/_schema.json                         the table (schema, id, comment, lifecycle)
//! <project>/<table>/<id>/<k=v>/.../_partition            a partition exists
//! <project>/<table>/<id>/<k=v>/.../<upload>-<block>.parquet   one committed block
//! ```
//!
//! The random table id in every data path makes dropping a table one delete (its schema): files
//! of a dropped table, even ones a crash left behind, never show up in a table re-created under
//! the same name. An upload session carries its table's id and schema, so block writes need no
//! extra lookup.
//!
//! **The table bucket is read-only to the object dialects.** S3, OSS and US3 clients may list and
//! read it (that is the point of plain Parquet files), but every object write aimed at it —
//! PutObject, CopyObject into it, DeleteObject(s), CreateMultipartUpload, CreateBucket or
//! DeleteBucket of its name — is refused by the engine with `Error::AccessDenied`, and only this
//! module writes there, through the metadata store directly. We chose this over moving tables
//! out of object buckets because it keeps tables readable by any S3 client and Parquet reader,
//! needs no move of existing data, and puts the rule in one place (the engine) for every
//! dialect, present and future. Table upload sessions are not objects at all: their target is
//! `Target::TablePartition`, so no object dialect can find, list, fill, complete or abort one
//! (an object call naming a table upload's id is `NoSuchUpload`).
//!
//! A file that is damaged anyway (on disk, say) is reported as `TableError::Corrupt`, naming
//! the file, and never stops `DROP TABLE`: a table whose schema cannot be read is dropped with
//! everything stored under its name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferry_table::{Column, PartitionSpec, TableSchema, Value};
use futures_util::TryStreamExt;
use serde_json::{Value as Json, json};

use crate::checksum::Wanted;
use crate::engine::{Engine, PartInput, RangeSpec};
use crate::error::{Error, Result};
use crate::types::{ManifestEntry, Millis, ObjectMeta, ObjectRecord, Session, Target, WholeCrc, now_millis, random_id};

/// Why a table operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("table {0} does not exist")]
    NoSuchTable(String),
    #[error("partition {1} of table {0} does not exist")]
    NoSuchPartition(String, String),
    #[error("table {0} already exists")]
    TableExists(String),
    #[error("partition {1} of table {0} already exists")]
    PartitionExists(String, String),
    #[error("table {0} changed since the download session was opened; open a new one")]
    Modified(String),
    /// A stored table file (schema or data) cannot be read; the message names it. Dropping the
    /// table still works.
    #[error("{0}")]
    Corrupt(String),
}

fn corrupt(message: String) -> Error {
    Error::Table(TableError::Corrupt(message))
}

/// The largest schema document accepted.
const MAX_SCHEMA_BYTES: u64 = 1 << 20;
/// Objects deleted per listing page when a table is dropped.
const DROP_PAGE: usize = 1000;
/// Row counts remembered per node; data files never change, so entries never go stale.
const ROW_COUNT_CACHE: usize = 100_000;

/// `project.table`, both lowercased (ODPS names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    pub project: String,
    pub table: String,
}

impl TableName {
    pub fn new(project: &str, table: &str) -> Result<TableName> {
        for (what, name) in [("project", project), ("table", table)] {
            let ok = !name.is_empty()
                && name.len() <= 128
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(Error::InvalidArgument(format!(
                    "invalid {what} name {name:?}: use letters, digits and '_' (not first), at most 128"
                )));
            }
        }
        Ok(TableName { project: project.to_ascii_lowercase(), table: table.to_ascii_lowercase() })
    }

    fn schema_key(&self) -> String {
        format!("{}/{}/_schema.json", self.project, self.table)
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.project, self.table)
    }
}

/// A table as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    pub name: TableName,
    pub id: String,
    pub schema: TableSchema,
    pub comment: String,
    /// Days, or -1 for none (recorded for clients; ferry does not expire table data).
    pub lifecycle: i64,
    pub created: Millis,
}

impl TableInfo {
    /// `spec` checked against the schema (every key, valid values, schema order).
    pub fn partition(&self, spec: &PartitionSpec) -> Result<PartitionSpec> {
        spec.for_table(&self.schema).map_err(Error::InvalidArgument)
    }

    /// Where a partition's files live (the table's own files when it has no partitions).
    fn data_prefix(&self, spec: &PartitionSpec) -> String {
        let mut prefix = format!("{}/{}/{}/", self.name.project, self.name.table, self.id);
        if !spec.is_empty() {
            prefix.push_str(&spec.path());
            prefix.push('/');
        }
        prefix
    }

    fn to_json(&self) -> Json {
        json!({
            "tableId": self.id, "project": self.name.project, "table": self.name.table,
            "schema": self.schema.to_json(), "comment": self.comment, "lifecycle": self.lifecycle,
            "created": self.created,
        })
    }

    fn from_json(name: &TableName, doc: &Json) -> Result<TableInfo> {
        let bad = |what: &str| {
            corrupt(format!(
                "the stored schema of table {name} has no valid {what}; drop the table and create it again"
            ))
        };
        Ok(TableInfo {
            name: name.clone(),
            id: doc.get("tableId").and_then(Json::as_str).ok_or_else(|| bad("tableId"))?.to_string(),
            schema: TableSchema::from_json(doc.get("schema").ok_or_else(|| bad("schema"))?).map_err(|e| {
                corrupt(format!(
                    "the stored schema of table {name} is invalid ({e}); drop the table and create it again"
                ))
            })?,
            comment: doc.get("comment").and_then(Json::as_str).unwrap_or("").to_string(),
            lifecycle: doc.get("lifecycle").and_then(Json::as_i64).unwrap_or(-1),
            created: doc.get("created").and_then(Json::as_i64).unwrap_or(0),
        })
    }
}

/// A committed data file of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    pub key: String,
    pub size: u64,
    pub rows: u64,
    pub modified: Millis,
}

/// A table upload session: the engine session plus what it writes to.
#[derive(Debug, Clone)]
pub struct TableUpload {
    pub session: Session,
    pub table: TableInfo,
    pub partition: PartitionSpec,
}

/// Session metadata names that mark a session as a table upload.
const META_TABLE: &str = "ferry-table";
const META_PARTITION: &str = "ferry-partition";

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

fn one_chunk(bytes: Bytes) -> crate::store::ByteStream {
    Box::pin(futures_util::stream::once(async move { Ok(bytes) }))
}

impl Engine {
    fn table_bucket(&self) -> &str {
        &self.config().table_bucket
    }

    async fn put_small(&self, key: String, content_type: &str, body: Bytes) -> Result<()> {
        let input = PartInput {
            expected_size: Some(body.len() as u64),
            max_size: MAX_SCHEMA_BYTES,
            body: one_chunk(body),
            expected: Vec::new(),
            trailer: None,
            wanted: Wanted::default(),
        };
        // Straight to the stores: the object API refuses the table bucket.
        let (blob, size, digests) = self.ingest(input, Wanted::default()).await?;
        let object = ObjectRecord {
            bucket: self.table_bucket().to_string(),
            key,
            size,
            etag: hex::encode(digests.md5),
            modified: now_millis(),
            meta: ObjectMeta { content_type: Some(content_type.into()), ..ObjectMeta::default() },
            checksum: None,
            crc: WholeCrc {
                crc32: digests.crc32,
                crc32c: digests.crc32c,
                crc64nvme: digests.crc64nvme,
                crc64xz: digests.crc64xz,
            },
            manifest: vec![ManifestEntry { blob: blob.clone(), offset: 0, size }],
        };
        if let Err(e) = self.meta_store().put_object(&object).await {
            self.discard(&blob).await;
            return Err(e);
        }
        Ok(())
    }

    async fn read_all(&self, key: &str, range: Option<RangeSpec>) -> Result<Bytes> {
        let read = self.get_object(self.table_bucket(), key, range, None).await?;
        let chunks: Vec<Bytes> = read.body.try_collect().await.map_err(|e| {
            // A blob that ends before its recorded size was cut short on disk: the file is
            // damaged, not the store unavailable.
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt(format!("table file {key} is shorter than recorded ({e}); drop the table and load it again"))
            } else {
                Error::Blob(e)
            }
        })?;
        Ok(Bytes::from(chunks.concat()))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        match self.head_object(self.table_bucket(), key).await {
            Ok(_) => Ok(true),
            Err(Error::NoSuchKey | Error::NoSuchBucket) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Create a table. With `if_not_exists`, an existing table is left as it is.
    pub async fn create_table(
        &self,
        name: &TableName,
        schema: TableSchema,
        comment: &str,
        lifecycle: i64,
        if_not_exists: bool,
    ) -> Result<()> {
        schema.validate().map_err(Error::InvalidArgument)?;
        match self.meta_store().create_bucket(self.table_bucket(), now_millis()).await {
            Ok(()) | Err(Error::BucketAlreadyExists) => {}
            Err(e) => return Err(e),
        }
        if self.exists(&name.schema_key()).await? {
            return match if_not_exists {
                true => Ok(()),
                false => Err(Error::Table(TableError::TableExists(name.to_string()))),
            };
        }
        let info = TableInfo {
            name: name.clone(),
            id: random_id(),
            schema,
            comment: comment.to_string(),
            lifecycle,
            created: now_millis(),
        };
        self.put_small(name.schema_key(), "application/json", Bytes::from(info.to_json().to_string())).await
    }

    /// The table, or `NoSuchTable`.
    pub async fn table(&self, name: &TableName) -> Result<TableInfo> {
        let doc = match self.read_all(&name.schema_key(), None).await {
            Ok(doc) => doc,
            Err(Error::NoSuchKey | Error::NoSuchBucket) => {
                return Err(Error::Table(TableError::NoSuchTable(name.to_string())));
            }
            Err(e) => return Err(e),
        };
        let doc: Json = serde_json::from_slice(&doc).map_err(|e| {
            corrupt(format!("the stored schema of table {name} is not JSON ({e}); drop the table and create it again"))
        })?;
        TableInfo::from_json(name, &doc)
    }

    /// Drop a table and its data. With `if_exists`, a missing table is not an error.
    pub async fn drop_table(&self, name: &TableName, if_exists: bool) -> Result<()> {
        let prefix = match self.table(name).await {
            Ok(info) => info.data_prefix(&PartitionSpec::default()),
            Err(Error::Table(TableError::NoSuchTable(_))) if if_exists => return Ok(()),
            // A schema that cannot be read no longer says which files are the table's: drop
            // everything stored under its name, so the name can be used again.
            Err(Error::Table(TableError::Corrupt(why))) => {
                tracing::warn!(table = %name, %why, "dropping a table whose schema is unreadable");
                format!("{}/{}/", name.project, name.table)
            }
            Err(e) => return Err(e),
        };
        // Deleting the schema drops the table at once; its files are then only garbage.
        self.meta_store().delete_object(self.table_bucket(), &name.schema_key()).await?;
        loop {
            let page = self.list_objects(self.table_bucket(), &prefix, "", "", DROP_PAGE).await?;
            for object in &page.objects {
                self.meta_store().delete_object(self.table_bucket(), &object.key).await?;
            }
            if !page.truncated || page.objects.is_empty() {
                return Ok(());
            }
        }
    }

    fn partition_marker(info: &TableInfo, spec: &PartitionSpec) -> String {
        format!("{}_partition", info.data_prefix(spec))
    }

    /// Whether the partition exists (always true for a table without partitions).
    pub async fn partition_exists(&self, info: &TableInfo, spec: &PartitionSpec) -> Result<bool> {
        let spec = info.partition(spec)?;
        if spec.is_empty() {
            return Ok(true);
        }
        self.exists(&Self::partition_marker(info, &spec)).await
    }

    /// Add a partition. With `if_not_exists`, an existing partition is not an error.
    pub async fn add_partition(&self, info: &TableInfo, spec: &PartitionSpec, if_not_exists: bool) -> Result<()> {
        let spec = info.partition(spec)?;
        if spec.is_empty() {
            return Err(Error::InvalidArgument(format!("table {} has no partitions", info.name)));
        }
        if self.partition_exists(info, &spec).await? {
            return match if_not_exists {
                true => Ok(()),
                false => Err(Error::Table(TableError::PartitionExists(info.name.to_string(), spec.to_string()))),
            };
        }
        self.put_small(Self::partition_marker(info, &spec), "application/octet-stream", Bytes::new()).await
    }

    /// Open an upload session writing blocks into a partition. A missing partition is created
    /// when `create_partition` is set, else refused.
    pub async fn create_table_upload(
        &self,
        name: &TableName,
        spec: &PartitionSpec,
        create_partition: bool,
    ) -> Result<TableUpload> {
        let table = self.table(name).await?;
        let partition = table.partition(spec)?;
        if !self.partition_exists(&table, &partition).await? {
            if !create_partition {
                return Err(Error::Table(TableError::NoSuchPartition(name.to_string(), partition.to_string())));
            }
            self.add_partition(&table, &partition, true).await?;
        }
        // The session keeps the table as it was (id and schema), so its blocks are written
        // and published against that table even if the name is dropped and re-created.
        let meta = ObjectMeta {
            user: vec![
                (META_TABLE.into(), table.to_json().to_string()),
                (META_PARTITION.into(), partition.to_string()),
            ],
            ..ObjectMeta::default()
        };
        let target = Target::TablePartition {
            project: name.project.clone(),
            table: name.table.clone(),
            partition: partition.to_string(),
        };
        let session = self.new_session(target, meta, None).await?;
        Ok(TableUpload { session, table, partition })
    }

    /// Open table upload session `id` for a request on table `name` and partition `spec`,
    /// through the same gate as every session ([`Engine::open_session`]): `NoSuchUpload` for an
    /// unknown id, an object upload, or an upload of another table or partition. `spec` is
    /// normalized against the session's table before it is compared; an empty `spec` on a
    /// partitioned table means "the session's partition" (a client that names the session
    /// only by id). An expired session comes back `Expired`, for the caller to report.
    pub async fn table_upload(&self, name: &TableName, spec: &PartitionSpec, id: &str) -> Result<TableUpload> {
        let session = self
            .open_where(id, |t| {
                matches!(t, Target::TablePartition { project, table, .. }
                    if *project == name.project && *table == name.table)
            })
            .await?;
        let meta = |key: &str| session.meta.user.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let (Some(doc), Some(partition)) = (meta(META_TABLE), meta(META_PARTITION)) else {
            return Err(Error::Critical(format!("table upload {id} lost its table record")));
        };
        let doc: Json = serde_json::from_str(&doc).map_err(|e| Error::Critical(format!("table upload {id}: {e}")))?;
        let table = TableInfo::from_json(name, &doc)?;
        let partition = PartitionSpec::parse(&partition).map_err(Error::Critical)?;
        if !spec.is_empty() && table.partition(spec)? != partition {
            return Err(Error::NoSuchUpload);
        }
        if session.target
            != (Target::TablePartition {
                project: name.project.clone(),
                table: name.table.clone(),
                partition: partition.to_string(),
            })
        {
            return Err(Error::Critical(format!("table upload {id} names another partition than its target")));
        }
        Ok(TableUpload { session, table, partition })
    }

    /// Commit a table upload: `blocks` must be exactly the blocks held (`None`: every block held).
    /// Each becomes one file of the partition, published together. A retried commit with the
    /// same list, an empty one or none succeeds.
    pub async fn commit_table_upload(&self, upload: &TableUpload, blocks: Option<&[u32]>) -> Result<()> {
        let current = self.table(&upload.table.name).await?;
        if current.id != upload.table.id {
            return Err(Error::Table(TableError::NoSuchTable(upload.table.name.to_string())));
        }
        let prefix = upload.table.data_prefix(&upload.partition);
        let id = &upload.session.id;
        let file_key = move |block: u32| format!("{prefix}{id}-{block:05}.parquet");
        self.commit_blocks(&upload.session, blocks, &file_key).await.map(|_| ())
    }

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
            let page = match self.list_objects(self.table_bucket(), &prefix, "/", &after, DROP_PAGE).await {
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
        if let Some(rows) = self.row_counts().get(key) {
            return Ok(rows);
        }
        let corrupt = |e: ferry_table::BlockError| corrupt(format!("data file {key} is not readable Parquet: {e}"));
        let tail = self.read_all(key, Some(RangeSpec::Suffix(ferry_table::FOOTER_TAIL as u64))).await?;
        let footer_len = ferry_table::footer_length(&tail).map_err(corrupt)? as u64;
        let footer = self.read_all(key, Some(RangeSpec::Suffix(footer_len + ferry_table::FOOTER_TAIL as u64))).await?;
        let rows = ferry_table::rows_in_footer(&footer[..footer_len as usize]).map_err(corrupt)?;
        self.row_counts().put(key, rows);
        Ok(rows)
    }

    /// Rows `rows` (row numbers within the file) of a data file, only `columns`, in batches as
    /// they are decoded. The file is read by byte ranges on a blocking thread, so memory holds
    /// about a page of each column asked for, whatever the file's size, and a narrow window of
    /// rows reads little more than the pages that hold it.
    pub fn table_file_rows(&self, file: &TableFile, columns: &[Column], rows: std::ops::Range<usize>) -> TableRows {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let source = FileRanges {
            engine: self.clone(),
            key: file.key.clone(),
            size: file.size,
            runtime: tokio::runtime::Handle::current(),
        };
        let columns = columns.to_vec();
        tokio::task::spawn_blocking(move || {
            let key = source.key.clone();
            let corrupt = |e: ferry_table::BlockError| corrupt(format!("data file {key} is not readable Parquet: {e}"));
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
                if tx.blocking_send(batch.map_err(corrupt)).is_err() || failed {
                    return;
                }
            }
        });
        TableRows { batches: rx }
    }
}

/// Batches of rows from [`Engine::table_file_rows`].
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
    engine: Engine,
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
        self.runtime.block_on(self.engine.read_all(&self.key, Some(range))).map_err(std::io::Error::other)
    }
}

pub(crate) type SharedRowCounts = Arc<RowCounts>;
