//! Conditional writes through the engine: `If-None-Match: *` / `If-Match` on single-shot puts
//! and commits, copy-source conditions, on the embedded stores and across two nodes sharing
//! PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_blob::LocalBlobStore;
use ferry_conformance::postgres_cluster::TestPostgres;
use ferry_core::*;
use ferry_meta::{PostgresMetaStore, SqliteMetaStore};
use futures_util::TryStreamExt;

mod common;

fn body(data: &[u8]) -> PartInput {
    ferry_conformance::body_in_chunks(data, 4_000)
}

fn target(key: &str) -> ObjectTarget {
    ObjectTarget { bucket: "bkt".into(), key: key.into() }
}

/// Garbage is collected at once, so a sweep shows whether a refused write left a blob behind.
fn config() -> EngineConfig {
    EngineConfig { gc_grace: Duration::ZERO, ..EngineConfig::default() }
}

fn embedded(dir: &std::path::Path) -> Engine {
    let meta = SqliteMetaStore::open(dir.join("meta.db")).unwrap();
    let blobs = LocalBlobStore::open(dir).unwrap();
    Engine::new(Arc::new(meta), Arc::new(blobs), config())
}

async fn read(engine: &Engine, key: &str) -> Vec<u8> {
    let r = engine.get_object("bkt", key, None, None).await.unwrap();
    r.body.try_collect::<Vec<Bytes>>().await.unwrap().concat()
}

fn is_refused(e: &Error, why: PreconditionFailure) -> bool {
    matches!(e, Error::PreconditionFailed(w) if *w == why)
}

