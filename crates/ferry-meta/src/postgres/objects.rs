//! Buckets and objects: created, published from a session's parts, read, listed, removed.
//! Writers of one key serialize on an advisory lock of the key (see the store's notes).

use deadpool_postgres::Transaction;
use ferry_core::events::NewEvent;
use ferry_core::{
    BucketInfo, CommitRecord, Error, Millis, ObjectRecord, ObjectSummary, Result, WriteCondition, random_id,
};

use super::{PostgresMetaStore, bind, db};
use crate::columns::{
    BUCKET_COLUMNS, MANIFEST_COLUMNS, OBJECT_COLUMNS, OBJECT_RECORD_COLUMNS, OBJECT_RECORD_WIDTH, SUMMARY_COLUMNS,
    object_values, placeholders,
};
use crate::{json, rows, to_i64};

pub(super) async fn create_bucket(store: &PostgresMetaStore, name: &str, now: Millis) -> Result<()> {
    let inserted = store
        .execute("INSERT INTO buckets (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&name, &now])
        .await?;
    if inserted == 0 { Err(Error::BucketAlreadyExists) } else { Ok(()) }
}

/// Delete an empty bucket, aborting the uploads still open in it.
pub(super) async fn delete_bucket(store: &PostgresMetaStore, name: &str, now: Millis) -> Result<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db)?;
    if tx.query_opt("SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE", &[&name]).await.map_err(db)?.is_none() {
        return Err(Error::NoSuchBucket);
    }
    if tx.query_opt("SELECT 1 FROM objects WHERE bucket = $1 LIMIT 1", &[&name]).await.map_err(db)?.is_some() {
        return Err(Error::BucketNotEmpty);
    }
    let live = tx
        .query(
            "SELECT id FROM sessions WHERE bucket = $1 AND state IN ('NORMAL', 'UNKNOWN', 'CLOSING') FOR UPDATE",
            &[&name],
        )
        .await
        .map_err(db)?;
    let live: Vec<String> = live.iter().map(|r| r.get(0)).collect();
    tx.execute(
        "INSERT INTO garbage (blob, queued) SELECT blob, $2 FROM parts WHERE session = ANY ($1)
         ON CONFLICT DO NOTHING",
        &[&live, &now],
    )
    .await
    .map_err(db)?;
    tx.execute("DELETE FROM parts WHERE session = ANY ($1)", &[&live]).await.map_err(db)?;
    tx.execute("UPDATE sessions SET state = 'ABORTED', last_activity = $2 WHERE id = ANY ($1)", &[&live, &now])
        .await
        .map_err(db)?;
    tx.execute("DELETE FROM bucket_notifications WHERE bucket = $1", &[&name]).await.map_err(db)?;
    tx.execute("DELETE FROM buckets WHERE name = $1", &[&name]).await.map_err(db)?;
    tx.commit().await.map_err(db)
}

pub(super) async fn get_bucket(store: &PostgresMetaStore, name: &str) -> Result<Option<BucketInfo>> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1");
    store.query_opt(&sql, &[&name]).await?.as_ref().map(rows::bucket).transpose()
}

pub(super) async fn list_buckets(store: &PostgresMetaStore) -> Result<Vec<BucketInfo>> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name");
    store.query(&sql, &[]).await?.iter().map(rows::bucket).collect()
}

/// Serialize writers of one object key across nodes for the rest of the transaction.
pub(super) async fn lock_key(tx: &Transaction<'_>, bucket: &str, key: &str) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))", &[&bucket, &key])
        .await
        .map_err(db)?;
    Ok(())
}

/// Remove the object at (bucket, key), queueing its blobs. Returns whether one existed.
async fn remove(tx: &Transaction<'_>, bucket: &str, key: &str, now: Millis) -> Result<bool> {
    remove_if_older(tx, bucket, key, None, now).await
}

