//! The catalog: table names, the stored table (schema, id, comment, lifecycle), creating and
//! dropping tables, and partitions.

use bytes::Bytes;
use ferry_core::{Error, Millis, Result, TableError, now_millis, random_id};
use ferry_table::{PartitionSpec, TableSchema};
use serde_json::{Value as Json, json};

use crate::{Tables, corrupt};

/// Objects deleted per listing page when a table is dropped.
const DROP_PAGE: usize = 1000;
/// The largest schema document accepted.
const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// `project.table`, both lowercased (ODPS names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    pub project: String,
    pub table: String,
}

impl TableName {
    /// The name, checked: letters, digits and `_` (not first), at most 128 characters each;
    /// else `InvalidArgument`.
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
    pub(crate) fn data_prefix(&self, spec: &PartitionSpec) -> String {
        let mut prefix = format!("{}/{}/{}/", self.name.project, self.name.table, self.id);
        if !spec.is_empty() {
            prefix.push_str(&spec.path());
            prefix.push('/');
        }
        prefix
    }

    pub(crate) fn to_json(&self) -> Json {
        json!({
            "tableId": self.id, "project": self.name.project, "table": self.name.table,
            "schema": self.schema.to_json(), "comment": self.comment, "lifecycle": self.lifecycle,
            "created": self.created,
        })
    }

    pub(crate) fn from_json(name: &TableName, doc: &Json) -> Result<TableInfo> {
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

    fn partition_marker(&self, spec: &PartitionSpec) -> String {
        format!("{}_partition", self.data_prefix(spec))
    }
}

impl Tables {
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
        self.engine.ensure_table_bucket().await?;
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
        let doc = Bytes::from(info.to_json().to_string());
        if doc.len() > MAX_SCHEMA_BYTES {
            return Err(Error::EntityTooLarge { max: MAX_SCHEMA_BYTES as u64 });
        }
        self.engine.put_table_object(name.schema_key(), "application/json", doc).await
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
            Err(Error::Table(TableError::Corrupt(why)) | Error::Damaged(why)) => {
                tracing::warn!(table = %name, %why, "dropping a table whose schema is unreadable");
                format!("{}/{}/", name.project, name.table)
            }
            Err(e) => return Err(e),
        };
        // Deleting the schema drops the table at once; its files are then only garbage.
        self.engine.delete_table_object(&name.schema_key()).await?;
        loop {
            let page = self.engine.list_objects(self.engine.table_bucket(), &prefix, "", "", DROP_PAGE).await?;
            for object in &page.objects {
                self.engine.delete_table_object(&object.key).await?;
            }
            if !page.truncated || page.objects.is_empty() {
                return Ok(());
            }
        }
    }

    /// Whether the partition exists (always true for a table without partitions).
    pub async fn partition_exists(&self, info: &TableInfo, spec: &PartitionSpec) -> Result<bool> {
        let spec = info.partition(spec)?;
        if spec.is_empty() {
            return Ok(true);
        }
        self.exists(&info.partition_marker(&spec)).await
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
        self.engine.put_table_object(info.partition_marker(&spec), "application/octet-stream", Bytes::new()).await
    }
}
