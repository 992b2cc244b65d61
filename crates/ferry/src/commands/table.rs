//! `ferry table`: create and drop tables, upload CSV or Parquet files into a partition
//! (resumable), export a partition as Parquet files — over the Tunnel dialect.
//!
//! An upload cuts the input into blocks of `--block-rows` rows, so block `n` is always the same
//! rows of the same file; a checkpoint file records the session. Run the same command again
//! after an interruption: blocks the server holds are skipped, the rest are sent, then the
//! session is committed — no row lost or written twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use ferry_client::{FileIdentity, TunnelClient, UploadSession};
use ferry_table::{BlockWriter, Column, ParquetRows, TableSchema, Value, parse_value};
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::config::{ConnectArgs, connect};

#[derive(clap::Subcommand, Debug)]
pub enum TableCommand {
    /// Create a table, e.g. `ferry table create proj.sales "id bigint, amount decimal(10,2)"
    /// --partitioned-by "pt string"`.
    Create(CreateArgs),
    /// Drop a table and its data.
    Drop(DropArgs),
    /// Upload a CSV file (first row names the columns) or a Parquet file into a table
    /// partition. Interrupted? Run the same command again to resume.
    Upload(UploadArgs),
    /// Write a table partition as Parquet files into a directory.
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// PROJECT.TABLE
    pub table: String,
    /// Columns as in SQL: "id bigint, name string".
    pub columns: String,
    /// Partition keys as in SQL: "pt string".
    #[arg(long)]
    pub partitioned_by: Option<String>,
    /// Succeed when the table already exists.
    #[arg(long)]
    pub if_not_exists: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(clap::Args, Debug)]
pub struct DropArgs {
    /// PROJECT.TABLE
    pub table: String,
    /// Succeed when the table does not exist.
    #[arg(long)]
    pub if_exists: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// A .csv or .parquet file.
    pub file: PathBuf,
    /// PROJECT.TABLE or PROJECT.TABLE/KEY=VALUE[,KEY=VALUE]
    pub target: String,
    /// Create the partition when it does not exist.
    #[arg(long)]
    pub create_partition: bool,
    /// Rows per block.
    #[arg(long, default_value_t = 200_000)]
    pub block_rows: usize,
    /// Blocks sent at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Directory for the checkpoint file (default: beside the input file).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// PROJECT.TABLE or PROJECT.TABLE/KEY=VALUE[,KEY=VALUE]
    pub source: String,
    /// Directory to write part-NNNNN.parquet files into (created if missing).
    pub dir: PathBuf,
    /// Rows per Parquet file.
    #[arg(long, default_value_t = 1_000_000)]
    pub file_rows: u64,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `PROJECT.TABLE[/PARTITION]` → (project, table, partition).
fn parse_target(text: &str) -> anyhow::Result<(String, String, String)> {
    let (name, partition) = text.split_once('/').unwrap_or((text, ""));
    let Some((project, table)) = name.split_once('.') else {
        bail!("{text:?}: name the table as PROJECT.TABLE[/KEY=VALUE,...]");
    };
    if project.is_empty() || table.is_empty() {
        bail!("{text:?}: name the table as PROJECT.TABLE[/KEY=VALUE,...]");
    }
    Ok((project.to_string(), table.to_string(), partition.replace('/', ",")))
}

/// A Tunnel client for `project`: the endpoint is the S3 endpoint's `/odps` path unless the
/// endpoint given already has a path.
fn client(connect_args: &ConnectArgs, project: &str) -> anyhow::Result<TunnelClient> {
    let conn = connect(connect_args)?;
    let has_path = conn.endpoint.splitn(4, '/').nth(3).is_some_and(|p| !p.is_empty());
    let endpoint = if has_path { conn.endpoint.clone() } else { format!("{}/odps", conn.endpoint) };
    Ok(TunnelClient::new(&endpoint, project, &conn.access_key, &conn.secret_key)?)
}

pub async fn run(command: TableCommand) -> anyhow::Result<()> {
    match command {
        TableCommand::Create(args) => {
            let (project, table, _) = parse_target(&args.table)?;
            let mut sql = format!(
                "CREATE TABLE {}`{table}` ({})",
                if args.if_not_exists { "IF NOT EXISTS " } else { "" },
                args.columns
            );
            if let Some(keys) = &args.partitioned_by {
                sql.push_str(&format!(" PARTITIONED BY ({keys})"));
            }
            client(&args.connect, &project)?.run_sql(&sql).await?;
            eprintln!("created {project}.{table}");
            Ok(())
        }
        TableCommand::Drop(args) => {
            let (project, table, _) = parse_target(&args.table)?;
            let sql = format!("DROP TABLE {}`{table}`", if args.if_exists { "IF EXISTS " } else { "" });
            client(&args.connect, &project)?.run_sql(&sql).await?;
            eprintln!("dropped {project}.{table}");
            Ok(())
        }
        TableCommand::Upload(args) => upload(args).await,
        TableCommand::Export(args) => export(args).await,
    }
}

/// What an interrupted upload needs to resume.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct TableCheckpoint {
    target: String,
    file: FileIdentity,
    block_rows: usize,
    upload_id: String,
    /// Set just before the commit is sent: how many blocks (0..n) the whole file made. A rerun
    /// that finds the session CLOSED with exactly these blocks knows the commit went through.
    #[serde(default)]
    committing: Option<u32>,
}

