//! Maintenance: the periodic sweep (expiring sessions, resetting stalled commits, deleting
//! garbage after its grace time), the orphan-blob scan, start-up recovery and the lease that
//! picks which node does this work.
//!
//! None of it is on a request path; it keeps the stores tidy and recovers from crashes.

use std::time::Duration;

use super::{Engine, SweepReport};
use crate::error::Result;
use crate::types::*;

impl Engine {
    /// Take or renew the lease `name` for `holder` for `ttl`: among nodes sharing the stores, the
    /// holder does the periodic work the lease names.
    pub async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        self.meta.acquire_lease(name, holder, now_millis(), ttl.as_millis() as Millis).await
    }

    /// How many sessions are in each state.
    pub async fn session_counts(&self) -> Result<Vec<(SessionState, u64)>> {
        self.meta.count_sessions().await
    }

    /// Expire stale sessions, reset stalled commits, and delete garbage older than the grace time.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let now = now_millis();
        let idle_before = now - self.config.idle_timeout.as_millis() as Millis;
        let closing_before = now - self.config.closing_timeout.as_millis() as Millis;
        let expired_sessions = self.meta.expire_sessions(now, idle_before, closing_before).await?;
        let before = now - self.config.gc_grace.as_millis() as Millis;
        let mut deleted_blobs = 0;
        loop {
            let batch = self.meta.garbage(before, 500).await?;
            if batch.is_empty() {
                break;
            }
            for blob in &batch {
                self.blobs.delete(blob).await?;
            }
            self.meta.forget_garbage(&batch).await?;
            deleted_blobs += batch.len() as u64;
        }
        Ok(SweepReport { expired_sessions, deleted_blobs })
    }

    /// Delete blobs that no metadata references and that are older than `min_age` (left by a
    /// crash between writing a blob and recording it). Returns how many were deleted.
    pub async fn collect_orphans(&self, min_age: Duration) -> Result<u64> {
        let before = now_millis() - min_age.as_millis() as Millis;
        let mut deleted = 0;
        for blob in self.blobs.list_older_than(before).await? {
            if !self.meta.is_referenced(&blob).await? {
                self.blobs.delete(&blob).await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Start-up recovery: drop half-written blobs left by a crash. With `exclusive` (this process
    /// is the only one using the stores, as the embedded default guarantees with its lock), a
    /// session left `Closing` by a crash mid-commit is reopened at once instead of after
    /// `closing_timeout`, so the client's retried commit succeeds.
    pub async fn recover(&self, exclusive: bool) -> Result<()> {
        self.blobs.clean_incomplete().await?;
        if exclusive {
            let now = now_millis();
            let idle_before = now - self.config.idle_timeout.as_millis() as Millis;
            self.meta.expire_sessions(now, idle_before, now).await?;
        }
        Ok(())
    }
}
