//! Event notifications: a bucket's configuration, which events a change emits, and the outbox
//! calls the server's delivery worker makes.
//!
//! Which events a change emits is decided here, at write time, from the bucket's configuration
//! as it is when the change is made, and the store queues them in the change's own transaction
//! (see [`crate::events`]). Deciding at write time rather than at delivery time means the
//! outbox only ever holds rows someone asked for (a bucket without a configuration costs one
//! read per write and no row), each row already names its target and the configuration `Id`
//! that matched, and a configuration changed later does not rewrite the history of events
//! already queued — as S3 behaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Engine;
use crate::error::{Error, Result};
use crate::events::{
    DeleteCause, EventFacts, EventKind, NewEvent, NotificationConfig, OutboxCounts, OutboxEvent, is_known_event,
};
use crate::types::{Millis, random_id};

/// S3's answer when a configuration names a destination it cannot use.
pub const UNKNOWN_DESTINATION: &str = "Unable to validate the following destination configurations";

impl Engine {
    /// The names of the notification targets the server delivers to (`ferry serve --notify
    /// NAME=URL`); a bucket configuration may only name these.
    pub fn with_event_targets(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.event_targets = Arc::new(names.into_iter().collect());
        self
    }

    /// Whether `name` is a configured notification target.
    pub fn has_event_target(&self, name: &str) -> bool {
        self.event_targets.contains(name)
    }

    /// The bucket's notification configuration (empty when it has none). `NoSuchBucket` when
    /// absent.
    pub async fn bucket_notification(&self, bucket: &str) -> Result<NotificationConfig> {
        self.bucket(bucket).await?;
        Ok(self.meta.get_notification(bucket).await?.unwrap_or_default())
    }

    /// Replace the bucket's notification configuration; an empty one removes it. Every
    /// destination must name a configured target (else `InvalidArgument` with S3's "Unable to
    /// validate the following destination configurations") and list at least one known event
    /// (else `InvalidArgument`). Destinations without an `Id` get one. Allowed on the table
    /// bucket too (for `ferry:TableCommit`): it changes no data.
    pub async fn put_bucket_notification(&self, bucket: &str, mut config: NotificationConfig) -> Result<()> {
        self.bucket(bucket).await?;
        let mut ids = std::collections::BTreeSet::new();
        for queue in &mut config.queues {
            if !self.has_event_target(&queue.target) {
                return Err(Error::InvalidArgument(format!("{UNKNOWN_DESTINATION}: {}", queue.arn)));
            }
            if queue.events.is_empty() {
                return Err(Error::InvalidArgument(format!("the destination {} names no event", queue.arn)));
            }
            if let Some(bad) = queue.events.iter().find(|e| !is_known_event(e)) {
                return Err(Error::InvalidArgument(format!("The event is not supported for notifications: {bad}")));
            }
            if queue.id.is_empty() {
                queue.id = random_id();
            }
            if !ids.insert(queue.id.clone()) {
                return Err(Error::InvalidArgument(format!("the configuration id {} is used twice", queue.id)));
            }
        }
        self.meta.put_notification(bucket, &config).await
    }

    /// The events a change of `kind` on (bucket, key) emits under the bucket's configuration:
    /// one per target whose destination wants it (two destinations naming the same target
    /// deliver once, with the first one's `Id`).
    pub(crate) async fn events_for(&self, change: Change<'_>) -> Result<Vec<NewEvent>> {
        let Some(config) = self.meta.get_notification(change.bucket).await? else { return Ok(Vec::new()) };
        let mut events: Vec<NewEvent> = Vec::new();
        for queue in config.queues.iter().filter(|q| q.wants(change.kind, change.key)) {
            if events.iter().any(|e| e.target == queue.target) {
                continue;
            }
            events.push(NewEvent {
                id: random_id(),
                target: queue.target.clone(),
                facts: EventFacts {
                    kind: change.kind,
                    bucket: change.bucket.to_string(),
                    key: change.key.to_string(),
                    config_id: queue.id.clone(),
                    size: change.size,
                    etag: change.etag.to_string(),
                    time: change.time,
                    sequencer: sequencer(),
                    detail: change.detail.clone(),
                },
            });
        }
        Ok(events)
    }

    /// Delete an object for `cause`, emitting `ObjectRemoved:Delete` for a client's request or
    /// `LifecycleExpiration:Delete` for a lifecycle rule, in the delete's own transaction.
    /// Deleting a missing key succeeds (`Ok(false)`) and emits nothing. `NoSuchBucket`;
    /// `AccessDenied` in the table bucket.
    ///
    /// Lifecycle expiration does not come through here: `Engine::expire_object` deletes only
    /// objects still older than the rule's cut-off, and queues `LifecycleExpiration:Delete` itself.
    pub async fn delete_object_as(&self, bucket: &str, key: &str, cause: DeleteCause) -> Result<bool> {
        self.refuse_table_bucket(bucket)?;
        self.bucket(bucket).await?;
        let change = Change::new(cause.kind(), bucket, key, 0, "", crate::types::now_millis());
        let events = self.events_for(change).await?;
        self.freeing("a delete", || self.meta.delete_object_notify(bucket, key, &events)).await
    }

    /// Claim outbox rows for delivery by `holder` (see [`crate::EventStore::claim_events`]).
    pub async fn claim_events(
        &self,
        holder: &str,
        now: Millis,
        lease: Millis,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>> {
        self.meta.claim_events(holder, now, lease, limit).await
    }

    /// A delivered row leaves the outbox.
    pub async fn event_delivered(&self, id: &str) -> Result<bool> {
        self.meta.event_delivered(id).await
    }

    /// A failed attempt: due again at `retry_at`, or a dead letter with `None`.
    pub async fn event_failed(&self, id: &str, holder: &str, error: &str, retry_at: Option<Millis>) -> Result<bool> {
        self.meta.event_failed(id, holder, error, retry_at).await
    }

    /// Outbox rows, oldest first (only dead letters when `failed_only`).
    pub async fn list_events(&self, failed_only: bool, limit: usize) -> Result<Vec<OutboxEvent>> {
        self.meta.list_events(failed_only, limit).await
    }

    /// Dead letters back to pending (`ids` empty: all of them). Returns how many.
    pub async fn retry_events(&self, ids: &[String]) -> Result<u64> {
        self.meta.retry_events(ids, crate::types::now_millis()).await
    }

    /// Outbox rows waiting, by state.
    pub async fn count_events(&self) -> Result<OutboxCounts> {
        self.meta.count_events().await
    }
}

/// One change that may emit events.
pub(crate) struct Change<'a> {
    pub kind: EventKind,
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: u64,
    pub etag: &'a str,
    pub time: Millis,
    pub detail: Option<serde_json::Value>,
}

impl<'a> Change<'a> {
    pub fn new(kind: EventKind, bucket: &'a str, key: &'a str, size: u64, etag: &'a str, time: Millis) -> Self {
        Change { kind, bucket, key, size, etag, time, detail: None }
    }

    /// The change that publishing `object` by `kind` makes.
    pub fn published(kind: EventKind, object: &'a crate::types::ObjectRecord) -> Self {
        Change::new(kind, &object.bucket, &object.key, object.size, &object.etag, object.modified)
    }
}

/// A fixed-width hex number that grows with every call in this process and with the clock
/// across processes, so a later change of a key has a greater sequencer (S3's contract).
fn sequencer() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return format!("{next:016X}"),
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_grow() {
        let a = sequencer();
        let b = sequencer();
        assert_eq!(a.len(), 16);
        assert!(b > a, "{b} > {a}");
    }
}
