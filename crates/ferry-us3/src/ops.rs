//! The UFile calls: put, head, download, delete, list, copy; multipart with 0-based part numbers
//! and a server-chosen block size.

use ferry_core::{
    CommitRequest, CommitRules, Error, ObjectMeta, ObjectTarget, PartInput, Session, Target, UploadMarker,
};
use ferry_http::part_input::{BodyRules, Length, Md5Form};
use ferry_http::range::parse_range;
use ferry_http::response::{no_content, quoted, set, set_read_span, set_validators, status_only};
use ferry_http::{Body, Response, body_stream, read_limited};
use http::StatusCode;

use crate::Ctx;
use crate::error::{Us3Error, Us3Result};

fn header<'a>(ctx: &'a Ctx<'_>, name: &str) -> Option<&'a str> {
    ctx.parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn json(value: serde_json::Value) -> Response {
    ferry_http::response::json(StatusCode::OK, &value)
}

fn target(ctx: &Ctx<'_>) -> ObjectTarget {
    ObjectTarget { bucket: ctx.bucket.clone(), key: ctx.key.clone() }
}

fn meta(ctx: &Ctx<'_>) -> ObjectMeta {
    ObjectMeta { content_type: header(ctx, "content-type").map(str::to_string), ..ObjectMeta::default() }
}

/// A streamed body of at most `max_size` bytes; the SDK's Content-MD5 (hex, when enabled) is
/// verified.
fn input(ctx: &Ctx<'_>, body: Body, max_size: u64) -> Us3Result<PartInput> {
    let rules = BodyRules { length: Length::Optional, md5: Md5Form::Hex, checksum_prefix: None, max_size };
    Ok(ferry_http::part_input::part_input(&ctx.parts.headers, &rules, body)?)
}

pub async fn put_file(ctx: &Ctx<'_>, body: Body) -> Us3Result<Response> {
    let input = input(ctx, body, ctx.us3.config.max_object_size)?;
    let object = ctx.us3.engine.put_object(target(ctx), meta(ctx), input, None).await?;
    let mut r = status_only(StatusCode::OK);
    set(&mut r, "etag", quoted(&object.etag));
    Ok(r)
}

/// GetFile, or HeadFile when `head` (the same headers, no body).
pub async fn get_file(ctx: &Ctx<'_>, head: bool) -> Us3Result<Response> {
    let engine = &ctx.us3.engine;
    let range = header(ctx, "range").and_then(parse_range);
    let read = if head {
        let object = engine.head_object(&ctx.bucket, &ctx.key).await?;
        ferry_core::ObjectRead { object, range: None, body: Box::pin(futures_util::stream::empty()) }
    } else {
        engine.get_object(&ctx.bucket, &ctx.key, range, None).await?
    };
    let object = &read.object;
    let mut r = Response::new(ferry_http::stream(read.body));
    set(&mut r, "content-type", object.meta.content_type.as_deref().unwrap_or("application/octet-stream"));
    set_read_span(&mut r, object.size, read.range);
    set_validators(&mut r, &quoted(&object.etag), object.modified);
    Ok(r)
}

pub async fn delete_file(ctx: &Ctx<'_>) -> Us3Result<Response> {
    ctx.us3.engine.delete_object(&ctx.bucket, &ctx.key).await?;
    Ok(no_content())
}

/// The object named by `X-Ufile-Copy-Source: /<bucket>/<key>` (the key URL-quoted).
pub(crate) fn copy_source(ctx: &Ctx<'_>) -> Us3Result<ObjectTarget> {
    let raw = header(ctx, "x-ufile-copy-source").unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(raw.trim_start_matches('/')).decode_utf8_lossy().into_owned();
    let (bucket, key) =
        decoded.split_once('/').ok_or_else(|| Us3Error::bad_request("X-Ufile-Copy-Source must be /bucket/key"))?;
    Ok(ObjectTarget { bucket: bucket.into(), key: key.into() })
}

pub async fn copy_file(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let source = copy_source(ctx)?;
    let object = ctx.us3.engine.copy_object(&source, target(ctx), None).await?;
    let mut r = status_only(StatusCode::OK);
    set(&mut r, "etag", quoted(&object.etag));
    Ok(r)
}

fn list_params(ctx: &Ctx<'_>, limit_name: &str) -> (String, String, usize) {
    let prefix = ctx.query.get("prefix").unwrap_or("").to_string();
    let marker = ctx.query.get("marker").unwrap_or("").to_string();
    let limit = ctx.query.get(limit_name).and_then(|v| v.parse().ok()).unwrap_or(100usize).clamp(1, 1000);
    (prefix, marker, limit)
}

pub async fn file_list(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let (prefix, marker, limit) = list_params(ctx, "limit");
    let listing = ctx.us3.engine.list_objects(&ctx.bucket, &prefix, "", &marker, limit).await?;
    let data: Vec<serde_json::Value> = listing
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({"BucketName": ctx.bucket, "FileName": o.key, "Hash": o.etag, "MimeType": "application/octet-stream",
                "Size": o.size, "CreateTime": o.modified / 1000, "ModifyTime": o.modified / 1000, "StorageClass": "STANDARD"})
        })
        .collect();
    Ok(json(serde_json::json!({"BucketName": ctx.bucket, "BucketId": ctx.bucket,
        "NextMarker": listing.next_marker.unwrap_or_default(), "DataSet": data})))
}

