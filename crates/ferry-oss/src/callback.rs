//! OSS upload callbacks: after a PutObject or CompleteMultipartUpload carrying `x-oss-callback`,
//! ferry POSTs the callback body to the given URL and returns the callback's answer to the
//! client, as OSS does. A failing callback answers 203 `CallbackFailed`; the object stays
//! committed either way.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use ferry_core::ObjectRecord;
use ferry_http::Response;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::error::{OssError, OssResult};

#[derive(Deserialize)]
struct Spec {
    #[serde(rename = "callbackUrl")]
    url: String,
    #[serde(rename = "callbackBody")]
    body: String,
    #[serde(rename = "callbackBodyType", default)]
    body_type: Option<String>,
    #[serde(rename = "callbackHost", default)]
    host: Option<String>,
}

pub struct CallbackClient {
    http: Client<HttpConnector, Full<Bytes>>,
}

impl CallbackClient {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        CallbackClient { http: Client::builder(TokioExecutor::new()).build(connector) }
    }

    /// Run the callback for a committed object and build the client's response.
    pub async fn run(&self, header: &str, vars: Option<&str>, object: &ObjectRecord) -> OssResult<Response> {
        let spec: Spec = B64
            .decode(header.trim())
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(|| OssError::invalid_argument("The callback configuration is not base64-encoded JSON."))?;
        let custom: serde_json::Map<String, serde_json::Value> = vars
            .and_then(|v| B64.decode(v.trim()).ok())
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default();
        let body = substitute(&spec.body, object, &custom);
        let content_type = spec.body_type.unwrap_or_else(|| "application/x-www-form-urlencoded".into());
        // OSS allows several URLs separated by ';' and tries them in order.
        let mut last_error = String::from("no callback URL");
        for url in spec.url.split(';').map(str::trim).filter(|u| !u.is_empty()) {
            match self.post(url, spec.host.as_deref(), &content_type, body.clone()).await {
                Ok((status, reply)) if status.is_success() => {
                    let mut r = Response::new(ferry_http::full(reply));
                    r.headers_mut()
                        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                    return Ok(r);
                }
                Ok((status, _)) => last_error = format!("the callback server answered {status}"),
                Err(e) => last_error = e,
            }
        }
        tracing::warn!(url = spec.url, error = last_error, "upload callback failed");
        let error = OssError::callback_failed(format!("Error status : {last_error}. The object was stored."));
        Ok(crate::error::render(&error, "", false))
    }

    async fn post(
        &self,
        url: &str,
        host: Option<&str>,
        content_type: &str,
        body: String,
    ) -> Result<(http::StatusCode, Bytes), String> {
        if !url.starts_with("http://") {
            return Err(format!("only http:// callback URLs are supported ({url})"));
        }
        let mut request = http::Request::post(url).header(http::header::CONTENT_TYPE, content_type);
        if let Some(host) = host {
            request = request.header(http::header::HOST, host);
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>((status, bytes))
        };
        tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .map_err(|_| "the callback timed out".to_string())?
    }
}

/// Replace `${bucket}`, `${object}`, `${etag}`, `${size}`, `${mimeType}`, `${crc64}` and custom
/// `${x:name}` variables.
fn substitute(template: &str, object: &ObjectRecord, custom: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = template
        .replace("${bucket}", &object.bucket)
        .replace("${object}", &object.key)
        .replace("${etag}", &object.etag.to_ascii_uppercase())
        .replace("${size}", &object.size.to_string())
        .replace("${mimeType}", object.meta.content_type.as_deref().unwrap_or("application/octet-stream"))
        .replace("${crc64}", &object.crc.crc64xz.to_string());
    for (name, value) in custom {
        let text = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        out = out.replace(&format!("${{{name}}}"), &text);
    }
    out
}
