//! The server's own metrics beside the per-request ones: what the engine stored and served,
//! commits, sessions by state, and the sweeper's work.

use std::time::Duration;

use ferry_core::{CommitOutcome, Observer, SessionState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Engine work, fed by [`Observer`].
#[derive(Clone)]
pub struct EngineMetrics {
    bytes_in: Family<KindLabels, Counter>,
    bytes_out: Counter,
    parts: Counter,
    commits: Family<OutcomeLabels, Histogram>,
    scrubbed: Counter,
}

impl EngineMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = EngineMetrics {
            bytes_in: Family::default(),
            bytes_out: Counter::default(),
            parts: Counter::default(),
            commits: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16))),
            scrubbed: Counter::default(),
        };
        registry.register(
            "scrub_bytes_verified",
            "Bytes of stored data read back and verified against their recorded checksums by scrubs",
            metrics.scrubbed.clone(),
        );
        registry.register("received_bytes", "Bytes stored, by kind (part or object)", metrics.bytes_in.clone());
        registry.register("served_bytes", "Bytes of object data sent to readers", metrics.bytes_out.clone());
        registry.register("parts_stored", "Parts stored (re-sent parts count again)", metrics.parts.clone());
        registry.register(
            "commit_duration_seconds",
            "Time to commit an upload, by outcome (published, replayed, refused)",
            metrics.commits.clone(),
        );
        metrics
    }
}

impl Observer for EngineMetrics {
    fn stored(&self, size: u64, is_part: bool) {
        self.bytes_in.get_or_create(&KindLabels { kind: if is_part { "part" } else { "object" } }).inc_by(size);
        if is_part {
            self.parts.inc();
        }
    }

    fn served(&self, bytes: u64) {
        self.bytes_out.inc_by(bytes);
    }

    fn committed(&self, elapsed: Duration, outcome: CommitOutcome) {
        self.commits.get_or_create(&OutcomeLabels { outcome: outcome.as_str() }).observe(elapsed.as_secs_f64());
    }

    fn scrubbed(&self, bytes: u64) {
        self.scrubbed.inc_by(bytes);
    }
}

/// What the scrubs found.
#[derive(Clone)]
pub struct ScrubMetrics {
    /// Objects flagged damaged in the store, as of the last sweep or scrub.
    pub damaged_objects: Gauge,
    findings: Family<KindLabels, Counter>,
    runs: Counter,
}

impl ScrubMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics =
            ScrubMetrics { damaged_objects: Gauge::default(), findings: Family::default(), runs: Counter::default() };
        registry.register(
            "scrub_damaged_objects",
            "Objects flagged damaged (reads refused until deleted or uploaded again), as of the last sweep or scrub",
            metrics.damaged_objects.clone(),
        );
        registry.register(
            "scrub_findings",
            "Damaged objects and parts found by this node's scrubs, by kind (missing, size, checksum)",
            metrics.findings.clone(),
        );
        registry.register("scrub_runs", "Scrubs this node finished", metrics.runs.clone());
        metrics
    }

    pub fn record(&self, report: &ferry_core::ScrubReport) {
        self.runs.inc();
        for finding in &report.findings {
            self.findings.get_or_create(&KindLabels { kind: finding.kind.as_str() }).inc();
        }
        self.damaged_objects.set(i64::try_from(report.flagged_objects).unwrap_or(i64::MAX));
    }
}

/// What the sweeper did and saw.
#[derive(Clone)]
pub struct SweepMetrics {
    pub expired_sessions: Counter,
    pub deleted_blobs: Counter,
    pub orphans: Counter,
    sessions: Family<StateLabels, Gauge>,
    /// Bytes free where blobs are written (local disk only), as of the last sweep or readiness check.
    pub free_bytes: Gauge,
}

impl SweepMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = SweepMetrics {
            expired_sessions: Counter::default(),
            deleted_blobs: Counter::default(),
            orphans: Counter::default(),
            sessions: Family::default(),
            free_bytes: Gauge::default(),
        };
        registry.register(
            "free_bytes",
            "Bytes free on the disk holding blobs (local blob store), as of the last sweep or readiness check",
            metrics.free_bytes.clone(),
        );
        registry.register(
            "expired_sessions",
            "Upload sessions expired by this node's sweeper",
            metrics.expired_sessions.clone(),
        );
        registry.register(
            "gc_deleted_blobs",
            "Unreferenced blobs deleted by this node's sweeper",
            metrics.deleted_blobs.clone(),
        );
        registry.register(
            "gc_orphan_blobs",
            "Blobs found unrecorded after a crash and deleted",
            metrics.orphans.clone(),
        );
        registry.register(
            "sessions",
            "Upload sessions by state, in the shared store, as of the last sweep",
            metrics.sessions.clone(),
        );
        metrics
    }

    pub fn set_session_counts(&self, counts: &[(SessionState, u64)]) {
        self.sessions.clear();
        for (state, n) in counts {
            self.sessions.get_or_create(&StateLabels { state: state.as_str() }).set(*n as i64);
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    bucket: String,
    rule: String,
}

/// What bucket lifecycle rules did on this node (the node holding the sweeper lease applies
/// them, so the sum over nodes counts each object and upload once).
#[derive(Clone)]
pub struct LifecycleMetrics {
    expired: Family<RuleLabels, Counter>,
    aborted: Family<RuleLabels, Counter>,
}

impl LifecycleMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = LifecycleMetrics { expired: Family::default(), aborted: Family::default() };
        registry.register(
            "lifecycle_expired_objects",
            "Objects deleted by bucket lifecycle rules on this node, by bucket and rule ID",
            metrics.expired.clone(),
        );
        registry.register(
            "lifecycle_aborted_uploads",
            "Incomplete multipart uploads aborted by bucket lifecycle rules on this node, by bucket and rule ID",
            metrics.aborted.clone(),
        );
        metrics
    }

    pub fn record(&self, report: &ferry_core::lifecycle::LifecycleReport) {
        for r in &report.rules {
            let labels = RuleLabels { bucket: r.bucket.clone(), rule: r.rule.clone() };
            if r.expired_objects > 0 {
                self.expired.get_or_create(&labels).inc_by(r.expired_objects);
            }
            if r.aborted_uploads > 0 {
                self.aborted.get_or_create(&labels).inc_by(r.aborted_uploads);
            }
        }
    }
}
