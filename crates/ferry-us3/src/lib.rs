//! ferry's UCloud US3 (UFile) front-end. The SDK addresses buckets by host name
//! (`<bucket><suffix>`), so ferry takes a domain: a request whose Host is `<bucket>.<domain>` is
//! for that bucket. Buckets and objects are shared with the S3 and OSS front-ends.

mod auth;
mod authorize;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod ops;
pub mod router;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::Engine;
use ferry_core::credentials::CredentialStore;
use ferry_http::{Body, Frontend, Query, Request, Response, endpoint};
use http::request::Parts;

pub use auth::sign;
pub use error::Us3Error;
use error::Us3Result;
pub use router::Endpoint;

/// Addressing and multipart settings of the US3 front-end.
#[derive(Debug, Clone)]
pub struct Us3Config {
    /// `<bucket>.<domain>[:port]` hosts name buckets.
    pub domain: Option<String>,
    /// The part size ferry tells the SDK to use (`BlkSize`).
    pub block_size: u64,
    pub max_object_size: u64,
    /// When set, header-signed requests must carry a `Date` within this long of the server's
    /// clock. US3's signature covers the `Date` line, but the UFile SDKs leave it empty, so the
    /// check is off by default (see docs/reliability.md).
    pub max_request_age: Option<std::time::Duration>,
}

impl Default for Us3Config {
    fn default() -> Self {
        Us3Config { domain: None, block_size: 4 * 1024 * 1024, max_object_size: 5 << 30, max_request_age: None }
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
    /// Who signed the request; [`authorize::check`] has cleared the endpoint for them.
    pub principal: ferry_core::access::Principal,
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

    /// A form upload (PostFile) carries its signature in the body, not in a header, so it is
    /// recognised by its shape: an unsigned multipart/form-data POST to the root of a bucket
    /// under the US3 domain. It is then answered in US3's format (today: not implemented).
    fn is_form_upload(&self, parts: &Parts) -> bool {
        let content_type = parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        parts.method == http::Method::POST
            && parts.uri.path() == "/"
            && !parts.headers.contains_key(http::header::AUTHORIZATION)
            && content_type.starts_with("multipart/form-data")
            && self.bucket(parts).is_ok()
    }

    /// Run a routed request: resolve the bucket, authenticate, and call the endpoint's handler.
    async fn dispatch(
        &self,
        endpoint: Endpoint,
        parts: &Parts,
        body: Body,
        query: &Query,
        key: String,
    ) -> Us3Result<Response> {
        let bucket = self.bucket(parts)?;
        let principal = auth::authenticate(parts, query, &bucket, &key, &self.creds, self.config.max_request_age)?;
        let ctx = Ctx { us3: self, parts, query, bucket, key, principal };
        authorize::check(&ctx, endpoint)?;
        match endpoint {
            Endpoint::PutFile => ops::put_file(&ctx, body).await,
            Endpoint::Copy => ops::copy_file(&ctx).await,
            Endpoint::GetFile => ops::get_file(&ctx, false).await,
            Endpoint::HeadFile => ops::get_file(&ctx, true).await,
            Endpoint::DeleteFile => ops::delete_file(&ctx).await,
            Endpoint::InitiateMultipartUpload => ops::init_upload(&ctx).await,
            Endpoint::UploadPart => ops::upload_part(&ctx, body).await,
            Endpoint::FinishMultipartUpload => ops::finish_upload(&ctx, body).await,
            Endpoint::AbortMultipartUpload => ops::abort_upload(&ctx).await,
            Endpoint::PrefixFileList => ops::file_list(&ctx).await,
            Endpoint::ListObjects => ops::list_objects(&ctx).await,
            Endpoint::ListParts => ops::list_parts(&ctx).await,
            Endpoint::UploadPartCopy => ops::upload_part_copy(&ctx).await,
            Endpoint::GetMultiUploadId => ops::list_uploads(&ctx).await,
            // The router refuses these before authentication; listed so that a new endpoint
            // must be placed here deliberately.
            Endpoint::PostFile
            | Endpoint::UploadHit
            | Endpoint::Rename
            | Endpoint::OpMeta
            | Endpoint::Restore
            | Endpoint::ClassSwitch
            | Endpoint::AppendFile
            | Endpoint::PutObjectTagging
            | Endpoint::GetObjectTagging
            | Endpoint::DeleteObjectTagging
            | Endpoint::PutObjectAcl
            | Endpoint::GetObjectAcl
            | Endpoint::Unknown => {
                Err(router::not_implemented(format!("ferry does not implement the US3 operation {}", endpoint.name())))
            }
        }
    }
}

/// The file name: the request path minus its leading `/`, percent-decoded (`+` stays `+`).
fn decode_key(parts: &Parts) -> Us3Result<String> {
    let path = parts.uri.path().strip_prefix('/').unwrap_or(parts.uri.path());
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| Us3Error::bad_request("the key is not valid UTF-8"))
}

#[async_trait]
impl Frontend for Us3Frontend {
    fn name(&self) -> &'static str {
        "us3"
    }

    fn claims(&self, request: &Parts) -> bool {
        auth::is_us3_signed(request) || self.is_form_upload(request)
    }

    async fn handle(&self, request: Request) -> Response {
        let session_id = ferry_core::random_id();
        let (parts, body) = request.into_parts();
        let query = Query::parse(parts.uri.query());
        // Route before authenticating: a request ferry does not implement is refused without
        // reading its body or touching the bucket, whoever sent it.
        let mut response = match decode_key(&parts) {
            Err(e) => error::render(&e),
            Ok(key) => {
                let routed = router::route(&parts.method, &key, &query, &parts.headers);
                let result = match routed.refusal {
                    Some(refusal) => Err(refusal),
                    None => self.dispatch(routed.endpoint, &parts, body, &query, key).await,
                };
                let mut response = result.unwrap_or_else(|e| error::render(&e));
                endpoint::tag(&mut response, routed.endpoint.name());
                response
            }
        };
        ferry_http::response::set(&mut response, "x-sessionid", &session_id);
        response
    }
}
