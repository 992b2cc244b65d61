//! Event delivery: the server's named webhook targets (`--notify NAME=URL[,secret=S]`), and the
//! worker every node runs that takes events out of the store's outbox and POSTs them.
//!
//! At least once: a row leaves the outbox only after its target answered 2xx. Rows are claimed
//! for a while (`--notify-claim`) before delivery, so two nodes never deliver the same row at
//! once; a node killed mid-delivery leaves its claims to run out, and any node (itself after a
//! restart, at once: an embedded server keeps its holder name) delivers them again. A failed
//! attempt is retried after an exponential back-off; after `--notify-max-attempts` the row
//! becomes a dead letter (`ferry events ls --failed`, `ferry events retry`).
//!
//! Each POST carries the S3 event JSON (`{"Records":[…]}`), `X-Ferry-Event-Id` (the same on
//! every attempt of one event: the receiver's dedup key) and, for a target with a secret,
//! `X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use ferry_core::events::{EventKind, OutboxEvent};
use ferry_core::{Engine, Millis, now_millis};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sha2::Sha256;

/// The `ferry serve` options for notifications.
#[derive(clap::Args, Clone, Debug)]
pub struct NotifyArgs {
    /// A webhook target buckets may send events to: NAME=URL[,secret=SECRET] (repeatable). A
    /// bucket names it in its notification configuration as arn:minio:sqs::NAME:webhook.
    #[arg(long = "notify", env = "FERRY_NOTIFY", value_delimiter = ';', value_name = "NAME=URL[,secret=S]")]
    notify: Vec<String>,
    /// A file of webhook targets, one NAME=URL[,secret=SECRET] a line ('#' starts a comment),
    /// so that secrets stay out of the process list.
    #[arg(long, env = "FERRY_NOTIFY_FILE")]
    notify_file: Option<PathBuf>,
    /// Attempts before an event becomes a dead letter (`ferry events ls --failed`).
    #[arg(long, env = "FERRY_NOTIFY_MAX_ATTEMPTS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    notify_max_attempts: u32,
    /// The first retry's delay; each further retry waits twice as long, up to --notify-retry-max.
    #[arg(long, env = "FERRY_NOTIFY_RETRY_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    notify_retry_base: Duration,
    /// The longest delay between two attempts.
    #[arg(long, env = "FERRY_NOTIFY_RETRY_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    notify_retry_max: Duration,
    /// How long a node holds the events it is delivering before another node may take them.
    #[arg(long, env = "FERRY_NOTIFY_CLAIM", default_value = "60s", value_parser = humantime::parse_duration)]
    notify_claim: Duration,
    /// How long one POST may take.
    #[arg(long, env = "FERRY_NOTIFY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    notify_timeout: Duration,
}

/// One webhook target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub secret: Option<String>,
}

impl NotifyArgs {
    /// The targets from `--notify` and `--notify-file`, by name. A name given twice is an error.
    pub fn targets(&self) -> anyhow::Result<BTreeMap<String, Target>> {
        let mut specs: Vec<String> = self.notify.iter().filter(|s| !s.trim().is_empty()).cloned().collect();
        if let Some(path) = &self.notify_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the notification targets in {}", path.display()))?;
            specs.extend(
                text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string),
            );
        }
        let mut targets = BTreeMap::new();
        for spec in specs {
            let (name, target) = parse_target(&spec)?;
            if targets.insert(name.clone(), target).is_some() {
                anyhow::bail!("the notification target {name} is given twice");
            }
        }
        Ok(targets)
    }
}

/// `NAME=URL[,secret=SECRET]`.
fn parse_target(spec: &str) -> anyhow::Result<(String, Target)> {
    let usage = || format!("--notify {spec:?}: expected NAME=URL[,secret=SECRET]");
    let (name, rest) = spec.trim().split_once('=').with_context(usage)?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        anyhow::bail!("{}: the name may hold letters, digits, '-', '_' and '.' only", usage());
    }
    let (url, secret) = match rest.split_once(",secret=") {
        Some((url, secret)) => (url, Some(secret.to_string())),
        None => (rest, None),
    };
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.parse::<http::Uri>().is_err() {
        anyhow::bail!("{}: {url:?} is not an http:// or https:// URL", usage());
    }
    Ok((name.to_string(), Target { url: url.to_string(), secret }))
}

