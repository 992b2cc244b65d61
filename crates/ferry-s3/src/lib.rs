//! ferry's S3 front-end. It verifies signatures, translates S3 requests into engine calls and
//! renders results and errors as S3 does. It holds no session logic of its own.

mod auth;
mod chunked;
mod error;
mod ops;
mod request;
mod response;
mod upload_body;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::Engine;
use ferry_core::credentials::CredentialStore;
use ferry_http::{Body, Frontend, Request, Response};
use http::Method;
use http::request::Parts;

pub use error::S3Error;
use error::S3Result;
use request::{Address, Query};

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
}

impl S3Frontend {
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, config: S3Config) -> Self {
        S3Frontend { engine, creds, config }
    }

    async fn dispatch(&self, parts: &Parts, body: Body, query: &Query, addr: &Address) -> S3Result<Response> {
        let payload = auth::authenticate(parts, query, addr.host_bucket.as_deref(), &self.creds)?;
        let ctx = Ctx {
            s3: self,
            parts,
            query,
            bucket: addr.bucket.clone().unwrap_or_default(),
            key: addr.key.clone().unwrap_or_default(),
            payload,
        };
        let method = &parts.method;
        let q = |name: &str| query.has(name);
        match (&addr.bucket, &addr.key) {
            (None, _) if method == Method::GET => ops::bucket::list_buckets(&ctx).await,
            (None, _) => Err(S3Error::method_not_allowed("The specified method is not allowed against this resource.")),
            (Some(_), None) => match *method {
                Method::PUT if ops::bucket::unsupported_subresource(query).is_none() => {
                    ops::bucket::create(&ctx, body).await
                }
                Method::DELETE if ops::bucket::unsupported_subresource(query).is_none() => {
                    ops::bucket::delete(&ctx).await
                }
                Method::HEAD => ops::bucket::head(&ctx).await,
                Method::GET if q("location") => ops::bucket::location(&ctx).await,
                Method::GET if q("versioning") => ops::bucket::versioning(&ctx).await,
                Method::GET if q("uploads") => ops::multipart::list_uploads(&ctx).await,
                _ if ops::bucket::unsupported_subresource(query).is_some() => Err(S3Error::not_implemented(format!(
                    "ferry does not implement the bucket {} API",
                    ops::bucket::unsupported_subresource(query).unwrap_or_default()
                ))),
                Method::GET => ops::list::list_objects(&ctx).await,
                Method::POST if q("delete") => ops::object::delete_objects(&ctx, body).await,
                _ => Err(S3Error::method_not_allowed("The specified method is not allowed against this resource.")),
            },
            (Some(_), Some(_)) => match *method {
                Method::PUT if q("uploadId") || q("partNumber") => ops::multipart::upload_part(&ctx, body).await,
                Method::PUT if parts.headers.contains_key("x-amz-copy-source") => ops::object::copy_object(&ctx).await,
                Method::PUT => ops::object::put_object(&ctx, body).await,
                Method::POST if q("uploads") => ops::multipart::create(&ctx).await,
                Method::POST if q("uploadId") => ops::multipart::complete(&ctx, body).await,
                Method::DELETE if q("uploadId") => ops::multipart::abort(&ctx).await,
                Method::DELETE => ops::object::delete_object(&ctx).await,
                Method::GET if q("uploadId") => ops::multipart::list_parts(&ctx).await,
                Method::GET | Method::HEAD => ops::object::get_object(&ctx).await,
                _ => Err(S3Error::method_not_allowed("The specified method is not allowed against this resource.")),
            },
        }
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
        let (result, resource) = match Address::resolve(&parts, self.config.domain.as_deref()) {
            Ok(addr) => (self.dispatch(&parts, body, &query, &addr).await, addr.resource()),
            Err(e) => (Err(e), parts.uri.path().to_string()),
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => response::error(&e, &resource, &request_id, head),
        };
        response::set(&mut response, "x-amz-request-id", &request_id);
        response::set(&mut response, "x-amz-id-2", &request_id);
        response::set(&mut response, "server", "ferry");
        response
    }
}
