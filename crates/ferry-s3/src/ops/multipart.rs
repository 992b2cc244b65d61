//! CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts, ListMultipartUploads,
//! CompleteMultipartUpload, AbortMultipartUpload.

use ferry_core::checksum::{ChecksumAlgorithm, ChecksumType};
use ferry_core::{
    ChecksumRequest, CommitPart, CommitRequest, CommitRules, ObjectChecksum, ObjectTarget, PartRecord, Session, Target,
    UploadMarker,
};
use ferry_http::{Body, Response};
use http::StatusCode;

use super::object::{checksum_header, copy_source, parse_range, source_conditions, write_condition};
use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::request::S3Query as _;
use crate::request::header;
use crate::response::{self, iso8601, quoted, set, write_owner, xml};
use crate::upload_body::{self, UploadBody, object_meta, read_small};
use ferry_http::xml::{XmlWriter, parse_complete};

const MAX_LIST: usize = 1000;
/// A Complete body for 10,000 parts with every checksum fits well within this.
const MAX_COMPLETE_BODY: usize = 8 * 1024 * 1024;

fn upload_id<'a>(ctx: &'a Ctx<'_>) -> &'a str {
    ctx.query.get("uploadId").unwrap_or("")
}

/// The session named by `uploadId`, opened by the engine for this bucket and key.
async fn session(ctx: &Ctx<'_>) -> S3Result<Session> {
    let target = Target::object(ctx.bucket.as_str(), ctx.key.as_str());
    Ok(ctx.s3.engine.open_session(upload_id(ctx), &target).await?)
}

fn checksum_request(ctx: &Ctx<'_>) -> S3Result<Option<ChecksumRequest>> {
    let Some(name) = header(ctx.parts, "x-amz-checksum-algorithm") else {
        if header(ctx.parts, "x-amz-checksum-type").is_some() {
            return Err(S3Error::invalid_request("x-amz-checksum-type requires x-amz-checksum-algorithm"));
        }
        return Ok(None);
    };
    let algorithm = ChecksumAlgorithm::parse(name)
        .ok_or_else(|| S3Error::invalid_request(format!("Checksum algorithm {name:?} is not supported")))?;
    let kind = match header(ctx.parts, "x-amz-checksum-type") {
        Some(t) => ChecksumType::parse(t)
            .ok_or_else(|| S3Error::invalid_request(format!("Invalid x-amz-checksum-type {t:?}")))?,
        None if algorithm == ChecksumAlgorithm::Crc64Nvme => ChecksumType::FullObject,
        None => ChecksumType::Composite,
    };
    let allowed = match kind {
        ChecksumType::Composite => algorithm.supports_composite(),
        ChecksumType::FullObject => algorithm.supports_full_object(),
    };
    if !allowed {
        return Err(S3Error::invalid_request(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            algorithm.name()
        )));
    }
    Ok(Some(ChecksumRequest { algorithm, kind }))
}

pub async fn create(ctx: &Ctx<'_>) -> S3Result<Response> {
    let meta = object_meta(ctx.parts)?;
    let checksum = checksum_request(ctx)?;
    let target = ObjectTarget { bucket: ctx.bucket.clone(), key: ctx.key.clone() };
    let session = ctx.s3.engine.create_session_from("s3", target, meta, checksum).await?;
    let mut w = XmlWriter::new("InitiateMultipartUploadResult");
    w.elem("Bucket", &ctx.bucket).elem("Key", &ctx.key).elem("UploadId", &session.id);
    let mut r = xml(StatusCode::OK, w.finish("InitiateMultipartUploadResult"));
    if let Some(c) = checksum {
        set(&mut r, "x-amz-checksum-algorithm", c.algorithm.name());
        set(&mut r, "x-amz-checksum-type", c.kind.name());
    }
    Ok(r)
}

fn part_number(ctx: &Ctx<'_>) -> S3Result<u32> {
    let invalid = || S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive");
    let n: u32 = ctx.query.get("partNumber").and_then(|v| v.parse().ok()).ok_or_else(invalid)?;
    if n == 0 || n > ctx.s3.config.max_parts {
        return Err(invalid());
    }
    Ok(n)
}

pub async fn upload_part(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    let number = part_number(ctx)?;
    let session = session(ctx).await?;
    if ctx.parts.headers.contains_key("x-amz-copy-source") {
        return upload_part_copy(ctx, &session, number).await;
    }
    let UploadBody { input, algorithm, errors } =
        upload_body::prepare(ctx.parts, &ctx.payload, body, ctx.s3.config.max_object_size)?;
    let part = ctx.s3.engine.put_part(&session, number, input).await.map_err(|e| errors.map(e))?;
    let mut r = response::status_only(StatusCode::OK);
    set(&mut r, "etag", quoted(&part.etag()));
    // Echo the checksum so SDKs list it per part in Complete.
    for alg in algorithm.into_iter().chain(session.checksum.map(|c| c.algorithm)) {
        if let Some(value) = part.digests.base64(alg) {
            set(&mut r, checksum_header(alg), value);
        }
    }
    Ok(r)
}

