//! ferry's own Tunnel client against a real `ferry serve`: DDL, explicit and buffered record
//! writers, reattach, block list, commit (including a refused list), download readers.
#![allow(clippy::unwrap_used)]

mod common;

use common::{FerryServer, KEY_ID, SECRET};
use ferry_client::{BufferedOptions, TunnelClient};
use ferry_table::Value;

fn row(i: i64) -> Vec<Value> {
    if i % 10 == 9 {
        return vec![Value::Int(i), Value::Null, Value::Null];
    }
    vec![Value::Int(i), Value::Bytes(format!("name {i}").into_bytes()), Value::Double(i as f64 / 4.0)]
}

async fn read_all(client: &TunnelClient, table: &str, partition: &str, columns: Option<&[&str]>) -> Vec<Vec<Value>> {
    let down = client.create_download_session(table, partition).await.unwrap();
    let mut reader = down.open_record_reader(0, down.count, columns).await.unwrap();
    let mut rows = Vec::new();
    while let Some(batch) = reader.next_batch().await.unwrap() {
        rows.extend(batch);
    }
    assert_eq!(rows.len() as u64, down.count);
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_client_round_trip() {
    let server = FerryServer::start();
    let client = TunnelClient::new(&format!("{}/odps", server.url), "proj", KEY_ID, SECRET).unwrap();
    client.run_sql("CREATE TABLE t (id BIGINT, name STRING, x DOUBLE) PARTITIONED BY (pt STRING)").await.unwrap();
    let schema = client.table_schema("t").await.unwrap();
    assert_eq!(schema.columns.len(), 3);
    assert!(
        client.run_sql("CREATE TABLE t (id BIGINT)").await.unwrap_err().to_string().contains("ObjectAlreadyExists")
    );
    let missing = client.create_upload_session("t", "pt=a", false).await.unwrap_err();
    assert_eq!(missing.code(), Some("NoSuchPartition"));

    // Explicit blocks, one rewritten; reattach and commit.
    let up = client.create_upload_session("t", "pt=a", true).await.unwrap();
    let mut w = up.open_record_writer(3);
    w.write(&row(-1)).await.unwrap();
    w.close().await.unwrap();
    for block in [3, 0] {
        let mut w = up.open_record_writer(block);
        let base = if block == 0 { 0 } else { 50_000 };
        for i in base..base + 50_000 {
            w.write(&row(i)).await.unwrap();
        }
        w.close().await.unwrap();
    }
    let again = client.attach_upload_session("t", "pt=a", &up.id).await.unwrap();
    let status = again.status().await.unwrap();
    assert_eq!((status.status.as_str(), status.blocks.clone()), ("NORMAL", vec![0, 3]));
    let refused = again.commit(&[0, 1, 3]).await.unwrap_err();
    assert_eq!(refused.code(), Some("InvalidArgument"), "{refused}");
    assert!(read_all(&client, "t", "pt=a", None).await.is_empty(), "a refused commit publishes nothing");
    again.commit(&[0, 3]).await.unwrap();
    assert_eq!(again.status().await.unwrap().status, "CLOSED");
    let rows = read_all(&client, "t", "pt=a", None).await;
    assert_eq!(rows, (0..100_000).map(row).collect::<Vec<_>>());
    let picked = read_all(&client, "t", "pt=a", Some(&["x", "id"])).await;
    assert_eq!(picked[5], vec![row(5)[2].clone(), Value::Int(5)]);

    // A bad value is refused by the writer before anything is sent.
    let bad = client.create_upload_session("t", "pt=a", false).await.unwrap();
    let mut w = bad.open_record_writer(0);
    assert!(w.write(&[Value::Bool(true), Value::Null, Value::Null]).await.is_err());

    // Buffered: block ids and retries handled by the writer.
    let up = client.create_upload_session("t", "pt=b", true).await.unwrap();
    let options = BufferedOptions { block_size: 64 * 1024, parallel: 3, ..BufferedOptions::default() };
    let mut w = up.open_buffered_writer(options);
    for i in 0..30_000 {
        w.write(&row(i)).await.unwrap();
    }
    let blocks = w.close().await.unwrap();
    assert!(blocks.len() > 5, "several blocks: {blocks:?}");
    assert_eq!(up.block_list().await.unwrap(), blocks);
    up.commit(&blocks).await.unwrap();
    let mut ids: Vec<i64> = read_all(&client, "t", "pt=b", Some(&["id"]))
        .await
        .into_iter()
        .map(|r| match r[0] {
            Value::Int(i) => i,
            _ => panic!("not an id"),
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..30_000).collect::<Vec<_>>());

    client.run_sql("DROP TABLE t").await.unwrap();
    assert_eq!(client.table_schema("t").await.unwrap_err().code(), Some("NoSuchTable"));
}
