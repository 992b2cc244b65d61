//! The SQL statements ferry runs through the instance API: the DDL that pyodps generates for
//! `create_table`, `delete_table` and `create_partition`. Parsed with `sqlparser`'s Hive
//! dialect, which ODPS SQL follows for these statements, after removing the ODPS-only
//! `LIFECYCLE n` clause.

use ferry_table::{Column, ColumnType, PartitionSpec, TableSchema};
use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, CommentDef, Expr, HiveDistributionStyle, ObjectName, ObjectNamePart,
    ObjectType, Partition, Statement, Value as SqlValue,
};
use sqlparser::dialect::HiveDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// A table named in a statement: its project when qualified (`proj.tbl`), and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTable {
    pub project: Option<String>,
    pub table: String,
}

/// A statement ferry can run.
#[derive(Debug, Clone, PartialEq)]
pub enum Ddl {
    CreateTable { table: SqlTable, schema: TableSchema, comment: String, lifecycle: i64, if_not_exists: bool },
    DropTable { table: SqlTable, if_exists: bool },
    AddPartitions { table: SqlTable, partitions: Vec<PartitionSpec>, if_not_exists: bool },
}

/// Parse one statement (a trailing `;` is fine). Errors say what is wrong or not supported.
pub fn parse(sql: &str) -> Result<Ddl, String> {
    let (sql, lifecycle) = strip_lifecycle(sql)?;
    let mut statements = Parser::parse_sql(&HiveDialect {}, &sql).map_err(|e| format!("SQL parse error: {e}"))?;
    if statements.len() != 1 {
        return Err(format!("expected one SQL statement, got {}", statements.len()));
    }
    match statements.remove(0) {
        Statement::CreateTable(create) => {
            if create.query.is_some() || create.like.is_some() {
                return Err("CREATE TABLE ... AS / LIKE is not supported; list the columns".into());
            }
            let partition_keys = match create.hive_distribution {
                HiveDistributionStyle::PARTITIONED { columns } => columns,
                HiveDistributionStyle::NONE => Vec::new(),
                _ => return Err("only PARTITIONED BY is supported as a table distribution".into()),
            };
            let schema = TableSchema {
                columns: create.columns.iter().map(column).collect::<Result<_, _>>()?,
                partition_keys: partition_keys.iter().map(column).collect::<Result<_, _>>()?,
            };
            schema.validate()?;
            let comment = match create.comment {
                Some(CommentDef::WithEq(c) | CommentDef::WithoutEq(c)) => c,
                None => String::new(),
            };
            let table = sql_table(&create.name)?;
            Ok(Ddl::CreateTable { table, schema, comment, lifecycle, if_not_exists: create.if_not_exists })
        }
        Statement::Drop { object_type: ObjectType::Table, if_exists, names, .. } => match names.as_slice() {
            [name] => Ok(Ddl::DropTable { table: sql_table(name)?, if_exists }),
            _ => Err("DROP TABLE takes one table".into()),
        },
        Statement::AlterTable { name, operations, .. } => {
            let table = sql_table(&name)?;
            match operations.as_slice() {
                [AlterTableOperation::AddPartitions { if_not_exists, new_partitions }] => {
                    let partitions = new_partitions.iter().map(partition).collect::<Result<_, _>>()?;
                    Ok(Ddl::AddPartitions { table, partitions, if_not_exists: *if_not_exists })
                }
                _ => Err("of ALTER TABLE, only ADD [IF NOT EXISTS] PARTITION (...) is supported".into()),
            }
        }
        other => {
            let verb: String = other.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            Err(format!(
                "ferry runs only CREATE TABLE, DROP TABLE and ALTER TABLE ... ADD PARTITION; {verb} ... is not supported"
            ))
        }
    }
}

/// Remove `LIFECYCLE <days>` (ODPS-only) and return its value (-1 when absent).
fn strip_lifecycle(sql: &str) -> Result<(String, i64), String> {
    let tokens = Tokenizer::new(&HiveDialect {}, sql).tokenize().map_err(|e| format!("SQL parse error: {e}"))?;
    let mut kept = Vec::with_capacity(tokens.len());
    let mut lifecycle = -1;
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Word(w) = &tokens[i]
            && w.quote_style.is_none()
            && w.value.eq_ignore_ascii_case("lifecycle")
        {
            let number = tokens[i + 1..].iter().find(|t| !matches!(t, Token::Whitespace(_)));
            if let Some(Token::Number(n, _)) = number {
                lifecycle = n.parse().map_err(|_| format!("invalid LIFECYCLE {n}"))?;
                i += 1;
                while !matches!(tokens.get(i), Some(Token::Number(..))) {
                    i += 1;
                }
                i += 1;
                continue;
            }
        }
        kept.push(tokens[i].to_string());
        i += 1;
    }
    Ok((kept.concat(), lifecycle))
}

fn ident(part: &ObjectNamePart) -> Result<String, String> {
    match part {
        ObjectNamePart::Identifier(i) => Ok(i.value.clone()),
        other => Err(format!("unexpected name part {other}")),
    }
}