async fn upload_part_copy(ctx: &Ctx<'_>, session: &Session, number: u32) -> S3Result<Response> {
    let source = copy_source(ctx)?;
    let range = match header(ctx.parts, "x-amz-copy-source-range") {
        Some(v) => Some(parse_range(v).ok_or_else(|| {
            S3Error::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last")
        })?),
        None => None,
    };
    let conditions = source_conditions(ctx);
    let max = ctx.s3.config.max_object_size;
    let part = ctx.s3.engine.copy_part_if(session, number, &source, &conditions, range, max).await?;
    let mut w = XmlWriter::new("CopyPartResult");
    w.elem("ETag", quoted(&part.etag())).elem("LastModified", iso8601(part.modified));
    Ok(xml(StatusCode::OK, w.finish("CopyPartResult")))
}

fn write_part(w: &mut XmlWriter, part: &PartRecord, algorithm: Option<ChecksumAlgorithm>) {
    w.open("Part")
        .elem("PartNumber", part.number.to_string())
        .elem("LastModified", iso8601(part.modified))
        .elem("ETag", quoted(&part.etag()))
        .elem("Size", part.size.to_string());
    if let Some(alg) = algorithm {
        w.opt(&format!("Checksum{}", alg.name()), part.digests.base64(alg));
    }
    w.close("Part");
}

pub async fn list_parts(ctx: &Ctx<'_>) -> S3Result<Response> {
    let session = session(ctx).await?;
    let marker = ctx.query.number::<u32>("part-number-marker")?;
    let max = ctx.query.page_size("max-parts", MAX_LIST)?;
    let listing = ctx.s3.engine.list_parts(&session, marker.filter(|m| *m > 0), max).await?;
    let algorithm = session.checksum.map(|c| c.algorithm);
    let mut w = XmlWriter::new("ListPartsResult");
    w.elem("Bucket", &ctx.bucket).elem("Key", &ctx.key).elem("UploadId", &session.id);
    w.elem("PartNumberMarker", marker.unwrap_or(0).to_string());
    if let Some(next) = listing.next_marker() {
        w.elem("NextPartNumberMarker", next.to_string());
    }
    w.elem("MaxParts", max.to_string()).elem("IsTruncated", listing.truncated.to_string());
    for part in &listing.parts {
        write_part(&mut w, part, algorithm);
    }
    write_owner(&mut w, "Initiator");
    write_owner(&mut w, "Owner");
    w.elem("StorageClass", "STANDARD");
    if let Some(c) = session.checksum {
        w.elem("ChecksumAlgorithm", c.algorithm.name()).elem("ChecksumType", c.kind.name());
    }
    Ok(xml(StatusCode::OK, w.finish("ListPartsResult")))
}

pub async fn list_uploads(ctx: &Ctx<'_>) -> S3Result<Response> {
    let q = ctx.query;
    let prefix = q.get("prefix").unwrap_or("");
    let key_marker = q.get("key-marker").unwrap_or("");
    let id_marker = q.get("upload-id-marker").unwrap_or("");
    let max = q.page_size("max-uploads", MAX_LIST)?;
    let encoder = super::list::Encoder::from_query(q.get("encoding-type"))?;
    let marker = UploadMarker::from_markers(key_marker, id_marker);
    let listing = ctx.s3.engine.list_sessions(&ctx.bucket, prefix, &marker, max).await?;
    let (sessions, truncated) = (&listing.sessions, listing.truncated);
    let mut w = XmlWriter::new("ListMultipartUploadsResult");
    w.elem("Bucket", &ctx.bucket).elem("KeyMarker", encoder.key(key_marker)).elem("UploadIdMarker", id_marker);
    if let Some(UploadMarker::AfterUpload { key, id }) = listing.next_marker() {
        w.elem("NextKeyMarker", encoder.key(&key)).elem("NextUploadIdMarker", &id);
    }
    w.opt("Delimiter", q.get("delimiter")).elem("Prefix", encoder.key(prefix));
    w.elem("MaxUploads", max.to_string());
    encoder.write_type(&mut w);
    w.elem("IsTruncated", truncated.to_string());
    for s in sessions {
        w.open("Upload").elem("Key", encoder.key(s.target.key())).elem("UploadId", &s.id);
        write_owner(&mut w, "Initiator");
        write_owner(&mut w, "Owner");
        w.elem("StorageClass", "STANDARD").elem("Initiated", iso8601(s.created));
        if let Some(c) = s.checksum {
            w.elem("ChecksumAlgorithm", c.algorithm.name()).elem("ChecksumType", c.kind.name());
        }
        w.close("Upload");
    }
    Ok(xml(StatusCode::OK, w.finish("ListMultipartUploadsResult")))
}

