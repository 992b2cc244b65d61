//! Upload sessions: created, read, listed, moved between states, expired. State changes run
//! in the server-side functions `ferry_transition`, `ferry_expire_one` and `ferry_expire`.

use ferry_core::{Error, Millis, Result, Session, SessionClock, SessionState};

use super::{PostgresMetaStore, bind};
use crate::SessionPage;
use crate::columns::{SESSION_COLUMNS, placeholders, session_values};
use crate::rows;

pub(super) async fn create(store: &PostgresMetaStore, s: &Session) -> Result<()> {
    let values = session_values(s)?;
    // A table target needs no bucket.
    let sql = format!(
        "INSERT INTO sessions ({SESSION_COLUMNS})
         SELECT {}
         WHERE $11 = 'table' OR EXISTS (SELECT 1 FROM buckets WHERE name = $2)",
        placeholders('$', values.len())
    );
    let inserted = store.execute(&sql, &bind(&values)).await?;
    if inserted == 0 { Err(Error::NoSuchBucket) } else { Ok(()) }
}

pub(super) async fn get(store: &PostgresMetaStore, id: &str) -> Result<Option<Session>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    store.query_opt(&sql, &[&id]).await?.as_ref().map(rows::session).transpose()
}

/// A page of live object sessions, by the page's clock.
pub(super) async fn list(store: &PostgresMetaStore, page: &SessionPage) -> Result<Vec<Session>> {
    if page.prefix.contains('\0') {
        return Ok(Vec::new()); // no key holds NUL, and PostgreSQL text cannot
    }
    let (after_key, after_id) = page.after.clone().unwrap_or_default();
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions
         WHERE bucket = $1 AND state = 'NORMAL' AND starts_with(key, $2)
           AND (NOT $3 OR key > $4 OR (key = $4 AND (created, id) > (SELECT m.created, m.id FROM sessions m WHERE m.id = $5)))
           AND target_kind = 'object' AND NOT ferry_session_stale(id, expires, last_activity, $7, $8)
         ORDER BY key, created, id LIMIT $6"
    );
    let clock = &page.clock;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &page.bucket,
        &page.prefix,
        &page.after.is_some(),
        &after_key,
        &after_id,
        &page.limit,
        &clock.now,
        &clock.idle_before,
    ];
    store.query(&sql, &params).await?.iter().map(rows::session).collect()
}

/// Move session `id` from one of `from` to `to` (compare-and-set); leaving a live state first
/// expires a stale session, and then fails.
pub(super) async fn transition(
    store: &PostgresMetaStore,
    id: &str,
    from: &[SessionState],
    to: SessionState,
    clock: SessionClock,
) -> Result<bool> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let row = store
        .query_opt(
            "SELECT ferry_transition($1, $2, $3, $4, $5)",
            &[&id, &from, &to.as_str(), &clock.now, &clock.idle_before],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get(0)))
}

/// Expire session `id` if it is live and stale by `clock`. Returns whether it did.
pub(super) async fn expire_if_stale(store: &PostgresMetaStore, id: &str, clock: SessionClock) -> Result<bool> {
    let row = store.query_opt("SELECT ferry_expire_one($1, $2, $3)", &[&id, &clock.now, &clock.idle_before]).await?;
    Ok(row.is_some_and(|r| r.get(0)))
}

/// The sweeper's pass: expire every stale live session and reopen commits stalled since
/// `closing_before`. Returns how many sessions expired.
pub(super) async fn expire_stale(
    store: &PostgresMetaStore,
    now: Millis,
    idle_before: Millis,
    closing_before: Millis,
) -> Result<u64> {
    let row = store.query_opt("SELECT ferry_expire($1, $2, $3)", &[&now, &idle_before, &closing_before]).await?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
}

pub(super) async fn count(store: &PostgresMetaStore) -> Result<Vec<(SessionState, u64)>> {
    let rows = store.query("SELECT state, count(*) FROM sessions GROUP BY state", &[]).await?;
    let counts = rows.iter().map(rows::state_count).collect::<Result<Vec<_>>>()?;
    Ok(counts.into_iter().flatten().collect())
}
