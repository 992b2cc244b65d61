//! Rows appended straight into Arrow column builders, one value at a time, checked against the
//! column types as they go in. A decoder hands borrowed values ([`ValueRef`]), so a row costs no
//! allocation of its own between the wire and the Parquet encoder.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::RecordBatch;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder, TimestampNanosecondBuilder,
};
use arrow_schema::Schema;

use super::{BATCH_ROWS, BlockError, arrow_schema, parse_decimal};
use crate::{Column, ColumnType, Value};

/// One column's value, borrowing its bytes from wherever it was decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    /// Integers of every width, datetime (ms) and date (days).
    Int(i64),
    Bool(bool),
    Double(f64),
    Float(f32),
    /// String (UTF-8), binary, varchar, char, and decimal as its text (`12.34`).
    Bytes(&'a [u8]),
    Timestamp {
        seconds: i64,
        nanos: i32,
    },
}

impl ValueRef<'_> {
    /// An owned copy.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Double(d) => Value::Double(d),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Timestamp { seconds, nanos } => Value::Timestamp { seconds, nanos },
        }
    }
}

impl Value {
    /// The value borrowed, as [`ColumnBuilders`] takes it.
    pub fn borrowed(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Double(d) => ValueRef::Double(*d),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::Timestamp { seconds, nanos } => ValueRef::Timestamp { seconds: *seconds, nanos: *nanos },
        }
    }
}

/// The Arrow builder of one column, by type: a `match` per value rather than a call through
/// `dyn ArrayBuilder`, which keeps appending a value to a few instructions.
enum Builder {
    Int64(Int64Builder),
    Int32(Int32Builder),
    Int16(Int16Builder),
    Int8(Int8Builder),
    Date(Date32Builder),
    Datetime(TimestampMillisecondBuilder),
    Double(Float64Builder),
    Float(Float32Builder),
    Bool(BooleanBuilder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Decimal(Decimal128Builder),
    Timestamp(TimestampNanosecondBuilder),
}

impl Builder {
    fn new(column_type: ColumnType) -> Result<Builder, BlockError> {
        let n = BATCH_ROWS;
        Ok(match column_type {
            ColumnType::Bigint => Builder::Int64(Int64Builder::with_capacity(n)),
            ColumnType::Int => Builder::Int32(Int32Builder::with_capacity(n)),
            ColumnType::Smallint => Builder::Int16(Int16Builder::with_capacity(n)),
            ColumnType::Tinyint => Builder::Int8(Int8Builder::with_capacity(n)),
            ColumnType::Date => Builder::Date(Date32Builder::with_capacity(n)),
            ColumnType::Datetime => Builder::Datetime(TimestampMillisecondBuilder::with_capacity(n)),
            ColumnType::Double => Builder::Double(Float64Builder::with_capacity(n)),
            ColumnType::Float => Builder::Float(Float32Builder::with_capacity(n)),
            ColumnType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(n)),
            ColumnType::String | ColumnType::Varchar(_) | ColumnType::Char(_) => {
                Builder::Utf8(StringBuilder::with_capacity(n, n * 16))
            }
            ColumnType::Binary => Builder::Binary(BinaryBuilder::with_capacity(n, n * 16)),
            ColumnType::Decimal { precision, scale } => {
                Builder::Decimal(Decimal128Builder::with_capacity(n).with_precision_and_scale(precision, scale as i8)?)
            }
            ColumnType::Timestamp => Builder::Timestamp(TimestampNanosecondBuilder::with_capacity(n)),
        })
    }

