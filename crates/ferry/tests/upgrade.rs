//! Upgrades of an embedded data directory: sessions open across a schema change keep working.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use ferry_blob::LocalBlobStore;
use ferry_core::*;
use ferry_meta::SqliteMetaStore;
use futures_util::TryStreamExt;

fn body(data: &[u8]) -> PartInput {
    ferry_conformance::body_in_chunks(data, 7_000)
}

fn target(key: &str) -> ObjectTarget {
    ObjectTarget { bucket: "bkt".into(), key: key.into() }
}

async fn read(engine: &Engine, key: &str, range: Option<RangeSpec>) -> Vec<u8> {
    let r = engine.get_object("bkt", key, range, None).await.unwrap();
    r.body.try_collect::<Vec<Bytes>>().await.unwrap().concat()
}

/// US3's rules as its front-end chooses them: every part held, numbered from 0 without a gap,
/// every part but the last exactly one block.
fn us3_rules(block: u64) -> CommitRules {
    CommitRules::new(block, 10_000).contiguous_from(0).exact_part_size(block)
}

/// An upload open when ferry began keeping part numbers as sent: US3 had stored its part n as
/// n + 1. After the upgrade it lists, takes more parts and finishes in US3's numbering, while
/// a new upload stores the numbers as sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_us3_upload_open_across_the_upgrade_finishes_with_its_old_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("meta.db");
    let engine = |dir: &std::path::Path| {
        let meta = SqliteMetaStore::open(dir.join("meta.db")).unwrap();
        let blobs = LocalBlobStore::open(dir).unwrap();
        Engine::new(Arc::new(meta), Arc::new(blobs), EngineConfig::default())
    };
    let id = {
        let e = engine(dir.path());
        e.create_bucket("bkt").await.unwrap();
        let s = e.create_session(target("old"), ObjectMeta::default(), None).await.unwrap();
        // As the old US3 front-end stored US3 parts 0 and 1.
        e.put_part(&s, 1, body(&[b'a'; 8])).await.unwrap();
        e.put_part(&s, 2, body(&[b'b'; 8])).await.unwrap();
        s.id
    };
    {
        // The database as it was before the upgrade: without the column, back to just before
        // 0005_legacy_numbering (the fifth migration). Migrations after it run again on
        // reopening; they create what they add only if it is missing.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("ALTER TABLE sessions DROP COLUMN legacy_numbering").unwrap();
        conn.execute_batch("ALTER TABLE sessions DROP COLUMN dialect").unwrap();
        conn.pragma_update(None, "user_version", 4).unwrap();
    }
    let e = engine(dir.path());
    let s = e.open_session(&id, &Target::object("bkt", "old")).await.unwrap();
    assert!(s.legacy_numbering, "the migration marks the sessions open at the upgrade");
    let s = s.numbered_from(0);
    let listed = e.list_parts(&s, None, 10).await.unwrap().parts;
    assert_eq!(listed.iter().map(|p| p.number).collect::<Vec<_>>(), [0, 1], "in US3's numbering");
    assert_eq!(e.list_parts(&s, Some(0), 10).await.unwrap().parts[0].number, 1, "markers too");
    assert_eq!(e.put_part(&s, 2, body(b"cc")).await.unwrap().number, 2);
    let object = e.commit(&s, CommitRequest::held(vec![], us3_rules(8))).await.unwrap();
    assert_eq!(object.size, 18);
    assert_eq!(read(&e, "old", None).await, [&[b'a'; 8][..], &[b'b'; 8], b"cc"].concat());

    // A new upload keeps US3's numbers as sent; S3 never sees a shift.
    let fresh = e.create_session(target("new"), ObjectMeta::default(), None).await.unwrap();
    assert!(!fresh.legacy_numbering);
    let fresh = fresh.numbered_from(0);
    assert_eq!(fresh.part_shift, 0);
    e.put_part(&fresh, 0, body(b"z")).await.unwrap();
    let fresh = e.open_session(&fresh.id, &Target::object("bkt", "new")).await.unwrap();
    assert_eq!(e.list_parts(&fresh, None, 10).await.unwrap().parts[0].number, 0, "stored as sent");
}
