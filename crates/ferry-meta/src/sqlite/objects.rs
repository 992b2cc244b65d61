//! Buckets and objects: created, published from a session's parts, read, listed, removed.

use ferry_core::{
    BucketInfo, CommitRecord, Error, Millis, ObjectRecord, ObjectSummary, Result, WriteCondition, random_id,
};
use rusqlite::{Connection, Transaction, params, params_from_iter};

use super::{db, exists, query_all, query_first, sessions};
use crate::columns::{
    BUCKET_COLUMNS, MANIFEST_COLUMNS, OBJECT_COLUMNS, OBJECT_RECORD_COLUMNS, OBJECT_RECORD_WIDTH, SUMMARY_COLUMNS,
    object_values, placeholders,
};
use crate::{json, rows, to_i64};

pub(super) fn bucket_exists(conn: &Connection, bucket: &str) -> Result<bool> {
    exists(conn, "SELECT 1 FROM buckets WHERE name = ?1", [bucket])
}

pub(super) fn create_bucket(tx: &Transaction<'_>, name: &str, now: Millis) -> Result<()> {
    if bucket_exists(tx, name)? {
        return Err(Error::BucketAlreadyExists);
    }
    tx.execute("INSERT INTO buckets (name, created) VALUES (?1, ?2)", params![name, now]).map_err(db)?;
    Ok(())
}

/// Delete an empty bucket, aborting the uploads still open in it.
pub(super) fn delete_bucket(tx: &Transaction<'_>, name: &str, now: Millis) -> Result<()> {
    if !bucket_exists(tx, name)? {
        return Err(Error::NoSuchBucket);
    }
    if exists(tx, "SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1", [name])? {
        return Err(Error::BucketNotEmpty);
    }
    let live: Vec<String> = query_all(
        tx,
        "SELECT id FROM sessions WHERE bucket = ?1 AND state IN ('NORMAL', 'UNKNOWN', 'CLOSING')",
        [name],
        |r| r.get(0).map_err(db),
    )?;
    for id in live {
        sessions::discard_parts(tx, &id, now)?;
        tx.execute("UPDATE sessions SET state = 'ABORTED', last_activity = ?2 WHERE id = ?1", params![id, now])
            .map_err(db)?;
    }
    super::events::forget_bucket(tx, name)?;
    tx.execute("DELETE FROM buckets WHERE name = ?1", [name]).map_err(db)?;
    Ok(())
}

