//! Conformance suites for the storage contracts and the engine on top of them.
//!
//! - [`meta_store_suite`] and [`blob_store_suite`]: each store implementation's tests call
//!   them with a fresh, empty store; a new backend (PostgreSQL, an S3-compatible store) is
//!   correct when it passes the same suite.
//! - [`engine::engine_suite`]: the engine's own guarantees (sessions, commits, checksums,
//!   expiry, garbage collection, tables), run on every storage stack a deployment can choose
//!   (SQLite + local disk, PostgreSQL + an S3-compatible store); see [`engine::Stack`].
//!
//! - [`group_commit_suite`]: many part writes at once with refusals mixed in, each answered on its
//!   own, every acknowledged one found after reopening the store (SQLite and PostgreSQL).
//! - [`key_store_suite`]: access keys in the metadata store (SQLite and PostgreSQL).
//!
//! The suites panic with a message naming the broken guarantee, as test assertions do.
#![allow(clippy::unwrap_used)]

mod blob;
pub mod engine;
mod keys;
mod meta;
pub mod postgres_cluster;

pub use blob::blob_store_suite;
pub use keys::key_store_suite;
pub use meta::{group_commit_suite, meta_store_suite};

use bytes::Bytes;
use ferry_core::PartInput;
use ferry_core::checksum::Wanted;

/// A body arriving in chunks of `chunk` bytes, as a network body does.
pub fn body_in_chunks(data: &[u8], chunk: usize) -> PartInput {
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    PartInput {
        body: Box::pin(futures_util::stream::iter(chunks)),
        expected_size: Some(data.len() as u64),
        max_size: 1 << 30,
        expected: Vec::new(),
        trailer: None,
        wanted: Wanted::default(),
    }
}
