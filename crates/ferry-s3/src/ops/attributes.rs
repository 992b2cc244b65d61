//! GetObjectAttributes: what SDKs ask before a parallel download or to verify an upload —
//! ETag, whole-object checksum, the parts of a multipart object (paged), storage class, size.

use ferry_http::Response;
use ferry_http::xml::XmlWriter;
use http::StatusCode;

use super::object::{is_multipart, parts_count};
use super::versions::check_version_id;
use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::request::header;
use crate::response::{http_date, set, xml};

const ATTRIBUTES: &[&str] = &["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"];
const MAX_PARTS: usize = 1000;

/// A numeric header; absent is `None`, anything but a non-negative integer is InvalidArgument.
fn number_header(ctx: &Ctx<'_>, name: &str) -> S3Result<Option<usize>> {
    header(ctx.parts, name)
        .map(|v| v.trim().parse().map_err(|_| S3Error::invalid_argument(format!("Invalid value for {name}: {v:?}"))))
        .transpose()
}

/// The attributes asked for: `x-amz-object-attributes` is a list that boto3 sends as one
/// comma-separated header and aws-sdk-go-v2 as one header line per attribute.
fn wanted_attributes(headers: &http::HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect()
}

pub async fn get_object_attributes(ctx: &Ctx<'_>) -> S3Result<Response> {
    check_version_id(ctx)?;
    let wanted = wanted_attributes(&ctx.parts.headers);
    if wanted.is_empty() {
        return Err(S3Error::invalid_argument("x-amz-object-attributes must name at least one attribute"));
    }
    if let Some(bad) = wanted.iter().find(|a| !ATTRIBUTES.contains(a)) {
        return Err(S3Error::invalid_argument(format!("Invalid attribute name specified: {bad}")));
    }
    let max_parts = number_header(ctx, "x-amz-max-parts")?.unwrap_or(MAX_PARTS).min(MAX_PARTS);
    let marker = number_header(ctx, "x-amz-part-number-marker")?.unwrap_or(0);
    let object = ctx.s3.engine.head_object(&ctx.bucket, &ctx.key).await?;

    let mut w = XmlWriter::new("GetObjectAttributesOutput");
    let has = |name: &str| wanted.contains(&name);
    if has("ETag") {
        w.elem("ETag", &object.etag);
    }
    if has("Checksum")
        && let Some(c) = &object.checksum
    {
        w.open("Checksum")
            .elem(&format!("Checksum{}", c.algorithm.name()), &c.value)
            .elem("ChecksumType", c.kind.name())
            .close("Checksum");
    }
    if has("ObjectParts") && is_multipart(&object) {
        let total = parts_count(&object);
        let page: Vec<(usize, u64)> = object
            .manifest
            .iter()
            .enumerate()
            .map(|(i, e)| (i + 1, e.size))
            .filter(|(n, _)| *n > marker)
            .take(max_parts)
            .collect();
        let last = page.last().map_or(marker, |(n, _)| *n);
        w.open("ObjectParts")
            .elem("PartsCount", total.to_string())
            .elem("PartNumberMarker", marker.to_string())
            .elem("NextPartNumberMarker", last.to_string())
            .elem("MaxParts", max_parts.to_string())
            .elem("IsTruncated", (last < total).to_string());
        for (number, size) in page {
            w.open("Part").elem("PartNumber", number.to_string()).elem("Size", size.to_string()).close("Part");
        }
        w.close("ObjectParts");
    }
    if has("StorageClass") {
        w.elem("StorageClass", "STANDARD");
    }
    if has("ObjectSize") {
        w.elem("ObjectSize", object.size.to_string());
    }
    let mut r = xml(StatusCode::OK, w.finish("GetObjectAttributesOutput"));
    set(&mut r, "last-modified", http_date(object.modified));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::wanted_attributes;

    #[test]
    fn attributes_are_read_from_every_header_line() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-amz-object-attributes", http::HeaderValue::from_static("Checksum"));
        headers.append("x-amz-object-attributes", http::HeaderValue::from_static("ObjectParts, ObjectSize"));
        assert_eq!(wanted_attributes(&headers), ["Checksum", "ObjectParts", "ObjectSize"]);
        assert!(wanted_attributes(&http::HeaderMap::new()).is_empty());
    }
}
