//! The Tunnel record stream: what a block upload's body and a download's response carry.
//!
//! A stream is a sequence of protobuf-style `(tag, value)` pairs, `tag = varint(field << 3 |
//! wire type)`, with no framing but an end-of-record marker and a trailer:
//!
//! - a record is its non-NULL columns, each as `tag(position + 1)` and value (NULL = absent), then
//!   `tag(END_RECORD)` and the row's CRC32C;
//! - the trailer is `tag(META_COUNT)` with the record count (zigzag) and `tag(META_CHECKSUM)` with
//!   the CRC32C of all row CRCs.
//!
//! A row CRC covers, per non-NULL field, the field number (int32 LE) then the value's bytes as
//! [`ColumnType`] defines them. Written here rather than with a protobuf crate: the stream is not
//! a protobuf message (no length prefix, a `timestamp` is two varints under wire type 2, CRCs
//! are interleaved), so a generic decoder would not help.

use crc_fast::{CrcAlgorithm, Digest};
pub use ferry_table::{ColumnType, Value};

/// Field number of the end-of-record marker.
pub const END_RECORD: u64 = 33_553_408;
/// Field number of the trailer's record count.
pub const META_COUNT: u64 = 33_554_430;
/// Field number of the trailer's checksum of row checksums.
pub const META_CHECKSUM: u64 = 33_554_431;
/// Field number closing the optional metrics block of a trailer.
pub const END_METRICS: u64 = 33_554_176;
/// The largest string, binary or decimal value accepted (the sessions' `MaxFieldSize`).
pub const MAX_FIELD_SIZE: usize = 8 * 1024 * 1024;

/// How a value travels: the protobuf wire type and the payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// Zigzag varint; CRC over the value as int64 LE.
    Int,
    /// Varint 0/1; CRC over one byte.
    Bool,
    /// 8 bytes IEEE LE, CRC over the same bytes.
    Double,
    /// 4 bytes IEEE LE, CRC over the same bytes.
    Float,
    /// Length-prefixed bytes; CRC over the bytes without the length.
    Bytes,
    /// Zigzag seconds then zigzag nanoseconds (no length despite wire type 2); CRC over int64 LE
    /// seconds then int32 LE nanoseconds.
    Timestamp,
}

impl Wire {
    fn wire_type(self) -> u64 {
        match self {
            Wire::Int | Wire::Bool => 0,
            Wire::Double => 1,
            Wire::Bytes | Wire::Timestamp => 2,
            Wire::Float => 5,
        }
    }
}

/// How values of `column` travel.
fn wire(column: &ColumnType) -> Wire {
    match column {
        ColumnType::Bigint
        | ColumnType::Int
        | ColumnType::Smallint
        | ColumnType::Tinyint
        | ColumnType::Datetime
        | ColumnType::Date => Wire::Int,
        ColumnType::Boolean => Wire::Bool,
        ColumnType::Double => Wire::Double,
        ColumnType::Float => Wire::Float,
        ColumnType::String
        | ColumnType::Binary
        | ColumnType::Varchar(_)
        | ColumnType::Char(_)
        | ColumnType::Decimal { .. } => Wire::Bytes,
        ColumnType::Timestamp => Wire::Timestamp,
    }
}

/// Why a stream was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("invalid record data: {0}")]
    Invalid(String),
    #[error("record {record}: the row checksum does not match the data")]
    RowChecksum { record: u64 },
    #[error("the stream's checksum does not match its records")]
    StreamChecksum,
    #[error("the stream announces {announced} records but carries {carried}")]
    Count { announced: i64, carried: u64 },
    #[error("the stream ended without its trailer (record count and checksum)")]
    MissingTrailer,
    #[error("a value of {size} bytes exceeds the limit of {MAX_FIELD_SIZE} bytes")]
    FieldTooLarge { size: u64 },
}

fn invalid(message: impl Into<String>) -> CodecError {
    CodecError::Invalid(message.into())
}

fn crc32c() -> Digest {
    Digest::new(CrcAlgorithm::Crc32Iscsi)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over bytes that may end mid-value: `Ok(None)` means "wait for more input".
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn varint(&mut self) -> Result<Option<u64>, CodecError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos + i) else { return Ok(None) };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(Some(value));
            }
        }
        Err(invalid("a varint is longer than 10 bytes"))
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }
}

