//! Maintenance: the periodic sweep (expiring sessions, resetting stalled commits, deleting
//! garbage after its grace time), the orphan-blob scan, start-up recovery and the lease that
//! picks which node does this work.
//!
//! None of it is on a request path; it keeps the stores tidy and recovers from crashes.

use std::time::Duration;

use super::{Engine, SweepReport};
use crate::error::{Error, Result};
use crate::types::*;

impl Engine {
    /// Take or renew the lease `name` for `holder` for `ttl`: among nodes sharing the stores, the
    /// holder does the periodic work the lease names.
    pub async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        self.freeing("the sweeper lease", || {
            self.meta.acquire_lease(name, holder, now_millis(), ttl.as_millis() as Millis)
        })
        .await
    }

    /// Run `op`, a metadata write that frees space (or must happen for space to be freed). If it
    /// fails because the disk is full, release the blob store's reserve and run it once more: a
    /// disk filled to the last byte by another process must never keep ferry from freeing space.
    pub(crate) async fn freeing<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        match op().await {
            Err(Error::InsufficientStorage(why)) if self.blobs.release_reserve().await => {
                tracing::warn!(%why, "the disk is full: released the space reserve for {what}");
                op().await
            }
            other => other,
        }
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
        let expired_sessions =
            self.freeing("expiring sessions", || self.meta.expire_sessions(now, idle_before, closing_before)).await?;
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
            self.freeing("garbage collection", || self.meta.forget_garbage(&batch)).await?;
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

/// How the periodic sweeper runs: see [`run_sweeper`].
#[derive(Debug, Clone)]
pub struct SweeperConfig {
    /// This node's name for the sweeper lease. The only user of its stores keeps one name across
    /// restarts (and takes the lease back at once); nodes sharing stores each have their own.
    pub node: String,
    /// How often the sweeper wakes.
    pub interval: Duration,
    /// Blobs unreferenced for this long are orphans of a crash. At least a session lifetime, so
    /// a part still being written (its session alive) is never mistaken for one.
    pub orphan_age: Duration,
    /// How often the orphan scan (a walk of every blob) runs at most.
    pub orphan_scan_interval: Duration,
}

/// What the sweeper reports as it works, for metrics and logs. Every method has a no-op default.
pub trait SweepObserver: Send + Sync {
    /// Sessions by state, counted at the start of each round.
    fn session_counts(&self, _counts: &[(SessionState, u64)]) {}
    /// Bytes free in the blob store at the start of each round, when it can tell.
    fn free_space(&self, _free: u64) {}
    /// A sweep by this node finished.
    fn swept(&self, _report: SweepReport) {}
    /// The orphan scan deleted `n` blobs.
    fn orphans_deleted(&self, _n: u64) {}
    /// Objects flagged damaged by a scrub (on any node), counted at the start of each round.
    fn damaged_objects(&self, _n: u64) {}
    /// Lifecycle rules were applied by this node (only rules that did something are listed).
    fn lifecycle_applied(&self, _report: &crate::lifecycle::LifecycleReport) {}
}

/// Most lifecycle actions (an object expired or an upload aborted, each its own short
/// transaction) in one sweep round; the rest waits for the next round.
const LIFECYCLE_BUDGET: usize = 1000;

impl SweeperConfig {
    /// How long the sweeper's lease lasts without renewal; other periodic work that must run on
    /// one node at a time (the background scrub) holds the same lease for as long.
    pub fn lease_ttl(&self) -> Duration {
        (self.interval * 3).max(Duration::from_secs(10))
    }
}

/// The periodic work of a node until `shutdown` completes: count sessions, note free space and,
/// while this node holds the `sweeper` lease, apply bucket lifecycle rules
/// ([`Engine::apply_lifecycle`]), [`Engine::sweep`] and now and then [`Engine::collect_orphans`].
/// Nodes sharing the stores take turns through the lease, so one of them sweeps at a time and
/// another takes over within a few intervals when it stops. Failures are logged and retried at
/// the next round; they never end the loop.
pub async fn run_sweeper(
    engine: Engine,
    config: SweeperConfig,
    observer: &dyn SweepObserver,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let lease_ttl = config.lease_ttl();
    let mut last_orphan_scan: Option<std::time::Instant> = None;
    let rounds = async {
        loop {
            match engine.session_counts().await {
                Ok(counts) => observer.session_counts(&counts),
                Err(e) => tracing::warn!(error = %e, "counting sessions failed"),
            }
            match engine.damaged_objects().await {
                Ok(n) => observer.damaged_objects(n),
                Err(e) => tracing::warn!(error = %e, "counting damaged objects failed"),
            }
            if let Some(free) = engine.available_space().await {
                observer.free_space(free);
                // Set aside again what a full disk made the engine release.
                engine.blobs.restore_reserve().await;
                if let Some(note) = engine.low_space_note(free) {
                    tracing::warn!("{note}");
                }
            }
            match engine.lease("sweeper", &config.node, lease_ttl).await {
                Ok(true) => sweep_round(&engine, &config, observer, &mut last_orphan_scan).await,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not take the sweeper lease"),
            }
            tokio::time::sleep(config.interval).await;
        }
    };
    tokio::select! {
        _ = rounds => {}
        _ = shutdown => {}
    }
}

async fn sweep_round(
    engine: &Engine,
    config: &SweeperConfig,
    observer: &dyn SweepObserver,
    last_orphan_scan: &mut Option<std::time::Instant>,
) {
    // Before the sweep, so that the parts of uploads a rule aborts can be collected this round.
    match engine.apply_lifecycle(LIFECYCLE_BUDGET).await {
        Ok(report) => {
            if !report.rules.is_empty() {
                tracing::info!(
                    expired_objects = report.expired_objects(),
                    aborted_uploads = report.aborted_uploads(),
                    more = report.more,
                    "lifecycle rules applied"
                );
            }
            observer.lifecycle_applied(&report);
        }
        Err(e) => tracing::warn!(error = %e, "applying lifecycle rules failed"),
    }
    match engine.sweep().await {
        Ok(report) => {
            if report != SweepReport::default() {
                tracing::info!(?report, "sweep");
            }
            observer.swept(report);
        }
        Err(e) => tracing::warn!(error = %e, "sweep failed"),
    }
    if last_orphan_scan.is_none_or(|t| t.elapsed() > config.orphan_scan_interval) {
        match engine.collect_orphans(config.orphan_age).await {
            Ok(0) => {}
            Ok(n) => {
                observer.orphans_deleted(n);
                tracing::info!(deleted = n, "removed orphaned blobs");
            }
            Err(e) => tracing::warn!(error = %e, "orphan scan failed"),
        }
        *last_orphan_scan = Some(std::time::Instant::now());
    }
}
