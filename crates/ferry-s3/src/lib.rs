//! ferry's S3 front-end. It verifies signatures, translates S3 requests into engine calls and
//! renders results and errors as S3 does. It holds no session logic of its own.

mod auth;
mod authorize;
mod chunked;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod ops;
mod request;
mod response;
mod router;
mod upload_body;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::Engine;
use ferry_core::access::Principal;
use ferry_core::credentials::CredentialStore;
use ferry_http::{Body, Frontend, Request, Response};
use http::Method;
use http::request::Parts;

pub use auth::{Payload, authenticate, is_s3_signed};
pub use error::S3Error;
use error::S3Result;
pub use request::bucket_from_host;
use request::{Address, Query};
pub use router::endpoint_docs;

/// Limits and addressing of the S3 front-end.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Region reported by GetBucketLocation / HeadBucket.
    pub region: String,
    /// Base domain for virtual-host style addressing (`<bucket>.<domain>`); path-style always works.
    pub domain: Option<String>,
    /// Largest single PUT and largest part (S3: 5 GiB).
    pub max_object_size: u64,
    /// Smallest part but the last (S3: 5 MiB).
    pub min_part_size: u64,
    /// Most parts in one upload (S3: 10,000).
    pub max_parts: u32,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            region: "us-east-1".into(),
            domain: None,
            max_object_size: 5 * 1024 * 1024 * 1024,
            min_part_size: 5 * 1024 * 1024,
            max_parts: 10_000,
        }
    }
}

/// The S3 dialect.
pub struct S3Frontend {
    engine: Engine,
    creds: Arc<CredentialStore>,
    config: S3Config,
}

/// One authenticated request, as the operations see it.
pub(crate) struct Ctx<'a> {
    pub s3: &'a S3Frontend,
    pub parts: &'a Parts,
    pub query: &'a Query,
    pub bucket: String,
    pub key: String,
    pub payload: auth::Payload,
    /// Who signed the request; [`authorize::check`] has cleared the endpoint for them.
    pub principal: Principal,
}

impl S3Frontend {
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, config: S3Config) -> Self {
        S3Frontend { engine, creds, config }
    }

    /// Route, authenticate, then serve. The endpoint is resolved first so that every response,
    /// refusals included, is labelled with what the request asked for.
    async fn dispatch(
        &self,
        parts: &Parts,
        body: Body,
        query: &Query,
        addr: &Address,
    ) -> (S3Result<Response>, &'static str) {
        let routed = router::route(&parts.method, addr, query, &parts.headers);
        let name = match &routed {
            Ok(e) => e.name(),
            Err(refusal) => refusal.name,
        };
        // STS signs its form body without sending the body's hash: it authenticates itself
        // once it has read the body.
        if let Ok(router::Endpoint::Sts) = routed {
            return (Ok(ops::sts::serve(self, parts, query, body).await), name);
        }
        let (payload, principal) = match auth::authenticate(parts, query, addr.host_bucket.as_deref(), &self.creds) {
            Ok(p) => p,
            Err(e) => return (Err(e), name),
        };
        let endpoint = match routed {
            Ok(e) => e,
            Err(refusal) => return (Err(refusal.error), name),
        };
        let ctx = Ctx {
            s3: self,
            parts,
            query,
            bucket: addr.bucket.clone().unwrap_or_default(),
            key: addr.key.clone().unwrap_or_default(),
            payload,
            principal,
        };
        if let Err(e) = authorize::check(&ctx, endpoint) {
            return (Err(e), name);
        }
        (ops::serve(&ctx, endpoint, body).await, name)
    }
}

#[async_trait]
impl Frontend for S3Frontend {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn claims(&self, request: &Parts) -> bool {
        auth::is_s3_signed(request)
    }

    async fn handle(&self, request: Request) -> Response {
        let request_id = ferry_core::random_id()[..16].to_ascii_uppercase();
        let (parts, body) = request.into_parts();
        let head = parts.method == Method::HEAD;
        let query = Query::parse(parts.uri.query());
        let (result, resource, name) = match Address::resolve(&parts, self.config.domain.as_deref()) {
            Ok(addr) => {
                let (result, name) = self.dispatch(&parts, body, &query, &addr).await;
                (result, addr.resource(), Some(name))
            }
            Err(e) => (Err(e), parts.uri.path().to_string(), None),
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => response::error(&e, &resource, &request_id, head),
        };
        response::set(&mut response, "x-amz-request-id", &request_id);
        response::set(&mut response, "x-amz-id-2", &request_id);
        response::set(&mut response, "server", "ferry");
        if let Some(name) = name {
            ferry_http::endpoint::tag(&mut response, name);
        }
        response
    }
}
