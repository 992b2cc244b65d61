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

use crate::{json, target_columns, target_from_columns, to_i64};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use ferry_core::{
    BlobId, BucketInfo, CommitRecord, Digests, Error, ManifestEntry, MetaStore, Millis, ObjectRecord, ObjectSummary,
    PartRecord, Result, Session, SessionClock, SessionState, WriteCondition, random_id,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

/// Any value that identifies ferry's migration lock among other applications' advisory locks.
const MIGRATION_LOCK: i64 = 0x6665_7272_795f_6d69; // "ferry_mi"

/// Schema migrations, applied in order; `ferry_schema.version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE buckets (
    name    TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL
);
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    bucket        TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    state         TEXT NOT NULL,
    created       BIGINT NOT NULL,
    last_activity BIGINT NOT NULL,
    expires       BIGINT NOT NULL,
    meta          TEXT NOT NULL,
    checksum      TEXT,
    commit_record TEXT
);
CREATE INDEX sessions_by_key ON sessions (bucket, key, created, id);
CREATE INDEX sessions_by_state ON sessions (state, expires);
CREATE TABLE parts (
    session   TEXT NOT NULL,
    number    BIGINT NOT NULL,
    blob      TEXT NOT NULL,
    size      BIGINT NOT NULL,
    md5       BYTEA NOT NULL,
    crc32     BIGINT NOT NULL,
    crc32c    BIGINT NOT NULL,
    crc64nvme BIGINT NOT NULL,
    crc64xz   BIGINT NOT NULL,
    sha1      BYTEA,
    sha256    BYTEA,
    modified  BIGINT NOT NULL,
    PRIMARY KEY (session, number)
);
CREATE INDEX parts_by_blob ON parts (blob);
CREATE TABLE objects (
    bucket   TEXT COLLATE "C" NOT NULL,
    key      TEXT COLLATE "C" NOT NULL,
    id       TEXT NOT NULL UNIQUE,
    size     BIGINT NOT NULL,
    etag     TEXT NOT NULL,
    modified BIGINT NOT NULL,
    meta     TEXT NOT NULL,
    checksum TEXT,
    crc      TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE manifests (
    object TEXT NOT NULL,
    idx    BIGINT NOT NULL,
    blob   TEXT NOT NULL,
    "offset" BIGINT NOT NULL,
    size   BIGINT NOT NULL,
    PRIMARY KEY (object, idx)
);
CREATE INDEX manifests_by_blob ON manifests (blob);
CREATE TABLE garbage (
    blob   TEXT PRIMARY KEY,
    queued BIGINT NOT NULL
);
CREATE INDEX garbage_by_age ON garbage (queued);
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);

