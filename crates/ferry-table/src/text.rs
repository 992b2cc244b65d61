//! Values from text (CSV cells, command lines) and back, in the forms ODPS tools print:
//! `2024-01-31 12:00:00[.123]` for datetime (UTC), `2024-01-31` for date, nanosecond fractions
//! for timestamp, `true`/`false` for boolean. An empty cell is NULL.

use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::{ColumnType, Value};

const SECONDS_PER_DAY: i64 = 86_400;

fn datetime(text: &str) -> Result<(i64, i32), String> {
    let text = text.trim().replace('T', " ");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let parsed = PrimitiveDateTime::parse(whole, format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .or_else(|_| Date::parse(whole, format_description!("[year]-[month]-[day]")).map(|d| d.midnight()))
        .map_err(|_| format!("{text:?} is not a date-time like 2024-01-31 12:00:00"))?;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} has an invalid fraction of a second"));
    }
    let nanos: i32 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().unwrap_or(0) };
    Ok((parsed.assume_utc().unix_timestamp(), nanos))
}

/// The value of `text` in a column of `column_type`.
pub fn parse_value(column_type: ColumnType, text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let int = |t: &str| t.trim().parse::<i64>().map_err(|_| format!("{t:?} is not an integer"));
    Ok(match column_type {
        ColumnType::Bigint | ColumnType::Int | ColumnType::Smallint | ColumnType::Tinyint => Value::Int(int(text)?),
        ColumnType::Double => Value::Double(text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?),
        ColumnType::Float => Value::Float(text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?),
        ColumnType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(format!("{text:?} is not true or false")),
        },
        ColumnType::String
        | ColumnType::Binary
        | ColumnType::Varchar(_)
        | ColumnType::Char(_)
        | ColumnType::Decimal { .. } => Value::Bytes(text.as_bytes().to_vec()),
        ColumnType::Datetime => {
            let (seconds, nanos) = datetime(text)?;
            Value::Int(seconds * 1000 + i64::from(nanos / 1_000_000))
        }
        ColumnType::Date => {
            let date = Date::parse(text.trim(), format_description!("[year]-[month]-[day]"))
                .map_err(|_| format!("{text:?} is not a date like 2024-01-31"))?;
            Value::Int(date.midnight().assume_utc().unix_timestamp().div_euclid(SECONDS_PER_DAY))
        }
        ColumnType::Timestamp => {
            let (seconds, nanos) = datetime(text)?;
            Value::Timestamp { seconds, nanos }
        }
    })
}

/// `value` as text, the inverse of [`parse_value`].
pub fn format_value(column_type: ColumnType, value: &Value) -> String {
    let at = |seconds: i64, nanos: i64| {
        OffsetDateTime::from_unix_timestamp(seconds).map(|t| t + time::Duration::nanoseconds(nanos)).ok()
    };
    match (column_type, value) {
        (_, Value::Null) => String::new(),
        (ColumnType::Datetime, Value::Int(ms)) => match at(ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000) {
            Some(t) => t
                .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"))
                .unwrap_or_default(),
            None => ms.to_string(),
        },
        (ColumnType::Date, Value::Int(days)) => match at(days * SECONDS_PER_DAY, 0) {
            Some(t) => t.format(format_description!("[year]-[month]-[day]")).unwrap_or_default(),
            None => days.to_string(),
        },
        (_, Value::Timestamp { seconds, nanos }) => match at(*seconds, i64::from(*nanos)) {
            Some(t) => t
                .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:9]"))
                .unwrap_or_default(),
            None => seconds.to_string(),
        },
        (_, Value::Int(i)) => i.to_string(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, Value::Double(d)) => d.to_string(),
        (_, Value::Float(f)) => f.to_string(),
        (_, Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_for_every_type() {
        for (type_name, text) in [
            ("bigint", "-42"),
            ("boolean", "true"),
            ("double", "0.25"),
            ("string", "héllo"),
            ("decimal(10,2)", "12.34"),
            ("datetime", "1969-12-31 23:59:59.999"),
            ("date", "2024-02-29"),
            ("timestamp", "2024-03-01 00:00:00.123456789"),
        ] {
            let t = ColumnType::parse(type_name).unwrap();
            let v = parse_value(t, text).unwrap();
            assert_eq!(format_value(t, &v), text, "{type_name}");
        }
        assert_eq!(parse_value(ColumnType::Datetime, "1970-01-01 00:00:01").unwrap(), Value::Int(1000));
        assert_eq!(parse_value(ColumnType::Date, "1969-12-31").unwrap(), Value::Int(-1));
        assert_eq!(parse_value(ColumnType::Bigint, "").unwrap(), Value::Null);
        assert!(parse_value(ColumnType::Bigint, "x").unwrap_err().contains("integer"));
        assert!(parse_value(ColumnType::Boolean, "maybe").is_err());
        assert!(parse_value(ColumnType::Datetime, "2024-13-01 00:00:00").is_err());
    }
}