pub(super) fn get_bucket(conn: &Connection, name: &str) -> Result<Option<BucketInfo>> {
    query_first(conn, &format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?1"), [name], |r| rows::bucket(r))
}

pub(super) fn list_buckets(conn: &Connection) -> Result<Vec<BucketInfo>> {
    query_all(conn, &format!("SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name"), [], |r| rows::bucket(r))
}

/// Remove the object at (bucket, key), queueing its blobs. Returns whether one existed.
pub(super) fn remove(tx: &Transaction<'_>, bucket: &str, key: &str, now: Millis) -> Result<bool> {
    remove_if_older(tx, bucket, key, None, now)
}

/// Delete the object at (bucket, key), if it was last modified before `modified_before` (when
/// given), and queue its blobs as garbage.
pub(super) fn remove_if_older(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
    modified_before: Option<Millis>,
    now: Millis,
) -> Result<bool> {
    let id: Option<String> = query_first(
        tx,
        "SELECT id FROM objects WHERE bucket = ?1 AND key = ?2 AND (?3 IS NULL OR modified < ?3)",
        params![bucket, key, modified_before],
        |r| r.get(0).map_err(db),
    )?;
    let Some(id) = id else { return Ok(false) };
    tx.execute(
        "INSERT OR IGNORE INTO garbage (blob, queued) SELECT blob, ?2 FROM manifests WHERE object = ?1",
        params![id, now],
    )
    .map_err(db)?;
    tx.execute("DELETE FROM manifests WHERE object = ?1", [&id]).map_err(db)?;
    tx.execute("DELETE FROM objects WHERE id = ?1", [&id]).map_err(db)?;
    Ok(true)
}

/// Insert `object`, replacing any object at its key, if `condition` holds for the object now
/// there. Returns the new object's row id. The caller's immediate transaction holds SQLite's
/// write lock, so no other writer can slip in between the check and the insert.
pub(super) fn insert(
    tx: &Transaction<'_>,
    object: &ObjectRecord,
    condition: Option<&WriteCondition>,
) -> Result<String> {
    if !bucket_exists(tx, &object.bucket)? {
        return Err(Error::NoSuchBucket);
    }
    if let Some(condition) = condition {
        let current: Option<String> = query_first(
            tx,
            "SELECT etag FROM objects WHERE bucket = ?1 AND key = ?2",
            [&object.bucket, &object.key],
            |r| r.get(0).map_err(db),
        )?;
        condition.check(current.as_deref())?;
    }
    remove(tx, &object.bucket, &object.key, object.modified)?;
    let id = random_id();
    let values = object_values(object, &id)?;
    let sql = format!("INSERT INTO objects ({OBJECT_COLUMNS}) VALUES ({})", placeholders('?', values.len()));
    tx.execute(&sql, params_from_iter(values)).map_err(db)?;
    let mut stmt = tx
        .prepare_cached(r#"INSERT INTO manifests (object, idx, blob, "offset", size) VALUES (?1, ?2, ?3, ?4, ?5)"#)
        .map_err(db)?;
    for (idx, entry) in object.manifest.iter().enumerate() {
        stmt.execute(params![id, idx as i64, entry.blob.0, to_i64(entry.offset), to_i64(entry.size)]).map_err(db)?;
    }
    Ok(id)
}

/// Publish `objects` from the parts of `session` (which must be Closing) and close it, all or
/// nothing; parts no manifest references become garbage.
pub(super) fn publish(
    tx: &Transaction<'_>,
    session: &str,
    objects: &[ObjectRecord],
    commit: &CommitRecord,
    condition: Option<&WriteCondition>,
) -> Result<()> {
    if sessions::state(tx, session)?.as_deref() != Some("CLOSING") {
        return Err(Error::NoSuchUpload);
    }
    let mut ids = Vec::with_capacity(objects.len());
    for object in objects {
        // A refused condition drops the transaction: nothing is published.
        let object_id = insert(tx, object, condition)?;
        let stale: i64 = tx
            .query_row(
                // One index probe per manifest entry (parts_by_blob): a `NOT IN` over the
                // session's parts was rebuilt for every object, quadratic in a commit of
                // thousands of Tunnel blocks.
                "SELECT COUNT(*) FROM manifests m WHERE m.object = ?1
                   AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.blob = m.blob AND p.session = ?2)",
                params![object_id, session],
                |r| r.get(0),
            )
            .map_err(db)?;
        if stale > 0 {
            // Dropping the transaction rolls back the inserts.
            return Err(Error::NoSuchUpload);
        }
        ids.push(object_id);
    }
    // Parts a manifest now references leave the parts table; the rest become garbage.
    let now = objects.first().map_or_else(ferry_core::now_millis, |o| o.modified);
    tx.execute(
        "INSERT OR IGNORE INTO garbage (blob, queued)
         SELECT blob, ?3 FROM parts WHERE session = ?1
           AND blob NOT IN (SELECT blob FROM manifests WHERE object IN (SELECT value FROM json_each(?2)))",
        params![session, json(&ids)?, now],
    )
    .map_err(db)?;
    tx.execute("DELETE FROM parts WHERE session = ?1", [session]).map_err(db)?;
    tx.execute(
        "UPDATE sessions SET state = 'CLOSED', last_activity = ?2, commit_record = ?3 WHERE id = ?1",
        params![session, now, json(commit)?],
    )
    .map_err(db)?;
    Ok(())
}

/// The object at (bucket, key) with its manifest, in manifest order.
pub(super) fn get(conn: &Connection, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
    let found = query_first(
        conn,
        &format!("SELECT {OBJECT_RECORD_COLUMNS}, o.id FROM objects o WHERE o.bucket = ?1 AND o.key = ?2"),
        [bucket, key],
        |r| Ok((rows::object(r, bucket, key)?, r.get::<_, String>(OBJECT_RECORD_WIDTH).map_err(db)?)),
    )?;
    let Some((mut object, id)) = found else { return Ok(None) };
    object.manifest = query_all(
        conn,
        &format!("SELECT {MANIFEST_COLUMNS} FROM manifests m WHERE m.object = ?1 ORDER BY m.idx"),
        [id],
        |r| rows::manifest_entry(r, 0),
    )?;
    Ok(Some(object))
}

/// Up to `limit` objects of `bucket` under `prefix` after key `after`, in key (byte) order.
pub(super) fn list(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<ObjectSummary>> {
    // Keys under a prefix sort before prefix + U+10FFFF; bounding the scan keeps it an index range.
    let upper = format!("{prefix}\u{10FFFF}");
    query_all(
        conn,
        &format!(
            "SELECT {SUMMARY_COLUMNS} FROM objects
             WHERE bucket = ?1 AND key >= ?2 AND key > ?3 AND (?2 = '' OR key < ?4)
               AND substr(key, 1, length(?2)) = ?2
             ORDER BY key LIMIT ?5"
        ),
        params![bucket, prefix, after, upper, limit as i64],
        |r| rows::summary(r),
    )
}
