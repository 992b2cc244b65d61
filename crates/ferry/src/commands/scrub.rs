//! `ferry scrub`: verify every stored blob against its recorded checksums, straight on the
//! stores (the same `--data-dir`, `--meta` and `--blobs` as `ferry serve`), and the server's
//! optional background pass (`ferry serve --scrub-interval`).

use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_core::{Engine, EngineConfig, ScrubOptions, ScrubReport};

use crate::metrics::ScrubMetrics;
use crate::stores::{MetaLocation, StoreArgs, Stores};

#[derive(clap::Args)]
pub struct ScrubArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// Print the report as JSON on stdout (counts and every finding) instead of a summary.
    #[arg(long)]
    json: bool,
    /// Read at most this many bytes per second (e.g. 50MiB); unlimited when not given.
    #[arg(long, value_parser = crate::commands::cp::parse_size)]
    rate: Option<u64>,
}

/// Damage was found: the report was printed, and the exit code says so.
#[derive(Debug)]
pub struct DamageFound(pub u64);

impl std::fmt::Display for DamageFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} damaged object(s) or part(s); see the report above", self.0)
    }
}

impl std::error::Error for DamageFound {}

pub async fn run(args: ScrubArgs) -> anyhow::Result<()> {
    let (meta, blobs) = args.stores.locations()?;
    // Opening would create an empty database, and an empty store scrubs clean: say so instead.
    if let MetaLocation::Sqlite(path) = &meta
        && !path.exists()
    {
        anyhow::bail!("no metadata database at {}; pass the server's --data-dir (or --meta)", path.display());
    }
    // No directory lock: a server may be running on these stores, and the scrub neither writes
    // nor collects blobs; its only writes are damage flags, which SQLite serializes.
    let stores = Stores::open_shared(&meta, &blobs).await?;
    let engine = Engine::new(stores.meta.clone(), stores.blobs.clone(), EngineConfig::default());
    let started = Instant::now();
    let report = engine.scrub(ScrubOptions { rate: args.rate }).await.context("scrubbing")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report, started.elapsed()));
    }
    let damaged = report.findings.len() as u64;
    if damaged > 0 || report.flagged_objects > 0 {
        return Err(DamageFound(damaged.max(report.flagged_objects)).into());
    }
    Ok(())
}

/// The human-readable report: one line per finding, then the totals.
fn summary(report: &ScrubReport, elapsed: Duration) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        out.push_str(&format!("DAMAGED {}: {} [{}]\n", finding.subject, finding.reason(), finding.kind.as_str()));
    }
    out.push_str(&format!(
        "verified {} object(s) and {} upload part(s): {} blob(s), {} byte(s) in {:.1}s\n",
        report.objects,
        report.parts,
        report.blobs,
        report.bytes,
        elapsed.as_secs_f64()
    ));
    out.push_str(&format!(
        "damaged: {} object(s) (reads now fail until deleted or uploaded again), {} upload part(s)\n",
        report.damaged_objects, report.damaged_parts
    ));
    if report.cleared_objects > 0 {
        out.push_str(&format!("cleared: {} object(s) read back correctly again\n", report.cleared_objects));
    }
    if report.flagged_objects > report.damaged_objects {
        out.push_str(&format!("flagged in total: {} object(s), counting earlier scrubs\n", report.flagged_objects));
    }
    out
}

/// The server's background scrub: every `interval`, if this node holds the sweeper's lease
/// (so among nodes sharing the stores one scrubs), at most `rate` bytes per second.
pub struct Scrubber {
    pub engine: Engine,
    pub node: String,
    pub lease_ttl: Duration,
    pub interval: Duration,
    pub rate: u64,
    pub metrics: ScrubMetrics,
}

impl Scrubber {
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.interval).await;
            match self.engine.lease("sweeper", &self.node, self.lease_ttl).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "could not take the sweeper lease for a scrub");
                    continue;
                }
            }
            let started = Instant::now();
            match self.engine.scrub(ScrubOptions { rate: Some(self.rate) }).await {
                Ok(report) => {
                    self.metrics.record(&report);
                    tracing::info!(
                        objects = report.objects,
                        parts = report.parts,
                        bytes = report.bytes,
                        damaged_objects = report.damaged_objects,
                        damaged_parts = report.damaged_parts,
                        flagged_objects = report.flagged_objects,
                        seconds = started.elapsed().as_secs(),
                        "scrub finished"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "scrub failed; the next one starts after the interval"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::{BlobId, FindingKind, ScrubFinding, ScrubSubject};

    #[test]
    fn summary_names_each_finding_and_the_totals() {
        let report = ScrubReport {
            objects: 3,
            blobs: 3,
            bytes: 30,
            damaged_objects: 1,
            flagged_objects: 1,
            findings: vec![ScrubFinding {
                subject: ScrubSubject::Object { bucket: "b".into(), key: "k".into() },
                blob: Some(BlobId("0".repeat(32))),
                kind: FindingKind::Missing,
                check: "size".into(),
                expected: "10".into(),
                actual: "missing".into(),
            }],
            ..Default::default()
        };
        let text = summary(&report, Duration::from_millis(1500));
        assert!(
            text.starts_with(&format!("DAMAGED object b/k: blob {} is missing [missing]\n", "0".repeat(32))),
            "{text}"
        );
        assert!(text.contains("verified 3 object(s) and 0 upload part(s): 3 blob(s), 30 byte(s) in 1.5s"), "{text}");
        assert!(text.contains("damaged: 1 object(s)"), "{text}");
    }
}
