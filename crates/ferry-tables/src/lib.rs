//! Tables on the engine: schemas, partitions, block uploads and downloads.

mod blocks;
mod tables;

pub use blocks::RowBatches;
pub use ferry_table;
pub use tables::{TableError, TableFile, TableInfo, TableName, TableRows, TableUpload};
