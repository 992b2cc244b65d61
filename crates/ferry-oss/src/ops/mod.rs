//! One module per OSS operation family, and what they share: request bodies and object metadata.

pub mod bucket;
pub mod multipart;
pub mod object;

use ferry_core::checksum::{Wanted, from_base64};
use ferry_core::{DigestKind, Expected, ObjectMeta, PartInput};
use ferry_http::{Body, body_stream};

use crate::Ctx;
use crate::error::{OssError, OssResult};

fn header<'a>(ctx: &'a Ctx<'_>, name: &str) -> Option<&'a str> {
    ctx.parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A streamed body for the engine: Content-Length required (or chunked transfer), Content-MD5
/// verified when sent.
pub fn part_input(ctx: &Ctx<'_>, body: Body) -> OssResult<PartInput> {
    let max = ctx.oss.config.max_object_size;
    let length = match header(ctx, "content-length") {
        Some(v) => Some(v.parse::<u64>().map_err(|_| OssError::invalid_argument("Content-Length is not a number"))?),
        None => None,
    };
    let chunked = header(ctx, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    if length.is_none() && !chunked {
        return Err(OssError::missing_content_length("You must provide the Content-Length HTTP header."));
    }
    if length.is_some_and(|n| n > max) {
        return Err(OssError::entity_too_large(format!(
            "Your proposed upload exceeds the maximum allowed size of {max} bytes."
        )));
    }
    let mut expected = Vec::new();
    if let Some(md5) = header(ctx, "content-md5") {
        let raw = from_base64(md5)
            .filter(|v| v.len() == 16)
            .ok_or_else(|| OssError::invalid_digest("The Content-MD5 you specified is not valid."))?;
        expected.push(Expected { kind: DigestKind::Md5, value: raw });
    }
    Ok(PartInput {
        body: body_stream(body),
        expected_size: length,
        max_size: max,
        expected,
        trailer: None,
        wanted: Wanted::default(),
    })
}

/// Content headers and `x-oss-meta-*` of a request, for a new object.
pub fn object_meta(ctx: &Ctx<'_>) -> ObjectMeta {
    let text = |name: &str| header(ctx, name).map(str::to_string);
    let user = ctx
        .parts
        .headers
        .iter()
        .filter_map(|(n, v)| {
            n.as_str()
                .strip_prefix("x-oss-meta-")
                .map(|k| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        })
        .collect();
    ObjectMeta {
        content_type: text("content-type"),
        content_encoding: text("content-encoding"),
        content_disposition: text("content-disposition"),
        content_language: text("content-language"),
        cache_control: text("cache-control"),
        expires: text("expires"),
        user,
    }
}

/// ferry keeps no ACLs: every bucket is private and every object inherits it (`default`). A
/// request that asks for another ACL is refused rather than stored without effect.
pub fn check_acl(ctx: &Ctx<'_>, header_name: &str, kept: &str) -> OssResult<()> {
    match header(ctx, header_name) {
        None => Ok(()),
        Some(v) if v == kept => Ok(()),
        Some(v) => Err(OssError::not_implemented(format!(
            "ferry does not support ACLs: {header_name} must be {kept} (it was {v})."
        ))),
    }
}

/// The owner element every OSS answer carries.
pub fn owner(w: &mut ferry_http::xml::XmlWriter, element: &str) {
    w.open(element).elem("ID", "ferry").elem("DisplayName", "ferry").close(element);
}

/// Read a small XML body whole (Complete, Delete, CreateBucketConfiguration).
pub async fn read_small(body: Body, limit: usize) -> OssResult<bytes::Bytes> {
    ferry_http::read_limited(body_stream(body), limit).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            OssError::malformed_xml(format!("The request body is too large ({e})"))
        } else {
            OssError::incomplete_body(e.to_string())
        }
    })
}
