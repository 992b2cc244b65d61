//! Metadata stores for ferry. [`SqliteMetaStore`] is the embedded default.

mod sqlite;

pub use sqlite::SqliteMetaStore;
