//! The [`EventStore`](ferry_core::EventStore) part of every metadata store: notification
//! configurations, outbox rows written in the transaction of their change (and only when it
//! commits), claims that keep two deliverers apart, failures, dead letters and retries.

use std::sync::Arc;

use ferry_core::events::{EventFacts, EventKind, NewEvent, NotificationConfig, OutboxState, QueueConfig};
use ferry_core::{
    CommitRecord, Error, ManifestEntry, MetaStore, ObjectMeta, ObjectRecord, SessionState, WholeCrc, WriteCondition,
    now_millis, random_id,
};

use super::races::small_object;
use super::{clock, part, session};

fn event(kind: EventKind, key: &str) -> NewEvent {
    NewEvent {
        id: random_id(),
        target: "hooks".into(),
        facts: EventFacts {
            kind,
            bucket: "alpha".into(),
            key: key.into(),
            config_id: "c".into(),
            size: 1,
            etag: "e".into(),
            time: now_millis(),
            sequencer: format!("{:016X}", next_sequence()),
            detail: None,
        },
    }
}

/// Sequencers that grow within this process, like the engine's.
fn next_sequence() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Every guarantee of the event part of [`MetaStore`]. Expects bucket `alpha` and an outbox
/// nobody else writes to during the call.
pub(super) async fn outbox(store: &Arc<dyn MetaStore>) {
    configurations(&**store).await;
    written_with_their_change(&**store).await;
    claims_failures_and_dead_letters(&**store).await;
    racing_claims(store).await;
}

async fn configurations(store: &dyn MetaStore) {
    let config = NotificationConfig {
        queues: vec![QueueConfig {
            id: "q1".into(),
            arn: "arn:minio:sqs::hooks:webhook".into(),
            target: "hooks".into(),
            events: vec!["s3:ObjectCreated:*".into()],
            prefix: Some("in/".into()),
            suffix: None,
        }],
    };
    assert!(matches!(store.put_notification("nope", &config).await, Err(Error::NoSuchBucket)));
    store.create_bucket("notified", now_millis()).await.unwrap();
    assert_eq!(store.get_notification("notified").await.unwrap(), None);
    store.put_notification("notified", &config).await.unwrap();
    assert_eq!(store.get_notification("notified").await.unwrap().as_ref(), Some(&config));
    store.put_notification("notified", &NotificationConfig::default()).await.unwrap();
    assert_eq!(store.get_notification("notified").await.unwrap(), None, "an empty configuration removes it");
    store.put_notification("notified", &config).await.unwrap();
    store.delete_bucket("notified", now_millis()).await.unwrap();
    store.create_bucket("notified", now_millis()).await.unwrap();
    assert_eq!(store.get_notification("notified").await.unwrap(), None, "gone with its bucket");
    store.delete_bucket("notified", now_millis()).await.unwrap();
}

async fn ids(store: &dyn MetaStore) -> Vec<String> {
    store.list_events(false, 1000).await.unwrap().into_iter().map(|e| e.id).collect()
}