/// Delete the object at (bucket, key), if it was last modified before `modified_before` (when
/// given), and queue its blobs as garbage. The caller holds the key lock.
pub(super) async fn remove_if_older(
    tx: &Transaction<'_>,
    bucket: &str,
    key: &str,
    modified_before: Option<Millis>,
    now: Millis,
) -> Result<bool> {
    let Some(row) = tx
        .query_opt(
            "DELETE FROM objects WHERE bucket = $1 AND key = $2 AND ($3::BIGINT IS NULL OR modified < $3) RETURNING id",
            &[&bucket, &key, &modified_before],
        )
        .await
        .map_err(db)?
    else {
        return Ok(false);
    };
    let id: String = row.get(0);
    tx.execute(
        "WITH gone AS (DELETE FROM manifests WHERE object = $1 RETURNING blob)
         INSERT INTO garbage (blob, queued) SELECT blob, $2 FROM gone ON CONFLICT DO NOTHING",
        &[&id, &now],
    )
    .await
    .map_err(db)?;
    Ok(true)
}

/// Insert `object`, replacing any object at its key, if `condition` holds for the object now
/// there. Returns the new object's row id. The caller holds the key lock, so every other writer
/// of the key (on any node) waits until this transaction ends, and this statement's snapshot,
/// taken after the lock was granted, sees the last writer's commit.
async fn insert(tx: &Transaction<'_>, object: &ObjectRecord, condition: Option<&WriteCondition>) -> Result<String> {
    let bucket =
        tx.query_opt("SELECT 1 FROM buckets WHERE name = $1 FOR SHARE", &[&object.bucket]).await.map_err(db)?;
    if bucket.is_none() {
        return Err(Error::NoSuchBucket);
    }
    if let Some(condition) = condition {
        let current = tx
            .query_opt("SELECT etag FROM objects WHERE bucket = $1 AND key = $2", &[&object.bucket, &object.key])
            .await
            .map_err(db)?
            .map(|r| r.get::<_, String>(0));
        condition.check(current.as_deref())?;
    }
    remove(tx, &object.bucket, &object.key, object.modified).await?;
    let id = random_id();
    let values = object_values(object, &id)?;
    let sql = format!("INSERT INTO objects ({OBJECT_COLUMNS}) VALUES ({})", placeholders('$', values.len()));
    tx.execute(&sql, &bind(&values)).await.map_err(db)?;
    // The whole manifest in one statement, however many parts it has.
    let idx: Vec<i64> = (0..object.manifest.len() as i64).collect();
    let blobs: Vec<&str> = object.manifest.iter().map(|e| e.blob.0.as_str()).collect();
    let offsets: Vec<i64> = object.manifest.iter().map(|e| to_i64(e.offset)).collect();
    let sizes: Vec<i64> = object.manifest.iter().map(|e| to_i64(e.size)).collect();
    tx.execute(
        r#"INSERT INTO manifests (object, idx, blob, "offset", size)
           SELECT $1, * FROM unnest($2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[])"#,
        &[&id, &idx, &blobs, &offsets, &sizes],
    )
    .await
    .map_err(db)?;
    Ok(id)
}

/// Publish `objects` from the parts of `session` (which must be Closing) and close it, all or
/// nothing; parts no manifest references become garbage.
pub(super) async fn publish(
    store: &PostgresMetaStore,
    session: &str,
    objects: &[ObjectRecord],
    commit: &CommitRecord,
    condition: Option<&WriteCondition>,
    events: &[NewEvent],
) -> Result<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db)?;
    publish_in(&tx, session, objects, commit, condition, events).await?;
    tx.commit().await.map_err(db)
}

