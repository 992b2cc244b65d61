//! Offset-based uploads (tus, IETF): the declared length beside the session, the part put that
//! never replaces (server-side `ferry_put_part_once`), and concatenation of finished uploads.

use async_trait::async_trait;
use ferry_core::events::NewEvent;
use ferry_core::uploads::{ConcatSource, UploadStore};
use ferry_core::{CommitRecord, Error, ObjectRecord, PartRecord, Result, SessionClock};

use super::{PostgresMetaStore, bind, db, sessions};
use crate::columns::{SqlValue, part_values, placeholders};
use crate::json;

#[async_trait]
impl UploadStore for PostgresMetaStore {
    async fn declare_length(&self, session: &str, length: u64) -> Result<Option<u64>> {
        let length = i64::try_from(length).map_err(|_| Error::InvalidArgument("the length is too large".into()))?;
        // The INSERT … SELECT inserts nothing for a missing session; ON CONFLICT keeps the first.
        self.execute(
            "INSERT INTO upload_lengths (session, length) SELECT id, $2 FROM sessions WHERE id = $1
             ON CONFLICT (session) DO NOTHING",
            &[&session, &length],
        )
        .await?;
        self.declared_length(session).await
    }

    async fn declared_length(&self, session: &str) -> Result<Option<u64>> {
        let row = self.query_opt("SELECT length FROM upload_lengths WHERE session = $1", &[&session]).await?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    async fn put_part_once(&self, session: &str, part: &PartRecord, clock: SessionClock) -> Result<bool> {
        let mut values = part_values(session, part);
        values.extend([SqlValue::Int(clock.now), SqlValue::Int(clock.idle_before)]);
        let sql = format!("SELECT ferry_put_part_once({})", placeholders('$', values.len()));
        let row = self.query_opt(&sql, &bind(&values)).await?;
        match row.as_ref().map(|r| r.get::<_, &str>(0)) {
            Some("ok") => Ok(true),
            Some("taken") => Ok(false),
            Some("busy") => Err(Error::Busy),
            Some("stale") => {
                sessions::expire_if_stale(self, session, clock).await?;
                Err(Error::NoSuchUpload)
            }
            _ => Err(Error::NoSuchUpload),
        }
    }

    async fn publish_concat(
        &self,
        session: &str,
        sources: &[ConcatSource],
        object: &ObjectRecord,
        commit: &CommitRecord,
        events: &[NewEvent],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let state: Option<String> = tx
            .query_opt("SELECT state FROM sessions WHERE id = $1 FOR UPDATE", &[&session])
            .await
            .map_err(db)?
            .map(|r| r.get(0));
        if state.as_deref() != Some("CLOSING") {
            return Err(Error::NoSuchUpload);
        }
        let mut next: i64 = tx
            .query_one("SELECT COALESCE(MAX(number), 0) + 1 FROM parts WHERE session = $1", &[&session])
            .await
            .map_err(db)?
            .get(0);
        for source in sources {
            // Locked like a commit locks its session: no part put or transition gets in between.
            let state: Option<String> = tx
                .query_opt("SELECT state FROM sessions WHERE id = $1 FOR UPDATE", &[&source.session])
                .await
                .map_err(db)?
                .map(|r| r.get(0));
            if state.as_deref() != Some("NORMAL") {
                return Err(Error::NoSuchUpload);
            }
            let held: Vec<(i64, String)> = tx
                .query("SELECT number, blob FROM parts WHERE session = $1 ORDER BY number", &[&source.session])
                .await
                .map_err(db)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            if held.len() != source.blobs.len() || held.iter().zip(&source.blobs).any(|((_, b), want)| *b != want.0) {
                return Err(Error::NoSuchUpload); // dropping the transaction rolls it back
            }
            for (number, _) in &held {
                tx.execute(
                    "UPDATE parts SET session = $1, number = $2 WHERE session = $3 AND number = $4",
                    &[&session, &next, &source.session, number],
                )
                .await
                .map_err(db)?;
                next += 1;
            }
            let closed = source.consumed_by(session);
            tx.execute(
                "UPDATE sessions SET state = 'CLOSED', last_activity = $2, commit_record = $3 WHERE id = $1",
                &[&source.session, &object.modified, &json(&closed)?],
            )
            .await
            .map_err(db)?;
        }
        super::objects::publish_in(&tx, session, std::slice::from_ref(object), commit, None, events).await?;
        tx.commit().await.map_err(db)
    }
}
