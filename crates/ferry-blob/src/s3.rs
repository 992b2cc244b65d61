//! Blobs as objects in an S3-compatible store (`--blobs s3://BUCKET/PREFIX`), shared by every
//! node of a scale-out deployment: `PREFIX/blobs/<id>`, one object per blob, so a commit stays
//! metadata-only (a manifest names part blobs; nothing is copied server-side).
//!
//! The S3 protocol itself is `object_store`'s; its requests travel over ferry's own hyper +
//! rustls connector, so the server carries one HTTP stack and one TLS library.
//!
//! A blob is invisible until `finish`: small blobs are one PUT, larger ones a multipart upload
//! completed at the end. Memory per blob being written is bounded by [`CHUNK`] times the
//! upload concurrency, never the blob's size.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::store::ByteStream;
use ferry_core::{BlobId, BlobStore, BlobWriter, Error, Millis, Result};
use futures_util::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::client::{
    ClientOptions, HttpClient, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody, HttpResponse, HttpResponseBody,
    HttpService,
};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

/// Size of each multipart chunk, and the most a blob buffers before its first upload. S3 wants
/// parts of at least 5 MiB.
const CHUNK: usize = 8 * 1024 * 1024;
/// Chunks of one blob uploaded at once.
const CONCURRENCY: usize = 2;

/// Where the store is and how to sign for it; unset fields come from the AWS variables.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl S3Settings {
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, and `AWS_REGION`; keys are read by the builder.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        S3Settings {
            endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
            region: var("AWS_REGION"),
            ..Default::default()
        }
    }
}

/// Blobs in a bucket of an S3-compatible store.
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    description: String,
}

impl S3BlobStore {
    /// Open `s3://bucket[/prefix]`, configured by the standard AWS variables
    /// (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, ...).
    pub fn from_env(url: &str) -> Result<Self> {
        Self::open(url, S3Settings::from_env())
    }

    /// Open `s3://bucket[/prefix]`: `settings` override the AWS variables.
    pub fn open(url: &str, settings: S3Settings) -> Result<Self> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid(format!("{url:?} is not an s3://BUCKET/PREFIX address")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid(format!("{url:?} names no bucket")));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(region) = settings.region {
            builder = builder.with_region(region);
        }
        if let Some((id, secret)) = settings.access_key_id.zip(settings.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(endpoint) = &settings.endpoint {
            // A plain-HTTP endpoint (a store on a private network) is allowed when asked for.
            builder = builder.with_endpoint(endpoint.clone()).with_allow_http(endpoint.starts_with("http://"));
        }
        let connector = ferry_http::https_connector().map_err(|e| invalid(e.to_string()))?;
        let store = builder
            .with_http_connector(HyperConnector(connector))
            .build()
            .map_err(|e| invalid(format!("S3 blob store: {e}")))?;
        let root = Path::parse(prefix.trim_matches('/')).map_err(|e| invalid(format!("prefix in {url:?}: {e}")))?;
        let description = format!("s3://{bucket}/{root} at {}", settings.endpoint.as_deref().unwrap_or("AWS"));
        Ok(S3BlobStore { store: Arc::new(store), root, description })
    }

    /// Where the blobs are, for the start-up banner.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Write the marker object [`BlobStore::check`] looks for: proves at start-up that the
    /// bucket exists and the credentials may write, rather than at the first part.
    pub async fn prepare(&self) -> Result<()> {
        let text = "This prefix holds ferry's blobs; their metadata is in ferry's database.\n";
        self.store.put(&self.marker(), Bytes::from_static(text.as_bytes()).into()).await.map_err(store_error)?;
        Ok(())
    }

    fn marker(&self) -> Path {
        self.root.clone().join("ferry-blobs.txt")
    }

    fn blobs(&self) -> Path {
        self.root.clone().join("blobs")
    }

    fn path(&self, id: &BlobId) -> Result<Path> {
        crate::check_id(id)?;
        Ok(self.blobs().join(id.0.as_str()))
    }
}

/// `stream`, ending in an `UnexpectedEof` error if it yields fewer than `len` bytes. A range
/// past an object's end is answered with what there is, so a blob cut short would otherwise
/// read as a short body; the local store reports it the same way.
fn whole(
    stream: impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold((Box::pin(stream), 0u64, false), move |(mut stream, seen, done)| async move {
        if done {
            return None;
        }
        match stream.next().await {
            Some(Ok(chunk)) => {
                let seen = seen + chunk.len() as u64;
                Some((Ok(chunk), (stream, seen, false)))
            }
            Some(Err(e)) => Some((Err(e), (stream, seen, true))),
            None if seen < len => {
                let e = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "blob shorter than its manifest");
                Some((Err(e), (stream, seen, true)))
            }
            None => None,
        }
    })
}

