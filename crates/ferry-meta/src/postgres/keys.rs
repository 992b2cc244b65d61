//! Access keys (see `ferry_core::keys`): one row each, grants as JSON text.

use async_trait::async_trait;
use ferry_core::access::Grant;
use ferry_core::keys::{KeyRecord, KeyStore, grants_from_json, grants_to_json};
use ferry_core::{Error, Millis, Result};

use super::PostgresMetaStore;

#[async_trait]
impl KeyStore for PostgresMetaStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<()> {
        let grants = grants_to_json(&key.grants);
        let n = self
            .execute(
                "INSERT INTO access_keys (access_key_id, name, secret, created, last_used, enabled, grants)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &key.access_key_id,
                    &key.name,
                    &key.sealed_secret,
                    &key.created,
                    &key.last_used,
                    &key.enabled,
                    &grants,
                ],
            )
            .await?;
        if n == 0 {
            return Err(Error::InvalidArgument(format!("a key named {:?} already exists", key.name)));
        }
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let rows = self
            .query(
                "SELECT access_key_id, name, secret, created, last_used, enabled, grants
                 FROM access_keys ORDER BY name",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyRecord {
                    access_key_id: r.get(0),
                    name: r.get(1),
                    sealed_secret: r.get(2),
                    created: r.get(3),
                    last_used: r.get(4),
                    enabled: r.get(5),
                    grants: grants_from_json(r.get(6))?,
                })
            })
            .collect()
    }

    async fn update_key(&self, access_key_id: &str, grants: &[Grant], enabled: bool) -> Result<bool> {
        let grants = grants_to_json(grants);
        let n = self
            .execute(
                "UPDATE access_keys SET grants = $2, enabled = $3 WHERE access_key_id = $1",
                &[&access_key_id, &grants, &enabled],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_key(&self, access_key_id: &str) -> Result<bool> {
        let n = self.execute("DELETE FROM access_keys WHERE access_key_id = $1", &[&access_key_id]).await?;
        Ok(n == 1)
    }

    async fn touch_keys(&self, access_key_ids: &[String], now: Millis) -> Result<()> {
        self.execute(
            "UPDATE access_keys SET last_used = $2
             WHERE access_key_id = ANY($1) AND (last_used IS NULL OR last_used < $2)",
            &[&access_key_ids, &now],
        )
        .await?;
        Ok(())
    }
}