/// What one step of parsing found.
enum Item {
    Record(Vec<Value>),
    Trailer,
}

/// Decodes a record stream as it arrives, checking every row checksum, the count and the
/// stream checksum. Memory is bounded by the largest record, not the stream.
pub struct RecordDecoder {
    columns: Vec<ColumnType>,
    pending: Vec<u8>,
    crc_of_crcs: Digest,
    count: u64,
    finished: bool,
}

impl RecordDecoder {
    /// Decode records of `columns` (the table's non-partition columns, in schema order).
    pub fn new(columns: Vec<ColumnType>) -> Self {
        RecordDecoder { columns, pending: Vec::new(), crc_of_crcs: crc32c(), count: 0, finished: false }
    }

    /// Records decoded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Feed the next bytes of the stream; complete records are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Vec<Value>>) -> Result<(), CodecError> {
        if self.finished {
            return if chunk.is_empty() { Ok(()) } else { Err(invalid("data after the stream's trailer")) };
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let mut start = 0;
        while start < pending.len() && !self.finished {
            let mut cursor = Cursor { buf: &pending[start..], pos: 0 };
            match self.parse(&mut cursor)? {
                None => break,
                Some(Item::Record(row)) => out.push(row),
                Some(Item::Trailer) => {}
            }
            start += cursor.pos;
        }
        if self.finished && start < pending.len() {
            return Err(invalid("data after the stream's trailer"));
        }
        // What is left is the start of a record still arriving.
        pending.drain(..start);
        self.pending = pending;
        Ok(())
    }

    /// The stream ended: it must have ended exactly after its trailer. Returns the record count.
    pub fn finish(self) -> Result<u64, CodecError> {
        if !self.finished || !self.pending.is_empty() {
            return Err(CodecError::MissingTrailer);
        }
        Ok(self.count)
    }

    /// One record or the trailer from the start of `c`, `None` when it is not all there yet.
    fn parse(&mut self, c: &mut Cursor<'_>) -> Result<Option<Item>, CodecError> {
        let mut row = vec![Value::Null; self.columns.len()];
        let mut crc = crc32c();
        let mut first = true;
        loop {
            let Some(tag) = c.varint()? else { return Ok(None) };
            let (field, wire_type) = (tag >> 3, tag & 7);
            if field == META_COUNT && first {
                return self.parse_trailer(c);
            }
            first = false;
            if field == END_RECORD {
                let Some(sent) = c.varint()? else { return Ok(None) };
                // pyodps' C writer sends the CRC as a sign-extended int32: keep the low 32 bits.
                let computed = crc.finalize() as u32;
                if sent as u32 != computed {
                    return Err(CodecError::RowChecksum { record: self.count });
                }
                self.crc_of_crcs.update(&computed.to_le_bytes());
                self.count += 1;
                return Ok(Some(Item::Record(row)));
            }
            let index = usize::try_from(field)
                .ok()
                .and_then(|f| f.checked_sub(1))
                .filter(|i| *i < self.columns.len())
                .ok_or_else(|| invalid(format!("field number {field} is not a column of the table")))?;
            let wire = wire(&self.columns[index]);
            if wire.wire_type() != wire_type {
                return Err(invalid(format!(
                    "column {field} ({}) sent with wire type {wire_type}",
                    self.columns[index].name()
                )));
            }
            if row[index] != Value::Null {
                return Err(invalid(format!("column {field} appears twice in one record")));
            }
            crc.update(&(field as i32).to_le_bytes());
            let Some(value) = read_value(c, wire, &mut crc)? else { return Ok(None) };
            row[index] = value;
        }
    }

    fn parse_trailer(&mut self, c: &mut Cursor<'_>) -> Result<Option<Item>, CodecError> {
        let Some(count) = c.varint()? else { return Ok(None) };
        let announced = unzigzag(count);
        loop {
            let Some(tag) = c.varint()? else { return Ok(None) };
            let (field, wire_type) = (tag >> 3, tag & 7);
            let Some(value) = (match wire_type {
                0 => c.varint()?,
                // An optional metrics block (JSON): skipped.
                2 => match c.varint()? {
                    None => None,
                    Some(len) if len > MAX_FIELD_SIZE as u64 => return Err(CodecError::FieldTooLarge { size: len }),
                    Some(len) => c.bytes(len as usize).map(|_| 0),
                },
                _ => return Err(invalid(format!("unexpected wire type {wire_type} in the trailer"))),
            }) else {
                return Ok(None);
            };
            match field {
                META_CHECKSUM => {
                    if announced != self.count as i64 {
                        return Err(CodecError::Count { announced, carried: self.count });
                    }
                    if value as u32 != self.crc_of_crcs.finalize() as u32 {
                        return Err(CodecError::StreamChecksum);
                    }
                    self.finished = true;
                    return Ok(Some(Item::Trailer));
                }
                END_METRICS => {}
                _ if wire_type == 2 => {}
                _ => return Err(invalid(format!("unexpected field {field} in the trailer"))),
            }
        }
    }
}

