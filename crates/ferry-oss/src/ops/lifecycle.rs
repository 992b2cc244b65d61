//! PutBucketLifecycle, GetBucketLifecycle, DeleteBucketLifecycle: OSS's `LifecycleConfiguration`
//! document ⇄ the engine's rules. The engine validates and applies the rules; here the XML is
//! read and written, and what ferry cannot honour is refused by name.
//!
//! Supported per rule: `ID`, `Prefix`, `Status`, `Expiration` with `Days`, `CreatedBeforeDate`
//! (or the older `Date`), `AbortMultipartUpload` with `Days` or `CreatedBeforeDate`. Tags,
//! filters, transitions and noncurrent-version actions are refused with `NotImplemented`.

use base64::Engine as _;
use ferry_core::lifecycle::{AbortUploads, Expiration, LifecycleConfiguration, LifecycleRule};
use ferry_http::dates::parse_iso8601;
use ferry_http::xml::XmlWriter;
use ferry_http::xml_tree::{XmlElement, enabled_status, parse_tree, repeated};
use ferry_http::{Body, Response};
use http::StatusCode;
use md5::{Digest, Md5};

use super::{header, read_small};
use crate::Ctx;
use crate::error::{OssError, OssResult};
use crate::response::{iso8601, status_only, xml};

/// A configuration of 1000 rules, each with a 255-byte ID and a prefix, fits comfortably.
const MAX_BODY: usize = 2 * 1024 * 1024;

pub async fn put(ctx: &Ctx<'_>, body: Body) -> OssResult<Response> {
    let bytes = read_small(body, MAX_BODY).await?;
    // oss2 sends Content-MD5 with the document; a document changed on the way is refused.
    if let Some(md5) = header(ctx, "content-md5") {
        let sent = base64::engine::general_purpose::STANDARD
            .decode(md5.trim())
            .map_err(|_| OssError::invalid_digest("The Content-MD5 you specified is not valid."))?;
        if Md5::digest(&bytes).as_slice() != sent.as_slice() {
            return Err(OssError::bad_digest("The Content-MD5 you specified did not match what we received."));
        }
    }
    let config = parse(&bytes)?;
    ctx.oss.engine.put_lifecycle(&ctx.bucket, config).await?;
    Ok(status_only(StatusCode::OK))
}

pub async fn get(ctx: &Ctx<'_>) -> OssResult<Response> {
    let Some(config) = ctx.oss.engine.lifecycle(&ctx.bucket).await? else {
        return Err(OssError::no_such_lifecycle("No Row found in Lifecycle Table."));
    };
    Ok(xml(StatusCode::OK, render(&config)))
}

