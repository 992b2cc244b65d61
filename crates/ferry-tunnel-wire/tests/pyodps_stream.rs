//! A stream written by pyodps' own record writer (its C implementation, the default) decodes to
//! the values it was given. The stream was made by `golden/make_pyodps_stream.py` (pyodps 0.13.2,
//! TZ=UTC); the row and stream checksums in it are pyodps' own.
#![allow(clippy::unwrap_used)]

use ferry_tunnel_wire::codec::{ColumnType, RecordDecoder, RecordEncoder, Value};

#[test]
fn decodes_what_pyodps_wrote() {
    let types = [
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
    ];
    let columns: Vec<ColumnType> = types.iter().map(|t| ColumnType::parse(t).unwrap()).collect();
    let bytes = include_bytes!("golden/pyodps-all-types.bin");
    let mut decoder = RecordDecoder::new(columns.clone());
    let mut rows = Vec::new();
    decoder.feed(bytes, &mut rows).unwrap();
    assert_eq!(decoder.finish().unwrap(), 3);
    let text = |s: &str| Value::Bytes(s.as_bytes().to_vec());
    assert_eq!(
        rows[0],
        vec![
            Value::Int(-42),
            Value::Int(7),
            Value::Double(1.5),
            Value::Float(-2.25),
            Value::Bool(true),
            text("héllo"),
            Value::Bytes(vec![0, 255, 1]),
            Value::Int(1_700_000_000_123), // 2023-11-14 22:13:20.123 UTC, in ms
            Value::Int(19_699),            // 2023-12-08, in days
            text("12.34"),
            Value::Timestamp { seconds: 1_700_000_000, nanos: 123_456_789 },
        ]
    );
    assert_eq!(rows[1], vec![Value::Null; 11]);
    assert_eq!(
        rows[2],
        vec![
            Value::Int(i64::MIN),
            Value::Null,
            Value::Double(1e308),
            Value::Null,
            Value::Bool(false),
            text(""),
            Value::Null,
            Value::Int(-1),
            Value::Null,
            text("-0.01"),
            Value::Timestamp { seconds: -5, nanos: 0 },
        ]
    );

    // ferry's encoder writes the same rows with the same checksums: pyodps' stream and ours
    // decode alike, and ours ends with the same stream checksum.
    let mut encoder = RecordEncoder::new(columns);
    for row in &rows {
        encoder.write(row).unwrap();
    }
    let ours = encoder.finish();
    assert_eq!(checksum_of(&ours), checksum_of(bytes));
}

/// The last varint of a stream (the checksum of row checksums), low 32 bits.
fn checksum_of(stream: &[u8]) -> u32 {
    let end = stream.len();
    let start = stream[..end - 1].iter().rposition(|b| b & 0x80 == 0).map_or(0, |i| i + 1);
    let mut value: u64 = 0;
    for (i, b) in stream[start..end].iter().enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
    }
    value as u32
}
