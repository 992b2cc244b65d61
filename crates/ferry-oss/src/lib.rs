//! ferry's Aliyun OSS front-end. It verifies OSS signatures (V1, V4, presigned URLs), translates
//! OSS requests into engine calls and renders results as OSS does. Buckets and objects are the
//! same ones the S3 front-end serves.

mod address;
mod auth;
mod authorize;
mod callback;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod ops;
mod response;
mod router;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::Engine;
use ferry_core::credentials::CredentialStore;
use ferry_http::endpoint::Endpoint as _;
use ferry_http::{Body, Frontend, Request, Response};
use http::Method;
use http::request::Parts;

use address::Address;
pub use auth::sign_v1;
pub use error::OssError;
use error::OssResult;
use ferry_http::Query;
pub use router::endpoint_docs;
use router::{Endpoint, Scope};

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
    /// Who signed the request; [`authorize::check`] has cleared the endpoint for them.
    pub principal: ferry_core::access::Principal,
}

impl OssFrontend {
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, config: OssConfig) -> Self {
        OssFrontend { engine, creds, config, callbacks: callback::CallbackClient::new() }
    }

    /// Resolve, route, authenticate, serve. Returns the endpoint name the response is tagged
    /// with (`None` when the request could not be addressed at all).
    async fn dispatch(&self, parts: &Parts, body: Body, query: &Query) -> (Option<&'static str>, OssResult<Response>) {
        let addr = match Address::resolve(parts, self.config.domain.as_deref()) {
            Ok(addr) => addr,
            Err(e) => return (None, Err(e)),
        };
        match router::route(&parts.method, Scope::of(&addr), query, &parts.headers) {
            Ok(endpoint) => (Some(endpoint.name()), self.serve(endpoint, parts, body, query, addr).await),
            Err(refused) => (Some(refused.name), Err(refused.error)),
        }
    }

    async fn serve(
        &self,
        endpoint: Endpoint,
        parts: &Parts,
        body: Body,
        query: &Query,
        addr: Address,
    ) -> OssResult<Response> {
        // Refused before the signature check: nothing is read or written, and the answer is the
        // same whoever asks.
        if let Endpoint::Unsupported(name) = endpoint {
            return Err(OssError::not_implemented(format!("ferry does not implement {name}.")));
        }
        let principal = auth::authenticate(parts, query, &addr, &self.creds)?;
        let ctx = Ctx {
            oss: self,
            parts,
            query,
            bucket: addr.bucket.clone().unwrap_or_default(),
            key: addr.key.clone().unwrap_or_default(),
            principal,
        };
        authorize::check(&ctx, endpoint)?;
        use Endpoint::*;
        match endpoint {
            ListBuckets => ops::bucket::list_buckets(&ctx).await,
            PutBucket => ops::bucket::create(&ctx, body).await,
            DeleteBucket => ops::bucket::delete(&ctx).await,
            HeadBucket => ops::bucket::head(&ctx).await,
            ListObjects | ListObjectsV2 => ops::bucket::list_objects(&ctx).await,
            GetBucketInfo => ops::bucket::info(&ctx).await,
            GetBucketLocation => ops::bucket::location(&ctx).await,
            GetBucketAcl => ops::bucket::acl(&ctx).await,
            PutBucketAcl => ops::bucket::put_acl(&ctx).await,
            PutBucketLifecycle => ops::lifecycle::put(&ctx, body).await,
            GetBucketLifecycle => ops::lifecycle::get(&ctx).await,
            DeleteBucketLifecycle => ops::lifecycle::delete(&ctx).await,
            ListMultipartUploads => ops::multipart::list_uploads(&ctx).await,
            DeleteMultipleObjects => ops::object::delete_objects(&ctx, body).await,
            PutObject => ops::object::put_object(&ctx, body).await,
            CopyObject => ops::object::copy_object(&ctx).await,
            GetObject | HeadObject | GetObjectMeta => ops::object::get_object(&ctx).await,
            DeleteObject => ops::object::delete_object(&ctx).await,
            GetObjectAcl => ops::object::acl(&ctx).await,
            PutObjectAcl => ops::object::put_acl(&ctx).await,
            InitiateMultipartUpload => ops::multipart::create(&ctx).await,
            UploadPart => ops::multipart::upload_part(&ctx, body).await,
            CompleteMultipartUpload => ops::multipart::complete(&ctx, body).await,
            AbortMultipartUpload => ops::multipart::abort(&ctx).await,
            ListParts => ops::multipart::list_parts(&ctx).await,
            Unsupported(name) => Err(OssError::not_implemented(format!("ferry does not implement {name}."))),
        }
    }
}

/// Whether the request announces a body (a non-zero Content-Length, or chunked transfer).
fn sends_body(parts: &Parts) -> bool {
    let length = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    length.is_some_and(|v| v.trim() != "0") || parts.headers.contains_key(http::header::TRANSFER_ENCODING)
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
        let (endpoint, result) = self.dispatch(&parts, body, &query).await;
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                let mut r = error::render(&e, &request_id, head);
                // A refused request's body may be unread; the connection then cannot carry
                // another request, and a client that reused it would see it drop. Say so.
                if sends_body(&parts) {
                    response::set(&mut r, "connection", "close");
                }
                r
            }
        };
        if let Some(name) = endpoint {
            ferry_http::endpoint::tag(&mut response, name);
        }
        response::set(&mut response, "x-oss-request-id", &request_id);
        response::set(&mut response, "server", "AliyunOSS-compatible ferry");
        response
    }
}
