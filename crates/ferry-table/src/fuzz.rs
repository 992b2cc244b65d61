//! Entry point for the partition-spec fuzz target in `fuzz/` and for the test that replays its
//! corpus: arbitrary bytes in, no panic out. Not part of ferry's API.

use crate::{Column, ColumnType, PartitionSpec, TableSchema, format_value, parse_value};

/// Partition specs (`pt='p1',n=3` from query strings, control-plane calls and DDL), checked
/// against a partitioned table; text values of every column type (the first line names the
/// type, as a schema would); and table schemas sent as JSON.
pub fn partition(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let schema = TableSchema {
        columns: vec![Column::new("a", ColumnType::Bigint)],
        partition_keys: vec![Column::new("pt", ColumnType::String), Column::new("n", ColumnType::Int)],
    };
    if let Ok(spec) = PartitionSpec::parse(&text) {
        let _ = spec.to_string();
        if let Ok(checked) = spec.for_table(&schema) {
            let path = checked.path();
            assert_eq!(path.split('/').count(), 2, "partition path {path:?} is not one segment per key");
        }
    }
    let (type_name, value) = text.split_once('\n').unwrap_or((&text, ""));
    if let Some(column_type) = ColumnType::parse(type_name)
        && let Ok(v) = parse_value(column_type, value)
    {
        let _ = format_value(column_type, &v);
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(schema) = TableSchema::from_json(&json)
    {
        let _ = schema.to_json();
    }
}
