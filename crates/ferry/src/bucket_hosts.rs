//! Keeps the front-ends that claim requests by path (the console, the ferry API, tus) off
//! bucket host names.
//!
//! With virtual-host style addressing (`--domain`, `--us3-domain`) a request to
//! `photos.s3.example.com/console/index.html` is a GET of the object `console/index.html` in the
//! bucket `photos`, not a console page; the path alone cannot tell. Those front-ends are
//! wrapped in [`OffBucketHosts`], which declines every request whose Host names a bucket, so
//! the object dialects see them.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_http::{Frontend, Request, Response};
use http::request::Parts;

pub struct OffBucketHosts {
    inner: Arc<dyn Frontend>,
    /// The virtual-host base domains (`<bucket>.<domain>`).
    domains: Vec<String>,
}

impl OffBucketHosts {
    /// `inner`, declining requests to `<bucket>.<domain>` for each of `domains`.
    pub fn wrap(inner: Arc<dyn Frontend>, domains: &[Option<String>]) -> Arc<dyn Frontend> {
        let domains: Vec<String> = domains.iter().flatten().cloned().collect();
        if domains.is_empty() { inner } else { Arc::new(OffBucketHosts { inner, domains }) }
    }

    fn is_bucket_host(&self, request: &Parts) -> bool {
        self.domains.iter().any(|domain| ferry_s3::bucket_from_host(request, domain).is_some())
    }
}

#[async_trait]
impl Frontend for OffBucketHosts {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn claims(&self, request: &Parts) -> bool {
        // The inner front-end's path check first: it turns most requests away without parsing Host.
        self.inner.claims(request) && !self.is_bucket_host(request)
    }

    async fn handle(&self, request: Request) -> Response {
        self.inner.handle(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims everything under /console.
    struct ByPath;

    #[async_trait]
    impl Frontend for ByPath {
        fn name(&self) -> &'static str {
            "by-path"
        }
        fn claims(&self, request: &Parts) -> bool {
            request.uri.path().starts_with("/console")
        }
        async fn handle(&self, _request: Request) -> Response {
            Response::new(ferry_http::empty())
        }
    }

    fn parts(host: &str, path: &str) -> Parts {
        let request = http::Request::builder().uri(path).header("host", host).body(()).unwrap_or_default();
        request.into_parts().0
    }

    #[test]
    fn bucket_hosts_are_declined_and_the_service_host_is_not() {
        let wrapped = OffBucketHosts::wrap(Arc::new(ByPath), &[Some("s3.example.com".into()), None]);
        assert!(wrapped.claims(&parts("s3.example.com", "/console/")));
        assert!(wrapped.claims(&parts("127.0.0.1:9720", "/console/")));
        assert!(!wrapped.claims(&parts("photos.s3.example.com", "/console/")));
        assert!(!wrapped.claims(&parts("photos.s3.example.com:9720", "/console/index.html")));
        assert!(!wrapped.claims(&parts("s3.example.com", "/photos/x")));
        // Without a domain nothing changes.
        let plain = OffBucketHosts::wrap(Arc::new(ByPath), &[None, None]);
        assert!(plain.claims(&parts("photos.s3.example.com", "/console/")));
    }
}
