//! Conformance suites for the storage contracts. Each implementation's tests call
//! [`meta_store_suite`] or [`blob_store_suite`] with a fresh, empty store; a new backend
//! (PostgreSQL, an S3-compatible store) is correct when it passes the same suite.
//!
//! The suites panic with a message naming the broken guarantee, as test assertions do.
#![allow(clippy::unwrap_used)]

pub mod postgres_cluster;

use std::sync::Arc;

use bytes::Bytes;
use ferry_core::{
    BlobId, BlobStore, CommitRecord, Digests, Error, ManifestEntry, MetaStore, Millis, ObjectMeta, ObjectRecord,
    PartRecord, PreconditionFailure, Session, SessionClock, SessionState, Target, WholeCrc, WriteCondition, now_millis,
    random_id,
};
use futures_util::TryStreamExt;

/// Every guarantee of [`MetaStore`], on an empty store.
pub async fn meta_store_suite(store: Arc<dyn MetaStore>) {
    buckets(&*store).await;
    sessions_and_parts(&*store).await;
    publish_and_objects(&*store).await;
    expiry(&*store).await;
    request_time_expiry(&*store).await;
    table_targets(&*store).await;
    stale_publish(&*store).await;
    publish_several(&*store).await;
    concurrency(&store).await;
    conditional_writes(&*store).await;
    conditional_races(&store).await;
    leases(&*store).await;
    counts(&*store).await;
}

async fn buckets(store: &dyn MetaStore) {
    let now = now_millis();
    store.create_bucket("alpha", now).await.unwrap();
    store.create_bucket("beta", now).await.unwrap();
    assert!(matches!(store.create_bucket("alpha", now).await, Err(Error::BucketAlreadyExists)));
    let names: Vec<String> = store.list_buckets().await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["alpha", "beta"], "buckets are listed by name");
    assert!(store.get_bucket("alpha").await.unwrap().is_some());
    assert!(store.get_bucket("gamma").await.unwrap().is_none());
    store.delete_bucket("beta", now).await.unwrap();
    assert!(matches!(store.delete_bucket("beta", now).await, Err(Error::NoSuchBucket)));
}

fn session(bucket: &str, key: &str) -> Session {
    let now = now_millis();
    Session {
        id: random_id(),
        target: Target::object(bucket, key),
        state: SessionState::Normal,
        created: now,
        last_activity: now,
        expires: now + 3_600_000,
        meta: ObjectMeta {
            content_type: Some("text/plain".into()),
            user: vec![("a".into(), "b".into())],
            ..Default::default()
        },
        checksum: None,
        commit: None,
        legacy_numbering: false,
        part_shift: 0,
    }
}

/// Now, with sessions idle for an hour counting as stale.
fn clock() -> SessionClock {
    let now = now_millis();
    SessionClock { now, idle_before: now - 3_600_000 }
}

fn part(number: u32, size: u64) -> PartRecord {
    let mut digests = Digests { crc64nvme: u64::MAX - number as u64, ..Default::default() };
    digests.md5[0] = number as u8;
    digests.sha256 = Some([7; 32]);
    PartRecord { number, blob: BlobId::random(), size, digests, modified: now_millis() }
}

