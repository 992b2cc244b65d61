//! A Tunnel client: tables and their upload and download sessions, as pyodps' `TableTunnel`
//! offers them, over the same wire format (so it works against ferry and any server speaking
//! the dialect).
//!
//! - [`UploadSession::open_record_writer`]: one block, streamed to the server as it is written.
//! - [`UploadSession::open_buffered_writer`]: block ids handled for you; blocks are buffered,
//!   sent several at a time, and a failed block is sent again automatically.
//! - [`DownloadSession::open_record_reader`]: a row range, decoded as it arrives.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_table::TableSchema;
use ferry_tunnel_wire::auth;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value as Json;

use crate::error::{ClientError, Result};
use crate::xml::Node;

mod download;
mod upload;

pub use download::{DownloadSession, RecordReader};
pub use upload::{BufferedOptions, BufferedWriter, RecordWriter, UploadSession, UploadStatus};

type RequestBody = BoxBody<Bytes, std::io::Error>;

/// Query values keep these characters as they are.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// Encoded bytes handed to the connection at a time by a record writer.
const WRITE_CHUNK: usize = 256 * 1024;

/// A Tunnel endpoint (`http://host:port/odps`), a project and a key pair. Cheap to clone.
#[derive(Clone)]
pub struct TunnelClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// `scheme://authority`
    origin: String,
    /// The endpoint's path (`/odps`), which signatures are relative to.
    prefix: String,
    project: String,
    access_id: String,
    secret: String,
    http: Client<HttpsConnector<HttpConnector>, RequestBody>,
}

impl std::fmt::Debug for TunnelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelClient")
            .field("endpoint", &format!("{}{}", self.inner.origin, self.inner.prefix))
            .field("project", &self.inner.project)
            .field("access_id", &self.inner.access_id)
            .finish_non_exhaustive()
    }
}

fn full(bytes: impl Into<Bytes>) -> RequestBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// The error a response carries: Tunnel session calls answer JSON `{"Code", "Message"}`, the
/// ODPS REST calls XML `<Error><Code/><Message/></Error>`.
fn service_error(status: StatusCode, body: &[u8]) -> ClientError {
    if let Ok(Json::Object(doc)) = serde_json::from_slice::<Json>(body) {
        let text = |k: &str| doc.get(k).and_then(Json::as_str).unwrap_or("").to_string();
        return ClientError::Service { status: status.as_u16(), code: text("Code"), message: text("Message") };
    }
    match Node::parse(body) {
        Ok(error) => ClientError::Service {
            status: status.as_u16(),
            code: error.text_of("Code").unwrap_or("").to_string(),
            message: error.text_of("Message").unwrap_or("").to_string(),
        },
        Err(_) => ClientError::Service {
            status: status.as_u16(),
            code: status.canonical_reason().unwrap_or("Error").replace(' ', ""),
            message: String::from_utf8_lossy(body).into_owned(),
        },
    }
}

fn json_of(body: &[u8]) -> Result<Json> {
    serde_json::from_slice(body).map_err(|e| ClientError::Protocol(format!("not JSON: {e}")))
}

fn schema_of(doc: &Json) -> Result<TableSchema> {
    TableSchema::from_json(doc.get("Schema").unwrap_or(doc)).map_err(ClientError::Protocol)
}

