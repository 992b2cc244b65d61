//! Named leases: one node at a time holds each, until it lapses.

use ferry_core::{Millis, Result};
use rusqlite::{Transaction, params};

use super::db;

/// Take or renew lease `name` for `holder` until `now + ttl`; refused while another holder's
/// lease runs.
pub(super) fn acquire(tx: &Transaction<'_>, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool> {
    let changed = tx
        .execute(
            "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.holder = excluded.holder OR leases.until <= ?4",
            params![name, holder, now + ttl, now],
        )
        .map_err(db)?;
    Ok(changed == 1)
}
