//! Addressing (path-style and virtual-host style) and query parsing.

use http::request::Parts;

use crate::error::{S3Error, S3Result};

pub use ferry_http::Query;

/// S3's reading of numeric query parameters, with S3's errors.
pub trait S3Query {
    /// A numeric parameter; absent is `None`, unparsable is InvalidArgument.
    fn number<T: std::str::FromStr>(&self, name: &str) -> S3Result<Option<T>>;
    /// A page-size parameter (`max-keys`, `max-parts`, `max-uploads`): absent means `cap`,
    /// larger values are capped, negative or unparsable ones are InvalidArgument.
    fn page_size(&self, name: &str, cap: usize) -> S3Result<usize>;
}

impl S3Query for Query {
    fn number<T: std::str::FromStr>(&self, name: &str) -> S3Result<Option<T>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                v.parse().map(Some).map_err(|_| S3Error::invalid_argument(format!("Invalid value for {name}: {v:?}")))
            }
        }
    }

    fn page_size(&self, name: &str, cap: usize) -> S3Result<usize> {
        let value = self.number::<i64>(name)?.unwrap_or(cap as i64);
        if value < 0 {
            return Err(S3Error::invalid_argument(format!("{name} must be a non-negative integer")));
        }
        Ok((value as usize).min(cap))
    }
}

/// Which bucket and key a request addresses.
#[derive(Debug, Clone, Default)]
pub struct Address {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// Set when the bucket came from the Host header (virtual-host style).
    pub host_bucket: Option<String>,
}

impl Address {
    /// Resolve the address. `domain` enables virtual-host style: a Host of
    /// `<bucket>.<domain>[:port]` names the bucket.
    pub fn resolve(parts: &Parts, domain: Option<&str>) -> S3Result<Self> {
        let path = parts.uri.path();
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| S3Error::invalid_argument("The path is not valid UTF-8"))?;
        let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
        let host_bucket = domain.and_then(|domain| bucket_from_host(parts, domain));
        let (bucket, key) = match &host_bucket {
            Some(bucket) => (Some(bucket.clone()), non_empty(rest)),
            None => match rest.split_once('/') {
                Some((bucket, key)) => (non_empty(bucket), non_empty(key)),
                None => (non_empty(rest), None),
            },
        };
        Ok(Address { bucket, key, host_bucket })
    }

    /// "/bucket/key" for error `Resource` elements.
    pub fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".into(),
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The bucket a Host of `<bucket>.<domain>[:port]` names (virtual-host style), if it names one.
pub fn bucket_from_host(parts: &Parts, domain: &str) -> Option<String> {
    let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok())?;
    let host =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    let bucket = host.strip_suffix(domain)?.strip_suffix('.')?;
    non_empty(bucket)
}

/// A header's value as text, if present and visible ASCII.
pub fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}
