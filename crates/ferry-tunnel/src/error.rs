//! ODPS errors: `<Error><Code/><Message/><RequestId/><HostId/></Error>` (pyodps needs all four
//! elements) with the code naming the client's exception class (`NoSuchTable`, ...). Client
//! errors are 4xx: pyodps retries tunnel calls on 5xx, so a refused block would be sent again.

use ferry_core::{Error, TableError};
use ferry_http::Response;
use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdpsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type OdpsResult<T> = Result<T, OdpsError>;

impl OdpsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OdpsError { status, code, message: message.into() }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        OdpsError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub fn no_such_object(message: impl Into<String>) -> Self {
        OdpsError::new(StatusCode::NOT_FOUND, "NoSuchObject", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        OdpsError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn signature_not_match(message: impl Into<String>) -> Self {
        OdpsError::new(StatusCode::FORBIDDEN, "SignatureNotMatch", message)
    }
}

impl From<Error> for OdpsError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::Table(t) => match t {
                TableError::NoSuchTable(_) => OdpsError::new(StatusCode::NOT_FOUND, "NoSuchTable", message),
                TableError::NoSuchPartition(..) => OdpsError::new(StatusCode::NOT_FOUND, "NoSuchPartition", message),
                TableError::TableExists(_) | TableError::PartitionExists(..) => {
                    OdpsError::new(StatusCode::CONFLICT, "ObjectAlreadyExists", message)
                }
                TableError::Modified(_) => OdpsError::new(StatusCode::CONFLICT, "TableModified", message),
                // The request was fine; the stored table is not. 409 tells clients not to retry.
                TableError::Corrupt(_) => OdpsError::new(StatusCode::CONFLICT, "TableCorrupt", message),
            },
            Error::NoSuchUpload => OdpsError::new(StatusCode::NOT_FOUND, "NoSuchUpload", message),
            Error::AccessDenied(_) => OdpsError::new(StatusCode::FORBIDDEN, "AccessDenied", message),
            Error::NoSuchBucket | Error::NoSuchKey => OdpsError::no_such_object(message),
            Error::InvalidPart(block) => OdpsError::invalid_argument(format!(
                "the block list does not match the blocks the server holds (block {block} differs); nothing was committed"
            )),
            Error::Busy => OdpsError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", message),
            Error::PreconditionFailed(_) => {
                OdpsError::new(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", message)
            }
            Error::BucketAlreadyExists | Error::BucketNotEmpty => {
                OdpsError::new(StatusCode::CONFLICT, "ObjectAlreadyExists", message)
            }
            Error::InvalidBucketName(_)
            | Error::InvalidKey(_)
            | Error::KeyTooLong(_)
            | Error::InvalidPartOrder
            | Error::MissingPart(_)
            | Error::PartSizeMismatch { .. }
            | Error::EntityTooSmall { .. }
            | Error::EntityTooLarge { .. }
            | Error::InvalidArgument(_)
            | Error::ChecksumMismatch { .. }
            | Error::IncompleteBody(_)
            | Error::InvalidRange { .. } => OdpsError::invalid_argument(message),
            Error::InsufficientStorage(_) => OdpsError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "InsufficientStorage",
                format!("the server's storage is full: drop tables or partitions to free space ({message})"),
            ),
            Error::Critical(_) | Error::Meta(_) | Error::Blob(_) => {
                tracing::error!(error = %message, "internal error");
                OdpsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "internal error; retry")
            }
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn render(e: &OdpsError, request_id: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
         <RequestId>{request_id}</RequestId><HostId>ferry</HostId></Error>",
        e.code,
        escape(&e.message)
    );
    let mut r = Response::new(ferry_http::full(body));
    *r.status_mut() = e.status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    r
}
