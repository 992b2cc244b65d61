//! Parts of a live session: recorded (replacing an earlier version of the same number) and
//! listed.

use ferry_core::{Error, PartRecord, Result, SessionClock};
use rusqlite::{Connection, Transaction, params, params_from_iter};

use super::{SqliteMetaStore, db, query_all, query_first, sessions};
use crate::columns::{PART_COLUMNS, part_values, placeholders};
use crate::group;
use crate::rows;

/// One part write waiting in the commit queue.
pub(super) struct PutPart {
    pub(super) session: String,
    pub(super) part: PartRecord,
    pub(super) clock: SessionClock,
}

/// Record a batch of parts in one transaction, one result per request. Each request runs under
/// its own savepoint: one that is refused (session gone, committing, out of time) or fails is
/// undone alone, and the others commit. Nothing is answered before the commit returned.
pub(super) async fn put_batch(store: SqliteMetaStore, batch: Vec<PutPart>) -> Vec<Result<()>> {
    let count = batch.len();
    let done = store
        .with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let mut results = Vec::with_capacity(batch.len());
            for r in &batch {
                run(&tx, "SAVEPOINT part")?;
                let result = put(&tx, &r.session, &r.part, r.clock);
                if result.is_err() {
                    run(&tx, "ROLLBACK TO part")?;
                }
                // An expiry found on the way (`Ok(false)`) stays: it is committed, not undone.
                run(&tx, "RELEASE part")?;
                results.push(match result {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(Error::NoSuchUpload),
                    Err(e) => Err(e),
                });
            }
            tx.commit().map_err(db)?;
            Ok(results)
        })
        .await;
    match done {
        Ok(results) => results,
        Err(e) => (0..count).map(|_| Err(group::each(&e))).collect(),
    }
}

fn run(tx: &Transaction<'_>, sql: &str) -> Result<()> {
    tx.prepare_cached(sql).map_err(db)?.execute([]).map_err(db)?;
    Ok(())
}

/// Record `p` in `session`. Returns `Ok(false)` when the session has just expired: the expiry
/// is committed (not rolled back as an error) and the caller refuses the part.
pub(super) fn put(tx: &Transaction<'_>, session: &str, p: &PartRecord, clock: SessionClock) -> Result<bool> {
    if sessions::expire_if_stale(tx, session, clock)? {
        return Ok(false);
    }
    match sessions::state(tx, session)?.as_deref() {
        Some("NORMAL") => {}
        Some("CLOSING") => return Err(Error::Busy),
        _ => return Err(Error::NoSuchUpload),
    }
    let old: Option<String> = query_first(
        tx,
        "SELECT blob FROM parts WHERE session = ?1 AND number = ?2",
        params![session, p.number],
        |r| r.get(0).map_err(db),
    )?;
    if let Some(old) = old {
        super::garbage::queue(tx, &old, p.modified)?;
    }
    let values = part_values(session, p);
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO parts (session, {PART_COLUMNS}) VALUES ({})",
        placeholders('?', values.len())
    ))
    .map_err(db)?
    .execute(params_from_iter(values))
    .map_err(db)?;
    tx.execute("UPDATE sessions SET last_activity = ?2 WHERE id = ?1", params![session, p.modified]).map_err(db)?;
    Ok(true)
}

/// Up to `limit` parts of `session` numbered above `after`, in number order.
pub(super) fn list(conn: &Connection, session: &str, after: Option<u32>, limit: usize) -> Result<Vec<PartRecord>> {
    let after = after.map(i64::from).unwrap_or(-1);
    query_all(
        conn,
        &format!("SELECT {PART_COLUMNS} FROM parts WHERE session = ?1 AND number > ?2 ORDER BY number LIMIT ?3"),
        params![session, after, limit as i64],
        |r| rows::part(r),
    )
}