/// [`publish`] inside the caller's transaction (which commits it).
pub(super) async fn publish_in(
    tx: &Transaction<'_>,
    session: &str,
    objects: &[ObjectRecord],
    commit: &CommitRecord,
    condition: Option<&WriteCondition>,
    events: &[NewEvent],
) -> Result<()> {
    let state = tx
        .query_opt("SELECT state FROM sessions WHERE id = $1 FOR UPDATE", &[&session])
        .await
        .map_err(db)?
        .map(|r| r.get::<_, String>(0));
    if state.as_deref() != Some("CLOSING") {
        return Err(Error::NoSuchUpload);
    }
    // Key locks in one global order, so two commits sharing keys cannot deadlock.
    let mut keys: Vec<(&str, &str)> = objects.iter().map(|o| (o.bucket.as_str(), o.key.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    for (bucket, key) in keys {
        lock_key(tx, bucket, key).await?;
    }
    let mut ids = Vec::with_capacity(objects.len());
    for object in objects {
        // A refused condition drops the transaction: nothing is published.
        let object_id = insert(tx, object, condition).await?;
        let stale: i64 = tx
            .query_one(
                // One index probe per manifest entry (parts_by_blob), not the session's whole
                // part list per object: a commit of thousands of Tunnel blocks stays linear.
                "SELECT count(*) FROM manifests m WHERE m.object = $1
                   AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.blob = m.blob AND p.session = $2)",
                &[&object_id, &session],
            )
            .await
            .map_err(db)?
            .get(0);
        if stale > 0 {
            return Err(Error::NoSuchUpload); // dropping the transaction rolls it back
        }
        ids.push(object_id);
    }
    let now = objects.first().map_or_else(ferry_core::now_millis, |o| o.modified);
    tx.execute(
        "INSERT INTO garbage (blob, queued)
         SELECT blob, $3 FROM parts WHERE session = $1
           AND blob NOT IN (SELECT blob FROM manifests WHERE object = ANY ($2))
         ON CONFLICT DO NOTHING",
        &[&session, &ids, &now],
    )
    .await
    .map_err(db)?;
    tx.execute("DELETE FROM parts WHERE session = $1", &[&session]).await.map_err(db)?;
    tx.execute(
        "UPDATE sessions SET state = 'CLOSED', last_activity = $2, commit_record = $3 WHERE id = $1",
        &[&session, &now, &json(commit)?],
    )
    .await
    .map_err(db)?;
    super::events::enqueue(tx, events).await
}

/// A single-shot object write, under its key's lock.
pub(super) async fn put(
    store: &PostgresMetaStore,
    object: &ObjectRecord,
    condition: Option<&WriteCondition>,
    events: &[NewEvent],
) -> Result<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db)?;
    lock_key(&tx, &object.bucket, &object.key).await?;
    insert(&tx, object, condition).await?;
    super::events::enqueue(&tx, events).await?;
    tx.commit().await.map_err(db)
}

/// The object at (bucket, key) with its manifest, in manifest order: one round trip.
pub(super) async fn get(store: &PostgresMetaStore, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
    let sql = format!(
        "SELECT {OBJECT_RECORD_COLUMNS}, {MANIFEST_COLUMNS}
         FROM objects o LEFT JOIN manifests m ON m.object = o.id
         WHERE o.bucket = $1 AND o.key = $2 ORDER BY m.idx"
    );
    let rows = store.query(&sql, &[&bucket, &key]).await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let mut object = rows::object(first, bucket, key)?;
    for r in &rows {
        // An object without a manifest entry (LEFT JOIN) has one row with NULL manifest columns.
        if r.try_get::<_, Option<&str>>(OBJECT_RECORD_WIDTH).map_err(db)?.is_some() {
            object.manifest.push(rows::manifest_entry(r, OBJECT_RECORD_WIDTH)?);
        }
    }
    Ok(Some(object))
}

/// Delete the object at (bucket, key) under its key's lock, queueing `events` with it when
/// there was one.
pub(super) async fn delete(store: &PostgresMetaStore, bucket: &str, key: &str, events: &[NewEvent]) -> Result<bool> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db)?;
    lock_key(&tx, bucket, key).await?;
    let existed = remove(&tx, bucket, key, ferry_core::now_millis()).await?;
    if existed {
        super::events::enqueue(&tx, events).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(existed)
}

/// Up to `limit` objects of `bucket` under `prefix` after key `after`, in key (byte) order.
pub(super) async fn list(
    store: &PostgresMetaStore,
    bucket: &str,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<ObjectSummary>> {
    if prefix.contains('\0') || after.contains('\0') {
        return Ok(Vec::new());
    }
    // Keys under a prefix sort before prefix + U+10FFFF; bounding the scan keeps it an index range.
    let upper = format!("{prefix}\u{10FFFF}");
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM objects
         WHERE bucket = $1 AND key >= $2 AND key > $3 AND ($2 = '' OR key < $5) AND starts_with(key, $2)
         ORDER BY key LIMIT $4"
    );
    store.query(&sql, &[&bucket, &prefix, &after, &(limit as i64), &upper]).await?.iter().map(rows::summary).collect()
}
