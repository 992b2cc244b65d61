//! The garbage queue: blobs no part or manifest references any more, waiting for the sweeper
//! to delete them.

use ferry_core::{BlobId, Millis, Result};

use super::PostgresMetaStore;

pub(super) async fn queue_all(store: &PostgresMetaStore, blobs: &[BlobId], now: Millis) -> Result<()> {
    let ids: Vec<&str> = blobs.iter().map(|b| b.0.as_str()).collect();
    store
        .execute(
            "INSERT INTO garbage (blob, queued) SELECT unnest($1::TEXT[]), $2 ON CONFLICT DO NOTHING",
            &[&ids, &now],
        )
        .await?;
    Ok(())
}

/// Up to `limit` blobs queued at or before `before`, oldest first. A blob referenced again
/// (should never happen) is skipped rather than deleted.
pub(super) async fn collectable(store: &PostgresMetaStore, before: Millis, limit: usize) -> Result<Vec<BlobId>> {
    let rows = store
        .query(
            "SELECT blob FROM garbage g WHERE queued <= $1
               AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.blob = g.blob)
               AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.blob = g.blob)
             ORDER BY queued LIMIT $2",
            &[&before, &(limit as i64)],
        )
        .await?;
    Ok(rows.iter().map(|r| BlobId(r.get(0))).collect())
}

pub(super) async fn forget(store: &PostgresMetaStore, blobs: &[BlobId]) -> Result<()> {
    let ids: Vec<&str> = blobs.iter().map(|b| b.0.as_str()).collect();
    store.execute("DELETE FROM garbage WHERE blob = ANY ($1)", &[&ids]).await?;
    Ok(())
}

pub(super) async fn is_referenced(store: &PostgresMetaStore, blob: &BlobId) -> Result<bool> {
    let row = store
        .query_opt(
            "SELECT EXISTS (SELECT 1 FROM parts WHERE blob = $1) OR EXISTS (SELECT 1 FROM manifests WHERE blob = $1)",
            &[&blob.0],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get(0)))
}
