//! `ferry serve`: assemble the stores, the engine and the front-ends, and run the listener.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_blob::LocalBlobStore;
use ferry_core::credentials::CredentialStore;
use ferry_core::{Engine, EngineConfig};
use ferry_http::{Operations, Router, ServeOptions};
use ferry_meta::SqliteMetaStore;
use ferry_oss::{OssConfig, OssFrontend};
use ferry_s3::{S3Config, S3Frontend};
use ferry_us3::{Us3Config, Us3Frontend};
use prometheus_client::metrics::counter::Counter;

use crate::credentials::{self, Origin};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:9720")]
    listen: String,
    /// Directory for metadata (SQLite) and blobs.
    #[arg(long, env = "FERRY_DATA_DIR", default_value = "./ferry-data")]
    data_dir: PathBuf,
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
    /// Smallest S3 multipart part but the last, in bytes (S3's rule is 5 MiB; lower it only for
    /// tests and benchmarks that need many small parts).
    #[arg(long, env = "FERRY_S3_MIN_PART_SIZE", default_value_t = 5 * 1024 * 1024)]
    s3_min_part_size: u64,
    #[arg(long, env = "FERRY_ACCESS_KEY_ID", hide = true)]
    access_key_id: Option<String>,
    #[arg(long, env = "FERRY_SECRET_ACCESS_KEY", hide = true, hide_env_values = true)]
    secret_access_key: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    // One server per data directory: a second would corrupt nothing (SQLite locks) but would
    // sweep blobs the first one is writing.
    let lock = fs::File::create(args.data_dir.join("ferry.lock"))?;
    lock.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "another ferry server is using {}; stop it or choose another --data-dir",
            args.data_dir.display()
        )
    })?;

    let env_keys = match (args.access_key_id.clone(), args.secret_access_key.clone()) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => anyhow::bail!("set both FERRY_ACCESS_KEY_ID and FERRY_SECRET_ACCESS_KEY, or neither"),
    };
    let (creds, origin) = credentials::load(&args.data_dir, env_keys)?;

    let meta = SqliteMetaStore::open(args.data_dir.join("meta.db")).context("opening the metadata database")?;
    let blobs = LocalBlobStore::open(&args.data_dir).context("opening the blob directory")?;
    let config = EngineConfig {
        session_lifetime: args.session_lifetime,
        idle_timeout: args.idle_timeout,
        gc_grace: args.gc_grace,
        ..EngineConfig::default()
    };
    let engine = Engine::new(Arc::new(meta), Arc::new(blobs), config);
    engine.recover(true).await.context("recovering after the last run")?;

    let credential_store = Arc::new(CredentialStore::new(vec![creds.clone()]));
    let oss = OssFrontend::new(
        engine.clone(),
        credential_store.clone(),
        OssConfig { domain: args.domain.clone(), ..OssConfig::default() },
    );
    let us3 = Us3Frontend::new(
        engine.clone(),
        credential_store.clone(),
        Us3Config { domain: args.us3_domain.clone(), block_size: args.us3_block_size, ..Us3Config::default() },
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
    // Each dialect claims the requests signed in its scheme; S3 answers everything else.
    let ready_engine = engine.clone();
    let mut operations = Operations::new(Some(Arc::new(move || {
        let engine = ready_engine.clone();
        Box::pin(async move { engine.list_buckets().await.map(|_| ()).map_err(|e| e.to_string()) })
    })));
    let sweep_metrics = SweepMetrics::default();
    sweep_metrics.register(operations.registry_mut());
    let router =
        Router::new(Arc::new(s3)).with(Arc::new(oss)).with(Arc::new(us3)).with_operations(Arc::new(operations));
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ferry_http::tls_acceptor(cert, key).context("loading the TLS certificate")?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    banner(&format!("{scheme}://{addr}"), &args, &creds, &origin);

    let sweeper = tokio::spawn(sweep_forever(engine.clone(), args.sweep_interval, args.gc_grace, sweep_metrics));
    let options = ServeOptions { tls, drain_timeout: Duration::from_secs(30) };
    ferry_http::serve(listener, router, options, shutdown_signal()).await?;
    sweeper.abort();
    tracing::info!("stopped");
    Ok(())
}

fn banner(url: &str, args: &ServeArgs, creds: &ferry_core::credentials::Credentials, origin: &Origin) {
    println!("ferry {} listening on {url}", env!("CARGO_PKG_VERSION"));
    println!("  data directory: {}", args.data_dir.display());
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
}

/// What the sweeper did, for `/metrics`.
#[derive(Clone, Default)]
struct SweepMetrics {
    expired_sessions: Counter,
    deleted_blobs: Counter,
    orphans: Counter,
}

impl SweepMetrics {
    fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register("expired_sessions", "Upload sessions expired by the sweeper", self.expired_sessions.clone());
        registry.register("gc_deleted_blobs", "Unreferenced blobs deleted by the sweeper", self.deleted_blobs.clone());
        registry.register("gc_orphan_blobs", "Blobs found unrecorded after a crash and deleted", self.orphans.clone());
    }
}

/// Expire sessions and collect garbage periodically; scan for orphaned blobs at start and hourly.
async fn sweep_forever(engine: Engine, interval: Duration, grace: Duration, metrics: SweepMetrics) {
    let orphan_age = Duration::from_secs(3600).max(grace);
    let mut last_orphan_scan: Option<std::time::Instant> = None;
    loop {
        match engine.sweep().await {
            Ok(report) if report != Default::default() => {
                metrics.expired_sessions.inc_by(report.expired_sessions);
                metrics.deleted_blobs.inc_by(report.deleted_blobs);
                tracing::info!(?report, "sweep");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
        if last_orphan_scan.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            match engine.collect_orphans(orphan_age).await {
                Ok(0) => {}
                Ok(n) => {
                    metrics.orphans.inc_by(n);
                    tracing::info!(deleted = n, "removed orphaned blobs");
                }
                Err(e) => tracing::warn!(error = %e, "orphan scan failed"),
            }
            last_orphan_scan = Some(std::time::Instant::now());
        }
        tokio::time::sleep(interval).await;
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
