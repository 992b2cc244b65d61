//! The [`MetaStore`] suite: every guarantee of the contract, on an empty store. Single-writer
//! cases are here; racing writers and conditional writes are in `races`.

mod events;
mod group;
mod lifecycle;
mod races;
mod uploads;

use std::sync::Arc;

use ferry_core::{
    BlobId, CommitRecord, Digests, Error, ManifestEntry, MetaStore, Millis, ObjectMeta, ObjectRecord, PartRecord,
    Session, SessionClock, SessionState, Target, WholeCrc, now_millis, random_id,
};

pub use group::group_commit_suite;
use races::{concurrency, conditional_races, conditional_writes, counts, leases, small_object};

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
    damage_flags(&*store).await;
    lifecycle::lifecycle_rules(&*store).await;
    lifecycle::lifecycle_queries(&*store).await;
    events::outbox(&store).await;
    uploads::upload_store(&store).await;
}

/// The scrub's damage flag: set and cleared only on the object whose manifest names the blob,
/// gone with an overwrite; and the walk over sessions holding parts.
async fn damage_flags(store: &dyn MetaStore) {
    let before = store.count_damaged().await.unwrap();
    let object = small_object("scrub/victim", "v1");
    store.put_object(&object).await.unwrap();
    let blob = object.manifest[0].blob.clone();
    assert!(!store.mark_damaged("alpha", "scrub/victim", &BlobId::random(), Some("x")).await.unwrap(), "other blob");
    assert!(store.object_damage("alpha", "scrub/victim").await.unwrap().is_none());
    assert!(store.mark_damaged("alpha", "scrub/victim", &blob, Some("blob is missing")).await.unwrap());
    assert_eq!(store.object_damage("alpha", "scrub/victim").await.unwrap().as_deref(), Some("blob is missing"));
    assert_eq!(store.count_damaged().await.unwrap(), before + 1);
    assert!(store.get_object("alpha", "scrub/victim").await.unwrap().is_some(), "a flagged object is still listed");
    assert!(store.mark_damaged("alpha", "scrub/victim", &blob, None).await.unwrap());
    assert!(store.object_damage("alpha", "scrub/victim").await.unwrap().is_none(), "cleared");
    assert!(store.mark_damaged("alpha", "scrub/victim", &blob, Some("again")).await.unwrap());
    store.put_object(&small_object("scrub/victim", "v2")).await.unwrap();
    assert!(store.object_damage("alpha", "scrub/victim").await.unwrap().is_none(), "an overwrite is unflagged");
    assert!(!store.mark_damaged("alpha", "scrub/victim", &blob, Some("late")).await.unwrap(), "old blob, new object");
    assert!(!store.mark_damaged("alpha", "scrub/absent", &blob, Some("x")).await.unwrap());
    assert_eq!(store.count_damaged().await.unwrap(), before);
    store.delete_object("alpha", "scrub/victim").await.unwrap();

    let s = session("alpha", "scrub/open");
    store.create_session(&s).await.unwrap();
    store.put_part(&s.id, &part(1, 5), clock()).await.unwrap();
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.sessions_with_parts(&after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 2 && page.windows(2).all(|w| w[0] < w[1]), "ascending pages: {page:?}");
        after = last.clone();
        seen.extend(page);
    }
    assert!(seen.contains(&s.id), "a session holding parts is walked");
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted, seen, "each session once");
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
        dialect: Some("s3".into()),
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
