//! Blob stores for ferry. [`LocalBlobStore`] keeps blobs as files in a data directory.

mod local;

pub use local::LocalBlobStore;
