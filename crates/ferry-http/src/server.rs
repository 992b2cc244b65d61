use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::router::Router;

/// hyper's read buffer per connection. Bounding it bounds the bytes of a part held in memory.
const READ_BUFFER: usize = 256 * 1024;

/// How the listener behaves.
pub struct ServeOptions {
    pub tls: Option<TlsAcceptor>,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
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
        let router = router.clone();
        let tls = options.tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let router = router.clone();
                async move { Ok::<_, std::convert::Infallible>(router.route(request).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.max_buf_size(READ_BUFFER).timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(60));
            let result = match tls {
                Some(tls) => match tls.accept(tcp).await {
                    Ok(stream) => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                None => watcher.watch(builder.serve_connection(TokioIo::new(tcp), service)).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.drain_timeout) => tracing::warn!("shutdown: in-flight requests did not finish in time"),
    }
    Ok(())
}
