//! Event notifications: what a bucket asks to hear about (its [`NotificationConfig`]), the
//! events a change emits, and the durable outbox they wait in until delivered.
//!
//! The outbox is written in the same metadata transaction as the change that causes the event
//! ([`EventStore::put_object_notify`], [`EventStore::publish_notify`],
//! [`EventStore::delete_object_notify`]): an acknowledged write always has its events queued, and
//! a write that rolled back never has. Delivery (HTTP, signatures) is the server's business; the
//! store only hands rows out under a claim ([`EventStore::claim_events`]) so that two nodes never
//! deliver the same row at once, and a row claimed by a node that died is handed out again once
//! the claim has run out.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::conditions::WriteCondition;
use crate::error::Result;
use crate::types::{CommitRecord, Millis, ObjectRecord};

/// The event name a bucket configures for Tunnel table commits.
pub const TABLE_COMMIT: &str = "ferry:TableCommit";

/// What happened to an object (or a table partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A single-request upload (S3/OSS PutObject, US3 PutFile).
    Put,
    /// A browser form upload.
    Post,
    /// A server-side copy.
    Copy,
    /// A multipart (or US3 block) upload was committed.
    CompleteMultipartUpload,
    /// A client deleted the object.
    Delete,
    /// A lifecycle rule expired the object.
    LifecycleExpiration,
    /// A Tunnel upload session was committed into a table partition.
    TableCommit,
}

impl EventKind {
    /// Every kind, for validation and documentation.
    pub const ALL: [EventKind; 7] = [
        EventKind::Put,
        EventKind::Post,
        EventKind::Copy,
        EventKind::CompleteMultipartUpload,
        EventKind::Delete,
        EventKind::LifecycleExpiration,
        EventKind::TableCommit,
    ];

    /// The record's `eventName`, as S3 writes it (without the `s3:` prefix of the
    /// configuration): `ObjectCreated:Put`, `ObjectRemoved:Delete`,
    /// `LifecycleExpiration:Delete`, and ferry's own `TableCommit`.
    pub fn record_name(self) -> &'static str {
        match self {
            EventKind::Put => "ObjectCreated:Put",
            EventKind::Post => "ObjectCreated:Post",
            EventKind::Copy => "ObjectCreated:Copy",
            EventKind::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
            EventKind::Delete => "ObjectRemoved:Delete",
            EventKind::LifecycleExpiration => "LifecycleExpiration:Delete",
            EventKind::TableCommit => "TableCommit",
        }
    }

    /// The name a configuration uses for exactly this kind (`s3:ObjectCreated:Put`,
    /// `ferry:TableCommit`).
    pub fn config_name(self) -> String {
        match self {
            EventKind::TableCommit => TABLE_COMMIT.to_string(),
            other => format!("s3:{}", other.record_name()),
        }
    }

    /// Whether the configured event `pattern` (exact, or a family wildcard such as
    /// `s3:ObjectCreated:*`) covers this kind.
    pub fn matches(self, pattern: &str) -> bool {
        if pattern == self.config_name() {
            return true;
        }
        match pattern.strip_suffix('*') {
            // Only a family (`s3:ObjectCreated:*`), never a bare `*`.
            Some(family) if family.ends_with(':') && self != EventKind::TableCommit => {
                self.config_name().starts_with(family)
            }
            _ => false,
        }
    }
}

/// Whether `pattern` is an event name a configuration may use: one of the kinds' names or a
/// family wildcard (`s3:ObjectCreated:*`, `s3:ObjectRemoved:*`, `s3:LifecycleExpiration:*`).
pub fn is_known_event(pattern: &str) -> bool {
    match pattern {
        "s3:ObjectCreated:*" | "s3:ObjectRemoved:*" | "s3:LifecycleExpiration:*" => true,
        p => EventKind::ALL.iter().any(|k| k.config_name() == p),
    }
}

/// Why an object was removed: decides whether the event is `ObjectRemoved:Delete` or
/// `LifecycleExpiration:Delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteCause {
    /// A client asked for the delete (any dialect).
    Request,
    /// A lifecycle rule expired the object (the sweeper).
    LifecycleExpiration,
}

impl DeleteCause {
    pub fn kind(self) -> EventKind {
        match self {
            DeleteCause::Request => EventKind::Delete,
            DeleteCause::LifecycleExpiration => EventKind::LifecycleExpiration,
        }
    }
}

/// A bucket's notification configuration: where which events go. Empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationConfig {
    pub queues: Vec<QueueConfig>,
}

/// One destination of a bucket's events (S3's `QueueConfiguration`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// The configuration's `Id` (generated when the client gave none); events carry it as
    /// `configurationId`.
    pub id: String,
    /// The destination exactly as the client wrote it, to answer it back.
    pub arn: String,
    /// The server-side target the ARN names (`ferry serve --notify NAME=URL`).
    pub target: String,
    /// Configured event names (see [`is_known_event`]).
    pub events: Vec<String>,
    /// Only keys starting with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only keys ending with this.
    #[serde(default)]
    pub suffix: Option<String>,
}

impl QueueConfig {
    /// Whether an event of `kind` on `key` goes to this destination.
    pub fn wants(&self, kind: EventKind, key: &str) -> bool {
        self.events.iter().any(|e| kind.matches(e))
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}

/// What happened, as an outbox row records it; the server renders it as an S3 event record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFacts {
    pub kind: EventKind,
    pub bucket: String,
    /// The object key; for a table commit the partition's data prefix in the table bucket.
    pub key: String,
    /// The `Id` of the configuration that matched.
    pub config_id: String,
    /// Bytes published (0 for removals).
    pub size: u64,
    /// The object's ETag without quotes ("" for removals).
    pub etag: String,
    /// When the change was made.
    pub time: Millis,
    /// Orders events on one key: a later change has a greater sequencer (hex, fixed width).
    pub sequencer: String,
    /// What else a table commit tells (project, table, partition, files); `None` for objects.
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

/// An event to queue for one target, written with the change that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Unique id of the delivery (the receiver's dedup key).
    pub id: String,
    /// The server-side target to deliver to.
    pub target: String,
    pub facts: EventFacts,
}

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// Gave up after the configured attempts: a dead letter, kept until retried.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Failed => "failed",
        }
    }
}

