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
    CommitRules::new(10, 10_000)
}

fn commit_list(parts: &[&PartRecord]) -> CommitRequest {
    CommitRequest::listed(
        parts
            .iter()
            .map(|p| CommitPart { number: p.number, etag: Some(format!("\"{}\"", p.etag())), checksums: vec![] })
            .collect(),
        rules(),
    )
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
    let listed = e.list_parts(&s, None, 100).await.unwrap().parts;
    assert_eq!(
        listed.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(),
        [(1, 20_000), (3, 15)],
        "re-sent part replaced"
    );

    let object = e.commit(&s, commit_list(&[&p1, &p3])).await.unwrap();
    assert_eq!(object.size, 20_015);
    assert!(object.etag.ends_with("-2"));
    assert_eq!(object.manifest[0].blob, p1.blob, "commit publishes the part blobs themselves (no copy)");
    assert_eq!(read(e, "obj", None).await, [a.clone(), c.clone()].concat());
    assert_eq!(read(e, "obj", Some(RangeSpec::From { first: 19_998, last: Some(20_001) })).await, b"aacc");
    assert_eq!(read(e, "obj", Some(RangeSpec::Suffix(3))).await, b"ccc");
    // The retried commit with the same list gets the same answer; a different list does not.
    let again = e.commit(&s, commit_list(&[&p1, &p3])).await.unwrap();
    assert_eq!(again.etag, object.etag);
    assert!(matches!(e.commit(&s, commit_list(&[&p1])).await, Err(Error::NoSuchUpload)));
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
    let edited = |parts: &[&PartRecord], edit: &dyn Fn(&mut Vec<CommitPart>)| {
        let mut request = commit_list(parts);
        if let PartList::Listed(list) = &mut request.parts {
            edit(list);
        }
        request
    };
    let wrong = edited(&[&p1, &p2], &|l| l[1].etag = Some("\"00000000000000000000000000000000\"".into()));
    assert!(matches!(e.commit(&s, wrong).await, Err(Error::InvalidPart(2))));
    let missing = edited(&[&p1], &|l| l.push(CommitPart { number: 7, ..Default::default() }));
    assert!(matches!(e.commit(&s, missing).await, Err(Error::InvalidPart(7))));
    let backwards = commit_list(&[&p2, &p1]);
    assert!(matches!(e.commit(&s, backwards).await, Err(Error::InvalidPartOrder)));
    assert!(matches!(e.commit(&s, commit_list(&[&p1, &p2])).await, Err(Error::EntityTooSmall { number: 1, .. })));
    assert_eq!(
        e.open_session(&s.id, &s.target).await.unwrap().state,
        SessionState::Normal,
        "a refused commit reopens the session"
    );
    let p1 = e.put_part(&s, 1, body(&[1; 10])).await.unwrap();
    e.commit(&s, commit_list(&[&p1, &p2])).await.unwrap();
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
        let object = e.commit(&s, commit_list(&[&p1, &p2])).await.unwrap();
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
    e.abort(&aborted).await.unwrap();
    assert!(matches!(e.abort(&aborted).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.list_parts(&aborted, None, 10).await, Err(Error::NoSuchUpload)));
    let expiring = e.create_session(target("y"), ObjectMeta::default(), None).await.unwrap();
    e.put_part(&expiring, 1, body(b"two")).await.unwrap();
    e.put_object(target("kept"), ObjectMeta::default(), body(b"kept"), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = e.sweep().await.unwrap();
    assert_eq!(report.expired_sessions, 1);
    assert_eq!(report.deleted_blobs, 2, "the aborted and the expired part");
    assert_eq!(e.open_session(&expiring.id, &expiring.target).await.unwrap().state, SessionState::Expired);
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

fn rows_of(n: i64, tag: &str) -> Vec<Vec<ferry_table::Value>> {
    use ferry_table::Value;
    (0..n).map(|i| vec![Value::Int(i), Value::Bytes(format!("{tag} {i}").into_bytes())]).collect()
}

fn batches(rows: &[Vec<ferry_table::Value>]) -> RowBatches {
    let batches: Vec<Result<Vec<Vec<ferry_table::Value>>>> = rows.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    Box::pin(futures_util::stream::iter(batches))
}

fn columns() -> Vec<ferry_table::Column> {
    use ferry_table::{Column, ColumnType};
    vec![Column::new("id", ColumnType::Bigint), Column::new("name", ColumnType::String)]
}

/// A table `p.<table>` with columns (id bigint, name string) and no partitions.
async fn table(e: &Engine, table: &str) -> TableName {
    let name = TableName::new("p", table).unwrap();
    let schema = ferry_table::TableSchema { columns: columns(), partition_keys: Vec::new() };
    e.create_table(&name, schema, "", -1, false).await.unwrap();
    name
}

/// The partition spec of a table without partitions.
fn whole() -> ferry_table::PartitionSpec {
    ferry_table::PartitionSpec::default()
}

async fn all_rows(e: &Engine, file: &TableFile) -> Result<Vec<Vec<ferry_table::Value>>> {
    let mut rows = e.table_file_rows(file, &columns(), 0..usize::MAX);
    let mut out = Vec::new();
    while let Some(batch) = rows.next().await {
        out.extend(batch?);
    }
    Ok(out)
}

async fn read_table_file(e: &Engine, key: &str) -> Vec<u8> {
    let r = e.get_object(&e.config().table_bucket, key, None, None).await.unwrap();
    r.body.try_collect::<Vec<Bytes>>().await.unwrap().concat()
}

/// The blob file holding object `key` of the table bucket (tests corrupt it on disk).
async fn table_blob_path(f: &Fixture, key: &str) -> std::path::PathBuf {
    let object = f.engine.head_object(&f.engine.config().table_bucket, key).await.unwrap();
    let blob = &object.manifest[0].blob.0;
    f.dir.path().join("blobs").join(&blob[..2]).join(blob)
}

#[tokio::test(flavor = "multi_thread")]
async fn block_commits_publish_one_file_per_block_or_nothing() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    let name = table(e, "t").await;
    let upload = e.create_table_upload(&name, &whole(), false).await.unwrap();
    let blocks: Vec<_> = (0..3).map(|b| rows_of(100 + b, &format!("block {b}"))).collect();
    for (id, rows) in blocks.iter().enumerate().rev() {
        e.put_block(&upload.session, id as u32, &columns(), batches(rows), 1 << 30).await.unwrap();
    }
    let info = e.table(&name).await.unwrap();

    // A list that differs from what the server holds publishes nothing and reopens the session.
    assert!(matches!(e.commit_table_upload(&upload, Some(&[0, 2])).await, Err(Error::InvalidPart(1))));
    assert!(matches!(e.commit_table_upload(&upload, Some(&[0, 1, 2, 3])).await, Err(Error::InvalidPart(3))));
    assert!(e.table_files(&info, &whole(), now_millis()).await.unwrap().is_empty(), "nothing published");
    let reopened = e.table_upload(&name, &whole(), &upload.session.id).await.unwrap();
    assert_eq!(reopened.session.state, SessionState::Normal);

    e.commit_table_upload(&upload, Some(&[2, 0, 1])).await.unwrap();
    let published = e.table_files(&info, &whole(), now_millis()).await.unwrap();
    assert_eq!(published.len(), 3, "one file per block");
    for (file, rows) in published.iter().zip(&blocks) {
        assert_eq!(&all_rows(e, file).await.unwrap(), rows, "block {} is its own file", file.key);
    }
    assert_eq!(blob_files(f.dir.path()), 4, "the schema and the block blobs themselves (no copy)");
    e.commit_table_upload(&upload, Some(&[0, 1, 2])).await.unwrap();
    assert!(matches!(e.commit_table_upload(&upload, Some(&[0, 1])).await, Err(Error::NoSuchUpload)));
}

#[tokio::test(flavor = "multi_thread")]
async fn blocks_of_rows_become_parquet_files() {
    use ferry_core::ferry_table::{Value, read_block};
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    let name = table(e, "t").await;
    let upload = e.create_table_upload(&name, &whole(), false).await.unwrap();
    let s = &upload.session;
    let rows = rows_of(50_000, "row");
    let (part, count) = e.put_block(s, 7, &columns(), batches(&rows), 1 << 30).await.unwrap();
    assert_eq!((part.number, count), (7, 50_000));

    // A row that does not fit its column stores nothing, and says why.
    let bad: Vec<Result<Vec<Vec<Value>>>> = vec![Ok(vec![vec![Value::Bool(true), Value::Null]])];
    let err = e.put_block(s, 8, &columns(), Box::pin(futures_util::stream::iter(bad)), 1 << 30).await.unwrap_err();
    assert!(err.to_string().contains("bigint cannot hold"), "{err}");
    // So does a failing row source (a corrupt upload body).
    let failing: Vec<Result<Vec<Vec<Value>>>> =
        vec![Ok(rows[..10].to_vec()), Err(Error::InvalidArgument("row checksum mismatch".into()))];
    let err = e.put_block(s, 9, &columns(), Box::pin(futures_util::stream::iter(failing)), 1 << 30).await.unwrap_err();
    assert!(err.to_string().contains("row checksum mismatch"), "{err}");
    assert_eq!(e.list_parts(s, None, 10).await.unwrap().parts.len(), 1, "only the good block is held");

    e.commit_table_upload(&upload, Some(&[7])).await.unwrap();
    let files = e.table_files(&e.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap();
    let bytes = read_table_file(e, &files[0].key).await;
    assert_eq!(read_block(Bytes::from(bytes), &columns()).unwrap(), rows, "the committed file is the rows, as Parquet");
    assert_eq!(blob_files(f.dir.path()), 2, "the schema and the one good block; failed blocks left no file");
}

/// Regression: a Tunnel upload session was an S3 multipart upload in the table bucket, so S3
/// clients could list it, fill it with garbage "blocks" (which a Tunnel commit then published,
/// breaking every read), or complete and abort it. Sessions now have a target of their own.
#[tokio::test(flavor = "multi_thread")]
async fn table_sessions_and_object_sessions_never_mix() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    let tables = e.config().table_bucket.clone();
    let name = table(e, "t").await;
    let upload = e.create_table_upload(&name, &whole(), false).await.unwrap();
    let id = &upload.session.id;
    assert_eq!(
        upload.session.target,
        Target::TablePartition { project: "p".into(), table: "t".into(), partition: String::new() }
    );

    // Through the object API the table upload does not exist, whatever bucket and key are named.
    let key = format!("p/t/{}/_upload", e.table(&name).await.unwrap().id);
    for target in [Target::object(tables.as_str(), key.as_str()), Target::object("bkt", "k")] {
        assert!(matches!(e.open_session(id, &target).await, Err(Error::NoSuchUpload)), "{target}");
    }
    assert!(matches!(e.put_part(&upload.session, 1, body(b"garbage")).await, Err(Error::NoSuchUpload)));
    let complete = CommitRequest::listed(vec![CommitPart { number: 1, ..Default::default() }], rules());
    assert!(matches!(e.commit(&upload.session, complete).await, Err(Error::NoSuchUpload)));
    assert!(
        e.list_sessions(&tables, "", &UploadMarker::Start, 1000).await.unwrap().sessions.is_empty(),
        "table uploads are not listed"
    );
    // Another table's name does not open it either.
    let other = TableName::new("p", "other").unwrap();
    let schema = e.table(&name).await.unwrap().schema;
    e.create_table(&other, schema, "", -1, false).await.unwrap();
    assert!(matches!(e.table_upload(&other, &whole(), id).await, Err(Error::NoSuchUpload)));

    // And the reverse: an object upload is no table upload.
    e.create_bucket("bkt").await.unwrap();
    let object = e.create_session(target("k"), ObjectMeta::default(), None).await.unwrap();
    assert!(matches!(e.table_upload(&name, &whole(), &object.id).await, Err(Error::NoSuchUpload)));
    assert!(matches!(
        e.put_block(&object, 0, &columns(), batches(&rows_of(3, "x")), 1 << 30).await,
        Err(Error::NoSuchUpload)
    ));

    // The table upload works as before and the table reads back.
    let rows = rows_of(10, "r");
    e.put_block(&upload.session, 0, &columns(), batches(&rows), 1 << 30).await.unwrap();
    e.commit_table_upload(&upload, Some(&[0])).await.unwrap();
    let files = e.table_files(&e.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap();
    assert_eq!(all_rows(e, &files[0]).await.unwrap(), rows);
}

fn target_in(bucket: &str, key: &str) -> ObjectTarget {
    ObjectTarget { bucket: bucket.into(), key: key.into() }
}

/// Regression: S3 clients could overwrite `_schema.json` (after which every table call, DROP
/// included, failed) or delete table files. The table bucket is read-only to object calls.
#[tokio::test(flavor = "multi_thread")]
async fn the_table_bucket_is_read_only_to_object_calls() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    let tables = e.config().table_bucket.clone();
    let denied = |r: Result<()>| matches!(r, Err(Error::AccessDenied(_)));
    assert!(denied(e.create_bucket(&tables).await), "the table bucket's name is reserved before any table exists");
    let name = table(e, "t").await;
    let schema_key = "p/t/_schema.json";
    assert!(denied(
        e.put_object(target_in(&tables, schema_key), ObjectMeta::default(), body(b"{}"), None).await.map(|_| ())
    ));
    assert!(denied(e.create_session(target_in(&tables, "p/t/x"), ObjectMeta::default(), None).await.map(|_| ())));
    assert!(denied(e.delete_object(&tables, schema_key).await.map(|_| ())));
    assert!(denied(e.delete_bucket(&tables).await));
    assert!(denied(e.create_bucket(&tables).await));
    e.create_bucket("bkt").await.unwrap();
    e.put_object(target_in("bkt", "evil"), ObjectMeta::default(), body(b"{}"), None).await.unwrap();
    assert!(denied(e.copy_object(&target_in("bkt", "evil"), target_in(&tables, schema_key), None).await.map(|_| ())));

    // Reading is fine, and the table is intact.
    let schema = read_table_file(e, schema_key).await;
    assert!(String::from_utf8(schema).unwrap().contains("tableId"));
    e.table(&name).await.unwrap();
    e.drop_table(&name, false).await.unwrap();
}

/// A table file damaged on disk is a clear `Corrupt` error naming it, and DROP TABLE still
/// works, so the name can be used again.
#[tokio::test(flavor = "multi_thread")]
async fn corrupt_table_files_are_reported_and_the_table_can_be_dropped() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    let name = table(e, "t").await;
    let upload = e.create_table_upload(&name, &whole(), false).await.unwrap();
    e.put_block(&upload.session, 0, &columns(), batches(&rows_of(100, "r")), 1 << 30).await.unwrap();
    e.commit_table_upload(&upload, Some(&[0])).await.unwrap();
    let info = e.table(&name).await.unwrap();
    // Found by listing, so no row count of it is remembered yet.
    let tables = e.config().table_bucket.clone();
    let listed = e.list_objects(&tables, "p/t/", "", "", 100).await.unwrap().objects;
    let data = listed.iter().find(|o| o.key.ends_with(".parquet")).unwrap();
    let file = TableFile { key: data.key.clone(), size: data.size, rows: 100, modified: data.modified };

    // A data file whose bytes were overwritten: its footer is garbage.
    let path = table_blob_path(&f, &file.key).await;
    std::fs::write(&path, vec![b'x'; file.size as usize]).unwrap();
    for err in [e.table_files(&info, &whole(), now_millis()).await.unwrap_err(), all_rows(e, &file).await.unwrap_err()]
    {
        assert!(matches!(&err, Error::Table(TableError::Corrupt(m)) if m.contains(&file.key)), "{err}");
    }
    e.drop_table(&name, false).await.unwrap();
    assert!(matches!(e.table(&name).await, Err(Error::Table(TableError::NoSuchTable(_)))));
    let name = table(e, "t").await;

    // A schema cut short on disk.
    let path = table_blob_path(&f, "p/t/_schema.json").await;
    std::fs::write(&path, b"{\"tab").unwrap();
    let err = e.table(&name).await.unwrap_err();
    assert!(matches!(&err, Error::Table(TableError::Corrupt(m)) if m.contains("shorter")), "{err}");
    e.drop_table(&name, false).await.unwrap();
    let name = table(e, "t").await;

    // A schema that is not JSON any more.
    let path = table_blob_path(&f, "p/t/_schema.json").await;
    let size = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, format!("{:size$}", "not json")).unwrap();
    let err = e.table(&name).await.unwrap_err();
    assert!(matches!(&err, Error::Table(TableError::Corrupt(m)) if m.contains("p.t")), "{err}");
    assert!(matches!(e.create_table_upload(&name, &whole(), false).await, Err(Error::Table(TableError::Corrupt(_)))));
    e.drop_table(&name, false).await.unwrap();
    let name = table(e, "t").await;
    assert!(e.table_files(&e.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap().is_empty());
    assert!(
        e.list_objects(&tables, "p/t/", "", "", 100).await.unwrap().objects.len() == 1,
        "only the new schema is left under the name"
    );
}

