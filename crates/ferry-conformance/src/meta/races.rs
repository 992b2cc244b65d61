//! Writers racing on one part, one session or one key; conditional writes; leases; and the
//! session counts the whole suite leaves behind.

use std::sync::Arc;

use ferry_core::{
    BlobId, CommitRecord, Error, ManifestEntry, MetaStore, ObjectMeta, ObjectRecord, PartRecord, PreconditionFailure,
    Session, SessionState, WholeCrc, WriteCondition, now_millis,
};

use super::{clock, part, session};

/// Writers racing on one part or one session: exactly one wins, nothing leaks.
pub(super) async fn concurrency(store: &Arc<dyn MetaStore>) {
    let s = session("alpha", "race");
    store.create_session(&s).await.unwrap();
    let contenders: Vec<PartRecord> = (0..8).map(|i| part(1, 100 + i)).collect();
    let tasks: Vec<_> = contenders
        .iter()
        .cloned()
        .map(|p| {
            let store = store.clone();
            let id = s.id.clone();
            tokio::spawn(async move { store.put_part(&id, &p, clock()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let held = store.list_parts(&s.id, None, 10).await.unwrap();
    assert_eq!(held.len(), 1, "one part per number, whatever the interleaving");
    assert!(contenders.contains(&held[0]), "the part held is one of the versions sent, whole");
    let garbage = store.garbage(now_millis() + 1_000_000, 10_000).await.unwrap();
    for p in &contenders {
        assert_ne!(
            garbage.contains(&p.blob),
            p.blob == held[0].blob,
            "every losing version is garbage, and only those"
        );
    }

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let id = s.id.clone();
            tokio::spawn(
                async move { store.transition(&id, &[SessionState::Normal], SessionState::Closing, clock()).await },
            )
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1, "exactly one of concurrent commits moves the session to Closing");
}

/// A single-blob object at `key` in bucket "alpha" with the given ETag.
pub(super) fn small_object(key: &str, etag: &str) -> ObjectRecord {
    ObjectRecord {
        bucket: "alpha".into(),
        key: key.into(),
        size: 1,
        etag: etag.into(),
        modified: now_millis(),
        meta: ObjectMeta::default(),
        checksum: None,
        crc: WholeCrc::default(),
        manifest: vec![ManifestEntry { blob: BlobId::random(), offset: 0, size: 1 }],
    }
}

fn refused(result: ferry_core::Result<()>, why: PreconditionFailure) -> bool {
    matches!(result, Err(Error::PreconditionFailed(w)) if w == why)
}

/// A session on `key` holding one part, moved to `Closing`, and the object publishing it.
async fn closing_session(store: &dyn MetaStore, key: &str, etag: &str) -> (Session, PartRecord, ObjectRecord) {
    let s = session("alpha", key);
    store.create_session(&s).await.unwrap();
    let p = part(1, 10);
    store.put_part(&s.id, &p, clock()).await.unwrap();
    assert!(store.transition(&s.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    let object = ObjectRecord {
        size: 10,
        manifest: vec![ManifestEntry { blob: p.blob.clone(), offset: 0, size: 10 }],
        ..small_object(key, etag)
    };
    (s, p, object)
}

/// Conditional writes: `IfNoneMatchAny` and `IfMatch` are checked against the object at the key
/// when publishing; a refusal changes nothing.
pub(super) async fn conditional_writes(store: &dyn MetaStore) {
    let none = WriteCondition::IfNoneMatchAny;
    let first = small_object("cond/put", "e1");
    store.put_object_if(&first, Some(&none)).await.unwrap();
    let second = small_object("cond/put", "e2");
    assert!(refused(store.put_object_if(&second, Some(&none)).await, PreconditionFailure::ObjectExists));
    let held = store.get_object("alpha", "cond/put").await.unwrap().unwrap();
    assert_eq!(held.manifest, first.manifest, "a refused write leaves the object as it was");
    assert!(!store.is_referenced(&second.manifest[0].blob).await.unwrap(), "the refused blob is not recorded");

    let wrong = WriteCondition::IfMatch("\"e9\"".into());
    assert!(refused(store.put_object_if(&second, Some(&wrong)).await, PreconditionFailure::EtagMismatch));
    assert_eq!(store.get_object("alpha", "cond/put").await.unwrap().unwrap().etag, "e1");
    store.put_object_if(&second, Some(&WriteCondition::IfMatch("\"e1\"".into()))).await.unwrap();
    assert_eq!(store.get_object("alpha", "cond/put").await.unwrap().unwrap().etag, "e2", "a matching ETag writes");
    let future = now_millis() + 1_000_000;
    assert!(store.garbage(future, 10_000).await.unwrap().contains(&first.manifest[0].blob), "replaced is garbage");
    let absent = small_object("cond/absent", "e1");
    assert!(
        matches!(
            store.put_object_if(&absent, Some(&WriteCondition::IfMatch("e1".into()))).await,
            Err(Error::NoSuchKey)
        ),
        "IfMatch on a missing key is NoSuchKey"
    );
    assert!(store.get_object("alpha", "cond/absent").await.unwrap().is_none());
    assert!(
        matches!(
            store.put_object_if(&ObjectRecord { bucket: "nope".into(), ..absent.clone() }, Some(&none)).await,
            Err(Error::NoSuchBucket)
        ),
        "a missing bucket is still NoSuchBucket"
    );

    // A commit refused by its condition publishes nothing and keeps the session and its parts.
    let (s, p, object) = closing_session(store, "cond/put", "m-1").await;
    let record = CommitRecord { fingerprint: "c".into(), etag: "m-1".into(), checksum: None, size: 10 };
    let slice = std::slice::from_ref(&object);
    assert!(refused(store.publish_if(&s.id, slice, &record, Some(&none)).await, PreconditionFailure::ObjectExists));
    assert_eq!(store.get_object("alpha", "cond/put").await.unwrap().unwrap().etag, "e2", "nothing is published");
    assert_eq!(store.get_session(&s.id).await.unwrap().unwrap().state, SessionState::Closing);
    assert_eq!(store.list_parts(&s.id, None, 10).await.unwrap(), vec![p.clone()], "parts are untouched");
    assert!(!store.garbage(future, 10_000).await.unwrap().contains(&p.blob), "the part is not garbage");
    assert!(refused(store.publish_if(&s.id, slice, &record, Some(&wrong)).await, PreconditionFailure::EtagMismatch));
    // The same session publishes once the condition holds.
    store.publish_if(&s.id, slice, &record, Some(&WriteCondition::IfMatch("e2".into()))).await.unwrap();
    assert_eq!(store.get_object("alpha", "cond/put").await.unwrap().unwrap().etag, "m-1");
    assert_eq!(store.get_session(&s.id).await.unwrap().unwrap().state, SessionState::Closed);
    let (s, _, object) = closing_session(store, "cond/new", "n-1").await;
    store.publish_if(&s.id, std::slice::from_ref(&object), &record, Some(&none)).await.unwrap();
    assert_eq!(store.get_object("alpha", "cond/new").await.unwrap().unwrap().etag, "n-1");
}

/// Writers racing on one key with `IfNoneMatchAny`: exactly one publishes, whether they are
/// single-shot puts or commits, and every loser leaves no trace.
pub(super) async fn conditional_races(store: &Arc<dyn MetaStore>) {
    const N: usize = 12;
    let none = WriteCondition::IfNoneMatchAny;
    let contenders: Vec<ObjectRecord> = (0..N).map(|i| small_object("cond/race-put", &format!("p{i}"))).collect();
    let tasks: Vec<_> = contenders
        .iter()
        .cloned()
        .map(|o| {
            let store = store.clone();
            let none = none.clone();
            tokio::spawn(async move { store.put_object_if(&o, Some(&none)).await })
        })
        .collect();
    let won = winners(tasks).await;
    assert_eq!(won.len(), 1, "exactly one of {N} racing If-None-Match puts publishes");
    let held = store.get_object("alpha", "cond/race-put").await.unwrap().unwrap();
    assert_eq!(held.manifest, contenders[won[0]].manifest, "the object is the winner's");

    let mut sessions = Vec::new();
    for i in 0..N {
        sessions.push(closing_session(&**store, "cond/race-commit", &format!("c{i}-1")).await);
    }
    let tasks: Vec<_> = sessions
        .iter()
        .map(|(s, _, object)| {
            let store = store.clone();
            let none = none.clone();
            let (id, object) = (s.id.clone(), object.clone());
            tokio::spawn(async move {
                let record =
                    CommitRecord { fingerprint: "r".into(), etag: object.etag.clone(), checksum: None, size: 10 };
                store.publish_if(&id, std::slice::from_ref(&object), &record, Some(&none)).await
            })
        })
        .collect();
    let won = winners(tasks).await;
    assert_eq!(won.len(), 1, "exactly one of {N} racing If-None-Match commits publishes");
    let held = store.get_object("alpha", "cond/race-commit").await.unwrap().unwrap();
    assert_eq!(held.manifest, sessions[won[0]].2.manifest, "the object is the winner's");
    for (i, (s, p, _)) in sessions.iter().enumerate() {
        let state = store.get_session(&s.id).await.unwrap().unwrap().state;
        if i == won[0] {
            assert_eq!(state, SessionState::Closed);
        } else {
            assert_eq!(state, SessionState::Closing, "a refused commit leaves its session for the caller to reopen");
            assert_eq!(store.list_parts(&s.id, None, 10).await.unwrap(), vec![p.clone()], "and its parts");
        }
    }
}

pub(super) async fn leases(store: &dyn MetaStore) {
    let now = now_millis();
    assert!(store.acquire_lease("sweep", "node-a", now, 1_000).await.unwrap(), "a free lease is taken");
    assert!(!store.acquire_lease("sweep", "node-b", now + 10, 1_000).await.unwrap(), "a held lease is refused");
    assert!(store.acquire_lease("sweep", "node-a", now + 500, 1_000).await.unwrap(), "the holder renews");
    assert!(!store.acquire_lease("sweep", "node-b", now + 1_200, 1_000).await.unwrap(), "renewal extends it");
    assert!(store.acquire_lease("other", "node-b", now, 1_000).await.unwrap(), "leases are independent");
    assert!(store.acquire_lease("sweep", "node-b", now + 1_500, 1_000).await.unwrap(), "an expired lease is taken");
}

pub(super) async fn counts(store: &dyn MetaStore) {
    let counts = store.count_sessions().await.unwrap();
    let of = |state| counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
    assert!(of(SessionState::Normal) >= 1, "the suite left live sessions: {counts:?}");
    assert!(of(SessionState::Closed) >= 1);
    assert!(of(SessionState::Expired) >= 2);
    assert!(of(SessionState::Aborted) >= 1);
    assert!(of(SessionState::Closing) >= 2);
}

/// The indexes of the racing writers that published; every other one must have been refused
/// because the object exists, not failed.
async fn winners(tasks: Vec<tokio::task::JoinHandle<ferry_core::Result<()>>>) -> Vec<usize> {
    let mut won = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) => won.push(i),
            Err(e) => assert!(refused(Err(e), PreconditionFailure::ObjectExists), "a loser is refused, not failed"),
        }
    }
    won
}
