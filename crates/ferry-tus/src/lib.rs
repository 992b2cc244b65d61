//! ferry's resumable-upload front-end: tus 1.0.0 (<https://tus.io/protocols/resumable-upload>)
//! and the IETF draft "Resumable Uploads for HTTP" (draft -05, interop version 6; -03 too),
//! served under one path prefix (`/files` by default) and told apart by the request's
//! `Upload-Draft-Interop-Version` header, as tusd does.
//!
//! An upload is an engine upload session for (bucket, key); each append (PATCH) stores its bytes
//! as the session's next part through [`Engine::append_at`], which owns the rules: the offset is
//! the sum of the stored parts, an append at another offset (or racing another for the same
//! offset) is refused and keeps nothing, a declared length never changes and bytes past it are
//! refused. A PATCH whose body is cut off keeps the prefix that arrived (unless it carried an
//! `Upload-Checksum` or a signed payload hash, which only the whole body can meet). When the
//! offset reaches the declared length the session is committed (metadata only), and the object
//! is visible to every other dialect at once. Concatenation publishes partial uploads' parts as
//! one object, also by metadata only ([`Engine::concat_uploads`]).
//!
//! The upload URL is `<prefix>/<bucket>/<session id>`; the declared length is kept with the
//! session. URLs of the older form `<session id>.<length>` still work.

mod error;
mod ietf;
pub mod router;
mod tus;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use ferry_core::access::{Action, Principal, Resource};
use ferry_core::credentials::CredentialStore;
use ferry_core::store::ByteStream;
use ferry_core::{DigestKind, Engine, Expected, PartInput, Session, SessionState, Target, UploadProgress};
use ferry_http::{Body, Frontend, Query, Request, Response, endpoint};
use futures_util::StreamExt;
use http::StatusCode;
use http::request::Parts;

use error::{TusError, TusResult};
pub use router::{Endpoint, UploadId, endpoint_docs};

/// The protocol version ferry speaks.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions ferry implements.
pub const TUS_EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration,concatenation";
/// The `Upload-Checksum` algorithms ferry verifies.
pub const TUS_CHECKSUMS: &str = "md5,sha1,crc32";
/// At most this many PATCH requests per upload (engine parts).
pub const MAX_PATCHES: usize = ferry_core::MAX_APPENDS;

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

/// The tus and IETF resumable-upload front-end.
pub struct TusFrontend {
    engine: Engine,
    creds: Arc<CredentialStore>,
    config: TusConfig,
}

/// The user-metadata entry that marks a session as a tus partial upload (`Upload-Concat:
/// partial`): it is never published by itself, only concatenated.
const PARTIAL_MARK: (&str, &str) = ("tus-concat", "partial");

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

/// The first query parameter that is not a presigned S3 URL's own (`X-Amz-*`, or SigV2's
/// `AWSAccessKeyId`, `Signature`, `Expires`).
fn unknown_query_key(parts: &Parts) -> Option<String> {
    let query = Query::parse(parts.uri.query());
    ferry_http::endpoint::first_unknown(&query, &["AWSAccessKeyId", "Signature", "Expires"], |k| {
        k.get(..6).is_some_and(|prefix| prefix.eq_ignore_ascii_case("x-amz-"))
    })
    .map(str::to_string)
}

fn http_date(millis: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    httpdate::fmt_http_date(at)
}

/// Whether `session` is a tus partial upload.
fn is_partial(session: &Session) -> bool {
    session.meta.user.iter().any(|(k, v)| k == PARTIAL_MARK.0 && v == PARTIAL_MARK.1)
}

/// The partial uploads' session ids a final upload was concatenated from.
fn final_sources(session: &Session) -> Option<Vec<String>> {
    ferry_core::uploads::concatenated_from(session)
}

