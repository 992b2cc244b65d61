//! Notification configurations and the event outbox. The outbox rows of a change are written
//! inside the change's own transaction (see `objects`); nodes claim rows with
//! `FOR UPDATE SKIP LOCKED`, so two nodes polling at once take different rows.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use ferry_core::events::{EventStore, NewEvent, NotificationConfig, OutboxCounts, OutboxEvent};
use ferry_core::{CommitRecord, Error, Millis, ObjectRecord, Result, WriteCondition};
use tokio_postgres::Row;

use super::{PostgresMetaStore, db, objects};
use crate::outbox::{self, OUTBOX_COLUMNS};

/// Queue `events` in the caller's transaction (one statement for all of them).
pub(super) async fn enqueue(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut targets = Vec::new();
    let mut facts = Vec::new();
    let mut created = Vec::new();
    let mut seqs = Vec::new();
    for event in events {
        let (id, target, f, c, seq) = outbox::new_row(event)?;
        ids.push(id);
        targets.push(target);
        facts.push(f);
        created.push(c);
        seqs.push(seq);
    }
    tx.execute(
        "INSERT INTO event_outbox (id, target, facts, next_attempt, created, seq)
         SELECT i, t, f, c, c, s FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[])
           AS u(i, t, f, c, s)",
        &[&ids, &targets, &facts, &created, &seqs],
    )
    .await
    .map_err(db)?;
    Ok(())
}

fn event_row(r: &Row) -> Result<OutboxEvent> {
    outbox::event(
        r.try_get(0).map_err(db)?,
        r.try_get(1).map_err(db)?,
        r.try_get::<_, &str>(2).map_err(db)?,
        r.try_get::<_, &str>(3).map_err(db)?,
        r.try_get(4).map_err(db)?,
        r.try_get(5).map_err(db)?,
        r.try_get(6).map_err(db)?,
        r.try_get(7).map_err(db)?,
    )
}

#[async_trait]
impl EventStore for PostgresMetaStore {
    async fn get_notification(&self, bucket: &str) -> Result<Option<NotificationConfig>> {
        let row = self.query_opt("SELECT config FROM bucket_notifications WHERE bucket = $1", &[&bucket]).await?;
        row.map(|r| outbox::config(bucket, r.get::<_, &str>(0))).transpose()
    }

    async fn put_notification(&self, bucket: &str, config: &NotificationConfig) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // Held against a concurrent bucket delete until this transaction ends.
        if tx.query_opt("SELECT 1 FROM buckets WHERE name = $1 FOR SHARE", &[&bucket]).await.map_err(db)?.is_none() {
            return Err(Error::NoSuchBucket);
        }
        if config.queues.is_empty() {
            tx.execute("DELETE FROM bucket_notifications WHERE bucket = $1", &[&bucket]).await.map_err(db)?;
        } else {
            tx.execute(
                "INSERT INTO bucket_notifications (bucket, config) VALUES ($1, $2)
                 ON CONFLICT (bucket) DO UPDATE SET config = excluded.config",
                &[&bucket, &crate::json(config)?],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn publish_notify(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
        events: &[NewEvent],
    ) -> Result<()> {
        objects::publish(self, session, objects, commit, condition, events).await
    }

    async fn put_object_notify(
        &self,
        object: &ObjectRecord,
        condition: Option<&WriteCondition>,
        events: &[NewEvent],
    ) -> Result<()> {
        objects::put(self, object, condition, events).await
    }

    async fn delete_object_notify(&self, bucket: &str, key: &str, events: &[NewEvent]) -> Result<bool> {
        objects::delete(self, bucket, key, events).await
    }

    async fn claim_events(&self, holder: &str, now: Millis, lease: Millis, limit: usize) -> Result<Vec<OutboxEvent>> {
        let sql = format!(
            "UPDATE event_outbox SET claimed_by = $1, claim_until = $2
             WHERE id IN (SELECT id FROM event_outbox
                          WHERE state = 'PENDING' AND next_attempt <= $3 AND (claim_until <= $3 OR claimed_by = $1)
                          ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING {OUTBOX_COLUMNS}"
        );
        let rows = self.query(&sql, &[&holder, &(now + lease), &now, &(limit as i64)]).await?;
        let mut claimed: Vec<OutboxEvent> = rows.iter().map(event_row).collect::<Result<_>>()?;
        // RETURNING keeps no order.
        claimed.sort_by(|a, b| a.facts.sequencer.cmp(&b.facts.sequencer));
        Ok(claimed)
    }

    async fn event_delivered(&self, id: &str) -> Result<bool> {
        Ok(self.execute("DELETE FROM event_outbox WHERE id = $1", &[&id]).await? == 1)
    }

    async fn event_failed(&self, id: &str, holder: &str, error: &str, retry_at: Option<Millis>) -> Result<bool> {
        let changed = self
            .execute(
                "UPDATE event_outbox SET attempts = attempts + 1, last_error = $3, claimed_by = NULL,
                    claim_until = 0, next_attempt = COALESCE($4, next_attempt),
                    state = CASE WHEN $4::BIGINT IS NULL THEN 'FAILED' ELSE 'PENDING' END
                 WHERE id = $1 AND claimed_by = $2",
                &[&id, &holder, &error, &retry_at],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn list_events(&self, failed_only: bool, limit: usize) -> Result<Vec<OutboxEvent>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM event_outbox WHERE (NOT $1 OR state = 'FAILED') ORDER BY seq LIMIT $2"
        );
        self.query(&sql, &[&failed_only, &(limit as i64)]).await?.iter().map(event_row).collect()
    }

    async fn retry_events(&self, ids: &[String], now: Millis) -> Result<u64> {
        self.execute(
            "UPDATE event_outbox SET state = 'PENDING', attempts = 0, next_attempt = $2, claimed_by = NULL,
                claim_until = 0
             WHERE state = 'FAILED' AND (cardinality($1::TEXT[]) = 0 OR id = ANY ($1))",
            &[&ids, &now],
        )
        .await
    }

    async fn count_events(&self) -> Result<OutboxCounts> {
        let rows = self.query("SELECT state, count(*) FROM event_outbox GROUP BY state", &[]).await?;
        let mut counts = OutboxCounts::default();
        for r in rows {
            let n = r.try_get::<_, i64>(1).map_err(db)? as u64;
            match r.try_get::<_, &str>(0).map_err(db)? {
                "FAILED" => counts.failed += n,
                _ => counts.pending += n,
            }
        }
        Ok(counts)
    }
}
