//! The values of table rows: column types as ODPS names them, and one column's value.

/// A column's type, as ODPS names it in a table schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Bigint,
    Int,
    Smallint,
    Tinyint,
    Double,
    Float,
    Boolean,
    String,
    Binary,
    Varchar(u32),
    Char(u32),
    /// Milliseconds since the epoch, as the client computed them.
    Datetime,
    /// Days since the epoch.
    Date,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Timestamp,
}

impl ColumnType {
    /// Parse an ODPS type name (`bigint`, `decimal(10,2)`, `varchar(20)`, ...).
    pub fn parse(name: &str) -> Option<ColumnType> {
        let name = name.trim().to_ascii_lowercase();
        let args = |prefix: &str| -> Option<Vec<u32>> {
            let inner = name.strip_prefix(prefix)?.trim().strip_prefix('(')?.strip_suffix(')')?;
            inner.split(',').map(|n| n.trim().parse().ok()).collect()
        };
        Some(match name.as_str() {
            "bigint" => ColumnType::Bigint,
            "int" => ColumnType::Int,
            "smallint" => ColumnType::Smallint,
            "tinyint" => ColumnType::Tinyint,
            "double" => ColumnType::Double,
            "float" => ColumnType::Float,
            "boolean" => ColumnType::Boolean,
            "string" => ColumnType::String,
            "binary" => ColumnType::Binary,
            "datetime" => ColumnType::Datetime,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            "decimal" => ColumnType::Decimal { precision: 10, scale: 0 },
            _ if name.starts_with("decimal") => match args("decimal")?.as_slice() {
                [p] if (1..=38).contains(p) => ColumnType::Decimal { precision: *p as u8, scale: 0 },
                [p, s] if (1..=38).contains(p) && s <= p => {
                    ColumnType::Decimal { precision: *p as u8, scale: *s as u8 }
                }
                _ => return None,
            },
            _ if name.starts_with("varchar") => match args("varchar")?.as_slice() {
                [n] if (1..=65535).contains(n) => ColumnType::Varchar(*n),
                _ => return None,
            },
            _ if name.starts_with("char") => match args("char")?.as_slice() {
                [n] if (1..=255).contains(n) => ColumnType::Char(*n),
                _ => return None,
            },
            _ => return None,
        })
    }

    /// The name as ODPS writes it in a schema.
    pub fn name(&self) -> String {
        match self {
            ColumnType::Bigint => "bigint".into(),
            ColumnType::Int => "int".into(),
            ColumnType::Smallint => "smallint".into(),
            ColumnType::Tinyint => "tinyint".into(),
            ColumnType::Double => "double".into(),
            ColumnType::Float => "float".into(),
            ColumnType::Boolean => "boolean".into(),
            ColumnType::String => "string".into(),
            ColumnType::Binary => "binary".into(),
            ColumnType::Varchar(n) => format!("varchar({n})"),
            ColumnType::Char(n) => format!("char({n})"),
            ColumnType::Datetime => "datetime".into(),
            ColumnType::Date => "date".into(),
            ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            ColumnType::Timestamp => "timestamp".into(),
        }
    }
}

/// One column's value in a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// Integers of every width, datetime (ms) and date (days).
    Int(i64),
    Bool(bool),
    Double(f64),
    Float(f32),
    /// String (UTF-8), binary, varchar, char, and decimal as its text (`12.34`).
    Bytes(Vec<u8>),
    Timestamp {
        seconds: i64,
        nanos: i32,
    },
}

/// A batch of rows of the same width: stored flat (row after row, so a batch costs one
/// allocation rather than one per row), or already in columns when a decoder built them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows(pub(crate) RowsInner);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RowsInner {
    Flat { width: usize, values: Vec<Value> },
    Columns(arrow_array::RecordBatch),
}

impl Default for Rows {
    fn default() -> Self {
        Rows(RowsInner::Flat { width: 0, values: Vec::new() })
    }
}

impl Rows {
    /// Rows of `width` values from `values`, row after row; `None` when the values do not
    /// make whole rows (or `width` is 0 and values were given).
    pub fn from_flat(width: usize, values: Vec<Value>) -> Option<Rows> {
        let whole = if width == 0 { values.is_empty() } else { values.len().is_multiple_of(width) };
        whole.then_some(Rows(RowsInner::Flat { width, values }))
    }

    /// Rows given one `Vec` each; `None` when they differ in width.
    pub fn from_rows(rows: Vec<Vec<Value>>) -> Option<Rows> {
        let width = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != width) {
            return None;
        }
        Some(Rows(RowsInner::Flat { width, values: rows.into_iter().flatten().collect() }))
    }

    /// Rows already in columns, as [`crate::ColumnBuilders`] makes them for a table's schema.
    pub fn from_batch(batch: arrow_array::RecordBatch) -> Rows {
        Rows(RowsInner::Columns(batch))
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        match &self.0 {
            RowsInner::Flat { width, .. } => *width,
            RowsInner::Columns(batch) => batch.num_columns(),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match &self.0 {
            RowsInner::Flat { width, values } => values.len().checked_div(*width).unwrap_or(0),
            RowsInner::Columns(batch) => batch.num_rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
