//! The embedded metadata store: one SQLite file in WAL mode with `synchronous=FULL`, so every
//! acknowledged write has been fsynced.
//!
//! Every write runs in one immediate transaction, which takes SQLite's write lock at its start:
//! a check and the write that depends on it (a session's state, an object's ETag) can never be
//! split by another writer. The statements themselves are in one module per table family.

mod events;
mod garbage;
mod keys;
mod leases;
mod lifecycle;
mod objects;
mod parts;
mod schema;
mod scrub;
mod sessions;
#[cfg(test)]
mod tests;
mod uploads;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_core::{
    BlobId, BucketInfo, CommitRecord, Error, MetaStore, Millis, ObjectRecord, ObjectSummary, PartRecord, Result,
    Session, SessionClock, SessionState, WriteCondition,
};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, Params, Row, ToSql, Transaction};

use crate::SessionPage;
use crate::columns::SqlValue;

/// Metadata in one SQLite database file.
#[derive(Clone)]
pub struct SqliteMetaStore {
    conn: Arc<Mutex<Connection>>,
    /// A second connection for the reads of the part path (a session's record, its part list):
    /// in WAL mode they see every committed write without waiting behind a batch's fsync.
    reader: Arc<Mutex<Connection>>,
    /// Part writes, committed in batches (see [`crate::group`]).
    parts: crate::group::CommitQueue<parts::PutPart>,
}

impl SqliteMetaStore {
    /// Open (creating and migrating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut conn = Connection::open(path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        schema::migrate(&mut conn)?;
        let reader = Connection::open(path).map_err(db)?;
        reader.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        Ok(SqliteMetaStore {
            conn: Arc::new(Mutex::new(conn)),
            reader: Arc::new(Mutex::new(reader)),
            parts: Default::default(),
        })
    }

    /// Run `f` with the connection on a blocking thread.
    async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| Error::Meta("connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Meta(format!("metadata task failed: {e}")))?
    }

    /// Run the read `f` on the reader connection, on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let guard = reader.lock().map_err(|_| Error::Meta("connection lock poisoned".into()))?;
            f(&guard)
        })
        .await
        .map_err(|e| Error::Meta(format!("metadata task failed: {e}")))?
    }

    /// Run `f` inside one immediate (write-locking) transaction, committed when it returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let out = f(&tx)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
        .await
    }
}

fn db(e: rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return Error::InsufficientStorage(format!("the metadata database cannot grow: {e}"));
    }
    Error::Meta(e.to_string())
}

/// At most `most` rows `sql` returns, each mapped by `map` (one of [`crate::rows`]).
fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    most: usize,
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    let mut out = Vec::new();
    while out.len() < most
        && let Some(row) = rows.next().map_err(db)?
    {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Every row `sql` returns, each mapped by `map`.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    query_rows(conn, sql, params, usize::MAX, map)
}

/// The first row `sql` returns, if any, mapped by `map`.
fn query_first<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(query_rows(conn, sql, params, 1, map)?.pop())
}

/// Whether `sql` returns any row.
fn exists(conn: &Connection, sql: &str, params: impl Params) -> Result<bool> {
    Ok(query_first(conn, sql, params, |_| Ok(()))?.is_some())
}

crate::rows::impl_columns!(Row<'_>, get, db);

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Int(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            SqlValue::Text(v) => ToSqlOutput::Borrowed(v.as_str().into()),
            SqlValue::Bytes(v) => ToSqlOutput::Borrowed(v.as_slice().into()),
        })
    }
}