/// The object key of a session's target.
fn target_key(session: &Session) -> &str {
    match &session.target {
        Target::Object { key, .. } => key.as_str(),
        Target::TablePartition { .. } => "",
    }
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
        Self::authorize(who, &upload.bucket, target_key(&session))?;
        Ok(session)
    }

    fn lifetime_headers(response: &mut Response, session: &Session) {
        if session.state != SessionState::Closed {
            ferry_http::response::set(response, "upload-expires", http_date(session.expires));
        }
    }

    async fn open(&self, upload: &UploadId) -> TusResult<Session> {
        let session = self.engine.open_bucket_session(&upload.session, &upload.bucket).await?;
        // Only uploads this endpoint opened (or opened before sessions recorded their protocol):
        // an S3, OSS, US3 or console upload's id must not be appended to or published here.
        let ours = session.dialect.as_deref().is_none_or(|d| d == "tus" || d == "ietf");
        match session.state {
            _ if !ours => Err(TusError::new(StatusCode::NOT_FOUND, "no such tus upload")),
            SessionState::Normal | SessionState::Closing | SessionState::Closed => Ok(session),
            _ => Err(TusError::new(StatusCode::NOT_FOUND, "the upload does not exist, was terminated or expired")),
        }
    }

    /// Where the upload stands. An address of the old form carries the length: it is recorded
    /// with the session on first use, so the engine's rules apply to it as to any other.
    async fn progress(&self, session: &Session, upload: &UploadId) -> TusResult<UploadProgress> {
        let mut progress = self.engine.upload_progress(session).await?;
        if let (Some(length), None) = (upload.legacy_length, progress.length) {
            progress.length = Some(self.engine.declare_upload_length(session, length).await?);
        }
        Ok(progress)
    }

    /// Publish the object once every declared byte is durable (metadata only), unless the
    /// upload is a partial one (only a concatenation publishes those). Idempotent.
    async fn finish_if_complete(&self, session: &Session, progress: &UploadProgress) -> TusResult<()> {
        if progress.complete() && !progress.published && !is_partial(session) {
            self.engine.finish_upload(session).await?;
        }
        Ok(())
    }

    /// Store the body at `offset` as the next part ([`Engine::append_at`]). Returns the
    /// progress after it. `content_types` are the accepted body types (empty: any).
    #[allow(clippy::too_many_arguments)]
    async fn append(
        &self,
        parts: &Parts,
        body: Body,
        session: &Session,
        offset: u64,
        signed_hash: Option<Expected>,
        checksum: bool,
        who: Option<&Principal>,
    ) -> TusResult<UploadProgress> {
        let declared = number_header(parts, "content-length")?;
        // An upload token's size limit: refused up front when the body's length says so, and a
        // body of unknown length is cut off where the limit ends.
        Self::within_limit(who, offset.saturating_add(declared.unwrap_or(0)))?;
        let room = who.and_then(|p| p.upload_limit).map_or(u64::MAX, |limit| limit.saturating_sub(offset));
        let mut expected = Vec::new();
        if checksum && let Some(value) = header(parts, "upload-checksum") {
            expected.push(parse_checksum(value)?);
        }
        expected.extend(signed_hash);
        let mut stream = ferry_http::body_stream(body);
        // A digest can only be met by the whole body, so then the body must arrive whole;
        // otherwise whatever arrives is kept.
        let whole = !expected.is_empty();
        if !whole {
            stream = until_error(stream);
        }
        let input = PartInput {
            body: stream,
            expected_size: if whole { declared } else { None },
            max_size: self.config.max_size.min(room),
            expected,
            trailer: None,
            wanted: Default::default(),
        };
        Ok(self.engine.append_at(session, offset, input).await?)
    }
}

#[async_trait]
impl Frontend for TusFrontend {
    fn name(&self) -> &'static str {
        "tus"
    }

    fn claims(&self, request: &Parts) -> bool {
        let path = request.uri.path();
        let under =
            path.strip_prefix(self.config.path.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        // tus requests may be S3-signed, but they always carry one of the two protocols' version
        // headers (a tus request without one could only be refused with 412). An S3-signed
        // request with neither is an S3 request for a bucket named like the prefix, addressed
        // path-style (`PUT /files/photo.jpg` into bucket `files`): it belongs to S3.
        under
            && !(ferry_s3::is_s3_signed(request)
                && header(request, "tus-resumable").is_none()
                && header(request, "upload-draft-interop-version").is_none())
    }

    async fn handle(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let interop = header(&parts, "upload-draft-interop-version");
        let routed = router::route(&parts.method, parts.uri.path(), &self.config.path, interop);
        let ietf = routed.is_ietf() || (interop.is_some() && routed.endpoint == Endpoint::Unknown);
        let mut response = if let Some((status, allow)) = routed.refusal {
            let message = match status {
                StatusCode::NOT_FOUND => "no such upload resource".to_string(),
                StatusCode::BAD_REQUEST => {
                    format!("Upload-Draft-Interop-Version must be one of {}", router::IETF_INTEROP_VERSIONS.join(", "))
                }
                _ => "method not allowed here".to_string(),
            };
            let mut r = error::render(&TusError::new(status, message), ietf);
            if !allow.is_empty() {
                ferry_http::response::set(&mut r, "allow", allow);
            }
            r
        } else if let Some(unknown) = unknown_query_key(&parts) {
            // Neither protocol defines query parameters; one whose meaning is unknown is refused
            // rather than ignored (only an S3 presigned URL's own parameters are accepted).
            let message = format!("the query parameter {unknown} is not part of the upload protocol");
            error::render(&TusError::new(StatusCode::NOT_IMPLEMENTED, message), ietf)
        } else if !ietf && parts.method != http::Method::OPTIONS && header(&parts, "tus-resumable") != Some(TUS_VERSION)
        {
            let mut r =
                error::render(&TusError::new(StatusCode::PRECONDITION_FAILED, "Tus-Resumable must be 1.0.0"), false);
            ferry_http::response::set(&mut r, "tus-version", TUS_VERSION);
            r
        } else {
            let result = if ietf {
                self.dispatch_ietf(&routed, &parts, body).await
            } else {
                self.dispatch_tus(&routed, &parts, body).await
            };
            result.unwrap_or_else(|e| error::render(&e, ietf))
        };
        if !ietf {
            ferry_http::response::set(&mut response, "tus-resumable", TUS_VERSION);
        }
        endpoint::tag(&mut response, ferry_http::Endpoint::name(&routed.endpoint));
        response
    }
}
