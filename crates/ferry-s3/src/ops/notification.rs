//! PutBucketNotificationConfiguration and GetBucketNotificationConfiguration.
//!
//! Destinations are the server's named webhook targets (`ferry serve --notify NAME=URL`),
//! written as `QueueConfiguration` entries whose `Queue` ARN names the target the way MinIO
//! names its server-side targets: `arn:minio:sqs:<region>:NAME:webhook` (the region may be
//! empty), or ferry's alias `arn:ferry:sqs:<region>:NAME:webhook`. Topic, Lambda and
//! EventBridge destinations do not exist here and are refused as S3 refuses a destination it
//! cannot validate.

use ferry_core::events::{NotificationConfig, QueueConfig};
use ferry_http::xml::XmlWriter;
use ferry_http::{Body, Response};
use http::StatusCode;
use quick_xml::events::Event;

use crate::Ctx;
use crate::error::{S3Error, S3Result};
use crate::response::{self, xml};
use crate::upload_body::read_small;

const UNKNOWN_DESTINATION: &str = "Unable to validate the following destination configurations";

pub async fn get(ctx: &Ctx<'_>) -> S3Result<Response> {
    let config = ctx.s3.engine.bucket_notification(&ctx.bucket).await?;
    let mut w = XmlWriter::new("NotificationConfiguration");
    for q in &config.queues {
        w.open("QueueConfiguration").elem("Id", &q.id).elem("Queue", &q.arn);
        for e in &q.events {
            w.elem("Event", e);
        }
        if q.prefix.is_some() || q.suffix.is_some() {
            w.open("Filter").open("S3Key");
            for (name, value) in [("prefix", &q.prefix), ("suffix", &q.suffix)] {
                if let Some(value) = value {
                    w.open("FilterRule").elem("Name", name).elem("Value", value).close("FilterRule");
                }
            }
            w.close("S3Key").close("Filter");
        }
        w.close("QueueConfiguration");
    }
    Ok(xml(StatusCode::OK, w.finish("NotificationConfiguration")))
}

pub async fn put(ctx: &Ctx<'_>, body: Body) -> S3Result<Response> {
    let bytes = read_small(ctx.parts, &ctx.payload, body, 256 * 1024).await?;
    let config = parse(&bytes)?;
    ctx.s3.engine.put_bucket_notification(&ctx.bucket, config).await?;
    Ok(response::status_only(StatusCode::OK))
}

/// The target name an ARN names: `arn:minio:sqs:<region>:NAME:webhook` or
/// `arn:ferry:sqs:<region>:NAME:webhook`; `None` for anything else.
pub fn target_of(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", "minio" | "ferry", "sqs", _region, name, "webhook"] if !name.is_empty() => Some(name),
        _ => None,
    }
}

fn malformed(why: impl std::fmt::Display) -> S3Error {
    S3Error::malformed_xml(format!(
        "The XML you provided was not well-formed or did not validate against our published schema. ({why})"
    ))
}

