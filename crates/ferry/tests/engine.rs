//! The engine over the embedded stores (SQLite + local disk), without any HTTP.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_blob::LocalBlobStore;
use ferry_core::checksum::{ChecksumAlgorithm, ChecksumType, Wanted};
use ferry_core::*;
use ferry_meta::SqliteMetaStore;
use futures_util::TryStreamExt;

struct Fixture {
    engine: Engine,
    dir: tempfile::TempDir,
}

fn fixture(config: EngineConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
    let blobs = LocalBlobStore::open(dir.path()).unwrap();
    Fixture { engine: Engine::new(Arc::new(meta), Arc::new(blobs), config), dir }
}

mod common;

fn body(data: &[u8]) -> PartInput {
    common::body_in_chunks(data, 7_000)
}

fn target(key: &str) -> ObjectTarget {
    ObjectTarget { bucket: "bkt".into(), key: key.into() }
}

async fn read(engine: &Engine, key: &str, range: Option<RangeSpec>) -> Vec<u8> {
    let r = engine.get_object("bkt", key, range, None).await.unwrap();
    r.body.try_collect::<Vec<Bytes>>().await.unwrap().concat()
}

/// Blob files holding bytes (the store also keeps empty files made ahead of need; these tests
/// store no empty blobs).
fn blob_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .filter(|f| f.as_ref().unwrap().metadata().unwrap().len() > 0)
        .count()
}

fn rules() -> CommitRules {
    CommitRules { min_part_size: 10, max_parts: 10_000 }
}

fn commit_list(parts: &[&PartRecord]) -> CommitRequest {
    CommitRequest {
        parts: parts
            .iter()
            .map(|p| CommitPart { number: p.number, etag: Some(format!("\"{}\"", p.etag())), checksums: vec![] })
            .collect(),
        rules: rules(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parts_in_any_order_resent_and_committed_by_metadata() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("obj"), ObjectMeta::default(), None).await.unwrap();
    let a = vec![b'a'; 20_000];
    let c = vec![b'c'; 15];
    let p3 = e.put_part(&s, 3, body(&c)).await.unwrap();
    let _stale = e.put_part(&s, 1, body(b"stale stale")).await.unwrap();
    let p1 = e.put_part(&s, 1, body(&a)).await.unwrap();
    let listed = e.list_parts(&s.id, None, 100).await.unwrap().parts;
    assert_eq!(
        listed.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(),
        [(1, 20_000), (3, 15)],
        "re-sent part replaced"
    );

    let object = e.commit(&s.id, commit_list(&[&p1, &p3])).await.unwrap();
    assert_eq!(object.size, 20_015);
    assert!(object.etag.ends_with("-2"));
    assert_eq!(object.manifest[0].blob, p1.blob, "commit publishes the part blobs themselves (no copy)");
    assert_eq!(read(e, "obj", None).await, [a.clone(), c.clone()].concat());
    assert_eq!(read(e, "obj", Some(RangeSpec::From { first: 19_998, last: Some(20_001) })).await, b"aacc");
    assert_eq!(read(e, "obj", Some(RangeSpec::Suffix(3))).await, b"ccc");
    // The retried commit with the same list gets the same answer; a different list does not.
    let again = e.commit(&s.id, commit_list(&[&p1, &p3])).await.unwrap();
    assert_eq!(again.etag, object.etag);
    assert!(matches!(e.commit(&s.id, commit_list(&[&p1])).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.put_part(&s, 4, body(b"late")).await, Err(Error::NoSuchUpload)));
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_verification_errors_leave_the_session_usable() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("obj"), ObjectMeta::default(), None).await.unwrap();
    let p1 = e.put_part(&s, 1, body(&[1; 5])).await.unwrap();
    let p2 = e.put_part(&s, 2, body(&[2; 50])).await.unwrap();
    let mut wrong = commit_list(&[&p1, &p2]);
    wrong.parts[1].etag = Some("\"00000000000000000000000000000000\"".into());
    assert!(matches!(e.commit(&s.id, wrong).await, Err(Error::InvalidPart(2))));
    let mut missing = commit_list(&[&p1]);
    missing.parts.push(CommitPart { number: 7, ..Default::default() });
    assert!(matches!(e.commit(&s.id, missing).await, Err(Error::InvalidPart(7))));
    let mut backwards = commit_list(&[&p2, &p1]);
    backwards.parts.swap(0, 1);
    backwards.parts.swap(0, 1);
    assert!(matches!(e.commit(&s.id, backwards).await, Err(Error::InvalidPartOrder)));
    assert!(matches!(e.commit(&s.id, commit_list(&[&p1, &p2])).await, Err(Error::EntityTooSmall { number: 1, .. })));
    assert_eq!(e.session(&s.id).await.unwrap().state, SessionState::Normal, "a refused commit reopens the session");
    let p1 = e.put_part(&s, 1, body(&[1; 10])).await.unwrap();
    e.commit(&s.id, commit_list(&[&p1, &p2])).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_store_nothing() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let mut wrong_md5 = body(b"payload");
    wrong_md5.expected.push(Expected { kind: DigestKind::Md5, value: vec![0; 16] });
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), wrong_md5, None).await,
        Err(Error::ChecksumMismatch { kind: DigestKind::Md5, .. })
    ));
    let mut short = body(b"payload");
    short.expected_size = Some(100);
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), short, None).await,
        Err(Error::IncompleteBody(_))
    ));
    let broken = PartInput {
        body: Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
        ])),
        ..body(b"")
    };
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), broken, None).await,
        Err(Error::IncompleteBody(_))
    ));
    let mut big = body(&[0; 100]);
    big.max_size = 10;
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), big, None).await,
        Err(Error::EntityTooLarge { .. })
    ));
    assert!(matches!(e.head_object("bkt", "k").await, Err(Error::NoSuchKey)));
    assert_eq!(blob_files(f.dir.path()), 0, "no blob survives a refused body");
    assert!(!f.dir.path().join("tmp").exists(), "nothing is staged outside the blob files either");
}

