//! Test support for ferry's front-ends, kept in one place for every dialect's tests.
//!
//! [`TestServer::start`] builds the real engine over a SQLite file and a local blob directory in
//! a fresh temp dir, wraps it in the front-end the test asks for, and serves it with ferry-http's
//! own listener on `127.0.0.1` (a random port). [`TestServer::send`] sends one request over
//! loopback and reads the whole answer. Dropping the server stops the listener and removes the
//! temp dir.
//!
//! Panics on setup failures: this crate is only ever used by tests.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_blob::LocalBlobStore;
use ferry_core::credentials::{CredentialStore, Credentials};
use ferry_core::{Engine, EngineConfig};
use ferry_http::{Frontend, Limits, Router, ServeOptions};
use ferry_meta::SqliteMetaStore;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The access key every test server accepts.
pub const ACCESS_KEY: &str = "FERRYTESTKEY0000";
/// Its secret.
pub const SECRET_KEY: &str = "ferry-test-secret-0123456789abcdefghijklm";

/// A whole response: status, headers and body.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header as text ("" when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One front-end served over a real engine on loopback.
pub struct TestServer {
    pub engine: Engine,
    pub addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    // Dropped last: the listener's task is told to stop first.
    dir: tempfile::TempDir,
}

impl TestServer {
    /// Start `make(engine, credentials)` on a random loopback port. The credential store holds
    /// [`ACCESS_KEY`] / [`SECRET_KEY`].
    pub async fn start<F>(make: impl FnOnce(Engine, Arc<CredentialStore>) -> F) -> TestServer
    where
        F: Frontend,
    {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMetaStore::open(dir.path().join("meta.db")).unwrap();
        let blobs = LocalBlobStore::open(dir.path()).unwrap();
        let engine = Engine::new(Arc::new(meta), Arc::new(blobs), EngineConfig::default());
        let creds = Arc::new(CredentialStore::new(vec![Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        }]));
        let frontend: Arc<dyn Frontend> = Arc::new(make(engine.clone(), creds));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let options = ServeOptions { tls: None, drain_timeout: Duration::from_secs(5), limits: Limits::default() };
        tokio::spawn(async move {
            let stopped = async {
                let _ = rx.await;
            };
            let _ = ferry_http::serve(listener, Router::new(frontend), options, stopped).await;
        });
        let client = Client::builder(TokioExecutor::new()).build_http();
        TestServer { engine, addr, client, shutdown: Some(tx), dir }
    }

    /// The directory holding the SQLite file and the blobs.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `http://127.0.0.1:port` + `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Send `request` (its URI a path and query; the server's address is filled in) and read the
    /// whole answer. A `Host` header the request already has is kept.
    pub async fn send(&self, request: http::Request<Bytes>) -> Reply {
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_string();
        parts.uri = self.url(&path).parse().unwrap();
        if !parts.headers.contains_key(http::header::HOST) {
            parts.headers.insert(http::header::HOST, self.addr.to_string().parse().unwrap());
        }
        let response = self.client.request(http::Request::from_parts(parts, Full::new(body))).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply { status: parts.status, headers: parts.headers, body }
    }

    /// The stored bytes of an object, read through the engine.
    pub async fn stored(&self, bucket: &str, key: &str) -> Result<Vec<u8>, ferry_core::Error> {
        let read = self.engine.get_object(bucket, key, None, None).await?;
        let chunks: Vec<Bytes> = read.body.try_collect().await?;
        Ok(chunks.concat())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
