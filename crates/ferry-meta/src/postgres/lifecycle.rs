//! Bucket lifecycle rules (one JSON row per bucket), and the queries the engine applies them
//! with: uploads started and objects modified before a rule's cut-off, and the conditional
//! delete that expires an object.

use async_trait::async_trait;
use ferry_core::lifecycle::{LifecycleConfiguration, LifecycleStore};
use ferry_core::{Error, Millis, Result};

use super::{PostgresMetaStore, db};
use crate::json;

fn parse(bucket: &str, text: &str) -> Result<LifecycleConfiguration> {
    serde_json::from_str(text).map_err(|e| Error::Meta(format!("lifecycle rules of bucket {bucket}: {e}")))
}

#[async_trait]
impl LifecycleStore for PostgresMetaStore {
    async fn put_lifecycle(&self, bucket: &str, config: &LifecycleConfiguration, now: Millis) -> Result<()> {
        let rules = json(config)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // FOR SHARE holds off a concurrent bucket delete until the rules are in (its trigger then
        // removes them), so rules never outlive their bucket.
        if tx.query_opt("SELECT 1 FROM buckets WHERE name = $1 FOR SHARE", &[&bucket]).await.map_err(db)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        tx.execute(
            "INSERT INTO bucket_lifecycle (bucket, rules, updated) VALUES ($1, $2, $3)
             ON CONFLICT (bucket) DO UPDATE SET rules = excluded.rules, updated = excluded.updated",
            &[&bucket, &rules, &now],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_lifecycle(&self, bucket: &str) -> Result<Option<LifecycleConfiguration>> {
        let row = self.query_opt("SELECT rules FROM bucket_lifecycle WHERE bucket = $1", &[&bucket]).await?;
        row.map(|r| parse(bucket, r.get(0))).transpose()
    }

    async fn delete_lifecycle(&self, bucket: &str) -> Result<bool> {
        Ok(self.execute("DELETE FROM bucket_lifecycle WHERE bucket = $1", &[&bucket]).await? > 0)
    }

    async fn lifecycle_buckets(&self) -> Result<Vec<(String, LifecycleConfiguration)>> {
        let rows = self.query("SELECT bucket, rules FROM bucket_lifecycle ORDER BY bucket", &[]).await?;
        rows.iter()
            .map(|r| {
                let bucket: String = r.get(0);
                parse(&bucket, r.get(1)).map(|c| (bucket, c))
            })
            .collect()
    }

    async fn uploads_created_before(
        &self,
        bucket: &str,
        prefix: &str,
        created_before: Millis,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        if prefix.contains('\0') || after.contains('\0') {
            return Ok(Vec::new()); // no key holds NUL, and PostgreSQL text cannot
        }
        let rows = self
            .query(
                "SELECT id FROM sessions
                 WHERE bucket = $1 AND state = 'NORMAL' AND target_kind = 'object'
                   AND starts_with(key, $2) AND created < $3 AND id > $4
                 ORDER BY id LIMIT $5",
                &[&bucket, &prefix, &created_before, &after, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn objects_modified_before(
        &self,
        bucket: &str,
        prefix: &str,
        modified_before: Millis,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        if prefix.contains('\0') || after.contains('\0') {
            return Ok(Vec::new());
        }
        let rows = self
            .query(
                "SELECT key FROM objects
                 WHERE bucket = $1 AND key > $4 AND starts_with(key, $2) AND modified < $3
                 ORDER BY key LIMIT $5",
                &[&bucket, &prefix, &modified_before, &after, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn expire_object(
        &self,
        bucket: &str,
        key: &str,
        modified_before: Millis,
        now: Millis,
        events: &[ferry_core::events::NewEvent],
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // The key's writers (puts, commits, deletes on any node) serialize on this lock, so the
        // age check and the delete see the last writer's commit.
        super::objects::lock_key(&tx, bucket, key).await?;
        if !super::objects::remove_if_older(&tx, bucket, key, Some(modified_before), now).await? {
            return Ok(false);
        }
        super::events::enqueue(&tx, events).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