pub async fn delete(ctx: &Ctx<'_>) -> OssResult<Response> {
    ctx.oss.engine.delete_lifecycle(&ctx.bucket).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

fn malformed(why: impl std::fmt::Display) -> OssError {
    OssError::malformed_xml(format!("The XML you provided was not well-formed or did not validate ({why})."))
}

fn unsupported(what: &str) -> OssError {
    OssError::not_implemented(format!("ferry does not support {what} in lifecycle rules; nothing was changed."))
}

/// The `LifecycleConfiguration` body → rules (not yet validated: the engine does that).
pub fn parse(body: &[u8]) -> OssResult<LifecycleConfiguration> {
    let root = parse_tree(body)?;
    let rules = repeated(&root, "LifecycleConfiguration", "Rule").map_err(malformed)?;
    Ok(LifecycleConfiguration { rules: rules.iter().map(parse_rule).collect::<OssResult<_>>()? })
}

fn parse_rule(rule: &XmlElement) -> OssResult<LifecycleRule> {
    let mut parsed = LifecycleRule {
        id: String::new(),
        enabled: false,
        prefix: String::new(),
        expiration: None,
        abort_uploads: None,
    };
    let mut status = None;
    for child in &rule.children {
        match child.name.as_str() {
            "ID" => parsed.id = child.text.clone(),
            "Prefix" => parsed.prefix = child.text.clone(),
            "Status" => status = Some(child.text.trim()),
            "Expiration" => parsed.expiration = Some(parse_expiration(child)?),
            "AbortMultipartUpload" => parsed.abort_uploads = Some(parse_abort(child)?),
            "Tag" => return Err(unsupported("rules by object tag (Tag): ferry keeps no object tags")),
            "Filter" => return Err(unsupported("Filter (exclusions by prefix, tag or size)")),
            "Transition" => return Err(unsupported("transitions (ferry has one storage class)")),
            "NoncurrentVersionExpiration" | "NoncurrentVersionTransition" => {
                return Err(unsupported("noncurrent-version actions (ferry buckets are unversioned)"));
            }
            // oss2 may send the access-time base of transitions; without transitions it says nothing.
            "AtimeBase" => {}
            other => return Err(malformed(format_args!("unexpected element Rule/{other}"))),
        }
    }
    parsed.enabled = enabled_status(status).map_err(malformed)?;
    Ok(parsed)
}

fn parse_expiration(expiration: &XmlElement) -> OssResult<Expiration> {
    if expiration.child("ExpiredObjectDeleteMarker").is_some() {
        return Err(unsupported("ExpiredObjectDeleteMarker (ferry buckets are unversioned)"));
    }
    let days = expiration.child_text("Days");
    let before = expiration.child_text("CreatedBeforeDate");
    let date = expiration.child_text("Date");
    match (days, before, date) {
        (Some(days), None, None) => Ok(Expiration::Days(days_value(days)?)),
        (None, Some(before), None) => Ok(Expiration::CreatedBefore(date_value(before)?)),
        (None, None, Some(date)) => Ok(Expiration::Date(date_value(date)?)),
        (None, None, None) => Err(malformed("Expiration needs Days or CreatedBeforeDate")),
        _ => Err(malformed("Expiration has one of Days, CreatedBeforeDate and Date")),
    }
}

fn parse_abort(abort: &XmlElement) -> OssResult<AbortUploads> {
    match (abort.child_text("Days"), abort.child_text("CreatedBeforeDate")) {
        (Some(days), None) => Ok(AbortUploads::Days(days_value(days)?)),
        (None, Some(before)) => Ok(AbortUploads::CreatedBefore(date_value(before)?)),
        (None, None) => Err(malformed("AbortMultipartUpload needs Days or CreatedBeforeDate")),
        (Some(_), Some(_)) => Err(malformed("AbortMultipartUpload has either Days or CreatedBeforeDate")),
    }
}

fn days_value(text: &str) -> OssResult<u32> {
    match text.parse::<i64>() {
        Ok(n) if n < 0 => Err(OssError::invalid_argument("Days must be a positive integer.")),
        Ok(n) => u32::try_from(n).map_err(|_| OssError::invalid_argument("Days is too large.")),
        Err(_) => Err(malformed(format_args!("Days {text:?} is not a whole number"))),
    }
}

fn date_value(text: &str) -> OssResult<ferry_core::Millis> {
    parse_iso8601(text).ok_or_else(|| {
        OssError::invalid_argument(format!(
            "Invalid date {text:?}: give an ISO 8601 date at midnight UTC, e.g. 2030-01-01T00:00:00.000Z."
        ))
    })
}

/// The rules as GetBucketLifecycle answers them (what oss2's `get_bucket_lifecycle` parses).
pub fn render(config: &LifecycleConfiguration) -> String {
    let mut w = XmlWriter::plain("LifecycleConfiguration");
    for rule in &config.rules {
        w.open("Rule").elem("ID", &rule.id).elem("Prefix", &rule.prefix);
        w.elem("Status", if rule.enabled { "Enabled" } else { "Disabled" });
        match rule.expiration {
            Some(Expiration::Days(days)) => {
                w.open("Expiration").elem("Days", days.to_string()).close("Expiration");
            }
            Some(Expiration::CreatedBefore(at)) => {
                w.open("Expiration").elem("CreatedBeforeDate", iso8601(at)).close("Expiration");
            }
            Some(Expiration::Date(at)) => {
                w.open("Expiration").elem("Date", iso8601(at)).close("Expiration");
            }
            None => {}
        }
        match rule.abort_uploads {
            Some(AbortUploads::Days(days)) => {
                w.open("AbortMultipartUpload").elem("Days", days.to_string()).close("AbortMultipartUpload");
            }
            Some(AbortUploads::CreatedBefore(at)) => {
                w.open("AbortMultipartUpload").elem("CreatedBeforeDate", iso8601(at)).close("AbortMultipartUpload");
            }
            None => {}
        }
        w.close("Rule");
    }
    w.finish("LifecycleConfiguration")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        match parse(body.as_bytes()) {
            Ok(_) => "ok",
            Err(e) => e.code,
        }
    }

    #[test]
    fn oss2_documents_parse_and_render_back() {
        let body = "<LifecycleConfiguration><Rule><ID>parts</ID><Prefix>up/</Prefix><Status>Enabled</Status><AbortMultipartUpload><Days>1</Days></AbortMultipartUpload></Rule><Rule><ID>old</ID><Prefix></Prefix><Status>Disabled</Status><Expiration><CreatedBeforeDate>2030-01-01T00:00:00.000Z</CreatedBeforeDate></Expiration><AbortMultipartUpload><CreatedBeforeDate>2030-01-01T00:00:00.000Z</CreatedBeforeDate></AbortMultipartUpload></Rule></LifecycleConfiguration>";
        let Ok(config) = parse(body.as_bytes()) else { panic!("refused") };
        assert_eq!(config.rules[0].abort_uploads, Some(AbortUploads::Days(1)));
        assert_eq!(config.rules[0].prefix, "up/");
        assert!(!config.rules[1].enabled);
        assert_eq!(config.rules[1].expiration, Some(Expiration::CreatedBefore(1_893_456_000_000)));
        let rendered = render(&config);
        assert!(!rendered.contains("xmlns"), "OSS documents carry no namespace");
        assert!(rendered.contains("<CreatedBeforeDate>2030-01-01T00:00:00.000Z</CreatedBeforeDate>"), "{rendered}");
        assert_eq!(parse(rendered.as_bytes()).ok(), Some(config));
    }

    #[test]
    fn bad_documents_get_oss_error_codes() {
        let rule = |inner: &str| format!("<LifecycleConfiguration><Rule>{inner}</Rule></LifecycleConfiguration>");
        assert_eq!(code("<LifecycleConfiguration/>"), "MalformedXML");
        assert_eq!(code("<x"), "MalformedXML");
        assert_eq!(code(&rule("<Prefix/><Expiration><Days>1</Days></Expiration>")), "MalformedXML");
        assert_eq!(code(&rule("<Status>Enabled</Status><Expiration><Days>-3</Days></Expiration>")), "InvalidArgument");
        assert_eq!(
            code(&rule(
                "<Status>Enabled</Status><Expiration><Days>1</Days><CreatedBeforeDate>2030-01-01T00:00:00.000Z</CreatedBeforeDate></Expiration>"
            )),
            "MalformedXML"
        );
        assert_eq!(code(&rule("<Status>Enabled</Status><AbortMultipartUpload/>")), "MalformedXML");
        assert_eq!(
            code(&rule(
                "<Status>Enabled</Status><Tag><Key>k</Key><Value>v</Value></Tag><Expiration><Days>1</Days></Expiration>"
            )),
            "NotImplemented"
        );
        assert_eq!(
            code(&rule("<Status>Enabled</Status><Expiration><CreatedBeforeDate>nope</CreatedBeforeDate></Expiration>")),
            "InvalidArgument"
        );
        assert_eq!(
            code(&rule("<Status>Enabled</Status><Prefix>a</Prefix><Expiration><Days>1</Days></Expiration>")),
            "ok"
        );
    }
}
