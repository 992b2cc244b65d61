//! PutObject, GetObject/HeadObject, DeleteObject, DeleteObjects, CopyObject.

use ferry_core::checksum::ChecksumType;
use ferry_core::{ObjectRecord, ObjectTarget, SourceConditions, WriteCondition};
pub use ferry_http::range::parse_range;
use ferry_http::{Body, Response};
use http::{Method, StatusCode};

use super::versions::{NULL_VERSION, check_version, check_version_id};
use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::request::S3Query as _;
use crate::request::header;
use crate::response::{self, iso8601, quoted, set, xml};
use crate::upload_body::{self, UploadBody, object_meta, read_small};
use ferry_http::xml::{DeleteEntry, XmlWriter, parse_delete_entries};

pub async fn put_object(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    let meta = object_meta(ctx.parts)?;
    let condition = write_condition(ctx)?;
    let UploadBody { input, algorithm, errors } =
        upload_body::prepare(ctx.parts, &ctx.payload, body, ctx.s3.config.max_object_size)?;
    let target = ObjectTarget { bucket: ctx.bucket.clone(), key: ctx.key.clone() };
    let object =
        ctx.s3.engine.put_object_if(target, meta, input, algorithm, condition).await.map_err(|e| errors.map(e))?;
    let mut r = response::status_only(StatusCode::OK);
    set(&mut r, "etag", quoted(&object.etag));
    if let Some(c) = &object.checksum {
        set(&mut r, checksum_header(c.algorithm), &c.value);
        set(&mut r, "x-amz-checksum-type", c.kind.name());
    }
    Ok(r)
}

/// The condition of a conditional write (PutObject, CompleteMultipartUpload, CopyObject):
/// `If-None-Match: *` or `If-Match: <etag>`. S3 accepts no other `If-None-Match` value and not
/// both headers at once, and answers those with NotImplemented.
pub fn write_condition(ctx: &Ctx<'_>) -> S3Result<Option<WriteCondition>> {
    let unsupported =
        || S3Error::not_implemented("A header you provided implies functionality that is not implemented");
    match (header(ctx.parts, "if-none-match"), header(ctx.parts, "if-match")) {
        (None, None) => Ok(None),
        (Some(v), None) if v.trim() == "*" => Ok(Some(WriteCondition::IfNoneMatchAny)),
        (None, Some(v)) if !v.trim().is_empty() => Ok(Some(WriteCondition::IfMatch(v.to_string()))),
        _ => Err(unsupported()),
    }
}

/// The `x-amz-copy-source-if-*` conditions of CopyObject and UploadPartCopy. A date S3 could
/// not parse is ignored, as for GetObject's conditions.
pub fn source_conditions(ctx: &Ctx<'_>) -> SourceConditions {
    ferry_http::source_conditions(&ctx.parts.headers, "x-amz-copy-source-if-")
}

pub fn checksum_header(algorithm: ferry_core::checksum::ChecksumAlgorithm) -> &'static str {
    use ferry_core::checksum::ChecksumAlgorithm::*;
    match algorithm {
        Crc32 => "x-amz-checksum-crc32",
        Crc32c => "x-amz-checksum-crc32c",
        Crc64Nvme => "x-amz-checksum-crc64nvme",
        Sha1 => "x-amz-checksum-sha1",
        Sha256 => "x-amz-checksum-sha256",
    }
}

