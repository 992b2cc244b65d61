//! Low-level S3 calls, each one signed request.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use ferry_sigv4 as sigv4;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use md5::{Digest as _, Md5};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::error::{ClientError, Result};
use crate::xml::Node;

/// A part as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: u32,
    /// Without quotes.
    pub etag: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    pub last_modified: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    pub initiated: String,
}

/// An S3 endpoint with one key pair. Cheap to clone (connections are pooled and shared).
#[derive(Clone)]
pub struct S3Client {
    scheme_authority: String,
    host: String,
    access_key: String,
    secret_key: String,
    region: String,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// An S3 error answer (XML `Code` and `Message`, or the status alone) as a `Service` error.
fn service_error(status: StatusCode, body: &[u8]) -> ClientError {
    let (code, message) = match Node::parse(body) {
        Ok(error) => {
            (error.text_of("Code").unwrap_or("").to_string(), error.text_of("Message").unwrap_or("").to_string())
        }
        Err(_) => (status.canonical_reason().unwrap_or("Error").replace(' ', ""), String::new()),
    };
    ClientError::Service { status: status.as_u16(), code, message }
}

/// TLS trust: the system store plus `AWS_CA_BUNDLE` (a PEM file), if set.
fn tls_config() -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped, as every TLS client does.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
        let pem = std::fs::read(&bundle).map_err(|e| {
            ClientError::Invalid(format!("cannot read AWS_CA_BUNDLE {}: {e}", bundle.to_string_lossy()))
        })?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| ClientError::Invalid(format!("AWS_CA_BUNDLE is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| ClientError::Invalid(format!("AWS_CA_BUNDLE: {e}")))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The connector of every connection this SDK opens: HTTP/1.1, no Nagle delay, a 10 s connect
/// timeout, TLS trusting the system store plus `AWS_CA_BUNDLE`. (The server's S3 blob store
/// uses `ferry_http::https_connector`, built by the same rules: the SDK stays free of server
/// crates.)
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

/// An error with its causes ("client error (Connect): invalid peer certificate: UnknownIssuer"),
/// since the outermost message alone rarely says what to fix.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

impl S3Client {
    /// `endpoint` is `http://host[:port]` or `https://host[:port]`. HTTPS trusts the system's
    /// certificate store plus the PEM bundle named by `AWS_CA_BUNDLE`, as AWS tools do.
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Result<Self> {
        let uri: http::Uri =
            endpoint.parse().map_err(|e| ClientError::Invalid(format!("invalid endpoint {endpoint:?}: {e}")))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s.to_string(),
            _ => {
                return Err(ClientError::Invalid(format!(
                    "the endpoint {endpoint:?} must start with http:// or https://"
                )));
            }
        };
        let authority =
            uri.authority().ok_or_else(|| ClientError::Invalid(format!("the endpoint {endpoint:?} has no host")))?;
        let https = https_connector()?;
        Ok(S3Client {
            scheme_authority: format!("{scheme}://{authority}"),
            host: authority.to_string(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: region.into(),
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                // Let hyper's adaptive read buffer grow to 2 MiB (default ~400 KiB): a download
                // then takes fewer, larger reads and positioned writes; measured 7 % less client
                // CPU per GiB and 5 % more MB/s on loopback.
                .http1_max_buf_size(2 << 20)
                .build(https),
            timeout: Duration::from_secs(300),
        })
    }

    fn path(bucket: &str, key: Option<&str>) -> String {
        match key {
            Some(key) => {
                format!("/{}/{}", sigv4::uri_encode(bucket.as_bytes(), false), sigv4::uri_encode(key.as_bytes(), true))
            }
            None if bucket.is_empty() => "/".into(),
            None => format!("/{}", sigv4::uri_encode(bucket.as_bytes(), false)),
        }
    }

    /// A signed request, ready to send.
    fn signed(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        extra: &[(&str, String)],
        body: Bytes,
        unsigned_payload: bool,
    ) -> Result<Request<Full<Bytes>>> {
        let now = OffsetDateTime::now_utc();
        let amz_date =
            now.format(format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default();
        let date = &amz_date[..8];
        let payload_hash = if unsigned_payload { "UNSIGNED-PAYLOAD".to_string() } else { sigv4::sha256_hex(&body) };
        let canonical_query = sigv4::canonical_query(query.iter().copied(), None);
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), self.host.clone()),
            ("x-amz-content-sha256".into(), payload_hash.clone()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        headers.extend(extra.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())));
        headers.sort();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = sigv4::canonical_request(
            method.as_str(),
            &sigv4::canonical_uri(path),
            &canonical_query,
            &canonical_headers,
            &signed,
            &payload_hash,
        );
        let scope = sigv4::scope(date, &self.region, "s3");
        let key = sigv4::signing_key(&self.secret_key, date, &self.region, "s3");
        let signature = hex::encode(sigv4::hmac(&key, sigv4::string_to_sign(&amz_date, &scope, &canonical).as_bytes()));
        let uri = if canonical_query.is_empty() {
            format!("{}{path}", self.scheme_authority)
        } else {
            format!("{}{path}?{canonical_query}", self.scheme_authority)
        };
        let mut request = Request::builder().method(method).uri(uri);
        for (k, v) in &headers {
            if k != "host" {
                request = request.header(k.as_str(), v.as_str());
            }
        }
        request = request.header(
            "authorization",
            format!(
                "{} Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                sigv4::ALGORITHM,
                self.access_key
            ),
        );
        request.body(Full::new(body)).map_err(|e| ClientError::Invalid(e.to_string()))
    }

    /// Send one signed request and read the whole response; S3 errors become `Service`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        extra: &[(&str, String)],
        body: Bytes,
        unsigned_payload: bool,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let request = self.signed(method, path, query, extra, body, unsigned_payload)?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| ClientError::Transport(describe(&e)))?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map_err(|e| ClientError::Transport(describe(&e)))?.to_bytes();
            Ok::<_, ClientError>((parts.status, parts.headers, bytes))
        };
        let (status, headers, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Transport("the request timed out".into()))??;
        if !status.is_success() {
            return Err(service_error(status, &bytes));
        }
        Ok((status, headers, bytes))
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        self.call(Method::PUT, &Self::path(bucket, None), &[], &[], Bytes::new(), false).await.map(|_| ())
    }

    /// Open a multipart upload whose parts carry CRC64NVME checksums (a FULL_OBJECT checksum,
    /// S3's default kind for that algorithm); returns its upload id.
    pub async fn create_multipart_upload(&self, bucket: &str, key: &str, headers: &[(&str, String)]) -> Result<String> {
        let mut headers = headers.to_vec();
        headers.push(("x-amz-checksum-algorithm", "CRC64NVME".into()));
        headers.push(("x-amz-checksum-type", "FULL_OBJECT".into()));
        let (_, _, body) = self
            .call(Method::POST, &Self::path(bucket, Some(key)), &[("uploads", "")], &headers, Bytes::new(), false)
            .await?;
        Ok(Node::parse(&body)?.required("UploadId")?.to_string())
    }

    /// Upload one part with its CRC64NVME checksum (the server verifies the bytes against it
    /// and answers with the value it computed, which must be ours; a server that answers with
    /// no checksum must answer with the MD5 of our bytes as ETag). Returns the ETag without
    /// quotes.
    ///
    /// CRC64NVME rather than Content-MD5: it protects the bytes as well against transfer
    /// errors and costs about 1/80 of an MD5 on this side (0.02 against 1.6 CPU s/GiB with
    /// carry-less multiplication), which is most of the client's CPU per byte; the server
    /// computes the MD5 for the ETag either way.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        data: Bytes,
    ) -> Result<String> {
        let crc = B64.encode(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &data).to_be_bytes());
        let number_text = number.to_string();
        let query = [("partNumber", number_text.as_str()), ("uploadId", upload_id)];
        let headers = [("x-amz-checksum-crc64nvme", crc.clone())];
        let (_, response_headers, _) =
            self.call(Method::PUT, &Self::path(bucket, Some(key)), &query, &headers, data.clone(), true).await?;
        let etag = unquote(response_headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or(""));
        match response_headers.get("x-amz-checksum-crc64nvme").and_then(|v| v.to_str().ok()) {
            Some(echoed) if echoed == crc => Ok(etag),
            Some(echoed) => Err(ClientError::Protocol(format!(
                "part {number}: the server's CRC64NVME {echoed:?} is not the checksum of the bytes sent"
            ))),
            // A server that ignores checksum headers: the ETag, the MD5 of what it stored, must
            // then match ours (the one case where this side still pays for an MD5).
            None if etag == hex::encode(Md5::digest(&data)) => Ok(etag),
            None => Err(ClientError::Protocol(format!(
                "part {number}: the server's ETag {etag:?} is not the MD5 of the bytes sent"
            ))),
        }
    }

    /// Every part the server holds for an upload (all pages).
    pub async fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<Part>> {
        let mut parts = Vec::new();
        let mut marker = String::from("0");
        loop {
            let query = [("uploadId", upload_id), ("part-number-marker", marker.as_str())];
            let (_, _, body) =
                self.call(Method::GET, &Self::path(bucket, Some(key)), &query, &[], Bytes::new(), false).await?;
            let doc = Node::parse(&body)?;
            for p in doc.all("Part") {
                parts.push(Part {
                    number: p
                        .required("PartNumber")?
                        .parse()
                        .map_err(|_| ClientError::Protocol("bad PartNumber".into()))?,
                    etag: unquote(p.required("ETag")?),
                    size: p.required("Size")?.parse().map_err(|_| ClientError::Protocol("bad Size".into()))?,
                });
            }
            let truncated = doc.text_of("IsTruncated") == Some("true");
            match doc.text_of("NextPartNumberMarker") {
                Some(next) if truncated && next != marker => marker = next.to_string(),
                _ => break,
            }
        }
        Ok(parts)
    }

    /// Complete an upload with (number, etag) pairs in ascending order; returns the ETag.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<String> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            xml.push_str(&format!("<Part><PartNumber>{n}</PartNumber><ETag>\"{etag}\"</ETag></Part>"));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let (_, _, body) = self
            .call(
                Method::POST,
                &Self::path(bucket, Some(key)),
                &[("uploadId", upload_id)],
                &[],
                Bytes::from(xml),
                false,
            )
            .await?;
        let doc = Node::parse(&body)?;
        if doc.name == "Error" {
            // S3 may answer 200 and report the failure in the body.
            return Err(ClientError::Service {
                status: 200,
                code: doc.text_of("Code").unwrap_or("").into(),
                message: doc.text_of("Message").unwrap_or("").into(),
            });
        }
        Ok(unquote(doc.required("ETag")?))
    }

    pub async fn abort_multipart_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.call(Method::DELETE, &Self::path(bucket, Some(key)), &[("uploadId", upload_id)], &[], Bytes::new(), false)
            .await
            .map(|_| ())
    }

    /// A single-request upload; returns the ETag.
    pub async fn put_object(&self, bucket: &str, key: &str, data: Bytes, headers: &[(&str, String)]) -> Result<String> {
        let md5: [u8; 16] = Md5::digest(&data).into();
        let mut all: Vec<(&str, String)> = headers.to_vec();
        all.push(("content-md5", B64.encode(md5)));
        let (_, response_headers, _) =
            self.call(Method::PUT, &Self::path(bucket, Some(key)), &[], &all, data, true).await?;
        Ok(unquote(response_headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or("")))
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        let (_, headers, _) =
            self.call(Method::HEAD, &Self::path(bucket, Some(key)), &[], &[], Bytes::new(), false).await?;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Ok(ObjectInfo {
            key: key.into(),
            size: text("content-length")
                .parse()
                .map_err(|_| ClientError::Protocol("HEAD without Content-Length".into()))?,
            etag: unquote(&text("etag")),
            last_modified: text("last-modified"),
        })
    }

    /// Bytes [first, last] of an object.
    pub async fn get_range(&self, bucket: &str, key: &str, first: u64, last: u64) -> Result<Bytes> {
        let headers = [("range", format!("bytes={first}-{last}"))];
        let (_, _, body) =
            self.call(Method::GET, &Self::path(bucket, Some(key)), &[], &headers, Bytes::new(), false).await?;
        if body.len() as u64 != last - first + 1 {
            return Err(ClientError::Protocol(format!("asked for {} bytes, got {}", last - first + 1, body.len())));
        }
        Ok(body)
    }

    /// Bytes [first, last] of an object, written into `file` at offset `first` frame by frame
    /// as they arrive: no buffer holds the range and no copy is made on the way (the page cache
    /// write is the only one). The bytes are written, not synced.
    pub async fn get_range_into(
        &self,
        bucket: &str,
        key: &str,
        first: u64,
        last: u64,
        file: &std::fs::File,
    ) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let headers = [("range", format!("bytes={first}-{last}"))];
        let request = self.signed(Method::GET, &Self::path(bucket, Some(key)), &[], &headers, Bytes::new(), false)?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| ClientError::Transport(describe(&e)))?;
            let (parts, mut body) = response.into_parts();
            if !parts.status.is_success() {
                let bytes = body.collect().await.map_err(|e| ClientError::Transport(describe(&e)))?.to_bytes();
                return Err(service_error(parts.status, &bytes));
            }
            let end = last + 1;
            let mut offset = first;
            let multi_thread =
                tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| ClientError::Transport(describe(&e)))?;
                let Ok(data) = frame.into_data() else { continue };
                if offset + data.len() as u64 > end {
                    return Err(ClientError::Protocol(format!("asked for {} bytes, got more", end - first)));
                }
                // A positioned write into the page cache. It is short, but it may wait for
                // memory to be reclaimed: tell the runtime, so other transfers' sockets are
                // read meanwhile rather than behind this write.
                // (block_in_place exists only on the multi-threaded runtime.)
                if multi_thread {
                    tokio::task::block_in_place(|| file.write_all_at(&data, offset))?;
                } else {
                    file.write_all_at(&data, offset)?;
                }
                offset += data.len() as u64;
            }
            if offset != end {
                return Err(ClientError::Protocol(format!("asked for {} bytes, got {}", end - first, offset - first)));
            }
            Ok(())
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Transport("the request timed out".into()))?
    }

    /// Objects and common prefixes under `prefix` (all pages).
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
    ) -> Result<(Vec<ObjectInfo>, Vec<String>)> {
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if !delimiter.is_empty() {
                query.push(("delimiter", delimiter));
            }
            if let Some(t) = &token {
                query.push(("continuation-token", t.as_str()));
            }
            let (_, _, body) =
                self.call(Method::GET, &Self::path(bucket, None), &query, &[], Bytes::new(), false).await?;
            let doc = Node::parse(&body)?;
            for c in doc.all("Contents") {
                objects.push(ObjectInfo {
                    key: c.required("Key")?.to_string(),
                    size: c.required("Size")?.parse().unwrap_or(0),
                    etag: unquote(c.text_of("ETag").unwrap_or("")),
                    last_modified: c.text_of("LastModified").unwrap_or("").to_string(),
                });
            }
            for p in doc.all("CommonPrefixes") {
                prefixes.push(p.required("Prefix")?.to_string());
            }
            match doc.text_of("NextContinuationToken") {
                Some(next) if doc.text_of("IsTruncated") == Some("true") => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok((objects, prefixes))
    }

    pub async fn list_buckets(&self) -> Result<Vec<String>> {
        let (_, _, body) = self.call(Method::GET, "/", &[], &[], Bytes::new(), false).await?;
        let doc = Node::parse(&body)?;
        Ok(doc
            .child("Buckets")
            .map(|b| b.all("Bucket").filter_map(|x| x.text_of("Name").map(String::from)).collect())
            .unwrap_or_default())
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        self.call(Method::DELETE, &Self::path(bucket, Some(key)), &[], &[], Bytes::new(), false).await.map(|_| ())
    }

    /// Incomplete multipart uploads in a bucket (first 1,000).
    pub async fn list_multipart_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<UploadInfo>> {
        let query = [("uploads", ""), ("prefix", prefix)];
        let (_, _, body) = self.call(Method::GET, &Self::path(bucket, None), &query, &[], Bytes::new(), false).await?;
        let doc = Node::parse(&body)?;
        doc.all("Upload")
            .map(|u| {
                Ok(UploadInfo {
                    key: u.required("Key")?.to_string(),
                    upload_id: u.required("UploadId")?.to_string(),
                    initiated: u.text_of("Initiated").unwrap_or("").to_string(),
                })
            })
            .collect()
    }
}
