//! Tables on the engine: schemas, partitions and the Parquet files that hold their rows, kept
//! as objects in one bucket (`EngineConfig::table_bucket`) so every table is also readable with
//! any S3 client and any Parquet reader:
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
//! DeleteBucket of its name — is refused by the engine with `Error::AccessDenied`; only this
//! crate writes there, through the engine's table-bucket calls (`Engine::put_table_object` and
//! its siblings). We chose this over moving tables out of object buckets because it keeps tables
//! readable by any S3 client and Parquet reader, needs no move of existing data, and puts the
//! rule in one place (the engine) for every dialect, present and future. Table upload sessions
//! are not objects at all: their target is `Target::TablePartition`, so no object dialect can
//! find, list, fill, complete or abort one (an object call naming a table upload's id is
//! `NoSuchUpload`).
//!
//! A file that is damaged anyway (on disk, say) is reported as `TableError::Corrupt`, naming
//! the file, and never stops `DROP TABLE`: a table whose schema cannot be read is dropped with
//! everything stored under its name.
//!
//! The work is split by what it owns: the catalog (names, schemas, partitions), uploads
//! (sessions, their blocks encoded to Parquet, commit) and downloads (committed files, their
//! row counts and rows).

mod blocks;
mod catalog;
mod download;
mod upload;

use std::sync::Arc;

use bytes::Bytes;
use ferry_core::{Engine, Error, RangeSpec, Result};
use futures_util::TryStreamExt;

pub use blocks::RowBatches;
pub use catalog::{TableInfo, TableName};
pub use download::{TableFile, TableRows};
pub use ferry_core::TableError;
pub use ferry_table;
pub use upload::TableUpload;

/// The table service on an [`Engine`]. Cheap to clone; clones share the cache of row counts.
#[derive(Clone)]
pub struct Tables {
    engine: Engine,
    row_counts: Arc<download::RowCounts>,
}

impl Tables {
    /// Tables stored through `engine`, in its table bucket.
    pub fn new(engine: Engine) -> Tables {
        Tables { engine, row_counts: Arc::default() }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A whole object (or `range` of it) of the table bucket.
    async fn read_all(&self, key: &str, range: Option<RangeSpec>) -> Result<Bytes> {
        let read = self.engine.get_object(self.engine.table_bucket(), key, range, None).await?;
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
        match self.engine.head_object(self.engine.table_bucket(), key).await {
            Ok(_) => Ok(true),
            Err(Error::NoSuchKey | Error::NoSuchBucket) => Ok(false),
            // Damaged bytes are still there: the marker exists.
            Err(Error::Damaged(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

fn corrupt(message: String) -> Error {
    Error::Table(TableError::Corrupt(message))
}
