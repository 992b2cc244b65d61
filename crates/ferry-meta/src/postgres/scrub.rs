//! The scrub's part of the PostgreSQL store: the damage flag on objects and the walk over
//! sessions holding parts.

use ferry_core::{BlobId, Result};

use super::PostgresMetaStore;

impl PostgresMetaStore {
    pub(super) async fn scrub_sessions_with_parts(&self, after: &str, limit: usize) -> Result<Vec<String>> {
        let rows = self
            .query(
                "SELECT DISTINCT session FROM parts WHERE session > $1 ORDER BY session LIMIT $2",
                &[&after, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub(super) async fn scrub_mark_damaged(
        &self,
        bucket: &str,
        key: &str,
        blob: &BlobId,
        reason: Option<&str>,
    ) -> Result<bool> {
        let changed = self
            .execute(
                "UPDATE objects SET damaged = $4 WHERE bucket = $1 AND key = $2
                   AND id IN (SELECT object FROM manifests WHERE blob = $3)",
                &[&bucket, &key, &blob.0, &reason],
            )
            .await?;
        Ok(changed > 0)
    }

    pub(super) async fn scrub_object_damage(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        let row = self
            .query_opt(
                "SELECT damaged FROM objects WHERE bucket = $1 AND key = $2 AND damaged IS NOT NULL",
                &[&bucket, &key],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub(super) async fn scrub_count_damaged(&self) -> Result<u64> {
        let row = self.query_opt("SELECT COUNT(*) FROM objects WHERE damaged IS NOT NULL", &[]).await?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }
}