/// The delivery metrics.
#[derive(Clone)]
pub struct EventMetrics {
    backlog: Family<StateLabels, Gauge>,
    delivered: Counter,
    failed: Family<OutcomeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl EventMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics =
            EventMetrics { backlog: Family::default(), delivered: Counter::default(), failed: Family::default() };
        registry.register(
            "events_backlog",
            "Events in the outbox, by state (pending: waiting for delivery; failed: dead letters)",
            metrics.backlog.clone(),
        );
        registry.register(
            "events_delivered",
            "Events this node delivered (its target answered 2xx)",
            metrics.delivered.clone(),
        );
        registry.register(
            "events_failed",
            "Failed delivery attempts of this node, by outcome (retry: tried again later; dead: became a dead letter)",
            metrics.failed.clone(),
        );
        metrics
    }
}

/// The delivery worker of one node.
pub struct Deliverer {
    pub engine: Engine,
    /// This node's claim name (the sweeper's node name).
    pub holder: String,
    pub targets: BTreeMap<String, Target>,
    pub args: NotifyArgs,
    pub region: String,
    pub metrics: EventMetrics,
}

/// How many rows one claim takes.
const BATCH: usize = 32;
/// How often an idle worker looks for new rows.
const POLL: Duration = Duration::from_millis(250);

