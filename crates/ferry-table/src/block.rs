//! A block of rows as one Parquet file (row groups of up to 1 Mi rows or 16 MiB, Snappy pages).
//!
//! ODPS types map to Arrow/Parquet types any reader understands: integers to INT8..INT64,
//! `double`/`float` to FLOAT64/FLOAT32, `string`/`varchar`/`char` to UTF8, `binary` to BINARY,
//! `datetime` to a millisecond timestamp, `date` to DATE32, `decimal(p,s)` to DECIMAL128(p,s),
//! `timestamp` to a nanosecond timestamp.

mod columns;
mod read;

use std::io::Write;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::types::RowsInner;
use crate::{Column, ColumnType, Rows, Value};

pub use columns::{ColumnBuilders, ValueRef};
pub use read::{FOOTER_TAIL, ParquetRows, RangeSource, footer_length, read_block, rows_in_footer};

/// Rows gathered into columns before they are handed to the Parquet encoder together.
pub const BATCH_ROWS: usize = 4096;

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
    /// Rows not yet handed to the encoder, already in columns.
    pending: ColumnBuilders,
    rows: u64,
}

impl<W: Write + Send> BlockWriter<W> {
    pub fn new(out: W, columns: &[Column]) -> Result<Self, BlockError> {
        let pending = ColumnBuilders::new(columns)?;
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(out, pending.schema().clone(), Some(props))?;
        Ok(BlockWriter { writer, pending, rows: 0 })
    }

