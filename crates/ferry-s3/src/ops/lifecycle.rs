//! PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration, DeleteBucketLifecycle: S3's
//! `LifecycleConfiguration` document ⇄ the engine's rules. The engine validates and applies the
//! rules; here the XML is read and written, and what ferry cannot honour is refused by name.
//!
//! Supported per rule: `ID`, `Status`, `Filter/Prefix` (or the older `Prefix`), `Expiration`
//! with `Days` or `Date`, `AbortIncompleteMultipartUpload/DaysAfterInitiation`. Filters by tag
//! or size, transitions and noncurrent-version actions are refused with `NotImplemented`.

use ferry_core::lifecycle::{AbortUploads, Expiration, LifecycleConfiguration, LifecycleRule};
use ferry_http::dates::parse_iso8601;
use ferry_http::xml::XmlWriter;
use ferry_http::xml_tree::{XmlElement, enabled_status, parse_tree, repeated};
use ferry_http::{Body, Response};
use http::StatusCode;

use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::response::{iso8601, no_content, status_only, xml};
use crate::upload_body::read_small;

/// A configuration of 1000 rules, each with a 255-byte ID and a prefix, fits comfortably.
const MAX_BODY: usize = 2 * 1024 * 1024;

pub async fn put(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    let bytes = read_small(ctx.parts, &ctx.payload, body, MAX_BODY).await?;
    let config = parse(&bytes)?;
    ctx.s3.engine.put_lifecycle(&ctx.bucket, config).await?;
    Ok(status_only(StatusCode::OK))
}

pub async fn get(ctx: &Ctx<'_>) -> S3Result<Response> {
    let Some(config) = ctx.s3.engine.lifecycle(&ctx.bucket).await? else {
        return Err(S3Error::no_such_lifecycle_configuration("The lifecycle configuration does not exist"));
    };
    Ok(xml(StatusCode::OK, render(&config)))
}

pub async fn delete(ctx: &Ctx<'_>) -> S3Result<Response> {
    ctx.s3.engine.delete_lifecycle(&ctx.bucket).await?;
    Ok(no_content())
}

fn malformed(why: impl std::fmt::Display) -> S3Error {
    S3Error::malformed_xml(format!(
        "The XML you provided was not well-formed or did not validate against our published schema ({why})"
    ))
}

fn unsupported(what: &str) -> S3Error {
    S3Error::not_implemented(format!("ferry does not support {what} in lifecycle rules; nothing was changed"))
}

/// The `LifecycleConfiguration` body → rules (not yet validated: the engine does that).
pub fn parse(body: &[u8]) -> S3Result<LifecycleConfiguration> {
    let root = parse_tree(body)?;
    let rules = repeated(&root, "LifecycleConfiguration", "Rule").map_err(malformed)?;
    Ok(LifecycleConfiguration { rules: rules.iter().map(parse_rule).collect::<S3Result<_>>()? })
}

fn parse_rule(rule: &XmlElement) -> S3Result<LifecycleRule> {
    let mut parsed = LifecycleRule {
        id: String::new(),
        enabled: false,
        prefix: String::new(),
        expiration: None,
        abort_uploads: None,
    };
    let (mut status, mut filter, mut legacy_prefix) = (None, None, None);
    for child in &rule.children {
        match child.name.as_str() {
            "ID" => parsed.id = child.text.clone(),
            "Status" => status = Some(child.text.trim()),
            "Prefix" => legacy_prefix = Some(child.text.clone()),
            "Filter" => filter = Some(parse_filter(child)?),
            "Expiration" => parsed.expiration = Some(parse_expiration(child)?),
            "AbortIncompleteMultipartUpload" => {
                let days = child
                    .child_text("DaysAfterInitiation")
                    .ok_or_else(|| malformed("AbortIncompleteMultipartUpload needs DaysAfterInitiation"))?;
                parsed.abort_uploads = Some(AbortUploads::Days(days_value(days, "DaysAfterInitiation")?));
            }
            "Transition" => return Err(unsupported("transitions (ferry has one storage class)")),
            "NoncurrentVersionExpiration" | "NoncurrentVersionTransition" => {
                return Err(unsupported("noncurrent-version actions (ferry buckets are unversioned)"));
            }
            other => return Err(malformed(format_args!("unexpected element Rule/{other}"))),
        }
    }
    parsed.enabled = enabled_status(status).map_err(malformed)?;
    parsed.prefix = match (filter, legacy_prefix) {
        (Some(_), Some(_)) => return Err(malformed("a Rule has either a Filter or a Prefix, not both")),
        (Some(prefix), None) | (None, Some(prefix)) => prefix,
        (None, None) => String::new(),
    };
    Ok(parsed)
}

/// `Filter` → the prefix it selects. Only a prefix (or nothing: the whole bucket) is supported.
fn parse_filter(filter: &XmlElement) -> S3Result<String> {
    let mut prefix = String::new();
    for child in &filter.children {
        match child.name.as_str() {
            "Prefix" => prefix = child.text.clone(),
            "Tag" | "And" => {
                return Err(unsupported("filters by object tag (Filter/Tag, Filter/And): ferry keeps no object tags"));
            }
            "ObjectSizeGreaterThan" | "ObjectSizeLessThan" => return Err(unsupported("filters by object size")),
            other => return Err(malformed(format_args!("unexpected element Filter/{other}"))),
        }
    }
    Ok(prefix)
}

