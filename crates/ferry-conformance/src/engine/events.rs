//! Event notifications on the engine: a bucket's configuration is checked against the server's
//! targets, and every change queues exactly the events the configuration asks for, with the
//! right kind (a lifecycle expiration is not a client's delete).

use ferry_core::events::{EventKind, NotificationConfig, QueueConfig};
use ferry_core::*;

use super::{Stack, body, commit_list, fixture, target};

fn queue(events: &[&str], prefix: Option<&str>) -> QueueConfig {
    QueueConfig {
        id: String::new(),
        arn: "arn:minio:sqs::hooks:webhook".into(),
        target: "hooks".into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        prefix: prefix.map(Into::into),
        suffix: None,
    }
}

pub(super) async fn changes_queue_the_configured_events(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine.clone().with_event_targets(["hooks".to_string()]);
    e.create_bucket("bkt").await.unwrap();
    assert_eq!(e.bucket_notification("bkt").await.unwrap(), NotificationConfig::default());
    assert!(matches!(e.bucket_notification("nope").await, Err(Error::NoSuchBucket)));

    let unknown = QueueConfig { target: "elsewhere".into(), ..queue(&["s3:ObjectCreated:*"], None) };
    let refused = e.put_bucket_notification("bkt", NotificationConfig { queues: vec![unknown] }).await;
    assert!(
        matches!(&refused, Err(Error::InvalidArgument(m)) if m.starts_with("Unable to validate the following destination configurations")),
        "{refused:?}"
    );
    let bad_event = e.put_bucket_notification("bkt", NotificationConfig { queues: vec![queue(&["s3:Nope"], None)] });
    assert!(matches!(bad_event.await, Err(Error::InvalidArgument(_))));

    let config = NotificationConfig {
        queues: vec![
            queue(&["s3:ObjectCreated:*"], Some("in/")),
            queue(&["s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"], None),
            // The same target again: an event it also matches is delivered once.
            queue(&["s3:ObjectCreated:Put"], None),
        ],
    };
    e.put_bucket_notification("bkt", config).await.unwrap();
    let stored = e.bucket_notification("bkt").await.unwrap();
    assert!(stored.queues.iter().all(|q| q.id.len() == 32), "ids are generated: {stored:?}");

    e.put_object(target("in/a"), ObjectMeta::default(), body(b"aaa"), None).await.unwrap();
    e.put_object(target("out/b"), ObjectMeta::default(), body(b"bb"), None).await.unwrap();
    e.copy_object(&target("in/a"), target("in/c"), None).await.unwrap();
    e.copy_object(&target("in/a"), target("out/d"), None).await.unwrap(); // Copy outside in/: none
    let s = e.create_session(target("in/mp"), ObjectMeta::default(), None).await.unwrap();
    let p1 = e.put_part(&s, 1, body(&[7; 20])).await.unwrap();
    let mp = e.commit(&s, commit_list(&[&p1])).await.unwrap();
    e.commit(&s, commit_list(&[&p1])).await.unwrap(); // a replayed commit emits nothing more
    assert!(e.delete_object("bkt", "in/a").await.unwrap());
    assert!(!e.delete_object("bkt", "in/a").await.unwrap(), "nothing removed, no event");
    // A lifecycle rule's expiration (the sweeper's path) emits LifecycleExpiration, not Delete.
    assert!(e.expire_object("bkt", "out/b", ferry_core::now_millis() + 1_000).await.unwrap());

    let queued = e.list_events(false, 100).await.unwrap();
    let seen: Vec<(EventKind, &str)> = queued.iter().map(|o| (o.facts.kind, o.facts.key.as_str())).collect();
    assert_eq!(
        seen,
        [
            (EventKind::Put, "in/a"),
            (EventKind::Put, "out/b"),
            (EventKind::Copy, "in/c"),
            (EventKind::CompleteMultipartUpload, "in/mp"),
            (EventKind::Delete, "in/a"),
            (EventKind::LifecycleExpiration, "out/b"),
        ]
    );
    assert!(queued.iter().all(|o| o.target == "hooks" && o.facts.bucket == "bkt"));
    assert_eq!((queued[0].facts.size, queued[0].facts.config_id.as_str()), (3, stored.queues[0].id.as_str()));
    assert_eq!(queued[1].facts.config_id, stored.queues[2].id, "out/b matched only the third entry");
    assert_eq!((queued[3].facts.size, queued[3].facts.etag.as_str()), (20, mp.etag.as_str()));
    assert!(queued.windows(2).all(|w| w[0].facts.sequencer < w[1].facts.sequencer), "sequencers grow");

    // An empty configuration stops new events.
    e.put_bucket_notification("bkt", NotificationConfig::default()).await.unwrap();
    e.put_object(target("in/later"), ObjectMeta::default(), body(b"x"), None).await.unwrap();
    assert_eq!(e.count_events().await.unwrap().pending, 6);
}