fn sql_table(name: &ObjectName) -> Result<SqlTable, String> {
    match name.0.as_slice() {
        [table] => Ok(SqlTable { project: None, table: ident(table)? }),
        [project, table] => Ok(SqlTable { project: Some(ident(project)?), table: ident(table)? }),
        _ => Err(format!("unsupported table name {name} (use table or project.table)")),
    }
}

fn column(def: &ColumnDef) -> Result<Column, String> {
    let type_name = def.data_type.to_string();
    let column_type = ColumnType::parse(&type_name)
        .ok_or_else(|| format!("column {}: unsupported type {type_name}", def.name.value))?;
    let mut column = Column::new(&def.name.value, column_type);
    for option in &def.options {
        match &option.option {
            ColumnOption::Comment(c) => column.comment = c.clone(),
            ColumnOption::NotNull => column.nullable = false,
            ColumnOption::Null => column.nullable = true,
            other => return Err(format!("column {}: unsupported option {other}", def.name.value)),
        }
    }
    Ok(column)
}

/// `PARTITION (k='v', ...)` as a spec.
fn partition(p: &Partition) -> Result<PartitionSpec, String> {
    let Partition::Partitions(items) = p else { return Err(format!("unsupported partition clause {p}")) };
    let mut values = Vec::new();
    for item in items {
        let Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Eq, right } = item else {
            return Err(format!("partition item {item} is not key = value"));
        };
        let key = match left.as_ref() {
            Expr::Identifier(i) => i.value.to_ascii_lowercase(),
            other => return Err(format!("partition key {other} is not a name")),
        };
        let value = match right.as_ref() {
            Expr::Value(v) => match &v.value {
                SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => s.clone(),
                SqlValue::Number(n, _) => n.clone(),
                other => return Err(format!("partition value {other} is not a string or number")),
            },
            other => return Err(format!("partition value {other} is not a literal")),
        };
        values.push((key, value));
    }
    Ok(PartitionSpec { values })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_pyodps_generates() {
        // Verbatim from pyodps 0.13.2 Table.gen_create_table_sql.
        let sql = "CREATE TABLE IF NOT EXISTS proj.`t1` (\n  `id` BIGINT,\n  `name` STRING COMMENT 'a name',\n  \
                   `d` DECIMAL(10,2),\n  `ts` TIMESTAMP,\n  `b` BINARY,\n  `dt` DATETIME,\n  `dd` DATE,\n  `f` FLOAT,\n  \
                   `i` INT,\n  `bo` BOOLEAN,\n  `db` DOUBLE\n)\nCOMMENT 'hi'\nPARTITIONED BY (\n  `pt` STRING,\n  \
                   `region` STRING\n)\nLIFECYCLE 3;";
        let Ddl::CreateTable { table, schema, comment, lifecycle, if_not_exists } = parse(sql).unwrap() else {
            panic!("not a create")
        };
        assert_eq!(table, SqlTable { project: Some("proj".into()), table: "t1".into() });
        assert!(if_not_exists);
        assert_eq!((comment.as_str(), lifecycle), ("hi", 3));
        let types: Vec<String> = schema.columns.iter().map(|c| c.column_type.name()).collect();
        assert_eq!(
            types,
            [
                "bigint",
                "string",
                "decimal(10,2)",
                "timestamp",
                "binary",
                "datetime",
                "date",
                "float",
                "int",
                "boolean",
                "double"
            ]
        );
        assert_eq!(schema.columns[1].comment, "a name");
        let keys: Vec<&str> = schema.partition_keys.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(keys, ["pt", "region"]);

        assert_eq!(
            parse("DROP TABLE IF EXISTS proj.`t1`").unwrap(),
            Ddl::DropTable { table: SqlTable { project: Some("proj".into()), table: "t1".into() }, if_exists: true }
        );
        let Ddl::AddPartitions { table, partitions, if_not_exists } =
            parse("ALTER TABLE proj.`t1` ADD IF NOT EXISTS PARTITION (pt='p1', region='x y');").unwrap()
        else {
            panic!("not an alter")
        };
        assert_eq!(table.table, "t1");
        assert!(if_not_exists);
        assert_eq!(partitions[0].values, vec![("pt".into(), "p1".into()), ("region".into(), "x y".into())]);
    }

    #[test]
    fn other_statements_are_refused_clearly() {
        assert!(parse("SELECT * FROM t").unwrap_err().contains("not supported"));
        assert!(parse("INSERT INTO t VALUES (1)").unwrap_err().contains("not supported"));
        assert!(parse("CREATE TABLE t (a ARRAY<INT>)").unwrap_err().contains("unsupported type"));
        assert!(parse("CREATE TABLE t (a INT, A STRING)").unwrap_err().contains("twice"));
        assert!(parse("CREATE TABLE (").unwrap_err().contains("parse error"));
        assert!(parse("ALTER TABLE t DROP COLUMN a").unwrap_err().contains("ADD [IF NOT EXISTS] PARTITION"));
        assert!(parse("DROP TABLE a; DROP TABLE b").unwrap_err().contains("one SQL statement"));
        // A column that happens to be called lifecycle is still a column.
        let Ddl::CreateTable { schema, lifecycle, .. } = parse("CREATE TABLE t (`lifecycle` BIGINT)").unwrap() else {
            panic!()
        };
        assert_eq!((schema.columns[0].name.as_str(), lifecycle), ("lifecycle", -1));
    }
}
