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
