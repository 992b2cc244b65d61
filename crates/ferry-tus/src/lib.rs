//! ferry's tus 1.0.0 front-end (<https://tus.io/protocols/resumable-upload>), served under a
//! path prefix (`/files` by default).
//!
//! An upload is an engine upload session for (bucket, key); each PATCH stores its bytes as the
//! session's next part (1, 2, 3, …), and the offset is the sum of the stored parts' sizes, so a
//! resumed PATCH never rewrites durable bytes. A PATCH whose body is cut off keeps the prefix that
//! arrived (unless it carried an `Upload-Checksum` or a signed payload hash, which only the whole
//! body can meet). When the offset reaches `Upload-Length` the session is committed (metadata
//! only), and the object is visible to every other dialect at once.
//!
//! The upload URL is `<prefix>/<bucket>/<session id>.<Upload-Length>`: the declared length rides
//! in the URL because engine sessions have no field for it yet.

pub mod router;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use ferry_core::access::{Action, Principal, Resource};
use ferry_core::credentials::CredentialStore;
use ferry_core::store::ByteStream;
use ferry_core::{
    CommitRequest, CommitRules, DigestKind, Engine, Error, Expected, ObjectMeta, ObjectTarget, PartInput, Session,
    SessionState, Target,
};
use ferry_http::{Body, Frontend, Query, Request, Response, endpoint};
use futures_util::StreamExt;
use http::StatusCode;
use http::request::Parts;

pub use router::{Endpoint, UploadId, endpoint_docs};

/// The protocol version ferry speaks.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions ferry implements.
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
/// The `Upload-Checksum` algorithms ferry verifies.
pub const TUS_CHECKSUMS: &str = "md5,sha1,crc32";
/// At most this many PATCH requests per upload (engine parts).
pub const MAX_PATCHES: usize = 10_000;

/// Settings of the tus front-end.
#[derive(Debug, Clone)]
pub struct TusConfig {
    /// Path prefix, without a trailing slash (`/files`).
    pub path: String,
    /// The largest upload (`Tus-Max-Size`).
    pub max_size: u64,
    /// When set, requests without an `Authorization` header may create and append to uploads in
    /// this one bucket (and no other). Off by default.
    pub anonymous_bucket: Option<String>,
}

impl Default for TusConfig {
    fn default() -> Self {
        TusConfig { path: "/files".into(), max_size: 5 << 40, anonymous_bucket: None }
    }
}

impl TusConfig {
    /// `path` as given on the command line (`/files/`, `files`, `/up/tus/`), normalised to a
    /// leading slash and no trailing one. The root is refused: tus would claim every request.
    pub fn normalise_path(path: &str) -> Result<String, String> {
        let trimmed = path.trim_matches('/');
        if trimmed.is_empty() {
            return Err("--tus-path cannot be the root: tus would take every request from the other dialects".into());
        }
        Ok(format!("/{trimmed}"))
    }
}

/// The tus front-end.
pub struct TusFrontend {
    engine: Engine,
    creds: Arc<CredentialStore>,
    config: TusConfig,
}

/// A refusal: status and a plain-text message (tus defines no error body format).
#[derive(Debug)]
struct TusError {
    status: StatusCode,
    message: String,
}

type TusResult<T> = Result<T, TusError>;

impl TusError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        TusError { status, message: message.into() }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<Error> for TusError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NoSuchUpload | Error::NoSuchBucket | Error::NoSuchKey => StatusCode::NOT_FOUND,
            Error::AccessDenied(_) => StatusCode::FORBIDDEN,
            // tus's checksum extension: 460 Checksum Mismatch.
            Error::ChecksumMismatch { .. } => StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            Error::EntityTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            // Another request is committing or writing this upload; tusd answers 423 too.
            Error::Busy => StatusCode::LOCKED,
            Error::InvalidKey(_)
            | Error::KeyTooLong(_)
            | Error::InvalidBucketName(_)
            | Error::InvalidArgument(_)
            | Error::IncompleteBody(_)
            | Error::InvalidPart(_)
            | Error::MissingPart(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "tus request failed");
        }
        TusError::new(status, e.to_string())
    }
}

