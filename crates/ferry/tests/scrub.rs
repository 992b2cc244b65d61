//! Scrub: blobs damaged at rest (a flipped byte, a truncated file, a deleted one) are found,
//! the objects holding them are flagged and refused to readers, and deleting, overwriting or
//! repairing them works. On the embedded stores (SQLite + local disk) and on the S3 blob store.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use ferry_blob::{LocalBlobStore, S3BlobStore};
use ferry_core::*;
use ferry_meta::SqliteMetaStore;
use futures_util::TryStreamExt;

mod common;

use common::{FerryServer, KEY_ID, SECRET};

fn body(data: &[u8]) -> PartInput {
    ferry_conformance::body_in_chunks(data, 7_000)
}

fn target(key: &str) -> ObjectTarget {
    ObjectTarget { bucket: "bkt".into(), key: key.into() }
}

fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn read(engine: &Engine, key: &str) -> Result<Vec<u8>> {
    let r = engine.get_object("bkt", key, None, None).await?;
    Ok(r.body.try_collect::<Vec<Bytes>>().await.map_err(Error::Blob)?.concat())
}

async fn blob_of(engine: &Engine, key: &str) -> BlobId {
    engine.head_object("bkt", key).await.unwrap().manifest[0].blob.clone()
}

fn blob_path(dir: &Path, blob: &BlobId) -> PathBuf {
    dir.join("blobs").join(&blob.0[..2]).join(&blob.0)
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn finding<'a>(report: &'a ScrubReport, key: &str) -> &'a ScrubFinding {
    report
        .findings
        .iter()
        .find(|f| matches!(&f.subject, ScrubSubject::Object { key: k, .. } if k == key))
        .unwrap_or_else(|| panic!("no finding for {key}: {report:#?}"))
}

