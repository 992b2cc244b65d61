//! ferry's engine: the one idea underneath every protocol ferry speaks — the upload session.
//!
//! A front-end (S3, OSS, …) translates its wire format into calls on [`Engine`]; the engine stores
//! metadata through a [`MetaStore`] and bytes through a [`BlobStore`]. Nothing here knows about HTTP,
//! XML, signatures or SQL.

mod blocks;
pub mod checksum;
mod conditions;
pub mod credentials;
mod engine;
mod error;
pub mod pipeline;
pub mod store;
mod tables;
mod types;

pub use blocks::RowBatches;
pub use checksum::{DigestKind, Digests};
pub use conditions::{SourceConditions, WriteCondition, etag_in_list};
pub use engine::{
    CommitOutcome, CommitPart, CommitRequest, CommitRules, Engine, EngineConfig, Expected, ObjectListing, ObjectRead,
    Observer, PartInput, PartList, PartListing, RangeSpec, SweepObserver, SweepReport, SweeperConfig, TrailerSlot,
    UploadListing, UploadMarker, resolve_range, run_sweeper, validate_bucket_name, validate_key,
};
pub use error::{Error, PreconditionFailure, Result};
pub use ferry_table;
pub use store::{BlobStore, BlobWriter, MetaStore};
pub use tables::{TableError, TableFile, TableInfo, TableName, TableRows, TableUpload};
pub use types::*;