-- One round trip per part. Each statement of a PL/pgSQL function takes a fresh snapshot, so
-- the loop sees a row inserted by a concurrent writer of the same part number and replaces it.
-- Returns 'ok', 'busy' (a commit is running) or 'missing' (no such live session).
CREATE FUNCTION ferry_put_part(
    p_session TEXT, p_number BIGINT, p_blob TEXT, p_size BIGINT, p_md5 BYTEA, p_crc32 BIGINT,
    p_crc32c BIGINT, p_crc64nvme BIGINT, p_crc64xz BIGINT, p_sha1 BYTEA, p_sha256 BYTEA, p_modified BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    st TEXT;
    old TEXT;
BEGIN
    SELECT state INTO st FROM sessions WHERE id = p_session FOR SHARE;
    IF st IS NULL OR st NOT IN ('NORMAL', 'CLOSING') THEN
        RETURN 'missing';
    ELSIF st = 'CLOSING' THEN
        RETURN 'busy';
    END IF;
    LOOP
        SELECT blob INTO old FROM parts WHERE session = p_session AND number = p_number FOR UPDATE;
        IF FOUND THEN
            UPDATE parts SET blob = p_blob, size = p_size, md5 = p_md5, crc32 = p_crc32, crc32c = p_crc32c,
                crc64nvme = p_crc64nvme, crc64xz = p_crc64xz, sha1 = p_sha1, sha256 = p_sha256,
                modified = p_modified
            WHERE session = p_session AND number = p_number;
            INSERT INTO garbage (blob, queued) VALUES (old, p_modified) ON CONFLICT DO NOTHING;
            RETURN 'ok';
        END IF;
        INSERT INTO parts (session, number, blob, size, md5, crc32, crc32c, crc64nvme, crc64xz, sha1, sha256, modified)
        VALUES (p_session, p_number, p_blob, p_size, p_md5, p_crc32, p_crc32c, p_crc64nvme, p_crc64xz, p_sha1,
                p_sha256, p_modified)
        ON CONFLICT (session, number) DO NOTHING;
        IF FOUND THEN
            RETURN 'ok';
        END IF;
    END LOOP;
END $$;

-- Move a session between states (compare-and-set). Leaving for ABORTED or EXPIRED discards its
-- parts; that happens in statements after the UPDATE, whose snapshots include any part write
-- the UPDATE waited for.
CREATE FUNCTION ferry_transition(p_id TEXT, p_from TEXT[], p_to TEXT, p_now BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions SET state = p_to, last_activity = p_now WHERE id = p_id AND state = ANY (p_from);
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    IF p_to IN ('ABORTED', 'EXPIRED') THEN
        INSERT INTO garbage (blob, queued) SELECT blob, p_now FROM parts WHERE session = p_id
            ON CONFLICT DO NOTHING;
        DELETE FROM parts WHERE session = p_id;
    END IF;
    RETURN TRUE;
END $$;

-- Expire stale sessions and reopen stalled commits. A session's last activity is the later of
-- its own and its newest part's, so part writes need not update (and lock) the session row.
-- Sessions another node is working on (row locked) are skipped, not waited for.
CREATE FUNCTION ferry_expire(p_now BIGINT, p_idle_before BIGINT, p_closing_before BIGINT)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    stale TEXT[];
BEGIN
    SELECT array_agg(id) INTO stale FROM (
        SELECT id FROM sessions s
        WHERE state IN ('NORMAL', 'UNKNOWN')
          AND (expires <= p_now OR (last_activity <= p_idle_before AND NOT EXISTS (
                SELECT 1 FROM parts p WHERE p.session = s.id AND p.modified > p_idle_before)))
        FOR UPDATE SKIP LOCKED
    ) candidates;
    IF stale IS NOT NULL THEN
        UPDATE sessions SET state = 'EXPIRED' WHERE id = ANY (stale);
        INSERT INTO garbage (blob, queued) SELECT blob, p_now FROM parts WHERE session = ANY (stale)
            ON CONFLICT DO NOTHING;
        DELETE FROM parts WHERE session = ANY (stale);
    END IF;
    UPDATE sessions SET state = 'NORMAL' WHERE state = 'CLOSING' AND last_activity <= p_closing_before;
    RETURN coalesce(cardinality(stale), 0);
END $$;
"#,
    // Sessions get a real target in columns of its own (see the SQLite store's note), and every
    // operation on a session judges its lifetime and idle time against the caller's clock,
    // inside its own transaction, whatever the sweeper has done yet.
    r#"
ALTER TABLE sessions
    ADD COLUMN target_kind TEXT NOT NULL DEFAULT 'object',
    ADD COLUMN target_project TEXT,
    ADD COLUMN target_table TEXT,
    ADD COLUMN target_partition TEXT;
UPDATE sessions SET
    target_kind = 'table',
    target_project = (meta::jsonb #>> '{user,0,1}')::jsonb ->> 'project',
    target_table = (meta::jsonb #>> '{user,0,1}')::jsonb ->> 'table',
    target_partition = meta::jsonb #>> '{user,1,1}',
    bucket = '',
    key = ''
WHERE meta::jsonb #>> '{user,0,0}' = 'ferry-table' AND meta::jsonb #>> '{user,1,0}' = 'ferry-partition';

-- Whether a live session's time is up: lifetime over, or no activity since p_idle_before (its
-- own or its newest part's; part writes do not touch the session row).
CREATE FUNCTION ferry_session_stale(p_id TEXT, p_expires BIGINT, p_last BIGINT, p_now BIGINT, p_idle_before BIGINT)
RETURNS BOOLEAN LANGUAGE sql STABLE AS $$
    SELECT p_expires <= p_now OR (p_last <= p_idle_before AND NOT EXISTS (
        SELECT 1 FROM parts WHERE session = p_id AND modified > p_idle_before))
$$;

-- Expire one session if it is live and stale, under its row lock. Returns whether it did.
CREATE FUNCTION ferry_expire_one(p_id TEXT, p_now BIGINT, p_idle_before BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    st TEXT;
    ex BIGINT;
    la BIGINT;
BEGIN
    SELECT state, expires, last_activity INTO st, ex, la FROM sessions WHERE id = p_id FOR UPDATE;
    IF st IS NULL OR st NOT IN ('NORMAL', 'UNKNOWN') OR NOT ferry_session_stale(p_id, ex, la, p_now, p_idle_before) THEN
        RETURN FALSE;
    END IF;
    UPDATE sessions SET state = 'EXPIRED' WHERE id = p_id;
    INSERT INTO garbage (blob, queued) SELECT blob, p_now FROM parts WHERE session = p_id ON CONFLICT DO NOTHING;
    DELETE FROM parts WHERE session = p_id;
    RETURN TRUE;
END $$;

-- A transition out of a live state first expires a stale session (and then fails).
DROP FUNCTION ferry_transition(TEXT, TEXT[], TEXT, BIGINT);
CREATE FUNCTION ferry_transition(p_id TEXT, p_from TEXT[], p_to TEXT, p_now BIGINT, p_idle_before BIGINT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    IF p_from && ARRAY['NORMAL', 'UNKNOWN']::TEXT[] AND ferry_expire_one(p_id, p_now, p_idle_before) THEN
        RETURN FALSE;
    END IF;
    UPDATE sessions SET state = p_to, last_activity = p_now WHERE id = p_id AND state = ANY (p_from);
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    IF p_to IN ('ABORTED', 'EXPIRED') THEN
        INSERT INTO garbage (blob, queued) SELECT blob, p_now FROM parts WHERE session = p_id
            ON CONFLICT DO NOTHING;
        DELETE FROM parts WHERE session = p_id;
    END IF;
    RETURN TRUE;
END $$;

-- As before, and 'stale' for a session whose time is up: the caller expires it (under the row
-- lock, which a part write holding FOR SHARE must not take itself) and refuses the part.
DROP FUNCTION ferry_put_part(TEXT, BIGINT, TEXT, BIGINT, BYTEA, BIGINT, BIGINT, BIGINT, BIGINT, BYTEA, BYTEA, BIGINT);
CREATE FUNCTION ferry_put_part(
    p_session TEXT, p_number BIGINT, p_blob TEXT, p_size BIGINT, p_md5 BYTEA, p_crc32 BIGINT,
    p_crc32c BIGINT, p_crc64nvme BIGINT, p_crc64xz BIGINT, p_sha1 BYTEA, p_sha256 BYTEA, p_modified BIGINT,
    p_now BIGINT, p_idle_before BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    st TEXT;
    ex BIGINT;
    la BIGINT;
    old TEXT;
BEGIN
    SELECT state, expires, last_activity INTO st, ex, la FROM sessions WHERE id = p_session FOR SHARE;
    IF st IS NULL OR st NOT IN ('NORMAL', 'CLOSING') THEN
        RETURN 'missing';
    ELSIF st = 'CLOSING' THEN
        RETURN 'busy';
    ELSIF ferry_session_stale(p_session, ex, la, p_now, p_idle_before) THEN
        RETURN 'stale';
    END IF;
    LOOP
        SELECT blob INTO old FROM parts WHERE session = p_session AND number = p_number FOR UPDATE;
        IF FOUND THEN
            UPDATE parts SET blob = p_blob, size = p_size, md5 = p_md5, crc32 = p_crc32, crc32c = p_crc32c,
                crc64nvme = p_crc64nvme, crc64xz = p_crc64xz, sha1 = p_sha1, sha256 = p_sha256,
                modified = p_modified
            WHERE session = p_session AND number = p_number;
            INSERT INTO garbage (blob, queued) VALUES (old, p_modified) ON CONFLICT DO NOTHING;
            RETURN 'ok';
        END IF;
        INSERT INTO parts (session, number, blob, size, md5, crc32, crc32c, crc64nvme, crc64xz, sha1, sha256, modified)
        VALUES (p_session, p_number, p_blob, p_size, p_md5, p_crc32, p_crc32c, p_crc64nvme, p_crc64xz, p_sha1,
                p_sha256, p_modified)
        ON CONFLICT (session, number) DO NOTHING;
        IF FOUND THEN
            RETURN 'ok';
        END IF;
    END LOOP;
END $$;
"#,
    // Part numbers are kept as each protocol sends them (see the SQLite store's note).
    r#"
ALTER TABLE sessions ADD COLUMN legacy_numbering BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE sessions SET legacy_numbering = TRUE;
"#,
];

/// Metadata in a PostgreSQL database shared by every node.
#[derive(Clone)]
pub struct PostgresMetaStore {
    pool: Pool,
}

/// Connections per node: enough for concurrent part writes without crowding a shared server.
const POOL_SIZE: usize = 32;

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
        let store = PostgresMetaStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    #[cfg(test)]
    async fn connect_owned(url: String) -> Result<Self> {
        Self::connect(&url).await
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| Error::Meta(format!("PostgreSQL connection: {e}")))
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // Held until commit: a second node starting now waits here, then finds nothing to do.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS ferry_schema (version BIGINT NOT NULL)").await.map_err(db)?;
        let version: i64 =
            tx.query_opt("SELECT version FROM ferry_schema", &[]).await.map_err(db)?.map(|r| r.get(0)).unwrap_or(0);
        if version as usize > MIGRATIONS.len() {
            return Err(Error::Meta(format!(
                "the database schema is version {version}, newer than this ferry understands ({}); upgrade ferry",
                MIGRATIONS.len()
            )));
        }
        for sql in &MIGRATIONS[version as usize..] {
            tx.batch_execute(sql).await.map_err(db)?;
        }
        tx.execute("DELETE FROM ferry_schema", &[]).await.map_err(db)?;
        tx.execute("INSERT INTO ferry_schema (version) VALUES ($1)", &[&(MIGRATIONS.len() as i64)])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// One statement outside a transaction, prepared once per connection.
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client.query(&stmt, params).await.map_err(db)
    }

    async fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
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

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Meta(format!("stored record is unreadable: {e}")))
}

fn fixed<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::Meta("stored digest has the wrong length".into()))
}

const SESSION_COLUMNS: &str = "id, bucket, key, state, created, last_activity, expires, meta, checksum, commit_record, \
     target_kind, target_project, target_table, target_partition, legacy_numbering";

fn session_from_row(row: &Row) -> Result<Session> {
    let state: String = row.get(3);
    let checksum: Option<String> = row.get(8);
    let commit: Option<String> = row.get(9);
    let kind: String = row.get(10);
    let target = target_from_columns(&kind, row.get(1), row.get(2), row.get(11), row.get(12), row.get(13))
        .map_err(Error::Meta)?;
    Ok(Session {
        id: row.get(0),
        target,
        state: SessionState::parse(&state).unwrap_or(SessionState::Critical),
        created: row.get(4),
        last_activity: row.get(5),
        expires: row.get(6),
        meta: from_json(row.get(7))?,
        checksum: checksum.as_deref().map(from_json).transpose()?,
        commit: commit.as_deref().map(from_json).transpose()?,
        legacy_numbering: row.get(14),
        part_shift: 0,
    })
}

const PART_COLUMNS: &str = "number, blob, size, md5, crc32, crc32c, crc64nvme, crc64xz, sha1, sha256, modified";

fn part_from_row(row: &Row) -> Result<PartRecord> {
    let sha1: Option<Vec<u8>> = row.get(8);
    let sha256: Option<Vec<u8>> = row.get(9);
    Ok(PartRecord {
        number: row.get::<_, i64>(0) as u32,
        blob: BlobId(row.get(1)),
        size: row.get::<_, i64>(2) as u64,
        digests: Digests {
            md5: fixed(row.get(3))?,
            crc32: row.get::<_, i64>(4) as u32,
            crc32c: row.get::<_, i64>(5) as u32,
            crc64nvme: row.get::<_, i64>(6) as u64,
            crc64xz: row.get::<_, i64>(7) as u64,
            sha1: sha1.map(fixed).transpose()?,
            sha256: sha256.map(fixed).transpose()?,
        },
        modified: row.get(10),
    })
}

/// Serialize writers of one object key across nodes for the rest of the transaction.
async fn lock_key(tx: &Transaction<'_>, bucket: &str, key: &str) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))", &[&bucket, &key])
        .await
        .map_err(db)?;
    Ok(())
}

/// Remove the object at (bucket, key), queueing its blobs. Returns whether one existed.
async fn remove_object(tx: &Transaction<'_>, bucket: &str, key: &str, now: Millis) -> Result<bool> {
    let Some(row) = tx
        .query_opt("DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING id", &[&bucket, &key])
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
async fn insert_object(
    tx: &Transaction<'_>,
    object: &ObjectRecord,
    condition: Option<&WriteCondition>,
) -> Result<String> {
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
    remove_object(tx, &object.bucket, &object.key, object.modified).await?;
    let id = random_id();
    tx.execute(
        "INSERT INTO objects (bucket, key, id, size, etag, modified, meta, checksum, crc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &object.bucket,
            &object.key,
            &id,
            &to_i64(object.size),
            &object.etag,
            &object.modified,
            &json(&object.meta)?,
            &object.checksum.as_ref().map(json).transpose()?,
            &json(&object.crc)?,
        ],
    )
    .await
    .map_err(db)?;
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

#[async_trait]
impl MetaStore for PostgresMetaStore {
    async fn create_bucket(&self, name: &str, now: Millis) -> Result<()> {
        let inserted = self
            .execute("INSERT INTO buckets (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&name, &now])
            .await?;
        if inserted == 0 { Err(Error::BucketAlreadyExists) } else { Ok(()) }
    }

    async fn delete_bucket(&self, name: &str, now: Millis) -> Result<()> {
        let mut client = self.client().await?;
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
        tx.execute("DELETE FROM buckets WHERE name = $1", &[&name]).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<BucketInfo>> {
        Ok(self
            .query_opt("SELECT name, created FROM buckets WHERE name = $1", &[&name])
            .await?
            .map(|r| BucketInfo { name: r.get(0), created: r.get(1) }))
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let rows = self.query("SELECT name, created FROM buckets ORDER BY name", &[]).await?;
        Ok(rows.iter().map(|r| BucketInfo { name: r.get(0), created: r.get(1) }).collect())
    }

    async fn create_session(&self, s: &Session) -> Result<()> {
        let t = target_columns(&s.target);
        // A table target needs no bucket.
        let inserted = self
            .execute(
                &format!(
                    "INSERT INTO sessions ({SESSION_COLUMNS})
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
                     WHERE $11 = 'table' OR EXISTS (SELECT 1 FROM buckets WHERE name = $2)"
                ),
                &[
                    &s.id,
                    &t.bucket,
                    &t.key,
                    &s.state.as_str(),
                    &s.created,
                    &s.last_activity,
                    &s.expires,
                    &json(&s.meta)?,
                    &s.checksum.as_ref().map(json).transpose()?,
                    &s.commit.as_ref().map(json).transpose()?,
                    &t.kind,
                    &t.project,
                    &t.table,
                    &t.partition,
                    &s.legacy_numbering,
                ],
            )
            .await?;
        if inserted == 0 { Err(Error::NoSuchBucket) } else { Ok(()) }
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        self.query_opt(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"), &[&id])
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn list_sessions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        clock: SessionClock,
    ) -> Result<Vec<Session>> {
        if prefix.contains('\0') {
            return Ok(Vec::new()); // no key holds NUL, and PostgreSQL text cannot
        }
        let (after_key, after_id) = after.unwrap_or_default();
        let rows = self
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE bucket = $1 AND state = 'NORMAL' AND starts_with(key, $2)
                       AND (NOT $3 OR key > $4
                            OR (key = $4 AND (created, id) > (SELECT m.created, m.id FROM sessions m WHERE m.id = $5)))
                       AND target_kind = 'object' AND NOT ferry_session_stale(id, expires, last_activity, $7, $8)
                     ORDER BY key, created, id LIMIT $6"
                ),
                &[
                    &bucket,
                    &prefix,
                    &after.is_some(),
                    &after_key,
                    &after_id,
                    &(limit as i64),
                    &clock.now,
                    &clock.idle_before,
                ],
            )
            .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn transition(&self, id: &str, from: &[SessionState], to: SessionState, clock: SessionClock) -> Result<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let row = self
            .query_opt(
                "SELECT ferry_transition($1, $2, $3, $4, $5)",
                &[&id, &from, &to.as_str(), &clock.now, &clock.idle_before],
            )
            .await?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    async fn expire_session(&self, id: &str, clock: SessionClock) -> Result<bool> {
        let row = self.query_opt("SELECT ferry_expire_one($1, $2, $3)", &[&id, &clock.now, &clock.idle_before]).await?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    async fn put_part(&self, session: &str, p: &PartRecord, clock: SessionClock) -> Result<()> {
        let d = &p.digests;
        let row = self
            .query_opt(
                "SELECT ferry_put_part($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &session,
                    &i64::from(p.number),
                    &p.blob.0,
                    &to_i64(p.size),
                    &d.md5.as_slice(),
                    &i64::from(d.crc32),
                    &i64::from(d.crc32c),
                    &to_i64(d.crc64nvme),
                    &to_i64(d.crc64xz),
                    &d.sha1.as_ref().map(|v| v.as_slice()),
                    &d.sha256.as_ref().map(|v| v.as_slice()),
                    &p.modified,
                    &clock.now,
                    &clock.idle_before,
                ],
            )
            .await?;
        match row.as_ref().map(|r| r.get::<_, &str>(0)) {
            Some("ok") => Ok(()),
            Some("busy") => Err(Error::Busy),
            Some("stale") => {
                self.expire_session(session, clock).await?;
                Err(Error::NoSuchUpload)
            }
            _ => Err(Error::NoSuchUpload),
        }
    }

    async fn list_parts(&self, session: &str, after: Option<u32>, limit: usize) -> Result<Vec<PartRecord>> {
        let after = after.map(i64::from).unwrap_or(-1);
        let rows = self
            .query(
                &format!(
                    "SELECT {PART_COLUMNS} FROM parts WHERE session = $1 AND number > $2 ORDER BY number LIMIT $3"
                ),
                &[&session, &after, &(limit as i64)],
            )
            .await?;
        rows.iter().map(part_from_row).collect()
    }

    async fn publish_if(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
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
            lock_key(&tx, bucket, key).await?;
        }
        let mut ids = Vec::with_capacity(objects.len());
        for object in objects {
            // A refused condition drops the transaction: nothing is published.
            let object_id = insert_object(&tx, object, condition).await?;
            let stale: i64 = tx
                .query_one(
                    "SELECT count(*) FROM manifests WHERE object = $1
                       AND blob NOT IN (SELECT blob FROM parts WHERE session = $2)",
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
        tx.commit().await.map_err(db)
    }

    async fn expire_sessions(&self, now: Millis, idle_before: Millis, closing_before: Millis) -> Result<u64> {
        let row = self.query_opt("SELECT ferry_expire($1, $2, $3)", &[&now, &idle_before, &closing_before]).await?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    async fn put_object_if(&self, object: &ObjectRecord, condition: Option<&WriteCondition>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        lock_key(&tx, &object.bucket, &object.key).await?;
        insert_object(&tx, object, condition).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        // One round trip: the object row and its manifest, in manifest order.
        let rows = self
            .query(
                r#"SELECT o.size, o.etag, o.modified, o.meta, o.checksum, o.crc, m.blob, m."offset", m.size
                   FROM objects o LEFT JOIN manifests m ON m.object = o.id
                   WHERE o.bucket = $1 AND o.key = $2 ORDER BY m.idx"#,
                &[&bucket, &key],
            )
            .await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let checksum: Option<String> = first.get(4);
        let mut object = ObjectRecord {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: first.get::<_, i64>(0) as u64,
            etag: first.get(1),
            modified: first.get(2),
            meta: from_json(first.get(3))?,
            checksum: checksum.as_deref().map(from_json).transpose()?,
            crc: from_json(first.get(5))?,
            manifest: Vec::with_capacity(rows.len()),
        };
        for r in &rows {
            if let Some(blob) = r.get::<_, Option<String>>(6) {
                object.manifest.push(ManifestEntry {
                    blob: BlobId(blob),
                    offset: r.get::<_, i64>(7) as u64,
                    size: r.get::<_, i64>(8) as u64,
                });
            }
        }
        Ok(Some(object))
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        lock_key(&tx, bucket, key).await?;
        let existed = remove_object(&tx, bucket, key, ferry_core::now_millis()).await?;
        tx.commit().await.map_err(db)?;
        Ok(existed)
    }

    async fn list_objects(&self, bucket: &str, prefix: &str, after: &str, limit: usize) -> Result<Vec<ObjectSummary>> {
        if prefix.contains('\0') || after.contains('\0') {
            return Ok(Vec::new());
        }
        // Keys under a prefix sort before prefix + U+10FFFF; bounding the scan keeps it an index range.
        let upper = format!("{prefix}\u{10FFFF}");
        let rows = self
            .query(
                "SELECT key, size, etag, modified FROM objects
                 WHERE bucket = $1 AND key >= $2 AND key > $3 AND ($2 = '' OR key < $5) AND starts_with(key, $2)
                 ORDER BY key LIMIT $4",
                &[&bucket, &prefix, &after, &(limit as i64), &upper],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ObjectSummary {
                key: r.get(0),
                size: r.get::<_, i64>(1) as u64,
                etag: r.get(2),
                modified: r.get(3),
            })
            .collect())
    }

    async fn queue_garbage(&self, blobs: &[BlobId], now: Millis) -> Result<()> {
        let ids: Vec<&str> = blobs.iter().map(|b| b.0.as_str()).collect();
        self.execute(
            "INSERT INTO garbage (blob, queued) SELECT unnest($1::TEXT[]), $2 ON CONFLICT DO NOTHING",
            &[&ids, &now],
        )
        .await?;
        Ok(())
    }

    async fn garbage(&self, before: Millis, limit: usize) -> Result<Vec<BlobId>> {
        // A blob referenced again (should never happen) is skipped rather than deleted.
        let rows = self
            .query(
                "SELECT blob FROM garbage g WHERE queued <= $1
                   AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.blob = g.blob)
                   AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.blob = g.blob)
                 ORDER BY queued LIMIT $2",
                &[&before, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(|r| BlobId(r.get(0))).collect())
    }

    async fn forget_garbage(&self, blobs: &[BlobId]) -> Result<()> {
        let ids: Vec<&str> = blobs.iter().map(|b| b.0.as_str()).collect();
        self.execute("DELETE FROM garbage WHERE blob = ANY ($1)", &[&ids]).await?;
        Ok(())
    }

    async fn is_referenced(&self, blob: &BlobId) -> Result<bool> {
        let row = self
            .query_opt(
                "SELECT EXISTS (SELECT 1 FROM parts WHERE blob = $1) OR EXISTS (SELECT 1 FROM manifests WHERE blob = $1)",
                &[&blob.0],
            )
            .await?;
        Ok(row.is_some_and(|r| r.get(0)))
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool> {
        let changed = self
            .execute(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                 WHERE leases.holder = excluded.holder OR leases.until <= $4",
                &[&name, &holder, &(now + ttl), &now],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn count_sessions(&self) -> Result<Vec<(SessionState, u64)>> {
        let rows = self.query("SELECT state, count(*) FROM sessions GROUP BY state", &[]).await?;
        Ok(rows.iter().filter_map(|r| Some((SessionState::parse(r.get(0))?, r.get::<_, i64>(1) as u64))).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ferry_conformance::postgres_cluster::TestPostgres;

    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn conformance_and_concurrent_start() {
        let server = TestPostgres::start();
        let url = server.database();
        // Nodes starting together migrate once; the others find the schema in place.
        let starts: Vec<_> = (0..4).map(|_| tokio::spawn(PostgresMetaStore::connect_owned(url.clone()))).collect();
        let mut stores = Vec::new();
        for s in starts {
            stores.push(s.await.expect("join").expect("connect and migrate"));
        }
        let version: i64 = stores[0]
            .query_opt("SELECT version FROM ferry_schema", &[])
            .await
            .expect("version")
            .map(|r| r.get(0))
            .expect("one row");
        assert_eq!(version, MIGRATIONS.len() as i64);
        ferry_conformance::meta_store_suite(Arc::new(stores.remove(0))).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bad_url_is_a_clear_error() {
        let Err(e) = PostgresMetaStore::connect("postgres://nobody@127.0.0.1:1/none").await else {
            panic!("connecting to a closed port succeeded")
        };
        assert!(e.to_string().contains("PostgreSQL"), "{e}");
        let Err(e) = PostgresMetaStore::connect("not a url at all").await else { panic!("a junk URL was accepted") };
        assert!(e.to_string().contains("PostgreSQL"), "{e}");
    }
}