fn commit_request(parts: &[&PartRecord]) -> CommitRequest {
    CommitRequest::listed(
        parts.iter().map(|p| CommitPart { number: p.number, etag: Some(p.etag()), checksums: vec![] }).collect(),
        CommitRules::new(1, 10_000),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_if_none_match_puts_publish_once_and_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedded(dir.path());
    e.create_bucket("bkt").await.unwrap();
    // Bodies big enough that every writer is past the early check before the first publishes.
    let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 300_000]).collect();
    let tasks: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|data| {
            let e = e.clone();
            tokio::spawn(async move {
                let condition = Some(WriteCondition::IfNoneMatchAny);
                e.put_object_if(target("once"), ObjectMeta::default(), body(&data), None, condition).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(_) => winners.push(i),
            Err(err) => assert!(is_refused(&err, PreconditionFailure::ObjectExists), "{err}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one racing If-None-Match put publishes");
    assert_eq!(read(&e, "once").await, bodies[winners[0]], "the object holds the winner's bytes");
    e.sweep().await.unwrap();
    assert_eq!(common::blob_files(dir.path()), 1, "the losers' bodies are deleted");

    // If-Match: the current ETag replaces; a stale one is refused and its body deleted.
    let etag = e.head_object("bkt", "once").await.unwrap().etag;
    let stale = Some(WriteCondition::IfMatch("\"0123\"".into()));
    let err = e.put_object_if(target("once"), ObjectMeta::default(), body(b"late"), None, stale).await.unwrap_err();
    assert!(is_refused(&err, PreconditionFailure::EtagMismatch), "{err}");
    let current = Some(WriteCondition::IfMatch(format!("\"{etag}\"")));
    e.put_object_if(target("once"), ObjectMeta::default(), body(b"next"), None, current).await.unwrap();
    assert_eq!(read(&e, "once").await, b"next");
    let missing = Some(WriteCondition::IfMatch(format!("\"{etag}\"")));
    let err = e.put_object_if(target("nothing"), ObjectMeta::default(), body(b"x"), None, missing).await.unwrap_err();
    assert!(matches!(err, Error::NoSuchKey), "If-Match on a missing key: {err}");
    e.sweep().await.unwrap();
    assert_eq!(common::blob_files(dir.path()), 1, "refused bodies leave nothing behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_conditional_commit_keeps_the_upload_for_a_corrected_one() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedded(dir.path());
    e.create_bucket("bkt").await.unwrap();
    e.put_object(target("k"), ObjectMeta::default(), body(b"first"), None).await.unwrap();
    let s = e.create_session(target("k"), ObjectMeta::default(), None).await.unwrap();
    let p1 = e.put_part(&s, 1, body(b"hello ")).await.unwrap();
    let p2 = e.put_part(&s, 2, body(b"world")).await.unwrap();
    let request = commit_request(&[&p1, &p2]);
    let err = e.commit_if(&s, request.clone(), Some(WriteCondition::IfNoneMatchAny)).await.unwrap_err();
    assert!(is_refused(&err, PreconditionFailure::ObjectExists), "{err}");
    assert_eq!(read(&e, "k").await, b"first", "nothing is published");
    assert_eq!(e.open_session(&s.id, &s.target).await.unwrap().state, SessionState::Normal, "the upload is open again");
    assert_eq!(e.list_parts(&s, None, 10).await.unwrap().parts.len(), 2, "with its parts");
    let err = e.commit_if(&s, request.clone(), Some(WriteCondition::IfMatch("nope".into()))).await.unwrap_err();
    assert!(is_refused(&err, PreconditionFailure::EtagMismatch), "{err}");
    // Parts still accepted, then a corrected Complete publishes.
    let p2 = e.put_part(&s, 2, body(b"there")).await.unwrap();
    let etag = e.head_object("bkt", "k").await.unwrap().etag;
    let object = e.commit_if(&s, commit_request(&[&p1, &p2]), Some(WriteCondition::IfMatch(etag))).await.unwrap();
    assert_eq!(read(&e, "k").await, b"hello there");
    assert_eq!(e.head_object("bkt", "k").await.unwrap().etag, object.etag);
    e.sweep().await.unwrap();
    assert_eq!(common::blob_files(dir.path()), 2, "the object's two parts; the replaced object and part are gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_check_source_and_destination_conditions() {
    let dir = tempfile::tempdir().unwrap();
    let e = embedded(dir.path());
    e.create_bucket("bkt").await.unwrap();
    let src = e.put_object(target("src"), ObjectMeta::default(), body(b"0123456789"), None).await.unwrap();
    let quoted = format!("\"{}\"", src.etag);
    let match_src = SourceConditions { if_match: Some(quoted.clone()), ..Default::default() };
    e.copy_object_if(&target("src"), &match_src, target("a"), None, None).await.unwrap();
    assert_eq!(read(&e, "a").await, b"0123456789");
    let none_src = SourceConditions { if_none_match: Some(quoted.clone()), ..Default::default() };
    let err = e.copy_object_if(&target("src"), &none_src, target("b"), None, None).await.unwrap_err();
    assert!(is_refused(&err, PreconditionFailure::Source), "{err}");
    let future = SourceConditions { if_modified_since: Some(now_millis() + 3_600_000), ..Default::default() };
    assert!(e.copy_object_if(&target("src"), &future, target("b"), None, None).await.is_err());
    assert!(matches!(e.head_object("bkt", "b").await, Err(Error::NoSuchKey)), "a refused copy writes nothing");
    // The destination's condition, checked when publishing.
    let err = e
        .copy_object_if(
            &target("src"),
            &SourceConditions::default(),
            target("a"),
            None,
            Some(WriteCondition::IfNoneMatchAny),
        )
        .await
        .unwrap_err();
    assert!(is_refused(&err, PreconditionFailure::ObjectExists), "{err}");

    // UploadPartCopy: the conditions are checked before anything is stored.
    let s = e.create_session(target("parts"), ObjectMeta::default(), None).await.unwrap();
    let range = Some(RangeSpec::From { first: 2, last: Some(5) });
    let err = e.copy_part_if(&s, 1, &target("src"), &none_src, range, 1 << 20).await.unwrap_err();
    assert!(is_refused(&err, PreconditionFailure::Source), "{err}");
    assert!(e.list_parts(&s, None, 10).await.unwrap().parts.is_empty());
    let part = e.copy_part_if(&s, 1, &target("src"), &match_src, range, 1 << 20).await.unwrap();
    assert_eq!(part.size, 4);
    e.commit(&s, commit_request(&[&part])).await.unwrap();
    assert_eq!(read(&e, "parts").await, b"2345");
}

/// Two nodes sharing PostgreSQL (and one blob directory): commits and puts racing on one key
/// with `If-None-Match: *` from both nodes publish exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn racing_if_none_match_across_nodes_on_postgres() {
    let postgres = TestPostgres::start();
    let url = postgres.database();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let meta = PostgresMetaStore::connect(&url).await.unwrap();
        let blobs = LocalBlobStore::open(dir.path()).unwrap();
        nodes.push(Engine::new(Arc::new(meta), Arc::new(blobs), config()));
    }
    nodes[0].create_bucket("bkt").await.unwrap();

    const N: usize = 10;
    let mut sessions = Vec::new();
    for i in 0..N {
        let node = &nodes[i % 2];
        let s = node.create_session(target("shared"), ObjectMeta::default(), None).await.unwrap();
        let p = node.put_part(&s, 1, body(format!("writer {i}").as_bytes())).await.unwrap();
        sessions.push((s, p));
    }
    let tasks: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, (s, p))| {
            let node = nodes[(i + 1) % 2].clone();
            let (s, request) = (s.clone(), commit_request(&[p]));
            tokio::spawn(async move { node.commit_if(&s, request, Some(WriteCondition::IfNoneMatchAny)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(_) => winners.push(i),
            Err(err) => assert!(is_refused(&err, PreconditionFailure::ObjectExists), "{err}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of {N} racing commits publishes across nodes");
    assert_eq!(read(&nodes[1], "shared").await, format!("writer {}", winners[0]).into_bytes());
    for (i, (s, _)) in sessions.iter().enumerate() {
        let state = nodes[0].open_session(&s.id, &s.target).await.unwrap().state;
        let expected = if i == winners[0] { SessionState::Closed } else { SessionState::Normal };
        assert_eq!(state, expected, "losers' uploads are open again");
    }

    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let node = nodes[i % 2].clone();
            tokio::spawn(async move {
                let data = format!("put {i}").into_bytes();
                let condition = Some(WriteCondition::IfNoneMatchAny);
                node.put_object_if(target("put-once"), ObjectMeta::default(), body(&data), None, condition).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(_) => winners.push(i),
            Err(err) => assert!(is_refused(&err, PreconditionFailure::ObjectExists), "{err}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of {N} racing puts publishes across nodes");
    assert_eq!(read(&nodes[0], "put-once").await, format!("put {}", winners[0]).into_bytes());
}