pub async fn list_objects(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let (prefix, marker, limit) = list_params(ctx, "max-keys");
    let delimiter = ctx.query.get("delimiter").unwrap_or("").to_string();
    let listing = ctx.us3.engine.list_objects(&ctx.bucket, &prefix, &delimiter, &marker, limit).await?;
    let contents: Vec<serde_json::Value> = listing
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({"Key": o.key, "MimeType": "application/octet-stream", "LastModified": o.modified / 1000,
                "CreateTime": o.modified / 1000, "Etag": o.etag, "Size": o.size.to_string(), "StorageClass": "STANDARD"})
        })
        .collect();
    let prefixes: Vec<serde_json::Value> =
        listing.common_prefixes.iter().map(|p| serde_json::json!({"Prefix": p})).collect();
    Ok(json(serde_json::json!({"Name": ctx.bucket, "Prefix": prefix, "MaxKeys": limit, "Delimiter": delimiter,
        "IsTruncated": listing.truncated, "NextMarker": listing.next_marker.unwrap_or_default(),
        "Contents": contents, "CommonPrefixes": prefixes})))
}

/// The session named by `uploadId`, opened by the engine for this bucket and key (for this
/// bucket alone on the bucket-level part listing, which names no key), with US3's part numbers
/// (from 0) kept as sent.
async fn session(ctx: &Ctx<'_>) -> Us3Result<Session> {
    let id = ctx.query.get("uploadId").unwrap_or("");
    let engine = &ctx.us3.engine;
    let session = match ctx.key.is_empty() {
        true => engine.open_bucket_session(id, &ctx.bucket).await?,
        false => engine.open_session(id, &Target::object(ctx.bucket.as_str(), ctx.key.as_str())).await?,
    };
    Ok(session.numbered_from(0))
}

pub async fn init_upload(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let session = ctx.us3.engine.create_session_from("us3", target(ctx), meta(ctx), None).await?;
    Ok(json(serde_json::json!({"UploadId": session.id, "BlkSize": ctx.us3.config.block_size,
        "Bucket": ctx.bucket, "Key": ctx.key})))
}