#[tokio::test(flavor = "multi_thread")]
async fn checksums_composite_and_full_object() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for (algorithm, kind) in
        [(ChecksumAlgorithm::Crc32, ChecksumType::FullObject), (ChecksumAlgorithm::Sha256, ChecksumType::Composite)]
    {
        let s = e
            .create_session(target("sum"), ObjectMeta::default(), Some(ChecksumRequest { algorithm, kind }))
            .await
            .unwrap();
        let p1 = e.put_part(&s, 1, body(&data[..30_000])).await.unwrap();
        let p2 = e.put_part(&s, 2, body(&data[30_000..])).await.unwrap();
        let object = e.commit(&s.id, commit_list(&[&p1, &p2])).await.unwrap();
        let value = object.checksum.unwrap().value;
        match kind {
            ChecksumType::FullObject => {
                let mut h = checksum::MultiHasher::new(Wanted::default());
                h.update(&data);
                assert_eq!(
                    Some(value),
                    h.finish().base64(ChecksumAlgorithm::Crc32),
                    "full-object CRC combined from parts"
                );
            }
            ChecksumType::Composite => {
                assert_eq!(Some(value), checksum::composite_checksum(algorithm, &[p1.digests, p2.digests]));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn abort_expiry_and_garbage_collection() {
    let f = fixture(EngineConfig {
        session_lifetime: Duration::from_millis(300),
        gc_grace: Duration::ZERO,
        ..EngineConfig::default()
    });
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let aborted = e.create_session(target("x"), ObjectMeta::default(), None).await.unwrap();
    e.put_part(&aborted, 1, body(b"one")).await.unwrap();
    e.abort(&aborted.id).await.unwrap();
    assert!(matches!(e.abort(&aborted.id).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.list_parts(&aborted.id, None, 10).await, Err(Error::NoSuchUpload)));
    let expiring = e.create_session(target("y"), ObjectMeta::default(), None).await.unwrap();
    e.put_part(&expiring, 1, body(b"two")).await.unwrap();
    e.put_object(target("kept"), ObjectMeta::default(), body(b"kept"), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = e.sweep().await.unwrap();
    assert_eq!(report.expired_sessions, 1);
    assert_eq!(report.deleted_blobs, 2, "the aborted and the expired part");
    assert_eq!(e.session(&expiring.id).await.unwrap().state, SessionState::Expired);
    assert_eq!(blob_files(f.dir.path()), 1, "only the published object's blob remains");
    // Overwrite and delete free their blobs too.
    e.put_object(target("kept"), ObjectMeta::default(), body(b"kept2"), None).await.unwrap();
    e.copy_object(&target("kept"), target("copy"), None).await.unwrap();
    e.delete_object("bkt", "kept").await.unwrap();
    e.sweep().await.unwrap();
    assert_eq!(blob_files(f.dir.path()), 1, "the copy still references the shared blob");
    assert_eq!(read(e, "copy", None).await, b"kept2");
    e.delete_object("bkt", "copy").await.unwrap();
    e.sweep().await.unwrap();
    assert_eq!(blob_files(f.dir.path()), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_with_delimiter_and_pages() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    for key in ["a/1", "a/2", "b/1", "c", "d/x/y"] {
        e.put_object(target(key), ObjectMeta::default(), body(b"x"), None).await.unwrap();
    }
    let page = e.list_objects("bkt", "", "/", "", 2).await.unwrap();
    assert_eq!(page.common_prefixes, ["a/", "b/"]);
    assert!(page.truncated);
    let next = e.list_objects("bkt", "", "/", page.next_marker.as_deref().unwrap(), 10).await.unwrap();
    assert_eq!(next.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(next.common_prefixes, ["d/"]);
    assert!(!next.truncated);
    let flat = e.list_objects("bkt", "a/", "", "", 10).await.unwrap();
    assert_eq!(flat.objects.len(), 2);
    assert!(matches!(e.delete_bucket("bkt").await, Err(Error::BucketNotEmpty)));
}

#[tokio::test(flavor = "multi_thread")]
async fn block_commits_publish_one_file_per_block_or_nothing() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("tables/t/pt=1/"), ObjectMeta::default(), None).await.unwrap();
    let blocks: Vec<Vec<u8>> = (0..3u8).map(|b| vec![b + 1; 100 + b as usize]).collect();
    for (id, data) in blocks.iter().enumerate().rev() {
        e.put_part(&s, id as u32, body(data)).await.unwrap();
    }
    let key = |b: u32| format!("tables/t/pt=1/{}-{b:05}.parquet", "s");

    // A list that differs from what the server holds publishes nothing and reopens the session.
    assert!(matches!(e.commit_blocks(&s.id, &[0, 2], &key).await, Err(Error::InvalidPart(1))));
    assert!(matches!(e.commit_blocks(&s.id, &[0, 1, 2, 3], &key).await, Err(Error::InvalidPart(3))));
    assert!(e.list_objects("bkt", "tables/", "", "", 10).await.unwrap().objects.is_empty(), "nothing published");
    assert_eq!(e.session(&s.id).await.unwrap().state, SessionState::Normal);

    let files = e.commit_blocks(&s.id, &[2, 0, 1], &key).await.unwrap();
    assert_eq!(files.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), [key(0), key(1), key(2)]);
    for (id, data) in blocks.iter().enumerate() {
        assert_eq!(&read(e, &key(id as u32), None).await, data, "block {id} is its own file");
    }
    assert_eq!(blob_files(f.dir.path()), 3, "the files are the block blobs themselves (no copy)");
    assert!(e.commit_blocks(&s.id, &[0, 1, 2], &key).await.unwrap().is_empty(), "a retried commit replays");
    assert!(matches!(e.commit_blocks(&s.id, &[0, 1], &key).await, Err(Error::NoSuchUpload)));
}

#[tokio::test(flavor = "multi_thread")]
async fn blocks_of_rows_become_parquet_files() {
    use ferry_core::ferry_table::{Column, ColumnType, Value, read_block};
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("tables/t/"), ObjectMeta::default(), None).await.unwrap();
    let columns = vec![Column::new("id", ColumnType::Bigint), Column::new("name", ColumnType::String)];
    let rows: Vec<Vec<Value>> =
        (0..50_000).map(|i| vec![Value::Int(i), Value::Bytes(format!("row {i}").into_bytes())]).collect();
    let batches: Vec<Result<Vec<Vec<Value>>>> = rows.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let (part, count) =
        e.put_block(&s, 7, &columns, Box::pin(futures_util::stream::iter(batches)), 1 << 30).await.unwrap();
    assert_eq!((part.number, count), (7, 50_000));

    // A row that does not fit its column stores nothing, and says why.
    let bad: Vec<Result<Vec<Vec<Value>>>> = vec![Ok(vec![vec![Value::Bool(true), Value::Null]])];
    let err = e.put_block(&s, 8, &columns, Box::pin(futures_util::stream::iter(bad)), 1 << 30).await.unwrap_err();
    assert!(err.to_string().contains("bigint cannot hold"), "{err}");
    // So does a failing row source (a corrupt upload body).
    let failing: Vec<Result<Vec<Vec<Value>>>> =
        vec![Ok(rows[..10].to_vec()), Err(Error::InvalidArgument("row checksum mismatch".into()))];
    let err = e.put_block(&s, 9, &columns, Box::pin(futures_util::stream::iter(failing)), 1 << 30).await.unwrap_err();
    assert!(err.to_string().contains("row checksum mismatch"), "{err}");
    assert_eq!(e.list_parts(&s.id, None, 10).await.unwrap().parts.len(), 1, "only the good block is held");

    let files = e.commit_blocks(&s.id, &[7], &|b| format!("tables/t/{b}.parquet")).await.unwrap();
    let bytes = read(e, &files[0].key, None).await;
    assert_eq!(read_block(Bytes::from(bytes), &columns).unwrap(), rows, "the committed file is the rows, as Parquet");
    assert_eq!(blob_files(f.dir.path()), 1, "failed blocks left no file");
}
