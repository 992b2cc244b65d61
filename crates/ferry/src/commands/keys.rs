//! `ferry keys`: manage access keys and their grants, straight on the metadata store (the same
//! `--data-dir` / `--meta` as `ferry serve`). Servers pick changes up within seconds.
//!
//! Direct store access rather than an admin API: it needs no extra endpoint and no bootstrap
//! credential, works whether or not a server runs, and with PostgreSQL (`--meta`) reaches the
//! keys every node reads. Whoever can run it can read the store anyway.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Context;
use ferry_core::access::{Action, Grant};
use ferry_core::credentials::CredentialStore;
use ferry_core::keys::{KeyRecord, KeyStore};
use ferry_meta::{PostgresMetaStore, SqliteMetaStore};
use serde_json::json;

use crate::stores::{MetaLocation, StoreArgs};

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once.
    Create {
        /// A unique name (`ci`, `webapp`, ...).
        name: String,
        /// BUCKET[/PREFIX]:read,write,list,delete,admin (BUCKET may be `*`) or
        /// project:NAME:read,write; repeat for several.
        #[arg(long = "grant")]
        grants: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List keys (secrets are never shown again).
    Ls {
        #[command(flatten)]
        common: Common,
    },
    /// One key, by name or access key id.
    Show {
        key: String,
        #[command(flatten)]
        common: Common,
    },
    /// Add actions to a key (merged with its grant on the same bucket/prefix or project).
    Grant {
        key: String,
        grants: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Take actions away (a grant left with none is removed).
    Revoke {
        key: String,
        grants: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Stop a key (and its temporary credentials) from working, keeping it.
    Disable {
        key: String,
        #[command(flatten)]
        common: Common,
    },
    /// Let a disabled key work again.
    Enable {
        key: String,
        #[command(flatten)]
        common: Common,
    },
    /// Remove a key for good.
    Delete {
        key: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
pub struct Common {
    #[command(flatten)]
    stores: StoreArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[arg(long, env = "FERRY_MASTER_KEY", hide = true, hide_env_values = true)]
    master_key: Option<String>,
}

impl KeysCommand {
    fn common(&self) -> &Common {
        match self {
            KeysCommand::Create { common, .. }
            | KeysCommand::Ls { common }
            | KeysCommand::Show { common, .. }
            | KeysCommand::Grant { common, .. }
            | KeysCommand::Revoke { common, .. }
            | KeysCommand::Disable { common, .. }
            | KeysCommand::Enable { common, .. }
            | KeysCommand::Delete { common, .. } => common,
        }
    }
}

async fn open(common: &Common) -> anyhow::Result<Arc<dyn KeyStore>> {
    let (meta, _) = common.stores.locations()?;
    Ok(match meta {
        MetaLocation::Sqlite(path) => {
            std::fs::create_dir_all(&common.stores.data_dir)
                .with_context(|| format!("creating {}", common.stores.data_dir.display()))?;
            Arc::new(SqliteMetaStore::open(&path).context("opening the metadata database")?)
        }
        MetaLocation::Postgres(url) => {
            Arc::new(PostgresMetaStore::connect(&url).await.context("connecting to PostgreSQL (--meta)")?)
        }
    })
}

fn parse_grants(texts: &[String]) -> anyhow::Result<Vec<Grant>> {
    texts.iter().map(|t| Grant::parse(t).map_err(anyhow::Error::from)).collect()
}

async fn find(store: &dyn KeyStore, key: &str) -> anyhow::Result<KeyRecord> {
    store
        .list_keys()
        .await?
        .into_iter()
        .find(|k| k.name == key || k.access_key_id == key)
        .ok_or_else(|| anyhow::anyhow!("no key named {key:?} (see `ferry keys ls`)"))
}

fn time(millis: Option<i64>) -> String {
    millis.map_or_else(|| "never".to_string(), ferry_http::dates::iso8601)
}

fn to_json(k: &KeyRecord) -> serde_json::Value {
    json!({
        "name": k.name,
        "access_key_id": k.access_key_id,
        "enabled": k.enabled,
        "created": ferry_http::dates::iso8601(k.created),
        "last_used": k.last_used.map(ferry_http::dates::iso8601),
        "grants": k.grants.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
    })
}

fn print_key(k: &KeyRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(k))?);
        return Ok(());
    }
    println!("name:           {}", k.name);
    println!("access key id:  {}", k.access_key_id);
    println!("enabled:        {}", if k.enabled { "yes" } else { "no" });
    println!("created:        {}", time(Some(k.created)));
    println!("last used:      {}", time(k.last_used));
    println!("grants:");
    if k.grants.is_empty() {
        println!("  (none)");
    }
    for g in &k.grants {
        println!("  {g}");
    }
    Ok(())
}

/// `grants` merged into `into` (`add`) or taken out of it; a grant left without actions goes.
fn merge(into: &[Grant], grants: &[Grant], add: bool) -> Vec<Grant> {
    let none = BTreeSet::new();
    let mut out: Vec<Grant> = into.to_vec();
    for g in grants {
        let actions = actions_of(g);
        match out.iter().position(|o| o.same_target(g)) {
            Some(i) if add => out[i] = out[i].with_actions(actions, &none),
            Some(i) => out[i] = out[i].with_actions(&none, actions),
            None if add => out.push(g.clone()),
            None => {}
        }
    }
    out.retain(|g| !actions_of(g).is_empty());
    out
}

fn actions_of(g: &Grant) -> &BTreeSet<Action> {
    match g {
        Grant::Bucket { actions, .. } | Grant::Project { actions, .. } => actions,
    }
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let common = command.common();
    let json = common.json;
    let store = open(common).await?;
    match &command {
        KeysCommand::Create { name, grants, common } => {
            anyhow::ensure!(!name.is_empty(), "a key needs a name");
            let grants = parse_grants(grants)?;
            let stored = !store.list_keys().await?.is_empty();
            let (master, _) = crate::master_key::load(&common.stores.data_dir, common.master_key.as_deref(), stored)?;
            let (record, creds) = CredentialStore::new_key(&master, name, grants);
            store.insert_key(&record).await?;
            if json {
                let mut v = to_json(&record);
                v["secret_access_key"] = json!(creds.secret_access_key);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_key(&record, false)?;
                println!("secret key:     {}", creds.secret_access_key);
                println!("(the secret is shown only now)");
            }
        }
        KeysCommand::Ls { .. } => {
            let keys = store.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys.iter().map(to_json).collect::<Vec<_>>())?);
            } else {
                println!("{:<20} {:<22} {:<8} {:<24} GRANTS", "NAME", "ACCESS KEY ID", "ENABLED", "LAST USED");
                for k in &keys {
                    let grants: Vec<String> = k.grants.iter().map(|g| g.to_string()).collect();
                    println!(
                        "{:<20} {:<22} {:<8} {:<24} {}",
                        k.name,
                        k.access_key_id,
                        if k.enabled { "yes" } else { "no" },
                        time(k.last_used),
                        grants.join(" ")
                    );
                }
            }
        }
        KeysCommand::Show { key, .. } => print_key(&find(&*store, key).await?, json)?,
        KeysCommand::Grant { key, grants, .. } | KeysCommand::Revoke { key, grants, .. } => {
            let add = matches!(command, KeysCommand::Grant { .. });
            anyhow::ensure!(!grants.is_empty(), "name at least one grant, e.g. photos/users/:read,write");
            let record = find(&*store, key).await?;
            let merged = merge(&record.grants, &parse_grants(grants)?, add);
            store.update_key(&record.access_key_id, &merged, record.enabled).await?;
            print_key(&find(&*store, key).await?, json)?;
        }
        KeysCommand::Disable { key, .. } | KeysCommand::Enable { key, .. } => {
            let enabled = matches!(command, KeysCommand::Enable { .. });
            let record = find(&*store, key).await?;
            store.update_key(&record.access_key_id, &record.grants, enabled).await?;
            print_key(&find(&*store, key).await?, json)?;
        }
        KeysCommand::Delete { key, .. } => {
            let record = find(&*store, key).await?;
            store.delete_key(&record.access_key_id).await?;
            if json {
                println!("{}", json!({ "deleted": record.access_key_id, "name": record.name }));
            } else {
                println!("deleted {} ({})", record.name, record.access_key_id);
            }
        }
    }
    Ok(())
}
