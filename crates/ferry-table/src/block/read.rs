//! Reading blocks back: the footer (row count), whole blocks, and row ranges of a file reached
//! by byte ranges, a page of each column asked for at a time.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMillisecondType, TimestampNanosecondType,
};
use arrow_array::{Array, ArrayRef};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};

use super::{BATCH_ROWS, BlockError, data_type, format_decimal};
use crate::{Column, ColumnType, Value};
/// Bytes at the end of a Parquet file that give its footer's length.
pub const FOOTER_TAIL: usize = 8;

/// The length of the footer (metadata) that precedes the last [`FOOTER_TAIL`] bytes of a file.
pub fn footer_length(tail: &[u8]) -> Result<usize, BlockError> {
    let tail: &[u8; FOOTER_TAIL] =
        tail.try_into().map_err(|_| BlockError::Parquet(ParquetError::General("short Parquet footer".into())))?;
    Ok(FooterTail::try_from(*tail)?.metadata_length())
}

/// The number of rows a file holds, from its footer (the bytes [`footer_length`] names), so a
/// reader can find a row range without reading the data.
pub fn rows_in_footer(footer: &[u8]) -> Result<u64, BlockError> {
    let rows = ParquetMetaDataReader::decode_metadata(footer)?.file_metadata().num_rows();
    u64::try_from(rows).map_err(|_| BlockError::Parquet(ParquetError::General("negative row count".into())))
}

/// Every row of a Parquet block written by [`BlockWriter`], in order.
pub fn read_block(file: Bytes, columns: &[Column]) -> Result<Vec<Vec<Value>>, BlockError> {
    ParquetRows::from_reader(file, columns, None)?.collect::<Result<Vec<_>, _>>().map(|b| b.concat())
}

/// A file the Parquet reader reaches by byte ranges (footer first, then the pages of the columns
/// it needs), such as a blob in a store: only what is read is fetched, so memory stays bounded
/// whatever the file's size.
pub trait RangeSource: Send + Sync + 'static {
    /// The file's size in bytes.
    fn size(&self) -> u64;
    /// `len` bytes from `start` (never past the end).
    fn read_range(&self, start: u64, len: usize) -> std::io::Result<Bytes>;
}

/// Window of a [`RangeRead`]: page headers are read through it and are small.
const RANGE_READ_WINDOW: usize = 64 << 10;

/// Adapts a [`RangeSource`] to the `parquet` crate's reader, which asks for exact ranges (pages)
/// and for a plain `Read` from an offset (page headers, of unknown length).
struct Ranges<S>(Arc<S>);

/// Reads forward from an offset, a window at a time.
struct RangeRead<S> {
    source: Arc<S>,
    position: u64,
    window: Bytes,
}

impl<S: RangeSource> std::io::Read for RangeRead<S> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.window.is_empty() {
            let left = self.source.size().saturating_sub(self.position);
            let len = left.min(RANGE_READ_WINDOW as u64) as usize;
            if len == 0 {
                return Ok(0);
            }
            self.window = self.source.read_range(self.position, len)?;
            self.position += self.window.len() as u64;
        }
        let n = out.len().min(self.window.len());
        out[..n].copy_from_slice(&self.window.split_to(n));
        Ok(n)
    }
}

impl<S: RangeSource> parquet::file::reader::Length for Ranges<S> {
    fn len(&self) -> u64 {
        self.0.size()
    }
}

impl<S: RangeSource> parquet::file::reader::ChunkReader for Ranges<S> {
    type T = RangeRead<S>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<RangeRead<S>> {
        Ok(RangeRead { source: self.0.clone(), position: start, window: Bytes::new() })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0.read_range(start, length).map_err(|e| ParquetError::External(Box::new(e)))
    }
}

/// Rows of any Parquet file whose columns include the ones asked for (matched by name, ignoring
/// case, with the types [`BlockWriter`] writes), in batches as the file is read. Only those
/// columns are decoded, and only the rows of the window asked for.
pub struct ParquetRows {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    columns: Vec<Column>,
    /// Position in the decoded batches of each column asked for.
    positions: Vec<usize>,
}

impl ParquetRows {
    /// Every row of a local file.
    pub fn open(file: std::fs::File, columns: &[Column]) -> Result<Self, BlockError> {
        Self::from_reader(file, columns, None)
    }