/// An outbox row as the store hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: String,
    pub target: String,
    pub facts: EventFacts,
    pub state: OutboxState,
    /// Delivery attempts that failed so far.
    pub attempts: u32,
    /// Not handed out before this time.
    pub next_attempt: Millis,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created: Millis,
}

/// How many outbox rows wait, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub failed: u64,
}

/// Notification configurations and the event outbox. Part of every [`crate::MetaStore`].
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// The bucket's configuration; `None` when it has none. Does not check the bucket exists.
    async fn get_notification(&self, bucket: &str) -> Result<Option<NotificationConfig>>;
    /// Replace the bucket's configuration; an empty one removes it. `NoSuchBucket` when the
    /// bucket is missing. Deleting the bucket deletes its configuration.
    async fn put_notification(&self, bucket: &str, config: &NotificationConfig) -> Result<()>;

    /// [`crate::MetaStore::publish_if`], queueing `events` in the same transaction.
    async fn publish_notify(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
        events: &[NewEvent],
    ) -> Result<()>;
    /// [`crate::MetaStore::put_object_if`], queueing `events` in the same transaction.
    async fn put_object_notify(
        &self,
        object: &ObjectRecord,
        condition: Option<&WriteCondition>,
        events: &[NewEvent],
    ) -> Result<()>;
    /// [`crate::MetaStore::delete_object`], queueing `events` in the same transaction, but only
    /// when an object was deleted (`Ok(true)`).
    async fn delete_object_notify(&self, bucket: &str, key: &str, events: &[NewEvent]) -> Result<bool>;

    /// Claim at most `limit` pending rows due by `now` and not claimed by anyone else (or whose
    /// claim ran out), oldest first, for `holder` until `now + lease`. While claimed, no other
    /// holder gets them; `holder`'s own claims are handed to it again (a node restarted under
    /// the same name takes its rows back at once), so a holder must settle every row it claimed
    /// before claiming more.
    async fn claim_events(&self, holder: &str, now: Millis, lease: Millis, limit: usize) -> Result<Vec<OutboxEvent>>;
    /// Remove a delivered row (whoever holds its claim). `Ok(false)` when it was gone already.
    async fn event_delivered(&self, id: &str) -> Result<bool>;
    /// Record a failed attempt of `holder`'s claim: the attempt count grows, the claim is
    /// released, and the row is due again at `retry_at`, or becomes a dead letter
    /// ([`OutboxState::Failed`]) with `None`. `Ok(false)` when the row is gone or another
    /// holder claimed it since.
    async fn event_failed(&self, id: &str, holder: &str, error: &str, retry_at: Option<Millis>) -> Result<bool>;
    /// Rows oldest first, only dead letters when `failed_only`, at most `limit`.
    async fn list_events(&self, failed_only: bool, limit: usize) -> Result<Vec<OutboxEvent>>;
    /// Make dead letters pending again, due at `now` with no attempts counted; `ids` empty means
    /// every dead letter. Returns how many.
    async fn retry_events(&self, ids: &[String], now: Millis) -> Result<u64>;
    /// How many rows wait, by state.
    async fn count_events(&self) -> Result<OutboxCounts>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_their_family_only() {
        assert!(EventKind::Put.matches("s3:ObjectCreated:*"));
        assert!(EventKind::CompleteMultipartUpload.matches("s3:ObjectCreated:CompleteMultipartUpload"));
        assert!(!EventKind::Put.matches("s3:ObjectCreated:Copy"));
        assert!(EventKind::Delete.matches("s3:ObjectRemoved:*"));
        assert!(!EventKind::LifecycleExpiration.matches("s3:ObjectRemoved:*"));
        assert!(EventKind::LifecycleExpiration.matches("s3:LifecycleExpiration:*"));
        assert!(EventKind::LifecycleExpiration.matches("s3:LifecycleExpiration:Delete"));
        assert!(EventKind::TableCommit.matches("ferry:TableCommit"));
        assert!(!EventKind::TableCommit.matches("s3:ObjectCreated:*"));
        assert!(!EventKind::Put.matches("*"));
        for known in ["s3:ObjectCreated:*", "s3:ObjectCreated:Post", "s3:ObjectRemoved:Delete", "ferry:TableCommit"] {
            assert!(is_known_event(known), "{known}");
        }
        for unknown in ["s3:ObjectCreated", "s3:Replication:*", "*", "s3:ObjectRestore:Post", "ferry:*"] {
            assert!(!is_known_event(unknown), "{unknown}");
        }
    }

    #[test]
    fn filters_apply_to_the_key() {
        let q = QueueConfig {
            events: vec!["s3:ObjectCreated:*".into()],
            prefix: Some("in/".into()),
            suffix: Some(".csv".into()),
            ..QueueConfig::default()
        };
        assert!(q.wants(EventKind::Put, "in/a.csv"));
        assert!(!q.wants(EventKind::Put, "out/a.csv"));
        assert!(!q.wants(EventKind::Put, "in/a.txt"));
        assert!(!q.wants(EventKind::Delete, "in/a.csv"));
    }
}
