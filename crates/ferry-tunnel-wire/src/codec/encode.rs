//! Writing a record stream (downloads on the server, block uploads in the client).

use super::{
    CodecError, ColumnType, END_RECORD, META_CHECKSUM, META_COUNT, StreamCrc, Value, Wire, invalid, put_varint,
    row_crc, wire, zigzag,
};
/// Encodes records into a stream, for downloads (and for ferry's own tunnel client).
pub struct RecordEncoder {
    columns: Vec<ColumnType>,
    /// How each column travels and its field tag, worked out once rather than per value.
    fields: Vec<(Wire, u64)>,
    out: Vec<u8>,
    /// The bytes a row's CRC covers, gathered so the CRC is one call per row.
    crc_input: Vec<u8>,
    crc_of_crcs: StreamCrc,
    count: u64,
}

impl RecordEncoder {
    /// Encode records of `columns`; field numbers are positions in this list.
    pub fn new(columns: Vec<ColumnType>) -> Self {
        let fields = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let wire = wire(c);
                (wire, (i as u64 + 1) << 3 | wire.wire_type())
            })
            .collect();
        RecordEncoder {
            columns,
            fields,
            out: Vec::new(),
            crc_input: Vec::new(),
            crc_of_crcs: StreamCrc::new(),
            count: 0,
        }
    }

    /// Append one record. Errors when it does not fit the columns (arity or value kind).
    pub fn write(&mut self, row: &[Value]) -> Result<(), CodecError> {
        if row.len() != self.columns.len() {
            return Err(invalid(format!("a record of {} values for {} columns", row.len(), self.columns.len())));
        }
        let crc = &mut self.crc_input;
        crc.clear();
        for (value, &(wire, tag)) in row.iter().zip(&self.fields) {
            if matches!(value, Value::Null) {
                continue;
            }
            let field = tag >> 3;
            put_varint(&mut self.out, tag);
            crc.extend_from_slice(&(field as i32).to_le_bytes());
            match (wire, value) {
                (Wire::Int, Value::Int(v)) => {
                    put_varint(&mut self.out, zigzag(*v));
                    crc.extend_from_slice(&v.to_le_bytes());
                }
                (Wire::Bool, Value::Bool(b)) => {
                    put_varint(&mut self.out, u64::from(*b));
                    crc.extend_from_slice(&[u8::from(*b)]);
                }
                (Wire::Double, Value::Double(v)) => {
                    self.out.extend_from_slice(&v.to_le_bytes());
                    crc.extend_from_slice(&v.to_le_bytes());
                }
                (Wire::Float, Value::Float(v)) => {
                    self.out.extend_from_slice(&v.to_le_bytes());
                    crc.extend_from_slice(&v.to_le_bytes());
                }
                (Wire::Bytes, Value::Bytes(b)) => {
                    put_varint(&mut self.out, b.len() as u64);
                    self.out.extend_from_slice(b);
                    crc.extend_from_slice(b);
                }
                (Wire::Timestamp, Value::Timestamp { seconds, nanos }) => {
                    put_varint(&mut self.out, zigzag(*seconds));
                    put_varint(&mut self.out, zigzag(i64::from(*nanos)));
                    crc.extend_from_slice(&seconds.to_le_bytes());
                    crc.extend_from_slice(&nanos.to_le_bytes());
                }
                _ => {
                    let column = &self.columns[field as usize - 1];
                    return Err(invalid(format!("column {field} ({}) cannot hold {value:?}", column.name())));
                }
            }
        }
        let row_crc = row_crc(crc);
        put_varint(&mut self.out, END_RECORD << 3);
        put_varint(&mut self.out, u64::from(row_crc));
        self.crc_of_crcs.add(row_crc);
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
        put_varint(&mut self.out, self.crc_of_crcs.value() as u64);
        self.out
    }
}
