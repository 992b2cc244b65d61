//! `ferry resume`: continue every interrupted upload recorded in a checkpoint directory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use ferry_client::{Checkpoint, UploadOptions, Uploader};

use super::config::{ConnectArgs, connect};
use super::progress::Display;

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The directory given as --checkpoint-dir to the interrupted `ferry cp` commands.
    pub checkpoint_dir: PathBuf,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Machine-readable progress and results, one JSON object per line on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: ResumeArgs) -> anyhow::Result<()> {
    let mut records: Vec<PathBuf> = std::fs::read_dir(&args.checkpoint_dir)
        .with_context(|| format!("reading {}", args.checkpoint_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ferry-checkpoint"))
        .collect();
    records.sort();
    if records.is_empty() {
        eprintln!("no interrupted uploads in {}", args.checkpoint_dir.display());
        return Ok(());
    }
    let mut failed = 0;
    for path in records {
        let Some(record) = Checkpoint::load(&path) else {
            eprintln!("skipping {}: not a readable checkpoint (delete it)", path.display());
            failed += 1;
            continue;
        };
        let target = format!("s3://{}/{}", record.bucket, record.key);
        if !record.source.is_file() {
            eprintln!(
                "skipping {target}: its source {} is gone; `ferry uploads abort {target} {}` frees the server, then delete {}",
                record.source.display(),
                record.upload_id,
                path.display()
            );
            failed += 1;
            continue;
        }
        // The record names the endpoint the upload lives on.
        let mut connect_args = args.connect.clone();
        connect_args.endpoint_url = Some(record.endpoint.clone());
        let conn = connect(&connect_args)?;
        let options = UploadOptions {
            part_size: Some(record.part_size),
            parallel: args.parallel,
            retries: args.retries,
            checkpoint: Some(path.clone()),
            ..UploadOptions::default()
        };
        let uploader = Uploader::new(conn.client, &conn.endpoint, options);
        let display = Arc::new(Display::new(args.json));
        let (_keep, cancel) = tokio::sync::watch::channel(false);
        let result = uploader.upload_file(&record.source, &record.bucket, &record.key, display.clone(), cancel).await;
        display.finish();
        match result {
            Ok(outcome) if args.json => Display::json_line(serde_json::json!({
                "event": "result", "bucket": record.bucket, "key": record.key, "etag": outcome.etag,
                "size": outcome.size, "resumed_bytes": outcome.resumed_bytes})),
            Ok(outcome) => eprintln!("resumed and finished {target} ({} bytes)", outcome.size),
            Err(e) => {
                eprintln!("{target}: {e}; run `ferry resume` again to retry");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} upload(s) could not be resumed");
    }
    Ok(())
}
