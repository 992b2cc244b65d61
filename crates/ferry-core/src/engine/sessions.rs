//! Upload sessions: creating, opening, listing and aborting them, and the rules of their life.
//!
//! Every session rule lives here, for every dialect: which target a session belongs to, which
//! states accept which operation, and when it has expired. A front-end opens a session with
//! `open_session` (never by loading it and comparing fields itself) and hands the opened session
//! to `put_part`, `list_parts`, `commit` or `abort`, which check it again.

use super::{Engine, UploadListing, UploadMarker, validate_key};
use crate::error::{Error, Result};
use crate::types::*;

impl Engine {
    /// Open an object upload session publishing to `target`. Errors with `AccessDenied` for a
    /// target in the table bucket (only the engine writes there).
    pub async fn create_session(
        &self,
        target: ObjectTarget,
        meta: ObjectMeta,
        checksum: Option<ChecksumRequest>,
    ) -> Result<Session> {
        self.create_object_session(None, target, meta, checksum).await
    }

    /// [`Engine::create_session`], recording which protocol (`dialect`) opened the session, for
    /// operators (the console's sessions view).
    pub async fn create_session_from(
        &self,
        dialect: &str,
        target: ObjectTarget,
        meta: ObjectMeta,
        checksum: Option<ChecksumRequest>,
    ) -> Result<Session> {
        self.create_object_session(Some(dialect), target, meta, checksum).await
    }

    async fn create_object_session(
        &self,
        dialect: Option<&str>,
        target: ObjectTarget,
        meta: ObjectMeta,
        checksum: Option<ChecksumRequest>,
    ) -> Result<Session> {
        validate_key(&target.key)?;
        self.refuse_table_bucket(&target.bucket)?;
        self.bucket(&target.bucket).await?;
        self.new_session(target.into(), meta, checksum, dialect).await
    }

    /// Store a new `Normal` session on any target (table uploads come through here too).
    pub(crate) async fn new_session(
        &self,
        target: Target,
        meta: ObjectMeta,
        checksum: Option<ChecksumRequest>,
        dialect: Option<&str>,
    ) -> Result<Session> {
        self.check_free_space().await?;
        let now = now_millis();
        let session = Session {
            id: random_id(),
            target,
            state: SessionState::Normal,
            created: now,
            last_activity: now,
            expires: now + self.config.session_lifetime.as_millis() as Millis,
            meta,
            checksum,
            commit: None,
            legacy_numbering: false,
            part_shift: 0,
            dialect: dialect.map(str::to_string),
        };
        self.meta.create_session(&session).await?;
        Ok(session)
    }

    /// The clock session operations are judged by now.
    pub fn session_clock(&self) -> SessionClock {
        let now = now_millis();
        SessionClock { now, idle_before: now - self.config.idle_timeout.as_millis() as Millis }
    }

    /// The stored session, in any state, without any check. Errors with `NoSuchUpload`.
    pub(crate) async fn load_session(&self, id: &str) -> Result<Session> {
        self.meta.get_session(id).await?.ok_or(Error::NoSuchUpload)
    }

    /// Open session `id` for an operation on `target`: the one way every dialect loads a
    /// session. Errors with `NoSuchUpload` when the id is unknown or the session writes to
    /// anything but `target` (an object dialect naming a table upload's id gets exactly what it
    /// would get for an id that never existed), and with `AccessDenied` for an object session in
    /// the table bucket (one left from before that bucket was closed to object writes).
    ///
    /// A live session whose lifetime ended or that went idle too long is expired here, by the
    /// store and against the clock, so it comes back `Expired` even if the sweeper has not run;
    /// the session returned is otherwise in whatever state it is (`Closed` for a retried
    /// commit, `Expired` for Tunnel's status call), and the operation it is handed to decides
    /// whether that state will do.
    pub async fn open_session(&self, id: &str, target: &Target) -> Result<Session> {
        self.open_where(id, |t| t == target).await
    }

    /// Open object session `id` of `bucket`, whatever its key: for a dialect that addresses an
    /// upload by bucket and id alone (US3's bucket-level part listing). Otherwise as
    /// [`Engine::open_session`].
    pub async fn open_bucket_session(&self, id: &str, bucket: &str) -> Result<Session> {
        self.open_where(id, |t| t.bucket() == Some(bucket)).await
    }

    pub(crate) async fn open_where(&self, id: &str, belongs: impl Fn(&Target) -> bool) -> Result<Session> {
        let mut session = self.load_session(id).await?;
        if !belongs(&session.target) {
            return Err(Error::NoSuchUpload);
        }
        if let Target::Object { bucket, .. } = &session.target {
            self.refuse_table_bucket(bucket)?;
        }
        let clock = self.session_clock();
        if clock.looks_stale(&session) {
            if self.meta.expire_session(id, clock).await? {
                session.state = SessionState::Expired;
            } else {
                // Still live (a part arrived that this copy did not show) or changed state:
                // take what the store holds now.
                session = self.load_session(id).await?;
            }
        }
        Ok(session)
    }

    /// `Ok` if the session accepts parts, else `NoSuchUpload` (or `Busy` while committing).
    pub fn accepting_parts(session: &Session) -> Result<()> {
        match session.state {
            SessionState::Normal => Ok(()),
            SessionState::Closing => Err(Error::Busy),
            _ => Err(Error::NoSuchUpload),
        }
    }

    /// `Ok` for an object session; `NoSuchUpload` for a table session handed to an object
    /// operation (the id names no object upload).
    pub(super) fn object_session(session: &Session) -> Result<()> {
        if session.target.is_object() { Ok(()) } else { Err(Error::NoSuchUpload) }
    }

    /// `Ok` for a table session; `NoSuchUpload` for an object session handed to a table
    /// operation.
    pub(crate) fn table_session(session: &Session) -> Result<()> {
        if session.target.is_object() { Err(Error::NoSuchUpload) } else { Ok(()) }
    }

    /// Object sessions accepting parts on `bucket` under `prefix`, ordered by key then age
    /// (oldest first), after `marker`, at most `limit`. Table uploads are never listed, nor
    /// sessions whose time is up. Errors with `NoSuchBucket`.
    pub async fn list_sessions(
        &self,
        bucket: &str,
        prefix: &str,
        marker: &UploadMarker,
        limit: usize,
    ) -> Result<UploadListing> {
        self.bucket(bucket).await?;
        let clock = self.session_clock();
        let mut sessions = self.meta.list_sessions(bucket, prefix, marker.as_store_after(), limit + 1, clock).await?;
        let truncated = sessions.len() > limit;
        sessions.truncate(limit);
        Ok(UploadListing { sessions, truncated })
    }

    /// Cancel an opened session (either kind); its parts become garbage. Errors with
    /// `NoSuchUpload` unless it was live (an expired session is `NoSuchUpload`, as in S3).
    pub async fn abort(&self, session: &Session) -> Result<()> {
        let moved = self
            .freeing("an abort", || {
                self.meta.transition(
                    &session.id,
                    &[SessionState::Normal, SessionState::Unknown],
                    SessionState::Aborted,
                    self.session_clock(),
                )
            })
            .await?;
        if moved {
            Ok(())
        } else {
            match self.load_session(&session.id).await?.state {
                SessionState::Closing => Err(Error::Busy),
                _ => Err(Error::NoSuchUpload),
            }
        }
    }
}
