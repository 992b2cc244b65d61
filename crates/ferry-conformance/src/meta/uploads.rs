//! The offset-upload part of the contract ([`ferry_core::uploads::UploadStore`]): a declared
//! length set once, a part put that never replaces (one winner among racing writers), and the
//! concatenation of finished uploads into one object in one transaction.

use std::sync::Arc;

use ferry_core::uploads::ConcatSource;
use ferry_core::{CommitRecord, Error, ManifestEntry, MetaStore, ObjectRecord, SessionState, WholeCrc, now_millis};

use super::{clock, part, session};

pub(super) async fn upload_store(store: &Arc<dyn MetaStore>) {
    declared_lengths(&**store).await;
    parts_never_replaced(store).await;
    concatenation(&**store).await;
}

async fn declared_lengths(store: &dyn MetaStore) {
    assert_eq!(store.declare_length("missing", 5).await.unwrap(), None, "no session, no length");
    let s = session("alpha", "len");
    store.create_session(&s).await.unwrap();
    assert_eq!(store.declared_length(&s.id).await.unwrap(), None);
    assert_eq!(store.declare_length(&s.id, 10).await.unwrap(), Some(10));
    assert_eq!(store.declare_length(&s.id, 20).await.unwrap(), Some(10), "the first length stays");
    assert_eq!(store.declared_length(&s.id).await.unwrap(), Some(10));
}

async fn parts_never_replaced(store: &Arc<dyn MetaStore>) {
    let s = session("alpha", "once");
    store.create_session(&s).await.unwrap();
    let first = part(1, 10);
    assert!(store.put_part_once(&s.id, &first, clock()).await.unwrap());
    assert!(!store.put_part_once(&s.id, &part(1, 11), clock()).await.unwrap(), "number taken");
    let held = store.list_parts(&s.id, None, 10).await.unwrap();
    assert_eq!(held.iter().map(|p| (&p.blob, p.size)).collect::<Vec<_>>(), [(&first.blob, 10)], "the first stays");
    // Racing writers of one number: exactly one is stored.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, id, p) = (store.clone(), s.id.clone(), part(2, 100 + i));
            tokio::spawn(async move { store.put_part_once(&id, &p, clock()).await })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        stored += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(stored, 1, "one winner");
    assert_eq!(store.list_parts(&s.id, None, 10).await.unwrap().len(), 2);
    assert!(matches!(store.put_part_once("missing", &part(1, 1), clock()).await, Err(Error::NoSuchUpload)));
}

async fn concatenation(store: &dyn MetaStore) {
    let target = session("alpha", "joined");
    store.create_session(&target).await.unwrap();
    let mut sources = Vec::new();
    let mut manifest = Vec::new();
    let mut offset = 0;
    for (i, sizes) in [[3u64, 4], [5, 6]].iter().enumerate() {
        let s = session("alpha", &format!("partial-{i}"));
        store.create_session(&s).await.unwrap();
        let mut blobs = Vec::new();
        for (n, size) in sizes.iter().enumerate() {
            let p = part(n as u32 + 1, *size);
            store.put_part_once(&s.id, &p, clock()).await.unwrap();
            manifest.push(ManifestEntry { blob: p.blob.clone(), offset, size: *size });
            offset += size;
            blobs.push(p.blob);
        }
        sources.push(ConcatSource { session: s.id.clone(), blobs, size: sizes.iter().sum() });
    }
    let object = ObjectRecord {
        bucket: "alpha".into(),
        key: "joined".into(),
        size: offset,
        etag: "e-4".into(),
        modified: now_millis(),
        meta: target.meta.clone(),
        checksum: None,
        crc: WholeCrc::default(),
        manifest,
    };
    let record = CommitRecord { fingerprint: "f".into(), etag: "e-4".into(), checksum: None, size: offset };
    // Not Closing yet: refused.
    assert!(matches!(
        store.publish_concat(&target.id, &sources, &object, &record, &[]).await,
        Err(Error::NoSuchUpload)
    ));
    assert!(store.transition(&target.id, &[SessionState::Normal], SessionState::Closing, clock()).await.unwrap());
    // A source that changed since it was read: refused, nothing moves.
    let mut stale = sources.clone();
    stale[1].blobs.pop();
    assert!(matches!(store.publish_concat(&target.id, &stale, &object, &record, &[]).await, Err(Error::NoSuchUpload)));
    assert!(store.get_object("alpha", "joined").await.unwrap().is_none());
    assert_eq!(store.list_parts(&sources[1].session, None, 10).await.unwrap().len(), 2);

    store.publish_concat(&target.id, &sources, &object, &record, &[]).await.unwrap();
    let published = store.get_object("alpha", "joined").await.unwrap().unwrap();
    assert_eq!(published.manifest, object.manifest, "the sources' blobs in order");
    let target = store.get_session(&target.id).await.unwrap().unwrap();
    assert_eq!((target.state, target.commit.map(|c| c.size)), (SessionState::Closed, Some(offset)));
    for source in &sources {
        let s = store.get_session(&source.session).await.unwrap().unwrap();
        assert_eq!(s.state, SessionState::Closed, "a source is used up");
        assert_eq!(s.commit.map(|c| c.size), Some(source.size));
        assert!(store.list_parts(&source.session, None, 10).await.unwrap().is_empty());
        // No blob of the object is garbage.
        for blob in &source.blobs {
            assert!(store.is_referenced(blob).await.unwrap());
        }
    }
}
