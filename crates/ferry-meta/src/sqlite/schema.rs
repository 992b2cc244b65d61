//! The SQLite schema: its migrations, in order, and how they are applied. `PRAGMA user_version`
//! records how many ran. A new migration is a new file in `migrations/` added at the end of
//! [`MIGRATIONS`]; the PostgreSQL store keeps its own list in `postgres/schema.rs`.

use ferry_core::Result;
use rusqlite::Connection;

use super::db;

/// Schema migrations, applied in order; never edit one that has shipped, add another.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_leases.sql"),
    include_str!("migrations/0003_session_targets.sql"),
    include_str!("migrations/0004_object_damage.sql"),
    include_str!("migrations/0005_legacy_numbering.sql"),
    include_str!("migrations/0006_lifecycle.sql"),
    include_str!("migrations/0007_events.sql"),
    include_str!("migrations/0008_keys.sql"),
    include_str!("migrations/0009_session_dialect.sql"),
    include_str!("migrations/0010_upload_lengths.sql"),
];

/// Apply the migrations `conn` has not run yet, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db)?;
    crate::check_schema_version(version, MIGRATIONS.len())?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.pragma_update(None, "user_version", i + 1).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}
