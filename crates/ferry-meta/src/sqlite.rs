//! The embedded metadata store: one SQLite file in WAL mode with `synchronous=FULL`, so every
//! acknowledged write has been fsynced.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::{json, target_columns, target_from_columns, to_i64};
use async_trait::async_trait;
use ferry_core::{
    BlobId, BucketInfo, CommitRecord, Digests, Error, ManifestEntry, MetaStore, Millis, ObjectRecord, ObjectSummary,
    PartRecord, Result, Session, SessionClock, SessionState, WriteCondition, random_id,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE buckets (
    name    TEXT PRIMARY KEY,
    created INTEGER NOT NULL
);
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    bucket        TEXT NOT NULL,
    key           TEXT NOT NULL,
    state         TEXT NOT NULL,
    created       INTEGER NOT NULL,
    last_activity INTEGER NOT NULL,
    expires       INTEGER NOT NULL,
    meta          TEXT NOT NULL,
    checksum      TEXT,
    commit_record TEXT
);
CREATE INDEX sessions_by_key ON sessions (bucket, key, created, id);
CREATE INDEX sessions_by_state ON sessions (state, expires);
CREATE TABLE parts (
    session   TEXT NOT NULL,
    number    INTEGER NOT NULL,
    blob      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    md5       BLOB NOT NULL,
    crc32     INTEGER NOT NULL,
    crc32c    INTEGER NOT NULL,
    crc64nvme INTEGER NOT NULL,
    crc64xz   INTEGER NOT NULL,
    sha1      BLOB,
    sha256    BLOB,
    modified  INTEGER NOT NULL,
    PRIMARY KEY (session, number)
) WITHOUT ROWID;
CREATE INDEX parts_by_blob ON parts (blob);
CREATE TABLE objects (
    bucket   TEXT NOT NULL,
    key      TEXT NOT NULL,
    id       TEXT NOT NULL UNIQUE,
    size     INTEGER NOT NULL,
    etag     TEXT NOT NULL,
    modified INTEGER NOT NULL,
    meta     TEXT NOT NULL,
    checksum TEXT,
    crc      TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE manifests (
    object TEXT NOT NULL,
    idx    INTEGER NOT NULL,
    blob   TEXT NOT NULL,
    offset INTEGER NOT NULL,
    size   INTEGER NOT NULL,
    PRIMARY KEY (object, idx)
) WITHOUT ROWID;
CREATE INDEX manifests_by_blob ON manifests (blob);
CREATE TABLE garbage (
    blob   TEXT PRIMARY KEY,
    queued INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    // Sessions get a real target: an object (bucket, key) or a table partition, in columns of
    // its own. Table uploads used to be sessions on `<table bucket>/<project>/<table>/<id>/
    // .../_upload`, recognisable by the table record in their metadata; they become table
    // targets and leave the bucket and key empty, so no object call can reach them.
    r#"
ALTER TABLE sessions ADD COLUMN target_kind TEXT NOT NULL DEFAULT 'object';
ALTER TABLE sessions ADD COLUMN target_project TEXT;
ALTER TABLE sessions ADD COLUMN target_table TEXT;
ALTER TABLE sessions ADD COLUMN target_partition TEXT;
UPDATE sessions SET
    target_kind = 'table',
    target_project = json_extract(json_extract(meta, '$.user[0][1]'), '$.project'),
    target_table = json_extract(json_extract(meta, '$.user[0][1]'), '$.table'),
    target_partition = json_extract(meta, '$.user[1][1]'),
    bucket = '',
    key = ''
WHERE json_extract(meta, '$.user[0][0]') = 'ferry-table'
  AND json_extract(meta, '$.user[1][0]') = 'ferry-partition'
  AND json_valid(json_extract(meta, '$.user[0][1]'));
"#,
    // Part numbers are kept as each protocol sends them. Before, US3 uploads stored part n as
    // n + 1; the sessions open at the upgrade are marked so they finish with that numbering.
    r#"
ALTER TABLE sessions ADD COLUMN legacy_numbering INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET legacy_numbering = 1;
"#,
];

/// Metadata in one SQLite database file.
#[derive(Clone)]
pub struct SqliteMetaStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteMetaStore {
    /// Open (creating and migrating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        migrate(&mut conn)?;
        Ok(SqliteMetaStore { conn: Arc::new(Mutex::new(conn)) })
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

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db)?;
    if version > MIGRATIONS.len() {
        return Err(Error::Meta(format!(
            "the database schema is version {version}, newer than this ferry understands ({}); upgrade ferry",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.pragma_update(None, "user_version", i + 1).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

fn db(e: rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return Error::InsufficientStorage(format!("the metadata database cannot grow: {e}"));
    }
    Error::Meta(e.to_string())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn fixed<const N: usize>(bytes: Vec<u8>) -> rusqlite::Result<[u8; N]> {
    bytes.try_into().map_err(|_| rusqlite::Error::InvalidColumnType(0, "digest".into(), rusqlite::types::Type::Blob))
}

const SESSION_COLUMNS: &str = "id, bucket, key, state, created, last_activity, expires, meta, checksum, commit_record, \
     target_kind, target_project, target_table, target_partition, legacy_numbering";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let state: String = row.get(3)?;
    let checksum: Option<String> = row.get(8)?;
    let commit: Option<String> = row.get(9)?;
    let kind: String = row.get(10)?;
    let target = target_from_columns(&kind, row.get(1)?, row.get(2)?, row.get(11)?, row.get(12)?, row.get(13)?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, e.into()))?;
    Ok(Session {
        id: row.get(0)?,
        target,
        state: SessionState::parse(&state).unwrap_or(SessionState::Critical),
        created: row.get(4)?,
        last_activity: row.get(5)?,
        expires: row.get(6)?,
        meta: from_json(&row.get::<_, String>(7)?)?,
        checksum: checksum.as_deref().map(from_json).transpose()?,
        commit: commit.as_deref().map(from_json).transpose()?,
        legacy_numbering: row.get(14)?,
        part_shift: 0,
    })
}

const PART_COLUMNS: &str = "number, blob, size, md5, crc32, crc32c, crc64nvme, crc64xz, sha1, sha256, modified";

fn part_from_row(row: &Row<'_>) -> rusqlite::Result<PartRecord> {
    let sha1: Option<Vec<u8>> = row.get(8)?;
    let sha256: Option<Vec<u8>> = row.get(9)?;
    Ok(PartRecord {
        number: row.get(0)?,
        blob: BlobId(row.get(1)?),
        size: row.get::<_, i64>(2)? as u64,
        digests: Digests {
            md5: fixed(row.get(3)?)?,
            crc32: row.get::<_, i64>(4)? as u32,
            crc32c: row.get::<_, i64>(5)? as u32,
            crc64nvme: row.get::<_, i64>(6)? as u64,
            crc64xz: row.get::<_, i64>(7)? as u64,
            sha1: sha1.map(fixed).transpose()?,
            sha256: sha256.map(fixed).transpose()?,
        },
        modified: row.get(10)?,
    })
}

fn bucket_exists(tx: &Transaction<'_>, bucket: &str) -> Result<bool> {
    tx.query_row("SELECT 1 FROM buckets WHERE name = ?1", [bucket], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(db)
}

/// Expire session `id` if it is live and stale by `clock` (lifetime over or idle), discarding
/// its parts. Returns whether it did. SQLite keeps `last_activity` current on every part write.
fn expire_if_stale(tx: &Transaction<'_>, id: &str, clock: SessionClock) -> Result<bool> {
    let stale = tx
        .query_row(
            "SELECT 1 FROM sessions WHERE id = ?1 AND state IN ('NORMAL', 'UNKNOWN')
               AND (expires <= ?2 OR last_activity <= ?3)",
            params![id, clock.now, clock.idle_before],
            |_| Ok(()),
        )
        .optional()
        .map_err(db)?
        .is_some();
    if stale {
        discard_parts(tx, id, clock.now)?;
        tx.execute("UPDATE sessions SET state = 'EXPIRED' WHERE id = ?1", [id]).map_err(db)?;
    }
    Ok(stale)
}

fn queue(tx: &Transaction<'_>, blob: &str, now: Millis) -> Result<()> {
    tx.execute("INSERT OR IGNORE INTO garbage (blob, queued) VALUES (?1, ?2)", params![blob, now]).map_err(db)?;
    Ok(())
}

/// Queue every part blob of a session and drop its part rows.
fn discard_parts(tx: &Transaction<'_>, session: &str, now: Millis) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO garbage (blob, queued) SELECT blob, ?2 FROM parts WHERE session = ?1",
        params![session, now],
    )
    .map_err(db)?;
    tx.execute("DELETE FROM parts WHERE session = ?1", [session]).map_err(db)?;
    Ok(())
}

/// Remove the object at (bucket, key), queueing its blobs. Returns whether one existed.
fn remove_object(tx: &Transaction<'_>, bucket: &str, key: &str, now: Millis) -> Result<bool> {
    let id: Option<String> = tx
        .query_row("SELECT id FROM objects WHERE bucket = ?1 AND key = ?2", [bucket, key], |r| r.get(0))
        .optional()
        .map_err(db)?;
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
fn insert_object(tx: &Transaction<'_>, object: &ObjectRecord, condition: Option<&WriteCondition>) -> Result<String> {
    if !bucket_exists(tx, &object.bucket)? {
        return Err(Error::NoSuchBucket);
    }
    if let Some(condition) = condition {
        let current: Option<String> = tx
            .query_row("SELECT etag FROM objects WHERE bucket = ?1 AND key = ?2", [&object.bucket, &object.key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)?;
        condition.check(current.as_deref())?;
    }
    remove_object(tx, &object.bucket, &object.key, object.modified)?;
    let id = random_id();
    tx.execute(
        "INSERT INTO objects (bucket, key, id, size, etag, modified, meta, checksum, crc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            object.bucket,
            object.key,
            id,
            to_i64(object.size),
            object.etag,
            object.modified,
            json(&object.meta)?,
            object.checksum.as_ref().map(json).transpose()?,
            json(&object.crc)?,
        ],
    )
    .map_err(db)?;
    let mut stmt = tx
        .prepare_cached("INSERT INTO manifests (object, idx, blob, offset, size) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(db)?;
    for (idx, entry) in object.manifest.iter().enumerate() {
        stmt.execute(params![id, idx as i64, entry.blob.0, to_i64(entry.offset), to_i64(entry.size)]).map_err(db)?;
    }
    Ok(id)
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn create_bucket(&self, name: &str, now: Millis) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| {
            if bucket_exists(tx, &name)? {
                return Err(Error::BucketAlreadyExists);
            }
            tx.execute("INSERT INTO buckets (name, created) VALUES (?1, ?2)", params![name, now]).map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn delete_bucket(&self, name: &str, now: Millis) -> Result<()> {
        let name = name.to_string();
        self.write(move |tx| {
            if !bucket_exists(tx, &name)? {
                return Err(Error::NoSuchBucket);
            }
            let has_objects = tx
                .query_row("SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1", [&name], |_| Ok(()))
                .optional()
                .map_err(db)?
                .is_some();
            if has_objects {
                return Err(Error::BucketNotEmpty);
            }
            let live: Vec<String> = {
                let mut stmt = tx
                    .prepare("SELECT id FROM sessions WHERE bucket = ?1 AND state IN ('NORMAL', 'UNKNOWN', 'CLOSING')")
                    .map_err(db)?;
                let rows = stmt.query_map([&name], |r| r.get(0)).map_err(db)?;
                rows.collect::<rusqlite::Result<_>>().map_err(db)?
            };
            for id in live {
                discard_parts(tx, &id, now)?;
                tx.execute("UPDATE sessions SET state = 'ABORTED', last_activity = ?2 WHERE id = ?1", params![id, now])
                    .map_err(db)?;
            }
            tx.execute("DELETE FROM buckets WHERE name = ?1", [&name]).map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<BucketInfo>> {
        let name = name.to_string();
        self.with(move |conn| {
            conn.query_row("SELECT name, created FROM buckets WHERE name = ?1", [name], |r| {
                Ok(BucketInfo { name: r.get(0)?, created: r.get(1)? })
            })
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT name, created FROM buckets ORDER BY name").map_err(db)?;
            let rows = stmt.query_map([], |r| Ok(BucketInfo { name: r.get(0)?, created: r.get(1)? })).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
        .await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        let s = session.clone();
        self.write(move |tx| {
            let t = target_columns(&s.target);
            if s.target.is_object() && !bucket_exists(tx, t.bucket)? {
                return Err(Error::NoSuchBucket);
            }
            tx.execute(
                &format!(
                    "INSERT INTO sessions ({SESSION_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    s.id,
                    t.bucket,
                    t.key,
                    s.state.as_str(),
                    s.created,
                    s.last_activity,
                    s.expires,
                    json(&s.meta)?,
                    s.checksum.as_ref().map(json).transpose()?,
                    s.commit.as_ref().map(json).transpose()?,
                    t.kind,
                    t.project,
                    t.table,
                    t.partition,
                    s.legacy_numbering,
                ],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let id = id.to_string();
        self.with(move |conn| {
            conn.query_row(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"), [id], session_from_row)
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn list_sessions(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, &str)>,
        limit: usize,
        clock: SessionClock,
    ) -> Result<Vec<Session>> {
        let bucket = bucket.to_string();
        let prefix = prefix.to_string();
        let (after_key, after_id) = after.map(|(k, i)| (k.to_string(), i.to_string())).unwrap_or_default();
        let has_after = after.is_some();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE bucket = ?1 AND state = 'NORMAL' AND substr(key, 1, length(?2)) = ?2
                       AND (?3 = 0 OR key > ?4
                            OR (key = ?4 AND (created, id) > (SELECT m.created, m.id FROM sessions m WHERE m.id = ?5)))
                       AND target_kind = 'object' AND expires > ?7 AND last_activity > ?8
                     ORDER BY key, created, id LIMIT ?6"
                ))
                .map_err(db)?;
            let rows = stmt
                .query_map(
                    params![bucket, prefix, has_after, after_key, after_id, limit as i64, clock.now, clock.idle_before],
                    session_from_row,
                )
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
        .await
    }

    async fn transition(&self, id: &str, from: &[SessionState], to: SessionState, clock: SessionClock) -> Result<bool> {
        let id = id.to_string();
        let leaves_live = from.iter().any(|s| matches!(s, SessionState::Normal | SessionState::Unknown));
        let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
        let now = clock.now;
        self.write(move |tx| {
            if leaves_live && expire_if_stale(tx, &id, clock)? {
                return Ok(false);
            }
            let state: Option<String> =
                tx.query_row("SELECT state FROM sessions WHERE id = ?1", [&id], |r| r.get(0)).optional().map_err(db)?;
            match state {
                Some(state) if from.contains(&state.as_str()) => {
                    tx.execute(
                        "UPDATE sessions SET state = ?2, last_activity = ?3 WHERE id = ?1",
                        params![id, to.as_str(), now],
                    )
                    .map_err(db)?;
                    if matches!(to, SessionState::Aborted | SessionState::Expired) {
                        discard_parts(tx, &id, now)?;
                    }
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn expire_session(&self, id: &str, clock: SessionClock) -> Result<bool> {
        let id = id.to_string();
        self.write(move |tx| expire_if_stale(tx, &id, clock)).await
    }

    async fn put_part(&self, session: &str, part: &PartRecord, clock: SessionClock) -> Result<()> {
        let session = session.to_string();
        let p = part.clone();
        let recorded = self.write(move |tx| {
            // Committed as an expiry (not rolled back as an error), then refused below.
            if expire_if_stale(tx, &session, clock)? {
                return Ok(false);
            }
            let state: Option<String> = tx
                .query_row("SELECT state FROM sessions WHERE id = ?1", [&session], |r| r.get(0))
                .optional()
                .map_err(db)?;
            match state.as_deref() {
                Some("NORMAL") => {}
                Some("CLOSING") => return Err(Error::Busy),
                _ => return Err(Error::NoSuchUpload),
            }
            let old: Option<String> = tx
                .query_row("SELECT blob FROM parts WHERE session = ?1 AND number = ?2", params![session, p.number], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db)?;
            if let Some(old) = old {
                queue(tx, &old, p.modified)?;
            }
            let d = &p.digests;
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO parts (session, {PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .map_err(db)?
            .execute(params![
                session,
                p.number,
                p.blob.0,
                to_i64(p.size),
                d.md5.as_slice(),
                d.crc32 as i64,
                d.crc32c as i64,
                to_i64(d.crc64nvme),
                to_i64(d.crc64xz),
                d.sha1.as_ref().map(|v| v.as_slice()),
                d.sha256.as_ref().map(|v| v.as_slice()),
                p.modified,
            ])
            .map_err(db)?;
            tx.execute("UPDATE sessions SET last_activity = ?2 WHERE id = ?1", params![session, p.modified])
                .map_err(db)?;
            Ok(true)
        })
        .await?;
        if recorded { Ok(()) } else { Err(Error::NoSuchUpload) }
    }

    async fn list_parts(&self, session: &str, after: Option<u32>, limit: usize) -> Result<Vec<PartRecord>> {
        let session = session.to_string();
        let after = after.map(i64::from).unwrap_or(-1);
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PART_COLUMNS} FROM parts WHERE session = ?1 AND number > ?2 ORDER BY number LIMIT ?3"
                ))
                .map_err(db)?;
            let rows = stmt.query_map(params![session, after, limit as i64], part_from_row).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
        .await
    }

    async fn publish_if(
        &self,
        session: &str,
        objects: &[ObjectRecord],
        commit: &CommitRecord,
        condition: Option<&WriteCondition>,
    ) -> Result<()> {
        let session = session.to_string();
        let objects = objects.to_vec();
        let commit = commit.clone();
        let condition = condition.cloned();
        self.write(move |tx| {
            let state: Option<String> = tx
                .query_row("SELECT state FROM sessions WHERE id = ?1", [&session], |r| r.get(0))
                .optional()
                .map_err(db)?;
            if state.as_deref() != Some("CLOSING") {
                return Err(Error::NoSuchUpload);
            }
            let mut ids = Vec::with_capacity(objects.len());
            for object in &objects {
                // A refused condition drops the transaction: nothing is published.
                let object_id = insert_object(tx, object, condition.as_ref())?;
                let stale: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM manifests WHERE object = ?1
                           AND blob NOT IN (SELECT blob FROM parts WHERE session = ?2)",
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
            tx.execute("DELETE FROM parts WHERE session = ?1", [&session]).map_err(db)?;
            tx.execute(
                "UPDATE sessions SET state = 'CLOSED', last_activity = ?2, commit_record = ?3 WHERE id = ?1",
                params![session, now, json(&commit)?],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn expire_sessions(&self, now: Millis, idle_before: Millis, closing_before: Millis) -> Result<u64> {
        self.write(move |tx| {
            let stale: Vec<String> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT id FROM sessions WHERE state IN ('NORMAL', 'UNKNOWN')
                         AND (expires <= ?1 OR last_activity <= ?2)",
                    )
                    .map_err(db)?;
                let rows = stmt.query_map(params![now, idle_before], |r| r.get(0)).map_err(db)?;
                rows.collect::<rusqlite::Result<_>>().map_err(db)?
            };
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
        })
        .await
    }

    async fn put_object_if(&self, object: &ObjectRecord, condition: Option<&WriteCondition>) -> Result<()> {
        let object = object.clone();
        let condition = condition.cloned();
        self.write(move |tx| insert_object(tx, &object, condition.as_ref()).map(|_| ())).await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let bucket = bucket.to_string();
        let key = key.to_string();
        self.with(move |conn| {
            let found = conn
                .query_row(
                    "SELECT id, size, etag, modified, meta, checksum, crc FROM objects WHERE bucket = ?1 AND key = ?2",
                    [&bucket, &key],
                    |r| {
                        let checksum: Option<String> = r.get(5)?;
                        Ok((
                            r.get::<_, String>(0)?,
                            ObjectRecord {
                                bucket: bucket.clone(),
                                key: key.clone(),
                                size: r.get::<_, i64>(1)? as u64,
                                etag: r.get(2)?,
                                modified: r.get(3)?,
                                meta: from_json(&r.get::<_, String>(4)?)?,
                                checksum: checksum.as_deref().map(from_json).transpose()?,
                                crc: from_json(&r.get::<_, String>(6)?)?,
                                manifest: Vec::new(),
                            },
                        ))
                    },
                )
                .optional()
                .map_err(db)?;
            let Some((id, mut object)) = found else { return Ok(None) };
            let mut stmt = conn
                .prepare_cached("SELECT blob, offset, size FROM manifests WHERE object = ?1 ORDER BY idx")
                .map_err(db)?;
            let rows = stmt
                .query_map([id], |r| {
                    Ok(ManifestEntry {
                        blob: BlobId(r.get(0)?),
                        offset: r.get::<_, i64>(1)? as u64,
                        size: r.get::<_, i64>(2)? as u64,
                    })
                })
                .map_err(db)?;
            object.manifest = rows.collect::<rusqlite::Result<_>>().map_err(db)?;
            Ok(Some(object))
        })
        .await
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        let bucket = bucket.to_string();
        let key = key.to_string();
        self.write(move |tx| remove_object(tx, &bucket, &key, ferry_core::now_millis())).await
    }

    async fn list_objects(&self, bucket: &str, prefix: &str, after: &str, limit: usize) -> Result<Vec<ObjectSummary>> {
        let bucket = bucket.to_string();
        let prefix = prefix.to_string();
        let after = after.to_string();
        // Keys under a prefix sort before prefix + U+10FFFF; bounding the scan keeps it an index range.
        let upper = format!("{prefix}\u{10FFFF}");
        self.with(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, size, etag, modified FROM objects
                     WHERE bucket = ?1 AND key >= ?2 AND key > ?3 AND (?2 = '' OR key < ?4)
                       AND substr(key, 1, length(?2)) = ?2
                     ORDER BY key LIMIT ?5",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![bucket, prefix, after, upper, limit as i64], |r| {
                    Ok(ObjectSummary {
                        key: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                        etag: r.get(2)?,
                        modified: r.get(3)?,
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
        .await
    }

    async fn queue_garbage(&self, blobs: &[BlobId], now: Millis) -> Result<()> {
        let blobs = blobs.to_vec();
        self.write(move |tx| {
            for b in &blobs {
                queue(tx, &b.0, now)?;
            }
            Ok(())
        })
        .await
    }

    async fn garbage(&self, before: Millis, limit: usize) -> Result<Vec<BlobId>> {
        self.with(move |conn| {
            // A blob referenced again (should never happen) is skipped rather than deleted.
            let mut stmt = conn
                .prepare_cached(
                    "SELECT blob FROM garbage g WHERE queued <= ?1
                       AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.blob = g.blob)
                       AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.blob = g.blob)
                     ORDER BY queued LIMIT ?2",
                )
                .map_err(db)?;
            let rows = stmt.query_map(params![before, limit as i64], |r| Ok(BlobId(r.get(0)?))).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
        .await
    }

    async fn forget_garbage(&self, blobs: &[BlobId]) -> Result<()> {
        let blobs = blobs.to_vec();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM garbage WHERE blob = ?1").map_err(db)?;
            for b in &blobs {
                stmt.execute([&b.0]).map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn is_referenced(&self, blob: &BlobId) -> Result<bool> {
        let blob = blob.0.clone();
        self.with(move |conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM parts WHERE blob = ?1) OR EXISTS (SELECT 1 FROM manifests WHERE blob = ?1)",
                [blob],
                |r| r.get(0),
            )
            .map_err(db)
        })
        .await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool> {
        let name = name.to_string();
        let holder = holder.to_string();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                     WHERE leases.holder = excluded.holder OR leases.until <= ?4",
                    params![name, holder, now + ttl, now],
                )
                .map_err(db)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn count_sessions(&self) -> Result<Vec<(SessionState, u64)>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM sessions GROUP BY state").map_err(db)?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(db)?;
            let counts: Vec<(String, u64)> = rows.collect::<rusqlite::Result<_>>().map_err(db)?;
            Ok(counts.into_iter().filter_map(|(s, n)| Some((SessionState::parse(&s)?, n))).collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn conformance() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteMetaStore::open(dir.path().join("meta.db")).expect("open");
        ferry_conformance::meta_store_suite(Arc::new(store)).await;
    }

    /// Table uploads stored before sessions had targets (object sessions on
    /// `<table bucket>/<project>/<table>/<id>/.../_upload` with the table in their metadata)
    /// become table targets; object sessions stay as they were.
    #[tokio::test(flavor = "multi_thread")]
    async fn migration_gives_old_table_uploads_a_table_target() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("meta.db");
        {
            let conn = Connection::open(&path).expect("open");
            for sql in &MIGRATIONS[..2] {
                conn.execute_batch(sql).expect("old schema");
            }
            conn.pragma_update(None, "user_version", 2).expect("version");
            let table_meta = serde_json::json!({
                "content_type": null, "content_encoding": null, "content_disposition": null,
                "content_language": null, "cache_control": null, "expires": null,
                "user": [["ferry-table", "{\"project\":\"proj\",\"table\":\"events\",\"tableId\":\"abc\"}"],
                         ["ferry-partition", "pt=1"]],
            });
            let insert = "INSERT INTO sessions (id, bucket, key, state, created, last_activity, expires, meta)
                          VALUES (?1, ?2, ?3, 'NORMAL', 1, 1, 9999999999999, ?4)";
            conn.execute(insert, params!["t1", "ferry-tables", "proj/events/abc/pt=1/_upload", table_meta.to_string()])
                .expect("table session");
            let object_meta = json(&ferry_core::ObjectMeta::default()).expect("meta");
            conn.execute(insert, params!["o1", "bkt", "dir/key", object_meta]).expect("object session");
        }
        let store = SqliteMetaStore::open(&path).expect("migrate");
        let table = store.get_session("t1").await.expect("read").expect("kept");
        assert_eq!(
            table.target,
            ferry_core::Target::TablePartition {
                project: "proj".into(),
                table: "events".into(),
                partition: "pt=1".into()
            }
        );
        let object = store.get_session("o1").await.expect("read").expect("kept");
        assert_eq!(object.target, ferry_core::Target::object("bkt", "dir/key"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reopen_keeps_data_and_schema() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("meta.db");
        SqliteMetaStore::open(&path).expect("open").create_bucket("kept", 1).await.expect("create");
        let again = SqliteMetaStore::open(&path).expect("reopen");
        assert!(again.get_bucket("kept").await.expect("get").is_some());
    }
}
