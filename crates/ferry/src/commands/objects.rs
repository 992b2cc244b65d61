//! `ferry ls`, `ferry mb`, `ferry rm`, `ferry uploads ls|abort`.

use anyhow::{Context, bail};

use super::config::{ConnectArgs, connect, parse_s3_url};

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// s3://bucket[/prefix]; without it, list buckets.
    pub url: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List every key under the prefix instead of one level.
    #[arg(long)]
    pub recursive: bool,
}

#[derive(clap::Args, Debug)]
pub struct UrlArgs {
    /// s3://bucket or s3://bucket/key
    pub url: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum UploadsCommand {
    /// List incomplete multipart uploads in a bucket.
    Ls(UrlArgs),
    /// Abort one incomplete upload: ferry uploads abort s3://bucket/key UPLOAD_ID
    Abort {
        url: String,
        upload_id: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

fn url(text: &str) -> anyhow::Result<(String, String)> {
    parse_s3_url(text).with_context(|| format!("{text:?} is not an s3://bucket[/key] URL"))
}

pub async fn ls(args: LsArgs) -> anyhow::Result<()> {
    let conn = connect(&args.connect)?;
    let Some(text) = &args.url else {
        for b in conn.client.list_buckets().await? {
            println!("s3://{b}");
        }
        return Ok(());
    };
    let (bucket, prefix) = url(text)?;
    let delimiter = if args.recursive { "" } else { "/" };
    let (objects, prefixes) = conn.client.list_objects(&bucket, &prefix, delimiter).await?;
    for p in prefixes {
        println!("{:>12}  {:<24}  {p}", "DIR", "");
    }
    for o in objects {
        println!("{:>12}  {:<24}  {}", o.size, o.last_modified, o.key);
    }
    Ok(())
}

pub async fn mb(args: UrlArgs) -> anyhow::Result<()> {
    let (bucket, key) = url(&args.url)?;
    if !key.is_empty() {
        bail!("mb takes a bucket: s3://{bucket}");
    }
    connect(&args.connect)?.client.create_bucket(&bucket).await?;
    println!("make_bucket: s3://{bucket}");
    Ok(())
}

pub async fn rm(args: UrlArgs) -> anyhow::Result<()> {
    let (bucket, key) = url(&args.url)?;
    if key.is_empty() {
        bail!("rm takes an object: s3://{bucket}/KEY");
    }
    connect(&args.connect)?.client.delete_object(&bucket, &key).await?;
    println!("delete: s3://{bucket}/{key}");
    Ok(())
}

pub async fn uploads(command: UploadsCommand) -> anyhow::Result<()> {
    match command {
        UploadsCommand::Ls(args) => {
            let (bucket, prefix) = url(&args.url)?;
            for u in connect(&args.connect)?.client.list_multipart_uploads(&bucket, &prefix).await? {
                println!("{}  {}  s3://{bucket}/{}", u.initiated, u.upload_id, u.key);
            }
            Ok(())
        }
        UploadsCommand::Abort { url: text, upload_id, connect: c } => {
            let (bucket, key) = url(&text)?;
            connect(&c)?.client.abort_multipart_upload(&bucket, &key, &upload_id).await?;
            println!("aborted: {upload_id}");
            Ok(())
        }
    }
}
