//! The garbage queue: blobs no part or manifest references any more, waiting for the sweeper
//! to delete them.

use ferry_core::{BlobId, Millis, Result};
use rusqlite::{Connection, Transaction, params};

use super::{db, query_all};

pub(super) fn queue(tx: &Transaction<'_>, blob: &str, now: Millis) -> Result<()> {
    tx.execute("INSERT OR IGNORE INTO garbage (blob, queued) VALUES (?1, ?2)", params![blob, now]).map_err(db)?;
    Ok(())
}

pub(super) fn queue_all(tx: &Transaction<'_>, blobs: &[BlobId], now: Millis) -> Result<()> {
    for b in blobs {
        queue(tx, &b.0, now)?;
    }
    Ok(())
}

/// Up to `limit` blobs queued at or before `before`, oldest first. A blob referenced again
/// (should never happen) is skipped rather than deleted.
pub(super) fn collectable(conn: &Connection, before: Millis, limit: usize) -> Result<Vec<BlobId>> {
    query_all(
        conn,
        "SELECT blob FROM garbage g WHERE queued <= ?1
           AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.blob = g.blob)
           AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.blob = g.blob)
         ORDER BY queued LIMIT ?2",
        params![before, limit as i64],
        |r| Ok(BlobId(r.get(0).map_err(db)?)),
    )
}

pub(super) fn forget(tx: &Transaction<'_>, blobs: &[BlobId]) -> Result<()> {
    let mut stmt = tx.prepare_cached("DELETE FROM garbage WHERE blob = ?1").map_err(db)?;
    for b in blobs {
        stmt.execute([&b.0]).map_err(db)?;
    }
    Ok(())
}

pub(super) fn is_referenced(conn: &Connection, blob: &BlobId) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM parts WHERE blob = ?1) OR EXISTS (SELECT 1 FROM manifests WHERE blob = ?1)",
        [&blob.0],
        |r| r.get(0),
    )
    .map_err(db)
}
