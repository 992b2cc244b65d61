//! ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation.

use ferry_http::{Body, Response};
use http::StatusCode;

use crate::Ctx;
use crate::error::S3Result;
use crate::response::{self, iso8601, write_owner, xml};
use crate::upload_body::read_small;
use ferry_http::xml::{XmlWriter, check_create_bucket};

pub async fn list_buckets(ctx: &Ctx<'_>) -> S3Result<Response> {
    let buckets = ctx.s3.engine.list_buckets().await?;
    let mut w = XmlWriter::new("ListAllMyBucketsResult");
    write_owner(&mut w, "Owner");
    w.open("Buckets");
    // Only the buckets the signer's grants name.
    for b in buckets.iter().filter(|b| ctx.principal.sees_bucket(&b.name)) {
        w.open("Bucket").elem("Name", &b.name).elem("CreationDate", iso8601(b.created)).close("Bucket");
    }
    w.close("Buckets");
    Ok(xml(StatusCode::OK, w.finish("ListAllMyBucketsResult")))
}

pub async fn create(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    let config = read_small(ctx.parts, &ctx.payload, body, 64 * 1024).await?;
    check_create_bucket(&config)?;
    ferry_http::names::check_bucket_name(&ctx.bucket)?;
    ctx.s3.engine.create_bucket(&ctx.bucket).await?;
    ctx.s3.creds.bucket_created(&ctx.principal, &ctx.bucket).await?;
    let mut r = response::status_only(StatusCode::OK);
    response::set(&mut r, "location", format!("/{}", ctx.bucket));
    Ok(r)
}

pub async fn delete(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.delete_bucket(&ctx.bucket).await?;
    Ok(response::no_content())
}

pub async fn head(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    let mut r = response::status_only(StatusCode::OK);
    response::set(&mut r, "x-amz-bucket-region", &ctx.s3.config.region);
    Ok(r)
}

pub async fn location(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    let region = &ctx.s3.config.region;
    // us-east-1 is reported as an empty constraint, as S3 does.
    let value = if region == "us-east-1" { "" } else { region.as_str() };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</LocationConstraint>",
        quick_xml::escape::escape(value)
    );
    Ok(xml(StatusCode::OK, body))
}
