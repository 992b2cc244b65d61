//! Bucket lifecycle rules applied by the engine, end to end: uploads aborted and their parts
//! collected, objects expired under a prefix and others kept, in bounded batches, and each
//! object expired once however many engines apply the rules at the same time.

use std::time::Duration;

use ferry_core::lifecycle::{AbortUploads, Expiration, LifecycleConfiguration, LifecycleRule};
use ferry_core::*;

use super::{Stack, body, fixture, target};

fn rule(id: &str, prefix: &str, expiration: Option<Expiration>, abort: Option<AbortUploads>) -> LifecycleRule {
    LifecycleRule { id: id.into(), enabled: true, prefix: prefix.into(), expiration, abort_uploads: abort }
}

pub(super) async fn lifecycle_rules_abort_uploads_and_expire_objects(stack: &dyn Stack) {
    let config =
        EngineConfig { lifecycle_day: Duration::from_millis(300), gc_grace: Duration::ZERO, ..EngineConfig::default() };
    let f = fixture(stack, config).await;
    let e = &f.engine;
    assert!(matches!(e.lifecycle("bkt").await, Err(Error::NoSuchBucket)));
    e.create_bucket("bkt").await.unwrap();
    assert!(e.lifecycle("bkt").await.unwrap().is_none());
    let rules = LifecycleConfiguration {
        rules: vec![
            rule("tmp", "tmp/", Some(Expiration::Days(1)), None),
            rule("uploads", "", None, Some(AbortUploads::Days(1))),
        ],
    };
    let bad = LifecycleConfiguration { rules: vec![rule("zero", "", Some(Expiration::Days(0)), None)] };
    assert!(matches!(e.put_lifecycle("bkt", bad).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(e.put_lifecycle("missing", rules.clone()).await, Err(Error::NoSuchBucket)));
    e.put_lifecycle("bkt", rules.clone()).await.unwrap();
    assert_eq!(e.lifecycle("bkt").await.unwrap(), Some(rules));

    let abandoned = e.create_session(target("big/file"), ObjectMeta::default(), None).await.unwrap();
    e.put_part(&abandoned, 1, body(b"part one")).await.unwrap();
    e.put_part(&abandoned, 2, body(b"part two")).await.unwrap();
    for key in ["tmp/a", "tmp/b", "keep/c"] {
        e.put_object(target(key), ObjectMeta::default(), body(key.as_bytes()), None).await.unwrap();
    }
    assert_eq!(f.blobs.count().await, 5);
    assert_eq!(e.apply_lifecycle(100).await.unwrap(), Default::default(), "nothing is a day old yet");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = e.apply_lifecycle(100).await.unwrap();
    assert_eq!(report.expired_objects(), 2);
    assert_eq!(report.aborted_uploads(), 1);
    assert!(report.rules.iter().any(|r| r.rule == "tmp" && r.expired_objects == 2), "{report:?}");
    assert!(report.rules.iter().any(|r| r.rule == "uploads" && r.aborted_uploads == 1), "{report:?}");
    assert_eq!(e.open_session(&abandoned.id, &abandoned.target).await.unwrap().state, SessionState::Aborted);
    assert!(matches!(e.head_object("bkt", "tmp/a").await, Err(Error::NoSuchKey)));
    assert!(e.head_object("bkt", "keep/c").await.is_ok(), "outside the rule's prefix");
    e.sweep().await.unwrap();
    assert_eq!(f.blobs.count().await, 1, "the aborted parts and expired objects were collected");
    assert_eq!(e.apply_lifecycle(100).await.unwrap(), Default::default(), "nothing left to do");

    e.delete_lifecycle("bkt").await.unwrap();
    e.delete_lifecycle("bkt").await.unwrap();
    assert!(e.lifecycle("bkt").await.unwrap().is_none());
    e.delete_object("bkt", "keep/c").await.unwrap();
    e.put_lifecycle("bkt", LifecycleConfiguration { rules: vec![rule("x", "", Some(Expiration::Days(1)), None)] })
        .await
        .unwrap();
    e.delete_bucket("bkt").await.unwrap();
    e.create_bucket("bkt").await.unwrap();
    assert!(e.lifecycle("bkt").await.unwrap().is_none(), "deleting a bucket deleted its rules");
}

pub(super) async fn lifecycle_batches_are_bounded_and_each_object_expires_once(stack: &dyn Stack) {
    let config = EngineConfig { lifecycle_day: Duration::from_millis(200), ..EngineConfig::default() };
    let f = fixture(stack, config).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    for i in 0..30 {
        e.put_object(target(&format!("old/{i:02}")), ObjectMeta::default(), body(b"x"), None).await.unwrap();
    }
    e.put_lifecycle(
        "bkt",
        LifecycleConfiguration { rules: vec![rule("old", "old/", Some(Expiration::Days(1)), None)] },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = e.apply_lifecycle(10).await.unwrap();
    assert_eq!(first.expired_objects(), 10, "a round stops at its budget");
    assert!(first.more);
    // Several engines on the same stores at once (as nodes whose lease changed hands mid-round
    // could be): every object is expired by exactly one of them.
    let racers = (0..3).map(|_| e.apply_lifecycle(1000));
    let reports = futures_util::future::join_all(racers).await;
    let total: u64 = reports.into_iter().map(|r| r.unwrap().expired_objects()).sum();
    assert_eq!(total, 20, "the other 20 objects, each once");
    assert!(e.list_objects("bkt", "", "", "", 100).await.unwrap().objects.is_empty());
}