async fn written_with_their_change(store: &dyn MetaStore) {
    assert!(ids(store).await.is_empty(), "the suite starts with an empty outbox");
    let put = event(EventKind::Put, "ev/one");
    store.put_object_notify(&small_object("ev/one", "e1"), None, std::slice::from_ref(&put)).await.unwrap();
    let listed = store.list_events(false, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), &listed[0].facts), (put.id.as_str(), &put.facts), "facts read back");
    assert_eq!((listed[0].state, listed[0].attempts, listed[0].last_error.as_deref()), (OutboxState::Pending, 0, None));

    // A refused write queues nothing.
    let refused = event(EventKind::Put, "ev/one");
    let condition = WriteCondition::IfNoneMatchAny;
    let result = store.put_object_notify(&small_object("ev/one", "e2"), Some(&condition), &[refused]).await;
    assert!(matches!(result, Err(Error::PreconditionFailed(_))), "{result:?}");
    assert_eq!(ids(store).await, vec![put.id.clone()]);

    // A delete queues its events only when it removed an object.
    assert!(!store.delete_object_notify("alpha", "ev/absent", &[event(EventKind::Delete, "ev/absent")]).await.unwrap());
    let delete = event(EventKind::Delete, "ev/one");
    assert!(store.delete_object_notify("alpha", "ev/one", std::slice::from_ref(&delete)).await.unwrap());
    assert_eq!(ids(store).await, vec![put.id.clone(), delete.id.clone()]);

    // A commit queues its events; a refused commit does not.
    let s = session("alpha", "ev/mp");
    store.create_session(&s).await.unwrap();
    let p = part(1, 10);
    store.put_part(&s.id, &p, clock()).await.unwrap();
    let object = ObjectRecord {
        manifest: vec![ManifestEntry { blob: p.blob.clone(), offset: 0, size: 10 }],
        size: 10,
        ..small_object("ev/mp", "m")
    };
    let record = CommitRecord { fingerprint: "f".into(), etag: "m".into(), checksum: None, size: 10 };
    let early = event(EventKind::CompleteMultipartUpload, "ev/mp");
    let result = store.publish_notify(&s.id, std::slice::from_ref(&object), &record, None, &[early]).await;
    assert!(matches!(result, Err(Error::NoSuchUpload)), "not Closing: {result:?}");
    assert!(store.transition(&s.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    let commit = event(EventKind::CompleteMultipartUpload, "ev/mp");
    store
        .publish_notify(&s.id, std::slice::from_ref(&object), &record, None, std::slice::from_ref(&commit))
        .await
        .unwrap();
    assert_eq!(ids(store).await, vec![put.id.clone(), delete.id.clone(), commit.id.clone()], "in sequencer order");
    assert!(store.get_object("alpha", "ev/mp").await.unwrap().is_some());
    store.delete_object("alpha", "ev/mp").await.unwrap();
    assert_eq!(ids(store).await.len(), 3, "a delete without events queues none");

    // A table commit publishes several files with one event.
    let t = session("alpha", "ev/table/");
    store.create_session(&t).await.unwrap();
    let parts = [part(1, 3), part(2, 4)];
    for p in &parts {
        store.put_part(&t.id, p, clock()).await.unwrap();
    }
    let files: Vec<ObjectRecord> = parts
        .iter()
        .map(|p| ObjectRecord {
            bucket: "alpha".into(),
            key: format!("ev/table/{}", p.number),
            size: p.size,
            etag: "t".into(),
            modified: now_millis(),
            meta: ObjectMeta::default(),
            checksum: None,
            crc: WholeCrc::default(),
            manifest: vec![ManifestEntry { blob: p.blob.clone(), offset: 0, size: p.size }],
        })
        .collect();
    assert!(store.transition(&t.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    let table = event(EventKind::TableCommit, "ev/table/");
    store.publish_notify(&t.id, &files, &record, None, std::slice::from_ref(&table)).await.unwrap();
    assert_eq!(ids(store).await.len(), 4);
    for f in &files {
        store.delete_object("alpha", &f.key).await.unwrap();
    }

    for id in ids(store).await {
        assert!(store.event_delivered(&id).await.unwrap());
        assert!(!store.event_delivered(&id).await.unwrap(), "gone already");
    }
    assert_eq!(store.count_events().await.unwrap(), Default::default());
}

async fn claims_failures_and_dead_letters(store: &dyn MetaStore) {
    let events: Vec<NewEvent> = (0..3).map(|i| event(EventKind::Put, &format!("ev/c{i}"))).collect();
    store.put_object_notify(&small_object("ev/c", "c"), None, &events).await.unwrap();
    let now = now_millis();
    let lease = 1_000;
    let a = store.claim_events("node-a", now, lease, 2).await.unwrap();
    let wanted: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(a.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), wanted[..2], "oldest first, at most the limit");
    let b = store.claim_events("node-b", now, lease, 10).await.unwrap();
    assert_eq!(b.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), wanted[2..], "claimed rows are not handed out");
    assert!(store.claim_events("node-b", now, lease, 10).await.unwrap().iter().all(|e| e.id == wanted[2]));
    let again = store.claim_events("node-a", now, lease, 10).await.unwrap();
    assert_eq!(again.len(), 2, "a holder gets its own claims back (a restart under the same name)");
    // node-a dies: once its claims run out, node-b takes them.
    let taken = store.claim_events("node-b", now + lease + 1, lease, 10).await.unwrap();
    assert_eq!(taken.len(), 3, "expired claims are handed out again");

    // Only the holder of the claim records a failure.
    assert!(!store.event_failed(wanted[0], "node-a", "late", Some(now)).await.unwrap());
    assert!(store.event_failed(wanted[0], "node-b", "503 from the target", Some(now + 5_000)).await.unwrap());
    assert!(store.event_failed(wanted[1], "node-b", "connection refused", None).await.unwrap());
    assert!(store.event_delivered(wanted[2]).await.unwrap());
    let counts = store.count_events().await.unwrap();
    assert_eq!((counts.pending, counts.failed), (1, 1));
    assert!(store.claim_events("node-c", now + 2_000, lease, 10).await.unwrap().is_empty(), "not due yet");
    let due = store.claim_events("node-c", now + 5_000, lease, 10).await.unwrap();
    assert_eq!(due.len(), 1, "due again, the dead letter is not handed out");
    assert_eq!((due[0].attempts, due[0].last_error.as_deref()), (1, Some("503 from the target")));

    let dead = store.list_events(true, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id.as_str(), dead[0].state, dead[0].attempts), (wanted[1], OutboxState::Failed, 1));
    assert_eq!(dead[0].last_error.as_deref(), Some("connection refused"));
    assert_eq!(store.retry_events(&["not-an-id".to_string()], now).await.unwrap(), 0);
    assert_eq!(store.retry_events(&[], now).await.unwrap(), 1, "every dead letter");
    assert_eq!(store.retry_events(&[], now).await.unwrap(), 0);
    let retried = store.claim_events("node-d", now, lease, 10).await.unwrap();
    assert_eq!(retried.iter().map(|e| (e.id.as_str(), e.attempts)).collect::<Vec<_>>(), [(wanted[1], 0)]);
    for id in &wanted[..2] {
        assert!(store.event_delivered(id).await.unwrap());
    }
    assert_eq!(store.count_events().await.unwrap(), Default::default());
    store.delete_object("alpha", "ev/c").await.unwrap();
}

/// Deliverers on several nodes claiming at once never get the same row.
async fn racing_claims(store: &Arc<dyn MetaStore>) {
    let events: Vec<NewEvent> = (0..40).map(|i| event(EventKind::Put, &format!("ev/r{i}"))).collect();
    store.put_object_notify(&small_object("ev/r", "r"), None, &events).await.unwrap();
    let now = now_millis();
    let claims: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    // A holder settles what it claimed before it claims more.
                    let batch = store.claim_events(&format!("racer-{n}"), now, 60_000, 3).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    for e in batch {
                        assert!(store.event_delivered(&e.id).await.unwrap(), "delivered once");
                        mine.push(e.id);
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claims {
        all.extend(c.await.unwrap());
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!((total, all.len()), (40, 40), "every row claimed exactly once");
    store.delete_object("alpha", "ev/r").await.unwrap();
}
