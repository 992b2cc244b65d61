//! One module per S3 operation family.

pub mod bucket;
pub mod list;
pub mod multipart;
pub mod object;