/// A two-part multipart object; returns its manifest's blobs.
async fn multipart(engine: &Engine, key: &str) -> Vec<BlobId> {
    let session = engine.create_session(target(key), ObjectMeta::default(), None).await.unwrap();
    let p1 = engine.put_part(&session, 1, body(&data(1, 30_000))).await.unwrap();
    let p2 = engine.put_part(&session, 2, body(&data(2, 20_000))).await.unwrap();
    let request = CommitRequest::listed(
        [p1, p2].iter().map(|p| CommitPart { number: p.number, ..Default::default() }).collect(),
        CommitRules::new(10, 10_000),
    );
    engine.commit(&session, request).await.unwrap().manifest.iter().map(|e| e.blob.clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn scrub_finds_flipped_truncated_and_deleted_blobs_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
    let blobs = LocalBlobStore::open(dir.path()).unwrap();
    let engine = Engine::new(Arc::new(meta), Arc::new(blobs), EngineConfig::default());
    engine.create_bucket("bkt").await.unwrap();
    for (i, key) in ["good", "flipped", "truncated", "deleted"].iter().enumerate() {
        engine.put_object(target(key), ObjectMeta::default(), body(&data(i as u8, 50_000)), None).await.unwrap();
    }
    let multi = multipart(&engine, "multi").await;
    // A part of an upload still open.
    let open = engine.create_session(target("open"), ObjectMeta::default(), None).await.unwrap();
    let part = engine.put_part(&open, 7, body(&data(9, 10_000))).await.unwrap();

    let clean = engine.scrub(ScrubOptions::default()).await.unwrap();
    assert!(clean.is_clean(), "{clean:#?}");
    assert_eq!((clean.objects, clean.parts, clean.blobs), (5, 1, 7));
    assert_eq!(clean.bytes, 4 * 50_000 + 50_000 + 10_000);

    let flipped = blob_of(&engine, "flipped").await;
    let flipped_etag = engine.head_object("bkt", "flipped").await.unwrap().etag;
    flip_byte(&blob_path(dir.path(), &flipped), 12_345);
    let truncated = blob_of(&engine, "truncated").await;
    std::fs::OpenOptions::new().write(true).open(blob_path(dir.path(), &truncated)).unwrap().set_len(1000).unwrap();
    let deleted = blob_of(&engine, "deleted").await;
    std::fs::remove_file(blob_path(dir.path(), &deleted)).unwrap();
    flip_byte(&blob_path(dir.path(), &multi[1]), 0);
    flip_byte(&blob_path(dir.path(), &part.blob), 9_999);

    let report = engine.scrub(ScrubOptions::default()).await.unwrap();
    assert_eq!(report.findings.len(), 5, "{report:#?}");
    assert_eq!((report.damaged_objects, report.damaged_parts, report.flagged_objects), (4, 1, 4));

    let f = finding(&report, "flipped");
    assert_eq!((f.kind, f.check.as_str(), f.blob.as_ref()), (FindingKind::Checksum, "ETag", Some(&flipped)));
    assert_eq!(f.expected, flipped_etag);
    assert_ne!(f.actual, f.expected);
    let f = finding(&report, "truncated");
    assert_eq!((f.kind, f.expected.as_str(), f.actual.as_str()), (FindingKind::Size, "50000", "1000"));
    assert_eq!(f.blob.as_ref(), Some(&truncated));
    let f = finding(&report, "deleted");
    assert_eq!((f.kind, f.actual.as_str(), f.blob.as_ref()), (FindingKind::Missing, "missing", Some(&deleted)));
    // Over several blobs, the multipart ETag (MD5 of the parts' MD5s) fails; no one blob is blamed.
    let f = finding(&report, "multi");
    assert_eq!((f.kind, f.check.as_str(), f.blob.as_ref()), (FindingKind::Checksum, "ETag", None));
    let f = report.findings.iter().find(|f| matches!(f.subject, ScrubSubject::Part { .. })).unwrap();
    assert_eq!(f.subject, ScrubSubject::Part { session: open.id.clone(), part: 7 });
    assert_eq!((f.kind, f.check.as_str(), f.expected.clone()), (FindingKind::Checksum, "MD5", part.etag()));

    // Reads of a damaged object fail loudly; the good one still reads.
    for key in ["flipped", "truncated", "deleted", "multi"] {
        match read(&engine, key).await {
            Err(Error::Damaged(why)) => assert!(why.contains(&format!("bkt/{key}")), "{why}"),
            other => panic!("{key}: {:?}", other.map(|b| b.len())),
        }
        assert!(matches!(engine.head_object("bkt", key).await, Err(Error::Damaged(_))), "{key}");
    }
    assert_eq!(read(&engine, "good").await.unwrap(), data(0, 50_000));
    let err = engine.copy_object(&target("flipped"), target("copy"), None).await.unwrap_err();
    assert!(matches!(err, Error::Damaged(_)), "a copy never passes damaged bytes on: {err}");

    // Deleting works; overwriting gives a fresh, unflagged object.
    assert!(engine.delete_object("bkt", "deleted").await.unwrap());
    engine.put_object(target("truncated"), ObjectMeta::default(), body(b"new bytes"), None).await.unwrap();
    assert_eq!(read(&engine, "truncated").await.unwrap(), b"new bytes");
    // Repairing the bytes in place (restored from a backup, say) clears the flag at the next scrub.
    flip_byte(&blob_path(dir.path(), &multi[1]), 0);

    let after = engine.scrub(ScrubOptions::default()).await.unwrap();
    assert_eq!(after.cleared_objects, 1, "{after:#?}");
    assert_eq!(after.findings.len(), 2, "the flipped object and the open part stay damaged: {after:#?}");
    assert_eq!(after.flagged_objects, 1);
    assert_eq!(read(&engine, "multi").await.unwrap(), [data(1, 30_000), data(2, 20_000)].concat());
    assert!(matches!(read(&engine, "flipped").await, Err(Error::Damaged(_))));
    assert!(engine.delete_object("bkt", "flipped").await.unwrap());
    let last = engine.scrub(ScrubOptions::default()).await.unwrap();
    assert_eq!((last.flagged_objects, last.damaged_parts), (0, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn scrub_keeps_to_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
    let blobs = LocalBlobStore::open(dir.path()).unwrap();
    let engine = Engine::new(Arc::new(meta), Arc::new(blobs), EngineConfig::default());
    engine.create_bucket("bkt").await.unwrap();
    engine.put_object(target("k"), ObjectMeta::default(), body(&data(0, 1_000_000)), None).await.unwrap();
    let started = std::time::Instant::now();
    let report = engine.scrub(ScrubOptions { rate: Some(2_000_000) }).await.unwrap();
    assert_eq!(report.bytes, 1_000_000);
    assert!(started.elapsed() >= std::time::Duration::from_millis(450), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn scrub_finds_damage_on_the_s3_blob_store() {
    let server = FerryServer::start();
    server.bucket("blobs").await;
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
    let blobs = S3BlobStore::open("s3://blobs/node", server.settings()).unwrap();
    blobs.prepare().await.unwrap();
    let engine = Engine::new(Arc::new(meta), Arc::new(blobs), EngineConfig::default());
    engine.create_bucket("bkt").await.unwrap();
    for (i, key) in ["good", "flipped", "truncated", "deleted"].iter().enumerate() {
        engine.put_object(target(key), ObjectMeta::default(), body(&data(i as u8, 40_000)), None).await.unwrap();
    }
    assert!(engine.scrub(ScrubOptions::default()).await.unwrap().is_clean());

    // Change the blob objects behind ferry's back, through the bucket's own S3 API.
    let s3 = ferry_client::S3Client::new(&server.url, KEY_ID, SECRET, "us-east-1").unwrap();
    let key_of = |blob: &BlobId| format!("node/blobs/{blob}");
    let flipped = blob_of(&engine, "flipped").await;
    let mut bytes = s3.get_range("blobs", &key_of(&flipped), 0, 39_999).await.unwrap().to_vec();
    bytes[20_000] ^= 0x80;
    s3.put_object("blobs", &key_of(&flipped), Bytes::from(bytes), &[]).await.unwrap();
    let truncated = blob_of(&engine, "truncated").await;
    let short = s3.get_range("blobs", &key_of(&truncated), 0, 9_999).await.unwrap();
    s3.put_object("blobs", &key_of(&truncated), short, &[]).await.unwrap();
    let deleted = blob_of(&engine, "deleted").await;
    s3.delete_object("blobs", &key_of(&deleted)).await.unwrap();

    let report = engine.scrub(ScrubOptions::default()).await.unwrap();
    assert_eq!((report.findings.len(), report.flagged_objects), (3, 3), "{report:#?}");
    let f = finding(&report, "flipped");
    assert_eq!((f.kind, f.blob.as_ref()), (FindingKind::Checksum, Some(&flipped)));
    let f = finding(&report, "truncated");
    assert_eq!((f.kind, f.expected.as_str(), f.actual.as_str()), (FindingKind::Size, "40000", "10000"));
    let f = finding(&report, "deleted");
    assert_eq!((f.kind, f.blob.as_ref()), (FindingKind::Missing, Some(&deleted)));
    assert!(matches!(read(&engine, "flipped").await, Err(Error::Damaged(_))));
    assert_eq!(read(&engine, "good").await.unwrap(), data(0, 40_000));
    assert!(engine.delete_object("bkt", "flipped").await.unwrap());
    engine.put_object(target("deleted"), ObjectMeta::default(), body(b"again"), None).await.unwrap();
    assert_eq!(read(&engine, "deleted").await.unwrap(), b"again");
    assert_eq!(
        engine.scrub(ScrubOptions::default()).await.unwrap().flagged_objects,
        1,
        "only the truncated one is left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_table_file_is_found_and_refused_to_downloads() {
    use ferry_tables::ferry_table::{Column, ColumnType, PartitionSpec, Rows, TableSchema, Value};
    use ferry_tables::{TableName, Tables};
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
    let blobs = LocalBlobStore::open(dir.path()).unwrap();
    let engine = Engine::new(Arc::new(meta), Arc::new(blobs), EngineConfig::default());
    let tables = Tables::new(engine.clone());
    let name = TableName::new("proj", "events").unwrap();
    let columns = vec![Column::new("id", ColumnType::Bigint)];
    tables
        .create_table(&name, TableSchema { columns: columns.clone(), partition_keys: Vec::new() }, "", -1, false)
        .await
        .unwrap();
    let upload = tables.create_table_upload(&name, &PartitionSpec::default(), false).await.unwrap();
    let rows: Vec<Result<Rows>> = vec![Ok(Rows::from_rows((0..1000).map(|i| vec![Value::Int(i)]).collect()).unwrap())];
    tables.put_block(&upload.session, 0, &columns, Box::pin(futures_util::stream::iter(rows)), 1 << 30).await.unwrap();
    let upload = tables.table_upload(&name, &PartitionSpec::default(), &upload.session.id).await.unwrap();
    tables.commit_table_upload(&upload, Some(&[0])).await.unwrap();
    let info = tables.table(&name).await.unwrap();
    let file = tables.table_files(&info, &PartitionSpec::default(), now_millis()).await.unwrap().remove(0);
    let blob = engine.head_object(&engine.config().table_bucket, &file.key).await.unwrap().manifest[0].blob.clone();
    flip_byte(&blob_path(dir.path(), &blob), 4);

    let report = engine.scrub(ScrubOptions::default()).await.unwrap();
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    assert_eq!(
        report.findings[0].subject,
        ScrubSubject::Object { bucket: engine.config().table_bucket.clone(), key: file.key.clone() }
    );
    // A download of the file fails with the damage named, whether or not the row count was cached.
    let mut rows = tables.table_file_rows(&file, &columns, 0..usize::MAX);
    let mut failed = None;
    while let Some(batch) = rows.next().await {
        if let Err(e) = batch {
            failed = Some(e.to_string());
            break;
        }
    }
    let failed = failed.expect("the damaged file is not served");
    assert!(failed.contains("damaged"), "{failed}");
    tables.drop_table(&name, false).await.unwrap();
    assert_eq!(engine.scrub(ScrubOptions::default()).await.unwrap().flagged_objects, 0, "dropped with the table");
}
