//! S3's error table and the one conversion from engine errors.

use ferry_core::{DigestKind, Error};
use http::StatusCode;

/// An S3 error response: code, HTTP status and message.
#[derive(Debug, Clone)]
pub struct S3Error {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
}

impl S3Error {
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        S3Error { code, status, message: message.into() }
    }
}

/// Constructors for every S3 error ferry returns, one place for codes and statuses.
macro_rules! s3_errors {
    ($($fn_name:ident => $code:literal, $status:ident;)*) => {
        impl S3Error {
            $(pub fn $fn_name(message: impl Into<String>) -> Self {
                S3Error::new($code, StatusCode::$status, message)
            })*
        }
    };
}

s3_errors! {
    access_control_list_not_supported => "AccessControlListNotSupported", BAD_REQUEST;
    access_denied => "AccessDenied", FORBIDDEN;
    authorization_header_malformed => "AuthorizationHeaderMalformed", BAD_REQUEST;
    authorization_query_parameters_error => "AuthorizationQueryParametersError", BAD_REQUEST;
    bad_digest => "BadDigest", BAD_REQUEST;
    bucket_already_owned_by_you => "BucketAlreadyOwnedByYou", CONFLICT;
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
    invalid_part => "InvalidPart", BAD_REQUEST;
    invalid_part_order => "InvalidPartOrder", BAD_REQUEST;
    invalid_range => "InvalidRange", RANGE_NOT_SATISFIABLE;
    invalid_request => "InvalidRequest", BAD_REQUEST;
    invalid_part_number => "InvalidPartNumber", RANGE_NOT_SATISFIABLE;
    key_too_long => "KeyTooLongError", BAD_REQUEST;
    malformed_acl_error => "MalformedACLError", BAD_REQUEST;
    malformed_xml => "MalformedXML", BAD_REQUEST;
    method_not_allowed => "MethodNotAllowed", METHOD_NOT_ALLOWED;
    missing_content_length => "MissingContentLength", LENGTH_REQUIRED;
    no_such_bucket => "NoSuchBucket", NOT_FOUND;
    no_such_key => "NoSuchKey", NOT_FOUND;
    no_such_upload => "NoSuchUpload", NOT_FOUND;
    not_implemented => "NotImplemented", NOT_IMPLEMENTED;
    operation_aborted => "OperationAborted", CONFLICT;
    precondition_failed => "PreconditionFailed", PRECONDITION_FAILED;
    request_time_too_skewed => "RequestTimeTooSkewed", FORBIDDEN;
    sha256_mismatch => "XAmzContentSHA256Mismatch", BAD_REQUEST;
    signature_does_not_match => "SignatureDoesNotMatch", FORBIDDEN;
}

impl From<Error> for S3Error {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::NoSuchBucket => S3Error::no_such_bucket("The specified bucket does not exist"),
            Error::BucketAlreadyExists => S3Error::bucket_already_owned_by_you(
                "Your previous request to create the named bucket succeeded and you already own it.",
            ),
            Error::BucketNotEmpty => S3Error::bucket_not_empty("The bucket you tried to delete is not empty"),
            Error::InvalidBucketName(_) => S3Error::invalid_bucket_name("The specified bucket is not valid."),
            Error::KeyTooLong(_) => S3Error::key_too_long("Your key is too long"),
            Error::InvalidKey(_) => S3Error::invalid_argument(message),
            Error::NoSuchKey => S3Error::no_such_key("The specified key does not exist."),
            Error::AccessDenied(_) => S3Error::access_denied(message),
            Error::NoSuchUpload => S3Error::no_such_upload(
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            ),
            Error::InvalidPart(_) | Error::MissingPart(_) | Error::PartSizeMismatch { .. } => {
                S3Error::invalid_part(format!(
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. ({message})"
                ))
            }
            Error::InvalidPartOrder => S3Error::invalid_part_order(
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ),
            Error::EntityTooSmall { .. } => S3Error::entity_too_small(format!(
                "Your proposed upload is smaller than the minimum allowed object size. ({message})"
            )),
            Error::EntityTooLarge { .. } => {
                S3Error::entity_too_large(format!("Your proposed upload exceeds the maximum allowed size. ({message})"))
            }
            Error::InvalidArgument(_) => S3Error::invalid_argument(message),
            Error::ChecksumMismatch { kind: DigestKind::Md5, .. } => {
                S3Error::bad_digest("The Content-MD5 you specified did not match what we received.")
            }
            Error::ChecksumMismatch { kind, .. } => {
                S3Error::bad_digest(format!("The {kind} you specified did not match the calculated checksum."))
            }
            Error::IncompleteBody(_) => S3Error::incomplete_body(format!(
                "You did not provide the number of bytes specified by the Content-Length HTTP header. ({message})"
            )),
            Error::InvalidRange { .. } => S3Error::invalid_range("The requested range is not satisfiable"),
            Error::Busy => S3Error::operation_aborted(
                "A conflicting conditional operation is currently in progress against this resource. Please try again.",
            ),
            Error::PreconditionFailed(_) => {
                S3Error::precondition_failed("At least one of the pre-conditions you specified did not hold")
            }
            Error::Table(_) => S3Error::invalid_argument(message),
            Error::InsufficientStorage(_) => S3Error::insufficient_storage(format!(
                "The server's storage is full: delete objects or abort uploads to free space, then retry. ({message})"
            )),
            Error::Critical(_) | Error::Meta(_) | Error::Blob(_) => {
                tracing::error!(error = %message, "internal error");
                S3Error::internal_error("We encountered an internal error. Please try again.")
            }
        }
    }
}

pub type S3Result<T> = Result<T, S3Error>;

impl From<ferry_http::xml::XmlError> for S3Error {
    fn from(e: ferry_http::xml::XmlError) -> Self {
        S3Error::malformed_xml(e.0)
    }
}