/// Each call hands its arguments (owned) to the connection's blocking thread; the statements
/// are in the modules named.
#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn create_bucket(&self, name: &str, now: Millis) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| objects::create_bucket(tx, &name, now)).await
    }

    async fn delete_bucket(&self, name: &str, now: Millis) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| objects::delete_bucket(tx, &name, now)).await
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<BucketInfo>> {
        let name = name.to_string();
        self.with(move |conn| objects::get_bucket(conn, &name)).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.with(|conn| objects::list_buckets(conn)).await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        let session = session.clone();
        self.write(move |tx| sessions::create(tx, &session)).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let id = id.to_string();
        self.read(move |conn| sessions::get(conn, &id)).await
    }

    async fn list_sessions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        clock: SessionClock,
    ) -> Result<Vec<Session>> {
        let page = SessionPage::new(bucket, prefix, after, limit, clock);
        self.with(move |conn| sessions::list(conn, &page)).await
    }

    async fn transition(&self, id: &str, from: &[SessionState], to: SessionState, clock: SessionClock) -> Result<bool> {
        let (id, from) = (id.to_string(), from.to_vec());
        self.write(move |tx| sessions::transition(tx, &id, &from, to, clock)).await
    }

    async fn expire_session(&self, id: &str, clock: SessionClock) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx| sessions::expire_if_stale(tx, &id, clock)).await
    }

    async fn put_part(&self, session: &str, part: &PartRecord, clock: SessionClock) -> Result<()> {
        let request = parts::PutPart { session: session.to_string(), part: part.clone(), clock };
        let store = self.clone();
        self.parts.submit(request, move |batch| parts::put_batch(store.clone(), batch)).await
    }

    async fn list_parts(&self, session: &str, after: Option<u32>, limit: usize) -> Result<Vec<PartRecord>> {
        let session = session.to_string();
        self.read(move |conn| parts::list(conn, &session, after, limit)).await
    }

    async fn publish_if(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
    ) -> Result<()> {
        let (session, objects, commit, condition) =
            (session.to_string(), objects.to_vec(), commit.clone(), condition.cloned());
        self.write(move |tx| objects::publish(tx, &session, &objects, &commit, condition.as_ref())).await
    }

    async fn expire_sessions(&self, now: Millis, idle_before: Millis, closing_before: Millis) -> Result<u64> {
        self.write(move |tx| sessions::expire_stale(tx, now, idle_before, closing_before)).await
    }

    async fn put_object_if(&self, object: &ObjectRecord, condition: Option<&WriteCondition>) -> Result<()> {
        let (object, condition) = (object.clone(), condition.cloned());
        self.write(move |tx| objects::insert(tx, &object, condition.as_ref()).map(|_| ())).await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.with(move |conn| objects::get(conn, &bucket, &key)).await
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.write(move |tx| objects::remove(tx, &bucket, &key, ferry_core::now_millis())).await
    }

    async fn list_objects(&self, bucket: &str, prefix: &str, after: &str, limit: usize) -> Result<Vec<ObjectSummary>> {
        let (bucket, prefix, after) = (bucket.to_string(), prefix.to_string(), after.to_string());
        self.with(move |conn| objects::list(conn, &bucket, &prefix, &after, limit)).await
    }

    async fn queue_garbage(&self, blobs: &[BlobId], now: Millis) -> Result<()> {
        let blobs = blobs.to_vec();
        self.write(move |tx| garbage::queue_all(tx, &blobs, now)).await
    }

    async fn garbage(&self, before: Millis, limit: usize) -> Result<Vec<BlobId>> {
        self.with(move |conn| garbage::collectable(conn, before, limit)).await
    }

    async fn forget_garbage(&self, blobs: &[BlobId]) -> Result<()> {
        let blobs = blobs.to_vec();
        self.write(move |tx| garbage::forget(tx, &blobs)).await
    }

    async fn is_referenced(&self, blob: &BlobId) -> Result<bool> {
        let blob = blob.clone();
        self.with(move |conn| garbage::is_referenced(conn, &blob)).await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |tx| leases::acquire(tx, &name, &holder, now, ttl)).await
    }

    async fn count_sessions(&self) -> Result<Vec<(SessionState, u64)>> {
        self.with(|conn| sessions::count(conn)).await
    }

    async fn sessions_with_parts(&self, after: &str, limit: usize) -> Result<Vec<String>> {
        self.scrub_sessions_with_parts(after, limit).await
    }

    async fn mark_damaged(&self, bucket: &str, key: &str, blob: &BlobId, reason: Option<&str>) -> Result<bool> {
        self.scrub_mark_damaged(bucket, key, blob, reason).await
    }

    async fn object_damage(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        self.scrub_object_damage(bucket, key).await
    }

    async fn count_damaged(&self) -> Result<u64> {
        self.scrub_count_damaged().await
    }
}
