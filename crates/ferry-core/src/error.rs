use crate::checksum::DigestKind;

/// Everything the engine can refuse or fail with. Front-ends map each variant to their dialect's
/// wire error in exactly one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    #[error("the bucket already exists")]
    BucketAlreadyExists,
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("the key is {0} bytes; the limit is 1024")]
    KeyTooLong(usize),
    #[error("the key does not exist")]
    NoSuchKey,
    #[error("the upload session does not exist, was aborted, expired or already committed")]
    NoSuchUpload,
    /// An object-dialect write aimed at something only the engine may write (the table bucket,
    /// which holds table schemas, data files and upload records).
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("part {0} was not uploaded or does not match what the server holds")]
    InvalidPart(u32),
    #[error("the part list is not in ascending order")]
    InvalidPartOrder,
    /// The dialect's rules want parts without gaps ([`crate::CommitRules::contiguous_from`]),
    /// and this one is absent.
    #[error("part {0} is missing")]
    MissingPart(u32),
    /// The dialect's rules want every part but the last of one size
    /// ([`crate::CommitRules::exact_part_size`]).
    #[error("part {number} is {size} bytes; every part but the last must be {expected}")]
    PartSizeMismatch { number: u32, size: u64, expected: u64 },
    #[error("part {number} is {size} bytes, smaller than the minimum {min}")]
    EntityTooSmall { number: u32, size: u64, min: u64 },
    #[error("the body is larger than the maximum {max} bytes")]
    EntityTooLarge { max: u64 },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("the {kind} checksum did not match the data")]
    ChecksumMismatch { kind: DigestKind, computed: Vec<u8> },
    #[error("the body ended early: {0}")]
    IncompleteBody(String),
    #[error("the range is not satisfiable for an object of {size} bytes")]
    InvalidRange { size: u64 },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("the session is busy committing; retry")]
    Busy,
    /// A conditional write or copy was refused; nothing was published.
    #[error("{0}")]
    PreconditionFailed(PreconditionFailure),
    #[error("inconsistent stored state: {0}")]
    Critical(String),
    /// The object's stored bytes failed verification: a scrub found one of its blobs missing,
    /// cut short or changed. Reads refuse it rather than serve bad bytes; deleting or
    /// overwriting the object works and clears the flag. Not worth retrying.
    #[error("{0}; delete the object or upload it again")]
    Damaged(String),
    #[error("metadata store: {0}")]
    Meta(String),
    /// The disk (or the store's quota) is full, or free space is below `--min-free-space`.
    /// Not worth retrying until space is freed: deletes and aborts keep working.
    #[error("storage is full: {0}")]
    InsufficientStorage(String),
    #[error("blob store: {0}")]
    Blob(std::io::Error),
}

impl From<std::io::Error> for Error {
    /// A full disk is told apart from other I/O failures so clients get a "free space" answer
    /// rather than a "please retry" one.
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Error::InsufficientStorage(e.to_string()),
            _ => Error::Blob(e),
        }
    }
}

/// Why a table operation was refused. The table service (`ferry-tables`) raises these; they
/// live here, as plain data, so that every front-end maps one error type to its wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("table {0} does not exist")]
    NoSuchTable(String),
    #[error("partition {1} of table {0} does not exist")]
    NoSuchPartition(String, String),
    #[error("table {0} already exists")]
    TableExists(String),
    #[error("partition {1} of table {0} already exists")]
    PartitionExists(String, String),
    #[error("table {0} changed since the download session was opened; open a new one")]
    Modified(String),
    /// A stored table file (schema or data) cannot be read; the message names it. Dropping the
    /// table still works.
    #[error("{0}")]
    Corrupt(String),
}

/// Which condition of a conditional request did not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreconditionFailure {
    /// The write asked for no object at the key, and there was one.
    ObjectExists,
    /// The write named the ETag of the object it replaces, and the object has another.
    EtagMismatch,
    /// The copy's source did not meet its conditions.
    Source,
}

impl std::fmt::Display for PreconditionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PreconditionFailure::ObjectExists => "an object already exists at the key",
            PreconditionFailure::EtagMismatch => "the object's ETag does not match the one given",
            PreconditionFailure::Source => "the copy source does not meet the conditions given",
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
