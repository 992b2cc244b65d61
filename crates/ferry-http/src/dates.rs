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
