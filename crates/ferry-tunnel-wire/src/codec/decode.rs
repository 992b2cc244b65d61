//! Reading a record stream as it arrives (block uploads on the server, downloads in the client).

use crc_fast::Digest;

use super::{
    CodecError, ColumnType, END_METRICS, END_RECORD, MAX_FIELD_SIZE, META_CHECKSUM, META_COUNT, Value, Wire, crc32c,
    invalid, row_crc, unzigzag, wire,
};
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
    /// A record, appended to the output as `columns` values.
    Record,
    Trailer,
}

/// Decodes a record stream as it arrives, checking every row checksum, the count and the
/// stream checksum. Memory is bounded by the largest record, not the stream.
pub struct RecordDecoder {
    columns: Vec<ColumnType>,
    /// How each column travels, looked up once rather than per value.
    wires: Vec<Wire>,
    pending: Vec<u8>,
    /// The bytes a row's CRC covers, gathered so the CRC is one call per row: a call per
    /// field on a few bytes each cost more than the CRC itself.
    crc_input: Vec<u8>,
    crc_of_crcs: Digest,
    count: u64,
    finished: bool,
}

impl RecordDecoder {
    /// Decode records of `columns` (the table's non-partition columns, in schema order).
    pub fn new(columns: Vec<ColumnType>) -> Self {
        let wires = columns.iter().map(wire).collect();
        RecordDecoder {
            columns,
            wires,
            pending: Vec::new(),
            crc_input: Vec::new(),
            crc_of_crcs: crc32c(),
            count: 0,
            finished: false,
        }
    }

    /// Records decoded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Feed the next bytes of the stream; complete records are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Vec<Value>>) -> Result<(), CodecError> {
        let mut flat = Vec::new();
        self.feed_flat(chunk, &mut flat)?;
        let width = self.columns.len();
        if width > 0 {
            let mut values = flat.into_iter();
            while values.len() > 0 {
                out.push(values.by_ref().take(width).collect());
            }
        }
        Ok(())
    }

    /// Feed the next bytes of the stream; the values of complete records are appended to `out`
    /// row after row (one value per column, NULL included), with no allocation per row.
    pub fn feed_flat(&mut self, chunk: &[u8], out: &mut Vec<Value>) -> Result<(), CodecError> {
        if self.finished {
            return if chunk.is_empty() { Ok(()) } else { Err(invalid("data after the stream's trailer")) };
        }
        // Parse straight from `chunk` unless a record is still arriving from the previous one:
        // copying every chunk into `pending` first was a second pass over the whole body.
        if self.pending.is_empty() {
            let used = self.parse_all(chunk, out)?;
            self.pending.extend_from_slice(&chunk[used..]);
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let used = self.parse_all(&pending, out)?;
        // What is left is the start of a record still arriving.
        pending.drain(..used);
        self.pending = pending;
        Ok(())
    }

    /// Parse every complete record of `buf` into `out`; returns how many bytes they took.
    fn parse_all(&mut self, buf: &[u8], out: &mut Vec<Value>) -> Result<usize, CodecError> {
        let mut start = 0;
        while start < buf.len() && !self.finished {
            let mut cursor = Cursor { buf: &buf[start..], pos: 0 };
            let base = out.len();
            match self.parse(&mut cursor, out)? {
                None => {
                    // A record still arriving: its values so far are parsed again later.
                    out.truncate(base);
                    break;
                }
                Some(Item::Record) => {}
                Some(Item::Trailer) => out.truncate(base),
            }
            start += cursor.pos;
        }
        if self.finished && start < buf.len() {
            return Err(invalid("data after the stream's trailer"));
        }
        Ok(start)
    }

    /// The stream ended: it must have ended exactly after its trailer. Returns the record count.
    pub fn finish(self) -> Result<u64, CodecError> {
        if !self.finished || !self.pending.is_empty() {
            return Err(CodecError::MissingTrailer);
        }
        Ok(self.count)
    }

    /// One record or the trailer from the start of `c`, `None` when it is not all there yet.
    /// A record's values are appended to `out` (the caller drops them unless it is complete).
    fn parse(&mut self, c: &mut Cursor<'_>, out: &mut Vec<Value>) -> Result<Option<Item>, CodecError> {
        let base = out.len();
        out.resize(base + self.columns.len(), Value::Null);
        let row = &mut out[base..];
        let crc = &mut self.crc_input;
        crc.clear();
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
                let computed = row_crc(crc);
                if sent as u32 != computed {
                    return Err(CodecError::RowChecksum { record: self.count });
                }
                self.crc_of_crcs.update(&computed.to_le_bytes());
                self.count += 1;
                return Ok(Some(Item::Record));
            }
            let index = usize::try_from(field)
                .ok()
                .and_then(|f| f.checked_sub(1))
                .filter(|i| *i < self.columns.len())
                .ok_or_else(|| invalid(format!("field number {field} is not a column of the table")))?;
            let wire = self.wires[index];
            if wire.wire_type() != wire_type {
                return Err(invalid(format!(
                    "column {field} ({}) sent with wire type {wire_type}",
                    self.columns[index].name()
                )));
            }
            if !matches!(row[index], Value::Null) {
                return Err(invalid(format!("column {field} appears twice in one record")));
            }
            crc.extend_from_slice(&(field as i32).to_le_bytes());
            let Some(value) = read_value(c, wire, crc)? else { return Ok(None) };
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

/// Read one value of `wire`, appending the bytes its CRC covers to `crc`.
fn read_value(c: &mut Cursor<'_>, wire: Wire, crc: &mut Vec<u8>) -> Result<Option<Value>, CodecError> {
    Ok(Some(match wire {
        Wire::Int => {
            let Some(v) = c.varint()? else { return Ok(None) };
            let v = unzigzag(v);
            crc.extend_from_slice(&v.to_le_bytes());
            Value::Int(v)
        }
        Wire::Bool => {
            let Some(v) = c.varint()? else { return Ok(None) };
            let b = match v {
                0 => false,
                1 => true,
                _ => return Err(invalid(format!("boolean value {v}"))),
            };
            crc.extend_from_slice(&[u8::from(b)]);
            Value::Bool(b)
        }
        Wire::Double => {
            let Some(b) = c.bytes(8) else { return Ok(None) };
            crc.extend_from_slice(b);
            Value::Double(f64::from_le_bytes(b.try_into().map_err(|_| invalid("double"))?))
        }
        Wire::Float => {
            let Some(b) = c.bytes(4) else { return Ok(None) };
            crc.extend_from_slice(b);
            Value::Float(f32::from_le_bytes(b.try_into().map_err(|_| invalid("float"))?))
        }
        Wire::Bytes => {
            let Some(len) = c.varint()? else { return Ok(None) };
            if len > MAX_FIELD_SIZE as u64 {
                return Err(CodecError::FieldTooLarge { size: len });
            }
            let Some(b) = c.bytes(len as usize) else { return Ok(None) };
            crc.extend_from_slice(b);
            Value::Bytes(b.to_vec())
        }
        Wire::Timestamp => {
            let Some(seconds) = c.varint()? else { return Ok(None) };
            let Some(nanos) = c.varint()? else { return Ok(None) };
            let (seconds, nanos) = (unzigzag(seconds), unzigzag(nanos));
            let nanos = i32::try_from(nanos).map_err(|_| invalid(format!("timestamp nanoseconds {nanos}")))?;
            crc.extend_from_slice(&seconds.to_le_bytes());
            crc.extend_from_slice(&nanos.to_le_bytes());
            Value::Timestamp { seconds, nanos }
        }
    }))
}
