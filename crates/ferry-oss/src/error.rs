//! OSS's error table and the one conversion from engine errors. HEAD errors carry the error
//! document base64-encoded in `x-oss-err`, since a HEAD response has no body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::{Error, PreconditionFailure};
use ferry_http::Response;
use ferry_http::xml::{XmlError, XmlWriter};
use http::StatusCode;

#[derive(Debug, Clone)]
pub struct OssError {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
}

macro_rules! oss_errors {
    ($($fn_name:ident => $code:literal, $status:ident;)*) => {
        impl OssError {
            $(pub fn $fn_name(message: impl Into<String>) -> Self {
                OssError { code: $code, status: StatusCode::$status, message: message.into() }
            })*
        }
    };
}

oss_errors! {
    access_denied => "AccessDenied", FORBIDDEN;
    bucket_already_exists => "BucketAlreadyExists", CONFLICT;
    bucket_not_empty => "BucketNotEmpty", CONFLICT;
    entity_too_large => "EntityTooLarge", BAD_REQUEST;
    entity_too_small => "EntityTooSmall", BAD_REQUEST;
    incomplete_body => "IncompleteBody", BAD_REQUEST;
    insufficient_storage => "InsufficientStorage", INSUFFICIENT_STORAGE;
    internal_error => "InternalError", INTERNAL_SERVER_ERROR;
    invalid_access_key_id => "InvalidAccessKeyId", FORBIDDEN;
    invalid_argument => "InvalidArgument", BAD_REQUEST;
    invalid_bucket_name => "InvalidBucketName", BAD_REQUEST;
    invalid_digest => "InvalidDigest", BAD_REQUEST;
    invalid_object_name => "InvalidObjectName", BAD_REQUEST;
    invalid_part => "InvalidPart", BAD_REQUEST;
    invalid_part_order => "InvalidPartOrder", BAD_REQUEST;
    invalid_range => "InvalidRange", RANGE_NOT_SATISFIABLE;
    malformed_xml => "MalformedXML", BAD_REQUEST;
    method_not_allowed => "MethodNotAllowed", METHOD_NOT_ALLOWED;
    missing_content_length => "MissingContentLength", LENGTH_REQUIRED;
    no_such_bucket => "NoSuchBucket", NOT_FOUND;
    no_such_key => "NoSuchKey", NOT_FOUND;
    no_such_upload => "NoSuchUpload", NOT_FOUND;
    not_implemented => "NotImplemented", NOT_IMPLEMENTED;
    operation_aborted => "OperationAborted", CONFLICT;
    request_time_too_skewed => "RequestTimeTooSkewed", FORBIDDEN;
    signature_does_not_match => "SignatureDoesNotMatch", FORBIDDEN;
    bad_digest => "InvalidDigest", BAD_REQUEST;
    callback_failed => "CallbackFailed", NON_AUTHORITATIVE_INFORMATION;
    file_already_exists => "FileAlreadyExists", CONFLICT;
    precondition_failed => "PreconditionFailed", PRECONDITION_FAILED;
}

impl From<Error> for OssError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::NoSuchBucket => OssError::no_such_bucket("The specified bucket does not exist."),
            Error::BucketAlreadyExists => {
                OssError::bucket_already_exists("The requested bucket name is not available.")
            }
            Error::BucketNotEmpty => OssError::bucket_not_empty("The bucket you tried to delete is not empty."),
            Error::InvalidBucketName(_) => OssError::invalid_bucket_name("The specified bucket is not valid."),
            Error::InvalidKey(_) | Error::KeyTooLong(_) => OssError::invalid_object_name(message),
            Error::NoSuchKey => OssError::no_such_key("The specified key does not exist."),
            Error::AccessDenied(_) => OssError::access_denied(message),
            Error::NoSuchUpload => OssError::no_such_upload("The specified upload does not exist."),
            Error::InvalidPart(_) | Error::MissingPart(_) | Error::PartSizeMismatch { .. } => {
                OssError::invalid_part(message)
            }
            Error::InvalidPartOrder => OssError::invalid_part_order("The list of parts was not in ascending order."),
            Error::EntityTooSmall { .. } => OssError::entity_too_small(message),
            Error::EntityTooLarge { .. } => OssError::entity_too_large(message),
            Error::InvalidArgument(_) => OssError::invalid_argument(message),
            Error::ChecksumMismatch { .. } => OssError::bad_digest("The Content-MD5 you specified is not valid."),
            Error::IncompleteBody(_) => OssError::incomplete_body(message),
            Error::InvalidRange { .. } => OssError::invalid_range("The requested range is not satisfiable"),
            Error::Busy => OssError::operation_aborted("A conflicting operation is in progress; retry."),
            // Only x-oss-forbid-overwrite asks for an absent key; OSS answers it with 409.
            Error::PreconditionFailed(PreconditionFailure::ObjectExists) => {
                OssError::file_already_exists("The object you specified already exists and can not be overwritten.")
            }
            Error::PreconditionFailed(_) => {
                OssError::precondition_failed("At least one of the pre-conditions you specified did not hold.")
            }
            Error::Table(_) => OssError::invalid_argument(message),
            Error::InsufficientStorage(_) => OssError::insufficient_storage(format!(
                "The server's storage is full: delete objects or abort uploads to free space. ({message})"
            )),
            Error::Critical(_) | Error::Meta(_) | Error::Blob(_) => {
                tracing::error!(error = %message, "internal error");
                OssError::internal_error("We encountered an internal error. Please try again.")
            }
        }
    }
}

impl From<XmlError> for OssError {
    fn from(e: XmlError) -> Self {
        OssError::malformed_xml(e.0)
    }
}

pub type OssResult<T> = Result<T, OssError>;

/// The OSS error document; for HEAD, an empty body and the document in `x-oss-err`.
pub fn render(e: &OssError, request_id: &str, head: bool) -> Response {
    let mut w = XmlWriter::plain("Error");
    w.elem("Code", e.code).elem("Message", &e.message).elem("RequestId", request_id).elem("HostId", "ferry");
    let body = w.finish("Error");
    let mut r = if head {
        let mut r = Response::new(ferry_http::empty());
        if let Ok(v) = http::HeaderValue::from_str(&B64.encode(body.as_bytes())) {
            r.headers_mut().insert("x-oss-err", v);
        }
        r
    } else {
        let mut r = Response::new(ferry_http::full(body));
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
        r
    };
    *r.status_mut() = e.status;
    r
}
