//! ferry's Aliyun OSS front-end. It verifies OSS signatures (V1, V4, presigned URLs), translates
//! OSS requests into engine calls and renders results as OSS does. Buckets and objects are the
//! same ones the S3 front-end serves.

mod address;
mod auth;
mod callback;
mod error;
mod ops;
mod response;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::Engine;
use ferry_core::credentials::CredentialStore;
use ferry_http::{Body, Frontend, Request, Response};
use http::Method;
use http::request::Parts;

use address::Address;
pub use error::OssError;
use error::OssResult;
use ferry_http::Query;

/// Limits and addressing of the OSS front-end.
#[derive(Debug, Clone)]
pub struct OssConfig {
    /// ferry's own host name: requests to it are path-style, requests to `<bucket>.<domain>` name
    /// the bucket in the host.
    pub domain: Option<String>,
    /// Largest single PUT and largest part (OSS: 5 GiB).
    pub max_object_size: u64,
    /// Smallest part but the last (OSS: 100 KiB).
    pub min_part_size: u64,
    pub max_parts: u32,
}

impl Default for OssConfig {
    fn default() -> Self {
        OssConfig { domain: None, max_object_size: 5 << 30, min_part_size: 100 * 1024, max_parts: 10_000 }
    }
}

pub struct OssFrontend {
    engine: Engine,
    creds: Arc<CredentialStore>,
    config: OssConfig,
    callbacks: callback::CallbackClient,
}

/// One authenticated request, as the operations see it.
pub(crate) struct Ctx<'a> {
    pub oss: &'a OssFrontend,
    pub parts: &'a Parts,
    pub query: &'a Query,
    pub bucket: String,
    pub key: String,
}

impl OssFrontend {
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, config: OssConfig) -> Self {
        OssFrontend { engine, creds, config, callbacks: callback::CallbackClient::new() }
    }

    async fn dispatch(&self, parts: &Parts, body: Body, query: &Query) -> OssResult<Response> {
        let addr = Address::resolve(parts, self.config.domain.as_deref())?;
        auth::authenticate(parts, query, &addr, &self.creds)?;
        let ctx = Ctx {
            oss: self,
            parts,
            query,
            bucket: addr.bucket.clone().unwrap_or_default(),
            key: addr.key.clone().unwrap_or_default(),
        };
        let q = |name: &str| query.has(name);
        let method = &parts.method;
        let not_allowed = || OssError::method_not_allowed("The specified method is not allowed against this resource.");
        match (&addr.bucket, &addr.key) {
            (None, _) if method == Method::GET => ops::bucket::list_buckets(&ctx).await,
            (None, _) => Err(not_allowed()),
            (Some(_), None) => match *method {
                Method::PUT => ops::bucket::create(&ctx, body).await,
                Method::DELETE => ops::bucket::delete(&ctx).await,
                Method::GET if q("uploads") => ops::multipart::list_uploads(&ctx).await,
                Method::GET if q("location") => ops::bucket::location(&ctx).await,
                Method::GET => ops::bucket::list_objects(&ctx).await,
                Method::HEAD => ops::bucket::head(&ctx).await,
                Method::POST if q("delete") => ops::object::delete_objects(&ctx, body).await,
                _ => Err(not_allowed()),
            },
            (Some(_), Some(_)) => match *method {
                Method::PUT if q("uploadId") => ops::multipart::upload_part(&ctx, body).await,
                Method::PUT if parts.headers.contains_key("x-oss-copy-source") => ops::object::copy_object(&ctx).await,
                Method::PUT => ops::object::put_object(&ctx, body).await,
                Method::POST if q("uploads") => ops::multipart::create(&ctx).await,
                Method::POST if q("uploadId") => ops::multipart::complete(&ctx, body).await,
                Method::DELETE if q("uploadId") => ops::multipart::abort(&ctx).await,
                Method::DELETE => ops::object::delete_object(&ctx).await,
                Method::GET if q("uploadId") => ops::multipart::list_parts(&ctx).await,
                Method::GET | Method::HEAD => ops::object::get_object(&ctx).await,
                _ => Err(not_allowed()),
            },
        }
    }
}

#[async_trait]
impl Frontend for OssFrontend {
    fn name(&self) -> &'static str {
        "oss"
    }

    fn claims(&self, request: &Parts) -> bool {
        auth::is_oss_signed(request)
    }

    async fn handle(&self, request: Request) -> Response {
        let request_id = ferry_core::random_id()[..24].to_ascii_uppercase();
        let (parts, body) = request.into_parts();
        let head = parts.method == Method::HEAD;
        let query = Query::parse(parts.uri.query());
        let mut response = match self.dispatch(&parts, body, &query).await {
            Ok(r) => r,
            Err(e) => error::render(&e, &request_id, head),
        };
        response::set(&mut response, "x-oss-request-id", &request_id);
        response::set(&mut response, "server", "AliyunOSS-compatible ferry");
        response
    }
}