    /// Rows `rows` (a window of row numbers, clipped to the file) of a file read by ranges.
    pub fn open_ranges(
        source: impl RangeSource,
        columns: &[Column],
        rows: std::ops::Range<usize>,
    ) -> Result<Self, BlockError> {
        Self::from_reader(Ranges(Arc::new(source)), columns, Some(rows))
    }

    fn from_reader<R: parquet::file::reader::ChunkReader + 'static>(
        reader: R,
        columns: &[Column],
        rows: Option<std::ops::Range<usize>>,
    ) -> Result<Self, BlockError> {
        // For a window, the page index lets the reader skip the pages before it unread.
        let options = ArrowReaderOptions::new().with_page_index(rows.is_some());
        let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(reader, options)?;
        let schema = builder.schema().clone();
        let mut in_file = Vec::with_capacity(columns.len());
        for column in columns {
            let found = schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(&column.name));
            let Some(at) = found else {
                return Err(BlockError::Value {
                    column: column.name.clone(),
                    message: "not in the Parquet file".into(),
                });
            };
            let want = data_type(&column.column_type);
            if schema.field(at).data_type() != &want {
                return Err(BlockError::Value {
                    column: column.name.clone(),
                    message: format!("the file has {}, the table needs {want}", schema.field(at).data_type()),
                });
            }
            in_file.push(at);
        }
        // The reader decodes the projected columns in file order.
        let mut projected = in_file.clone();
        projected.sort_unstable();
        projected.dedup();
        let positions = in_file.iter().map(|at| projected.partition_point(|p| p < at)).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), projected);
        builder = builder.with_projection(mask).with_batch_size(BATCH_ROWS);
        if let Some(rows) = rows {
            builder = builder.with_offset(rows.start).with_limit(rows.end.saturating_sub(rows.start));
        }
        Ok(ParquetRows { reader: builder.build()?, columns: columns.to_vec(), positions })
    }
}

impl Iterator for ParquetRows {
    type Item = Result<Vec<Vec<Value>>, BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(batch) => batch,
            Err(e) => return Some(Err(e.into())),
        };
        let rows = (0..batch.num_rows())
            .map(|i| {
                self.columns.iter().zip(&self.positions).map(|(c, at)| value_at(c, batch.column(*at), i)).collect()
            })
            .collect();
        Some(Ok(rows))
    }
}

fn value_at(column: &Column, array: &ArrayRef, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match column.column_type {
        ColumnType::Bigint => Value::Int(array.as_primitive::<Int64Type>().value(i)),
        ColumnType::Int => Value::Int(i64::from(array.as_primitive::<Int32Type>().value(i))),
        ColumnType::Smallint => Value::Int(i64::from(array.as_primitive::<Int16Type>().value(i))),
        ColumnType::Tinyint => Value::Int(i64::from(array.as_primitive::<Int8Type>().value(i))),
        ColumnType::Date => Value::Int(i64::from(array.as_primitive::<Date32Type>().value(i))),
        ColumnType::Datetime => Value::Int(array.as_primitive::<TimestampMillisecondType>().value(i)),
        ColumnType::Double => Value::Double(array.as_primitive::<Float64Type>().value(i)),
        ColumnType::Float => Value::Float(array.as_primitive::<Float32Type>().value(i)),
        ColumnType::Boolean => Value::Bool(array.as_boolean().value(i)),
        ColumnType::String | ColumnType::Varchar(_) | ColumnType::Char(_) => {
            Value::Bytes(array.as_string::<i32>().value(i).as_bytes().to_vec())
        }
        ColumnType::Binary => Value::Bytes(array.as_binary::<i32>().value(i).to_vec()),
        ColumnType::Decimal { scale, .. } => {
            Value::Bytes(format_decimal(array.as_primitive::<Decimal128Type>().value(i), scale).into_bytes())
        }
        ColumnType::Timestamp => {
            let ns = array.as_primitive::<TimestampNanosecondType>().value(i);
            Value::Timestamp { seconds: ns.div_euclid(1_000_000_000), nanos: ns.rem_euclid(1_000_000_000) as i32 }
        }
    }
}
