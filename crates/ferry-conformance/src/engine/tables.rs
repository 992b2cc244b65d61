//! Tables on the engine: block uploads committed into Parquet files, table sessions kept apart
//! from object sessions, the table bucket closed to object calls, damaged files reported.

use bytes::Bytes;
use ferry_core::*;
use ferry_tables::{RowBatches, TableError, TableFile, TableName, Tables, ferry_table};
use futures_util::TryStreamExt;

use super::{Fixture, Stack, body, fixture, rules, target};

pub(super) fn rows_of(n: i64, tag: &str) -> Vec<Vec<ferry_table::Value>> {
    use ferry_table::Value;
    (0..n).map(|i| vec![Value::Int(i), Value::Bytes(format!("{tag} {i}").into_bytes())]).collect()
}

pub(super) fn batches(rows: &[Vec<ferry_table::Value>]) -> RowBatches {
    let batches: Vec<Result<ferry_table::Rows>> = rows
        .chunks(1000)
        .map(|c| {
            ferry_table::Rows::from_rows(c.to_vec())
                .ok_or_else(|| Error::InvalidArgument("rows differ in width".into()))
        })
        .collect();
    Box::pin(futures_util::stream::iter(batches))
}

pub(super) fn columns() -> Vec<ferry_table::Column> {
    use ferry_table::{Column, ColumnType};
    vec![Column::new("id", ColumnType::Bigint), Column::new("name", ColumnType::String)]
}

/// A table `p.<table>` with columns (id bigint, name string) and no partitions.
pub(super) async fn table(t: &Tables, table: &str) -> TableName {
    let name = TableName::new("p", table).unwrap();
    let schema = ferry_table::TableSchema { columns: columns(), partition_keys: Vec::new() };
    t.create_table(&name, schema, "", -1, false).await.unwrap();
    name
}

/// The partition spec of a table without partitions.
pub(super) fn whole() -> ferry_table::PartitionSpec {
    ferry_table::PartitionSpec::default()
}

pub(super) async fn all_rows(t: &Tables, file: &TableFile) -> Result<Vec<Vec<ferry_table::Value>>> {
    let mut rows = t.table_file_rows(file, &columns(), 0..usize::MAX);
    let mut out = Vec::new();
    while let Some(batch) = rows.next().await {
        out.extend(batch?);
    }
    Ok(out)
}

pub(super) async fn read_table_file(e: &Engine, key: &str) -> Vec<u8> {
    let r = e.get_object(&e.config().table_bucket, key, None, None).await.unwrap();
    r.body.try_collect::<Vec<Bytes>>().await.unwrap().concat()
}

/// Replace the stored bytes of object `key` of the table bucket with `bytes(its size)`,
/// beneath the blob store, as damage on disk would.
async fn damage(f: &Fixture, key: &str, bytes: impl FnOnce(usize) -> Vec<u8>) {
    let object = f.engine.head_object(&f.engine.config().table_bucket, key).await.unwrap();
    f.blobs.overwrite(&object.manifest[0].blob, bytes(object.size as usize)).await;
}

pub(super) async fn block_commits_publish_one_file_per_block_or_nothing(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    let t = &Tables::new(e.clone());
    let name = table(t, "t").await;
    let upload = t.create_table_upload(&name, &whole(), false).await.unwrap();
    let blocks: Vec<_> = (0..3).map(|b| rows_of(100 + b, &format!("block {b}"))).collect();
    for (id, rows) in blocks.iter().enumerate().rev() {
        t.put_block(&upload.session, id as u32, &columns(), batches(rows), 1 << 30).await.unwrap();
    }
    let info = t.table(&name).await.unwrap();

    // A list that differs from what the server holds publishes nothing and reopens the session.
    assert!(matches!(t.commit_table_upload(&upload, Some(&[0, 2])).await, Err(Error::InvalidPart(1))));
    assert!(matches!(t.commit_table_upload(&upload, Some(&[0, 1, 2, 3])).await, Err(Error::InvalidPart(3))));
    assert!(t.table_files(&info, &whole(), now_millis()).await.unwrap().is_empty(), "nothing published");
    let reopened = t.table_upload(&name, &whole(), &upload.session.id).await.unwrap();
    assert_eq!(reopened.session.state, SessionState::Normal);

    t.commit_table_upload(&upload, Some(&[2, 0, 1])).await.unwrap();
    let published = t.table_files(&info, &whole(), now_millis()).await.unwrap();
    assert_eq!(published.len(), 3, "one file per block");
    for (file, rows) in published.iter().zip(&blocks) {
        assert_eq!(&all_rows(t, file).await.unwrap(), rows, "block {} is its own file", file.key);
    }
    assert_eq!(f.blobs.count().await, 4, "the schema and the block blobs themselves (no copy)");
    assert_eq!(t.committed_blocks(&upload).await.unwrap(), vec![0, 1, 2], "a committed session names its blocks");
    t.commit_table_upload(&upload, Some(&[0, 1, 2])).await.unwrap();
    assert!(matches!(t.commit_table_upload(&upload, Some(&[0, 1])).await, Err(Error::NoSuchUpload)));
}