fn header<'p>(parts: &'p Parts, name: &str) -> Option<&'p str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn number_header(parts: &Parts, name: &str) -> TusResult<Option<u64>> {
    header(parts, name)
        .map(|v| v.trim().parse::<u64>().map_err(|_| TusError::bad_request(format!("{name} is not a number"))))
        .transpose()
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn parse_metadata(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| format!("Upload-Metadata value of {key:?} is not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| format!("Upload-Metadata value of {key:?} is not UTF-8"))?;
        out.push((key.to_string(), decoded));
    }
    Ok(out)
}

/// `Upload-Checksum: <algorithm> <base64 digest>` as the digest the body must match.
fn parse_checksum(value: &str) -> TusResult<Expected> {
    let (algorithm, digest) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| TusError::bad_request("Upload-Checksum is not '<algorithm> <base64>'"))?;
    let (kind, len) = match algorithm.to_ascii_lowercase().as_str() {
        "md5" => (DigestKind::Md5, 16),
        "sha1" => (DigestKind::Sha1, 20),
        "crc32" => (DigestKind::Crc32, 4),
        other => {
            return Err(TusError::bad_request(format!(
                "unsupported checksum algorithm {other:?}; ferry supports {TUS_CHECKSUMS}"
            )));
        }
    };
    let value = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .ok()
        .filter(|v| v.len() == len)
        .ok_or_else(|| TusError::bad_request(format!("Upload-Checksum is not a base64 {algorithm} digest")))?;
    Ok(Expected { kind, value })
}

/// The body's bytes until it ends or fails: a PATCH cut off mid-way keeps what arrived.
fn until_error(body: ByteStream) -> ByteStream {
    Box::pin(body.take_while(|chunk| {
        let ok = chunk.is_ok();
        if let Err(e) = chunk {
            tracing::debug!(error = %e, "tus PATCH body ended early; keeping what arrived");
        }
        std::future::ready(ok)
    }))
}

fn http_date(millis: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    httpdate::fmt_http_date(at)
}

impl TusFrontend {
    pub fn new(engine: Engine, creds: Arc<CredentialStore>, config: TusConfig) -> Self {
        TusFrontend { engine, creds, config }
    }

    /// A SigV4 (or SigV2) S3 signature, or the opt-in anonymous bucket; else 401. Returns the
    /// digest the signature asks of the body, if any, and who signed (`None` for the anonymous
    /// bucket), whose grants [`Self::authorize`] then checks against the upload's key.
    fn authenticate(&self, parts: &Parts, bucket: &str) -> TusResult<(Option<Expected>, Option<Principal>)> {
        // A browser's upload token (`ferry token create`, `POST /_ferry/v1/upload-tokens`): the
        // principal it resolves to may only write under its bucket/prefix, within its size.
        if let Some(token) = ferry_core::upload_token::bearer(header(parts, "authorization")) {
            return match self.creds.resolve_upload_token(token) {
                Ok(who) => Ok((None, Some(who))),
                Err(e) => Err(TusError::new(StatusCode::UNAUTHORIZED, e.to_string())),
            };
        }
        let query = Query::parse(parts.uri.query());
        let signed = parts.headers.contains_key(http::header::AUTHORIZATION)
            || query.get("X-Amz-Algorithm").is_some()
            || query.get("AWSAccessKeyId").is_some();
        if !signed {
            if self.config.anonymous_bucket.as_deref() == Some(bucket) {
                return Ok((None, None));
            }
            return Err(TusError::new(
                StatusCode::UNAUTHORIZED,
                "send an upload token (Authorization: Bearer ...) or sign the request with an S3 signature",
            ));
        }
        match ferry_s3::authenticate(parts, &query, None, &self.creds) {
            Ok((ferry_s3::Payload::Unsigned, who)) => Ok((None, Some(who))),
            Ok((ferry_s3::Payload::Sha256(hash), who)) => {
                Ok((Some(Expected { kind: DigestKind::Sha256, value: hash.to_vec() }), Some(who)))
            }
            Ok((ferry_s3::Payload::Chunked { .. }, _)) => {
                Err(TusError::bad_request("aws-chunked bodies are not accepted by the tus endpoint"))
            }
            Err(e) => Err(TusError::new(StatusCode::UNAUTHORIZED, format!("{}: {}", e.code, e.message))),
        }
    }

