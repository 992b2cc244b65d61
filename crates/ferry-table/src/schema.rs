//! A table's schema, and its JSON form as ODPS clients read it
//! (`{"columns": [{"name", "type", "comment", "nullable"}], "partitionKeys": [...]}`).

use serde_json::{Value as Json, json};

use crate::ColumnType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub column_type: ColumnType,
    pub comment: String,
    pub nullable: bool,
}

impl Column {
    pub fn new(name: &str, column_type: ColumnType) -> Column {
        Column { name: name.to_string(), column_type, comment: String::new(), nullable: true }
    }
}

/// Columns stored in the rows, and partition keys whose values name a partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSchema {
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
}

/// ODPS identifiers: a letter or underscore, then letters, digits and underscores; 128 at most.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl TableSchema {
    /// Check names (valid, unique ignoring case) and that there is at least one column.
    pub fn validate(&self) -> Result<(), String> {
        if self.columns.is_empty() {
            return Err("a table needs at least one column".into());
        }
        let mut seen = std::collections::HashSet::new();
        for c in self.columns.iter().chain(&self.partition_keys) {
            if !valid_name(&c.name) {
                return Err(format!("invalid column name {:?}", c.name));
            }
            if !seen.insert(c.name.to_ascii_lowercase()) {
                return Err(format!("column {:?} appears twice", c.name));
            }
        }
        for key in &self.partition_keys {
            if !matches!(
                key.column_type,
                ColumnType::String
                    | ColumnType::Varchar(_)
                    | ColumnType::Char(_)
                    | ColumnType::Bigint
                    | ColumnType::Int
                    | ColumnType::Smallint
                    | ColumnType::Tinyint
            ) {
                return Err(format!("partition key {:?} must be a string or integer type", key.name));
            }
        }
        Ok(())
    }

    /// The types of the stored columns, in order (what a record stream carries).
    pub fn column_types(&self) -> Vec<ColumnType> {
        self.columns.iter().map(|c| c.column_type).collect()
    }

    pub fn to_json(&self) -> Json {
        let column = |c: &Column, nullable: bool| {
            let mut v = json!({"name": c.name, "type": c.column_type.name(), "comment": c.comment});
            if nullable {
                v["nullable"] = json!(c.nullable);
            }
            v
        };
        json!({
            "columns": self.columns.iter().map(|c| column(c, true)).collect::<Vec<_>>(),
            "partitionKeys": self.partition_keys.iter().map(|c| column(c, false)).collect::<Vec<_>>(),
        })
    }

    pub fn from_json(value: &Json) -> Result<TableSchema, String> {
        let list = |key: &str| -> Result<Vec<Column>, String> {
            let Some(items) = value.get(key) else { return Ok(Vec::new()) };
            let items = items.as_array().ok_or_else(|| format!("{key} is not a list"))?;
            items
                .iter()
                .map(|item| {
                    let name = item.get("name").and_then(Json::as_str).ok_or("a column has no name")?;
                    let type_name = item.get("type").and_then(Json::as_str).ok_or("a column has no type")?;
                    let column_type =
                        ColumnType::parse(type_name).ok_or_else(|| format!("unsupported column type {type_name:?}"))?;
                    Ok(Column {
                        name: name.to_string(),
                        column_type,
                        comment: item.get("comment").and_then(Json::as_str).unwrap_or("").to_string(),
                        nullable: item.get("nullable").and_then(Json::as_bool).unwrap_or(true),
                    })
                })
                .collect()
        };
        let schema = TableSchema { columns: list("columns")?, partition_keys: list("partitionKeys")? };
        schema.validate()?;
        Ok(schema)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_validation() {
        let schema = TableSchema {
            columns: vec![
                Column::new("id", ColumnType::Bigint),
                Column::new("amount", ColumnType::Decimal { precision: 10, scale: 2 }),
            ],
            partition_keys: vec![Column::new("pt", ColumnType::String)],
        };
        let json = schema.to_json();
        assert_eq!(json["columns"][1]["type"], "decimal(10,2)");
        assert_eq!(json["partitionKeys"][0]["name"], "pt");
        assert_eq!(TableSchema::from_json(&json).unwrap(), schema);

        let dup =
            json!({"columns": [{"name": "a", "type": "bigint"}], "partitionKeys": [{"name": "A", "type": "string"}]});
        assert!(TableSchema::from_json(&dup).unwrap_err().contains("twice"));
        let bad_type = json!({"columns": [{"name": "a", "type": "array<int>"}]});
        assert!(TableSchema::from_json(&bad_type).unwrap_err().contains("unsupported"));
        let bad_name = json!({"columns": [{"name": "1a", "type": "int"}]});
        assert!(TableSchema::from_json(&bad_name).is_err());
        assert!(TableSchema::from_json(&json!({"columns": []})).is_err());
        let double_key =
            json!({"columns": [{"name": "a", "type": "int"}], "partitionKeys": [{"name": "p", "type": "double"}]});
        assert!(TableSchema::from_json(&double_key).is_err());
    }
}