/// Read one value of `wire`, feeding its CRC bytes to `crc`.
fn read_value(c: &mut Cursor<'_>, wire: Wire, crc: &mut Digest) -> Result<Option<Value>, CodecError> {
    Ok(Some(match wire {
        Wire::Int => {
            let Some(v) = c.varint()? else { return Ok(None) };
            let v = unzigzag(v);
            crc.update(&v.to_le_bytes());
            Value::Int(v)
        }
        Wire::Bool => {
            let Some(v) = c.varint()? else { return Ok(None) };
            let b = match v {
                0 => false,
                1 => true,
                _ => return Err(invalid(format!("boolean value {v}"))),
            };
            crc.update(&[u8::from(b)]);
            Value::Bool(b)
        }
        Wire::Double => {
            let Some(b) = c.bytes(8) else { return Ok(None) };
            crc.update(b);
            Value::Double(f64::from_le_bytes(b.try_into().map_err(|_| invalid("double"))?))
        }
        Wire::Float => {
            let Some(b) = c.bytes(4) else { return Ok(None) };
            crc.update(b);
            Value::Float(f32::from_le_bytes(b.try_into().map_err(|_| invalid("float"))?))
        }
        Wire::Bytes => {
            let Some(len) = c.varint()? else { return Ok(None) };
            if len > MAX_FIELD_SIZE as u64 {
                return Err(CodecError::FieldTooLarge { size: len });
            }
            let Some(b) = c.bytes(len as usize) else { return Ok(None) };
            crc.update(b);
            Value::Bytes(b.to_vec())
        }
        Wire::Timestamp => {
            let Some(seconds) = c.varint()? else { return Ok(None) };
            let Some(nanos) = c.varint()? else { return Ok(None) };
            let (seconds, nanos) = (unzigzag(seconds), unzigzag(nanos));
            let nanos = i32::try_from(nanos).map_err(|_| invalid(format!("timestamp nanoseconds {nanos}")))?;
            crc.update(&seconds.to_le_bytes());
            crc.update(&nanos.to_le_bytes());
            Value::Timestamp { seconds, nanos }
        }
    }))
}

/// Encodes records into a stream, for downloads (and for ferry's own tunnel client).
pub struct RecordEncoder {
    columns: Vec<ColumnType>,
    out: Vec<u8>,
    crc_of_crcs: Digest,
    count: u64,
}

impl RecordEncoder {
    /// Encode records of `columns`; field numbers are positions in this list.
    pub fn new(columns: Vec<ColumnType>) -> Self {
        RecordEncoder { columns, out: Vec::new(), crc_of_crcs: crc32c(), count: 0 }
    }

