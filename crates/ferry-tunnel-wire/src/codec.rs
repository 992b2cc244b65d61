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

mod decode;
mod encode;

use crc_fast::{CrcAlgorithm, Digest};
pub use decode::{RecordDecoder, RecordSink};
pub use encode::RecordEncoder;
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
    /// A value its column cannot hold (the message names the column).
    #[error("{0}")]
    Value(String),
}

fn invalid(message: impl Into<String>) -> CodecError {
    CodecError::Invalid(message.into())
}

fn crc32c() -> Digest {
    Digest::new(CrcAlgorithm::Crc32Iscsi)
}

/// The stream checksum: CRC32C over every record's CRC (4 bytes, little-endian, each). The
/// record CRCs are gathered and fed to the digest a thousand at a time: a digest update per
/// record cost as much as the record's own CRC.
struct StreamCrc {
    digest: Digest,
    gathered: Vec<u8>,
}

impl StreamCrc {
    const BATCH: usize = 4096;

    fn new() -> Self {
        StreamCrc { digest: crc32c(), gathered: Vec::with_capacity(Self::BATCH) }
    }

    fn add(&mut self, record_crc: u32) {
        self.gathered.extend_from_slice(&record_crc.to_le_bytes());
        if self.gathered.len() >= Self::BATCH {
            self.digest.update(&self.gathered);
            self.gathered.clear();
        }
    }

    fn value(&mut self) -> u32 {
        self.digest.update(&self.gathered);
        self.gathered.clear();
        self.digest.finalize() as u32
    }
}

/// A row's CRC32C over the bytes gathered for it, in one call.
fn row_crc(input: &[u8]) -> u32 {
    crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, input) as u32
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
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
    fn the_stream_checksum_is_the_crc_of_every_record_crc_in_order() {
        let mut gathered = StreamCrc::new();
        let mut one_by_one = crc32c();
        for i in 0..5000u32 {
            let record_crc = i.wrapping_mul(0x9E37_79B9);
            gathered.add(record_crc);
            one_by_one.update(&record_crc.to_le_bytes());
        }
        assert_eq!(gathered.value(), one_by_one.finalize() as u32);
    }

    #[test]
    fn records_larger_than_a_chunk_round_trip() {
        let types = vec![ColumnType::Bigint, ColumnType::Binary];
        let rows: Vec<Vec<Value>> = (0..40)
            .map(|i| vec![Value::Int(i), Value::Bytes((0..(i * 7919) % 300_000).map(|b| b as u8).collect())])
            .collect();
        let mut enc = RecordEncoder::new(types.clone());
        for r in &rows {
            enc.write(r).unwrap();
        }
        let bytes = enc.finish();
        for chunk in [100, 4096, 65_536, 1 << 20] {
            let mut dec = RecordDecoder::new(types.clone());
            let mut out = Vec::new();
            for piece in bytes.chunks(chunk) {
                dec.feed(piece, &mut out).unwrap();
            }
            assert_eq!(dec.finish().unwrap(), 40);
            assert_eq!(out, rows, "chunks of {chunk}");
        }
        // Bytes after the trailer are refused even when the trailer ends mid-chunk.
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[0; 300]);
        let mut dec = RecordDecoder::new(types);
        let fed: Result<(), CodecError> = extra.chunks(4096).try_for_each(|p| dec.feed(p, &mut Vec::new()));
        assert_eq!(fed, Err(invalid("data after the stream's trailer")));
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
