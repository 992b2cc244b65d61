//! The engine suite: the engine's guarantees, end to end through its public API, on one
//! storage stack. Every deployment's stack runs it (see [`Stack`]); the cases are grouped by
//! what they exercise: object uploads (`objects`), tables (`tables`), session time (`expiry`).

mod events;
mod expiry;
mod lifecycle;
mod objects;
mod tables;
mod uploads;

use std::sync::Arc;

use bytes::Bytes;
use ferry_core::{
    BlobId, BlobStore, CommitPart, CommitRequest, CommitRules, Engine, EngineConfig, MetaStore, ObjectTarget,
    PartInput, PartRecord, RangeSpec,
};
use futures_util::TryStreamExt;

/// A storage stack the engine runs on: a metadata store and a blob store of one kind.
#[async_trait]
pub trait Stack: Send + Sync {
    /// What the stack is, for failure messages ("SQLite + local disk").
    fn name(&self) -> String;

    /// A fresh, empty pair of stores, with access to the blobs beneath the blob store.
    async fn stores(&self) -> Stores;
}

/// The stores one case of the suite runs on.
pub struct Stores {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub raw: Box<dyn RawBlobs>,
}

/// The blobs as the storage underneath holds them (files, bucket objects), bypassing the blob
/// store: to count what is left behind and to damage what is stored.
#[async_trait]
pub trait RawBlobs: Send + Sync {
    /// How many blobs hold bytes.
    async fn count(&self) -> usize;

    /// Replace the stored bytes of `blob` with `bytes`, as damage on disk would.
    async fn overwrite(&self, blob: &BlobId, bytes: Vec<u8>);

    /// Whether anything is staged outside the blobs (a staging directory, an unfinished
    /// multipart upload).
    async fn staged_anything(&self) -> bool;
}

/// An engine on fresh stores, and the raw blobs beneath it.
struct Fixture {
    engine: Engine,
    blobs: Box<dyn RawBlobs>,
}

async fn fixture(stack: &dyn Stack, config: EngineConfig) -> Fixture {
    let Stores { meta, blobs, raw } = stack.stores().await;
    Fixture { engine: Engine::new(meta, blobs, config), blobs: raw }
}

/// Runs every case of the suite on `stack`, each on fresh stores.
pub async fn engine_suite(stack: &dyn Stack) {
    macro_rules! cases {
        ($($case:path),* $(,)?) => {$(
            // Shown with the panic of a failing case, which names neither the case nor the stack.
            eprintln!("engine suite on {}: {}", stack.name(), stringify!($case));
            $case(stack).await;
        )*};
    }
    cases!(
        objects::parts_in_any_order_resent_and_committed_by_metadata,
        objects::commit_verification_errors_leave_the_session_usable,
        objects::bad_bodies_store_nothing,
        objects::checksums_composite_and_full_object,
        objects::abort_expiry_and_garbage_collection,
        objects::listing_with_delimiter_and_pages,
        objects::us3_rules_publish_every_part_from_zero_and_replay_a_repeated_finish,
        objects::uploads_of_one_key_page_one_at_a_time_oldest_first,
        tables::block_commits_publish_one_file_per_block_or_nothing,
        tables::blocks_of_rows_become_parquet_files,
        tables::table_sessions_and_object_sessions_never_mix,
        tables::the_table_bucket_is_read_only_to_object_calls,
        tables::corrupt_table_files_are_reported_and_the_table_can_be_dropped,
        tables::tunnel_commits_replay_with_the_same_list_an_empty_one_or_none,
        expiry::sessions_expire_at_request_time_without_a_sweep,
        expiry::idle_sessions_expire_at_request_time_and_activity_keeps_them,
        lifecycle::lifecycle_rules_abort_uploads_and_expire_objects,
        lifecycle::lifecycle_batches_are_bounded_and_each_object_expires_once,
        events::changes_queue_the_configured_events,
        uploads::appends_race_for_one_offset_and_uploads_concatenate_by_metadata,
    );
}

fn body(data: &[u8]) -> PartInput {
    crate::body_in_chunks(data, 7_000)
}

fn target(key: &str) -> ObjectTarget {
    ObjectTarget { bucket: "bkt".into(), key: key.into() }
}

async fn read(engine: &Engine, key: &str, range: Option<RangeSpec>) -> Vec<u8> {
    let r = engine.get_object("bkt", key, range, None).await.unwrap();
    r.body.try_collect::<Vec<Bytes>>().await.unwrap().concat()
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

/// The attribute [`Stack`] and [`RawBlobs`] implementations need, so their crates need not
/// depend on `async-trait` themselves.
pub use async_trait::async_trait;