/// Regression: lifetime and idle time were enforced only by the sweeper, so a session past its
/// lifetime still took parts, listed them and published an object until the next sweep.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_expire_at_request_time_without_a_sweep() {
    let f = fixture(EngineConfig { session_lifetime: Duration::from_millis(400), ..EngineConfig::default() });
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("late"), ObjectMeta::default(), None).await.unwrap();
    let p1 = e.put_part(&s, 1, body(b"early part")).await.unwrap();
    let name = table(e, "t").await;
    let upload = e.create_table_upload(&name, &whole(), false).await.unwrap();
    e.put_block(&upload.session, 0, &columns(), batches(&rows_of(5, "r")), 1 << 30).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Every operation refuses, on the caller's old copy as on a fresh open.
    assert!(matches!(e.put_part(&s, 2, body(b"late part")).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.list_parts(&s, None, 10).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.commit(&s, commit_list(&[&p1])).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.abort(&s).await, Err(Error::NoSuchUpload)));
    assert_eq!(e.open_session(&s.id, &s.target).await.unwrap().state, SessionState::Expired);
    assert!(matches!(e.head_object("bkt", "late").await, Err(Error::NoSuchKey)), "nothing was published");
    assert!(
        e.list_sessions("bkt", "", &UploadMarker::Start, 10).await.unwrap().sessions.is_empty(),
        "an expired upload is not listed"
    );

    assert!(matches!(e.commit_table_upload(&upload, Some(&[0])).await, Err(Error::NoSuchUpload)));
    assert!(matches!(
        e.put_block(&upload.session, 1, &columns(), batches(&rows_of(5, "r")), 1 << 30).await,
        Err(Error::NoSuchUpload)
    ));
    let reopened = e.table_upload(&name, &whole(), &upload.session.id).await.unwrap();
    assert_eq!(reopened.session.state, SessionState::Expired, "Tunnel's status call sees EXPIRED");
    assert!(e.table_files(&e.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap().is_empty());
    assert_eq!(e.sweep().await.unwrap().expired_sessions, 0, "the sweeper found nothing left to expire");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_expire_at_request_time_and_activity_keeps_them() {
    let f = fixture(EngineConfig { idle_timeout: Duration::from_millis(600), ..EngineConfig::default() });
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("idle"), ObjectMeta::default(), None).await.unwrap();
    let mut parts = Vec::new();
    for n in 1..=3u8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        parts.push(e.put_part(&s, n as u32, body(&[n; 20])).await.unwrap());
    }
    assert_eq!(e.list_parts(&s, None, 10).await.unwrap().parts.len(), 3, "each part kept the session alive");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let refs: Vec<&PartRecord> = parts.iter().collect();
    assert!(matches!(e.commit(&s, commit_list(&refs)).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.head_object("bkt", "idle").await, Err(Error::NoSuchKey)));
}

