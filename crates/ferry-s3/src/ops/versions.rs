//! Versioning as an unversioned store answers it: GetBucketVersioning (never enabled),
//! PutBucketVersioning (refused), ListObjectVersions (every object once, `VersionId` `null`),
//! and the `versionId=null` that S3 accepts wherever a version may be named.
//!
//! Tools that empty buckets (and many test harnesses) list versions and delete each
//! `(Key, VersionId)`; on an unversioned bucket S3 lists every object once with the version
//! `null`, and that is what ferry does.

use ferry_http::Response;
use ferry_http::xml::XmlWriter;
use http::StatusCode;

use super::list::Encoder;
use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::request::S3Query as _;
use crate::response::{iso8601, quoted, write_owner, xml};

/// The only version id an unversioned object has.
pub const NULL_VERSION: &str = "null";

/// Checks the `versionId` a request names: absent or `null` is the object itself; anything
/// else is S3's answer for an unversioned bucket.
pub fn check_version_id(ctx: &Ctx<'_>) -> S3Result<()> {
    check_version(ctx.query.get("versionId"))
}

pub fn check_version(version: Option<&str>) -> S3Result<()> {
    match version {
        None | Some(NULL_VERSION) => Ok(()),
        Some(_) => Err(S3Error::invalid_argument("Invalid version id specified")),
    }
}

pub async fn get_versioning(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    let w = XmlWriter::new("VersioningConfiguration");
    Ok(xml(StatusCode::OK, w.finish("VersioningConfiguration")))
}

pub async fn put_versioning(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    Err(S3Error::not_implemented(
        "ferry does not offer versioning: buckets stay unversioned and each key holds one object; nothing was changed",
    ))
}

pub async fn list_versions(ctx: &Ctx<'_>) -> S3Result<Response> {
    let q = ctx.query;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").unwrap_or("");
    let max_keys = q.page_size("max-keys", 1000)?;
    let encoder = Encoder::from_query(q.get("encoding-type"))?;
    let key_marker = q.get("key-marker").unwrap_or("");
    let version_marker = q.get("version-id-marker");
    if version_marker.is_some_and(|v| !v.is_empty()) && key_marker.is_empty() {
        return Err(S3Error::invalid_argument("A version-id marker cannot be specified without a key marker."));
    }
    check_version(version_marker.filter(|v| !v.is_empty()))?;
    // Each key has one version, so (key-marker, any version) resumes after that key.
    let listing = ctx.s3.engine.list_objects(&ctx.bucket, prefix, delimiter, key_marker, max_keys).await?;

    let mut w = XmlWriter::new("ListVersionsResult");
    w.elem("Name", &ctx.bucket).elem("Prefix", encoder.key(prefix));
    w.elem("KeyMarker", encoder.key(key_marker)).elem("VersionIdMarker", version_marker.unwrap_or(""));
    if listing.truncated
        && let Some(next) = &listing.next_marker
    {
        w.elem("NextKeyMarker", encoder.key(next)).elem("NextVersionIdMarker", NULL_VERSION);
    }
    w.elem("MaxKeys", max_keys.to_string());
    if !delimiter.is_empty() {
        w.elem("Delimiter", encoder.key(delimiter));
    }
    encoder.write_type(&mut w);
    w.elem("IsTruncated", listing.truncated.to_string());
    for o in &listing.objects {
        w.open("Version")
            .elem("Key", encoder.key(&o.key))
            .elem("VersionId", NULL_VERSION)
            .elem("IsLatest", "true")
            .elem("LastModified", iso8601(o.modified))
            .elem("ETag", quoted(&o.etag))
            .elem("Size", o.size.to_string())
            .elem("StorageClass", "STANDARD");
        write_owner(&mut w, "Owner");
        w.close("Version");
    }
    for p in &listing.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", encoder.key(p)).close("CommonPrefixes");
    }
    Ok(xml(StatusCode::OK, w.finish("ListVersionsResult")))
}