    /// Every tus request writes (or inspects, or ends) one upload of (bucket, key): the signer
    /// needs `write` there, as for an S3 multipart upload. The anonymous bucket has no signer.
    fn authorize(who: Option<&Principal>, bucket: &str, key: &str) -> TusResult<()> {
        match who {
            Some(p) => p
                .authorize(Action::Write, &Resource::Object { bucket, key })
                .map_err(|d| TusError::new(StatusCode::FORBIDDEN, d.0)),
            None => Ok(()),
        }
    }

    /// An upload token's size limit: an upload ending at byte `end` over it is refused with 413.
    fn within_limit(who: Option<&Principal>, end: u64) -> TusResult<()> {
        match who {
            Some(p) => p.check_upload_size(end).map_err(|d| TusError::new(StatusCode::PAYLOAD_TOO_LARGE, d.0)),
            None => Ok(()),
        }
    }

    /// Open the upload after checking the signer may write its key.
    async fn open_as(&self, upload: &UploadId, who: Option<&Principal>) -> TusResult<Session> {
        let session = self.open(upload).await?;
        let key = match &session.target {
            Target::Object { key, .. } => key.as_str(),
            Target::TablePartition { .. } => "",
        };
        Self::authorize(who, &upload.bucket, key)?;
        Ok(session)
    }

    fn lifetime_headers(response: &mut Response, session: &Session) {
        ferry_http::response::set(response, "upload-expires", http_date(session.expires));
    }

    async fn open(&self, upload: &UploadId) -> TusResult<Session> {
        let session = self.engine.open_bucket_session(&upload.session, &upload.bucket).await?;
        match session.state {
            SessionState::Normal | SessionState::Closing | SessionState::Closed => Ok(session),
            _ => Err(TusError::new(StatusCode::NOT_FOUND, "the upload does not exist, was terminated or expired")),
        }
    }

    /// Bytes durably stored for the session, and how many parts hold them.
    async fn offset(&self, session: &Session, upload: &UploadId) -> TusResult<(u64, usize)> {
        if session.state == SessionState::Closed {
            return Ok((upload.length, 0));
        }
        let (mut offset, mut count, mut after) = (0u64, 0usize, None);
        loop {
            let page = self.engine.list_parts(session, after, 1000).await?;
            for part in &page.parts {
                offset += part.size;
                count += 1;
            }
            match page.next_marker() {
                Some(next) if page.truncated => after = Some(next),
                _ => break,
            }
        }
        Ok((offset, count))
    }

    /// Publish the object once every byte is durable (metadata only). Idempotent: a published
    /// session answers with what it published.
    async fn commit(&self, session: &Session, upload: &UploadId) -> TusResult<()> {
        if session.state == SessionState::Closed {
            return Ok(());
        }
        let rules = CommitRules::new(0, MAX_PATCHES).contiguous_from(1);
        self.engine.commit(session, CommitRequest::held(Vec::new(), rules).expect_size(Some(upload.length))).await?;
        Ok(())
    }

