//! ferry's engine: the one idea underneath every protocol ferry speaks — the upload session.
//!
//! A front-end (S3, OSS, …) translates its wire format into calls on [`Engine`]; the engine stores
//! metadata through a [`MetaStore`] and bytes through a [`BlobStore`]. Nothing here knows about HTTP,
//! XML, signatures, SQL or Parquet: tables are a service on top of it (`ferry-tables`).

pub mod access;
pub mod checksum;
mod conditions;
pub mod credentials;
mod engine;
mod error;
pub mod events;
pub mod keys;
pub mod lifecycle;
pub mod pipeline;
pub mod store;
pub mod sts;
mod types;
pub mod upload_token;
pub mod uploads;

pub use checksum::{DigestKind, Digests};
pub use conditions::{SourceConditions, WriteCondition, etag_in_list};
pub use engine::{AppendError, MAX_APPENDS, UploadProgress};
pub use engine::{
    CommitOutcome, CommitPart, CommitRequest, CommitRules, Engine, EngineConfig, Expected, FindingKind, ObjectListing,
    ObjectRead, Observer, PartInput, PartList, PartListing, RangeSpec, ScrubFinding, ScrubOptions, ScrubReport,
    ScrubSubject, SweepObserver, SweepReport, SweeperConfig, TrailerSlot, UploadListing, UploadMarker, resolve_range,
    run_sweeper, validate_bucket_name, validate_key,
};
pub use error::{Error, PreconditionFailure, Result, TableError};
pub use events::{DeleteCause, EventKind, EventStore, NotificationConfig};
pub use store::{BlobStore, BlobWriter, BlockingBlobWrite, MetaStore};
pub use types::*;