impl Deliverer {
    /// Deliver until the task is dropped.
    pub async fn run(self) {
        let connector = match ferry_http::https_connector() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "event delivery is off: cannot build the HTTPS connector");
                return;
            }
        };
        let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let this = Arc::new(self);
        let mut last_count = std::time::Instant::now() - Duration::from_secs(60);
        loop {
            if last_count.elapsed() >= Duration::from_secs(2) {
                last_count = std::time::Instant::now();
                if let Ok(counts) = this.engine.count_events().await {
                    this.metrics.backlog.get_or_create(&StateLabels { state: "pending" }).set(counts.pending as i64);
                    this.metrics.backlog.get_or_create(&StateLabels { state: "failed" }).set(counts.failed as i64);
                }
            }
            let lease = this.args.notify_claim.as_millis() as Millis;
            let batch = match this.engine.claim_events(&this.holder, now_millis(), lease, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming events to deliver failed; trying again");
                    tokio::time::sleep(POLL * 4).await;
                    continue;
                }
            };
            if batch.is_empty() {
                tokio::time::sleep(POLL).await;
                continue;
            }
            // Concurrently within a batch; the next claim waits until every row of this one
            // is settled, so a node never claims a row it is still delivering.
            let deliveries = batch.into_iter().map(|event| {
                let (this, http) = (this.clone(), http.clone());
                async move { this.deliver(&http, event).await }
            });
            futures_util::future::join_all(deliveries).await;
        }
    }

    async fn deliver<C>(&self, http: &Client<C, Full<Bytes>>, event: OutboxEvent)
    where
        C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    {
        let outcome = match self.targets.get(&event.target) {
            None => Err(format!("no notification target {} is configured on this node", event.target)),
            Some(target) => self.post(http, target, &event).await,
        };
        match outcome {
            Ok(()) => {
                self.metrics.delivered.inc();
                if let Err(e) = self.engine.event_delivered(&event.id).await {
                    // The claim runs out and the event is delivered again: at least once.
                    tracing::warn!(id = %event.id, error = %e, "an event was delivered but could not be removed");
                }
            }
            Err(why) => {
                let attempts = event.attempts + 1;
                let retry_at =
                    (attempts < self.args.notify_max_attempts).then(|| now_millis() + self.backoff(attempts));
                let outcome = if retry_at.is_some() { "retry" } else { "dead" };
                self.metrics.failed.get_or_create(&OutcomeLabels { outcome }).inc();
                tracing::warn!(id = %event.id, target = %event.target, attempts, error = %why, outcome, "event delivery failed");
                if let Err(e) = self.engine.event_failed(&event.id, &self.holder, &why, retry_at).await {
                    tracing::warn!(id = %event.id, error = %e, "recording a failed delivery failed");
                }
            }
        }
    }

    /// The delay before attempt `attempts + 1`: base · 2^(attempts − 1), at most the maximum.
    fn backoff(&self, attempts: u32) -> Millis {
        let base = self.args.notify_retry_base.as_millis() as u64;
        let delay = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
        delay.min(self.args.notify_retry_max.as_millis() as u64).max(1) as Millis
    }

    async fn post<C>(&self, http: &Client<C, Full<Bytes>>, target: &Target, event: &OutboxEvent) -> Result<(), String>
    where
        C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    {
        let body = Bytes::from(render(event, &self.region).to_string());
        let mut request = http::Request::post(&target.url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .header("x-ferry-event-id", &event.id)
            .header("x-ferry-event-name", event.facts.kind.record_name());
        if let Some(secret) = &target.secret {
            request = request.header("x-ferry-signature", signature(secret, &body));
        }
        let request = request.body(Full::new(body)).map_err(|e| format!("building the request: {e}"))?;
        let response = tokio::time::timeout(self.args.notify_timeout, http.request(request))
            .await
            .map_err(|_| format!("no answer within {:?}", self.args.notify_timeout))?
            .map_err(|e| format!("POST {}: {e}", target.url))?;
        let status = response.status();
        // Read (a bounded part of) the answer so the connection can be reused.
        let _ = tokio::time::timeout(Duration::from_secs(2), response.into_body().collect()).await;
        if status.is_success() { Ok(()) } else { Err(format!("POST {} answered {status}", target.url)) }
    }
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The S3 event message of one outbox row: `{"Records":[{…}]}`.
pub fn render(event: &OutboxEvent, region: &str) -> serde_json::Value {
    let facts = &event.facts;
    let mut object = serde_json::json!({
        "key": encode_key(&facts.key),
        "sequencer": facts.sequencer,
    });
    if !matches!(facts.kind, EventKind::Delete | EventKind::LifecycleExpiration) {
        object["size"] = facts.size.into();
        object["eTag"] = facts.etag.clone().into();
    }
    let source = if facts.kind == EventKind::TableCommit { "ferry:tunnel" } else { "ferry:s3" };
    let mut record = serde_json::json!({
        "eventVersion": "2.1",
        "eventSource": source,
        "awsRegion": region,
        "eventTime": ferry_http::dates::iso8601(facts.time),
        "eventName": facts.kind.record_name(),
        "userIdentity": {"principalId": "ferry"},
        "requestParameters": {"sourceIPAddress": ""},
        "responseElements": {"x-amz-request-id": event.id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": facts.config_id,
            "bucket": {
                "name": facts.bucket,
                "ownerIdentity": {"principalId": "ferry"},
                "arn": format!("arn:aws:s3:::{}", facts.bucket),
            },
            "object": object,
        },
    });
    if let Some(detail) = &facts.detail {
        record["ferry"] = detail.clone();
    }
    serde_json::json!({ "Records": [record] })
}

/// Keys are URL-encoded in S3 events, as form values are ("red flower.jpg" is "red+flower.jpg");
/// `/` is kept.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let parsed = parse_target("hooks=http://127.0.0.1:9/in,secret=s3cr,et");
        let Ok((name, t)) = parsed else { panic!("{parsed:?}") };
        assert_eq!(name, "hooks");
        assert_eq!(t, Target { url: "http://127.0.0.1:9/in".into(), secret: Some("s3cr,et".into()) });
        assert!(parse_target("hooks").is_err());
        assert!(parse_target("=http://x").is_err());
        assert!(parse_target("a b=http://x").is_err());
        assert!(parse_target("hooks=ftp://x").is_err());
    }

    #[test]
    fn keys_are_form_encoded() {
        assert_eq!(encode_key("red flower.jpg"), "red+flower.jpg");
        assert_eq!(encode_key("a/b c/ü+x"), "a/b+c/%C3%BC%2Bx");
    }

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
