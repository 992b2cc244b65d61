//! Tables: a schema of typed columns (and partition keys), rows of [`Value`]s, and blocks of rows
//! stored as Parquet files, so a committed table is readable by any Parquet reader.

mod block;
mod schema;
mod types;

pub use block::{BlockError, BlockWriter, read_block};
pub use schema::{Column, TableSchema};
pub use types::{ColumnType, Value};
