//! PutObject, GetObject/HeadObject (and `?objectMeta`), DeleteObject, DeleteMultipleObjects,
//! CopyObject, GetObjectACL, PutObjectACL.

use ferry_core::{ObjectRecord, ObjectTarget, WriteCondition};
use ferry_http::range::parse_range;
use ferry_http::xml::{XmlWriter, parse_delete};
use ferry_http::{Body, Response};
use http::{Method, StatusCode};

use super::bucket::acl_policy;
use super::{check_acl, object_meta, part_input, read_small};
use crate::Ctx;
use crate::error::{OssError, OssResult};
use crate::response::{self, etag, set, xml};

pub async fn put_object(ctx: &Ctx<'_>, body: Body) -> OssResult<Response> {
    check_acl(ctx, "x-oss-object-acl", "default")?;
    let meta = object_meta(ctx);
    let input = part_input(ctx, body)?;
    let target = ObjectTarget { bucket: ctx.bucket.clone(), key: ctx.key.clone() };
    let object = ctx.oss.engine.put_object_if(target, meta, input, None, forbid_overwrite(ctx)).await?;
    written(ctx, &object).await
}

/// `x-oss-forbid-overwrite: true` (PutObject, CopyObject, CompleteMultipartUpload): publish only
/// if no object exists at the key, else FileAlreadyExists (409).
pub fn forbid_overwrite(ctx: &Ctx<'_>) -> Option<WriteCondition> {
    super::header(ctx, "x-oss-forbid-overwrite")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        .then_some(WriteCondition::IfNoneMatchAny)
}

/// The answer to a write: ETag and CRC-64 headers, or the upload callback's answer.
pub async fn written(ctx: &Ctx<'_>, object: &ObjectRecord) -> OssResult<Response> {
    let mut r = match ctx.parts.headers.get("x-oss-callback").and_then(|v| v.to_str().ok()) {
        Some(callback) => {
            let vars = ctx.parts.headers.get("x-oss-callback-var").and_then(|v| v.to_str().ok());
            ctx.oss.callbacks.run(callback, vars, object).await?
        }
        None => response::status_only(StatusCode::OK),
    };
    set(&mut r, "etag", etag(&object.etag));
    set(&mut r, "x-oss-hash-crc64ecma", object.crc.crc64xz.to_string());
    Ok(r)
}

pub async fn get_object(ctx: &Ctx<'_>) -> OssResult<Response> {
    let head = ctx.parts.method == Method::HEAD;
    let engine = &ctx.oss.engine;
    let range = ctx.parts.headers.get("range").and_then(|v| v.to_str().ok()).and_then(parse_range);
    let (object, span, body) = if head {
        let object = engine.head_object(&ctx.bucket, &ctx.key).await?;
        let span = match range {
            Some(spec) if !ctx.query.has("objectMeta") => Some(ferry_core::resolve_range(spec, object.size)?),
            _ => None,
        };
        (object, span, None)
    } else {
        let read = engine.get_object(&ctx.bucket, &ctx.key, range, None).await?;
        (read.object, read.range, Some(read.body))
    };
    let mut r = match body {
        Some(body) => Response::new(ferry_http::stream(body)),
        None => Response::new(ferry_http::empty()),
    };
    response::object_headers(&mut r, &object);
    response::set_read_span(&mut r, object.size, span);
    ferry_http::response_overrides(&mut r, ctx.query);
    Ok(r)
}

/// GetObjectACL: objects have no ACL of their own; they inherit the bucket's (`default`).
pub async fn acl(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.head_object(&ctx.bucket, &ctx.key).await?;
    Ok(acl_policy("default"))
}

/// PutObjectACL: `default` is what the object already has, so it succeeds; any other ACL
/// would not be enforced and is refused. The object itself is never touched.
pub async fn put_acl(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.head_object(&ctx.bucket, &ctx.key).await?;
    if ctx.parts.headers.get("x-oss-object-acl").is_none() {
        return Err(OssError::invalid_argument("PutObjectACL needs the x-oss-object-acl header."));
    }
    check_acl(ctx, "x-oss-object-acl", "default")?;
    Ok(response::status_only(StatusCode::OK))
}

pub async fn delete_object(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.delete_object(&ctx.bucket, &ctx.key).await?;
    Ok(response::status_only(StatusCode::NO_CONTENT))
}

pub async fn delete_objects(ctx: &Ctx<'_>, body: Body) -> OssResult<Response> {
    let (quiet, keys) = parse_delete(&read_small(body, 2 * 1024 * 1024).await?)?;
    ctx.oss.engine.bucket(&ctx.bucket).await?;
    let mut w = XmlWriter::plain("DeleteResult");
    // OSS answers a multi-delete with one error: refuse before deleting anything.
    for key in &keys {
        ctx.principal
            .authorize(
                ferry_core::access::Action::Delete,
                &ferry_core::access::Resource::Object { bucket: &ctx.bucket, key },
            )
            .map_err(crate::authorize::denied)?;
    }
    for key in keys {
        ctx.oss.engine.delete_object(&ctx.bucket, &key).await?;
        if !quiet {
            w.open("Deleted").elem("Key", &key).close("Deleted");
        }
    }
    Ok(xml(StatusCode::OK, w.finish("DeleteResult")))
}

pub async fn copy_object(ctx: &Ctx<'_>) -> OssResult<Response> {
    check_acl(ctx, "x-oss-object-acl", "default")?;
    let raw = ctx.parts.headers.get("x-oss-copy-source").and_then(|v| v.to_str().ok()).unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(raw.trim_start_matches('/')).decode_utf8_lossy().into_owned();
    let Some((bucket, key)) = decoded.split_once('/') else {
        return Err(OssError::invalid_argument("x-oss-copy-source must be /bucket/key"));
    };
    let replace = ctx
        .parts
        .headers
        .get("x-oss-metadata-directive")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"));
    let source = ObjectTarget { bucket: bucket.into(), key: key.into() };
    let target = ObjectTarget { bucket: ctx.bucket.clone(), key: ctx.key.clone() };
    let meta = replace.then(|| object_meta(ctx));
    let conditions = ferry_http::source_conditions(&ctx.parts.headers, "x-oss-copy-source-if-");
    let object = ctx.oss.engine.copy_object_if(&source, &conditions, target, meta, forbid_overwrite(ctx)).await?;
    let mut w = XmlWriter::plain("CopyObjectResult");
    w.elem("ETag", etag(&object.etag)).elem("LastModified", crate::response::iso8601(object.modified));
    let mut r = xml(StatusCode::OK, w.finish("CopyObjectResult"));
    set(&mut r, "x-oss-hash-crc64ecma", object.crc.crc64xz.to_string());
    Ok(r)
}