fn parse_expiration(expiration: &XmlElement) -> S3Result<Expiration> {
    if expiration.child("ExpiredObjectDeleteMarker").is_some() {
        return Err(unsupported("ExpiredObjectDeleteMarker (ferry buckets are unversioned)"));
    }
    match (expiration.child_text("Days"), expiration.child_text("Date")) {
        (Some(days), None) => Ok(Expiration::Days(days_value(days, "Days")?)),
        (None, Some(date)) => {
            let at = parse_iso8601(date).ok_or_else(|| {
                S3Error::invalid_argument(format!("Invalid Date {date:?}: give an ISO 8601 date at midnight GMT"))
            })?;
            Ok(Expiration::Date(at))
        }
        (Some(_), Some(_)) => Err(malformed("Expiration has either Days or Date, not both")),
        (None, None) => Err(malformed("Expiration needs Days or Date")),
    }
}

/// A day count: a whole number (the engine refuses zero); negative is S3's InvalidArgument.
fn days_value(text: &str, name: &str) -> S3Result<u32> {
    match text.parse::<i64>() {
        Ok(n) if n < 0 => Err(S3Error::invalid_argument(format!("'{name}' must be a positive integer"))),
        Ok(n) => u32::try_from(n).map_err(|_| S3Error::invalid_argument(format!("'{name}' is too large"))),
        Err(_) => Err(malformed(format_args!("{name} {text:?} is not a whole number"))),
    }
}

/// The rules as GetBucketLifecycleConfiguration answers them. A rule set through OSS with a
/// `CreatedBeforeDate` has no S3 form; that action is left out here (OSS reads it back whole).
pub fn render(config: &LifecycleConfiguration) -> String {
    let mut w = XmlWriter::new("LifecycleConfiguration");
    for rule in &config.rules {
        w.open("Rule").elem("ID", &rule.id);
        w.open("Filter").elem("Prefix", &rule.prefix).close("Filter");
        w.elem("Status", if rule.enabled { "Enabled" } else { "Disabled" });
        match rule.expiration {
            Some(Expiration::Days(days)) => {
                w.open("Expiration").elem("Days", days.to_string()).close("Expiration");
            }
            Some(Expiration::Date(at)) => {
                w.open("Expiration").elem("Date", iso8601(at)).close("Expiration");
            }
            Some(Expiration::CreatedBefore(_)) | None => {}
        }
        if let Some(AbortUploads::Days(days)) = rule.abort_uploads {
            w.open("AbortIncompleteMultipartUpload")
                .elem("DaysAfterInitiation", days.to_string())
                .close("AbortIncompleteMultipartUpload");
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
    fn boto3_documents_parse_and_render_back() {
        let body = r#"<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule><Rule><ID>old</ID><Prefix>logs/</Prefix><Status>Disabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>"#;
        let Ok(config) = parse(body.as_bytes()) else { panic!("refused") };
        assert_eq!(config.rules.len(), 2);
        let tmp = &config.rules[0];
        assert_eq!((tmp.id.as_str(), tmp.enabled, tmp.prefix.as_str()), ("tmp", true, "tmp/"));
        assert_eq!(tmp.expiration, Some(Expiration::Days(3)));
        assert_eq!(tmp.abort_uploads, Some(AbortUploads::Days(1)));
        let old = &config.rules[1];
        assert_eq!((old.enabled, old.prefix.as_str()), (false, "logs/"));
        assert_eq!(old.expiration, Some(Expiration::Date(1_893_456_000_000)));
        let rendered = render(&config);
        assert!(rendered.contains("<Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status>"), "{rendered}");
        assert!(rendered.contains("<Date>2030-01-01T00:00:00.000Z</Date>"), "{rendered}");
        let again = parse(rendered.as_bytes()).ok();
        assert_eq!(again, Some(config), "what GET answers, PUT takes back unchanged");
    }

    #[test]
    fn bad_documents_get_s3_error_codes() {
        let rule = |inner: &str| format!("<LifecycleConfiguration><Rule>{inner}</Rule></LifecycleConfiguration>");
        assert_eq!(code("not xml"), "MalformedXML");
        assert_eq!(code("<LifecycleConfiguration></LifecycleConfiguration>"), "MalformedXML");
        assert_eq!(code("<Other><Rule/></Other>"), "MalformedXML");
        assert_eq!(code(&rule("<Expiration><Days>1</Days></Expiration>")), "MalformedXML", "no Status");
        assert_eq!(code(&rule("<Status>On</Status><Expiration><Days>1</Days></Expiration>")), "MalformedXML");
        assert_eq!(code(&rule("<Status>Enabled</Status><Expiration><Days>x</Days></Expiration>")), "MalformedXML");
        assert_eq!(code(&rule("<Status>Enabled</Status><Expiration><Days>-1</Days></Expiration>")), "InvalidArgument");
        assert_eq!(
            code(&rule("<Status>Enabled</Status><Expiration><Date>soon</Date></Expiration>")),
            "InvalidArgument"
        );
        assert_eq!(
            code(&rule("<Status>Enabled</Status><Expiration><Days>1</Days><Date>2030-01-01</Date></Expiration>")),
            "MalformedXML"
        );
        assert_eq!(
            code(&rule(
                "<Status>Enabled</Status><Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter><Expiration><Days>1</Days></Expiration>"
            )),
            "MalformedXML"
        );
        let tagged = "<Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Expiration><Days>1</Days></Expiration>";
        assert_eq!(code(&rule(tagged)), "NotImplemented");
        let and = "<Status>Enabled</Status><Filter><And><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><Expiration><Days>1</Days></Expiration>";
        assert_eq!(code(&rule(and)), "NotImplemented");
        assert_eq!(code(&rule("<Status>Enabled</Status><Transition><Days>1</Days></Transition>")), "NotImplemented");
        assert_eq!(code(&rule("<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>")), "ok");
    }
}
