//! Bucket lifecycle rules (one JSON row per bucket), and the queries the engine applies them
//! with: uploads started and objects modified before a rule's cut-off, and the conditional
//! delete that expires an object.

use async_trait::async_trait;
use ferry_core::lifecycle::{LifecycleConfiguration, LifecycleStore};
use ferry_core::{Error, Millis, Result};
use rusqlite::params;

use super::{SqliteMetaStore, db, query_all, query_first};
use crate::json;

fn parse(bucket: &str, text: &str) -> Result<LifecycleConfiguration> {
    serde_json::from_str(text).map_err(|e| Error::Meta(format!("lifecycle rules of bucket {bucket}: {e}")))
}

#[async_trait]
impl LifecycleStore for SqliteMetaStore {
    async fn put_lifecycle(&self, bucket: &str, config: &LifecycleConfiguration, now: Millis) -> Result<()> {
        let (bucket, rules) = (bucket.to_string(), json(config)?);
        self.write(move |tx| {
            // The immediate transaction holds the write lock: the bucket cannot go between the
            // check and the insert.
            let inserted = tx
                .execute(
                    "INSERT INTO bucket_lifecycle (bucket, rules, updated)
                     SELECT name, ?2, ?3 FROM buckets WHERE name = ?1
                     ON CONFLICT (bucket) DO UPDATE SET rules = excluded.rules, updated = excluded.updated",
                    params![bucket, rules, now],
                )
                .map_err(db)?;
            if inserted == 0 { Err(Error::NoSuchBucket) } else { Ok(()) }
        })
        .await
    }

    async fn get_lifecycle(&self, bucket: &str) -> Result<Option<LifecycleConfiguration>> {
        let bucket = bucket.to_string();
        self.with(move |conn| {
            let text: Option<String> =
                query_first(conn, "SELECT rules FROM bucket_lifecycle WHERE bucket = ?1", [&bucket], |r| {
                    r.get(0).map_err(db)
                })?;
            text.map(|t| parse(&bucket, &t)).transpose()
        })
        .await
    }

    async fn delete_lifecycle(&self, bucket: &str) -> Result<bool> {
        let bucket = bucket.to_string();
        self.write(move |tx| {
            Ok(tx.execute("DELETE FROM bucket_lifecycle WHERE bucket = ?1", [&bucket]).map_err(db)? > 0)
        })
        .await
    }

    async fn lifecycle_buckets(&self) -> Result<Vec<(String, LifecycleConfiguration)>> {
        self.with(|conn| {
            let rows: Vec<(String, String)> =
                query_all(conn, "SELECT bucket, rules FROM bucket_lifecycle ORDER BY bucket", [], |r| {
                    Ok((r.get(0).map_err(db)?, r.get(1).map_err(db)?))
                })?;
            rows.into_iter().map(|(b, t)| parse(&b, &t).map(|c| (b, c))).collect()
        })
        .await
    }

    async fn uploads_created_before(
        &self,
        bucket: &str,
        prefix: &str,
        created_before: Millis,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let (bucket, prefix, after) = (bucket.to_string(), prefix.to_string(), after.to_string());
        self.with(move |conn| {
            query_all(
                conn,
                "SELECT id FROM sessions
                 WHERE bucket = ?1 AND state = 'NORMAL' AND target_kind = 'object'
                   AND substr(key, 1, length(?2)) = ?2 AND created < ?3 AND id > ?4
                 ORDER BY id LIMIT ?5",
                params![bucket, prefix, created_before, after, limit as i64],
                |r| r.get(0).map_err(db),
            )
        })
        .await
    }

    async fn objects_modified_before(
        &self,
        bucket: &str,
        prefix: &str,
        modified_before: Millis,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let (bucket, prefix, after) = (bucket.to_string(), prefix.to_string(), after.to_string());
        self.with(move |conn| {
            query_all(
                conn,
                "SELECT key FROM objects
                 WHERE bucket = ?1 AND key > ?4 AND substr(key, 1, length(?2)) = ?2 AND modified < ?3
                 ORDER BY key LIMIT ?5",
                params![bucket, prefix, modified_before, after, limit as i64],
                |r| r.get(0).map_err(db),
            )
        })
        .await
    }

    async fn expire_object(
        &self,
        bucket: &str,
        key: &str,
        modified_before: Millis,
        now: Millis,
        events: &[ferry_core::events::NewEvent],
    ) -> Result<bool> {
        let (bucket, key, events) = (bucket.to_string(), key.to_string(), events.to_vec());
        self.write(move |tx| {
            if !super::objects::remove_if_older(tx, &bucket, &key, Some(modified_before), now)? {
                return Ok(false);
            }
            super::events::enqueue(tx, &events)?;
            Ok(true)
        })
        .await
    }
}