    /// Append one record. Errors when it does not fit the columns (arity or value kind).
    pub fn write(&mut self, row: &[Value]) -> Result<(), CodecError> {
        if row.len() != self.columns.len() {
            return Err(invalid(format!("a record of {} values for {} columns", row.len(), self.columns.len())));
        }
        let mut crc = crc32c();
        for (i, (value, column)) in row.iter().zip(&self.columns).enumerate() {
            if *value == Value::Null {
                continue;
            }
            let field = i as u64 + 1;
            let wire = wire(column);
            put_varint(&mut self.out, field << 3 | wire.wire_type());
            crc.update(&(field as i32).to_le_bytes());
            match (wire, value) {
                (Wire::Int, Value::Int(v)) => {
                    put_varint(&mut self.out, zigzag(*v));
                    crc.update(&v.to_le_bytes());
                }
                (Wire::Bool, Value::Bool(b)) => {
                    put_varint(&mut self.out, u64::from(*b));
                    crc.update(&[u8::from(*b)]);
                }
                (Wire::Double, Value::Double(v)) => {
                    self.out.extend_from_slice(&v.to_le_bytes());
                    crc.update(&v.to_le_bytes());
                }
                (Wire::Float, Value::Float(v)) => {
                    self.out.extend_from_slice(&v.to_le_bytes());
                    crc.update(&v.to_le_bytes());
                }
                (Wire::Bytes, Value::Bytes(b)) => {
                    put_varint(&mut self.out, b.len() as u64);
                    self.out.extend_from_slice(b);
                    crc.update(b);
                }
                (Wire::Timestamp, Value::Timestamp { seconds, nanos }) => {
                    put_varint(&mut self.out, zigzag(*seconds));
                    put_varint(&mut self.out, zigzag(i64::from(*nanos)));
                    crc.update(&seconds.to_le_bytes());
                    crc.update(&nanos.to_le_bytes());
                }
                _ => return Err(invalid(format!("column {field} ({}) cannot hold {value:?}", column.name()))),
            }
        }
        let row_crc = crc.finalize() as u32;
        put_varint(&mut self.out, END_RECORD << 3);
        put_varint(&mut self.out, u64::from(row_crc));
        self.crc_of_crcs.update(&row_crc.to_le_bytes());
        self.count += 1;
        Ok(())
    }

