//! tus 1.0.0: discovery, creation (with upload, deferred length, partial and final uploads),
//! offset, append, termination.

use ferry_core::access::Principal;
use ferry_core::{ObjectMeta, ObjectTarget, Session, SessionState, UploadProgress};
use ferry_http::{Body, Response};
use http::StatusCode;
use http::request::Parts;

use crate::error::{TusError, TusResult};
use crate::router::Routed;
use crate::{
    Endpoint, PARTIAL_MARK, TUS_CHECKSUMS, TUS_EXTENSIONS, TUS_VERSION, TusFrontend, UploadId, final_sources, header,
    is_partial, number_header, parse_metadata,
};

/// What a creating POST asks for.
pub(crate) struct Creation {
    pub bucket: String,
    pub key: String,
    pub meta: ObjectMeta,
}

/// `Upload-Concat` of a creating POST.
enum Concat {
    None,
    Partial,
    Final(Vec<String>),
}

fn parse_concat(parts: &Parts) -> TusResult<Concat> {
    let Some(value) = header(parts, "upload-concat") else { return Ok(Concat::None) };
    let value = value.trim();
    if value == "partial" {
        return Ok(Concat::Partial);
    }
    if let Some(urls) = value.strip_prefix("final;") {
        let urls: Vec<String> = urls.split_whitespace().map(str::to_string).collect();
        if urls.is_empty() {
            return Err(TusError::bad_request("Upload-Concat: final; names no partial upload"));
        }
        return Ok(Concat::Final(urls));
    }
    Err(TusError::bad_request("Upload-Concat must be 'partial' or 'final;<url> <url> …'"))
}

