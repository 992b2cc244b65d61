//! The scale-out stores against real servers: the S3 blob store against a ferry server on
//! embedded storage, the PostgreSQL metadata store against a private PostgreSQL cluster, and the
//! engine over both.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use ferry_blob::{S3BlobStore, S3Settings};
use ferry_conformance::postgres_cluster::TestPostgres;
use ferry_core::*;
use ferry_meta::PostgresMetaStore;
use futures_util::TryStreamExt;

use common::FerryServer;

#[tokio::test(flavor = "multi_thread")]
async fn s3_blob_store_conformance() {
    let server = FerryServer::start();
    server.bucket("blobs").await;
    let store = S3BlobStore::open("s3://blobs/node-data", server.settings()).unwrap();
    assert!(store.check().await.is_err(), "not ready before the marker is written");
    store.prepare().await.unwrap();
    ferry_conformance::blob_store_suite(Arc::new(store)).await;

    // Beyond one multipart chunk: the blob is uploaded in parts and reads back whole.
    let store = S3BlobStore::open("s3://blobs/big", server.settings()).unwrap();
    let data: Vec<u8> = (0..20_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let mut writer = store.create().await.unwrap();
    let id = writer.id().clone();
    for chunk in data.chunks(1 << 20) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), data.len() as u64);
    let back: Vec<Bytes> = store.read(&id, 0, data.len() as u64).await.unwrap().try_collect().await.unwrap();
    assert!(back.concat() == data, "a multipart blob reads back byte for byte");
    let tail: Vec<Bytes> = store.read(&id, 9_000_000, 5).await.unwrap().try_collect().await.unwrap();
    assert_eq!(tail.concat(), &data[9_000_000..9_000_005]);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_blob_store_reports_a_missing_bucket() {
    let server = FerryServer::start();
    let store = S3BlobStore::open("s3://no-such-bucket", server.settings()).unwrap();
    assert!(store.prepare().await.is_err(), "start-up fails on a missing bucket");
    let mut writer = store.create().await.unwrap();
    writer.write(Bytes::from_static(b"x")).await.unwrap();
    let err = writer.finish().await.unwrap_err();
    assert!(matches!(err, Error::Blob(_)), "{err}");
    assert!(S3BlobStore::open("file:///tmp", S3Settings::default()).is_err(), "only s3:// addresses");
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_on_postgres_and_s3() {
    let server = FerryServer::start();
    server.bucket("shared").await;
    let postgres = TestPostgres::start();
    let url = postgres.database();
    let engine_on = |_| async {
        let meta = PostgresMetaStore::connect(&url).await.unwrap();
        let blobs = S3BlobStore::open("s3://shared/ferry", server.settings()).unwrap();
        Engine::new(Arc::new(meta), Arc::new(blobs), EngineConfig::default())
    };
    // Two engines stand for two nodes: a session opened on one is served by the other.
    let (a, b) = (engine_on(0).await, engine_on(1).await);
    a.create_bucket("bkt").await.unwrap();
    let target = ObjectTarget { bucket: "bkt".into(), key: "dir/object".into() };
    let session = a.create_session(target, ObjectMeta::default(), None).await.unwrap();
    let chunks: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; 6_000_000]).collect();
    let mut parts = Vec::new();
    for (i, data) in chunks.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let session = node.open_session(&session.id, &session.target).await.unwrap();
        parts.push(node.put_part(&session, i as u32 + 1, body(data)).await.unwrap());
    }
    let request = CommitRequest::listed(
        parts.iter().map(|p| CommitPart { number: p.number, ..Default::default() }).collect(),
        CommitRules::new(5 << 20, 10_000),
    );
    let object = b.commit(&session, request.clone()).await.unwrap();
    assert_eq!(object.size, 18_000_000);
    assert_eq!(a.commit(&session, request).await.unwrap().etag, object.etag, "a retried commit replays");
    let read = a.get_object("bkt", "dir/object", None, None).await.unwrap();
    let bytes: Vec<Bytes> = read.body.try_collect().await.unwrap();
    assert!(bytes.concat() == chunks.concat(), "the object reads back from the other node byte for byte");

    // A table block written on one node, committed on the other, read back by row windows
    // (byte ranges of the Parquet file fetched from the S3 blob store).
    use ferry_tables::ferry_table::{Column, ColumnType, PartitionSpec, Rows, TableSchema, Value};
    use ferry_tables::{TableName, Tables};
    let (a, b) = (&Tables::new(a.clone()), &Tables::new(b.clone()));
    let name = TableName::new("proj", "events").unwrap();
    let columns = vec![Column::new("id", ColumnType::Bigint), Column::new("name", ColumnType::String)];
    let schema = TableSchema { columns: columns.clone(), partition_keys: Vec::new() };
    a.create_table(&name, schema, "", -1, false).await.unwrap();
    let upload = a.create_table_upload(&name, &PartitionSpec::default(), false).await.unwrap();
    let rows: Vec<Vec<Value>> =
        (0..100_000).map(|i| vec![Value::Int(i), Value::Bytes(format!("event {i}").into_bytes())]).collect();
    let batches: Vec<Result<Rows>> = rows.chunks(5000).map(|c| Ok(Rows::from_rows(c.to_vec()).unwrap())).collect();
    a.put_block(&upload.session, 3, &columns, Box::pin(futures_util::stream::iter(batches)), 1 << 30).await.unwrap();
    let upload = b.table_upload(&name, &PartitionSpec::default(), &upload.session.id).await.unwrap();
    b.commit_table_upload(&upload, Some(&[3])).await.unwrap();
    let info = a.table(&name).await.unwrap();
    let files = a.table_files(&info, &PartitionSpec::default(), now_millis()).await.unwrap();
    assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), vec![100_000]);
    let mut window = a.table_file_rows(&files[0], &[columns[1].clone()], 70_000..70_003);
    let mut got = Vec::new();
    while let Some(batch) = window.next().await {
        got.extend(batch.unwrap());
    }
    assert_eq!(got, (70_000..70_003).map(|i| vec![rows[i][1].clone()]).collect::<Vec<_>>());
    let mut all = b.table_file_rows(&files[0], &columns, 0..usize::MAX);
    let mut back = Vec::new();
    while let Some(batch) = all.next().await {
        back.extend(batch.unwrap());
    }
    assert!(back == rows, "every row reads back in order from the other node");
}

mod common;

fn body(data: &[u8]) -> PartInput {
    ferry_conformance::body_in_chunks(data, 1 << 20)
}
