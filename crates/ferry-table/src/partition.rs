//! Partition specs: the values of a table's partition keys that name one partition, as clients
//! write them (`pt=p1,region=x` on tunnel calls, `pt='p1'` on the control plane and in SQL).

use crate::{ColumnType, TableSchema};

/// A partition's key values, in the table's partition-key order once [`PartitionSpec::for_table`]
/// has checked them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionSpec {
    pub values: Vec<(String, String)>,
}

/// The longest partition value accepted.
const MAX_VALUE_LEN: usize = 255;

impl PartitionSpec {
    /// Parse `k=v[,k=v...]` (or `/`-separated), values optionally in single or double quotes.
    /// An empty text is the empty spec (a table without partitions).
    pub fn parse(text: &str) -> Result<PartitionSpec, String> {
        let mut values = Vec::new();
        for item in text.split([',', '/']).map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) =
                item.split_once('=').ok_or_else(|| format!("partition spec item {item:?} is not key=value"))?;
            values.push((key.trim().to_ascii_lowercase(), unquote(value.trim()).to_string()));
        }
        Ok(PartitionSpec { values })
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// This spec checked against `schema`: every partition key exactly once, values valid for
    /// the key's type, in the schema's key order.
    pub fn for_table(&self, schema: &TableSchema) -> Result<PartitionSpec, String> {
        if schema.partition_keys.is_empty() {
            return match self.values.is_empty() {
                true => Ok(PartitionSpec::default()),
                false => Err("the table has no partitions, but a partition was given".into()),
            };
        }
        if self.values.is_empty() {
            return Err("the table is partitioned: give a partition spec".into());
        }
        let mut ordered = Vec::with_capacity(schema.partition_keys.len());
        for key in &schema.partition_keys {
            let mut found = self.values.iter().filter(|(k, _)| k.eq_ignore_ascii_case(&key.name));
            let value = match (found.next(), found.next()) {
                (Some((_, v)), None) => v,
                (None, _) => return Err(format!("partition key {:?} has no value", key.name)),
                (Some(_), Some(_)) => return Err(format!("partition key {:?} appears twice", key.name)),
            };
            check_value(&key.name, key.column_type, value)?;
            ordered.push((key.name.clone(), value.clone()));
        }
        if let Some((k, _)) =
            self.values.iter().find(|(k, _)| !schema.partition_keys.iter().any(|p| p.name.eq_ignore_ascii_case(k)))
        {
            return Err(format!("{k:?} is not a partition key of the table"));
        }
        Ok(PartitionSpec { values: ordered })
    }

    /// `k=v/k=v`, each value percent-encoded except for letters, digits and `_.-`, so any value
    /// is one safe path segment (as Hive lays out partitions).
    pub fn path(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| {
                let mut segment = format!("{k}=");
                for b in v.bytes() {
                    match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => segment.push(b as char),
                        _ => segment.push_str(&format!("%{b:02X}")),
                    }
                }
                segment
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl std::fmt::Display for PartitionSpec {
    /// `k=v,k=v`, the form tunnel calls use.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&items.join(","))
    }
}

fn unquote(value: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

fn check_value(key: &str, column_type: ColumnType, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("partition key {key:?} has an empty value"));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(format!("the value of partition key {key:?} is longer than {MAX_VALUE_LEN} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("the value of partition key {key:?} contains a control character"));
    }
    let integer =
        matches!(column_type, ColumnType::Bigint | ColumnType::Int | ColumnType::Smallint | ColumnType::Tinyint);
    if integer && value.parse::<i64>().is_err() {
        return Err(format!("partition key {key:?} is an integer, not {value:?}"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Column;

    fn schema() -> TableSchema {
        TableSchema {
            columns: vec![Column::new("a", ColumnType::Bigint)],
            partition_keys: vec![Column::new("pt", ColumnType::String), Column::new("n", ColumnType::Int)],
        }
    }

    #[test]
    fn parses_every_client_form_and_orders_by_schema() {
        let want = PartitionSpec { values: vec![("pt".into(), "a b".into()), ("n".into(), "7".into())] };
        for text in ["n=7,pt=a b", "pt='a b',n='7'", "PT=\"a b\"/n=7"] {
            assert_eq!(PartitionSpec::parse(text).unwrap().for_table(&schema()).unwrap(), want, "{text}");
        }
        assert_eq!(want.to_string(), "pt=a b,n=7");
        assert_eq!(want.path(), "pt=a%20b/n=7");
        let odd = PartitionSpec { values: vec![("pt".into(), "../x/%".into())] };
        assert_eq!(odd.path(), "pt=..%2Fx%2F%25");
    }

    #[test]
    fn refuses_specs_that_do_not_fit() {
        let s = schema();
        let err = |text: &str| PartitionSpec::parse(text).and_then(|p| p.for_table(&s)).unwrap_err();
        assert!(err("pt=a").contains("\"n\" has no value"));
        assert!(err("pt=a,n=x").contains("integer"));
        assert!(err("pt=a,n=1,zz=2").contains("not a partition key"));
        assert!(err("pt=a,pt=b,n=1").contains("twice"));
        assert!(err("pt=,n=1").contains("empty"));
        assert!(err("").contains("is partitioned"));
        assert!(err("pt").contains("key=value"));
        let plain = TableSchema { columns: s.columns.clone(), partition_keys: vec![] };
        assert!(PartitionSpec::parse("pt=a").unwrap().for_table(&plain).is_err());
        assert!(PartitionSpec::parse("").unwrap().for_table(&plain).unwrap().is_empty());
    }
}