impl TunnelClient {
    /// `endpoint` is the ODPS endpoint, e.g. `http://127.0.0.1:9720/odps`.
    pub fn new(endpoint: &str, project: &str, access_id: &str, secret: &str) -> Result<Self> {
        let uri: http::Uri =
            endpoint.parse().map_err(|e| ClientError::Invalid(format!("invalid endpoint {endpoint:?}: {e}")))?;
        let (Some(scheme @ ("http" | "https")), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(ClientError::Invalid(format!("the endpoint {endpoint:?} must be http(s)://host[:port]/path")));
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(crate::https_connector()?);
        Ok(TunnelClient {
            inner: Arc::new(Inner {
                origin: format!("{scheme}://{authority}"),
                prefix: uri.path().trim_end_matches('/').to_string(),
                project: project.to_string(),
                access_id: access_id.to_string(),
                secret: secret.to_string(),
                http,
            }),
        })
    }

    pub fn project(&self) -> &str {
        &self.inner.project
    }

    fn table_path(&self, table: &str) -> String {
        format!("/projects/{}/tables/{}", self.inner.project, table)
    }

    /// Send one signed request; the response body is left to the caller.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        content_type: Option<&str>,
        body: RequestBody,
    ) -> Result<(StatusCode, HeaderMap, Incoming)> {
        let mut target = path.to_string();
        let mut sep = '?';
        for (k, v) in query {
            target.push(sep);
            target.push_str(k);
            if !v.is_empty() {
                target.push('=');
                target.push_str(&utf8_percent_encode(v, QUERY).to_string());
            }
            sep = '&';
        }
        let mut headers = HeaderMap::new();
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        headers
            .insert(http::header::DATE, HeaderValue::from_str(&date).map_err(|e| ClientError::Invalid(e.to_string()))?);
        headers.insert("x-odps-tunnel-version", HeaderValue::from_static("6"));
        if let Some(ct) = content_type {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_str(ct).map_err(|e| ClientError::Invalid(e.to_string()))?,
            );
        }
        let canonical = auth::canonical_string(method.as_str(), &headers, &target);
        let authorization = format!("ODPS {}:{}", self.inner.access_id, auth::sign(&self.inner.secret, &canonical));
        let mut request =
            Request::builder().method(method).uri(format!("{}{}{target}", self.inner.origin, self.inner.prefix));
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let request = request
            .header(http::header::AUTHORIZATION, authorization)
            .body(body)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let response = self.inner.http.request(request).await.map_err(|e| ClientError::Transport(e.to_string()))?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            let bytes = body.collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
            return Err(service_error(parts.status, &bytes));
        }
        Ok((parts.status, parts.headers, body))
    }

    /// One request, whole response body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(HeaderMap, Bytes)> {
        let (_, headers, incoming) = self.send(method, path, query, None, full(body)).await?;
        let bytes = incoming.collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
        Ok((headers, bytes))
    }

    /// Run one SQL statement through the instance API (ferry runs the DDL for tables and
    /// partitions) and wait for it to finish.
    pub async fn run_sql(&self, sql: &str) -> Result<()> {
        let escaped = sql.replace("]]>", "]]]]><![CDATA[>");
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance><Job><Priority>9</Priority><Tasks><SQL>\
             <Name>AnonymousSQLTask</Name><Query><![CDATA[{escaped}]]></Query></SQL></Tasks></Job></Instance>"
        );
        let path = format!("/projects/{}/instances", self.inner.project);
        let (headers, _) = self.call(Method::POST, &path, &[], Bytes::from(xml)).await?;
        let location = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let id = location.rsplit('/').next().filter(|id| !id.is_empty());
        let id = id.ok_or_else(|| ClientError::Protocol("the instance has no Location".into()))?.to_string();
        for attempt in 0..600u32 {
            let (_, body) = self.call(Method::GET, &format!("{path}/{id}"), &[], Bytes::new()).await?;
            let status = Node::parse(&body)?.text_of("Status").unwrap_or("").to_string();
            if status == "Terminated" {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10) + 1))).await;
        }
        Err(ClientError::Protocol(format!("instance {id} did not finish")))
    }

    /// The table's schema.
    pub async fn table_schema(&self, table: &str) -> Result<TableSchema> {
        let (_, body) = self.call(Method::GET, &self.table_path(table), &[], Bytes::new()).await?;
        let xml = Node::parse(&body)?;
        let doc = xml.required("Schema")?;
        let doc: Json = serde_json::from_str(doc).map_err(|e| ClientError::Protocol(format!("schema: {e}")))?;
        TableSchema::from_json(&doc).map_err(ClientError::Protocol)
    }

    /// Open an upload session on a partition (`""` for a table without partitions).
    pub async fn create_upload_session(
        &self,
        table: &str,
        partition: &str,
        create_partition: bool,
    ) -> Result<UploadSession> {
        let mut query = vec![("uploads", "1")];
        if !partition.is_empty() {
            query.push(("partition", partition));
        }
        if create_partition {
            query.push(("create_partition", "true"));
        }
        let (_, body) = self.call(Method::POST, &self.table_path(table), &query, Bytes::new()).await?;
        UploadSession::from_json(self.clone(), table, partition, &json_of(&body)?)
    }

    /// Reattach to an upload session by id (after a crash, from another process, ...).
    pub async fn attach_upload_session(&self, table: &str, partition: &str, id: &str) -> Result<UploadSession> {
        let session = UploadSession {
            client: self.clone(),
            table: table.to_string(),
            partition: partition.to_string(),
            id: id.to_string(),
            schema: TableSchema::default(),
        };
        let doc = session.reload().await?;
        UploadSession::from_json(self.clone(), table, partition, &doc)
    }

    /// Snapshot a partition for reading.
    pub async fn create_download_session(&self, table: &str, partition: &str) -> Result<DownloadSession> {
        let mut query = vec![("downloads", "")];
        if !partition.is_empty() {
            query.push(("partition", partition));
        }
        let (_, body) = self.call(Method::POST, &self.table_path(table), &query, Bytes::new()).await?;
        let doc = json_of(&body)?;
        Ok(DownloadSession {
            client: self.clone(),
            table: table.to_string(),
            partition: partition.to_string(),
            id: doc["DownloadID"].as_str().unwrap_or("").to_string(),
            count: doc["RecordCount"].as_u64().unwrap_or(0),
            schema: schema_of(&doc)?,
        })
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn tunnel_errors_are_read_from_json_and_rest_errors_from_xml() {
        let json = br#"{"Code":"NoSuchUpload","Message":"the upload session u is EXPIRED","RequestId":"r"}"#;
        match service_error(StatusCode::NOT_FOUND, json) {
            ClientError::Service { status, code, message } => {
                assert_eq!((status, code.as_str()), (404, "NoSuchUpload"));
                assert!(message.contains("EXPIRED"));
            }
            other => panic!("{other:?}"),
        }
        let xml = b"<?xml version=\"1.0\"?><Error><Code>NoSuchTable</Code><Message>m</Message></Error>";
        match service_error(StatusCode::NOT_FOUND, xml) {
            ClientError::Service { code, .. } => assert_eq!(code, "NoSuchTable"),
            other => panic!("{other:?}"),
        }
    }
}