async fn sessions_and_parts(store: &dyn MetaStore) {
    assert!(matches!(store.create_session(&session("nope", "k")).await, Err(Error::NoSuchBucket)));
    let s = session("alpha", "dir/file");
    store.create_session(&s).await.unwrap();
    assert_eq!(store.get_session(&s.id).await.unwrap().as_ref(), Some(&s), "a session reads back as stored");
    assert!(store.get_session("missing").await.unwrap().is_none());

    // Parts: any order, replace on re-send, the old blob queued as garbage.
    let p3 = part(3, 30);
    let p1 = part(1, 10);
    store.put_part(&s.id, &p3, clock()).await.unwrap();
    store.put_part(&s.id, &p1, clock()).await.unwrap();
    let p1b = part(1, 11);
    store.put_part(&s.id, &p1b, clock()).await.unwrap();
    let parts = store.list_parts(&s.id, None, 100).await.unwrap();
    assert_eq!(parts, vec![p1b.clone(), p3.clone()], "parts list ascending, the re-sent part replaced");
    assert_eq!(store.list_parts(&s.id, Some(1), 100).await.unwrap(), vec![p3.clone()], "after is exclusive");
    assert_eq!(store.list_parts(&s.id, None, 1).await.unwrap().len(), 1, "limit applies");
    let future = now_millis() + 1_000_000;
    assert!(store.garbage(future, 100).await.unwrap().contains(&p1.blob), "a replaced part's blob is garbage");
    assert!(store.is_referenced(&p1b.blob).await.unwrap());
    assert!(!store.is_referenced(&p1.blob).await.unwrap());

    // Listing live sessions.
    let other = session("alpha", "dir/other");
    store.create_session(&other).await.unwrap();
    let listed = store.list_sessions("alpha", "dir/", None, 10, clock()).await.unwrap();
    assert_eq!(listed.iter().map(|x| x.target.key()).collect::<Vec<_>>(), ["dir/file", "dir/other"]);
    let after = store.list_sessions("alpha", "", Some(("dir/file", &s.id)), 10, clock()).await.unwrap();
    assert_eq!(after.len(), 1, "listing after (key, id) is exclusive");

    // Uploads of one key come oldest first whatever their ids, and paging one at a time after
    // the last (key, id) returned visits each exactly once.
    let mut same_key = Vec::new();
    for (i, id) in ["ffff-3", "aaaa-1", "cccc-2", "0000-4"].into_iter().enumerate() {
        let mut u = session("alpha", "same/key");
        u.id = id.to_string();
        u.created += i as Millis;
        store.create_session(&u).await.unwrap();
        same_key.push(u.id);
    }
    let mut paged = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let marker = after.as_ref().map(|(k, i)| (k.as_str(), i.as_str()));
        let page = store.list_sessions("alpha", "same/", marker, 1, clock()).await.unwrap();
        let Some(u) = page.first() else { break };
        assert!(paged.len() < 10, "paging does not end");
        paged.push(u.id.clone());
        after = Some((u.target.key().to_string(), u.id.clone()));
    }
    assert_eq!(paged, same_key, "every upload of the key once, oldest first");
    let key_only = store.list_sessions("alpha", "", Some(("same/key", "\u{10FFFF}")), 10, clock()).await.unwrap();
    assert!(key_only.iter().all(|u| u.target.key() > "same/key"), "an unknown id skips every upload of the key");
    for id in &same_key {
        assert!(store.transition(id, &[SessionState::Normal], SessionState::Aborted, clock()).await.unwrap());
    }

    // Abort: CAS, parts become garbage, parts refused afterwards.
    assert!(store.transition(&other.id, &[SessionState::Normal], SessionState::Aborted, clock()).await.unwrap());
    assert!(!store.transition(&other.id, &[SessionState::Normal], SessionState::Aborted, clock()).await.unwrap());
    assert!(matches!(store.put_part(&other.id, &part(1, 1), clock()).await, Err(Error::NoSuchUpload)));
    assert!(
        store.list_sessions("alpha", "dir/other", None, 10, clock()).await.unwrap().is_empty(),
        "aborted is not live"
    );
}