/// US3's rules as its front-end chooses them: every part held, numbered from 0 without a gap,
/// every part but the last exactly one block.
fn us3_rules(block: u64) -> CommitRules {
    CommitRules::new(block, 10_000).contiguous_from(0).exact_part_size(block)
}

#[tokio::test(flavor = "multi_thread")]
async fn us3_rules_publish_every_part_from_zero_and_replay_a_repeated_finish() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("u"), ObjectMeta::default(), None).await.unwrap().numbered_from(0);
    let p0 = e.put_part(&s, 0, body(&[b'a'; 8])).await.unwrap();
    e.put_part(&s, 2, body(b"cc")).await.unwrap();
    let finish = |etags: Vec<String>| CommitRequest::held(etags, us3_rules(8));
    assert!(matches!(e.commit(&s, finish(vec![])).await, Err(Error::MissingPart(1))), "a gap");
    let p1 = e.put_part(&s, 1, body(&[b'b'; 7])).await.unwrap();
    assert!(matches!(
        e.commit(&s, finish(vec![])).await,
        Err(Error::PartSizeMismatch { number: 1, size: 7, expected: 8 })
    ));
    e.put_part(&s, 1, body(&[b'b'; 8])).await.unwrap();
    assert!(
        matches!(e.commit(&s, finish(vec!["\"0123\"".into()])).await, Err(Error::InvalidArgument(m)) if m.contains("0123"))
    );
    assert_eq!(e.list_parts(&s, None, 10).await.unwrap().parts.len(), 3, "refused commits keep the parts");
    // The SDK's loose list: empty items, a duplicate, quotes, upper case, any order.
    let loose = vec![String::new(), format!("\"{}\"", p0.etag().to_uppercase()), p0.etag(), " ".into()];
    let object = e.commit(&s, finish(loose)).await.unwrap();
    assert_eq!(object.size, 18);
    assert_eq!(read(e, "u", None).await, [&[b'a'; 8][..], &[b'b'; 8], b"cc"].concat());
    assert_ne!(p1.etag(), "", "part receipts keep the client's numbers");
    // A repeated finish (its first answer lost) answers with what was published, whatever list.
    let again = e.commit(&s, finish(vec!["ffff".into()])).await.unwrap();
    assert_eq!((again.key.as_str(), again.size, again.etag), ("u", 18, object.etag));
}