impl TusFrontend {
    pub(crate) async fn dispatch_tus(&self, routed: &Routed, parts: &Parts, body: Body) -> TusResult<Response> {
        let mut response = Response::new(ferry_http::empty());
        match (routed.endpoint, routed.upload.as_ref()) {
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
                let session = self.open_as(upload, who.as_ref()).await?;
                let progress = self.progress(&session, upload).await?;
                // A commit that failed after the last PATCH is finished here.
                self.finish_if_complete(&session, &progress).await?;
                *response.status_mut() = StatusCode::OK;
                ferry_http::response::set(&mut response, "upload-offset", progress.offset.to_string());
                match progress.length {
                    Some(length) => ferry_http::response::set(&mut response, "upload-length", length.to_string()),
                    None => ferry_http::response::set(&mut response, "upload-defer-length", "1"),
                }
                ferry_http::response::set(&mut response, "cache-control", "no-store");
                self.concat_header(&mut response, &session, upload);
                Self::lifetime_headers(&mut response, &session);
            }
            (Endpoint::AppendBytes, Some(upload)) => {
                let (signed_hash, who) = self.authenticate(parts, &upload.bucket)?;
                let session = self.open_as(upload, who.as_ref()).await?;
                if final_sources(&session).is_some() {
                    return Err(TusError::new(StatusCode::FORBIDDEN, "a final upload cannot be modified"));
                }
                let claimed = number_header(parts, "upload-offset")?
                    .ok_or_else(|| TusError::bad_request("a PATCH needs Upload-Offset"))?;
                if header(parts, "content-type") != Some("application/offset+octet-stream") {
                    return Err(TusError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "a PATCH body must be Content-Type: application/offset+octet-stream",
                    ));
                }
                let progress = self.progress(&session, upload).await?;
                if progress.published && claimed == progress.offset {
                    // Nothing left to send (a retry of the last PATCH whose answer was lost).
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    ferry_http::response::set(&mut response, "upload-offset", progress.offset.to_string());
                    return Ok(response);
                }
                // creation-defer-length: the length arrives with a later PATCH.
                if let Some(length) = number_header(parts, "upload-length")? {
                    self.check_size(length)?;
                    Self::within_limit(who.as_ref(), length)?;
                    self.engine.declare_upload_length(&session, length).await?;
                }
                let progress = self.append(parts, body, &session, claimed, signed_hash, true, who.as_ref()).await?;
                self.finish_if_complete(&session, &progress).await?;
                *response.status_mut() = StatusCode::NO_CONTENT;
                ferry_http::response::set(&mut response, "upload-offset", progress.offset.to_string());
                Self::lifetime_headers(&mut response, &session);
            }
            (Endpoint::TerminateUpload, Some(upload)) => {
                let (_, who) = self.authenticate(parts, &upload.bucket)?;
                self.terminate(upload, who.as_ref()).await?;
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            _ => return Err(TusError::new(StatusCode::NOT_FOUND, "no such tus resource")),
        }
        Ok(response)
    }

    /// DELETE: abort the upload's session (both protocols).
    pub(crate) async fn terminate(&self, upload: &UploadId, who: Option<&Principal>) -> TusResult<()> {
        let session = self.open_as(upload, who).await?;
        if session.state == SessionState::Closed {
            return Err(TusError::new(StatusCode::NOT_FOUND, "the upload is complete; delete the object instead"));
        }
        self.engine.abort(&session).await?;
        Ok(())
    }

    /// `Upload-Concat` on HEAD: `partial` for a partial upload, `final;<urls>` for a final one.
    fn concat_header(&self, response: &mut Response, session: &Session, upload: &UploadId) {
        if is_partial(session) || ferry_core::uploads::was_concatenated(session) {
            ferry_http::response::set(response, "upload-concat", "partial");
        } else if let Some(sources) = final_sources(session) {
            let urls: Vec<String> =
                sources.iter().map(|id| format!("{}/{}/{id}", self.config.path, upload.bucket)).collect();
            ferry_http::response::set(response, "upload-concat", format!("final;{}", urls.join(" ")));
        }
    }

    pub(crate) fn check_size(&self, length: u64) -> TusResult<()> {
        if length > self.config.max_size {
            return Err(TusError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Upload-Length is over Tus-Max-Size {}", self.config.max_size),
            ));
        }
        Ok(())
    }

    /// Bucket, key and content type from `Upload-Metadata`. A partial upload may leave out the
    /// bucket when the anonymous bucket is set (tus-js-client sends no metadata with partial
    /// uploads unless told to: `metadataForPartialUploads`), and the key (its bytes end up
    /// under the final upload's key).
    /// Open the engine session of a new upload, noting the protocol (`tus` or `ietf`).
    pub(crate) async fn create_upload_session(&self, dialect: &str, creation: &Creation) -> TusResult<Session> {
        let target = ObjectTarget { bucket: creation.bucket.clone(), key: creation.key.clone() };
        Ok(self.engine.create_session_from(dialect, target, creation.meta.clone(), None).await?)
    }

    pub(crate) fn creation(&self, parts: &Parts, partial: bool) -> TusResult<Creation> {
        let metadata = parse_metadata(header(parts, "upload-metadata").unwrap_or("")).map_err(TusError::bad_request)?;
        let get = |name: &str| metadata.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let bucket = get("bucket")
            .or_else(|| if partial { self.config.anonymous_bucket.clone() } else { None })
            .ok_or_else(|| {
                TusError::bad_request(if partial {
                    "Upload-Metadata of a partial upload must name the bucket (tus-js-client: metadataForPartialUploads)"
                } else {
                    "Upload-Metadata must name the bucket"
                })
            })?;
        let key = get("key").or_else(|| get("filename"));
        let key = match key {
            Some(key) => key,
            None if partial => "tus-partial-upload".to_string(),
            None => return Err(TusError::bad_request("Upload-Metadata must name the key (or filename)")),
        };
        let mut meta =
            ObjectMeta { content_type: get("content-type").or_else(|| get("filetype")), ..ObjectMeta::default() };
        if partial {
            meta.user.push((PARTIAL_MARK.0.to_string(), PARTIAL_MARK.1.to_string()));
        }
        Ok(Creation { bucket, key, meta })
    }

    /// The creation extension, with creation-with-upload when a body is sent,
    /// creation-defer-length, and concatenation.
    async fn create(&self, parts: &Parts, body: Body) -> TusResult<Response> {
        let concat = parse_concat(parts)?;
        if let Concat::Final(urls) = concat {
            return self.create_final(parts, &urls).await;
        }
        let deferred = match header(parts, "upload-defer-length") {
            None => false,
            Some("1") => true,
            Some(_) => return Err(TusError::bad_request("Upload-Defer-Length must be 1")),
        };
        let length = number_header(parts, "upload-length")?;
        let length = match (length, deferred) {
            (Some(_), true) => {
                return Err(TusError::bad_request("send Upload-Length or Upload-Defer-Length, not both"));
            }
            (None, false) => return Err(TusError::bad_request("POST needs Upload-Length or Upload-Defer-Length: 1")),
            (length, _) => length,
        };
        if let Some(length) = length {
            self.check_size(length)?;
        }
        let creation = self.creation(parts, matches!(concat, Concat::Partial))?;
        let (signed_hash, who) = self.authenticate(parts, &creation.bucket)?;
        Self::authorize(who.as_ref(), &creation.bucket, &creation.key)?;
        if let Some(length) = length {
            Self::within_limit(who.as_ref(), length)?;
        }
        let session = self.create_upload_session("tus", &creation).await?;
        let upload = UploadId { bucket: creation.bucket, session: session.id.clone(), legacy_length: None };
        let mut progress = UploadProgress { offset: 0, appends: 0, length, published: false };
        if let Some(length) = length {
            self.engine.declare_upload_length(&session, length).await?;
        }
        let has_body = header(parts, "content-type") == Some("application/offset+octet-stream");
        if has_body {
            progress = self.append(parts, body, &session, 0, signed_hash, true, who.as_ref()).await?;
        }
        self.finish_if_complete(&session, &progress).await?;
        let mut response = Response::new(ferry_http::empty());
        *response.status_mut() = StatusCode::CREATED;
        ferry_http::response::set(&mut response, "location", self.location(&upload));
        if has_body {
            ferry_http::response::set(&mut response, "upload-offset", progress.offset.to_string());
        }
        Self::lifetime_headers(&mut response, &session);
        Ok(response)
    }

    /// An upload's URL. Bucket names are lower-case letters, digits, dots and hyphens: safe in
    /// a path as they are.
    pub(crate) fn location(&self, upload: &UploadId) -> String {
        format!("{}/{}/{}", self.config.path, upload.bucket, upload.segment())
    }

    /// The upload a URL in `Upload-Concat: final;…` names: absolute (`http://host/files/b/id`,
    /// as tus-js-client sends them) or a path.
    fn partial_of(&self, url: &str) -> TusResult<UploadId> {
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("", |at| &rest[at..]),
            None => url,
        };
        let rest = path
            .strip_prefix(self.config.path.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| TusError::bad_request(format!("{url} is not an upload of this server")))?;
        UploadId::parse(rest).ok_or_else(|| TusError::bad_request(format!("{url} is not an upload URL")))
    }

    /// `Upload-Concat: final;…`: publish the partial uploads, in order, as one object, by
    /// metadata only. The caller needs write on the final key and on every partial's key, and
    /// every partial must be a complete partial upload in the same bucket.
    async fn create_final(&self, parts: &Parts, urls: &[String]) -> TusResult<Response> {
        if parts.headers.contains_key("upload-length") {
            return Err(TusError::bad_request("a final upload takes its length from its partial uploads"));
        }
        let creation = self.creation(parts, false)?;
        let (_, who) = self.authenticate(parts, &creation.bucket)?;
        Self::authorize(who.as_ref(), &creation.bucket, &creation.key)?;
        let mut sources = Vec::with_capacity(urls.len());
        let mut total = 0u64;
        for url in urls {
            let partial = self.partial_of(url)?;
            if partial.bucket != creation.bucket {
                return Err(TusError::new(
                    StatusCode::FORBIDDEN,
                    format!("{url} is an upload to another bucket than the final upload's"),
                ));
            }
            let session = self.open_as(&partial, who.as_ref()).await?;
            if !is_partial(&session) {
                return Err(TusError::bad_request(format!("{url} is not a partial upload (Upload-Concat: partial)")));
            }
            let progress = self.progress(&session, &partial).await?;
            if !progress.complete() || progress.published {
                return Err(TusError::bad_request(format!("the partial upload {url} is not complete")));
            }
            total = total.saturating_add(progress.offset);
            sources.push(session);
        }
        Self::within_limit(who.as_ref(), total)?;
        let session = self.create_upload_session("tus", &creation).await?;
        if let Err(e) = self.engine.concat_uploads(&session, &sources).await {
            // Nothing was published; the empty final session is of no use to anyone.
            let _ = self.engine.abort(&session).await;
            return Err(e.into());
        }
        let upload = UploadId { bucket: creation.bucket, session: session.id.clone(), legacy_length: None };
        let mut response = Response::new(ferry_http::empty());
        *response.status_mut() = StatusCode::CREATED;
        ferry_http::response::set(&mut response, "location", self.location(&upload));
        Ok(response)
    }
}