fn invalid(message: String) -> Error {
    Error::Blob(std::io::Error::new(std::io::ErrorKind::InvalidInput, message))
}

fn store_error(e: object_store::Error) -> Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        _ => std::io::ErrorKind::Other,
    };
    Error::Blob(std::io::Error::new(kind, e))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn create(&self) -> Result<Box<dyn BlobWriter>> {
        let id = BlobId::random();
        let writer =
            BufWriter::with_capacity(self.store.clone(), self.path(&id)?, CHUNK).with_max_concurrency(CONCURRENCY);
        Ok(Box::new(S3Writer { id, writer, size: 0 }))
    }

    async fn read(&self, blob: &BlobId, offset: u64, len: u64) -> Result<ByteStream> {
        let path = self.path(blob)?;
        if len == 0 {
            // An empty HTTP range does not exist; check the blob is there and return nothing.
            self.store.head(&path).await.map_err(store_error)?;
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let options = GetOptions { range: Some(GetRange::Bounded(offset..offset + len)), ..Default::default() };
        let result = self.store.get_opts(&path, options).await.map_err(store_error)?;
        Ok(Box::pin(whole(result.into_stream().map_err(std::io::Error::other), len)))
    }

    async fn size(&self, blob: &BlobId) -> Result<Option<u64>> {
        match self.store.head(&self.path(blob)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn delete(&self, blob: &BlobId) -> Result<()> {
        match self.store.delete(&self.path(blob)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn list_older_than(&self, before: Millis) -> Result<Vec<BlobId>> {
        let mut listing = self.store.list(Some(&self.blobs()));
        let mut old = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(store_error)?;
            if meta.last_modified.timestamp_millis() < before
                && let Some(name) = meta.location.filename()
            {
                let id = BlobId(name.to_string());
                if crate::check_id(&id).is_ok() {
                    old.push(id);
                }
            }
        }
        Ok(old)
    }

    async fn check(&self) -> Result<()> {
        self.store.head(&self.marker()).await.map_err(store_error)?;
        Ok(())
    }

    async fn clean_incomplete(&self) -> Result<()> {
        // Multipart uploads cut short by a crash are invisible to readers and listings; the
        // bucket's AbortIncompleteMultipartUpload lifecycle rule reclaims their space (see
        // docs/scaling.md). Nothing here can list them through object_store.
        Ok(())
    }
}

struct S3Writer {
    id: BlobId,
    writer: BufWriter,
    size: u64,
}

#[async_trait]
impl BlobWriter for S3Writer {
    fn id(&self) -> &BlobId {
        &self.id
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.size += chunk.len() as u64;
        self.writer.put(chunk).await.map_err(store_error)
    }

    async fn finish(mut self: Box<Self>) -> Result<u64> {
        // The store acknowledges a PUT or CompleteMultipartUpload only once the object is durable.
        tokio::io::AsyncWriteExt::shutdown(&mut self.writer).await?;
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(blob = %self.id, error = %e, "could not abort a blob upload; the bucket lifecycle rule will");
        }
    }
}

/// object_store's HTTP client, on hyper-util's pooled client with ferry's connector.
#[derive(Debug)]
struct HyperConnector(hyper_rustls::HttpsConnector<HttpConnector>);

impl object_store::client::HttpConnector for HyperConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build(self.0.clone());
        Ok(HttpClient::new(HyperService(client)))
    }
}

struct HyperService(Client<hyper_rustls::HttpsConnector<HttpConnector>, HttpRequestBody>);

impl std::fmt::Debug for HyperService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HyperService")
    }
}

#[async_trait]
impl HttpService for HyperService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = self.0.request(request).await.map_err(|e| {
            let kind = if e.is_connect() { HttpErrorKind::Connect } else { HttpErrorKind::Request };
            HttpError::new(kind, e)
        })?;
        let (parts, body) = response.into_parts();
        let body = HttpResponseBody::new(body.map_err(|e| HttpError::new(HttpErrorKind::Interrupted, e)));
        Ok(HttpResponse::from_parts(parts, body))
    }
}
