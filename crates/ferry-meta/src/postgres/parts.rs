//! Parts of a live session: recorded by the server-side function `ferry_put_part`, concurrent
//! writes batched into one transaction (see [`crate::group`]), and listed.

use ferry_core::{Error, PartRecord, Result, SessionClock};
use futures_util::future::{join_all, try_join_all};

use super::{PostgresMetaStore, bind, db, sessions};
use crate::columns::{PART_COLUMNS, SqlValue, part_values, placeholders};
use crate::{group, rows};

/// One part write waiting in the commit queue.
pub(super) struct PutPart {
    pub(super) session: String,
    pub(super) part: PartRecord,
    pub(super) clock: SessionClock,
}

/// The statement recording one part; it answers 'ok', 'busy', 'stale' or 'missing'.
fn put_sql() -> String {
    format!("SELECT ferry_put_part({})", placeholders('$', PART_ARGS))
}

/// Arguments of `ferry_put_part`: the part's columns, the session, and the clock's two values.
const PART_ARGS: usize = 14;

fn arguments(r: &PutPart) -> Vec<SqlValue> {
    let mut values = part_values(&r.session, &r.part);
    values.extend([SqlValue::Int(r.clock.now), SqlValue::Int(r.clock.idle_before)]);
    values
}

/// Record a batch of parts, one result per request. The batch runs in one transaction, its
/// calls pipelined on one connection, so it costs one commit and about one round trip. The
/// function refuses a part by its answer rather than by an error, so one refused request does
/// not spoil the batch; should a call fail outright (the transaction is then aborted), each
/// request runs again on its own so that only the failing one fails. A failed COMMIT is not
/// retried: it may have committed, and recording a part twice would queue its own blob as the
/// replaced one's garbage.
pub(super) async fn put_batch(store: PostgresMetaStore, batch: Vec<PutPart>) -> Vec<Result<()>> {
    if batch.len() == 1 {
        return vec![put(&store, &batch[0]).await];
    }
    match together(&store, &batch).await {
        Ok(answers) => {
            join_all(batch.iter().zip(&answers).map(|(r, answer)| settle(&store, r, answer.as_deref()))).await
        }
        Err(Failed::Commit(e)) => batch.iter().map(|_| Err(group::each(&e))).collect(),
        Err(Failed::Before) => join_all(batch.iter().map(|r| put(&store, r))).await,
    }
}

enum Failed {
    /// Nothing was committed (each request's own run reports its own error).
    Before,
    /// The outcome is unknown.
    Commit(Error),
}

async fn together(store: &PostgresMetaStore, batch: &[PutPart]) -> std::result::Result<Vec<Option<String>>, Failed> {
    let mut client = store.client().await.map_err(|_| Failed::Before)?;
    let tx = client.transaction().await.map_err(|_| Failed::Before)?;
    let stmt = tx.prepare_cached(&put_sql()).await.map_err(|_| Failed::Before)?;
    let values: Vec<Vec<SqlValue>> = batch.iter().map(arguments).collect();
    let params: Vec<_> = values.iter().map(|v| bind(v)).collect();
    let rows = try_join_all(params.iter().map(|p| tx.query_opt(&stmt, p))).await.map_err(|_| Failed::Before)?;
    let answers =
        rows.iter().map(|row| row.as_ref().and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten())).collect();
    tx.commit().await.map_err(|e| Failed::Commit(db(e)))?;
    Ok(answers)
}

/// Record one part in its own (single-statement) transaction.
async fn put(store: &PostgresMetaStore, r: &PutPart) -> Result<()> {
    let values = arguments(r);
    let row = store.query_opt(&put_sql(), &bind(&values)).await?;
    let answer = row.as_ref().and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten());
    settle(store, r, answer.as_deref()).await
}

/// The request's result from the function's answer. A session out of time is expired by its
/// own statement: the function holds its row `FOR SHARE` and must not take it for update.
async fn settle(store: &PostgresMetaStore, r: &PutPart, answer: Option<&str>) -> Result<()> {
    match answer {
        Some("ok") => Ok(()),
        Some("busy") => Err(Error::Busy),
        Some("stale") => {
            sessions::expire_if_stale(store, &r.session, r.clock).await?;
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
