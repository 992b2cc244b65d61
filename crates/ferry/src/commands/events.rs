//! `ferry events ls` and `ferry events retry`: the event outbox, read straight from the server's
//! stores (the same `--data-dir` or `--meta` as `ferry serve`), like `ferry scrub`. Reading the
//! store rather than asking the server through an admin endpoint means it works while the
//! server is down (when dead letters matter most) and needs no admin credentials or API of its
//! own; a running server notices retried rows on its next poll.

use ferry_core::events::OutboxEvent;
use ferry_core::{Engine, EngineConfig};

use crate::stores::{MetaLocation, StoreArgs, Stores};

#[derive(clap::Subcommand)]
pub enum EventsCommand {
    /// Events waiting for delivery, oldest first (with --failed: dead letters only).
    Ls(LsArgs),
    /// Send dead letters again: every one, or those named.
    Retry(RetryArgs),
}

#[derive(clap::Args)]
pub struct LsArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// Only events that gave up after the last attempt (dead letters).
    #[arg(long)]
    failed: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// At most this many.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

#[derive(clap::Args)]
pub struct RetryArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// Event ids (from `ferry events ls --failed`); all dead letters when none is given.
    ids: Vec<String>,
}

pub async fn run(command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Ls(args) => ls(args).await,
        EventsCommand::Retry(args) => retry(args).await,
    }
}

async fn engine(stores: &StoreArgs) -> anyhow::Result<Engine> {
    let (meta, blobs) = stores.locations()?;
    if let MetaLocation::Sqlite(path) = &meta
        && !path.exists()
    {
        anyhow::bail!("no metadata database at {}; pass the server's --data-dir (or --meta)", path.display());
    }
    let stores = Stores::open_shared(&meta, &blobs).await?;
    Ok(Engine::new(stores.meta.clone(), stores.blobs.clone(), EngineConfig::default()))
}

async fn ls(args: LsArgs) -> anyhow::Result<()> {
    let engine = engine(&args.stores).await?;
    let events = engine.list_events(args.failed, args.limit).await?;
    if args.json {
        for e in &events {
            println!("{}", json(e));
        }
        return Ok(());
    }
    if events.is_empty() {
        println!("{}", if args.failed { "no failed events" } else { "no events waiting" });
        return Ok(());
    }
    println!("{:<32}  {:<7}  {:>8}  {:<12}  {:<36}  OBJECT", "ID", "STATE", "ATTEMPTS", "TARGET", "EVENT");
    for e in &events {
        println!(
            "{:<32}  {:<7}  {:>8}  {:<12}  {:<36}  {}/{}",
            e.id,
            e.state.as_str(),
            e.attempts,
            e.target,
            e.facts.kind.record_name(),
            e.facts.bucket,
            e.facts.key
        );
        if let Some(why) = &e.last_error {
            println!("    last error: {why}");
        }
    }
    Ok(())
}

fn json(e: &OutboxEvent) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "state": e.state.as_str(),
        "attempts": e.attempts,
        "target": e.target,
        "event": e.facts.kind.record_name(),
        "bucket": e.facts.bucket,
        "key": e.facts.key,
        "size": e.facts.size,
        "etag": e.facts.etag,
        "time": ferry_http::dates::iso8601(e.facts.time),
        "next_attempt": ferry_http::dates::iso8601(e.next_attempt),
        "last_error": e.last_error,
    })
}

async fn retry(args: RetryArgs) -> anyhow::Result<()> {
    let engine = engine(&args.stores).await?;
    let n = engine.retry_events(&args.ids).await?;
    println!("{n} event(s) queued for delivery again");
    Ok(())
}