    /// Add one row (values in column order; checked against the column types). After a row is
    /// refused the writer takes nothing more.
    pub fn write(&mut self, row: Vec<Value>) -> Result<(), BlockError> {
        self.pending.append_values(&row)?;
        self.rows += 1;
        if self.pending.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Add a batch of rows (values in column order; checked against the column types).
    pub fn write_rows(&mut self, rows: Rows) -> Result<(), BlockError> {
        if rows.is_empty() {
            return Ok(());
        }
        let count = rows.len() as u64;
        match rows.0 {
            RowsInner::Columns(batch) => {
                // Already in columns (a decoder built them): checked against this block's
                // schema, then encoded after whatever rows came before it.
                if batch.schema().fields() != self.pending.schema().fields() {
                    return Err(BlockError::Value {
                        column: String::new(),
                        message: "a batch of rows whose columns are not the block's".into(),
                    });
                }
                self.flush()?;
                self.writer.write(&batch)?;
                self.limit_row_group()?;
            }
            RowsInner::Flat { width, values } => {
                for row in values.chunks_exact(width.max(1)) {
                    self.pending.append_values(row)?;
                }
                if self.pending.len() >= BATCH_ROWS {
                    self.flush()?;
                }
            }
        }
        self.rows += count;
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
        let batch = self.pending.finish()?;
        self.writer.write(&batch)?;
        self.limit_row_group()
    }

    /// The writer keeps a row group's encoded pages in memory until it is flushed: bound that
    /// by size as well as by rows, so a block of wide rows does not pile up.
    fn limit_row_group(&mut self) -> Result<(), BlockError> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use parquet::file::metadata::ParquetMetaDataReader;

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
    fn batches_of_flat_rows_write_the_same_rows() {
        let cols = columns();
        let mut writer = BlockWriter::new(Vec::new(), &cols).unwrap();
        let expected: Vec<Vec<Value>> =
            (0..9_000).map(|i| if i % 97 == 0 { vec![Value::Null; cols.len()] } else { row(i) }).collect();
        // Uneven batches, mixed with single rows, cross the conversion batches at odd places.
        let mut at = 0;
        for (n, size) in [1usize, 4095, 3, 4900, 0, 1].into_iter().enumerate() {
            if n % 2 == 0 {
                for r in &expected[at..at + size] {
                    writer.write(r.clone()).unwrap();
                }
            } else {
                writer.write_rows(Rows::from_rows(expected[at..at + size].to_vec()).unwrap()).unwrap();
            }
            at += size;
        }
        let wrong = Rows::from_rows(vec![vec![Value::Int(1)]]).unwrap();
        assert!(BlockWriter::new(Vec::new(), &cols).unwrap().write_rows(wrong).is_err(), "rows of the wrong width");
        assert!(Rows::from_flat(2, vec![Value::Null; 3]).is_none());
        assert!(Rows::from_rows(vec![vec![Value::Null], vec![]]).is_none());
        assert_eq!(writer.rows(), 9_000);
        assert_eq!(read_block(Bytes::from(writer.finish().unwrap()), &cols).unwrap(), expected);
    }

    #[test]
    fn batches_built_in_columns_mix_with_rows() {
        let cols = columns();
        let mut writer = BlockWriter::new(Vec::new(), &cols).unwrap();
        let expected: Vec<Vec<Value>> =
            (0..9_000).map(|i| if i % 89 == 0 { vec![Value::Null; cols.len()] } else { row(i) }).collect();
        let mut builders = ColumnBuilders::new(&cols).unwrap();
        let mut at = 0;
        for (n, size) in [5000usize, 7, 1, 3992].into_iter().enumerate() {
            if n % 2 == 0 {
                for r in &expected[at..at + size] {
                    let borrowed: Vec<ValueRef<'_>> = r.iter().map(Value::borrowed).collect();
                    builders.append(&borrowed).unwrap();
                }
                assert_eq!(builders.len(), size);
                writer.write_rows(Rows::from_batch(builders.finish().unwrap())).unwrap();
                assert!(builders.is_empty());
            } else {
                for r in &expected[at..at + size] {
                    writer.write(r.clone()).unwrap();
                }
            }
            at += size;
        }
        assert_eq!(writer.rows(), 9_000);
        assert_eq!(read_block(Bytes::from(writer.finish().unwrap()), &cols).unwrap(), expected);

        // A batch of another table's columns is refused.
        let other = vec![Column::new("id", ColumnType::Bigint)];
        let mut builders = ColumnBuilders::new(&other).unwrap();
        builders.append(&[ValueRef::Int(1)]).unwrap();
        let mut writer = BlockWriter::new(Vec::new(), &cols).unwrap();
        assert!(writer.write_rows(Rows::from_batch(builders.finish().unwrap())).is_err());
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
            let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) + 1;
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
        w.write(vec![Value::Int(3)]).unwrap();
        assert_eq!(
            w.write(vec![Value::Int(300)]).unwrap_err().to_string(),
            "column n: 300 is out of range for tinyint"
        );
        assert!(w.write(vec![Value::Int(4)]).is_err(), "nothing more after a refused row");
        assert!(w.finish().is_err(), "nor a file");
        let cols = vec![Column::new("s", ColumnType::String)];
        let mut w = BlockWriter::new(Vec::new(), &cols).unwrap();
        assert!(w.write(vec![Value::Bytes(vec![0xff, 0xfe])]).unwrap_err().to_string().contains("UTF-8"));
        let mut w = BlockWriter::new(Vec::new(), &cols).unwrap();
        assert!(w.write(vec![]).is_err());
        assert!(w.write(vec![Value::Int(1)]).unwrap_err().to_string().contains("string cannot hold Int(1)"));
        // A refused value in a later column fails the row after earlier columns took theirs.
        let cols = vec![Column::new("id", ColumnType::Bigint), Column::new("at", ColumnType::Date)];
        let mut b = ColumnBuilders::new(&cols).unwrap();
        b.append(&[ValueRef::Int(1), ValueRef::Int(2)]).unwrap();
        assert!(b.append(&[ValueRef::Int(1), ValueRef::Int(i64::MAX)]).is_err());
        assert!(b.append(&[ValueRef::Int(1), ValueRef::Int(2)]).is_err());
        assert!(b.finish().is_err());
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