async fn publish_and_objects(store: &dyn MetaStore) {
    let s = session("alpha", "big");
    store.create_session(&s).await.unwrap();
    let parts: Vec<PartRecord> = (1..=3).map(|n| part(n, 100)).collect();
    for p in &parts {
        store.put_part(&s.id, p, clock()).await.unwrap();
    }
    let object = ObjectRecord {
        bucket: "alpha".into(),
        key: "big".into(),
        size: 200,
        etag: "abc-2".into(),
        modified: now_millis(),
        meta: s.meta.clone(),
        checksum: None,
        crc: WholeCrc { crc64nvme: u64::MAX, ..Default::default() },
        manifest: vec![
            ManifestEntry { blob: parts[0].blob.clone(), offset: 0, size: 100 },
            ManifestEntry { blob: parts[2].blob.clone(), offset: 100, size: 100 },
        ],
    };
    let record = CommitRecord { fingerprint: "f".into(), etag: "abc-2".into(), checksum: None, size: 200 };
    assert!(
        matches!(store.publish(&s.id, std::slice::from_ref(&object), &record).await, Err(Error::NoSuchUpload)),
        "publish needs Closing"
    );
    assert!(store.transition(&s.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    assert!(matches!(store.put_part(&s.id, &part(9, 1), clock()).await, Err(Error::Busy)), "no parts while closing");
    store.publish(&s.id, std::slice::from_ref(&object), &record).await.unwrap();
    let closed = store.get_session(&s.id).await.unwrap().unwrap();
    assert_eq!(closed.state, SessionState::Closed);
    assert_eq!(closed.commit.as_ref(), Some(&record), "the commit record is kept for retries");
    let read = store.get_object("alpha", "big").await.unwrap().unwrap();
    assert_eq!(read.manifest, object.manifest, "the manifest reads back in order");
    assert_eq!(read.crc, object.crc);
    let future = now_millis() + 1_000_000;
    let garbage = store.garbage(future, 1000).await.unwrap();
    assert!(garbage.contains(&parts[1].blob), "an unlisted part is garbage after publish");
    assert!(!garbage.contains(&parts[0].blob), "a published blob is never garbage");
    assert!(store.is_referenced(&parts[0].blob).await.unwrap());

    // Overwrite with a single-shot object: the old manifest becomes garbage.
    let single = ObjectRecord {
        size: 5,
        etag: "e".into(),
        manifest: vec![ManifestEntry { blob: BlobId::random(), offset: 0, size: 5 }],
        ..object.clone()
    };
    store.put_object(&single).await.unwrap();
    assert_eq!(store.get_object("alpha", "big").await.unwrap().unwrap().size, 5);
    assert!(store.garbage(future, 1000).await.unwrap().contains(&parts[0].blob), "overwritten blobs are garbage");
    assert!(matches!(
        store.put_object(&ObjectRecord { bucket: "nope".into(), ..single.clone() }).await,
        Err(Error::NoSuchBucket)
    ));

    // Listing in byte order, with prefix and after.
    for key in ["a/1", "a/2", "b", "a/\u{e9}", "ab"] {
        store.put_object(&ObjectRecord { key: key.into(), ..single.clone() }).await.unwrap();
    }
    let keys = |v: Vec<ferry_core::ObjectSummary>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(
        keys(store.list_objects("alpha", "", "", 100).await.unwrap()),
        ["a/1", "a/2", "a/\u{e9}", "ab", "b", "big"]
    );
    assert_eq!(keys(store.list_objects("alpha", "a/", "", 100).await.unwrap()), ["a/1", "a/2", "a/\u{e9}"]);
    assert_eq!(keys(store.list_objects("alpha", "a/", "a/1", 1).await.unwrap()), ["a/2"]);
    assert!(matches!(store.delete_bucket("alpha", now_millis()).await, Err(Error::BucketNotEmpty)));
    assert!(store.delete_object("alpha", "b").await.unwrap());
    assert!(!store.delete_object("alpha", "b").await.unwrap());
    assert!(store.get_object("alpha", "b").await.unwrap().is_none());

    // Garbage can be forgotten once collected.
    let all = store.garbage(future, 1000).await.unwrap();
    store.forget_garbage(&all).await.unwrap();
    assert!(store.garbage(future, 1000).await.unwrap().is_empty());
    let orphan = BlobId::random();
    store.queue_garbage(std::slice::from_ref(&orphan), now_millis()).await.unwrap();
    assert_eq!(store.garbage(future, 1000).await.unwrap(), vec![orphan]);
    assert!(store.garbage(0, 1000).await.unwrap().is_empty(), "garbage younger than the cut-off waits");
}

async fn expiry(store: &dyn MetaStore) {
    let now = now_millis();
    let mut old = session("alpha", "old");
    old.expires = now - 1;
    store.create_session(&old).await.unwrap();
    let p = part(1, 1);
    // Recorded as of just before its lifetime ended, so the sweep below finds a part to drop.
    let before_end = SessionClock { now: now - 10, idle_before: now - 3_600_000 };
    store.put_part(&old.id, &p, before_end).await.unwrap();
    let mut idle = session("alpha", "idle");
    idle.last_activity = now - 10_000;
    store.create_session(&idle).await.unwrap();
    let fresh = session("alpha", "fresh");
    store.create_session(&fresh).await.unwrap();
    let mut busy = session("alpha", "busy");
    busy.last_activity = now - 10_000;
    store.create_session(&busy).await.unwrap();
    store.put_part(&busy.id, &part(1, 1), clock()).await.unwrap();
    let expired = store.expire_sessions(now, now - 5_000, now - 5_000).await.unwrap();
    assert!(expired >= 2, "past-lifetime and idle sessions expire");
    assert_eq!(store.get_session(&old.id).await.unwrap().unwrap().state, SessionState::Expired);
    assert_eq!(store.get_session(&idle.id).await.unwrap().unwrap().state, SessionState::Expired);
    assert_eq!(store.get_session(&fresh.id).await.unwrap().unwrap().state, SessionState::Normal);
    assert_eq!(
        store.get_session(&busy.id).await.unwrap().unwrap().state,
        SessionState::Normal,
        "a part received counts as activity"
    );
    assert!(store.garbage(now + 1_000_000, 1000).await.unwrap().contains(&p.blob), "expired parts are garbage");
}

/// Every operation judges a session by the caller's clock in its own transaction: a stale
/// session is expired by the first operation that finds it so, not only by the sweeper.
async fn request_time_expiry(store: &dyn MetaStore) {
    let now = now_millis();
    let hour = 3_600_000;
    // Lifetime: a part write past `expires` is refused and expires the session.
    let mut short = session("alpha", "short");
    short.expires = now + 1_000;
    store.create_session(&short).await.unwrap();
    let kept = part(1, 5);
    store.put_part(&short.id, &kept, clock()).await.unwrap();
    let later = SessionClock { now: now + 2_000, idle_before: now - hour };
    assert!(
        matches!(store.put_part(&short.id, &part(2, 5), later).await, Err(Error::NoSuchUpload)),
        "a part after the session's lifetime is refused"
    );
    let stored = store.get_session(&short.id).await.unwrap().unwrap();
    assert_eq!(stored.state, SessionState::Expired, "the refusing part write expired the session");
    assert!(store.list_parts(&short.id, None, 10).await.unwrap().is_empty(), "an expired session holds no parts");
    assert!(store.garbage(now + hour, 1000).await.unwrap().contains(&kept.blob), "its parts are garbage");

    // Lifetime: a commit (Normal -> Closing) past `expires` fails and expires the session.
    let mut late = session("alpha", "late");
    late.expires = now + 1_000;
    store.create_session(&late).await.unwrap();
    assert!(!store.transition(&late.id, &[SessionState::Normal], SessionState::Closing, later).await.unwrap());
    assert_eq!(store.get_session(&late.id).await.unwrap().unwrap().state, SessionState::Expired);

    // Idle: a session whose last activity (its own or a part's) is before `idle_before`.
    let idle = session("alpha", "idle-now");
    store.create_session(&idle).await.unwrap();
    let p = part(1, 5);
    store.put_part(&idle.id, &p, clock()).await.unwrap();
    let fresh = SessionClock { now: now + 10, idle_before: now - 60_000 };
    assert!(!store.expire_session(&idle.id, fresh).await.unwrap(), "a session with recent activity stays");
    assert_eq!(store.get_session(&idle.id).await.unwrap().unwrap().state, SessionState::Normal);
    let stale = SessionClock { now: p.modified + 120_000, idle_before: p.modified + 60_000 };
    let listed = store.list_sessions("alpha", "idle-now", None, 10, stale).await.unwrap();
    assert!(listed.is_empty(), "a stale session is not listed as live");
    assert!(!store.transition(&idle.id, &[SessionState::Normal], SessionState::Aborted, stale).await.unwrap());
    assert_eq!(
        store.get_session(&idle.id).await.unwrap().unwrap().state,
        SessionState::Expired,
        "expired, not aborted"
    );
    assert!(!store.expire_session(&idle.id, stale).await.unwrap(), "expiring twice does nothing");

    // A transition that does not leave a live state is not judged by the clock.
    let closing = session("alpha", "closing-late");
    store.create_session(&closing).await.unwrap();
    assert!(store.transition(&closing.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    let far = SessionClock { now: now + 10 * hour, idle_before: now + 5 * hour };
    assert!(store.transition(&closing.id, &[SessionState::Closing], SessionState::Normal, far).await.unwrap());
    assert!(store.expire_session(&closing.id, far).await.unwrap(), "once reopened, it is judged again");
}

/// Sessions on a table partition: stored with their own target, needing no bucket, and never
/// listed among a bucket's uploads.
async fn table_targets(store: &dyn MetaStore) {
    let mut t = session("", "");
    t.target = Target::TablePartition { project: "p".into(), table: "t".into(), partition: "pt=1,region=x".into() };
    store.create_session(&t).await.unwrap();
    assert_eq!(store.get_session(&t.id).await.unwrap().as_ref(), Some(&t), "a table target reads back as stored");
    store.put_part(&t.id, &part(0, 3), clock()).await.unwrap();
    let mut whole = session("", "");
    whole.target = Target::TablePartition { project: "p".into(), table: "plain".into(), partition: String::new() };
    store.create_session(&whole).await.unwrap();
    assert_eq!(store.get_session(&whole.id).await.unwrap().unwrap().target, whole.target);
    for bucket in ["alpha", ""] {
        let listed = store.list_sessions(bucket, "", None, 1000, clock()).await.unwrap();
        assert!(listed.iter().all(|s| s.target.is_object()), "table sessions are never listed as uploads");
    }
}

/// A manifest naming a blob that is no longer one of the session's parts is refused whole.
async fn stale_publish(store: &dyn MetaStore) {
    let s = session("alpha", "stale");
    store.create_session(&s).await.unwrap();
    let kept = part(1, 10);
    store.put_part(&s.id, &kept, clock()).await.unwrap();
    assert!(store.transition(&s.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    let object = ObjectRecord {
        bucket: "alpha".into(),
        key: "stale".into(),
        size: 20,
        etag: "x".into(),
        modified: now_millis(),
        meta: s.meta.clone(),
        checksum: None,
        crc: WholeCrc::default(),
        manifest: vec![
            ManifestEntry { blob: kept.blob.clone(), offset: 0, size: 10 },
            ManifestEntry { blob: BlobId::random(), offset: 10, size: 10 },
        ],
    };
    let record = CommitRecord { fingerprint: "s".into(), etag: "x".into(), checksum: None, size: 20 };
    assert!(matches!(store.publish(&s.id, std::slice::from_ref(&object), &record).await, Err(Error::NoSuchUpload)));
    assert!(store.get_object("alpha", "stale").await.unwrap().is_none(), "nothing is published");
    assert_eq!(store.get_session(&s.id).await.unwrap().unwrap().state, SessionState::Closing);
    assert_eq!(store.list_parts(&s.id, None, 10).await.unwrap(), vec![kept.clone()], "parts are untouched");
    assert!(store.is_referenced(&kept.blob).await.unwrap());
}

/// A table upload publishes one file per block, all in one transaction.
async fn publish_several(store: &dyn MetaStore) {
    let s = session("alpha", "table/pt=1/");
    store.create_session(&s).await.unwrap();
    let parts: Vec<PartRecord> = (1..=3).map(|n| part(n, 10 * n as u64)).collect();
    for p in &parts {
        store.put_part(&s.id, p, clock()).await.unwrap();
    }
    let file = |p: &PartRecord| ObjectRecord {
        bucket: "alpha".into(),
        key: format!("table/pt=1/block-{}", p.number),
        size: p.size,
        etag: format!("e{}", p.number),
        modified: now_millis(),
        meta: ObjectMeta::default(),
        checksum: None,
        crc: WholeCrc::default(),
        manifest: vec![ManifestEntry { blob: p.blob.clone(), offset: 0, size: p.size }],
    };
    let files = vec![file(&parts[0]), file(&parts[2])];
    let record = CommitRecord { fingerprint: "blocks".into(), etag: String::new(), checksum: None, size: 40 };
    assert!(store.transition(&s.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    // One stale file refuses the whole commit: nothing is published.
    let stale = ObjectRecord {
        manifest: vec![ManifestEntry { blob: BlobId::random(), offset: 0, size: 1 }],
        ..file(&parts[1])
    };
    let with_stale = vec![file(&parts[0]), stale];
    assert!(matches!(store.publish(&s.id, &with_stale, &record).await, Err(Error::NoSuchUpload)));
    assert!(store.get_object("alpha", "table/pt=1/block-1").await.unwrap().is_none(), "all or nothing");
    store.publish(&s.id, &files, &record).await.unwrap();
    let keys: Vec<String> =
        store.list_objects("alpha", "table/pt=1/", "", 10).await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["table/pt=1/block-1", "table/pt=1/block-3"]);
    let garbage = store.garbage(now_millis() + 1_000_000, 10_000).await.unwrap();
    assert!(garbage.contains(&parts[1].blob), "the block left out is garbage");
    assert!(!garbage.contains(&parts[0].blob) && !garbage.contains(&parts[2].blob), "published blocks are not");
    assert_eq!(store.get_session(&s.id).await.unwrap().unwrap().state, SessionState::Closed);
}

/// Writers racing on one part or one session: exactly one wins, nothing leaks.
async fn concurrency(store: &Arc<dyn MetaStore>) {
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
fn small_object(key: &str, etag: &str) -> ObjectRecord {
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
async fn conditional_writes(store: &dyn MetaStore) {
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
async fn conditional_races(store: &Arc<dyn MetaStore>) {
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
    let mut won = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) => won.push(i),
            Err(e) => assert!(refused(Err(e), PreconditionFailure::ObjectExists), "a loser is refused, not failed"),
        }
    }
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
    let mut won = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) => won.push(i),
            Err(e) => assert!(refused(Err(e), PreconditionFailure::ObjectExists), "a loser is refused, not failed"),
        }
    }
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

async fn leases(store: &dyn MetaStore) {
    let now = now_millis();
    assert!(store.acquire_lease("sweep", "node-a", now, 1_000).await.unwrap(), "a free lease is taken");
    assert!(!store.acquire_lease("sweep", "node-b", now + 10, 1_000).await.unwrap(), "a held lease is refused");
    assert!(store.acquire_lease("sweep", "node-a", now + 500, 1_000).await.unwrap(), "the holder renews");
    assert!(!store.acquire_lease("sweep", "node-b", now + 1_200, 1_000).await.unwrap(), "renewal extends it");
    assert!(store.acquire_lease("other", "node-b", now, 1_000).await.unwrap(), "leases are independent");
    assert!(store.acquire_lease("sweep", "node-b", now + 1_500, 1_000).await.unwrap(), "an expired lease is taken");
}

async fn counts(store: &dyn MetaStore) {
    let counts = store.count_sessions().await.unwrap();
    let of = |state| counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
    assert!(of(SessionState::Normal) >= 1, "the suite left live sessions: {counts:?}");
    assert!(of(SessionState::Closed) >= 1);
    assert!(of(SessionState::Expired) >= 2);
    assert!(of(SessionState::Aborted) >= 1);
    assert!(of(SessionState::Closing) >= 2);
}

async fn write_blob(store: &dyn BlobStore, chunks: &[&[u8]]) -> BlobId {
    let mut w = store.create().await.unwrap();
    let id = w.id().clone();
    for c in chunks {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    let size = w.finish().await.unwrap();
    assert_eq!(size, chunks.iter().map(|c| c.len() as u64).sum::<u64>());
    id
}

async fn read_all(store: &dyn BlobStore, id: &BlobId, offset: u64, len: u64) -> Vec<u8> {
    let stream = store.read(id, offset, len).await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

/// Every guarantee of [`BlobStore`], on an empty store.
pub async fn blob_store_suite(store: Arc<dyn BlobStore>) {
    let store = &*store;
    store.check().await.unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let id = write_blob(store, &[b"hello ", b"world", &big]).await;
    assert_eq!(read_all(store, &id, 0, 11).await, b"hello world");
    assert_eq!(read_all(store, &id, 6, 5).await, b"world");
    assert_eq!(read_all(store, &id, 11, big.len() as u64).await, big, "large reads stream intact");
    assert!(read_all(store, &id, 11, 0).await.is_empty());

    // Aborted and dropped writers leave nothing behind.
    let mut w = store.create().await.unwrap();
    let aborted = w.id().clone();
    w.write(Bytes::from_static(b"partial")).await.unwrap();
    w.abort().await;
    assert!(store.read(&aborted, 0, 1).await.is_err() || read_err(store, &aborted).await, "aborted blob invisible");
    let listed = store.list_older_than(now_millis() + 60_000).await.unwrap();
    assert!(listed.contains(&id), "finished blobs are listed");
    assert!(!listed.contains(&aborted), "aborted blobs are not");
    assert!(!store.list_older_than(0).await.unwrap().contains(&id), "young blobs are not listed as old");

    store.delete(&id).await.unwrap();
    store.delete(&id).await.unwrap();
    assert!(store.read(&id, 0, 1).await.is_err() || read_err(store, &id).await, "deleted blob unreadable");
    let empty = write_blob(store, &[]).await;
    assert!(read_all(store, &empty, 0, 0).await.is_empty());
    store.clean_incomplete().await.unwrap();
}

async fn read_err(store: &dyn BlobStore, id: &BlobId) -> bool {
    match store.read(id, 0, 1).await {
        Err(_) => true,
        Ok(stream) => stream.try_collect::<Vec<Bytes>>().await.is_err(),
    }
}
