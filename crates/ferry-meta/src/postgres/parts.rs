//! Parts of a live session: recorded by the server-side function `ferry_put_part` in one round
//! trip, and listed.

use ferry_core::{Error, PartRecord, Result, SessionClock};

use super::{PostgresMetaStore, bind, sessions};
use crate::columns::{PART_COLUMNS, SqlValue, part_values, placeholders};
use crate::rows;

/// Record `p` in `session`, replacing an earlier version of its number (whose blob is queued
/// as garbage). Refused while a commit runs, and for a session that is gone or out of time.
pub(super) async fn put(store: &PostgresMetaStore, session: &str, p: &PartRecord, clock: SessionClock) -> Result<()> {
    let mut values = part_values(session, p);
    values.extend([SqlValue::Int(clock.now), SqlValue::Int(clock.idle_before)]);
    let sql = format!("SELECT ferry_put_part({})", placeholders('$', values.len()));
    let row = store.query_opt(&sql, &bind(&values)).await?;
    match row.as_ref().map(|r| r.get::<_, &str>(0)) {
        Some("ok") => Ok(()),
        Some("busy") => Err(Error::Busy),
        Some("stale") => {
            sessions::expire_if_stale(store, session, clock).await?;
            Err(Error::NoSuchUpload)
        }
        _ => Err(Error::NoSuchUpload),
    }
}

/// Up to `limit` parts of `session` numbered above `after`, in number order.
pub(super) async fn list(
    store: &PostgresMetaStore,
    session: &str,
    after: Option<u32>,
    limit: usize,
) -> Result<Vec<PartRecord>> {
    let after = after.map(i64::from).unwrap_or(-1);
    let sql = format!("SELECT {PART_COLUMNS} FROM parts WHERE session = $1 AND number > $2 ORDER BY number LIMIT $3");
    store.query(&sql, &[&session, &after, &(limit as i64)]).await?.iter().map(rows::part).collect()
}
