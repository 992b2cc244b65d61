//! ListBuckets, PutBucket, DeleteBucket, GetBucketLocation, ListObjects (V1 and V2).

use crate::response::iso8601;
use ferry_http::xml::{XmlWriter, check_create_bucket};
use ferry_http::{Body, Response};
use http::StatusCode;

use super::read_small;
use crate::Ctx;
use crate::error::{OssError, OssResult};
use crate::response::{self, etag, xml};

const MAX_KEYS: usize = 1000;

pub async fn list_buckets(ctx: &Ctx<'_>) -> OssResult<Response> {
    let buckets = ctx.oss.engine.list_buckets().await?;
    let mut w = XmlWriter::plain("ListAllMyBucketsResult");
    w.open("Owner").elem("ID", "ferry").elem("DisplayName", "ferry").close("Owner");
    w.open("Buckets");
    for b in &buckets {
        w.open("Bucket")
            .elem("CreationDate", iso8601(b.created))
            .elem("ExtranetEndpoint", "")
            .elem("IntranetEndpoint", "")
            .elem("Location", "oss-ferry")
            .elem("Name", &b.name)
            .elem("Region", "ferry")
            .elem("StorageClass", "Standard")
            .close("Bucket");
    }
    w.close("Buckets");
    Ok(xml(StatusCode::OK, w.finish("ListAllMyBucketsResult")))
}

pub async fn create(ctx: &Ctx<'_>, body: Body) -> OssResult<Response> {
    check_create_bucket(&read_small(body, 64 * 1024).await?)?;
    ctx.oss.engine.create_bucket(&ctx.bucket).await?;
    let mut r = response::status_only(StatusCode::OK);
    response::set(&mut r, "location", format!("/{}", ctx.bucket));
    Ok(r)
}

pub async fn delete(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.delete_bucket(&ctx.bucket).await?;
    Ok(response::status_only(StatusCode::NO_CONTENT))
}

pub async fn head(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.bucket(&ctx.bucket).await?;
    Ok(response::status_only(StatusCode::OK))
}

pub async fn location(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.bucket(&ctx.bucket).await?;
    Ok(xml(
        StatusCode::OK,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint>oss-ferry</LocationConstraint>".into(),
    ))
}

fn encode(url: bool, s: &str) -> String {
    if url { ferry_sigv4::uri_encode(s.as_bytes(), true) } else { s.to_string() }
}

pub async fn list_objects(ctx: &Ctx<'_>) -> OssResult<Response> {
    let q = ctx.query;
    let v2 = q.get("list-type") == Some("2");
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").unwrap_or("");
    let max_keys = match q.get("max-keys") {
        Some(v) => {
            v.parse::<usize>().map_err(|_| OssError::invalid_argument("max-keys must be a number"))?.min(MAX_KEYS)
        }
        None => 100,
    };
    let url = match q.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => return Err(OssError::invalid_argument("encoding-type must be url")),
    };
    let after = if v2 {
        q.get("continuation-token").or(q.get("start-after")).unwrap_or("")
    } else {
        q.get("marker").unwrap_or("")
    };
    let listing = ctx.oss.engine.list_objects(&ctx.bucket, prefix, delimiter, after, max_keys).await?;
    let mut w = XmlWriter::plain("ListBucketResult");
    w.elem("Name", &ctx.bucket).elem("Prefix", encode(url, prefix));
    if v2 {
        w.opt("ContinuationToken", q.get("continuation-token"));
        w.opt("NextContinuationToken", listing.next_marker.as_deref());
        w.elem("KeyCount", (listing.objects.len() + listing.common_prefixes.len()).to_string());
    } else {
        w.elem("Marker", encode(url, after));
    }
    w.elem("MaxKeys", max_keys.to_string()).elem("Delimiter", encode(url, delimiter));
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", listing.truncated.to_string());
    if !v2 {
        w.opt("NextMarker", listing.next_marker.as_deref().map(|m| encode(url, m)));
    }
    for o in &listing.objects {
        w.open("Contents")
            .elem("Key", encode(url, &o.key))
            .elem("LastModified", iso8601(o.modified))
            .elem("ETag", etag(&o.etag))
            .elem("Type", if o.etag.contains('-') { "Multipart" } else { "Normal" })
            .elem("Size", o.size.to_string())
            .elem("StorageClass", "Standard")
            .open("Owner")
            .elem("ID", "ferry")
            .elem("DisplayName", "ferry")
            .close("Owner")
            .close("Contents");
    }
    for p in &listing.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", encode(url, p)).close("CommonPrefixes");
    }
    Ok(xml(StatusCode::OK, w.finish("ListBucketResult")))
}
