//! Operational endpoints served beside the dialects: `GET /health/live`, `GET /health/ready` and
//! `GET /metrics` (Prometheus text). They answer only unsigned requests, so a signed request for
//! a bucket named `metrics` still reaches its dialect.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{Response, full};

/// Checks the stores a node depends on; `Ok` when it can serve, with an optional note (such as
/// low free space) that `/health/ready` shows beside "ready".
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send>> + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    dialect: String,
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialectLabels {
    dialect: String,
}

/// Request metrics and the health endpoints.
pub struct Operations {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<DialectLabels, Histogram>,
    ready: Option<ReadinessCheck>,
}

impl Operations {
    /// Without a readiness check (`set_readiness`), `/health/ready` answers ready.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferry");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<DialectLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register("requests", "Requests served, by dialect, operation and status", requests.clone());
        registry.register("request_duration_seconds", "Time to serve a request, by dialect", latency.clone());
        Operations { registry, requests, latency, ready: None }
    }

    /// Make `/health/ready` run `check`.
    pub fn set_readiness(&mut self, check: ReadinessCheck) {
        self.ready = Some(check);
    }

    /// A registry for other components' metrics (engine, sweeper).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn record(&self, dialect: &str, operation: &'static str, status: u16, elapsed: Duration) {
        self.requests.get_or_create(&RequestLabels { dialect: dialect.into(), operation, status }).inc();
        self.latency.get_or_create(&DialectLabels { dialect: dialect.into() }).observe(elapsed.as_secs_f64());
    }

    /// The response for an operational request, or `None` when the request is not one.
    pub async fn serve(&self, parts: &http::request::Parts) -> Option<Response> {
        let unsigned = !parts.headers.contains_key(http::header::AUTHORIZATION) && parts.uri.query().is_none();
        if parts.method != http::Method::GET || !unsigned {
            return None;
        }
        let (status, content_type, body) = match parts.uri.path() {
            "/health/live" => (200, "text/plain", "ok\n".to_string()),
            "/health/ready" => match &self.ready {
                None => (200, "text/plain", "ready\n".to_string()),
                Some(check) => match check().await {
                    Ok(None) => (200, "text/plain", "ready\n".to_string()),
                    Ok(Some(note)) => (200, "text/plain", format!("ready; {note}\n")),
                    Err(why) => (503, "text/plain", format!("not ready: {why}\n")),
                },
            },
            "/metrics" => {
                let mut text = String::new();
                if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
                    return Some(plain(500, "text/plain", "metrics could not be encoded\n".into()));
                }
                (200, "application/openmetrics-text; version=1.0.0; charset=utf-8", text)
            }
            _ => return None,
        };
        Some(plain(status, content_type, body))
    }
}

impl Default for Operations {
    fn default() -> Self {
        Self::new()
    }
}

fn plain(status: u16, content_type: &'static str, body: String) -> Response {
    let mut r = Response::new(full(body));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    r
}
