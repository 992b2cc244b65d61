//! Metadata stores for ferry. [`SqliteMetaStore`] is the embedded default; [`PostgresMetaStore`]
//! is shared by several nodes when one machine is not enough.

mod postgres;
mod sqlite;

pub use postgres::PostgresMetaStore;
pub use sqlite::SqliteMetaStore;

use ferry_core::{Error, Result};

/// Records kept as JSON text (object metadata, checksums, commit records), in both stores.
fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Meta(e.to_string()))
}

/// Both databases' integers are signed; u64 CRCs and sizes are stored by bit pattern.
fn to_i64(v: u64) -> i64 {
    v as i64
}

/// A session target as both stores keep it: `target_kind` (`object` or `table`) and the
/// columns of that kind. An object target uses `bucket` and `key`; a table target leaves them
/// empty and fills `target_project`, `target_table` and `target_partition`.
struct TargetColumns<'a> {
    kind: &'static str,
    bucket: &'a str,
    key: &'a str,
    project: Option<&'a str>,
    table: Option<&'a str>,
    partition: Option<&'a str>,
}

fn target_columns(target: &ferry_core::Target) -> TargetColumns<'_> {
    use ferry_core::Target;
    match target {
        Target::Object { bucket, key } => {
            TargetColumns { kind: "object", bucket, key, project: None, table: None, partition: None }
        }
        Target::TablePartition { project, table, partition } => TargetColumns {
            kind: "table",
            bucket: "",
            key: "",
            project: Some(project),
            table: Some(table),
            partition: Some(partition),
        },
    }
}

/// The target stored in a session row; an error names what is wrong with it.
fn target_from_columns(
    kind: &str,
    bucket: String,
    key: String,
    project: Option<String>,
    table: Option<String>,
    partition: Option<String>,
) -> std::result::Result<ferry_core::Target, String> {
    use ferry_core::Target;
    match (kind, project, table, partition) {
        ("object", ..) => Ok(Target::Object { bucket, key }),
        ("table", Some(project), Some(table), Some(partition)) => {
            Ok(Target::TablePartition { project, table, partition })
        }
        ("table", ..) => Err("a table session row lacks its project, table or partition".into()),
        (other, ..) => Err(format!("unknown session target kind {other:?}")),
    }
}
