//! Access keys (see `ferry_core::keys`): one row each, grants as JSON text.

use async_trait::async_trait;
use ferry_core::access::Grant;
use ferry_core::keys::{KeyRecord, KeyStore, grants_from_json, grants_to_json};
use ferry_core::{Error, Millis, Result};
use rusqlite::{OptionalExtension, params};

use super::{SqliteMetaStore, db};

#[async_trait]
impl KeyStore for SqliteMetaStore {
    async fn insert_key(&self, key: &KeyRecord) -> Result<()> {
        let key = key.clone();
        self.write(move |tx| {
            let taken: Option<String> = tx
                .query_row(
                    "SELECT name FROM access_keys WHERE name = ?1 OR access_key_id = ?2",
                    params![key.name, key.access_key_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if taken.is_some() {
                return Err(Error::InvalidArgument(format!("a key named {:?} already exists", key.name)));
            }
            tx.execute(
                "INSERT INTO access_keys (access_key_id, name, secret, created, last_used, enabled, grants)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.access_key_id,
                    key.name,
                    key.sealed_secret,
                    key.created,
                    key.last_used,
                    key.enabled,
                    grants_to_json(&key.grants)
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        self.with(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT access_key_id, name, secret, created, last_used, enabled, grants
                     FROM access_keys ORDER BY name",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Millis>(3)?,
                        r.get::<_, Option<Millis>>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (access_key_id, name, sealed_secret, created, last_used, enabled, grants) = row.map_err(db)?;
                let grants = grants_from_json(&grants)?;
                out.push(KeyRecord { access_key_id, name, sealed_secret, created, last_used, enabled, grants });
            }
            Ok(out)
        })
        .await
    }

    async fn update_key(&self, access_key_id: &str, grants: &[Grant], enabled: bool) -> Result<bool> {
        let (id, grants) = (access_key_id.to_string(), grants_to_json(grants));
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE access_keys SET grants = ?2, enabled = ?3 WHERE access_key_id = ?1",
                    params![id, grants, enabled],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_key(&self, access_key_id: &str) -> Result<bool> {
        let id = access_key_id.to_string();
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM access_keys WHERE access_key_id = ?1", params![id]).map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn touch_keys(&self, access_key_ids: &[String], now: Millis) -> Result<()> {
        let ids = access_key_ids.to_vec();
        self.write(move |tx| {
            for id in ids {
                tx.execute(
                    "UPDATE access_keys SET last_used = ?2
                     WHERE access_key_id = ?1 AND (last_used IS NULL OR last_used < ?2)",
                    params![id, now],
                )
                .map_err(db)?;
            }
            Ok(())
        })
        .await
    }
}
