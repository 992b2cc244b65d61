//! The [`BlobStore`] suite: every guarantee of the contract, on an empty store.

use std::sync::Arc;

use bytes::Bytes;
use ferry_core::{BlobId, BlobStore, now_millis};
use futures_util::TryStreamExt;

async fn write_blob(store: &dyn BlobStore, chunks: &[&[u8]]) -> BlobId {
    let mut w = store.create().await.unwrap();
    let id = w.id().clone();
    for c in chunks {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    let size = w.finish().await.unwrap();
    assert_eq!(size, chunks.iter().map(|c| c.len() as u64).sum::<u64>());
    id
}

async fn read_all(store: &dyn BlobStore, id: &BlobId, offset: u64, len: u64) -> Vec<u8> {
    let stream = store.read(id, offset, len).await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

/// Every guarantee of [`BlobStore`], on an empty store.
pub async fn blob_store_suite(store: Arc<dyn BlobStore>) {
    let store = &*store;
    store.check().await.unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let id = write_blob(store, &[b"hello ", b"world", &big]).await;
    assert_eq!(read_all(store, &id, 0, 11).await, b"hello world");
    assert_eq!(read_all(store, &id, 6, 5).await, b"world");
    assert_eq!(read_all(store, &id, 11, big.len() as u64).await, big, "large reads stream intact");
    assert!(read_all(store, &id, 11, 0).await.is_empty());

    // Aborted and dropped writers leave nothing behind.
    let mut w = store.create().await.unwrap();
    let aborted = w.id().clone();
    w.write(Bytes::from_static(b"partial")).await.unwrap();
    w.abort().await;
    assert!(store.read(&aborted, 0, 1).await.is_err() || read_err(store, &aborted).await, "aborted blob invisible");
    let listed = store.list_older_than(now_millis() + 60_000).await.unwrap();
    assert!(listed.contains(&id), "finished blobs are listed");
    assert!(!listed.contains(&aborted), "aborted blobs are not");
    assert!(!store.list_older_than(0).await.unwrap().contains(&id), "young blobs are not listed as old");

    assert_eq!(store.size(&id).await.unwrap(), Some(11 + big.len() as u64));
    store.delete(&id).await.unwrap();
    store.delete(&id).await.unwrap();
    assert!(store.read(&id, 0, 1).await.is_err() || read_err(store, &id).await, "deleted blob unreadable");
    assert_eq!(store.size(&id).await.unwrap(), None, "a deleted blob has no size");
    let empty = write_blob(store, &[]).await;
    assert_eq!(store.size(&empty).await.unwrap(), Some(0));
    assert!(read_all(store, &empty, 0, 0).await.is_empty());
    store.clean_incomplete().await.unwrap();
}

async fn read_err(store: &dyn BlobStore, id: &BlobId) -> bool {
    match store.read(id, 0, 1).await {
        Err(_) => true,
        Ok(stream) => stream.try_collect::<Vec<Bytes>>().await.is_err(),
    }
}
