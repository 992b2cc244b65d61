//! Which bucket and key an OSS request addresses. oss2 with an IP endpoint sends path style with
//! the key fully escaped (`/bucket/dir%2Fa%20b`); ali-oss keeps the path `/key` and rewrites Host
//! to `<bucket>.oss-<region>.aliyuncs.com`. A Host that is a name with at least two dots (and
//! not ferry's own `--domain`) therefore names the bucket in its first label.

use http::request::Parts;

use crate::error::{OssError, OssResult};

#[derive(Debug, Clone, Default)]
pub struct Address {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

fn decode(s: &str) -> OssResult<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| OssError::invalid_object_name("The object name is not valid UTF-8."))
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && (h.ends_with(']') || !h.contains(':')) => h,
        _ => host,
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl Address {
    pub fn resolve(parts: &Parts, domain: Option<&str>) -> OssResult<Self> {
        let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let host = strip_port(host);
        let raw = parts.uri.path().strip_prefix('/').unwrap_or(parts.uri.path());
        let is_ip = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') || host == "localhost";
        let own = domain.is_some_and(|d| host == d);
        let virtual_bucket = match domain {
            Some(d) if host.ends_with(&format!(".{d}")) => Some(host[..host.len() - d.len() - 1].to_string()),
            _ if !is_ip && !own && host.matches('.').count() >= 2 => host.split('.').next().map(str::to_string),
            _ => None,
        };
        Ok(match virtual_bucket {
            Some(bucket) => Address { bucket: non_empty(bucket), key: non_empty(decode(raw)?) },
            None => match raw.split_once('/') {
                Some((bucket, key)) => Address { bucket: non_empty(decode(bucket)?), key: non_empty(decode(key)?) },
                None => Address { bucket: non_empty(decode(raw)?), key: None },
            },
        })
    }
}
