//! Metadata stores for ferry. [`SqliteMetaStore`] is the embedded default; [`PostgresMetaStore`]
//! is shared by several nodes when one machine is not enough.

mod postgres;
mod sqlite;

pub use postgres::PostgresMetaStore;
pub use sqlite::SqliteMetaStore;