    /// Store the body as the next part, at `offset`. Returns the new offset.
    async fn append(
        &self,
        parts: &Parts,
        body: Body,
        session: &Session,
        upload: &UploadId,
        (offset, count): (u64, usize),
        signed_hash: Option<Expected>,
    ) -> TusResult<u64> {
        let content_type = header(parts, "content-type").unwrap_or("");
        if content_type != "application/offset+octet-stream" {
            return Err(TusError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a PATCH body must be Content-Type: application/offset+octet-stream",
            ));
        }
        let remaining = upload.length - offset;
        let declared = number_header(parts, "content-length")?;
        if declared.is_some_and(|n| n > remaining) {
            return Err(TusError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is longer than the {remaining} bytes left"),
            ));
        }
        let mut expected = Vec::new();
        if let Some(value) = header(parts, "upload-checksum") {
            expected.push(parse_checksum(value)?);
        }
        expected.extend(signed_hash);
        if count >= MAX_PATCHES && remaining > 0 {
            return Err(TusError::bad_request(format!(
                "an upload takes at most {MAX_PATCHES} PATCH requests; send larger chunks"
            )));
        }
        let mut stream = ferry_http::body_stream(body);
        // A digest can only be met by the whole body, so then the body must arrive whole;
        // otherwise whatever arrives is kept.
        let whole = !expected.is_empty();
        if !whole {
            stream = until_error(stream);
        }
        // Peek: an empty body stores no part (an empty part would only add a number).
        let mut first = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| TusError::bad_request(format!("the body ended early: {e}")))?;
            if !chunk.is_empty() {
                first = Some(chunk);
                break;
            }
        }
        let Some(first) = first else {
            if whole && declared.unwrap_or(0) > 0 {
                return Err(TusError::bad_request("the body ended before Content-Length bytes"));
            }
            return Ok(offset);
        };
        let body: ByteStream =
            Box::pin(futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(first) }).chain(stream));
        let input = PartInput {
            body,
            expected_size: if whole { declared } else { None },
            max_size: remaining,
            expected,
            trailer: None,
            wanted: Default::default(),
        };
        let number = u32::try_from(count + 1).map_err(|_| TusError::bad_request("too many parts"))?;
        let part = self.engine.put_part(session, number, input).await?;
        Ok(offset + part.size)
    }

    async fn dispatch(
        &self,
        endpoint: Endpoint,
        upload: Option<UploadId>,
        parts: &Parts,
        body: Body,
    ) -> TusResult<Response> {
        let mut response = Response::new(ferry_http::empty());
        match (endpoint, upload) {
            (Endpoint::Discovery, _) => {
                *response.status_mut() = StatusCode::NO_CONTENT;
                ferry_http::response::set(&mut response, "tus-version", TUS_VERSION);
                ferry_http::response::set(&mut response, "tus-extension", TUS_EXTENSIONS);
                ferry_http::response::set(&mut response, "tus-checksum-algorithm", TUS_CHECKSUMS);
                ferry_http::response::set(&mut response, "tus-max-size", self.config.max_size.to_string());
            }
            (Endpoint::CreateUpload, _) => return self.create(parts, body).await,
            (Endpoint::GetOffset, Some(upload)) => {
                let (_, who) = self.authenticate(parts, &upload.bucket)?;
                let session = self.open_as(&upload, who.as_ref()).await?;
                let (offset, _) = self.offset(&session, &upload).await?;
                if offset == upload.length {
                    // A commit that failed after the last PATCH is finished here.
                    self.commit(&session, &upload).await?;
                }
                *response.status_mut() = StatusCode::OK;
                ferry_http::response::set(&mut response, "upload-offset", offset.to_string());
                ferry_http::response::set(&mut response, "upload-length", upload.length.to_string());
                ferry_http::response::set(&mut response, "cache-control", "no-store");
                Self::lifetime_headers(&mut response, &session);
            }
            (Endpoint::AppendBytes, Some(upload)) => {
                let (signed_hash, who) = self.authenticate(parts, &upload.bucket)?;
                let session = self.open_as(&upload, who.as_ref()).await?;
                let (offset, count) = self.offset(&session, &upload).await?;
                let claimed = number_header(parts, "upload-offset")?
                    .ok_or_else(|| TusError::bad_request("a PATCH needs Upload-Offset"))?;
                if claimed != offset {
                    return Err(TusError::new(
                        StatusCode::CONFLICT,
                        format!("Upload-Offset is {claimed}, the upload's offset is {offset}"),
                    ));
                }
                Self::within_limit(who.as_ref(), offset + number_header(parts, "content-length")?.unwrap_or(0))?;
                let offset = self.append(parts, body, &session, &upload, (offset, count), signed_hash).await?;
                if offset == upload.length {
                    self.commit(&session, &upload).await?;
                }
                *response.status_mut() = StatusCode::NO_CONTENT;
                ferry_http::response::set(&mut response, "upload-offset", offset.to_string());
                Self::lifetime_headers(&mut response, &session);
            }
            (Endpoint::TerminateUpload, Some(upload)) => {
                let (_, who) = self.authenticate(parts, &upload.bucket)?;
                let session = self.open_as(&upload, who.as_ref()).await?;
                if session.state == SessionState::Closed {
                    return Err(TusError::new(
                        StatusCode::NOT_FOUND,
                        "the upload is complete; delete the object instead",
                    ));
                }
                self.engine.abort(&session).await?;
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            _ => return Err(TusError::new(StatusCode::NOT_FOUND, "no such tus resource")),
        }
        Ok(response)
    }

    /// The creation extension, with creation-with-upload when a body is sent.
    async fn create(&self, parts: &Parts, body: Body) -> TusResult<Response> {
        if parts.headers.contains_key("upload-defer-length") {
            return Err(TusError::bad_request("creation-defer-length is not supported yet; send Upload-Length"));
        }
        if parts.headers.contains_key("upload-concat") {
            return Err(TusError::bad_request("concatenation is not supported yet"));
        }
        let length =
            number_header(parts, "upload-length")?.ok_or_else(|| TusError::bad_request("POST needs Upload-Length"))?;
        if length > self.config.max_size {
            return Err(TusError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Upload-Length is over Tus-Max-Size {}", self.config.max_size),
            ));
        }
        let metadata = parse_metadata(header(parts, "upload-metadata").unwrap_or("")).map_err(TusError::bad_request)?;
        let get = |name: &str| metadata.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let bucket = get("bucket").ok_or_else(|| TusError::bad_request("Upload-Metadata must name the bucket"))?;
        let key = get("key")
            .or_else(|| get("filename"))
            .ok_or_else(|| TusError::bad_request("Upload-Metadata must name the key (or filename)"))?;
        let (signed_hash, who) = self.authenticate(parts, &bucket)?;
        Self::authorize(who.as_ref(), &bucket, &key)?;
        Self::within_limit(who.as_ref(), length)?;
        let meta =
            ObjectMeta { content_type: get("content-type").or_else(|| get("filetype")), ..ObjectMeta::default() };
        let session = self.engine.create_session(ObjectTarget { bucket: bucket.clone(), key }, meta, None).await?;
        let upload = UploadId { bucket, session: session.id.clone(), length };
        let mut offset = 0;
        let has_body = header(parts, "content-type") == Some("application/offset+octet-stream");
        if has_body {
            offset = self.append(parts, body, &session, &upload, (0, 0), signed_hash).await?;
        }
        if offset == length {
            if length == 0 {
                // Nothing will ever be PATCHed: publish an empty object through one empty part.
                let input = PartInput {
                    body: Box::pin(futures_util::stream::empty()),
                    expected_size: Some(0),
                    max_size: 0,
                    expected: Vec::new(),
                    trailer: None,
                    wanted: Default::default(),
                };
                self.engine.put_part(&session, 1, input).await?;
            }
            self.commit(&session, &upload).await?;
        }
        let mut response = Response::new(ferry_http::empty());
        *response.status_mut() = StatusCode::CREATED;
        // Bucket names are lower-case letters, digits, dots and hyphens: safe in a path as they are.
        let location = format!("{}/{}/{}", self.config.path, upload.bucket, upload.segment());
        ferry_http::response::set(&mut response, "location", location);
        if has_body {
            ferry_http::response::set(&mut response, "upload-offset", offset.to_string());
        }
        Self::lifetime_headers(&mut response, &session);
        Ok(response)
    }
}