/// Parse a `NotificationConfiguration` document into the engine's configuration. Unknown
/// destinations are `InvalidArgument` (as S3 answers them); filter rules other than one
/// `prefix` and one `suffix` are `InvalidArgument`.
fn parse(body: &[u8]) -> S3Result<NotificationConfig> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    let mut config = NotificationConfig::default();
    let mut queue = QueueConfig::default();
    let mut rule = (String::new(), String::new());
    let mut text = String::new();
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        let end = match event {
            Event::Start(e) => {
                if path.len() > 8 {
                    return Err(malformed("nesting too deep"));
                }
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                text.clear();
                None
            }
            Event::Empty(e) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                text.clear();
                Some(path.join("/"))
            }
            Event::Text(t) => {
                text.push_str(&t.unescape().map_err(malformed)?);
                None
            }
            Event::CData(t) => {
                text.push_str(&String::from_utf8_lossy(&t));
                None
            }
            Event::End(_) => Some(path.join("/")),
            Event::Eof => break,
            _ => None,
        };
        let Some(at) = end else { continue };
        let value = std::mem::take(&mut text);
        match at.as_str() {
            "NotificationConfiguration" => saw_root = true,
            "NotificationConfiguration/QueueConfiguration/Id" => queue.id = value.trim().to_string(),
            "NotificationConfiguration/QueueConfiguration/Queue" => queue.arn = value.trim().to_string(),
            "NotificationConfiguration/QueueConfiguration/Event" => queue.events.push(value.trim().to_string()),
            "NotificationConfiguration/QueueConfiguration/Filter/S3Key/FilterRule/Name" => {
                rule.0 = value.trim().to_ascii_lowercase()
            }
            "NotificationConfiguration/QueueConfiguration/Filter/S3Key/FilterRule/Value" => rule.1 = value,
            "NotificationConfiguration/QueueConfiguration/Filter/S3Key/FilterRule" => {
                let (name, value) = std::mem::take(&mut rule);
                let slot = match name.as_str() {
                    "prefix" => &mut queue.prefix,
                    "suffix" => &mut queue.suffix,
                    _ => {
                        return Err(S3Error::invalid_argument(format!(
                            "filter rule name must be either prefix or suffix, not {name:?}"
                        )));
                    }
                };
                if slot.is_some() {
                    return Err(S3Error::invalid_argument(format!(
                        "Cannot specify more than one {name} rule in a filter."
                    )));
                }
                *slot = Some(value);
            }
            "NotificationConfiguration/QueueConfiguration" => {
                let mut q = std::mem::take(&mut queue);
                q.target = target_of(&q.arn)
                    .ok_or_else(|| S3Error::invalid_argument(format!("{UNKNOWN_DESTINATION}: {}", q.arn)))?
                    .to_string();
                config.queues.push(q);
            }
            "NotificationConfiguration/TopicConfiguration"
            | "NotificationConfiguration/CloudFunctionConfiguration"
            | "NotificationConfiguration/LambdaFunctionConfiguration" => {
                return Err(S3Error::invalid_argument(format!(
                    "{UNKNOWN_DESTINATION}: ferry delivers only to its webhook targets, named by QueueConfiguration"
                )));
            }
            "NotificationConfiguration/EventBridgeConfiguration" => {
                return Err(S3Error::invalid_argument(format!(
                    "{UNKNOWN_DESTINATION}: ferry has no EventBridge; use a QueueConfiguration naming a webhook target"
                )));
            }
            _ => {}
        }
        path.pop();
    }
    if !path.is_empty() {
        return Err(malformed("unclosed elements"));
    }
    if !saw_root {
        return Err(malformed("the root element must be NotificationConfiguration"));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_targets_as_minio_does() {
        assert_eq!(target_of("arn:minio:sqs::hooks:webhook"), Some("hooks"));
        assert_eq!(target_of("arn:minio:sqs:us-east-1:hooks:webhook"), Some("hooks"));
        assert_eq!(target_of("arn:ferry:sqs::hooks:webhook"), Some("hooks"));
        assert_eq!(target_of("arn:aws:sqs:us-east-1:123456789012:queue"), None);
        assert_eq!(target_of("arn:minio:sqs:::webhook"), None);
        assert_eq!(target_of("arn:minio:sqs::hooks:kafka"), None);
    }

    #[test]
    fn boto3_configuration_parses() {
        let body = br#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><QueueConfiguration><Id>one</Id><Queue>arn:minio:sqs::hooks:webhook</Queue><Event>s3:ObjectCreated:*</Event><Event>s3:ObjectRemoved:Delete</Event><Filter><S3Key><FilterRule><Name>Prefix</Name><Value>in/</Value></FilterRule><FilterRule><Name>suffix</Name><Value>.csv</Value></FilterRule></S3Key></Filter></QueueConfiguration></NotificationConfiguration>"#;
        let config = parse(body).unwrap_or_default();
        assert_eq!(config.queues.len(), 1);
        let q = &config.queues[0];
        assert_eq!((q.id.as_str(), q.target.as_str()), ("one", "hooks"));
        assert_eq!(q.events, vec!["s3:ObjectCreated:*".to_string(), "s3:ObjectRemoved:Delete".to_string()]);
        assert_eq!((q.prefix.as_deref(), q.suffix.as_deref()), (Some("in/"), Some(".csv")));
        let empty = parse(br#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#);
        assert_eq!(empty.map(|c| c.queues.len()).ok(), Some(0));
    }

    #[test]
    fn foreign_destinations_are_refused() {
        let topic = br#"<NotificationConfiguration><TopicConfiguration><Topic>arn:aws:sns:us-east-1:1:t</Topic><Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>"#;
        assert_eq!(parse(topic).err().map(|e| e.code), Some("InvalidArgument"));
        let aws = br#"<NotificationConfiguration><QueueConfiguration><Queue>arn:aws:sqs:us-east-1:1:q</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"#;
        let e = parse(aws).err();
        assert_eq!(e.as_ref().map(|e| e.code), Some("InvalidArgument"));
        assert!(e.is_some_and(|e| e.message.starts_with(UNKNOWN_DESTINATION)));
        let rule = br#"<NotificationConfiguration><QueueConfiguration><Queue>arn:minio:sqs::h:webhook</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>infix</Name><Value>x</Value></FilterRule></S3Key></Filter></QueueConfiguration></NotificationConfiguration>"#;
        assert_eq!(parse(rule).err().map(|e| e.code), Some("InvalidArgument"));
        assert_eq!(parse(b"<Other/>").err().map(|e| e.code), Some("MalformedXML"));
    }
}
