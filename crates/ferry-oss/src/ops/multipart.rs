//! InitiateMultipartUpload, UploadPart, ListParts, ListMultipartUploads,
//! CompleteMultipartUpload, AbortMultipartUpload.

use crate::response::iso8601;
use ferry_core::{CommitRequest, CommitRules, ObjectTarget, Session, Target, UploadMarker};
use ferry_http::xml::{XmlWriter, parse_complete};
use ferry_http::{Body, Response};
use http::StatusCode;

use super::object::{forbid_overwrite, written};
use super::{object_meta, part_input, read_small};
use crate::Ctx;
use crate::error::{OssError, OssResult};
use crate::response::{self, etag, set, xml};

const MAX_LIST: usize = 1000;

/// OSS upload ids are written upper-case; the engine's are lower-case hex.
fn upload_id(ctx: &Ctx<'_>) -> String {
    ctx.query.get("uploadId").unwrap_or("").to_ascii_lowercase()
}

/// The session named by `uploadId`, opened by the engine for this bucket and key.
async fn session(ctx: &Ctx<'_>) -> OssResult<Session> {
    let target = Target::object(ctx.bucket.as_str(), ctx.key.as_str());
    Ok(ctx.oss.engine.open_session(&upload_id(ctx), &target).await?)
}

fn number(ctx: &Ctx<'_>, name: &str, default: usize) -> OssResult<usize> {
    match ctx.query.get(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| OssError::invalid_argument(format!("{name} must be a number"))),
    }
}

pub async fn create(ctx: &Ctx<'_>) -> OssResult<Response> {
    super::check_acl(ctx, "x-oss-object-acl", "default")?;
    let target = ObjectTarget { bucket: ctx.bucket.clone(), key: ctx.key.clone() };
    let session = ctx.oss.engine.create_session_from("oss", target, object_meta(ctx), None).await?;
    let mut w = XmlWriter::plain("InitiateMultipartUploadResult");
    w.elem("Bucket", &ctx.bucket).elem("Key", &ctx.key).elem("UploadId", session.id.to_ascii_uppercase());
    Ok(xml(StatusCode::OK, w.finish("InitiateMultipartUploadResult")))
}

pub async fn upload_part(ctx: &Ctx<'_>, body: Body) -> OssResult<Response> {
    let invalid = || OssError::invalid_argument("Part number must be an integer between 1 and 10000, inclusive.");
    let number: u32 = ctx.query.get("partNumber").and_then(|v| v.parse().ok()).ok_or_else(invalid)?;
    if number == 0 || number > ctx.oss.config.max_parts {
        return Err(invalid());
    }
    let session = session(ctx).await?;
    let part = ctx.oss.engine.put_part(&session, number, part_input(ctx, body)?).await?;
    let mut r = response::status_only(StatusCode::OK);
    set(&mut r, "etag", etag(&part.etag()));
    set(&mut r, "x-oss-hash-crc64ecma", part.digests.crc64xz.to_string());
    Ok(r)
}

pub async fn list_parts(ctx: &Ctx<'_>) -> OssResult<Response> {
    let session = session(ctx).await?;
    let marker = number(ctx, "part-number-marker", 0)? as u32;
    let max = number(ctx, "max-parts", MAX_LIST)?.min(MAX_LIST);
    let listing = ctx.oss.engine.list_parts(&session, (marker > 0).then_some(marker), max).await?;
    let mut w = XmlWriter::plain("ListPartsResult");
    w.elem("Bucket", &ctx.bucket).elem("Key", &ctx.key).elem("UploadId", upload_id(ctx).to_ascii_uppercase());
    w.elem("PartNumberMarker", marker.to_string());
    w.elem("NextPartNumberMarker", listing.next_marker().unwrap_or(marker).to_string());
    w.elem("MaxParts", max.to_string()).elem("IsTruncated", listing.truncated.to_string());
    for p in &listing.parts {
        w.open("Part")
            .elem("PartNumber", p.number.to_string())
            .elem("LastModified", iso8601(p.modified))
            .elem("ETag", etag(&p.etag()))
            .elem("HashCrc64ecma", p.digests.crc64xz.to_string())
            .elem("Size", p.size.to_string())
            .close("Part");
    }
    Ok(xml(StatusCode::OK, w.finish("ListPartsResult")))
}

