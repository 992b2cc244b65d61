//! Reading a record stream as it arrives (block uploads on the server, downloads in the client).

use ferry_table::{ColumnBuilders, ValueRef};

use super::{
    CodecError, ColumnType, END_METRICS, END_RECORD, MAX_FIELD_SIZE, META_CHECKSUM, META_COUNT, StreamCrc, Value, Wire,
    invalid, row_crc, unzigzag, wire,
};

/// Where a decoder puts each complete record (its checksum verified): one value per column,
/// NULL included, borrowed from the input.
pub trait RecordSink {
    fn record(&mut self, row: &[ValueRef<'_>]) -> Result<(), CodecError>;
}

/// One `Vec` of owned values per record.
impl RecordSink for Vec<Vec<Value>> {
    fn record(&mut self, row: &[ValueRef<'_>]) -> Result<(), CodecError> {
        self.push(row.iter().map(|v| v.to_value()).collect());
        Ok(())
    }
}

/// Straight into Arrow columns, checked against the column types: no allocation per value.
impl RecordSink for ColumnBuilders {
    fn record(&mut self, row: &[ValueRef<'_>]) -> Result<(), CodecError> {
        self.append(row).map_err(|e| CodecError::Value(e.to_string()))
    }
}

/// A cursor over bytes that may end mid-value: `Ok(None)` means "wait for more input".
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Most tags and many values take one byte: that case is inlined into the parser.
    #[inline(always)]
    fn varint(&mut self) -> Result<Option<u64>, CodecError> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(Some(u64::from(b)))
            }
            _ => self.long_varint(),
        }
    }

    #[inline(never)]
    fn long_varint(&mut self) -> Result<Option<u64>, CodecError> {
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

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }
}

/// What one step of parsing found.
enum Item {
    /// A complete record, its values in the row.
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
    crc_of_crcs: StreamCrc,
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
            crc_of_crcs: StreamCrc::new(),
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
        self.feed_into(chunk, out)
    }

    /// Feed the next bytes of the stream; each complete record goes to `sink`.
    pub fn feed_into<S: RecordSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), CodecError> {
        if self.finished {
            return if chunk.is_empty() { Ok(()) } else { Err(invalid("data after the stream's trailer")) };
        }
        // Parse straight from `chunk` unless a record is still arriving from the previous one:
        // copying every chunk into `pending` first was a second pass over the whole body.
        if self.pending.is_empty() {
            let used = self.parse_all(chunk, sink)?;
            self.pending.extend_from_slice(&chunk[used..]);
            return Ok(());
        }
        // A record began in an earlier chunk. Complete it from the front of this one, copying
        // only as much as it needs (a few bytes, doubling), then parse the rest in place:
        // copying the whole chunk behind it was another pass over almost every chunk.
        let mut pending = std::mem::take(&mut self.pending);
        let held = pending.len();
        let mut want = 256.min(chunk.len());
        loop {
            pending.extend_from_slice(&chunk[pending.len() - held..want]);
            let used = self.parse_all(&pending, sink)?;
            if used >= held {
                // The straddling record is done; records after it are parsed from `chunk`.
                let rest = &chunk[used - held..];
                let more = self.parse_all(rest, sink)?;
                pending.clear();
                pending.extend_from_slice(&rest[more..]);
                self.pending = pending;
                return Ok(());
            }
            // `pending` held no complete record before, so nothing of it was used.
            if want == chunk.len() {
                self.pending = pending;
                return Ok(());
            }
            want = want.saturating_mul(2).min(chunk.len());
        }
    }

    /// Parse every complete record of `buf` into `out`; returns how many bytes they took.
    fn parse_all<S: RecordSink>(&mut self, buf: &[u8], out: &mut S) -> Result<usize, CodecError> {
        let mut start = 0;
        // One record's values, reused for every record of this input.
        let mut row = vec![ValueRef::Null; self.columns.len()];
        while start < buf.len() && !self.finished {
            let mut cursor = Cursor { buf: &buf[start..], pos: 0 };
            row.fill(ValueRef::Null);
            match self.parse(&mut cursor, &mut row)? {
                // A record still arriving: its values so far are parsed again later.
                None => break,
                Some(Item::Record) => out.record(&row)?,
                Some(Item::Trailer) => {}
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
    /// A record's values are put in `row` (all NULL on entry).
    fn parse<'a>(&mut self, c: &mut Cursor<'a>, row: &mut [ValueRef<'a>]) -> Result<Option<Item>, CodecError> {
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
                self.crc_of_crcs.add(computed);
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
            if !matches!(row[index], ValueRef::Null) {
                return Err(invalid(format!("column {field} appears twice in one record")));
            }
            crc.extend_from_slice(&(field as i32).to_le_bytes());
            if !read_value(c, wire, crc, &mut row[index])? {
                return Ok(None);
            }
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
                    if value as u32 != self.crc_of_crcs.value() {
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

/// Read one value of `wire` into `slot`, appending the bytes its CRC covers to `crc`; `false`
/// when the value is not all there yet. The value is written in place: returning it wrapped in
/// `Result<Option<_>>` made the compiler spill and reload it through the stack, a store-forwarding
/// stall that cost more than the rest of the decoding.
fn read_value<'a>(
    c: &mut Cursor<'a>,
    wire: Wire,
    crc: &mut Vec<u8>,
    slot: &mut ValueRef<'a>,
) -> Result<bool, CodecError> {
    *slot = match wire {
        Wire::Int => {
            let Some(v) = c.varint()? else { return Ok(false) };
            let v = unzigzag(v);
            crc.extend_from_slice(&v.to_le_bytes());
            ValueRef::Int(v)
        }
        Wire::Bool => {
            let Some(v) = c.varint()? else { return Ok(false) };
            let b = match v {
                0 => false,
                1 => true,
                _ => return Err(invalid(format!("boolean value {v}"))),
            };
            crc.extend_from_slice(&[u8::from(b)]);
            ValueRef::Bool(b)
        }
        Wire::Double => {
            let Some(b) = c.bytes(8) else { return Ok(false) };
            crc.extend_from_slice(b);
            ValueRef::Double(f64::from_le_bytes(b.try_into().map_err(|_| invalid("double"))?))
        }
        Wire::Float => {
            let Some(b) = c.bytes(4) else { return Ok(false) };
            crc.extend_from_slice(b);
            ValueRef::Float(f32::from_le_bytes(b.try_into().map_err(|_| invalid("float"))?))
        }
        Wire::Bytes => {
            let Some(len) = c.varint()? else { return Ok(false) };
            if len > MAX_FIELD_SIZE as u64 {
                return Err(CodecError::FieldTooLarge { size: len });
            }
            let Some(b) = c.bytes(len as usize) else { return Ok(false) };
            crc.extend_from_slice(b);
            ValueRef::Bytes(b)
        }
        Wire::Timestamp => {
            let Some(seconds) = c.varint()? else { return Ok(false) };
            let Some(nanos) = c.varint()? else { return Ok(false) };
            let (seconds, nanos) = (unzigzag(seconds), unzigzag(nanos));
            let nanos = i32::try_from(nanos).map_err(|_| invalid(format!("timestamp nanoseconds {nanos}")))?;
            crc.extend_from_slice(&seconds.to_le_bytes());
            crc.extend_from_slice(&nanos.to_le_bytes());
            ValueRef::Timestamp { seconds, nanos }
        }
    };
    Ok(true)
}
