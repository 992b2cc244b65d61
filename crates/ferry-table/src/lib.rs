//! Tables: a schema of typed columns (and partition keys), rows of [`Value`]s, and blocks of rows
//! stored as Parquet files, so a committed table is readable by any Parquet reader.

mod block;
#[doc(hidden)]
pub mod fuzz;
mod partition;
mod schema;
mod text;
mod types;

pub use block::{
    BATCH_ROWS, BlockError, BlockWriter, ColumnBuilders, FOOTER_TAIL, ParquetRows, RangeSource, ValueRef,
    footer_length, read_block, rows_in_footer,
};
pub use partition::PartitionSpec;
pub use schema::{Column, TableSchema};
pub use text::{format_value, parse_value};
pub use types::{ColumnType, Rows, Value};