/// The part number of UploadPart and UploadPartCopy: US3 numbers parts from 0.
fn part_number(ctx: &Ctx<'_>) -> Us3Result<u32> {
    ctx.query
        .get("partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n < 10_000)
        .ok_or_else(|| Us3Error::bad_request("partNumber must be an integer from 0 to 9999"))
}

fn part_reply(number: u32, part: &ferry_core::PartRecord) -> Response {
    let mut r = json(serde_json::json!({"PartNumber": number}));
    set(&mut r, "etag", quoted(&part.etag()));
    r
}

pub async fn upload_part(ctx: &Ctx<'_>, body: Body) -> Us3Result<Response> {
    let number = part_number(ctx)?;
    let session = session(ctx).await?;
    let part_input = input(ctx, body, ctx.us3.config.block_size)?;
    let part = ctx.us3.engine.put_part(&session, number, part_input).await?;
    Ok(part_reply(number, &part))
}

/// UploadPartCopy: the part is read from `X-Ufile-Copy-Source`, the whole object or the range in
/// `X-Ufile-Copy-Source-Range: bytes=first-last`, server-side.
pub async fn upload_part_copy(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let number = part_number(ctx)?;
    let source = copy_source(ctx)?;
    let range = match header(ctx, "x-ufile-copy-source-range") {
        None => None,
        Some(v) => Some(
            parse_range(v)
                .ok_or_else(|| Us3Error::bad_request("X-Ufile-Copy-Source-Range must be bytes=first-last"))?,
        ),
    };
    let session = session(ctx).await?;
    let block = ctx.us3.config.block_size;
    let part = ctx.us3.engine.copy_part(&session, number, &source, range, block).await?;
    Ok(part_reply(number, &part))
}

/// GetMultiUploadId (`?muploadid`): uploads in progress, by file name then age, `limit` at a time
/// (default 20, at most 1000) after `marker`. `NextMarker` is `<upload id>/<file name>`; a marker
/// without an upload id is taken as a file name, and every upload of that file is skipped.
pub async fn list_uploads(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let prefix = ctx.query.get("prefix").unwrap_or("");
    let marker = ctx.query.get("marker").unwrap_or("");
    let limit = match ctx.query.get("limit").filter(|v| !v.is_empty()) {
        None => 20,
        Some(v) => {
            v.parse::<usize>().map_err(|_| Us3Error::bad_request("limit must be a positive integer"))?.clamp(1, 1000)
        }
    };
    let after = match marker.split_once('/') {
        _ if marker.is_empty() => UploadMarker::Start,
        Some((id, key)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
            UploadMarker::AfterUpload { key: key.to_string(), id: id.to_string() }
        }
        _ => UploadMarker::AfterKey(marker.to_string()),
    };
    let listing = ctx.us3.engine.list_sessions(&ctx.bucket, prefix, &after, limit).await?;
    let data: Vec<serde_json::Value> = listing
        .sessions
        .iter()
        .map(|s| serde_json::json!({"UploadId": s.id, "FileName": s.target.key(), "StartTime": s.created / 1000}))
        .collect();
    let next = match listing.next_marker() {
        Some(UploadMarker::AfterUpload { key, id }) => format!("{id}/{key}"),
        _ => String::new(),
    };
    Ok(json(serde_json::json!({"RetCode": 0, "ErrMsg": "", "NextMarker": next, "DataSet": data})))
}

/// ListParts (`?muploadpart`): parts in US3 numbering (from 0), `max-parts` at a time (default
/// 1000) after `part-number-marker`. Both the documented `Parts` list and the `DataSet` list the
/// SDKs' older examples read are returned.
pub async fn list_parts(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let session = session(ctx).await?;
    let number = |name: &str| -> Us3Result<Option<u32>> {
        match ctx.query.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| Us3Error::bad_request(format!("{name} must be a non-negative integer"))),
        }
    };
    let max_parts = number("max-parts")?.unwrap_or(1000).clamp(1, 1000);
    let after = number("part-number-marker")?;
    let listing = ctx.us3.engine.list_parts(&session, after, max_parts as usize).await?;
    let data: Vec<serde_json::Value> = listing
        .parts
        .iter()
        .map(|p| serde_json::json!({"PartId": p.number, "ETag": format!("\"{}\"", p.etag()), "Size": p.size}))
        .collect();
    let parts: Vec<serde_json::Value> = listing
        .parts
        .iter()
        .map(|p| {
            serde_json::json!({"PartNum": p.number, "Etag": format!("\"{}\"", p.etag()),
            "LastModified": p.modified / 1000, "Size": p.size})
        })
        .collect();
    let mut reply = serde_json::json!({"UploadId": session.id, "Bucket": ctx.bucket, "Key": session.target.key(),
        "MaxParts": max_parts, "IsTruncated": listing.truncated, "Parts": parts, "DataSet": data});
    if let (true, Some(last)) = (listing.truncated, listing.parts.last()) {
        reply["NextPartNumberMarker"] = serde_json::json!(last.number);
    }
    Ok(json(reply))
}

/// Finish: the object is the stored parts 0..N-1 in order. The SDK's resume path can send a
/// list with empty items, duplicates and reordering, so the list is checked loosely: every
/// non-empty ETag in it must belong to a stored part, and the stored parts must be contiguous
/// with every part but the last exactly one block (the engine's rules, chosen here). Wrong bytes
/// are never published; a repeated finish of a published upload gets the same answer.
pub async fn finish_upload(ctx: &Ctx<'_>, body: Body) -> Us3Result<Response> {
    let session = session(ctx).await?;
    let body = read_limited(body_stream(body), 1024 * 1024).await.map_err(|e| Us3Error::bad_request(e.to_string()))?;
    let etags: Vec<String> = String::from_utf8_lossy(&body).split(',').map(str::to_string).collect();
    let block = ctx.us3.config.block_size;
    let rules = CommitRules::new(block, 10_000).contiguous_from(0).exact_part_size(block);
    let object = ctx.us3.engine.commit(&session, CommitRequest::held(etags, rules)).await.map_err(|e| match e {
        // The engine's words for a list it refuses are US3's own messages, without a prefix.
        Error::InvalidArgument(message) => Us3Error::bad_request(message),
        Error::MissingPart(_) | Error::PartSizeMismatch { .. } => Us3Error::bad_request(e.to_string()),
        e => e.into(),
    })?;
    Ok(json(serde_json::json!({"Bucket": ctx.bucket, "Key": object.key, "FileSize": object.size})))
}

pub async fn abort_upload(ctx: &Ctx<'_>) -> Us3Result<Response> {
    let session = session(ctx).await?;
    ctx.us3.engine.abort(&session).await?;
    Ok(no_content())
}
