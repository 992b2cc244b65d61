//! ListObjects (V1) and ListObjectsV2.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN;
use ferry_http::Response;
use http::StatusCode;

use crate::Ctx;
use crate::auth::uri_encode;
use crate::error::{S3Error, S3Result};
use crate::request::S3Query as _;
use crate::response::{iso8601, quoted, write_owner, xml};
use ferry_http::xml::XmlWriter;

const MAX_KEYS: usize = 1000;

/// Keys and prefixes as written in a listing: URL-encoded when the client asked for it.
pub struct Encoder {
    url: bool,
}

impl Encoder {
    pub fn from_query(value: Option<&str>) -> S3Result<Self> {
        match value {
            None => Ok(Encoder { url: false }),
            Some(v) if v.eq_ignore_ascii_case("url") => Ok(Encoder { url: true }),
            Some(_) => Err(S3Error::invalid_argument("Invalid Encoding Method specified in Request")),
        }
    }

    pub fn key(&self, key: &str) -> String {
        if self.url { uri_encode(key.as_bytes(), true) } else { key.to_string() }
    }

    pub fn write_type(&self, w: &mut XmlWriter) {
        if self.url {
            w.elem("EncodingType", "url");
        }
    }
}

pub async fn list_objects(ctx: &Ctx<'_>) -> S3Result<Response> {
    let q = ctx.query;
    let v2 = match q.get("list-type") {
        None => false,
        Some("2") => true,
        Some(other) => {
            return Err(S3Error::invalid_argument(format!("Invalid List Type specified in Request: {other:?}")));
        }
    };
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").unwrap_or("");
    let max_keys = q.page_size("max-keys", MAX_KEYS)?;
    let encoder = Encoder::from_query(q.get("encoding-type"))?;
    let token = match q.get("continuation-token") {
        Some(t) => Some(
            TOKEN
                .decode(t)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))?,
        ),
        None => None,
    };
    let start_after = q.get("start-after").unwrap_or("");
    let marker = q.get("marker").unwrap_or("");
    let after = if v2 { token.as_deref().unwrap_or(start_after).max(start_after) } else { marker };
    let listing = ctx.s3.engine.list_objects(&ctx.bucket, prefix, delimiter, after, max_keys).await?;

    let mut w = XmlWriter::new("ListBucketResult");
    w.elem("Name", &ctx.bucket).elem("Prefix", encoder.key(prefix));
    if v2 {
        w.opt("StartAfter", q.get("start-after").map(|s| encoder.key(s)));
        w.opt("ContinuationToken", q.get("continuation-token"));
        w.opt("NextContinuationToken", listing.next_marker.as_ref().map(|m| TOKEN.encode(m)));
        w.elem("KeyCount", (listing.objects.len() + listing.common_prefixes.len()).to_string());
    } else {
        w.elem("Marker", encoder.key(marker));
        // V1 only names NextMarker when a delimiter is used; clients use the last key otherwise.
        if !delimiter.is_empty() {
            w.opt("NextMarker", listing.next_marker.as_ref().map(|m| encoder.key(m)));
        }
    }
    w.elem("MaxKeys", max_keys.to_string());
    if !delimiter.is_empty() {
        w.elem("Delimiter", encoder.key(delimiter));
    }
    encoder.write_type(&mut w);
    w.elem("IsTruncated", listing.truncated.to_string());
    for o in &listing.objects {
        w.open("Contents")
            .elem("Key", encoder.key(&o.key))
            .elem("LastModified", iso8601(o.modified))
            .elem("ETag", quoted(&o.etag))
            .elem("Size", o.size.to_string())
            .elem("StorageClass", "STANDARD");
        if !v2 || q.get("fetch-owner") == Some("true") {
            write_owner(&mut w, "Owner");
        }
        w.close("Contents");
    }
    for p in &listing.common_prefixes {
        w.open("CommonPrefixes").elem("Prefix", encoder.key(p)).close("CommonPrefixes");
    }
    Ok(xml(StatusCode::OK, w.finish("ListBucketResult")))
}