/// Evaluate If-Match / If-None-Match / If-(Un)Modified-Since: `Some(status)` stops the request.
fn preconditions(ctx: &Ctx<'_>, object: &ObjectRecord) -> Option<StatusCode> {
    let etag_in = |list: &str| list.split(',').any(|t| t.trim() == "*" || t.trim().trim_matches('"') == object.etag);
    let modified_secs = object.modified / 1000;
    let date = |name: &str| {
        header(ctx.parts, name)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
    };
    if let Some(list) = header(ctx.parts, "if-match") {
        if !etag_in(list) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if date("if-unmodified-since").is_some_and(|since| modified_secs > since) {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if let Some(list) = header(ctx.parts, "if-none-match") {
        if etag_in(list) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    } else if date("if-modified-since").is_some_and(|since| modified_secs <= since) {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

/// Whether the object was published from a multipart upload (its ETag is `md5-of-md5s-N`).
pub fn is_multipart(object: &ObjectRecord) -> bool {
    object.etag.contains('-')
}

/// How many parts `partNumber` can address: a simple object, even an empty one, is one part.
pub fn parts_count(object: &ObjectRecord) -> usize {
    if is_multipart(object) { object.manifest.len().max(1) } else { 1 }
}

pub async fn get_object(ctx: &Ctx<'_>) -> S3Result<Response> {
    let head = ctx.parts.method == Method::HEAD;
    check_version_id(ctx)?;
    let part_number = ctx.query.number::<u32>("partNumber")?;
    if part_number.is_some_and(|n| !(1..=10_000).contains(&n)) {
        return Err(S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive"));
    }
    let range = header(ctx.parts, "range").and_then(parse_range);
    if part_number.is_some() && range.is_some() {
        return Err(S3Error::invalid_request("Cannot specify both Range header and partNumber query parameter"));
    }
    let engine = &ctx.s3.engine;
    let object = engine.head_object(&ctx.bucket, &ctx.key).await?;
    // A simple object is one part; S3 answers every other part number InvalidPartNumber.
    if let Some(n) = part_number
        && n as usize > parts_count(&object)
    {
        return Err(S3Error::invalid_part_number("The requested partnumber is not satisfiable"));
    }
    if let Some(status) = preconditions(ctx, &object) {
        if status == StatusCode::PRECONDITION_FAILED {
            return Err(S3Error::precondition_failed("At least one of the pre-conditions you specified did not hold"));
        }
        let mut r = response::status_only(status);
        response::set_validators(&mut r, &quoted(&object.etag), object.modified);
        return Ok(r);
    }
    let read = if head {
        // HEAD reads no bytes but resolves the range exactly as GET would.
        let span = match (part_number, range) {
            (Some(n), _) => {
                object.manifest.get(n as usize - 1).filter(|e| e.size > 0).map(|e| (e.offset, e.offset + e.size - 1))
            }
            (None, None) => None,
            (None, Some(spec)) => Some(ferry_core::resolve_range(spec, object.size)?),
        };
        ferry_core::ObjectRead { object, range: span, body: Box::pin(futures_util::stream::empty()) }
    } else {
        engine.get_object(&ctx.bucket, &ctx.key, range, part_number).await?
    };
    let object = &read.object;
    let mut r = if head { response::status_only(StatusCode::OK) } else { Response::new(ferry_http::stream(read.body)) };
    response::object_meta_headers(&mut r, &object.meta);
    response::set_read_span(&mut r, object.size, read.range);
    if part_number.is_some() && read.range.is_none() {
        // An empty part of a multipart object: no bytes, but still an answer about one part.
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(&mut r, "content-length", "0");
    }
    response::set_validators(&mut r, &quoted(&object.etag), object.modified);
    if part_number.is_some() && is_multipart(object) {
        set(&mut r, "x-amz-mp-parts-count", parts_count(object).to_string());
    }
    // A checksum is only meaningful for the whole object; clients validate what they receive.
    let whole = read.range.is_none() && part_number.is_none();
    if whole
        && header(ctx.parts, "x-amz-checksum-mode").is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
        && let Some(c) = &object.checksum
    {
        set(&mut r, checksum_header(c.algorithm), &c.value);
        set(&mut r, "x-amz-checksum-type", c.kind.name());
    }
    ferry_http::response_overrides(&mut r, ctx.query);
    Ok(r)
}

pub async fn delete_object(ctx: &Ctx<'_>) -> S3Result<Response> {
    check_version_id(ctx)?;
    ctx.s3.engine.delete_object(&ctx.bucket, &ctx.key).await?;
    let mut r = response::no_content();
    if ctx.query.has("versionId") {
        set(&mut r, "x-amz-version-id", NULL_VERSION);
    }
    Ok(r)
}

pub async fn delete_objects(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    let bytes = read_small(ctx.parts, &ctx.payload, body, 2 * 1024 * 1024).await?;
    let (quiet, entries) = parse_delete_entries(&bytes)?;
    ctx.s3.engine.bucket(&ctx.bucket).await?;
    let mut w = XmlWriter::new("DeleteResult");
    for DeleteEntry { key, version_id } in entries {
        let allowed = ctx
            .principal
            .authorize(
                ferry_core::access::Action::Delete,
                &ferry_core::access::Resource::Object { bucket: &ctx.bucket, key: &key },
            )
            .map_err(crate::authorize::denied);
        let deleted = match allowed.and_then(|()| check_version(version_id.as_deref())) {
            Ok(()) => ctx.s3.engine.delete_object(&ctx.bucket, &key).await.map_err(S3Error::from),
            Err(e) => Err(e),
        };
        match deleted {
            Ok(_) => {
                if !quiet {
                    w.open("Deleted").elem("Key", &key).opt("VersionId", version_id.as_ref()).close("Deleted");
                }
            }
            Err(e) => {
                w.open("Error").elem("Key", &key).opt("VersionId", version_id.as_ref());
                w.elem("Code", e.code).elem("Message", &e.message).close("Error");
            }
        }
    }
    Ok(xml(StatusCode::OK, w.finish("DeleteResult")))
}

/// Parse `x-amz-copy-source`: `[/]bucket/url-encoded-key[?versionId=…]`.
pub fn copy_source(ctx: &Ctx<'_>) -> S3Result<ObjectTarget> {
    let raw = header(ctx.parts, "x-amz-copy-source").unwrap_or("");
    let path = raw.split_once('?').map_or(raw, |(p, _)| p);
    let decoded = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("Invalid copy source encoding"))?;
    match decoded.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok(ObjectTarget { bucket: bucket.to_string(), key: key.to_string() })
        }
        _ => {
            Err(S3Error::invalid_argument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey"))
        }
    }
}

pub async fn copy_object(ctx: &Ctx<'_>) -> S3Result<Response> {
    let source = copy_source(ctx)?;
    let replace = header(ctx.parts, "x-amz-metadata-directive").is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"));
    let target = ObjectTarget { bucket: ctx.bucket.clone(), key: ctx.key.clone() };
    if source == target && !replace {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata.",
        ));
    }
    let meta = if replace { Some(object_meta(ctx.parts)?) } else { None };
    let condition = write_condition(ctx)?;
    let object = ctx.s3.engine.copy_object_if(&source, &source_conditions(ctx), target, meta, condition).await?;
    let mut w = XmlWriter::new("CopyObjectResult");
    w.elem("LastModified", iso8601(object.modified)).elem("ETag", quoted(&object.etag));
    if let Some(c) = object.checksum.as_ref().filter(|c| c.kind == ChecksumType::FullObject) {
        w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value);
    }
    Ok(xml(StatusCode::OK, w.finish("CopyObjectResult")))
}
