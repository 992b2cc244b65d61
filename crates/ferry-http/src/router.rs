use std::sync::Arc;

use async_trait::async_trait;

use crate::{Operations, Request, Response};

/// One protocol dialect served on the shared listen address.
#[async_trait]
pub trait Frontend: Send + Sync + 'static {
    /// Short name for logs and metrics ("s3", "oss", ...).
    fn name(&self) -> &'static str;
    /// Whether this front-end owns the request, judged by its signature scheme (Authorization
    /// header prefix or presigned query parameters). Must not read the body.
    fn claims(&self, request: &http::request::Parts) -> bool;
    /// Serve the request. Never panics; every failure becomes a response in the dialect's format.
    async fn handle(&self, request: Request) -> Response;
}

/// Routes each request to the first front-end that claims it, else to the fallback (S3, which
/// also answers anonymous requests with its own AccessDenied).
#[derive(Clone)]
pub struct Router {
    frontends: Vec<Arc<dyn Frontend>>,
    fallback: Arc<dyn Frontend>,
    operations: Arc<Operations>,
    cors: Option<Arc<crate::cors::Cors>>,
}

impl Router {
    pub fn new(fallback: Arc<dyn Frontend>) -> Self {
        Router { frontends: Vec::new(), fallback, operations: Arc::new(Operations::new()), cors: None }
    }

    /// Serve health and metrics with these operations (and record request metrics in them).
    pub fn with_operations(mut self, operations: Arc<Operations>) -> Self {
        self.operations = operations;
        self
    }

    /// Answer CORS preflights and add CORS headers for these origins (server-wide, before any
    /// front-end). Without it, no CORS headers are sent.
    pub fn with_cors(mut self, cors: Option<crate::cors::Cors>) -> Self {
        self.cors = cors.map(Arc::new);
        self
    }

    /// Add a front-end, consulted before the fallback in the order added.
    pub fn with(mut self, frontend: Arc<dyn Frontend>) -> Self {
        self.frontends.push(frontend);
        self
    }

    pub fn pick(&self, parts: &http::request::Parts) -> &Arc<dyn Frontend> {
        self.frontends.iter().find(|f| f.claims(parts)).unwrap_or(&self.fallback)
    }

    pub async fn route(&self, request: Request) -> Response {
        let Some(cors) = &self.cors else { return self.dispatch(request).await };
        let (parts, body) = request.into_parts();
        if let Some(response) = cors.preflight(&parts) {
            self.operations.record("cors", "Preflight", response.status().as_u16(), std::time::Duration::ZERO);
            return response;
        }
        // Only the Origin matters afterwards; keep that rather than every header.
        let mut headers = http::HeaderMap::new();
        if let Some(origin) = parts.headers.get(http::header::ORIGIN) {
            headers.insert(http::header::ORIGIN, origin.clone());
        }
        let mut response = self.dispatch(Request::from_parts(parts, body)).await;
        cors.decorate(&headers, &mut response);
        response
    }

    async fn dispatch(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        if let Some(response) = self.operations.serve(&parts).await {
            return response;
        }
        let frontend = self.pick(&parts).clone();
        let method = parts.method.clone();
        let path = parts.uri.path().to_string();
        let started = std::time::Instant::now();
        let sent_body = parts.headers.get(http::header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
            || parts.headers.contains_key(http::header::TRANSFER_ENCODING);
        let mut response = frontend.handle(Request::from_parts(parts, body)).await;
        // A refusal may leave the request body unread, and the server then drops the connection;
        // saying so lets the client open a new one instead of reusing a dead one.
        if sent_body && (response.status().is_client_error() || response.status().is_server_error()) {
            response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        let operation = crate::endpoint::name_of(&response);
        self.operations.record(frontend.name(), operation, response.status().as_u16(), started.elapsed());
        tracing::debug!(
            dialect = frontend.name(),
            %method,
            operation,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }
}
