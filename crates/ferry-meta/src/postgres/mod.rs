//! The shared metadata store for scale-out: PostgreSQL, used by any number of stateless ferry
//! nodes at once.
//!
//! Hot paths cost one round trip: recording a part is one call of a PL/pgSQL function (state
//! check, replace, garbage queueing in one server-side transaction), so the front-end's session
//! read plus this call make two round trips per part. Commits, bucket changes and deletes are
//! rare and use ordinary client-side transactions.
//!
//! Concurrency between nodes rests on row locks, not on in-process mutexes:
//! - a part write holds `FOR SHARE` on its session row, so a state change (commit, abort,
//!   expiry) waits for in-flight part writes and part writes after it see the new state;
//! - two writes of one part number serialize on the part row; the loser's blob is queued;
//! - writers of one object key serialize on a transaction-scoped advisory lock of the key, and a
//!   conditional write (`If-None-Match: *`, `If-Match`) checks the key's object under that lock;
//! - migrations run under an advisory lock, so nodes starting together migrate once.
//!
//! The statements are in one module per table family; the server-side functions they call are
//! defined by the migrations in `migrations/`.

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

use async_trait::async_trait;
use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use ferry_core::{
    BlobId, BucketInfo, CommitRecord, Error, MetaStore, Millis, ObjectRecord, ObjectSummary, PartRecord, Result,
    Session, SessionClock, SessionState, WriteCondition,
};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row};

use crate::SessionPage;
use crate::columns::SqlValue;

/// Metadata in a PostgreSQL database shared by every node.
#[derive(Clone)]
pub struct PostgresMetaStore {
    pool: Pool,
    /// Part writes, committed in batches (see [`crate::group`]).
    parts: crate::group::CommitQueue<parts::PutPart>,
}

/// Connections per node: enough for concurrent part writes without crowding a shared server.
const POOL_SIZE: usize = 32;

/// Statement parameters, as the driver takes them.
type Params<'a> = [&'a (dyn ToSql + Sync)];

impl PostgresMetaStore {
    /// Connect to `url` (`postgres://user:password@host:port/dbname`) and apply pending
    /// migrations. Safe to call from several nodes at once.
    pub async fn connect(url: &str) -> Result<Self> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| Error::Meta(format!("invalid PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| Error::Meta(format!("PostgreSQL pool: {e}")))?;
        let store = PostgresMetaStore { pool, parts: Default::default() };
        schema::migrate(&store).await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| Error::Meta(format!("PostgreSQL connection: {e}")))
    }

    /// One statement outside a transaction, prepared once per connection.
    async fn query(&self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client.query(&stmt, params).await.map_err(db)
    }

    async fn query_opt(&self, sql: &str, params: &Params<'_>) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    async fn execute(&self, sql: &str, params: &Params<'_>) -> Result<u64> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client.execute(&stmt, params).await.map_err(db)
    }
}

fn db(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(d) => Error::Meta(format!("PostgreSQL: {}: {}", d.code().code(), d.message())),
        None => Error::Meta(format!("PostgreSQL: {e}")),
    }
}

/// `values` as statement parameters.
fn bind(values: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

crate::rows::impl_columns!(Row, try_get, db);

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // Each value checks the parameter's type itself, as the driver would for the plain type.
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(v) => v.to_sql_checked(ty, out),
            SqlValue::Text(v) => v.to_sql_checked(ty, out),
            SqlValue::Bytes(v) => v.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Each call is one round trip or one transaction; the statements are in the modules named.
#[async_trait]
impl MetaStore for PostgresMetaStore {
    async fn create_bucket(&self, name: &str, now: Millis) -> Result<()> {
        objects::create_bucket(self, name, now).await
    }

    async fn delete_bucket(&self, name: &str, now: Millis) -> Result<()> {
        objects::delete_bucket(self, name, now).await
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<BucketInfo>> {
        objects::get_bucket(self, name).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        objects::list_buckets(self).await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        sessions::create(self, session).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        sessions::get(self, id).await
    }

    async fn list_sessions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        clock: SessionClock,
    ) -> Result<Vec<Session>> {
        sessions::list(self, &SessionPage::new(bucket, prefix, after, limit, clock)).await
    }

    async fn transition(&self, id: &str, from: &[SessionState], to: SessionState, clock: SessionClock) -> Result<bool> {
        sessions::transition(self, id, from, to, clock).await
    }

    async fn expire_session(&self, id: &str, clock: SessionClock) -> Result<bool> {
        sessions::expire_if_stale(self, id, clock).await
    }

    async fn put_part(&self, session: &str, part: &PartRecord, clock: SessionClock) -> Result<()> {
        let request = parts::PutPart { session: session.to_string(), part: part.clone(), clock };
        let store = self.clone();
        self.parts.submit(request, move |batch| parts::put_batch(store.clone(), batch)).await
    }

    async fn list_parts(&self, session: &str, after: Option<u32>, limit: usize) -> Result<Vec<PartRecord>> {
        parts::list(self, session, after, limit).await
    }

    async fn publish_if(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
    ) -> Result<()> {
        objects::publish(self, session, objects, commit, condition, &[]).await
    }

    async fn expire_sessions(&self, now: Millis, idle_before: Millis, closing_before: Millis) -> Result<u64> {
        sessions::expire_stale(self, now, idle_before, closing_before).await
    }

    async fn put_object_if(&self, object: &ObjectRecord, condition: Option<&WriteCondition>) -> Result<()> {
        objects::put(self, object, condition, &[]).await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        objects::get(self, bucket, key).await
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        objects::delete(self, bucket, key, &[]).await
    }

    async fn list_objects(&self, bucket: &str, prefix: &str, after: &str, limit: usize) -> Result<Vec<ObjectSummary>> {
        objects::list(self, bucket, prefix, after, limit).await
    }

    async fn queue_garbage(&self, blobs: &[BlobId], now: Millis) -> Result<()> {
        garbage::queue_all(self, blobs, now).await
    }

    async fn garbage(&self, before: Millis, limit: usize) -> Result<Vec<BlobId>> {
        garbage::collectable(self, before, limit).await
    }

    async fn forget_garbage(&self, blobs: &[BlobId]) -> Result<()> {
        garbage::forget(self, blobs).await
    }

    async fn is_referenced(&self, blob: &BlobId) -> Result<bool> {
        garbage::is_referenced(self, blob).await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool> {
        leases::acquire(self, name, holder, now, ttl).await
    }

    async fn count_sessions(&self) -> Result<Vec<(SessionState, u64)>> {
        sessions::count(self).await
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
