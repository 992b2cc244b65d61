//! `ferry serve`: assemble the stores, the engine and the front-ends, and run the listener.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_core::credentials::CredentialStore;
use ferry_core::{Engine, EngineConfig, SessionState, SweepObserver, SweepReport, SweeperConfig, run_sweeper};
use ferry_http::{Limits, Operations, Router, ServeOptions};
use ferry_oss::{OssConfig, OssFrontend};
use ferry_s3::{S3Config, S3Frontend};
use ferry_tunnel::{TunnelConfig, TunnelFrontend};
use ferry_tus::{TusConfig, TusFrontend};
use ferry_us3::{Us3Config, Us3Frontend};

use crate::bucket_hosts::OffBucketHosts;
use crate::credentials::{self, Origin};
use crate::metrics::{EngineMetrics, LifecycleMetrics, ScrubMetrics, SweepMetrics};
use crate::stores::{MetaLocation, StoreArgs, Stores};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:9720")]
    listen: String,
    #[command(flatten)]
    stores: StoreArgs,
    /// Log format on stderr: text, or json (one object per line, for log collectors).
    #[arg(long, env = "FERRY_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Base domain for virtual-host style S3 addressing (`<bucket>.<domain>`).
    #[arg(long, env = "FERRY_DOMAIN")]
    domain: Option<String>,
    /// Region reported to S3 clients.
    #[arg(long, env = "FERRY_REGION", default_value = "us-east-1")]
    region: String,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "FERRY_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "FERRY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long an upload session may live (e.g. 24h, 90m).
    #[arg(long, env = "FERRY_SESSION_LIFETIME", default_value = "24h", value_parser = humantime::parse_duration)]
    session_lifetime: Duration,
    /// How long an upload session may go without receiving a part before it expires.
    #[arg(long, env = "FERRY_IDLE_TIMEOUT", default_value = "24h", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// How often the sweeper expires sessions and collects garbage.
    #[arg(long, env = "FERRY_SWEEP_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    sweep_interval: Duration,
    /// How long unreferenced blobs wait before deletion.
    #[arg(long, env = "FERRY_GC_GRACE", default_value = "60s", value_parser = humantime::parse_duration)]
    gc_grace: Duration,
    /// Base domain for the US3 dialect: a Host of `<bucket>.<domain>` names the bucket.
    #[arg(long, env = "FERRY_US3_DOMAIN")]
    us3_domain: Option<String>,
    /// Part size ferry asks US3 clients to use (BlkSize), e.g. 4MiB.
    #[arg(long, env = "FERRY_US3_BLOCK_SIZE", default_value_t = 4 * 1024 * 1024)]
    us3_block_size: u64,
    /// Off by default. When set (e.g. 15m), US3 header-signed requests must sign a `Date` within
    /// this long of the server's clock, which limits how long a captured request can be replayed.
    /// The UFile SDKs sign an empty Date, so only clients that sign one can use such a server.
    #[arg(long, env = "FERRY_US3_MAX_REQUEST_AGE", value_parser = humantime::parse_duration)]
    us3_max_request_age: Option<Duration>,
    /// Bucket holding tables (schemas, partitions, Parquet data files); created when the first
    /// table is.
    #[arg(long, env = "FERRY_TABLE_BUCKET", default_value = "ferry-tables")]
    table_bucket: String,
    /// A Tunnel block upload that sends no data for this long is cut off.
    #[arg(long, env = "FERRY_TUNNEL_IDLE_TIMEOUT", default_value = "120s", value_parser = humantime::parse_duration)]
    tunnel_idle_timeout: Duration,
    /// New uploads are refused with "insufficient storage" while the data directory's disk has
    /// less free space than this (e.g. 1GiB, 0 to disable), so deletes and aborts always have room.
    #[arg(long, env = "FERRY_MIN_FREE_SPACE", default_value = "256MiB", value_parser = crate::commands::cp::parse_size)]
    min_free_space: u64,
    /// Allow browser pages from this origin (e.g. https://app.example.com) to call ferry: CORS
    /// preflights are answered and responses carry CORS headers, server-wide (every dialect, tus
    /// and the API). Repeat for several origins; `*` allows any origin without credentials.
    /// Off by default (no CORS headers).
    #[arg(long = "cors-origin", env = "FERRY_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Smallest S3 multipart part but the last, in bytes (S3's rule is 5 MiB; lower it only for
    /// tests and benchmarks that need many small parts).
    #[arg(long, env = "FERRY_S3_MIN_PART_SIZE", default_value_t = 5 * 1024 * 1024)]
    s3_min_part_size: u64,
    /// How long a client may take to send a request's headers; an idle keep-alive connection is
    /// also closed after this long.
    #[arg(long, env = "FERRY_HEADER_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    header_timeout: Duration,
    /// A request body that delivers no bytes for this long fails: the part being uploaded is
    /// discarded and the connection closed.
    #[arg(long, env = "FERRY_BODY_IDLE_TIMEOUT", default_value = "120s", value_parser = positive_duration)]
    body_idle_timeout: Duration,
    /// Connections served at once; further ones are answered 503 SlowDown until one closes.
    #[arg(long, env = "FERRY_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Scrub every stored blob against its recorded checksums this often (e.g. 24h); off when
    /// not given. Among nodes sharing the stores, the one holding the sweeper's lease scrubs.
    #[arg(long, env = "FERRY_SCRUB_INTERVAL", value_parser = positive_duration)]
    scrub_interval: Option<Duration>,
    /// Most bytes per second a background scrub reads (e.g. 8MiB), so it leaves the disks to
    /// clients.
    #[arg(long, env = "FERRY_SCRUB_RATE", default_value = "8MiB", value_parser = crate::commands::cp::parse_size)]
    scrub_rate: u64,
    /// How long a "day" of bucket lifecycle rules lasts (rules say "expire after N days"). Keep
    /// 1d in production; a short day (e.g. 2s) lets tests and trials see rules act.
    #[arg(long, env = "FERRY_LIFECYCLE_DAY", default_value = "1d", value_parser = positive_duration)]
    lifecycle_day: Duration,
    #[command(flatten)]
    notify: crate::events::NotifyArgs,
    /// Shortest session STS (AssumeRole, GetSessionToken) grants, e.g. 15m (AWS's minimum);
    /// lower it only for tests.
    #[arg(long, env = "FERRY_STS_MIN_DURATION", default_value = "15m", value_parser = positive_duration)]
    sts_min_duration: Duration,
    /// The master key (64 hex digits) stored key secrets are sealed under; default: master.key
    /// in the data directory, generated on first start.
    #[arg(long, env = "FERRY_MASTER_KEY", hide = true, hide_env_values = true)]
    master_key: Option<String>,
    /// Path prefix of the tus 1.0.0 endpoint (resumable uploads from browsers and apps).
    #[arg(long, env = "FERRY_TUS_PATH", default_value = "/files/")]
    tus_path: String,
    /// Off by default. When set, tus requests without a signature may upload into this one
    /// bucket (and no other); for trusted networks until upload tokens exist.
    #[arg(long, env = "FERRY_TUS_ANONYMOUS_BUCKET")]
    tus_anonymous_bucket: Option<String>,
    #[arg(long, env = "FERRY_ACCESS_KEY_ID", hide = true)]
    access_key_id: Option<String>,
    #[arg(long, env = "FERRY_SECRET_ACCESS_KEY", hide = true, hide_env_values = true)]
    secret_access_key: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        logs.json().with_current_span(false).init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    fs::create_dir_all(&args.stores.data_dir)
        .with_context(|| format!("creating data directory {}", args.stores.data_dir.display()))?;
    let (meta_location, blob_location) = args.stores.locations()?;

    let env_keys = match (args.access_key_id.clone(), args.secret_access_key.clone()) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => anyhow::bail!("set both FERRY_ACCESS_KEY_ID and FERRY_SECRET_ACCESS_KEY, or neither"),
    };
    if matches!(meta_location, MetaLocation::Postgres(_))
        && env_keys.is_none()
        && !credentials::exists(&args.stores.data_dir)
    {
        // Generating a key pair per node would give every node different credentials.
        anyhow::bail!(
            "with a shared --meta, give every node the same key pair: set FERRY_ACCESS_KEY_ID and \
             FERRY_SECRET_ACCESS_KEY (or copy one credentials.json into each node's data directory)"
        );
    }
    let (creds, origin) = credentials::load(&args.stores.data_dir, env_keys)?;

    let stores = Stores::open(&meta_location, &blob_location).await?;
    let config = EngineConfig {
        session_lifetime: args.session_lifetime,
        idle_timeout: args.idle_timeout,
        gc_grace: args.gc_grace,
        table_bucket: args.table_bucket.clone(),
        min_free_space: args.min_free_space,
        lifecycle_day: args.lifecycle_day,
        ..EngineConfig::default()
    };
    let mut operations = Operations::new();
    let engine_metrics = EngineMetrics::register(operations.registry_mut());
    let sweep_metrics = SweepMetrics::register(operations.registry_mut());
    let scrub_metrics = ScrubMetrics::register(operations.registry_mut());
    let lifecycle_metrics = LifecycleMetrics::register(operations.registry_mut());
    let event_metrics = crate::events::EventMetrics::register(operations.registry_mut());
    let event_targets = args.notify.targets()?;
    let engine = Engine::new(stores.meta.clone(), stores.blobs.clone(), config).with_observer(Arc::new(engine_metrics));
    let engine = engine.with_event_targets(event_targets.keys().cloned());
    engine.recover(stores.exclusive).await.context("recovering after the last run")?;

    // Access keys: the master key must open every stored secret before the server takes a
    // request; a missing or different one stops start-up and changes nothing.
    let keys_stored = !stores.keys.list_keys().await.context("reading the access keys")?.is_empty();
    let (master, master_origin) =
        crate::master_key::load(&args.stores.data_dir, args.master_key.as_deref(), keys_stored)?;
    let console_master = master.clone();
    let credential_store = Arc::new(CredentialStore::with_store(
        creds.clone(),
        master,
        stores.keys.clone(),
        args.sts_min_duration.as_secs(),
    ));
    credential_store.refresh().await.context("loading the access keys")?;
    // A disabled or deleted key stops working on this node within about a second.
    let key_refresher = credential_store.spawn_refresher(Duration::from_secs(1));
    let credentials_for_exit = credential_store.clone();
    let oss = OssFrontend::new(
        engine.clone(),
        credential_store.clone(),
        OssConfig { domain: args.domain.clone(), ..OssConfig::default() },
    );
    let us3 = Us3Frontend::new(
        engine.clone(),
        credential_store.clone(),
        Us3Config {
            domain: args.us3_domain.clone(),
            block_size: args.us3_block_size,
            max_request_age: args.us3_max_request_age,
            ..Us3Config::default()
        },
    );
    let tunnel = TunnelFrontend::new(
        engine.clone(),
        credential_store.clone(),
        TunnelConfig { idle_timeout: args.tunnel_idle_timeout, ..TunnelConfig::default() },
    );
    let api = crate::api::ApiFrontend::new(
        credential_store.clone(),
        TusConfig::normalise_path(&args.tus_path).map_err(anyhow::Error::msg)?,
    );
    let cors = ferry_http::cors::Cors::new(&args.cors_origins).map_err(anyhow::Error::msg)?;
    let tus = TusFrontend::new(
        engine.clone(),
        credential_store.clone(),
        TusConfig {
            path: TusConfig::normalise_path(&args.tus_path).map_err(anyhow::Error::msg)?,
            anonymous_bucket: args.tus_anonymous_bucket.clone(),
            ..TusConfig::default()
        },
    );
    let console = ferry_console::ConsoleFrontend::new(
        engine.clone(),
        credential_store.clone(),
        console_master,
        ferry_console::ConsoleConfig { region: args.region.clone(), ..ferry_console::ConsoleConfig::default() },
    );
    let s3 = S3Frontend::new(
        engine.clone(),
        credential_store,
        S3Config {
            region: args.region.clone(),
            domain: args.domain.clone(),
            min_part_size: args.s3_min_part_size,
            ..S3Config::default()
        },
    );
    // Ready when both stores answer; low space is reported, not a reason to leave the load
    // balancer (deletes must still reach the node to free space).
    let (ready_engine, ready_blobs, free_gauge) =
        (engine.clone(), stores.blobs.clone(), sweep_metrics.free_bytes.clone());
    operations.set_readiness(Arc::new(move || {
        let (engine, blobs, free_gauge) = (ready_engine.clone(), ready_blobs.clone(), free_gauge.clone());
        Box::pin(async move {
            engine.list_buckets().await.map_err(|e| format!("metadata store: {e}"))?;
            blobs.check().await.map_err(|e| format!("blob store: {e}"))?;
            Ok(low_space_note(&engine, &free_gauge).await)
        })
    }));
    // Each dialect claims the requests signed in its scheme; S3 answers everything else. tus
    // claims by path (its requests carry S3 signatures), so it is consulted first.
    // The front-ends that claim by path never claim a request to a bucket's own host name
    // (virtual-host style): there the path is an object key.
    let bucket_domains = [args.domain.clone(), args.us3_domain.clone()];
    let by_path = |frontend: Arc<dyn ferry_http::Frontend>| OffBucketHosts::wrap(frontend, &bucket_domains);
    let router = Router::new(Arc::new(s3))
        // The web console claims unsigned requests under /console, before every dialect; the
        // ferry API claims /_ferry/ (no bucket name starts with `_`).
        .with(by_path(Arc::new(console)))
        .with(by_path(Arc::new(api)))
        .with(by_path(Arc::new(tus)))
        .with(Arc::new(oss))
        .with(Arc::new(us3))
        .with(Arc::new(tunnel))
        .with_operations(Arc::new(operations))
        .with_cors(cors);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ferry_http::tls_acceptor(cert, key).context("loading the TLS certificate")?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    banner(&format!("{scheme}://{addr}"), &args, &stores, &creds, &origin);
    println!("  master key:     {}", master_origin.describe());

    let sweeper = SweeperConfig {
        // The only user of its stores takes the lease back at once after a restart; nodes sharing
        // stores each have their own name, and a restarted node waits for its old lease to lapse.
        node: if stores.exclusive { "embedded".to_string() } else { ferry_core::random_id()[..12].to_string() },
        interval: args.sweep_interval,
        orphan_age: args.session_lifetime.max(args.gc_grace),
        orphan_scan_interval: Duration::from_secs(3600),
    };
    let scrubber = args.scrub_interval.map(|interval| {
        tokio::spawn(
            crate::commands::scrub::Scrubber {
                engine: engine.clone(),
                node: sweeper.node.clone(),
                lease_ttl: sweeper.lease_ttl(),
                interval,
                rate: args.scrub_rate,
                metrics: scrub_metrics.clone(),
            }
            .run(),
        )
    });
    let deliverer = tokio::spawn(
        crate::events::Deliverer {
            engine: engine.clone(),
            holder: sweeper.node.clone(),
            targets: event_targets,
            args: args.notify.clone(),
            region: args.region.clone(),
            metrics: event_metrics,
        }
        .run(),
    );
    let (stop_sweeper, sweeper_stopped) = tokio::sync::oneshot::channel::<()>();
    let sweeper = tokio::spawn(async move {
        let gauges = SweepGauges { sweep: sweep_metrics, scrub: scrub_metrics, lifecycle: lifecycle_metrics };
        run_sweeper(engine, sweeper, &gauges, async {
            let _ = sweeper_stopped.await;
        })
        .await;
    });
    let limits = Limits {
        header_read_timeout: args.header_timeout,
        body_idle_timeout: args.body_idle_timeout,
        max_connections: args.max_connections as usize,
    };
    let options = ServeOptions { tls, drain_timeout: Duration::from_secs(30), limits };
    ferry_http::serve(listener, router, options, shutdown_signal()).await?;
    key_refresher.abort();
    credentials_for_exit.flush_last_used().await;
    let _ = stop_sweeper.send(());
    let _ = sweeper.await;
    // Undelivered events stay in the outbox for the next start (or another node).
    deliverer.abort();
    if let Some(scrubber) = scrubber {
        scrubber.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Updates the free-space gauge; a note when new uploads are being refused for lack of space.
async fn low_space_note(engine: &Engine, gauge: &prometheus_client::metrics::gauge::Gauge) -> Option<String> {
    let free = engine.available_space().await?;
    gauge.set(i64::try_from(free).unwrap_or(i64::MAX));
    engine.low_space_note(free)
}

fn banner(url: &str, args: &ServeArgs, stores: &Stores, creds: &ferry_core::credentials::Credentials, origin: &Origin) {
    println!("ferry {} listening on {url}", env!("CARGO_PKG_VERSION"));
    println!("  data directory: {}", args.stores.data_dir.display());
    println!("  metadata:       {}", stores.meta_description);
    println!("  blobs:          {}", stores.blobs_description);
    let secret = match origin {
        Origin::Environment => "(from FERRY_SECRET_ACCESS_KEY)".to_string(),
        Origin::Generated | Origin::DataDir => creds.secret_access_key.clone(),
    };
    let note = match origin {
        Origin::Environment => "from the environment",
        Origin::Generated => "generated now, kept in credentials.json in the data directory",
        Origin::DataDir => "from credentials.json in the data directory",
    };
    println!("  access key id:  {}  ({note})", creds.access_key_id);
    println!("  secret key:     {secret}");
    println!();
    println!("Try it with awscli:");
    println!(
        "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={}",
        creds.access_key_id,
        match origin {
            Origin::Environment => "\"$FERRY_SECRET_ACCESS_KEY\"",
            _ => &secret,
        },
        args.region
    );
    println!("  aws --endpoint-url {url} s3 mb s3://demo");
    println!("  aws --endpoint-url {url} s3 cp ./some-file s3://demo/");
    println!("Tables (pyodps): ODPS(access_id, secret_key, \"myproject\", endpoint=\"{url}/odps\")");
}

/// The sweeper's reports into the node's metrics.
struct SweepGauges {
    sweep: SweepMetrics,
    scrub: ScrubMetrics,
    lifecycle: LifecycleMetrics,
}

impl SweepObserver for SweepGauges {
    fn session_counts(&self, counts: &[(SessionState, u64)]) {
        self.sweep.set_session_counts(counts);
    }
    fn damaged_objects(&self, n: u64) {
        // Flags set by another node or by `ferry scrub` show here too.
        self.scrub.damaged_objects.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    fn free_space(&self, free: u64) {
        self.sweep.free_bytes.set(i64::try_from(free).unwrap_or(i64::MAX));
    }
    fn swept(&self, report: SweepReport) {
        self.sweep.expired_sessions.inc_by(report.expired_sessions);
        self.sweep.deleted_blobs.inc_by(report.deleted_blobs);
    }
    fn orphans_deleted(&self, n: u64) {
        self.sweep.orphans.inc_by(n);
    }
    fn lifecycle_applied(&self, report: &ferry_core::lifecycle::LifecycleReport) {
        self.lifecycle.record(report);
    }
}

/// A duration such as `30s` or `2m`; zero would close every connection at once.
fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing in-flight requests");
}
