//! Offset-based uploads (tus, the IETF draft) on the engine: appends at the durable offset, one
//! winner when two nodes race for the same offset, a declared length that never changes, and
//! concatenation of finished uploads by metadata only.

use std::sync::Arc;

use bytes::Bytes;
use ferry_core::*;

use super::{Stack, Stores, read, target};

/// A body that yields `data` only once `gate` is passed by every racer: each append has read
/// the offset before any of them stores its part.
fn gated(gate: Arc<tokio::sync::Barrier>, data: &'static [u8]) -> PartInput {
    let body = futures_util::stream::once(async move {
        gate.wait().await;
        Ok::<Bytes, std::io::Error>(Bytes::from_static(data))
    });
    PartInput {
        body: Box::pin(body),
        expected_size: None,
        max_size: 1 << 20,
        expected: Vec::new(),
        trailer: None,
        wanted: Default::default(),
    }
}

fn now(data: &'static [u8]) -> PartInput {
    gated(Arc::new(tokio::sync::Barrier::new(1)), data)
}

pub(super) async fn appends_race_for_one_offset_and_uploads_concatenate_by_metadata(stack: &dyn Stack) {
    let Stores { meta, blobs, raw } = stack.stores().await;
    // Two nodes: two engines over the same stores.
    let a = Engine::new(meta.clone(), blobs.clone(), EngineConfig::default());
    let b = Engine::new(meta, blobs, EngineConfig::default());
    a.create_bucket("bkt").await.unwrap();
    let s = a.create_session(target("raced"), ObjectMeta::default(), None).await.unwrap();
    assert_eq!(a.declare_upload_length(&s, 8).await.unwrap(), 8);
    assert!(matches!(b.declare_upload_length(&s, 9).await, Err(AppendError::LengthMismatch { declared: 8, .. })));
    for round in 0..3u64 {
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let at = round * 2;
        let (x, y) =
            tokio::join!(a.append_at(&s, at, gated(gate.clone(), b"AA")), b.append_at(&s, at, gated(gate, b"BB")));
        let lost = [&x, &y]
            .iter()
            .filter(|r| matches!(r, Err(AppendError::Conflict { claimed, .. }) if *claimed == at))
            .count();
        assert_eq!(lost, 1, "round {round}: one append wins, one is refused: {x:?} {y:?}");
        assert_eq!(a.upload_progress(&s).await.unwrap().offset, at + 2);
    }
    assert_eq!(raw.count().await, 3, "the refused appends kept nothing");
    assert!(matches!(a.append_at(&s, 2, now(b"zz")).await, Err(AppendError::Conflict { offset: 6, claimed: 2 })));
    assert!(matches!(a.append_at(&s, 6, now(b"CCC")).await, Err(AppendError::LengthExceeded { length: 8 })));
    assert!(a.append_at(&s, 6, now(b"CC")).await.unwrap().complete());
    a.finish_upload(&s).await.unwrap();
    b.finish_upload(&s).await.unwrap(); // idempotent, on any node
    let raced = read(&a, "raced", None).await;
    assert_eq!((raced.len(), &raced[6..]), (8, &b"CC"[..]));
    assert!(matches!(a.append_at(&s, 8, now(b"x")).await, Err(AppendError::Completed)));

    // Concatenation: the sources' parts, in order, become the object; no byte is copied.
    let mut sources = Vec::new();
    for (i, chunks) in [[&b"one-"[..], b"two-"], [b"three", b""]].iter().enumerate() {
        let src = a.create_session(target(&format!("part-{i}")), ObjectMeta::default(), None).await.unwrap();
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        a.declare_upload_length(&src, total as u64).await.unwrap();
        let mut at = 0;
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            let chunk: &'static [u8] = chunk;
            at = a.append_at(&src, at, now(chunk)).await.unwrap().offset;
        }
        sources.push(src);
    }
    let before = raw.count().await;
    let open = a.create_session(target("open"), ObjectMeta::default(), None).await.unwrap();
    a.declare_upload_length(&open, 4).await.unwrap();
    a.append_at(&open, 0, now(b"ab")).await.unwrap();
    let joined = a.create_session(target("joined"), ObjectMeta::default(), None).await.unwrap();
    let with_open = [sources[0].clone(), open.clone()];
    assert!(matches!(a.concat_uploads(&joined, &with_open).await, Err(AppendError::Incomplete(id)) if id == open.id));
    let object = b.concat_uploads(&joined, &sources).await.unwrap();
    assert_eq!(read(&a, "joined", None).await, b"one-two-three");
    assert_eq!(object.manifest.len(), 3);
    assert_eq!(raw.count().await, before + 1, "only the open upload's part was added: nothing copied");
    for src in &sources {
        let src = a.open_bucket_session(&src.id, "bkt").await.unwrap();
        assert!(a.upload_progress(&src).await.unwrap().published, "a source is used up");
    }
    let again = a.create_session(target("again"), ObjectMeta::default(), None).await.unwrap();
    let used: Vec<Session> =
        futures_util::future::join_all(sources.iter().map(|s| a.open_bucket_session(&s.id, "bkt")))
            .await
            .into_iter()
            .map(|s| s.unwrap())
            .collect();
    assert!(matches!(a.concat_uploads(&again, &used).await, Err(AppendError::Incomplete(_))));
    assert!(a.head_object("bkt", "again").await.is_err());
}
