//! Endpoint, keys and region for the client commands, found the way awscli users expect:
//! flags, then `AWS_*` environment variables, then `~/.aws/credentials` and `~/.aws/config`
//! (profile from `AWS_PROFILE`, else `default`).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ferry_client::S3Client;

/// Options shared by every client command.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The S3 endpoint, e.g. http://127.0.0.1:9720 (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Profile in ~/.aws/credentials and ~/.aws/config (else AWS_PROFILE, else default).
    #[arg(long, global = true)]
    pub profile: Option<String>,
}

pub struct Connection {
    pub client: S3Client,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

/// Sections of an INI file (`[name]` then `key = value` lines), as the AWS files use. Parsed
/// here because only these two small files are read and their format is this simple.
fn ini(path: PathBuf) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else { return sections };
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().trim_start_matches("profile ").trim().to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            sections.entry(current.clone()).or_default().insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    sections
}

fn aws_file(env: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join(name)))
}

pub fn connect(args: &ConnectArgs) -> anyhow::Result<Connection> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let profile = args.profile.clone().or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into());
    let credentials = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials").map(ini).unwrap_or_default();
    let config = aws_file("AWS_CONFIG_FILE", "config").map(ini).unwrap_or_default();
    let from_files = |key: &str| {
        credentials
            .get(&profile)
            .and_then(|s| s.get(key))
            .or_else(|| config.get(&profile).and_then(|s| s.get(key)))
            .cloned()
    };
    let endpoint = args
        .endpoint_url
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| from_files("endpoint_url"));
    let Some(endpoint) = endpoint else {
        bail!("no S3 endpoint: pass --endpoint-url http://HOST:PORT or set AWS_ENDPOINT_URL");
    };
    let (access_key, secret_key) = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(a), Some(s)) => (a, s),
        _ => match (from_files("aws_access_key_id"), from_files("aws_secret_access_key")) {
            (Some(a), Some(s)) => (a, s),
            _ => bail!(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them to profile {profile:?} in ~/.aws/credentials"
            ),
        },
    };
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| from_files("region"))
        .unwrap_or_else(|| "us-east-1".into());
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let client = S3Client::new(&endpoint, &access_key, &secret_key, &region).context("connecting")?;
    Ok(Connection { client, endpoint, access_key, secret_key })
}

/// `s3://bucket/key` → (bucket, key); the key may be empty.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}
