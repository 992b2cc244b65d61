//! The PostgreSQL schema: its migrations, in order, and how they are applied.
//! `ferry_schema.version` records how many ran. A new migration is a new file in `migrations/`
//! added at the end of [`MIGRATIONS`]; the SQLite store keeps its own list in
//! `sqlite/schema.rs`.

use ferry_core::Result;

use super::{PostgresMetaStore, db};

/// Schema migrations, applied in order; never edit one that has shipped, add another.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_session_targets.sql"),
    include_str!("migrations/0003_object_damage.sql"),
    include_str!("migrations/0004_legacy_numbering.sql"),
    include_str!("migrations/0005_lifecycle.sql"),
    include_str!("migrations/0006_events.sql"),
    include_str!("migrations/0007_keys.sql"),
    include_str!("migrations/0008_session_dialect.sql"),
    include_str!("migrations/0009_upload_lengths.sql"),
];

/// Any value that identifies ferry's migration lock among other applications' advisory locks.
const MIGRATION_LOCK: i64 = 0x6665_7272_795f_6d69; // "ferry_mi"

/// Apply pending migrations in one transaction, under an advisory lock, so nodes starting
/// together migrate once.
pub(super) async fn migrate(store: &PostgresMetaStore) -> Result<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db)?;
    // Held until commit: a second node starting now waits here, then finds nothing to do.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ferry_schema (version BIGINT NOT NULL)").await.map_err(db)?;
    let version: i64 =
        tx.query_opt("SELECT version FROM ferry_schema", &[]).await.map_err(db)?.map(|r| r.get(0)).unwrap_or(0);
    crate::check_schema_version(version as usize, MIGRATIONS.len())?;
    for sql in &MIGRATIONS[version as usize..] {
        tx.batch_execute(sql).await.map_err(db)?;
    }
    tx.execute("DELETE FROM ferry_schema", &[]).await.map_err(db)?;
    tx.execute("INSERT INTO ferry_schema (version) VALUES ($1)", &[&(MIGRATIONS.len() as i64)]).await.map_err(db)?;
    tx.commit().await.map_err(db)
}
