//! Metadata stores for ferry. [`SqliteMetaStore`] is the embedded default; [`PostgresMetaStore`]
//! is shared by several nodes when one machine is not enough.
//!
//! Both stores keep the same tables with the same columns. What they share lives here once:
//! the column lists and the values written into them ([`columns`]), and the mapping of a read
//! row back to ferry's types ([`rows`]). Each store's directory holds only what differs: its
//! connection handling, its SQL dialect and its schema migrations (`*/schema.rs`).

mod columns;
mod group;
mod outbox;
mod postgres;
mod rows;
mod sqlite;

pub use postgres::PostgresMetaStore;
pub use sqlite::SqliteMetaStore;

use ferry_core::{Error, Result, SessionClock};

/// Records kept as JSON text (object metadata, checksums, commit records), in both stores.
fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Meta(e.to_string()))
}

/// Both databases' integers are signed; u64 CRCs and sizes are stored by bit pattern.
fn to_i64(v: u64) -> i64 {
    v as i64
}

/// Refuse a database whose schema is newer than this build's migrations.
fn check_schema_version(version: usize, known: usize) -> Result<()> {
    if version > known {
        return Err(Error::Meta(format!(
            "the database schema is version {version}, newer than this ferry understands ({known}); upgrade ferry"
        )));
    }
    Ok(())
}

/// The arguments of `MetaStore::list_sessions`, owned so that they can move to SQLite's
/// blocking thread: live object sessions of `bucket` whose key starts with `prefix`, after
/// (key, id) when given, at most `limit`, judged by `clock`.
struct SessionPage {
    bucket: String,
    prefix: String,
    after: Option<(String, String)>,
    limit: i64,
    clock: SessionClock,
}

impl SessionPage {
    fn new(bucket: &str, prefix: &str, after: Option<(&str, &str)>, limit: usize, clock: SessionClock) -> Self {
        SessionPage {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            after: after.map(|(key, id)| (key.to_string(), id.to_string())),
            limit: limit as i64,
            clock,
        }
    }
}