    /// The column so far as an array; the builder starts over, empty.
    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int16(b) => Arc::new(b.finish()),
            Builder::Int8(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Datetime(b) => Arc::new(b.finish()),
            Builder::Double(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
            Builder::Decimal(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// Rows of a table's columns being gathered into Arrow arrays, a batch at a time.
pub struct ColumnBuilders {
    columns: Vec<Column>,
    schema: Arc<Schema>,
    builders: Vec<Builder>,
    rows: usize,
    /// A value was refused: its row may be in some columns and not others (builders cannot
    /// drop a value), so nothing more is taken. A refused row fails its whole block anyway.
    broken: bool,
}

impl ColumnBuilders {
    pub fn new(columns: &[Column]) -> Result<Self, BlockError> {
        Ok(ColumnBuilders {
            columns: columns.to_vec(),
            schema: arrow_schema(columns),
            builders: columns.iter().map(|c| Builder::new(c.column_type)).collect::<Result<_, _>>()?,
            rows: 0,
            broken: false,
        })
    }

    /// The Arrow schema of the batches made.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Rows gathered since the last [`ColumnBuilders::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Add one row of borrowed values (in column order). A value its column cannot hold is
    /// refused, and so is every later row.
    pub fn append(&mut self, row: &[ValueRef<'_>]) -> Result<(), BlockError> {
        self.append_row(row.iter().copied())
    }

    /// [`ColumnBuilders::append`] for owned values.
    pub fn append_values(&mut self, row: &[Value]) -> Result<(), BlockError> {
        self.append_row(row.iter().map(Value::borrowed))
    }

    fn append_row<'v>(&mut self, row: impl ExactSizeIterator<Item = ValueRef<'v>>) -> Result<(), BlockError> {
        self.check_width(row.len())?;
        for (i, v) in row.enumerate() {
            self.append_value(i, v)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows gathered as one batch; the builders start over.
    pub fn finish(&mut self) -> Result<RecordBatch, BlockError> {
        if self.broken {
            return Err(refused_earlier());
        }
        // Each column starts over with a builder sized for a batch: an Arrow builder's own
        // `finish` leaves it with no capacity, and growing it back by doubling, batch after
        // batch, was a copy and fresh pages for every batch.
        let mut arrays = Vec::with_capacity(self.builders.len());
        for (builder, column) in self.builders.iter_mut().zip(&self.columns) {
            arrays.push(std::mem::replace(builder, Builder::new(column.column_type)?).finish());
        }
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }

    fn check_width(&self, width: usize) -> Result<(), BlockError> {
        if self.broken {
            return Err(refused_earlier());
        }
        if width != self.columns.len() {
            return Err(BlockError::Value {
                column: String::new(),
                message: format!("a row of {width} values for {} columns", self.columns.len()),
            });
        }
        Ok(())
    }

    fn append_value(&mut self, i: usize, v: ValueRef<'_>) -> Result<(), BlockError> {
        let result = append(&mut self.builders[i], &self.columns[i], v);
        self.broken = result.is_err();
        result
    }
}

fn refused_earlier() -> BlockError {
    BlockError::Value { column: String::new(), message: "an earlier row was refused".into() }
}

/// Append `v` to the builder of `column`, converted to the column's type.
fn append(builder: &mut Builder, column: &Column, v: ValueRef<'_>) -> Result<(), BlockError> {
    let invalid = |message: String| BlockError::Value { column: column.name.clone(), message };
    let mismatch = || invalid(format!("{} cannot hold {:?}", column.column_type.name(), v.to_value()));
    let range = |i: i64| invalid(format!("{i} is out of range for {}", column.column_type.name()));
    // Every type alike: NULL appends a null, the matching value kind appends (after conversion,
    // which may refuse it), any other kind is a mismatch.
    macro_rules! put {
        ($b:expr, $pattern:pat => $value:expr) => {
            match v {
                ValueRef::Null => $b.append_null(),
                $pattern => $b.append_value($value),
                _ => return Err(mismatch()),
            }
        };
    }
    match builder {
        Builder::Int64(b) => put!(b, ValueRef::Int(i) => i),
        Builder::Datetime(b) => put!(b, ValueRef::Int(i) => i),
        Builder::Int32(b) => put!(b, ValueRef::Int(i) => i32::try_from(i).map_err(|_| range(i))?),
        Builder::Date(b) => put!(b, ValueRef::Int(i) => i32::try_from(i).map_err(|_| range(i))?),
        Builder::Int16(b) => put!(b, ValueRef::Int(i) => i16::try_from(i).map_err(|_| range(i))?),
        Builder::Int8(b) => put!(b, ValueRef::Int(i) => i8::try_from(i).map_err(|_| range(i))?),
        Builder::Double(b) => put!(b, ValueRef::Double(d) => d),
        Builder::Float(b) => put!(b, ValueRef::Float(f) => f),
        Builder::Bool(b) => put!(b, ValueRef::Bool(x) => x),
        Builder::Utf8(b) => put!(b, ValueRef::Bytes(bytes) => std::str::from_utf8(bytes)
            .map_err(|_| invalid("a string value is not valid UTF-8".into()))?),
        Builder::Binary(b) => put!(b, ValueRef::Bytes(bytes) => bytes),
        Builder::Decimal(b) => {
            let ColumnType::Decimal { precision, scale } = column.column_type else { return Err(mismatch()) };
            put!(b, ValueRef::Bytes(text) => parse_decimal(text, precision, scale).map_err(invalid)?)
        }
        Builder::Timestamp(b) => put!(b, ValueRef::Timestamp { seconds, nanos } => seconds
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(i64::from(nanos)))
            .ok_or_else(|| invalid(format!("timestamp {seconds}s is outside years 1677-2262")))?),
    }
    Ok(())
}
