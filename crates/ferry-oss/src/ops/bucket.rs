//! ListBuckets, PutBucket, DeleteBucket, HeadBucket, GetBucketInfo, GetBucketLocation,
//! GetBucketAcl, PutBucketAcl, ListObjects (V1 and V2).

use crate::response::iso8601;
use ferry_http::xml::{XmlWriter, check_create_bucket};
use ferry_http::{Body, Response};
use http::StatusCode;

use super::{check_acl, owner, read_small};
use crate::Ctx;
use crate::error::{OssError, OssResult};
use crate::response::{self, etag, xml};

const MAX_KEYS: usize = 1000;
/// The region every ferry bucket reports.
const LOCATION: &str = "oss-ferry";

/// ListBuckets with `prefix`, `marker` and `max-keys` (default 100, at most 1000), as OSS pages it.
pub async fn list_buckets(ctx: &Ctx<'_>) -> OssResult<Response> {
    let q = ctx.query;
    let prefix = q.get("prefix").unwrap_or("");
    let marker = q.get("marker").unwrap_or("");
    let max_keys = match q.get("max-keys") {
        None | Some("") => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_KEYS).contains(&n) => n,
            _ => return Err(OssError::invalid_argument("max-keys must be a number between 1 and 1000")),
        },
    };
    let mut buckets = ctx.oss.engine.list_buckets().await?;
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    // Only the buckets the signer's grants name.
    buckets.retain(|b| b.name.starts_with(prefix) && b.name.as_str() > marker && ctx.principal.sees_bucket(&b.name));
    let truncated = buckets.len() > max_keys;
    buckets.truncate(max_keys);
    let mut w = XmlWriter::plain("ListAllMyBucketsResult");
    w.elem("Prefix", prefix).elem("Marker", marker).elem("MaxKeys", max_keys.to_string());
    w.elem("IsTruncated", truncated.to_string());
    if truncated {
        w.opt("NextMarker", buckets.last().map(|b| b.name.as_str()));
    }
    owner(&mut w, "Owner");
    w.open("Buckets");
    for b in &buckets {
        w.open("Bucket")
            .elem("CreationDate", iso8601(b.created))
            .elem("ExtranetEndpoint", "")
            .elem("IntranetEndpoint", "")
            .elem("Location", LOCATION)
            .elem("Name", &b.name)
            .elem("Region", "ferry")
            .elem("StorageClass", "Standard")
            .close("Bucket");
    }
    w.close("Buckets");
    Ok(xml(StatusCode::OK, w.finish("ListAllMyBucketsResult")))
}

/// GetBucketInfo: what oss2's `get_bucket_info()` parses. ferry has one storage class, no
/// versioning, no replication and no ACLs other than `private`.
pub async fn info(ctx: &Ctx<'_>) -> OssResult<Response> {
    let bucket = ctx.oss.engine.bucket(&ctx.bucket).await?;
    let mut w = XmlWriter::plain("BucketInfo");
    w.open("Bucket")
        .elem("AccessMonitor", "Disabled")
        .elem("CreationDate", iso8601(bucket.created))
        .elem("CrossRegionReplication", "Disabled")
        .elem("DataRedundancyType", "LRS")
        .elem("ExtranetEndpoint", "")
        .elem("IntranetEndpoint", "")
        .elem("Location", LOCATION)
        .elem("Name", &bucket.name)
        .elem("StorageClass", "Standard")
        .elem("TransferAcceleration", "Disabled");
    owner(&mut w, "Owner");
    w.open("AccessControlList").elem("Grant", "private").close("AccessControlList");
    w.elem("Comment", "");
    w.close("Bucket");
    Ok(xml(StatusCode::OK, w.finish("BucketInfo")))
}

/// GetBucketAcl: every ferry bucket is private.
pub async fn acl(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.bucket(&ctx.bucket).await?;
    Ok(acl_policy("private"))
}

/// PutBucketAcl: `private` is what the bucket already is, so it succeeds; any other ACL would
/// not be enforced and is refused.
pub async fn put_acl(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.bucket(&ctx.bucket).await?;
    if ctx.parts.headers.get("x-oss-acl").is_none() {
        return Err(OssError::invalid_argument("PutBucketAcl needs the x-oss-acl header."));
    }
    check_acl(ctx, "x-oss-acl", "private")?;
    Ok(response::status_only(StatusCode::OK))
}

/// The AccessControlPolicy document of GetBucketAcl and GetObjectACL.
pub fn acl_policy(grant: &str) -> Response {
    let mut w = XmlWriter::plain("AccessControlPolicy");
    owner(&mut w, "Owner");
    w.open("AccessControlList").elem("Grant", grant).close("AccessControlList");
    xml(StatusCode::OK, w.finish("AccessControlPolicy"))
}

pub async fn create(ctx: &Ctx<'_>, body: Body) -> OssResult<Response> {
    check_acl(ctx, "x-oss-acl", "private")?;
    check_create_bucket(&read_small(body, 64 * 1024).await?)?;
    ferry_http::names::check_bucket_name(&ctx.bucket)?;
    ctx.oss.engine.create_bucket(&ctx.bucket).await?;
    ctx.oss.creds.bucket_created(&ctx.principal, &ctx.bucket).await?;
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
            .elem("StorageClass", "Standard");
        owner(&mut w, "Owner");
        w.close("Contents");
    }
    for p in &listing.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", encode(url, p)).close("CommonPrefixes");
    }
    Ok(xml(StatusCode::OK, w.finish("ListBucketResult")))
}