fn render(e: &TusError) -> Response {
    let mut response = Response::new(ferry_http::full(format!("{}\n", e.message)));
    *response.status_mut() = e.status;
    ferry_http::response::set(&mut response, "content-type", "text/plain; charset=utf-8");
    response
}

#[async_trait]
impl Frontend for TusFrontend {
    fn name(&self) -> &'static str {
        "tus"
    }

    fn claims(&self, request: &Parts) -> bool {
        let path = request.uri.path();
        path.strip_prefix(self.config.path.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    async fn handle(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let routed = router::route(&parts.method, parts.uri.path(), &self.config.path);
        let mut response = if let Some((status, allow)) = routed.refusal {
            let mut r = render(&TusError::new(
                status,
                if status == StatusCode::NOT_FOUND { "no such tus resource" } else { "method not allowed here" },
            ));
            if !allow.is_empty() {
                ferry_http::response::set(&mut r, "allow", allow);
            }
            r
        } else if parts.method != http::Method::OPTIONS && header(&parts, "tus-resumable") != Some(TUS_VERSION) {
            let mut r = render(&TusError::new(StatusCode::PRECONDITION_FAILED, "Tus-Resumable must be 1.0.0"));
            ferry_http::response::set(&mut r, "tus-version", TUS_VERSION);
            r
        } else {
            self.dispatch(routed.endpoint, routed.upload, &parts, body).await.unwrap_or_else(|e| render(&e))
        };
        ferry_http::response::set(&mut response, "tus-resumable", TUS_VERSION);
        endpoint::tag(&mut response, ferry_http::Endpoint::name(&routed.endpoint));
        response
    }
}