pub async fn complete(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    // S3's order: an unknown upload is NoSuchUpload before the body is looked at.
    let session = session(ctx).await?;
    let condition = write_condition(ctx)?;
    upload_body::refuse_unknown_checksums(ctx.parts)?;
    let bytes = read_small(ctx.parts, &ctx.payload, body, MAX_COMPLETE_BODY).await?;
    let parts = last_listing_wins(parse_complete(&bytes)?);
    let max_parts = ctx.s3.config.max_parts as usize;
    if parts.len() > max_parts {
        return Err(S3Error::malformed_xml(format!("A multipart upload may have at most {max_parts} parts")));
    }
    if parts.iter().any(|p| p.number == 0 || p.number > ctx.s3.config.max_parts) {
        return Err(S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive"));
    }
    let request = CommitRequest::listed(parts, CommitRules::new(ctx.s3.config.min_part_size, max_parts))
        .expect_size(expected_size(ctx)?)
        .expect_checksum(expected_checksum(ctx, &session)?);
    let object = ctx.s3.engine.commit_if(&session, request, condition).await?;
    let mut w = XmlWriter::new("CompleteMultipartUploadResult");
    w.elem("Location", object_url(ctx))
        .elem("Bucket", &ctx.bucket)
        .elem("Key", &ctx.key)
        .elem("ETag", quoted(&object.etag));
    if let Some(c) = &object.checksum {
        w.elem(&format!("Checksum{}", c.algorithm.name()), &c.value).elem("ChecksumType", c.kind.name());
    }
    let mut r = xml(StatusCode::OK, w.finish("CompleteMultipartUploadResult"));
    if let Some(c) = &object.checksum {
        set(&mut r, "x-amz-checksum-type", c.kind.name());
    }
    Ok(r)
}

/// `x-amz-mp-object-size` on Complete: the size the client expects the object to have (the
/// Go SDK's transfer manager sends it on every Complete).
fn expected_size(ctx: &Ctx<'_>) -> S3Result<Option<u64>> {
    match header(ctx.parts, "x-amz-mp-object-size") {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| S3Error::invalid_argument(format!("Invalid x-amz-mp-object-size {v:?}"))),
    }
}

/// A whole-object checksum sent with Complete (`x-amz-checksum-<algorithm>`), for the engine to
/// verify before publishing. Its type is `x-amz-checksum-type` when given (it must be the
/// upload's), else the upload's when the algorithm is the upload's, else COMPOSITE for a value
/// with a `-<parts>` suffix and FULL_OBJECT otherwise.
fn expected_checksum(ctx: &Ctx<'_>, session: &Session) -> S3Result<Option<ObjectChecksum>> {
    let declared = match header(ctx.parts, "x-amz-checksum-type") {
        Some(t) => Some(
            ChecksumType::parse(t)
                .ok_or_else(|| S3Error::invalid_request(format!("Invalid x-amz-checksum-type {t:?}")))?,
        ),
        None => None,
    };
    if let (Some(declared), Some(upload)) = (declared, session.checksum)
        && declared != upload.kind
    {
        return Err(S3Error::invalid_request(format!(
            "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
            upload.kind.name()
        )));
    }
    let given = ctx.parts.headers.iter().find_map(|(name, value)| {
        let algorithm = name.as_str().strip_prefix("x-amz-checksum-").and_then(ChecksumAlgorithm::parse)?;
        Some((algorithm, value.to_str().unwrap_or("").to_string()))
    });
    let Some((algorithm, value)) = given else { return Ok(None) };
    let kind = declared
        .or(session.checksum.filter(|c| c.algorithm == algorithm).map(|c| c.kind))
        .unwrap_or(if value.contains('-') { ChecksumType::Composite } else { ChecksumType::FullObject });
    Ok(Some(ObjectChecksum { algorithm, kind, value }))
}

/// S3 accepts a part number listed twice in a row; the last entry listed decides. Out-of-order
/// lists are left as they are for the engine to refuse (`InvalidPartOrder`).
fn last_listing_wins(mut parts: Vec<CommitPart>) -> Vec<CommitPart> {
    parts.reverse();
    parts.dedup_by_key(|p| p.number);
    parts.reverse();
    parts
}

pub async fn abort(ctx: &Ctx<'_>) -> S3Result<Response> {
    let session = session(ctx).await?;
    ctx.s3.engine.abort(&session).await?;
    Ok(response::no_content())
}

/// The object's URL as the client addressed it (path-style `/bucket/key` or virtual-hosted
/// `/key` on the bucket's host), which S3 returns as `Location` and SDKs hand to users as is.
fn object_url(ctx: &Ctx<'_>) -> String {
    let scheme = ctx.parts.extensions.get::<ferry_http::Scheme>().map_or("http", |s| s.0);
    let path = ctx.parts.uri.path();
    match ctx.parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => path.to_string(),
    }
}