#[tokio::test(flavor = "multi_thread")]
async fn tunnel_commits_replay_with_the_same_list_an_empty_one_or_none() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    let name = table(e, "replays").await;
    let upload = e.create_table_upload(&name, &whole(), false).await.unwrap();
    for block in 0..2 {
        e.put_block(&upload.session, block, &columns(), batches(&rows_of(3, "r")), 1 << 20).await.unwrap();
    }
    // Without a list every block held is published.
    e.commit_table_upload(&upload, None).await.unwrap();
    let info = e.table(&name).await.unwrap();
    assert_eq!(e.table_files(&info, &whole(), now_millis()).await.unwrap().len(), 2);
    e.commit_table_upload(&upload, None).await.unwrap();
    e.commit_table_upload(&upload, Some(&[])).await.unwrap();
    e.commit_table_upload(&upload, Some(&[1, 0])).await.unwrap();
    assert!(matches!(e.commit_table_upload(&upload, Some(&[0])).await, Err(Error::NoSuchUpload)), "another list");
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
        // The database as it was before the upgrade: without the column, one migration back.
        let conn = rusqlite::Connection::open(&db).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        conn.execute_batch("ALTER TABLE sessions DROP COLUMN legacy_numbering").unwrap();
        conn.pragma_update(None, "user_version", version - 1).unwrap();
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

#[tokio::test(flavor = "multi_thread")]
async fn uploads_of_one_key_page_one_at_a_time_oldest_first() {
    let f = fixture(EngineConfig::default());
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let mut ids = Vec::new();
    for key in ["a", "same", "same", "same", "same", "z"] {
        ids.push(e.create_session(target(key), ObjectMeta::default(), None).await.unwrap().id);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut marker = UploadMarker::Start;
    let mut paged = Vec::new();
    loop {
        let page = e.list_sessions("bkt", "", &marker, 1).await.unwrap();
        paged.extend(page.sessions.iter().map(|s| s.id.clone()));
        match page.next_marker() {
            Some(next) => marker = next,
            None => break,
        }
        assert!(paged.len() <= ids.len(), "paging repeats uploads");
    }
    assert_eq!(paged, ids, "each upload once, by key then age");
    let after_key = e.list_sessions("bkt", "", &UploadMarker::from_markers("same", ""), 10).await.unwrap();
    assert_eq!(after_key.sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), [ids[5].clone()]);
    assert!(!after_key.truncated && after_key.next_marker().is_none());
}
