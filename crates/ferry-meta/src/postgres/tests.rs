//! The PostgreSQL store on a private cluster: the conformance suite, several nodes migrating
//! at once, clear connection errors.

use std::sync::Arc;

use ferry_conformance::postgres_cluster::TestPostgres;

use super::PostgresMetaStore;
use super::schema::MIGRATIONS;
use ferry_core::Result;

#[tokio::test(flavor = "multi_thread")]
async fn conformance_and_concurrent_start() {
    let server = TestPostgres::start();
    let url = server.database();
    // Nodes starting together migrate once; the others find the schema in place.
    let starts: Vec<_> = (0..4).map(|_| tokio::spawn(connect_owned(url.clone()))).collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.expect("join").expect("connect and migrate"));
    }
    let version: i64 = stores[0]
        .query_opt("SELECT version FROM ferry_schema", &[])
        .await
        .expect("version")
        .map(|r| r.get(0))
        .expect("one row");
    assert_eq!(version, MIGRATIONS.len() as i64);
    ferry_conformance::key_store_suite(&stores[1]).await;
    ferry_conformance::meta_store_suite(Arc::new(stores.remove(0))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_url_is_a_clear_error() {
    let Err(e) = PostgresMetaStore::connect("postgres://nobody@127.0.0.1:1/none").await else {
        panic!("connecting to a closed port succeeded")
    };
    assert!(e.to_string().contains("PostgreSQL"), "{e}");
    let Err(e) = PostgresMetaStore::connect("not a url at all").await else { panic!("a junk URL was accepted") };
    assert!(e.to_string().contains("PostgreSQL"), "{e}");
}

async fn connect_owned(url: String) -> Result<PostgresMetaStore> {
    PostgresMetaStore::connect(&url).await
}

/// Concurrent part writes batched into shared transactions: each answered on its own, every
/// acknowledged one there after reconnecting.
#[tokio::test(flavor = "multi_thread")]
async fn group_commit() {
    let server = TestPostgres::start();
    let url = server.database();
    ferry_conformance::group_commit_suite(|| {
        let url = url.clone();
        async move { Arc::new(connect_owned(url).await.expect("connect")) as Arc<dyn ferry_core::MetaStore> }
    })
    .await;
}