    /// Bytes encoded and not yet taken.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The bytes encoded so far (to send while encoding continues).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The remaining bytes with the trailer.
    pub fn finish(mut self) -> Vec<u8> {
        put_varint(&mut self.out, META_COUNT << 3);
        put_varint(&mut self.out, zigzag(self.count as i64));
        put_varint(&mut self.out, META_CHECKSUM << 3);
        put_varint(&mut self.out, self.crc_of_crcs.finalize() as u32 as u64);
        self.out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all_types() -> Vec<ColumnType> {
        [
            "bigint",
            "int",
            "double",
            "float",
            "boolean",
            "string",
            "binary",
            "datetime",
            "date",
            "decimal(10,2)",
            "timestamp",
        ]
        .iter()
        .map(|t| ColumnType::parse(t).unwrap())
        .collect()
    }

    fn sample_rows() -> Vec<Vec<Value>> {
        vec![
            vec![
                Value::Int(-42),
                Value::Int(7),
                Value::Double(1.5),
                Value::Float(-2.25),
                Value::Bool(true),
                Value::Bytes("héllo".as_bytes().to_vec()),
                Value::Bytes(vec![0, 255, 1]),
                Value::Int(1_700_000_000_123),
                Value::Int(19_700),
                Value::Bytes(b"12.34".to_vec()),
                Value::Timestamp { seconds: 1_700_000_000, nanos: 123_456_789 },
            ],
            vec![Value::Null; 11],
            vec![
                Value::Int(i64::MIN),
                Value::Null,
                Value::Double(f64::MAX),
                Value::Null,
                Value::Bool(false),
                Value::Bytes(Vec::new()),
                Value::Null,
                Value::Int(-1),
                Value::Null,
                Value::Bytes(b"-0.01".to_vec()),
                Value::Timestamp { seconds: -5, nanos: 0 },
            ],
        ]
    }

    fn encode(rows: &[Vec<Value>]) -> Vec<u8> {
        let mut enc = RecordEncoder::new(all_types());
        for r in rows {
            enc.write(r).unwrap();
        }
        enc.finish()
    }

    #[test]
    fn markers_have_the_bytes_pyodps_sends() {
        let mut v = Vec::new();
        put_varint(&mut v, END_RECORD << 3);
        assert_eq!(v, [0x80, 0xC0, 0xFF, 0x7F]);
        // An empty stream is the trailer alone.
        assert_eq!(
            RecordEncoder::new(all_types()).finish(),
            [0xF0, 0xFF, 0xFF, 0x7F, 0x00, 0xF8, 0xFF, 0xFF, 0x7F, 0x00]
        );
    }

    #[test]
    fn every_type_and_null_round_trips_in_any_chunking() {
        let rows = sample_rows();
        let bytes = encode(&rows);
        for chunk in [1, 2, 3, 7, 64, bytes.len()] {
            let mut dec = RecordDecoder::new(all_types());
            let mut out = Vec::new();
            for piece in bytes.chunks(chunk) {
                dec.feed(piece, &mut out).unwrap();
            }
            assert_eq!(dec.finish().unwrap(), 3);
            assert_eq!(out, rows, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_sign_extended_row_checksum_is_accepted() {
        // The C writer sends a CRC with bit 31 set as a negative int32 in a 10-byte varint.
        let mut enc = RecordEncoder::new(vec![ColumnType::Bigint]);
        let mut row_crc = 0u32;
        let mut seed: i64 = 0;
        while row_crc & 0x8000_0000 == 0 {
            seed += 1;
            let mut crc = crc32c();
            crc.update(&1i32.to_le_bytes());
            crc.update(&seed.to_le_bytes());
            row_crc = crc.finalize() as u32;
        }
        enc.write(&[Value::Int(seed)]).unwrap();
        enc.take();
        let trailer = enc.finish();
        let mut sent = Vec::new();
        put_varint(&mut sent, 1 << 3);
        put_varint(&mut sent, zigzag(seed));
        put_varint(&mut sent, END_RECORD << 3);
        let before = sent.len();
        put_varint(&mut sent, i64::from(row_crc as i32) as u64);
        assert_eq!(sent.len() - before, 10, "a 10-byte CRC varint");
        sent.extend_from_slice(&trailer);
        let mut dec = RecordDecoder::new(vec![ColumnType::Bigint]);
        let mut out = Vec::new();
        dec.feed(&sent, &mut out).unwrap();
        assert_eq!(dec.finish().unwrap(), 1);
        assert_eq!(out, vec![vec![Value::Int(seed)]]);
    }

    #[test]
    fn corruption_is_refused() {
        let bytes = encode(&sample_rows());
        let decode = |b: &[u8]| {
            let mut dec = RecordDecoder::new(all_types());
            dec.feed(b, &mut Vec::new()).and_then(|()| dec.finish())
        };
        // Flip one bit of the string "héllo": the row checksum catches it.
        let at = bytes.windows(5).position(|w| w == b"h\xc3\xa9ll").unwrap();
        let mut bad = bytes.clone();
        bad[at] ^= 1;
        assert_eq!(decode(&bad), Err(CodecError::RowChecksum { record: 0 }));
        assert_eq!(decode(&bytes[..bytes.len() - 3]), Err(CodecError::MissingTrailer), "cut short");
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err(), "bytes after the trailer");
        // Wrong count in the trailer.
        let mut enc = RecordEncoder::new(all_types());
        enc.write(&sample_rows()[0]).unwrap();
        let mut miscounted = enc.take();
        put_varint(&mut miscounted, META_COUNT << 3);
        put_varint(&mut miscounted, zigzag(2));
        put_varint(&mut miscounted, META_CHECKSUM << 3);
        put_varint(&mut miscounted, 0);
        assert_eq!(decode(&miscounted), Err(CodecError::Count { announced: 2, carried: 1 }));
        // A field beyond the table's columns, and a wrong wire type.
        let mut unknown = Vec::new();
        put_varint(&mut unknown, 12 << 3);
        assert!(matches!(decode(&unknown), Err(CodecError::Invalid(_))));
        let mut wrong = Vec::new();
        put_varint(&mut wrong, 1 << 3 | 2);
        assert!(matches!(decode(&wrong), Err(CodecError::Invalid(_))));
        // A huge length is refused before anything is allocated.
        let mut huge = Vec::new();
        put_varint(&mut huge, 6 << 3 | 2);
        put_varint(&mut huge, 1 << 40);
        assert_eq!(decode(&huge), Err(CodecError::FieldTooLarge { size: 1 << 40 }));
    }

    #[test]
    fn the_encoder_refuses_values_that_do_not_fit() {
        let mut enc = RecordEncoder::new(vec![ColumnType::Bigint]);
        assert!(enc.write(&[Value::Bool(true)]).is_err());
        assert!(enc.write(&[]).is_err());
    }

    #[test]
    fn type_names_parse_and_print() {
        for name in ["bigint", "decimal(38,18)", "varchar(20)", "char(3)", "timestamp", "date"] {
            assert_eq!(ColumnType::parse(name).unwrap().name(), name);
        }
        assert_eq!(ColumnType::parse(" DECIMAL(5, 2) "), Some(ColumnType::Decimal { precision: 5, scale: 2 }));
        for bad in ["decimal(3,4)", "decimal(0)", "varchar", "array<int>", "map<string,int>", "text"] {
            assert_eq!(ColumnType::parse(bad), None, "{bad}");
        }
    }
}
