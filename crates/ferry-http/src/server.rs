use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::limits::{Body, ConnectionState, Limits, Watched};
use crate::router::Router;
use crate::{Response, full};

/// hyper's read buffer per connection. Bounding it bounds the bytes of a part held in memory.
const READ_BUFFER: usize = 256 * 1024;

/// Connections over the limit that are still answered with a 503 (beyond this many at once
/// they are closed without an answer, so refusing costs little even under a flood).
const REFUSAL_BACKLOG: usize = 64;
/// Longest a refused connection is given to send its request head and read the 503.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// After a request body went silent, how long the handler's error answer may take to be written
/// before the connection is dropped regardless.
const STALLED_GRACE: Duration = Duration::from_secs(5);

/// How the listener behaves.
pub struct ServeOptions {
    pub tls: Option<TlsAcceptor>,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Timeouts and the connection limit.
    pub limits: Limits,
}

/// Build a TLS acceptor from PEM certificate chain and private key files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> io::Result<TlsAcceptor> {
    let certs =
        rustls_pemfile::certs(&mut io::BufReader::new(std::fs::File::open(cert)?)).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut io::BufReader::new(std::fs::File::open(key)?))?
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no private key in {}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accept connections until `shutdown` resolves, then let in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let router = Arc::new(router);
    let limits = Arc::new(options.limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusal_slots = Arc::new(Semaphore::new(REFUSAL_BACKLOG));
    let refused = AtomicU64::new(0);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and similar: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let connection = Connection {
                    router: router.clone(),
                    tls: options.tls.clone(),
                    limits: limits.clone(),
                    watcher: graceful.watcher(),
                    peer,
                    _slot: slot,
                };
                tokio::spawn(connection.run(tcp));
            }
            Err(_) => {
                // Log the first refusal and then ever more rarely, so a flood cannot fill the log.
                let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        refused_so_far = n,
                        "connection limit reached; refusing new connections with 503"
                    );
                }
                match refusal_slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(refuse(tcp, options.tls.clone(), limits.header_read_timeout, permit));
                    }
                    Err(_) => drop(tcp),
                }
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.drain_timeout) => tracing::warn!("shutdown: in-flight requests did not finish in time"),
    }
    Ok(())
}

/// The scheme a request arrived over (`http` or `https`), in its extensions: for answers
/// that name a full URL, such as CompleteMultipartUpload's `Location`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme(pub &'static str);

/// One accepted connection within the limit.
struct Connection {
    router: Arc<Router>,
    tls: Option<TlsAcceptor>,
    limits: Arc<Limits>,
    watcher: Watcher,
    peer: SocketAddr,
    /// Held for the connection's lifetime.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let state = Arc::new(ConnectionState::default());
        let service = {
            let (router, state, idle) = (self.router.clone(), state.clone(), self.limits.body_idle_timeout);
            let scheme = Scheme(if self.tls.is_some() { "https" } else { "http" });
            service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let (router, state) = (router.clone(), state.clone());
                async move {
                    if state.next_request_is_conflicting() {
                        return Ok::<_, Infallible>(ambiguous_framing());
                    }
                    let mut request = request.map(|body| Body::new(body, idle, state));
                    request.extensions_mut().insert(scheme);
                    Ok(router.route(request).await)
                }
            })
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.max_buf_size(READ_BUFFER).timer(TokioTimer::new()).header_read_timeout(self.limits.header_read_timeout);
        let result = match &self.tls {
            Some(tls) => {
                // A handshake that never completes must not hold a slot forever either.
                match tokio::time::timeout(self.limits.header_read_timeout, tls.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let io = TokioIo::new(Watched::new(stream, state.clone()));
                        drive(self.watcher.watch(builder.serve_connection(io, service)), &state).await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                        return;
                    }
                }
            }
            None => {
                let io = TokioIo::new(Watched::new(tcp, state.clone()));
                drive(self.watcher.watch(builder.serve_connection(io, service)), &state).await
            }
        };
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
        }
    }
}

/// Run a connection; once one of its request bodies went silent, give the handler's error
/// answer a moment to go out and then drop the connection.
async fn drive(
    connection: impl std::future::Future<Output = hyper::Result<()>>,
    state: &ConnectionState,
) -> hyper::Result<()> {
    tokio::pin!(connection);
    tokio::select! {
        result = &mut connection => result,
        () = state.stalled.notified() => {
            tracing::debug!("request body went silent; closing the connection");
            tokio::time::timeout(STALLED_GRACE, &mut connection).await.unwrap_or(Ok(()))
        }
    }
}

/// Answer a connection over the limit with `503 SlowDown` (which SDKs retry with backoff) and
/// close it.
async fn refuse(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    _permit: OwnedSemaphorePermit,
) {
    let timeout = header_read_timeout.min(REFUSAL_TIMEOUT);
    let service = service_fn(|_request: http::Request<hyper::body::Incoming>| async {
        let mut response = error_response(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "The server is serving as many connections as it is configured to; retry shortly.",
        );
        response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
        Ok::<_, Infallible>(response)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(false).timer(TokioTimer::new()).header_read_timeout(timeout);
    let answer = async {
        match tls {
            Some(tls) => {
                if let Ok(stream) = tls.accept(tcp).await {
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                }
            }
            None => {
                let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            }
        }
    };
    let _ = tokio::time::timeout(timeout * 2, answer).await;
}

/// `400` for a request carrying both `Content-Length` and `Transfer-Encoding`: which of them
/// frames the body is exactly what a request-smuggling attempt plays on, so neither is trusted.
/// hyper closes the connection after it.
fn ambiguous_framing() -> Response {
    error_response(
        http::StatusCode::BAD_REQUEST,
        "InvalidRequest",
        "A request must not carry both Content-Length and Transfer-Encoding.",
    )
}

/// An error answered before any front-end saw the request, in the S3 error format (the
/// fallback dialect); it always closes the connection.
fn error_response(status: http::StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}
