//! A block of rows as one Parquet file (row groups of up to 1 Mi rows or 16 MiB, Snappy pages).
//!
//! ODPS types map to Arrow/Parquet types any reader understands: integers to INT8..INT64,
//! `double`/`float` to FLOAT64/FLOAT32, `string`/`varchar`/`char` to UTF8, `binary` to BINARY,
//! `datetime` to a millisecond timestamp, `date` to DATE32, `decimal(p,s)` to DECIMAL128(p,s),
//! `timestamp` to a nanosecond timestamp.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder, TimestampNanosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMillisecondType, TimestampNanosecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;

use crate::{Column, ColumnType, Value};

/// Rows converted to columns at a time.
const BATCH_ROWS: usize = 4096;

/// A row group is written out once its encoded pages reach this size (or the writer's default
/// of 1 Mi rows).
const ROW_GROUP_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("column {column}: {message}")]
    Value { column: String, message: String },
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

fn data_type(t: &ColumnType) -> DataType {
    match t {
        ColumnType::Bigint => DataType::Int64,
        ColumnType::Int => DataType::Int32,
        ColumnType::Smallint => DataType::Int16,
        ColumnType::Tinyint => DataType::Int8,
        ColumnType::Double => DataType::Float64,
        ColumnType::Float => DataType::Float32,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::String | ColumnType::Varchar(_) | ColumnType::Char(_) => DataType::Utf8,
        ColumnType::Binary => DataType::Binary,
        ColumnType::Datetime => DataType::Timestamp(TimeUnit::Millisecond, None),
        ColumnType::Date => DataType::Date32,
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
    }
}

fn arrow_schema(columns: &[Column]) -> Arc<Schema> {
    Arc::new(Schema::new(
        columns.iter().map(|c| Field::new(&c.name, data_type(&c.column_type), true)).collect::<Vec<_>>(),
    ))
}

/// Writes rows into a Parquet file on `out`, a batch of rows at a time.
pub struct BlockWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    columns: Vec<Column>,
    schema: Arc<Schema>,
    pending: Vec<Vec<Value>>,
    rows: u64,
}

impl<W: Write + Send> BlockWriter<W> {
    pub fn new(out: W, columns: &[Column]) -> Result<Self, BlockError> {
        let schema = arrow_schema(columns);
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
        Ok(BlockWriter { writer, columns: columns.to_vec(), schema, pending: Vec::new(), rows: 0 })
    }

    /// Add one row (values in column order; checked against the column types).
    pub fn write(&mut self, row: Vec<Value>) -> Result<(), BlockError> {
        if row.len() != self.columns.len() {
            return Err(BlockError::Value {
                column: String::new(),
                message: format!("a row of {} values for {} columns", row.len(), self.columns.len()),
            });
        }
        self.pending.push(row);
        self.rows += 1;
        if self.pending.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let arrays = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| build_array(c, self.pending.iter().map(|row| &row[i])))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.writer.write(&batch)?;
        self.pending.clear();
        // The writer keeps a row group's encoded pages in memory until it is flushed: bound
        // that by size as well as by rows, so a block of wide rows does not pile up.
        if self.writer.in_progress_size() >= ROW_GROUP_BYTES {
            self.writer.flush()?;
        }
        Ok(())
    }

    /// Write what is pending and the file footer; returns `out`.
    pub fn finish(mut self) -> Result<W, BlockError> {
        self.flush()?;
        Ok(self.writer.into_inner()?)
    }
}

fn mismatch(column: &Column, value: &Value) -> BlockError {
    BlockError::Value {
        column: column.name.clone(),
        message: format!("{} cannot hold {value:?}", column.column_type.name()),
    }
}

