//! One error table for both protocols: every refusal is a status and a message; the IETF draft
//! adds a problem type (RFC 9457 problem details) and its extension members. tus answers with
//! a plain-text body, the IETF draft with `application/problem+json`.

use ferry_core::{AppendError, Error};
use ferry_http::Response;
use http::StatusCode;

/// The draft's problem types (draft-ietf-httpbis-resumable-upload-05, "Problem Types").
pub(crate) const MISMATCHING_OFFSET: &str = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset";
pub(crate) const COMPLETED_UPLOAD: &str = "https://iana.org/assignments/http-problem-types#completed-upload";
pub(crate) const INCONSISTENT_LENGTH: &str =
    "https://iana.org/assignments/http-problem-types#inconsistent-upload-length";

/// A refusal.
#[derive(Debug)]
pub(crate) struct TusError {
    pub status: StatusCode,
    pub message: String,
    /// The IETF problem type, when the draft names one.
    pub problem: Option<&'static str>,
    /// Extension members of the problem (`expected-offset`, `provided-offset`).
    pub members: Vec<(&'static str, u64)>,
}

pub(crate) type TusResult<T> = Result<T, TusError>;

impl TusError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        TusError { status, message: message.into(), problem: None, members: Vec::new() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn problem(mut self, problem: &'static str) -> Self {
        self.problem = Some(problem);
        self
    }
    /// 409: the request's offset is not the upload's.
    pub fn mismatching_offset(offset: u64, claimed: u64) -> Self {
        let mut e =
            Self::new(StatusCode::CONFLICT, format!("Upload-Offset is {claimed}, the upload's offset is {offset}"))
                .problem(MISMATCHING_OFFSET);
        e.members = vec![("expected-offset", offset), ("provided-offset", claimed)];
        e
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

impl From<AppendError> for TusError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Conflict { offset, claimed } => TusError::mismatching_offset(offset, claimed),
            AppendError::LengthMismatch { .. } => TusError::bad_request(e.to_string()).problem(INCONSISTENT_LENGTH),
            AppendError::LengthExceeded { .. } => {
                TusError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).problem(INCONSISTENT_LENGTH)
            }
            AppendError::Completed => TusError::bad_request(e.to_string()).problem(COMPLETED_UPLOAD),
            // tusd: ERR_UPLOAD_NOT_FINISHED, 400.
            AppendError::Incomplete(_) => TusError::bad_request(e.to_string()),
            AppendError::Engine(e) => e.into(),
        }
    }
}

/// The error as a response: tus's plain text, or the IETF draft's problem details.
pub(crate) fn render(e: &TusError, ietf: bool) -> Response {
    let (body, content_type) = if ietf {
        let mut doc = serde_json::json!({
            "type": e.problem.unwrap_or("about:blank"),
            "title": e.message,
            "status": e.status.as_u16(),
        });
        for (name, value) in &e.members {
            doc[*name] = serde_json::json!(value);
        }
        (doc.to_string(), "application/problem+json")
    } else {
        (format!("{}\n", e.message), "text/plain; charset=utf-8")
    };
    let mut response = Response::new(ferry_http::full(body));
    *response.status_mut() = e.status;
    ferry_http::response::set(&mut response, "content-type", content_type);
    response
}