fn checkpoint_path(file: &Path, dir: Option<&Path>, target: &str) -> PathBuf {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tag = hex::encode(&Md5::digest(target.as_bytes())[..6]);
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).to_path_buf());
    dir.join(format!(".{name}.ferry-table-{tag}.json"))
}

/// Rows of the input file in table column order, a batch at a time.
type Rows = Box<dyn Iterator<Item = anyhow::Result<Vec<Vec<Value>>>> + Send>;

fn open_rows(file: &Path, schema: &TableSchema) -> anyhow::Result<Rows> {
    let is_parquet = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let handle = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    if is_parquet {
        let rows = ParquetRows::open(handle, &schema.columns).with_context(|| format!("reading {}", file.display()))?;
        return Ok(Box::new(rows.map(|r| r.map_err(anyhow::Error::from))));
    }
    let mut reader = csv::Reader::from_reader(handle);
    let header = reader.headers().with_context(|| format!("reading the header row of {}", file.display()))?.clone();
    let positions: Vec<usize> = schema
        .columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(&c.name))
                .with_context(|| format!("{} has no column {:?} in its header row", file.display(), c.name))
        })
        .collect::<anyhow::Result<_>>()?;
    let columns: Vec<Column> = schema.columns.clone();
    let mut records = reader.into_records();
    let mut line = 1u64;
    Ok(Box::new(std::iter::from_fn(move || {
        let mut batch = Vec::with_capacity(4096);
        for record in records.by_ref() {
            line += 1;
            let parsed = record.map_err(anyhow::Error::from).and_then(|record| {
                columns
                    .iter()
                    .zip(&positions)
                    .map(|(c, at)| {
                        parse_value(c.column_type, record.get(*at).unwrap_or(""))
                            .map_err(|e| anyhow::anyhow!("line {line}, column {}: {e}", c.name))
                    })
                    .collect::<anyhow::Result<Vec<Value>>>()
            });
            match parsed {
                Ok(row) => batch.push(row),
                Err(e) => return Some(Err(e)),
            }
            if batch.len() == 4096 {
                break;
            }
        }
        (!batch.is_empty()).then_some(Ok(batch))
    })))
}

/// The session to write into: the checkpoint's when it is still open, else a new one — unless
/// the checkpoint's session was already committed.
async fn session_for(
    args: &UploadArgs,
    client: &TunnelClient,
    table: &str,
    partition: &str,
    checkpoint: &Path,
    identity: &FileIdentity,
) -> anyhow::Result<Resume> {
    let saved: Option<TableCheckpoint> =
        std::fs::read(checkpoint).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let Some(saved) = saved
        && saved.target == args.target
        && &saved.file == identity
        && saved.block_rows == args.block_rows
    {
        if let Ok(session) = client.attach_upload_session(table, partition, &saved.upload_id).await {
            let status = session.status().await?;
            if status.status == "NORMAL" {
                eprintln!("resuming upload {} ({} blocks already on the server)", session.id, status.blocks.len());
                return Ok(Resume::Open(session, status.blocks.into_iter().collect()));
            }
            // The commit may have gone through with only its reply lost: loading again would
            // add every row a second time. Repeating the same commit tells: the server accepts
            // it only when exactly these blocks were committed (publishing nothing twice).
            if let Some(n) = saved.committing
                && matches!(status.status.as_str(), "CLOSED" | "CLOSING")
                && session.commit(&(0..n).collect::<Vec<u32>>()).await.is_ok()
            {
                return Ok(Resume::Committed { blocks: n, upload_id: session.id });
            }
            if status.status == "CLOSED" || status.status == "CLOSING" {
                bail!(
                    "upload {} of this file was already committed, but not with the blocks this file makes now; \
                     nothing was sent (remove {} to load the file again)",
                    session.id,
                    checkpoint.display()
                );
            }
        }
        eprintln!("the earlier upload can no longer be resumed; starting over");
    }
    let session = client.create_upload_session(table, partition, args.create_partition).await?;
    let record = TableCheckpoint {
        target: args.target.clone(),
        file: identity.clone(),
        block_rows: args.block_rows,
        upload_id: session.id.clone(),
        committing: None,
    };
    save_checkpoint(checkpoint, &record)?;
    Ok(Resume::Open(session, BTreeSet::new()))
}

fn save_checkpoint(path: &Path, record: &TableCheckpoint) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec(record)?).with_context(|| format!("writing {}", path.display()))
}

/// Where a run of `ferry table upload` starts.
enum Resume {
    /// Write into this session; it already holds these blocks.
    Open(UploadSession, BTreeSet<u32>),
    /// An earlier run's commit went through: nothing to do.
    Committed { blocks: u32, upload_id: String },
}

fn bar(unit: &str) -> ProgressBar {
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    let template = format!("{{spinner}} {{pos}} {unit} {{per_sec}} {{elapsed}} {{msg}}");
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar
}

