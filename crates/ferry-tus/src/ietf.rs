//! The IETF draft "Resumable Uploads for HTTP" (draft-ietf-httpbis-resumable-upload-05,
//! interop version 6; draft -03, interop version 5, differs only in not naming the PATCH body
//! type): upload creation, offset retrieval, append and cancellation, on the same uploads and
//! engine rules as tus. Refusals are problem details (RFC 9457).
//!
//! `104 Upload Resumption Supported` is not sent: hyper 1's server has no way to send an
//! informational (1xx) response before the final one. Clients learn the upload URL from the
//! final response's `Location` instead (tus-js-client does).

use ferry_core::{Session, UploadProgress};
use ferry_http::{Body, Response};
use http::StatusCode;
use http::request::Parts;

use crate::error::{COMPLETED_UPLOAD, INCONSISTENT_LENGTH, TusError, TusResult};
use crate::router::Routed;
use crate::{Endpoint, TusFrontend, UploadId, header, is_partial, number_header};

/// The draft's `application/partial-upload` PATCH body type (interop version 6).
const PARTIAL_UPLOAD: &str = "application/partial-upload";

/// `Upload-Complete: ?1` / `?0` (a structured-field boolean). The draft requires it on
/// creation and append.
fn upload_complete(parts: &Parts) -> TusResult<bool> {
    match header(parts, "upload-complete").map(str::trim) {
        Some("?1") => Ok(true),
        Some("?0") => Ok(false),
        Some(_) => Err(TusError::bad_request("Upload-Complete must be ?1 or ?0")),
        None => Err(TusError::bad_request("the request needs Upload-Complete (?1 or ?0)")),
    }
}

fn sf_bool(value: bool) -> &'static str {
    if value { "?1" } else { "?0" }
}

impl TusFrontend {
    fn upload_limit(&self) -> String {
        format!("max-size={}", self.config.max_size)
    }

    /// Progress headers shared by creation, offset retrieval and append answers.
    fn ietf_progress_headers(&self, response: &mut Response, session: &Session, progress: &UploadProgress) {
        let complete = progress.published || (progress.complete() && !is_partial(session));
        ferry_http::response::set(response, "upload-offset", progress.offset.to_string());
        ferry_http::response::set(response, "upload-complete", sf_bool(complete));
        if let Some(length) = progress.length {
            ferry_http::response::set(response, "upload-length", length.to_string());
        }
        ferry_http::response::set(response, "upload-limit", self.upload_limit());
    }

