//! Upload sessions: created, read, listed, moved between states, expired.

use ferry_core::{Error, Millis, Result, Session, SessionClock, SessionState};
use rusqlite::{Connection, Transaction, params, params_from_iter};

use super::{db, exists, query_all, query_first};
use crate::SessionPage;
use crate::columns::{SESSION_COLUMNS, placeholders, session_values};
use crate::rows;

pub(super) fn create(tx: &Transaction<'_>, s: &Session) -> Result<()> {
    if let Some(bucket) = s.target.bucket()
        && !super::objects::bucket_exists(tx, bucket)?
    {
        return Err(Error::NoSuchBucket);
    }
    let values = session_values(s)?;
    let sql = format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({})", placeholders('?', values.len()));
    tx.execute(&sql, params_from_iter(values)).map_err(db)?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<Session>> {
    query_first(conn, &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"), [id], |r| rows::session(r))
}

/// A page of live object sessions, by the page's clock.
pub(super) fn list(conn: &Connection, page: &SessionPage) -> Result<Vec<Session>> {
    let (after_key, after_id) = page.after.clone().unwrap_or_default();
    query_all(
        conn,
        &format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE bucket = ?1 AND state = 'NORMAL' AND substr(key, 1, length(?2)) = ?2
               AND (?3 = 0 OR key > ?4 OR (key = ?4 AND (created, id) > (SELECT m.created, m.id FROM sessions m WHERE m.id = ?5)))
               AND target_kind = 'object' AND expires > ?7 AND last_activity > ?8
             ORDER BY key, created, id LIMIT ?6"
        ),
        params![
            page.bucket,
            page.prefix,
            page.after.is_some(),
            after_key,
            after_id,
            page.limit,
            page.clock.now,
            page.clock.idle_before
        ],
        |r| rows::session(r),
    )
}

/// Move session `id` from one of `from` to `to` (compare-and-set); leaving a live state first
/// expires a stale session, and then fails.
pub(super) fn transition(
    tx: &Transaction<'_>,
    id: &str,
    from: &[SessionState],
    to: SessionState,
    clock: SessionClock,
) -> Result<bool> {
    let leaves_live = from.iter().any(|s| matches!(s, SessionState::Normal | SessionState::Unknown));
    if leaves_live && expire_if_stale(tx, id, clock)? {
        return Ok(false);
    }
    match state(tx, id)? {
        Some(state) if from.iter().any(|s| s.as_str() == state) => {
            tx.execute(
                "UPDATE sessions SET state = ?2, last_activity = ?3 WHERE id = ?1",
                params![id, to.as_str(), clock.now],
            )
            .map_err(db)?;
            if matches!(to, SessionState::Aborted | SessionState::Expired) {
                discard_parts(tx, id, clock.now)?;
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The stored state of session `id`, as text.
pub(super) fn state(conn: &Connection, id: &str) -> Result<Option<String>> {
    query_first(conn, "SELECT state FROM sessions WHERE id = ?1", [id], |r| r.get(0).map_err(db))
}

/// Expire session `id` if it is live and stale by `clock` (lifetime over or idle), discarding
/// its parts. Returns whether it did. SQLite keeps `last_activity` current on every part write.
pub(super) fn expire_if_stale(tx: &Transaction<'_>, id: &str, clock: SessionClock) -> Result<bool> {
    let stale = exists(
        tx,
        "SELECT 1 FROM sessions WHERE id = ?1 AND state IN ('NORMAL', 'UNKNOWN')
           AND (expires <= ?2 OR last_activity <= ?3)",
        params![id, clock.now, clock.idle_before],
    )?;
    if stale {
        discard_parts(tx, id, clock.now)?;
        tx.execute("UPDATE sessions SET state = 'EXPIRED' WHERE id = ?1", [id]).map_err(db)?;
    }
    Ok(stale)
}

/// The sweeper's pass: expire every stale live session and reopen commits stalled since
/// `closing_before`. Returns how many sessions expired.
pub(super) fn expire_stale(
    tx: &Transaction<'_>,
    now: Millis,
    idle_before: Millis,
    closing_before: Millis,
) -> Result<u64> {
    let stale: Vec<String> = query_all(
        tx,
        "SELECT id FROM sessions WHERE state IN ('NORMAL', 'UNKNOWN')
         AND (expires <= ?1 OR last_activity <= ?2)",
        params![now, idle_before],
        |r| r.get(0).map_err(db),
    )?;
    for id in &stale {
        discard_parts(tx, id, now)?;
        tx.execute("UPDATE sessions SET state = 'EXPIRED' WHERE id = ?1", [id]).map_err(db)?;
    }
    tx.execute(
        "UPDATE sessions SET state = 'NORMAL' WHERE state = 'CLOSING' AND last_activity <= ?1",
        [closing_before],
    )
    .map_err(db)?;
    Ok(stale.len() as u64)
}

/// Queue every part blob of a session and drop its part rows.
pub(super) fn discard_parts(tx: &Transaction<'_>, session: &str, now: Millis) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO garbage (blob, queued) SELECT blob, ?2 FROM parts WHERE session = ?1",
        params![session, now],
    )
    .map_err(db)?;
    tx.execute("DELETE FROM parts WHERE session = ?1", [session]).map_err(db)?;
    Ok(())
}

pub(super) fn count(conn: &Connection) -> Result<Vec<(SessionState, u64)>> {
    let counts = query_all(conn, "SELECT state, COUNT(*) FROM sessions GROUP BY state", [], |r| rows::state_count(r))?;
    Ok(counts.into_iter().flatten().collect())
}