pub async fn list_uploads(ctx: &Ctx<'_>) -> OssResult<Response> {
    let prefix = ctx.query.get("prefix").unwrap_or("");
    // Uploads are listed flat; grouping by a delimiter would need common prefixes.
    if !ctx.query.get("delimiter").unwrap_or("").is_empty() {
        return Err(OssError::not_implemented("ferry lists multipart uploads without a delimiter."));
    }
    let max = number(ctx, "max-uploads", MAX_LIST)?.min(MAX_LIST);
    let key_marker = ctx.query.get("key-marker").unwrap_or("");
    let id_marker = ctx.query.get("upload-id-marker").unwrap_or("").to_ascii_lowercase();
    let marker = UploadMarker::from_markers(key_marker, &id_marker);
    let listing = ctx.oss.engine.list_sessions(&ctx.bucket, prefix, &marker, max).await?;
    let (sessions, truncated) = (&listing.sessions, listing.truncated);
    let mut w = XmlWriter::plain("ListMultipartUploadsResult");
    w.elem("Bucket", &ctx.bucket).elem("KeyMarker", key_marker).elem("UploadIdMarker", &id_marker);
    let (next_key, next_id) = match listing.next_marker() {
        Some(UploadMarker::AfterUpload { key, id }) => (key, id.to_ascii_uppercase()),
        _ => (String::new(), String::new()),
    };
    w.elem("NextKeyMarker", next_key).elem("NextUploadIdMarker", next_id);
    w.elem("Delimiter", "").elem("Prefix", prefix).elem("MaxUploads", max.to_string());
    w.elem("IsTruncated", truncated.to_string());
    for s in sessions {
        w.open("Upload")
            .elem("Key", s.target.key())
            .elem("UploadId", s.id.to_ascii_uppercase())
            .elem("Initiated", iso8601(s.created))
            .close("Upload");
    }
    Ok(xml(StatusCode::OK, w.finish("ListMultipartUploadsResult")))
}

pub async fn complete(ctx: &Ctx<'_>, body: Body) -> OssResult<Response> {
    let session = session(ctx).await?;
    let parts = parse_complete(&read_small(body, 8 * 1024 * 1024).await?)?;
    let max_parts = ctx.oss.config.max_parts as usize;
    let request = CommitRequest::listed(parts, CommitRules::new(ctx.oss.config.min_part_size, max_parts));
    let object = ctx.oss.engine.commit_if(&session, request, forbid_overwrite(ctx)).await?;
    let mut r = written(ctx, &object).await?;
    if r.status() == StatusCode::OK && !ctx.parts.headers.contains_key("x-oss-callback") {
        let mut w = XmlWriter::plain("CompleteMultipartUploadResult");
        w.elem("Location", format!("/{}/{}", ctx.bucket, ctx.key))
            .elem("Bucket", &ctx.bucket)
            .elem("Key", &ctx.key)
            .elem("ETag", etag(&object.etag));
        let mut body = xml(StatusCode::OK, w.finish("CompleteMultipartUploadResult"));
        for (name, value) in r.headers() {
            body.headers_mut().insert(name.clone(), value.clone());
        }
        body.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
        r = body;
    }
    Ok(r)
}

pub async fn abort(ctx: &Ctx<'_>) -> OssResult<Response> {
    let session = session(ctx).await?;
    ctx.oss.engine.abort(&session).await?;
    Ok(response::status_only(StatusCode::NO_CONTENT))
}
