//! The scrub's part of the SQLite store: the damage flag on objects and the walk over sessions
//! holding parts.

use ferry_core::{BlobId, Result};
use rusqlite::{OptionalExtension, params};

use super::{SqliteMetaStore, db};

impl SqliteMetaStore {
    pub(super) async fn scrub_sessions_with_parts(&self, after: &str, limit: usize) -> Result<Vec<String>> {
        let after = after.to_string();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT DISTINCT session FROM parts WHERE session > ?1 ORDER BY session LIMIT ?2")
                .map_err(db)?;
            let rows = stmt.query_map(params![after, limit as i64], |r| r.get(0)).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
        .await
    }

    pub(super) async fn scrub_mark_damaged(
        &self,
        bucket: &str,
        key: &str,
        blob: &BlobId,
        reason: Option<&str>,
    ) -> Result<bool> {
        let (bucket, key, blob, reason) =
            (bucket.to_string(), key.to_string(), blob.0.clone(), reason.map(String::from));
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE objects SET damaged = ?4 WHERE bucket = ?1 AND key = ?2
                       AND id IN (SELECT object FROM manifests WHERE blob = ?3)",
                    params![bucket, key, blob, reason],
                )
                .map_err(db)?;
            Ok(changed > 0)
        })
        .await
    }

    pub(super) async fn scrub_object_damage(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.with(move |conn| {
            conn.query_row(
                "SELECT damaged FROM objects WHERE bucket = ?1 AND key = ?2 AND damaged IS NOT NULL",
                [bucket, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    pub(super) async fn scrub_count_damaged(&self) -> Result<u64> {
        self.with(|conn| {
            conn.query_row("SELECT COUNT(*) FROM objects WHERE damaged IS NOT NULL", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db)
        })
        .await
    }
}
