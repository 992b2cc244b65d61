//! Dates as the wire formats write them.

use ferry_core::Millis;
use time::OffsetDateTime;
use time::macros::format_description;

fn datetime(millis: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-23T17:49:07.000Z`, as S3 and OSS XML dates are written.
pub fn iso8601(millis: Millis) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    datetime(millis).format(&fmt).unwrap_or_default()
}

/// `Mon, 23 Nov 2026 17:49:07 GMT` (RFC 7231), as HTTP dates are written.
pub fn http_date(millis: Millis) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64))
}

/// Parse an HTTP date (RFC 7231 and the obsolete forms HTTP allows) into milliseconds since the
/// epoch.
pub fn parse_http_date(value: &str) -> Option<Millis> {
    let at = httpdate::parse_http_date(value).ok()?;
    let millis = match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).ok()?,
        Err(before) => -i64::try_from(before.duration().as_millis()).ok()?,
    };
    Some(millis)
}

/// Parse an ISO 8601 date as S3 and OSS configuration documents carry them
/// (`2030-01-01T00:00:00.000Z`, `2030-01-01T00:00:00Z`, an offset, or a bare `2030-01-01`
/// meaning midnight UTC) into milliseconds since the epoch.
pub fn parse_iso8601(value: &str) -> Option<Millis> {
    let value = value.trim();
    let at = match OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        Ok(at) => at,
        Err(_) => {
            let date = time::Date::parse(value, format_description!("[year]-[month]-[day]")).ok()?;
            date.midnight().assume_utc()
        }
    };
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod iso8601_tests {
    use super::*;

    #[test]
    fn configuration_dates_parse_in_the_forms_clients_send() {
        let midnight = Some(1_893_456_000_000); // 2030-01-01T00:00:00Z
        assert_eq!(parse_iso8601("2030-01-01T00:00:00.000Z"), midnight);
        assert_eq!(parse_iso8601("2030-01-01T00:00:00Z"), midnight);
        assert_eq!(parse_iso8601("2030-01-01"), midnight);
        assert_eq!(parse_iso8601("2030-01-01T08:00:00+08:00"), midnight);
        assert_eq!(parse_iso8601("2030-01-01T12:00:00Z"), Some(1_893_456_000_000 + 12 * 3_600_000));
        assert_eq!(parse_iso8601("tomorrow"), None);
        assert_eq!(iso8601(1_893_456_000_000), "2030-01-01T00:00:00.000Z");
    }
}
