//! Upload sessions of a table partition: opening one (creating its partition if asked),
//! reopening it by id, and committing its blocks as the partition's files. The blocks
//! themselves are encoded and stored by [`crate::blocks`].

use ferry_core::{Error, ObjectMeta, Result, Session, TableError, Target};
use ferry_table::PartitionSpec;
use serde_json::Value as Json;

use crate::{TableInfo, TableName, Tables};

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

fn target(name: &TableName, partition: &PartitionSpec) -> Target {
    Target::TablePartition {
        project: name.project.clone(),
        table: name.table.clone(),
        partition: partition.to_string(),
    }
}

impl Tables {
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
        let session = self.engine.create_table_session(target(name, &partition), meta).await?;
        Ok(TableUpload { session, table, partition })
    }

    /// Open table upload session `id` for a request on table `name` and partition `spec`,
    /// through the same gate as every session (`Engine::open_session`): `NoSuchUpload` for an
    /// unknown id, an object upload, or an upload of another table or partition. `spec` is
    /// normalized against the session's table before it is compared; an empty `spec` on a
    /// partitioned table means "the session's partition" (a client that names the session
    /// only by id). An expired session comes back `Expired`, for the caller to report.
    pub async fn table_upload(&self, name: &TableName, spec: &PartitionSpec, id: &str) -> Result<TableUpload> {
        let session = self.engine.open_table_session(id, &name.project, &name.table).await?;
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
        if session.target != target(name, &partition) {
            return Err(Error::Critical(format!("table upload {id} names another partition than its target")));
        }
        Ok(TableUpload { session, table, partition })
    }

    /// The blocks a committed upload published, ascending: its files in the partition, named
    /// `<session>-<block>.parquet`. A client that retries a commit first compares its list with
    /// this one (the Java SDK refuses locally when they differ), so a committed session still
    /// names its blocks. Empty once the partition's files are gone.
    pub async fn committed_blocks(&self, upload: &TableUpload) -> Result<Vec<u32>> {
        let prefix = format!("{}{}-", upload.table.data_prefix(&upload.partition), upload.session.id);
        let mut blocks = Vec::new();
        let mut after = String::new();
        loop {
            let page = match self.engine.list_objects(self.engine.table_bucket(), &prefix, "", &after, 1000).await {
                Ok(page) => page,
                Err(Error::NoSuchBucket) => return Ok(blocks),
                Err(e) => return Err(e),
            };
            blocks.extend(
                page.objects
                    .iter()
                    .filter_map(|o| o.key.strip_prefix(&prefix)?.strip_suffix(".parquet")?.parse::<u32>().ok()),
            );
            match page.next_marker {
                Some(next) if page.truncated => after = next,
                _ => break,
            }
        }
        blocks.sort_unstable();
        Ok(blocks)
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
        self.engine.commit_table_session(&upload.session, blocks, &file_key).await
    }
}
