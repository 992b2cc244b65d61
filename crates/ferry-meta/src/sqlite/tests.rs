//! The SQLite store: the conformance suite, migrations of old databases, reopening.

use std::sync::Arc;

use ferry_core::MetaStore;
use rusqlite::{Connection, params};

use super::SqliteMetaStore;
use super::schema::MIGRATIONS;
use crate::json;

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteMetaStore::open(dir.path().join("meta.db")).expect("open");
    ferry_conformance::key_store_suite(&store).await;
    ferry_conformance::meta_store_suite(Arc::new(store)).await;
}

/// Table uploads stored before sessions had targets (object sessions on
/// `<table bucket>/<project>/<table>/<id>/.../_upload` with the table in their metadata)
/// become table targets; object sessions stay as they were.
#[tokio::test(flavor = "multi_thread")]
async fn migration_gives_old_table_uploads_a_table_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("meta.db");
    {
        let conn = Connection::open(&path).expect("open");
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).expect("old schema");
        }
        conn.pragma_update(None, "user_version", 2).expect("version");
        let table_meta = serde_json::json!({
            "content_type": null, "content_encoding": null, "content_disposition": null,
            "content_language": null, "cache_control": null, "expires": null,
            "user": [["ferry-table", "{\"project\":\"proj\",\"table\":\"events\",\"tableId\":\"abc\"}"],
                     ["ferry-partition", "pt=1"]],
        });
        let insert = "INSERT INTO sessions (id, bucket, key, state, created, last_activity, expires, meta)
                      VALUES (?1, ?2, ?3, 'NORMAL', 1, 1, 9999999999999, ?4)";
        conn.execute(insert, params!["t1", "ferry-tables", "proj/events/abc/pt=1/_upload", table_meta.to_string()])
            .expect("table session");
        let object_meta = json(&ferry_core::ObjectMeta::default()).expect("meta");
        conn.execute(insert, params!["o1", "bkt", "dir/key", object_meta]).expect("object session");
    }
    let store = SqliteMetaStore::open(&path).expect("migrate");
    let table = store.get_session("t1").await.expect("read").expect("kept");
    assert_eq!(
        table.target,
        ferry_core::Target::TablePartition { project: "proj".into(), table: "events".into(), partition: "pt=1".into() }
    );
    let object = store.get_session("o1").await.expect("read").expect("kept");
    assert_eq!(object.target, ferry_core::Target::object("bkt", "dir/key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reopen_keeps_data_and_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("meta.db");
    SqliteMetaStore::open(&path).expect("open").create_bucket("kept", 1).await.expect("create");
    let again = SqliteMetaStore::open(&path).expect("reopen");
    assert!(again.get_bucket("kept").await.expect("get").is_some());
}

/// Concurrent part writes batched into shared commits: each answered on its own, every
/// acknowledged one there after reopening the database.
#[tokio::test(flavor = "multi_thread")]
async fn group_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("meta.db");
    ferry_conformance::group_commit_suite(|| {
        let path = path.clone();
        async move { Arc::new(SqliteMetaStore::open(&path).expect("open")) as Arc<dyn MetaStore> }
    })
    .await;
}
