//! One module per OSS operation family, and what they share: request bodies and object metadata.

pub mod bucket;
pub mod lifecycle;
pub mod multipart;
pub mod object;

use ferry_core::{ObjectMeta, PartInput};
use ferry_http::part_input::{BodyRules, Length, Md5Form};
use ferry_http::{Body, body_stream};

use crate::Ctx;
use crate::error::{OssError, OssResult};

fn header<'a>(ctx: &'a Ctx<'_>, name: &str) -> Option<&'a str> {
    ctx.parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A streamed body for the engine: Content-Length required (or chunked transfer), Content-MD5
/// verified when sent.
pub fn part_input(ctx: &Ctx<'_>, body: Body) -> OssResult<PartInput> {
    let rules = BodyRules {
        length: Length::Required,
        md5: Md5Form::Base64,
        checksum_prefix: None,
        max_size: ctx.oss.config.max_object_size,
    };
    Ok(ferry_http::part_input::part_input(&ctx.parts.headers, &rules, body)?)
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
