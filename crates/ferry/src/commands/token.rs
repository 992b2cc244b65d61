//! `ferry token create`: mint an upload token for a browser or app, on the store beside the
//! server (the same `--data-dir` / `--meta` and master key as `ferry serve`, like `ferry keys`).
//! Application servers that cannot reach the store call `POST /_ferry/v1/upload-tokens` instead.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_core::credentials::{CredentialStore, Credentials};
use ferry_core::keys::KeyStore;
use ferry_core::upload_token::TokenRequest;
use ferry_meta::{PostgresMetaStore, SqliteMetaStore};
use serde_json::json;

use crate::stores::{MetaLocation, StoreArgs};

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Mint a token that lets its holder upload (tus `Authorization: Bearer`) under one
    /// bucket/prefix, for a while, up to a size. It acts for `--key`, whose grants are checked
    /// again on every request: disabling the key ends its tokens.
    Create(CreateArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The access key id the token acts for (it needs write on the bucket/prefix).
    #[arg(long)]
    key: String,
    /// The bucket uploads go to.
    #[arg(long)]
    bucket: String,
    /// Keys must start with this (default: the whole bucket).
    #[arg(long, default_value = "")]
    prefix: String,
    /// How long the token works (1m..24h).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// The largest upload the token allows (e.g. 1GiB).
    #[arg(long, default_value = "5GiB", value_parser = crate::commands::cp::parse_size)]
    max_size: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stores: StoreArgs,
    #[arg(long, env = "FERRY_MASTER_KEY", hide = true, hide_env_values = true)]
    master_key: Option<String>,
    #[arg(long, env = "FERRY_ACCESS_KEY_ID", hide = true)]
    admin_key_id: Option<String>,
}

async fn open(stores: &StoreArgs) -> anyhow::Result<Arc<dyn KeyStore>> {
    let (meta, _) = stores.locations()?;
    Ok(match meta {
        MetaLocation::Sqlite(path) => {
            anyhow::ensure!(
                path.exists(),
                "no metadata database at {} (point --data-dir at the server's)",
                path.display()
            );
            Arc::new(SqliteMetaStore::open(&path).context("opening the metadata database")?)
        }
        MetaLocation::Postgres(url) => {
            Arc::new(PostgresMetaStore::connect(&url).await.context("connecting to PostgreSQL (--meta)")?)
        }
    })
}

pub async fn run(command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create(args) = command;
    let store = open(&args.stores).await?;
    // Tokens are sealed under the server's master key: never generate one here.
    anyhow::ensure!(
        args.master_key.is_some() || args.stores.data_dir.join("master.key").exists(),
        "no master key: set FERRY_MASTER_KEY or point --data-dir at the server's data directory"
    );
    let (master, _) = crate::master_key::load(&args.stores.data_dir, args.master_key.as_deref(), true)?;
    // The admin key may mint tokens too: it is the one in the environment or credentials.json.
    let admin = match &args.admin_key_id {
        Some(id) => Credentials { access_key_id: id.clone(), secret_access_key: String::new() },
        None if crate::credentials::exists(&args.stores.data_dir) => {
            crate::credentials::load(&args.stores.data_dir, None)?.0
        }
        // No admin key here: a fresh random id that no --key names.
        None => CredentialStore::generate(),
    };
    let creds = CredentialStore::with_store(admin, master, store, 900);
    creds.refresh().await.context("loading the access keys")?;
    let parent = creds.resolve(&args.key, None).map_err(|e| anyhow::anyhow!("--key {}: {e}", args.key))?;
    let request =
        TokenRequest { bucket: args.bucket, prefix: args.prefix, max_size: args.max_size, ttl: args.ttl.as_secs() };
    let (token, claims) = creds.mint_upload_token(&parent.principal, &request).map_err(anyhow::Error::msg)?;
    let expires = ferry_http::dates::iso8601(claims.expires * 1000);
    if args.json {
        let out = json!({
            "token": token,
            "expires": expires,
            "bucket": claims.bucket,
            "prefix": claims.prefix,
            "max_size": claims.max_size,
            "key": claims.parent,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("token:     {token}");
        println!("expires:   {expires}");
        println!("uploads:   {}/{}*  (at most {} bytes each)", claims.bucket, claims.prefix, claims.max_size);
        println!("send it as `Authorization: Bearer <token>` to the tus endpoint");
    }
    Ok(())
}
