//! The connector for the server's outgoing HTTP(S) connections (the S3 blob store of a
//! scale-out node): HTTP/1.1, no Nagle delay, a 10 s connect timeout, and TLS trusting the
//! system store plus `AWS_CA_BUNDLE` (a PEM file), as AWS tools do — the blob store is
//! configured by the AWS variables, so it honours their CA bundle too.
//!
//! `ferry-client` builds its connector with the same rules itself: an SDK must not pull in the
//! server's HTTP stack (and, through it, the engine) for forty lines of TLS set-up.

use std::io::{Error, ErrorKind, Result};
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

/// An HTTP(S) connector: `https://` and `http://` both work. Errors (`InvalidInput`) when
/// `AWS_CA_BUNDLE` names a file that cannot be read or is not PEM certificates.
pub fn https_connector() -> Result<HttpsConnector<HttpConnector>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config()?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector))
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

fn tls_config() -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped, as every TLS client does.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
        let pem = std::fs::read(&bundle)
            .map_err(|e| invalid(format!("cannot read AWS_CA_BUNDLE {}: {e}", bundle.to_string_lossy())))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| invalid(format!("AWS_CA_BUNDLE is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| invalid(format!("AWS_CA_BUNDLE: {e}")))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
