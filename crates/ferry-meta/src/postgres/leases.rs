//! Named leases: one node at a time holds each, until it lapses.

use ferry_core::{Millis, Result};

use super::PostgresMetaStore;

/// Take or renew lease `name` for `holder` until `now + ttl`; refused while another holder's
/// lease runs.
pub(super) async fn acquire(
    store: &PostgresMetaStore,
    name: &str,
    holder: &str,
    now: Millis,
    ttl: Millis,
) -> Result<bool> {
    let changed = store
        .execute(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE leases.holder = excluded.holder OR leases.until <= $4",
            &[&name, &holder, &(now + ttl), &now],
        )
        .await?;
    Ok(changed == 1)
}