    pub(crate) async fn dispatch_ietf(&self, routed: &Routed, parts: &Parts, body: Body) -> TusResult<Response> {
        let mut response = Response::new(ferry_http::empty());
        if let Some(interop) = routed.interop {
            ferry_http::response::set(&mut response, "upload-draft-interop-version", interop);
        }
        match (routed.endpoint, routed.upload.as_ref()) {
            (Endpoint::Discovery, _) => {
                *response.status_mut() = StatusCode::NO_CONTENT;
                ferry_http::response::set(&mut response, "upload-limit", self.upload_limit());
            }
            (Endpoint::IetfCreateUpload, _) => {
                let complete = upload_complete(parts)?;
                let creation = self.creation(parts, false)?;
                let (signed_hash, who) = self.authenticate(parts, &creation.bucket)?;
                Self::authorize(who.as_ref(), &creation.bucket, &creation.key)?;
                let length = self.announced_length(parts, 0, complete)?;
                if let Some(length) = length {
                    Self::within_limit(who.as_ref(), length)?;
                }
                let session = self.create_upload_session("ietf", &creation).await?;
                if let Some(length) = length {
                    self.engine.declare_upload_length(&session, length).await?;
                }
                let progress = self.append(parts, body, &session, 0, signed_hash, false, who.as_ref()).await?;
                let progress = self.complete_if_asked(&session, progress, complete).await?;
                let upload = UploadId { bucket: creation.bucket, session: session.id.clone(), legacy_length: None };
                *response.status_mut() = StatusCode::CREATED;
                ferry_http::response::set(&mut response, "location", self.location(&upload));
                self.ietf_progress_headers(&mut response, &session, &progress);
            }
            (Endpoint::IetfGetOffset, Some(upload)) => {
                let (_, who) = self.authenticate(parts, &upload.bucket)?;
                let session = self.open_as(upload, who.as_ref()).await?;
                let progress = self.progress(&session, upload).await?;
                // A commit that failed after the last append is finished here.
                self.finish_if_complete(&session, &progress).await?;
                *response.status_mut() = StatusCode::NO_CONTENT;
                ferry_http::response::set(&mut response, "cache-control", "no-store");
                self.ietf_progress_headers(&mut response, &session, &progress);
            }
            (Endpoint::IetfAppend, Some(upload)) => {
                let (signed_hash, who) = self.authenticate(parts, &upload.bucket)?;
                let session = self.open_as(upload, who.as_ref()).await?;
                if routed.interop == Some("6") && header(parts, "content-type") != Some(PARTIAL_UPLOAD) {
                    return Err(TusError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        format!("an append's body must be Content-Type: {PARTIAL_UPLOAD}"),
                    ));
                }
                let claimed = number_header(parts, "upload-offset")?
                    .ok_or_else(|| TusError::bad_request("an append needs Upload-Offset"))?;
                let complete = upload_complete(parts)?;
                let progress = self.progress(&session, upload).await?;
                if progress.published {
                    return Err(TusError::bad_request("the upload is complete").problem(COMPLETED_UPLOAD));
                }
                if claimed != progress.offset {
                    return Err(TusError::mismatching_offset(progress.offset, claimed));
                }
                if let Some(length) = self.announced_length(parts, claimed, complete)? {
                    Self::within_limit(who.as_ref(), length)?;
                    self.engine.declare_upload_length(&session, length).await?;
                }
                let progress = self.append(parts, body, &session, claimed, signed_hash, false, who.as_ref()).await?;
                let progress = self.complete_if_asked(&session, progress, complete).await?;
                *response.status_mut() = StatusCode::NO_CONTENT;
                self.ietf_progress_headers(&mut response, &session, &progress);
            }
            (Endpoint::IetfCancel, Some(upload)) => {
                let (_, who) = self.authenticate(parts, &upload.bucket)?;
                self.terminate(upload, who.as_ref()).await?;
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            _ => return Err(TusError::new(StatusCode::NOT_FOUND, "no such upload resource")),
        }
        Ok(response)
    }

    /// The upload's length as the request announces it: `Upload-Length`, or — on a request
    /// that completes the upload — where its body (`Content-Length`) ends. Both, differing, are
    /// an inconsistent length.
    fn announced_length(&self, parts: &Parts, offset: u64, complete: bool) -> TusResult<Option<u64>> {
        let declared = number_header(parts, "upload-length")?;
        let body_end = if complete { number_header(parts, "content-length")?.map(|n| offset + n) } else { None };
        let length = match (declared, body_end) {
            (Some(a), Some(b)) if a != b => {
                return Err(TusError::bad_request(format!(
                    "Upload-Length {a} does not match where this complete upload's body ends ({b})"
                ))
                .problem(INCONSISTENT_LENGTH));
            }
            (a, b) => a.or(b),
        };
        if let Some(length) = length {
            self.check_size(length)?;
        }
        Ok(length)
    }

    /// After an append: with `Upload-Complete: ?1` the upload ends here (its length becomes
    /// the offset if none was declared) and is published; else it stays open.
    async fn complete_if_asked(
        &self,
        session: &Session,
        mut progress: UploadProgress,
        complete: bool,
    ) -> TusResult<UploadProgress> {
        if complete && progress.length.is_none() {
            progress.length = Some(self.engine.declare_upload_length(session, progress.offset).await?);
        }
        self.finish_if_complete(session, &progress).await?;
        if progress.complete() && complete {
            progress.published = true;
        }
        Ok(progress)
    }
}
