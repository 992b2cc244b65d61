//! ferry's UCloud US3 (UFile) front-end. The SDK addresses buckets by host name
//! (`<bucket><suffix>`), so ferry takes a domain: a request whose Host is `<bucket>.<domain>` is
//! for that bucket. Buckets and objects are shared with the S3 and OSS front-ends.

mod auth;
mod error;
mod ops;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::Engine;
use ferry_core::credentials::CredentialStore;
use ferry_http::{Body, Frontend, Query, Request, Response};
use http::Method;
use http::request::Parts;

pub use error::Us3Error;
use error::Us3Result;

/// Addressing and multipart settings of the US3 front-end.
#[derive(Debug, Clone)]
pub struct Us3Config {
    /// `<bucket>.<domain>[:port]` hosts name buckets.
    pub domain: Option<String>,
    /// The part size ferry tells the SDK to use (`BlkSize`).
    pub block_size: u64,
    pub max_object_size: u64,
}

impl Default for Us3Config {
    fn default() -> Self {
        Us3Config { domain: None, block_size: 4 * 1024 * 1024, max_object_size: 5 << 30 }
    }
}

pub struct Us3Frontend {
    engine: Engine,
    creds: Arc<CredentialStore>,
    config: Us3Config,
}

/// One authenticated request, as the operations see it.
pub(crate) struct Ctx<'a> {
    pub us3: &'a Us3Frontend,
    pub parts: &'a Parts,
    pub query: &'a Query,
    pub bucket: String,
    pub key: String,
}

impl Us3Frontend {
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, config: Us3Config) -> Self {
        Us3Frontend { engine, creds, config }
    }

    /// The bucket named by the Host header.
    fn bucket(&self, parts: &Parts) -> Us3Result<String> {
        let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let host =
            host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
        let bucket = match &self.config.domain {
            Some(domain) => host.strip_suffix(domain.as_str()).and_then(|b| b.strip_suffix('.')),
            None => None,
        };
        match bucket {
            Some(b) if !b.is_empty() => Ok(b.to_string()),
            _ => Err(Us3Error::bad_request(format!(
                "no bucket in Host {host:?}: address buckets as <bucket>.{}",
                self.config.domain.as_deref().unwrap_or("<--us3-domain>")
            ))),
        }
    }

    async fn dispatch(&self, parts: &Parts, body: Body, query: &Query) -> Us3Result<Response> {
        let bucket = self.bucket(parts)?;
        let path = parts.uri.path().strip_prefix('/').unwrap_or(parts.uri.path());
        let key = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| Us3Error::bad_request("the key is not valid UTF-8"))?
            .into_owned();
        auth::authenticate(parts, query, &bucket, &key, &self.creds)?;
        let ctx = Ctx { us3: self, parts, query, bucket, key };
        let q = |name: &str| query.has(name);
        let method = &parts.method;
        if ctx.key.is_empty() {
            return match *method {
                Method::GET if q("muploadpart") => ops::list_parts(&ctx).await,
                Method::GET if q("listobjects") => ops::list_objects(&ctx).await,
                Method::GET if q("list") => ops::file_list(&ctx).await,
                _ => Err(Us3Error::bad_request("this request needs a file name")),
            };
        }
        match *method {
            Method::POST if q("uploads") => ops::init_upload(&ctx).await,
            Method::PUT if q("uploadId") => ops::upload_part(&ctx, body).await,
            Method::POST if q("uploadId") => ops::finish_upload(&ctx, body).await,
            Method::DELETE if q("uploadId") => ops::abort_upload(&ctx).await,
            Method::PUT if parts.headers.contains_key("x-ufile-copy-source") => ops::copy_file(&ctx).await,
            Method::PUT => ops::put_file(&ctx, body).await,
            Method::GET | Method::HEAD => ops::get_file(&ctx).await,
            Method::DELETE => ops::delete_file(&ctx).await,
            _ => Err(Us3Error::bad_request("unsupported request")),
        }
    }
}

#[async_trait]
impl Frontend for Us3Frontend {
    fn name(&self) -> &'static str {
        "us3"
    }

    fn claims(&self, request: &Parts) -> bool {
        auth::is_us3_signed(request)
    }

    async fn handle(&self, request: Request) -> Response {
        let session_id = ferry_core::random_id();
        let (parts, body) = request.into_parts();
        let query = Query::parse(parts.uri.query());
        let mut response = match self.dispatch(&parts, body, &query).await {
            Ok(r) => r,
            Err(e) => error::render(&e),
        };
        if let Ok(v) = http::HeaderValue::from_str(&session_id) {
            response.headers_mut().insert("x-sessionid", v);
        }
        response
    }
}
