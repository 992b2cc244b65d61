//! Notification configurations and the event outbox. The outbox rows of a change are written
//! inside the change's own immediate transaction (the object statements are `objects`').

use async_trait::async_trait;
use ferry_core::events::{EventStore, NewEvent, NotificationConfig, OutboxCounts, OutboxEvent};
use ferry_core::{CommitRecord, Error, Millis, ObjectRecord, Result, WriteCondition};
use rusqlite::{Connection, Row, Transaction, params};

use super::{SqliteMetaStore, db, objects, query_all, query_first};
use crate::outbox::{self, OUTBOX_COLUMNS};

/// Queue `events` in the caller's transaction.
pub(super) fn enqueue(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO event_outbox (id, target, facts, next_attempt, created, seq) VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        )
        .map_err(db)?;
    for event in events {
        let (id, target, facts, created, seq) = outbox::new_row(event)?;
        stmt.execute(params![id, target, facts, created, seq]).map_err(db)?;
    }
    Ok(())
}

fn event_row(r: &Row<'_>) -> Result<OutboxEvent> {
    outbox::event(
        r.get(0).map_err(db)?,
        r.get(1).map_err(db)?,
        &r.get::<_, String>(2).map_err(db)?,
        &r.get::<_, String>(3).map_err(db)?,
        r.get(4).map_err(db)?,
        r.get(5).map_err(db)?,
        r.get(6).map_err(db)?,
        r.get(7).map_err(db)?,
    )
}

fn get_config(conn: &Connection, bucket: &str) -> Result<Option<NotificationConfig>> {
    let text: Option<String> =
        query_first(conn, "SELECT config FROM bucket_notifications WHERE bucket = ?1", [bucket], |r| {
            r.get(0).map_err(db)
        })?;
    text.map(|t| outbox::config(bucket, &t)).transpose()
}

/// Remove the bucket's configuration (with the bucket).
pub(super) fn forget_bucket(tx: &Transaction<'_>, bucket: &str) -> Result<()> {
    tx.execute("DELETE FROM bucket_notifications WHERE bucket = ?1", [bucket]).map_err(db)?;
    Ok(())
}

#[async_trait]
impl EventStore for SqliteMetaStore {
    async fn get_notification(&self, bucket: &str) -> Result<Option<NotificationConfig>> {
        let bucket = bucket.to_string();
        self.with(move |conn| get_config(conn, &bucket)).await
    }

    async fn put_notification(&self, bucket: &str, config: &NotificationConfig) -> Result<()> {
        let (bucket, config) = (bucket.to_string(), config.clone());
        self.write(move |tx| {
            if !objects::bucket_exists(tx, &bucket)? {
                return Err(Error::NoSuchBucket);
            }
            if config.queues.is_empty() {
                return forget_bucket(tx, &bucket);
            }
            tx.execute(
                "INSERT INTO bucket_notifications (bucket, config) VALUES (?1, ?2)
                 ON CONFLICT (bucket) DO UPDATE SET config = excluded.config",
                params![bucket, crate::json(&config)?],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn publish_notify(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
        events: &[NewEvent],
    ) -> Result<()> {
        let (session, objects, commit, condition, events) =
            (session.to_string(), objects.to_vec(), commit.clone(), condition.cloned(), events.to_vec());
        self.write(move |tx| {
            objects::publish(tx, &session, &objects, &commit, condition.as_ref())?;
            enqueue(tx, &events)
        })
        .await
    }

    async fn put_object_notify(
        &self,
        object: &ObjectRecord,
        condition: Option<&WriteCondition>,
        events: &[NewEvent],
    ) -> Result<()> {
        let (object, condition, events) = (object.clone(), condition.cloned(), events.to_vec());
        self.write(move |tx| {
            objects::insert(tx, &object, condition.as_ref())?;
            enqueue(tx, &events)
        })
        .await
    }

    async fn delete_object_notify(&self, bucket: &str, key: &str, events: &[NewEvent]) -> Result<bool> {
        let (bucket, key, events) = (bucket.to_string(), key.to_string(), events.to_vec());
        self.write(move |tx| {
            let removed = objects::remove(tx, &bucket, &key, ferry_core::now_millis())?;
            if removed {
                enqueue(tx, &events)?;
            }
            Ok(removed)
        })
        .await
    }

    async fn claim_events(&self, holder: &str, now: Millis, lease: Millis, limit: usize) -> Result<Vec<OutboxEvent>> {
        let holder = holder.to_string();
        // The immediate transaction holds SQLite's write lock: no other caller can claim the
        // same rows between the select and the update.
        self.write(move |tx| {
            let due = query_all(
                tx,
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM event_outbox
                     WHERE state = 'PENDING' AND next_attempt <= ?1 AND (claim_until <= ?1 OR claimed_by = ?3)
                     ORDER BY seq LIMIT ?2"
                ),
                params![now, limit as i64, holder],
                event_row,
            )?;
            let mut stmt = tx
                .prepare_cached("UPDATE event_outbox SET claimed_by = ?2, claim_until = ?3 WHERE id = ?1")
                .map_err(db)?;
            for event in &due {
                stmt.execute(params![event.id, holder, now + lease]).map_err(db)?;
            }
            Ok(due)
        })
        .await
    }

    async fn event_delivered(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx| Ok(tx.execute("DELETE FROM event_outbox WHERE id = ?1", [id]).map_err(db)? == 1)).await
    }

    async fn event_failed(&self, id: &str, holder: &str, error: &str, retry_at: Option<Millis>) -> Result<bool> {
        let (id, holder, error) = (id.to_string(), holder.to_string(), error.to_string());
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE event_outbox SET attempts = attempts + 1, last_error = ?3, claimed_by = NULL,
                        claim_until = 0, next_attempt = COALESCE(?4, next_attempt),
                        state = CASE WHEN ?4 IS NULL THEN 'FAILED' ELSE 'PENDING' END
                     WHERE id = ?1 AND claimed_by = ?2",
                    params![id, holder, error, retry_at],
                )
                .map_err(db)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn list_events(&self, failed_only: bool, limit: usize) -> Result<Vec<OutboxEvent>> {
        self.with(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM event_outbox WHERE (?1 = 0 OR state = 'FAILED') ORDER BY seq LIMIT ?2"
                ),
                params![failed_only, limit as i64],
                event_row,
            )
        })
        .await
    }

    async fn retry_events(&self, ids: &[String], now: Millis) -> Result<u64> {
        let ids = ids.to_vec();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE event_outbox SET state = 'PENDING', attempts = 0, next_attempt = ?2, claimed_by = NULL,
                        claim_until = 0
                     WHERE state = 'FAILED' AND (?1 = '[]' OR id IN (SELECT value FROM json_each(?1)))",
                    params![crate::json(&ids)?, now],
                )
                .map_err(db)?;
            Ok(changed as u64)
        })
        .await
    }

    async fn count_events(&self) -> Result<OutboxCounts> {
        self.with(|conn| {
            let rows: Vec<(String, i64)> =
                query_all(conn, "SELECT state, COUNT(*) FROM event_outbox GROUP BY state", [], |r| {
                    Ok((r.get(0).map_err(db)?, r.get(1).map_err(db)?))
                })?;
            let mut counts = OutboxCounts::default();
            for (state, n) in rows {
                match state.as_str() {
                    "FAILED" => counts.failed += n as u64,
                    _ => counts.pending += n as u64,
                }
            }
            Ok(counts)
        })
        .await
    }
}
