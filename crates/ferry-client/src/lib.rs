//! ferry's client library. It speaks S3, so it works against ferry and any S3-compatible
//! service.
//!
//! - [`S3Client`]: low-level, ID-addressed calls (create, upload part, list parts, complete,
//!   abort, objects, listings), SigV4-signed.
//! - [`Uploader`]: a file upload in parallel parts with a checkpoint file, so an upload killed at
//!   any moment resumes where it stopped; the server's part list is the truth on resume.
//! - [`TunnelClient`]: tables over the Tunnel dialect — upload sessions with record writers
//!   (plain and buffered with automatic retries) and download readers.

mod checkpoint;
mod client;
mod error;
mod tunnel;
mod uploader;
mod xml;

pub use checkpoint::{Checkpoint, FileIdentity};
pub use client::{ObjectInfo, Part, S3Client, UploadInfo, https_connector};
pub use error::{ClientError, Result};
pub use tunnel::{
    BufferedOptions, BufferedWriter, DownloadSession, RecordReader, RecordWriter, TunnelClient, UploadSession,
    UploadStatus,
};
pub use uploader::{Event, Progress, RateLimit, UploadOptions, UploadOutcome, Uploader};