/// One column of a batch of rows as an Arrow array.
fn build_array<'a>(column: &Column, values: impl ExactSizeIterator<Item = &'a Value>) -> Result<ArrayRef, BlockError> {
    let n = values.len();
    let invalid = |message: String| BlockError::Value { column: column.name.clone(), message };
    // Every type alike: NULL appends a null, the matching value kind appends (after
    // conversion, which may refuse it), any other kind is a mismatch.
    macro_rules! build {
        ($builder:expr, $pattern:pat => $value:expr) => {{
            let mut b = $builder;
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    $pattern => b.append_value($value),
                    other => return Err(mismatch(column, other)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    macro_rules! ints {
        ($builder:ty, $t:ty) => {
            build!(<$builder>::with_capacity(n), Value::Int(i) => <$t>::try_from(*i)
                .map_err(|_| invalid(format!("{i} is out of range for {}", column.column_type.name())))?)
        };
    }
    Ok(match column.column_type {
        ColumnType::Bigint => ints!(Int64Builder, i64),
        ColumnType::Int => ints!(Int32Builder, i32),
        ColumnType::Smallint => ints!(Int16Builder, i16),
        ColumnType::Tinyint => ints!(Int8Builder, i8),
        ColumnType::Date => ints!(Date32Builder, i32),
        ColumnType::Datetime => ints!(TimestampMillisecondBuilder, i64),
        ColumnType::Double => build!(Float64Builder::with_capacity(n), Value::Double(d) => *d),
        ColumnType::Float => build!(Float32Builder::with_capacity(n), Value::Float(f) => *f),
        ColumnType::Boolean => build!(BooleanBuilder::with_capacity(n), Value::Bool(x) => *x),
        ColumnType::String | ColumnType::Varchar(_) | ColumnType::Char(_) => {
            build!(StringBuilder::with_capacity(n, n * 16), Value::Bytes(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| invalid("a string value is not valid UTF-8".into()))?)
        }
        ColumnType::Binary => build!(BinaryBuilder::with_capacity(n, n * 16), Value::Bytes(bytes) => bytes),
        ColumnType::Decimal { precision, scale } => build!(
            Decimal128Builder::with_capacity(n).with_precision_and_scale(precision, scale as i8)?,
            Value::Bytes(text) => parse_decimal(text, precision, scale).map_err(invalid)?
        ),
        ColumnType::Timestamp => build!(
            TimestampNanosecondBuilder::with_capacity(n),
            Value::Timestamp { seconds, nanos } => seconds
                .checked_mul(1_000_000_000)
                .and_then(|s| s.checked_add(i64::from(*nanos)))
                .ok_or_else(|| invalid(format!("timestamp {seconds}s is outside years 1677-2262")))?
        ),
    })
}

/// A decimal's text (`-12.34`) as an integer scaled by `scale`, within `precision` digits.
fn parse_decimal(text: &[u8], precision: u8, scale: u8) -> Result<i128, String> {
    let shown = String::from_utf8_lossy(text);
    let bad = || format!("{shown:?} is not a decimal({precision},{scale})");
    let s = std::str::from_utf8(text).map_err(|_| bad())?.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return Err(bad());
    }
    // Extra fractional digits must be zeros: a value is never rounded silently.
    let (kept, dropped) = frac.split_at(frac.len().min(scale as usize));
    if !dropped.bytes().all(|b| b == b'0') {
        return Err(format!("{shown:?} has more than {scale} decimal places"));
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() + scale as usize > precision as usize {
        return Err(format!("{shown:?} does not fit decimal({precision},{scale})"));
    }
    let mut value: i128 = 0;
    for b in whole.bytes().chain(kept.bytes()).chain(std::iter::repeat_n(b'0', scale as usize - kept.len())) {
        value = value * 10 + i128::from(b - b'0');
    }
    Ok(if negative { -value } else { value })
}

/// A scaled integer as decimal text, as ODPS writes it (`-0.01`).
fn format_decimal(value: i128, scale: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale as usize + 1);
    let (whole, frac) = padded.split_at(padded.len() - scale as usize);
    format!("{sign}{whole}.{frac}")
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn columns() -> Vec<Column> {
        [
            ("id", "bigint"),
            ("n", "int"),
            ("s16", "smallint"),
            ("s8", "tinyint"),
            ("x", "double"),
            ("f", "float"),
            ("ok", "boolean"),
            ("name", "string"),
            ("raw", "binary"),
            ("at", "datetime"),
            ("day", "date"),
            ("amount", "decimal(10,2)"),
            ("ts", "timestamp"),
        ]
        .iter()
        .map(|(n, t)| Column::new(n, ColumnType::parse(t).unwrap()))
        .collect()
    }

    fn row(i: i64) -> Vec<Value> {
        vec![
            Value::Int(i),
            Value::Int(i % 1000),
            Value::Int(-7),
            Value::Int(3),
            Value::Double(i as f64 / 3.0),
            Value::Float(1.5),
            Value::Bool(i % 2 == 0),
            Value::Bytes(format!("row-{i}-é").into_bytes()),
            Value::Bytes(vec![0, 1, 255]),
            Value::Int(1_700_000_000_123 + i),
            Value::Int(19_699),
            Value::Bytes(format_decimal(i128::from(i) - 500, 2).into_bytes()),
            Value::Timestamp { seconds: -5 + i, nanos: 123_456_789 },
        ]
    }

    #[test]
    fn rows_round_trip_through_parquet() {
        let cols = columns();
        let mut writer = BlockWriter::new(Vec::new(), &cols).unwrap();
        let mut expected = Vec::new();
        for i in 0..10_000 {
            let r = if i % 97 == 0 { vec![Value::Null; cols.len()] } else { row(i) };
            expected.push(r.clone());
            writer.write(r).unwrap();
        }
        assert_eq!(writer.rows(), 10_000);
        let file = writer.finish().unwrap();
        assert_eq!(&file[..4], b"PAR1", "a Parquet file");
        let tail = &file[file.len() - FOOTER_TAIL..];
        let footer_len = footer_length(tail).unwrap();
        let footer = &file[file.len() - FOOTER_TAIL - footer_len..file.len() - FOOTER_TAIL];
        assert_eq!(rows_in_footer(footer).unwrap(), 10_000, "the row count is read from the footer alone");
        assert!(footer_length(&file[..3]).is_err());
        assert_eq!(read_block(Bytes::from(file), &cols).unwrap(), expected);
    }

    #[test]
    fn any_parquet_file_is_read_by_column_name() {
        let cols = columns();
        let mut writer = BlockWriter::new(Vec::new(), &cols).unwrap();
        for i in 0..5000 {
            writer.write(row(i)).unwrap();
        }
        let path = std::env::temp_dir().join(format!("ferry-table-test-{}.parquet", std::process::id()));
        std::fs::write(&path, writer.finish().unwrap()).unwrap();
        let wanted = vec![cols[7].clone(), cols[0].clone()];
        let rows: Vec<Vec<Value>> =
            ParquetRows::open(std::fs::File::open(&path).unwrap(), &wanted).unwrap().flat_map(Result::unwrap).collect();
        assert_eq!(rows.len(), 5000);
        assert_eq!(rows[42], vec![row(42)[7].clone(), Value::Int(42)]);
        let wrong_type = vec![Column::new("name", ColumnType::Bigint)];
        assert!(ParquetRows::open(std::fs::File::open(&path).unwrap(), &wrong_type).is_err());
        let missing = vec![Column::new("nope", ColumnType::Bigint)];
        assert!(ParquetRows::open(std::fs::File::open(&path).unwrap(), &missing).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    /// A file in memory that counts the bytes the reader fetches.
    struct Counted {
        file: Bytes,
        fetched: Arc<std::sync::atomic::AtomicU64>,
    }

    impl RangeSource for Counted {
        fn size(&self) -> u64 {
            self.file.len() as u64
        }

        fn read_range(&self, start: u64, len: usize) -> std::io::Result<Bytes> {
            self.fetched.fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(self.file.slice(start as usize..start as usize + len))
        }
    }

    #[test]
    fn a_window_of_rows_and_columns_reads_a_fraction_of_the_file() {
        let cols = columns();
        let mut writer = BlockWriter::new(Vec::new(), &cols).unwrap();
        for i in 0..200_000 {
            writer.write(row(i)).unwrap();
        }
        let file = Bytes::from(writer.finish().unwrap());
        let fetched = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let source = Counted { file: file.clone(), fetched: fetched.clone() };
        let wanted = vec![cols[7].clone(), cols[0].clone()];
        let rows: Vec<Vec<Value>> =
            ParquetRows::open_ranges(source, &wanted, 150_000..150_010).unwrap().flat_map(Result::unwrap).collect();
        let expected: Vec<Vec<Value>> = (150_000..150_010).map(|i| vec![row(i)[7].clone(), Value::Int(i)]).collect();
        assert_eq!(rows, expected);
        let fetched = fetched.load(std::sync::atomic::Ordering::Relaxed);
        assert!(fetched * 4 < file.len() as u64, "fetched {fetched} of {} bytes for 10 rows of 2 columns", file.len());

        // Past the end: nothing; the whole file through ranges: every row.
        let all = Counted { file: file.clone(), fetched: Arc::default() };
        assert_eq!(ParquetRows::open_ranges(all, &cols, 200_000..200_005).unwrap().count(), 0);
        let all = Counted { file, fetched: Arc::default() };
        let every: usize = ParquetRows::open_ranges(all, &cols, 0..usize::MAX).unwrap().map(|b| b.unwrap().len()).sum();
        assert_eq!(every, 200_000);
    }

    #[test]
    fn wide_rows_are_flushed_in_row_groups_of_bounded_size() {
        let cols = vec![Column::new("id", ColumnType::Bigint), Column::new("blob", ColumnType::Binary)];
        // Bytes that do not compress (a xorshift sequence seeded by the row number).
        let wide = |i: i64| {
            let mut x = i as u64 * 0x9E37_79B9_7F4A_7C15 + 1;
            let bytes = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            vec![Value::Int(i), Value::Bytes(bytes)]
        };
        let mut writer = BlockWriter::new(Vec::new(), &cols).unwrap();
        for i in 0..20_000 {
            writer.write(wide(i)).unwrap();
        }
        let file = Bytes::from(writer.finish().unwrap());
        let metadata = ParquetMetaDataReader::new().parse_and_finish(&file).unwrap();
        let groups = metadata.row_groups();
        assert!(groups.len() >= 4, "80 MB of rows in {} row group(s)", groups.len());
        assert!(groups.iter().all(|g| g.compressed_size() < 2 * ROW_GROUP_BYTES as i64));
        let back = read_block(file, &cols).unwrap();
        assert_eq!(back.len(), 20_000);
        assert_eq!(back[12_345], wide(12_345));
    }

    #[test]
    fn values_that_do_not_fit_are_refused() {
        let cols = vec![Column::new("n", ColumnType::Tinyint)];
        let mut w = BlockWriter::new(Vec::new(), &cols).unwrap();
        w.write(vec![Value::Int(300)]).unwrap();
        assert!(w.finish().unwrap_err().to_string().contains("out of range"));
        let cols = vec![Column::new("s", ColumnType::String)];
        let mut w = BlockWriter::new(Vec::new(), &cols).unwrap();
        w.write(vec![Value::Bytes(vec![0xff, 0xfe])]).unwrap();
        assert!(w.finish().unwrap_err().to_string().contains("UTF-8"));
        let mut w = BlockWriter::new(Vec::new(), &cols).unwrap();
        assert!(w.write(vec![]).is_err());
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal(b"12.34", 10, 2), Ok(1234));
        assert_eq!(parse_decimal(b"-0.01", 10, 2), Ok(-1));
        assert_eq!(parse_decimal(b"7", 10, 2), Ok(700));
        assert_eq!(parse_decimal(b"1.50", 10, 1), Ok(15));
        assert!(parse_decimal(b"1.55", 10, 1).unwrap_err().contains("decimal places"));
        assert!(parse_decimal(b"123456789", 10, 2).unwrap_err().contains("fit"));
        for bad in [&b"abc"[..], b"1e5", b"", b".", b"--1", b"1.2.3"] {
            assert!(parse_decimal(bad, 10, 2).is_err(), "{bad:?}");
        }
        for (v, s, text) in [(1234, 2, "12.34"), (-1, 2, "-0.01"), (5, 0, "5"), (0, 3, "0.000")] {
            assert_eq!(format_decimal(v, s), text);
            assert_eq!(parse_decimal(text.as_bytes(), 38, s), Ok(v));
        }
    }
}
