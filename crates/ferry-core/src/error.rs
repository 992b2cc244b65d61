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
    Table(#[from] crate::tables::TableError),
    #[error("the session is busy committing; retry")]
    Busy,
    #[error("inconsistent stored state: {0}")]
    Critical(String),
    #[error("metadata store: {0}")]
    Meta(String),
    #[error("blob store: {0}")]
    Blob(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