async fn upload(args: UploadArgs) -> anyhow::Result<()> {
    if args.block_rows == 0 {
        bail!("--block-rows must be at least 1");
    }
    let (project, table, partition) = parse_target(&args.target)?;
    let client = client(&args.connect, &project)?;
    let schema = client.table_schema(&table).await?;
    let identity = FileIdentity::of(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let checkpoint = checkpoint_path(&args.file, args.checkpoint_dir.as_deref(), &args.target);
    let (session, held) = match session_for(&args, &client, &table, &partition, &checkpoint, &identity).await? {
        Resume::Open(session, held) => (session, held),
        Resume::Committed { blocks, upload_id } => {
            let _ = std::fs::remove_file(&checkpoint);
            eprintln!(
                "{} was already loaded into {} by upload {upload_id} ({blocks} blocks committed); nothing to do",
                args.file.display(),
                args.target
            );
            return Ok(());
        }
    };

    let started = Instant::now();
    let progress = bar("rows");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<Vec<Vec<Value>>>>(4);
    let file = args.file.clone();
    let reader_schema = schema.clone();
    // The file is read and parsed on a blocking thread while blocks are sent.
    let reading = tokio::task::spawn_blocking(move || match open_rows(&file, &reader_schema) {
        Ok(rows) => {
            for batch in rows {
                if tx.blocking_send(batch).is_err() {
                    break;
                }
            }
        }
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut sending: JoinSet<anyhow::Result<u64>> = JoinSet::new();
    let (mut block, mut rows_total, mut pending) = (0u32, 0u64, Vec::with_capacity(args.block_rows));
    let send = |block: u32, rows: Vec<Vec<Value>>, sending: &mut JoinSet<anyhow::Result<u64>>| {
        let session = session.clone();
        sending.spawn(async move {
            let count = rows.len() as u64;
            let data = session.encode_block(&rows)?;
            session.put_block_retrying(block, data, 4).await.with_context(|| format!("block {block}"))?;
            Ok(count)
        });
    };
    loop {
        let batch = rx.recv().await.transpose()?;
        let done = batch.is_none();
        for row in batch.into_iter().flatten() {
            pending.push(row);
            if pending.len() == args.block_rows {
                let rows = std::mem::replace(&mut pending, Vec::with_capacity(args.block_rows));
                rows_total += rows.len() as u64;
                if held.contains(&block) {
                    progress.inc(rows.len() as u64);
                } else {
                    while sending.len() >= args.parallel.max(1) {
                        progress.inc(sending.join_next().await.context("sending")???);
                    }
                    send(block, rows, &mut sending);
                }
                block += 1;
                if block >= ferry_tunnel::MAX_BLOCKS {
                    bail!("the file needs more than {} blocks; raise --block-rows", ferry_tunnel::MAX_BLOCKS);
                }
            }
        }
        if done {
            break;
        }
    }
    reading.await.context("reading the file")?;
    if !pending.is_empty() {
        rows_total += pending.len() as u64;
        if held.contains(&block) {
            progress.inc(pending.len() as u64);
        } else {
            send(block, std::mem::take(&mut pending), &mut sending);
        }
        block += 1;
    }
    while let Some(done) = sending.join_next().await {
        progress.inc(done.context("sending")??);
    }
    let blocks: Vec<u32> = (0..block).collect();
    if let Ok(bytes) = std::fs::read(&checkpoint)
        && let Ok(mut record) = serde_json::from_slice::<TableCheckpoint>(&bytes)
    {
        record.committing = Some(block);
        save_checkpoint(&checkpoint, &record)?;
    }
    session.commit(&blocks).await.context("committing")?;
    progress.finish_and_clear();
    let _ = std::fs::remove_file(&checkpoint);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "uploaded {rows_total} rows in {block} blocks to {} in {seconds:.1} s ({:.0} rows/s)",
        args.target,
        rows_total as f64 / seconds.max(1e-9)
    );
    Ok(())
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    if args.file_rows == 0 {
        bail!("--file-rows must be at least 1");
    }
    let (project, table, partition) = parse_target(&args.source)?;
    let client = client(&args.connect, &project)?;
    let session = client.create_download_session(&table, &partition).await?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let progress = bar("rows");
    let (mut start, mut index) = (0u64, 0u32);
    while start < session.count || (start == 0 && index == 0) {
        let count = args.file_rows.min(session.count - start);
        let path = args.dir.join(format!("part-{index:05}.parquet"));
        let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = BlockWriter::new(std::io::BufWriter::new(file), &session.schema.columns)?;
        if count > 0 {
            let mut reader = session.open_record_reader(start, count, None).await?;
            while let Some(batch) = reader.next_batch().await? {
                progress.inc(batch.len() as u64);
                for row in batch {
                    writer.write(row)?;
                }
            }
        }
        let out = writer.finish()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        start += count;
        index += 1;
    }
    progress.finish_and_clear();
    eprintln!("exported {} rows of {} into {} file(s) in {}", session.count, args.source, index, args.dir.display());
    Ok(())
}