pub(super) async fn blocks_of_rows_become_parquet_files(stack: &dyn Stack) {
    use ferry_table::{Value, read_block};
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    let t = &Tables::new(e.clone());
    let name = table(t, "t").await;
    let upload = t.create_table_upload(&name, &whole(), false).await.unwrap();
    let s = &upload.session;
    let rows = rows_of(50_000, "row");
    let (part, count) = t.put_block(s, 7, &columns(), batches(&rows), 1 << 30).await.unwrap();
    assert_eq!((part.number, count), (7, 50_000));

    // A row that does not fit its column stores nothing, and says why.
    let bad: Vec<Result<ferry_table::Rows>> =
        vec![Ok(ferry_table::Rows::from_rows(vec![vec![Value::Bool(true), Value::Null]]).unwrap())];
    let err = t.put_block(s, 8, &columns(), Box::pin(futures_util::stream::iter(bad)), 1 << 30).await.unwrap_err();
    assert!(err.to_string().contains("bigint cannot hold"), "{err}");
    // So does a failing row source (a corrupt upload body).
    let failing: Vec<Result<ferry_table::Rows>> = vec![
        Ok(ferry_table::Rows::from_rows(rows[..10].to_vec()).unwrap()),
        Err(Error::InvalidArgument("row checksum mismatch".into())),
    ];
    let err = t.put_block(s, 9, &columns(), Box::pin(futures_util::stream::iter(failing)), 1 << 30).await.unwrap_err();
    assert!(err.to_string().contains("row checksum mismatch"), "{err}");
    assert_eq!(e.list_parts(s, None, 10).await.unwrap().parts.len(), 1, "only the good block is held");

    t.commit_table_upload(&upload, Some(&[7])).await.unwrap();
    let files = t.table_files(&t.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap();
    let bytes = read_table_file(e, &files[0].key).await;
    assert_eq!(read_block(Bytes::from(bytes), &columns()).unwrap(), rows, "the committed file is the rows, as Parquet");
    assert_eq!(f.blobs.count().await, 2, "the schema and the one good block; failed blocks left no file");
}

/// Regression: a Tunnel upload session was an S3 multipart upload in the table bucket, so S3
/// clients could list it, fill it with garbage "blocks" (which a Tunnel commit then published,
/// breaking every read), or complete and abort it. Sessions now have a target of their own.
pub(super) async fn table_sessions_and_object_sessions_never_mix(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    let t = &Tables::new(e.clone());
    let tables = e.config().table_bucket.clone();
    let name = table(t, "t").await;
    let upload = t.create_table_upload(&name, &whole(), false).await.unwrap();
    let id = &upload.session.id;
    assert_eq!(
        upload.session.target,
        Target::TablePartition { project: "p".into(), table: "t".into(), partition: String::new() }
    );

    // Through the object API the table upload does not exist, whatever bucket and key are named.
    let key = format!("p/t/{}/_upload", t.table(&name).await.unwrap().id);
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
    let schema = t.table(&name).await.unwrap().schema;
    t.create_table(&other, schema, "", -1, false).await.unwrap();
    assert!(matches!(t.table_upload(&other, &whole(), id).await, Err(Error::NoSuchUpload)));

    // And the reverse: an object upload is no table upload.
    e.create_bucket("bkt").await.unwrap();
    let object = e.create_session(target("k"), ObjectMeta::default(), None).await.unwrap();
    assert!(matches!(t.table_upload(&name, &whole(), &object.id).await, Err(Error::NoSuchUpload)));
    assert!(matches!(
        t.put_block(&object, 0, &columns(), batches(&rows_of(3, "x")), 1 << 30).await,
        Err(Error::NoSuchUpload)
    ));

    // The table upload works as before and the table reads back.
    let rows = rows_of(10, "r");
    t.put_block(&upload.session, 0, &columns(), batches(&rows), 1 << 30).await.unwrap();
    t.commit_table_upload(&upload, Some(&[0])).await.unwrap();
    let files = t.table_files(&t.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap();
    assert_eq!(all_rows(t, &files[0]).await.unwrap(), rows);
}

fn target_in(bucket: &str, key: &str) -> ObjectTarget {
    ObjectTarget { bucket: bucket.into(), key: key.into() }
}

/// Regression: S3 clients could overwrite `_schema.json` (after which every table call, DROP
/// included, failed) or delete table files. The table bucket is read-only to object calls.
pub(super) async fn the_table_bucket_is_read_only_to_object_calls(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    let t = &Tables::new(e.clone());
    let tables = e.config().table_bucket.clone();
    let denied = |r: Result<()>| matches!(r, Err(Error::AccessDenied(_)));
    assert!(denied(e.create_bucket(&tables).await), "the table bucket's name is reserved before any table exists");
    let name = table(t, "t").await;
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
    t.table(&name).await.unwrap();
    t.drop_table(&name, false).await.unwrap();
}

/// A table file damaged on disk is a clear `Corrupt` error naming it, and DROP TABLE still
/// works, so the name can be used again.
pub(super) async fn corrupt_table_files_are_reported_and_the_table_can_be_dropped(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    let t = &Tables::new(e.clone());
    let name = table(t, "t").await;
    let upload = t.create_table_upload(&name, &whole(), false).await.unwrap();
    t.put_block(&upload.session, 0, &columns(), batches(&rows_of(100, "r")), 1 << 30).await.unwrap();
    t.commit_table_upload(&upload, Some(&[0])).await.unwrap();
    let info = t.table(&name).await.unwrap();
    // Found by listing, so no row count of it is remembered yet.
    let tables = e.config().table_bucket.clone();
    let listed = e.list_objects(&tables, "p/t/", "", "", 100).await.unwrap().objects;
    let data = listed.iter().find(|o| o.key.ends_with(".parquet")).unwrap();
    let file = TableFile { key: data.key.clone(), size: data.size, rows: 100, modified: data.modified };

    // A data file whose bytes were overwritten: its footer is garbage.
    damage(&f, &file.key, |size| vec![b'x'; size]).await;
    for err in [t.table_files(&info, &whole(), now_millis()).await.unwrap_err(), all_rows(t, &file).await.unwrap_err()]
    {
        assert!(matches!(&err, Error::Table(TableError::Corrupt(m)) if m.contains(&file.key)), "{err}");
    }
    t.drop_table(&name, false).await.unwrap();
    assert!(matches!(t.table(&name).await, Err(Error::Table(TableError::NoSuchTable(_)))));
    let name = table(t, "t").await;

    // A schema cut short on disk.
    damage(&f, "p/t/_schema.json", |_| b"{\"tab".to_vec()).await;
    let err = t.table(&name).await.unwrap_err();
    assert!(matches!(&err, Error::Table(TableError::Corrupt(m)) if m.contains("shorter")), "{err}");
    t.drop_table(&name, false).await.unwrap();
    let name = table(t, "t").await;

    // A schema that is not JSON any more.
    damage(&f, "p/t/_schema.json", |size| format!("{:size$}", "not json").into_bytes()).await;
    let err = t.table(&name).await.unwrap_err();
    assert!(matches!(&err, Error::Table(TableError::Corrupt(m)) if m.contains("p.t")), "{err}");
    assert!(matches!(t.create_table_upload(&name, &whole(), false).await, Err(Error::Table(TableError::Corrupt(_)))));
    t.drop_table(&name, false).await.unwrap();
    let name = table(t, "t").await;
    assert!(t.table_files(&t.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap().is_empty());
    assert!(
        e.list_objects(&tables, "p/t/", "", "", 100).await.unwrap().objects.len() == 1,
        "only the new schema is left under the name"
    );
}

pub(super) async fn tunnel_commits_replay_with_the_same_list_an_empty_one_or_none(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    let t = &Tables::new(e.clone());
    let name = table(t, "replays").await;
    let upload = t.create_table_upload(&name, &whole(), false).await.unwrap();
    for block in 0..2 {
        t.put_block(&upload.session, block, &columns(), batches(&rows_of(3, "r")), 1 << 20).await.unwrap();
    }
    // Without a list every block held is published.
    t.commit_table_upload(&upload, None).await.unwrap();
    let info = t.table(&name).await.unwrap();
    assert_eq!(t.table_files(&info, &whole(), now_millis()).await.unwrap().len(), 2);
    t.commit_table_upload(&upload, None).await.unwrap();
    t.commit_table_upload(&upload, Some(&[])).await.unwrap();
    t.commit_table_upload(&upload, Some(&[1, 0])).await.unwrap();
    assert!(matches!(t.commit_table_upload(&upload, Some(&[0])).await, Err(Error::NoSuchUpload)), "another list");
}
