//! The `ferry` binary. Exit codes are decided here, once: 0 success, 1 failure, 2 usage error
//! (clap), 3 `ferry scrub` found damaged data, 130 interrupted by Ctrl-C (the upload can be
//! resumed).

mod api;
mod bucket_hosts;
mod commands;
mod credentials;
mod events;
mod exit;
mod master_key;
mod metrics;
mod serve;
mod stores;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "A self-hosted resumable upload service, and a client that resumes after anything"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (S3 API on one port, embedded SQLite + local disk storage).
    Serve(Box<serve::ServeArgs>),
    /// Copy a file to or from S3; uploads resume after a crash (run the same command again).
    Cp(commands::cp::CpArgs),
    /// List buckets, or objects under s3://bucket/prefix.
    Ls(commands::objects::LsArgs),
    /// Make a bucket.
    Mb(commands::objects::UrlArgs),
    /// Remove an object.
    Rm(commands::objects::UrlArgs),
    /// Continue every interrupted upload recorded in a checkpoint directory.
    Resume(commands::resume::ResumeArgs),
    /// Incomplete multipart uploads on the server.
    #[command(subcommand)]
    Uploads(commands::objects::UploadsCommand),
    /// Tables over the Tunnel dialect: create, drop, upload CSV/Parquet (resumable), export.
    #[command(subcommand)]
    Table(commands::table::TableCommand),
    /// Verify every stored blob against its recorded checksums, on the server's stores; flag
    /// damaged objects so reads of them fail. Exit code 3 when anything is damaged.
    Scrub(commands::scrub::ScrubArgs),
    /// Event notifications waiting in the outbox, on the server's stores: list them (dead
    /// letters with --failed) and send dead letters again.
    #[command(subcommand)]
    Events(commands::events::EventsCommand),
    /// Access keys and their grants, on the server's metadata store (`--data-dir` / `--meta`).
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Upload tokens for browsers and apps (tus `Authorization: Bearer`), on the server's stores.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        command => client_runtime().and_then(|rt| {
            rt.block_on(async move {
                match command {
                    Command::Cp(args) => commands::cp::run(args).await,
                    Command::Ls(args) => commands::objects::ls(args).await,
                    Command::Mb(args) => commands::objects::mb(args).await,
                    Command::Rm(args) => commands::objects::rm(args).await,
                    Command::Uploads(c) => commands::objects::uploads(c).await,
                    Command::Resume(args) => commands::resume::run(args).await,
                    Command::Table(c) => commands::table::run(c).await,
                    Command::Scrub(args) => commands::scrub::run(args).await,
                    Command::Events(c) => commands::events::run(c).await,
                    Command::Keys(c) => commands::keys::run(c).await,
                    Command::Token(c) => commands::token::run(c).await,
                    Command::Serve(_) => unreachable!("handled above"),
                }
            })
        }),
    };
    std::process::ExitCode::from(match result {
        Ok(()) => exit::SUCCESS,
        Err(e) if e.is::<exit::Interrupted>() => exit::INTERRUPTED,
        Err(e) if e.is::<commands::scrub::DamageFound>() => {
            eprintln!("ferry: {e}");
            exit::DAMAGED
        }
        Err(e) => {
            eprintln!("ferry: error: {e:#}");
            exit::FAILURE
        }
    })
}
