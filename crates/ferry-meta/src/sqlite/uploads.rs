//! Offset-based uploads (tus, IETF): the declared length beside the session, the part put that
//! never replaces, and concatenation of finished uploads into one object.

use async_trait::async_trait;
use ferry_core::events::NewEvent;
use ferry_core::uploads::{ConcatSource, UploadStore};
use ferry_core::{CommitRecord, Error, ObjectRecord, PartRecord, Result, SessionClock};
use rusqlite::params;

use super::{SqliteMetaStore, db, exists, query_all, query_first, sessions};
use crate::json;

#[async_trait]
impl UploadStore for SqliteMetaStore {
    async fn declare_length(&self, session: &str, length: u64) -> Result<Option<u64>> {
        let session = session.to_string();
        let length = i64::try_from(length).map_err(|_| Error::InvalidArgument("the length is too large".into()))?;
        self.write(move |tx| {
            if sessions::state(tx, &session)?.is_none() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO upload_lengths (session, length) VALUES (?1, ?2) ON CONFLICT (session) DO NOTHING",
                params![session, length],
            )
            .map_err(db)?;
            let stored: Option<i64> =
                query_first(tx, "SELECT length FROM upload_lengths WHERE session = ?1", [&session], |r| {
                    r.get(0).map_err(db)
                })?;
            Ok(stored.map(|v| v as u64))
        })
        .await
    }

    async fn declared_length(&self, session: &str) -> Result<Option<u64>> {
        let session = session.to_string();
        self.with(move |conn| {
            let stored: Option<i64> =
                query_first(conn, "SELECT length FROM upload_lengths WHERE session = ?1", [&session], |r| {
                    r.get(0).map_err(db)
                })?;
            Ok(stored.map(|v| v as u64))
        })
        .await
    }

    async fn put_part_once(&self, session: &str, part: &PartRecord, clock: SessionClock) -> Result<bool> {
        let (session, part) = (session.to_string(), part.clone());
        let stored = self
            .write(move |tx| {
                // The immediate transaction holds the write lock from here to the insert: no
                // other writer can store this number in between.
                if exists(tx, "SELECT 1 FROM parts WHERE session = ?1 AND number = ?2", params![session, part.number])?
                {
                    return Ok(Some(false));
                }
                Ok(super::parts::put(tx, &session, &part, clock)?.then_some(true))
            })
            .await?;
        // `None`: the session expired as the part arrived (the expiry is committed).
        stored.ok_or(Error::NoSuchUpload)
    }

    async fn publish_concat(
        &self,
        session: &str,
        sources: &[ConcatSource],
        object: &ObjectRecord,
        commit: &CommitRecord,
        events: &[NewEvent],
    ) -> Result<()> {
        let (session, sources, object, commit, events) =
            (session.to_string(), sources.to_vec(), object.clone(), commit.clone(), events.to_vec());
        self.write(move |tx| {
            if sessions::state(tx, &session)?.as_deref() != Some("CLOSING") {
                return Err(Error::NoSuchUpload);
            }
            // After any part the target holds (none, normally; those become garbage at publish).
            let mut next: i64 = tx
                .query_row("SELECT COALESCE(MAX(number), 0) + 1 FROM parts WHERE session = ?1", [&session], |r| {
                    r.get(0)
                })
                .map_err(db)?;
            for source in &sources {
                if sessions::state(tx, &source.session)?.as_deref() != Some("NORMAL") {
                    return Err(Error::NoSuchUpload);
                }
                let held: Vec<(i64, String)> = query_all(
                    tx,
                    "SELECT number, blob FROM parts WHERE session = ?1 ORDER BY number",
                    [&source.session],
                    |r| Ok((r.get(0).map_err(db)?, r.get(1).map_err(db)?)),
                )?;
                if held.len() != source.blobs.len() || held.iter().zip(&source.blobs).any(|((_, b), want)| *b != want.0)
                {
                    // The upload changed after the engine read it: publish nothing.
                    return Err(Error::NoSuchUpload);
                }
                // Renumber into the target after the parts moved so far, keeping their order.
                for (number, _) in &held {
                    tx.execute(
                        "UPDATE parts SET session = ?1, number = ?2 WHERE session = ?3 AND number = ?4",
                        params![session, next, source.session, number],
                    )
                    .map_err(db)?;
                    next += 1;
                }
                let closed = source.consumed_by(&session);
                tx.execute(
                    "UPDATE sessions SET state = 'CLOSED', last_activity = ?2, commit_record = ?3 WHERE id = ?1",
                    params![source.session, object.modified, json(&closed)?],
                )
                .map_err(db)?;
            }
            super::objects::publish(tx, &session, std::slice::from_ref(&object), &commit, None)?;
            super::events::enqueue(tx, &events)
        })
        .await
    }
}
