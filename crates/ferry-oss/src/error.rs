//! OSS's error table: every error ferry answers in OSS with its status and code, and the
//! conversions from engine and kit errors (exhaustive: a new engine error must get a row here).
//! HEAD errors carry the error document base64-encoded in `x-oss-err`, since a HEAD response has
//! no body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::{Error, PreconditionFailure};
use ferry_http::xml::{XmlError, XmlWriter};
use ferry_http::{BodyHeaderError, Response};

ferry_http::error_table! {
    /// An OSS error response: code, HTTP status and message.
    pub struct OssError { code: &'static str }
    codes {
        access_denied => FORBIDDEN, "AccessDenied";
        bad_digest => BAD_REQUEST, "InvalidDigest";
        bucket_already_exists => CONFLICT, "BucketAlreadyExists";
        bucket_not_empty => CONFLICT, "BucketNotEmpty";
        callback_failed => NON_AUTHORITATIVE_INFORMATION, "CallbackFailed";
        entity_too_large => BAD_REQUEST, "EntityTooLarge";
        entity_too_small => BAD_REQUEST, "EntityTooSmall";
        file_already_exists => CONFLICT, "FileAlreadyExists";
        incomplete_body => BAD_REQUEST, "IncompleteBody";
        insufficient_storage => INSUFFICIENT_STORAGE, "InsufficientStorage";
        internal_error => INTERNAL_SERVER_ERROR, "InternalError";
        invalid_object_state => CONFLICT, "InvalidObjectState";
        invalid_access_key_id => FORBIDDEN, "InvalidAccessKeyId";
        invalid_argument => BAD_REQUEST, "InvalidArgument";
        invalid_bucket_name => BAD_REQUEST, "InvalidBucketName";
        invalid_digest => BAD_REQUEST, "InvalidDigest";
        invalid_object_name => BAD_REQUEST, "InvalidObjectName";
        invalid_part => BAD_REQUEST, "InvalidPart";
        invalid_part_order => BAD_REQUEST, "InvalidPartOrder";
        invalid_range => RANGE_NOT_SATISFIABLE, "InvalidRange";
        invalid_security_token => FORBIDDEN, "InvalidSecurityToken";
        malformed_xml => BAD_REQUEST, "MalformedXML";
        method_not_allowed => METHOD_NOT_ALLOWED, "MethodNotAllowed";
        missing_content_length => LENGTH_REQUIRED, "MissingContentLength";
        no_such_bucket => NOT_FOUND, "NoSuchBucket";
        no_such_key => NOT_FOUND, "NoSuchKey";
        no_such_lifecycle => NOT_FOUND, "NoSuchLifecycle";
        no_such_upload => NOT_FOUND, "NoSuchUpload";
        not_implemented => NOT_IMPLEMENTED, "NotImplemented";
        operation_aborted => CONFLICT, "OperationAborted";
        precondition_failed => PRECONDITION_FAILED, "PreconditionFailed";
        request_time_too_skewed => FORBIDDEN, "RequestTimeTooSkewed";
        signature_does_not_match => FORBIDDEN, "SignatureDoesNotMatch";
    }
    from Error as (e, message) {
        Error::NoSuchBucket => no_such_bucket("The specified bucket does not exist."),
        Error::BucketAlreadyExists => bucket_already_exists("The requested bucket name is not available."),
        Error::BucketNotEmpty => bucket_not_empty("The bucket you tried to delete is not empty."),
        Error::InvalidBucketName(_) => invalid_bucket_name("The specified bucket is not valid."),
        Error::InvalidKey(_) | Error::KeyTooLong(_) => invalid_object_name(message),
        Error::NoSuchKey => no_such_key("The specified key does not exist."),
        Error::AccessDenied(_) => access_denied(message),
        Error::NoSuchUpload => no_such_upload("The specified upload does not exist."),
        Error::InvalidPart(_) | Error::MissingPart(_) | Error::PartSizeMismatch { .. } => invalid_part(message),
        Error::InvalidPartOrder => invalid_part_order("The list of parts was not in ascending order."),
        Error::EntityTooSmall { .. } => entity_too_small(message),
        Error::EntityTooLarge { .. } => entity_too_large(message),
        Error::InvalidArgument(_) => invalid_argument(message),
        Error::ChecksumMismatch { .. } => bad_digest("The Content-MD5 you specified is not valid."),
        Error::IncompleteBody(_) => incomplete_body(message),
        Error::InvalidRange { .. } => invalid_range("The requested range is not satisfiable"),
        Error::Busy => operation_aborted("A conflicting operation is in progress; retry."),
        // Only x-oss-forbid-overwrite asks for an absent key; OSS answers it with 409.
        Error::PreconditionFailed(PreconditionFailure::ObjectExists) => file_already_exists(
            "The object you specified already exists and can not be overwritten."
        ),
        Error::PreconditionFailed(_) => precondition_failed(
            "At least one of the pre-conditions you specified did not hold."
        ),
        Error::Table(_) => invalid_argument(message),
        Error::InsufficientStorage(_) => insufficient_storage(format!(
            "The server's storage is full: delete objects or abort uploads to free space. ({message})"
        )),
        // 409, not 500: SDKs retry 5xx, and retrying cannot repair damaged bytes.
        Error::Damaged(_) => invalid_object_state(message),
        Error::Critical(_) | Error::Meta(_) | Error::Blob(_) => internal_error(
            "We encountered an internal error. Please try again."
        ),
    }
    from XmlError as (e, message) {
        XmlError(m) => malformed_xml(m),
    }
    from BodyHeaderError as (e, message) {
        BodyHeaderError::LengthNotANumber(_) => invalid_argument(message),
        BodyHeaderError::MissingContentLength | BodyHeaderError::MissingLengthHeader(_) => missing_content_length(
            "You must provide the Content-Length HTTP header."
        ),
        BodyHeaderError::TooLarge { max } => entity_too_large(format!(
            "Your proposed upload exceeds the maximum allowed size of {max} bytes."
        )),
        BodyHeaderError::InvalidMd5 => invalid_digest("The Content-MD5 you specified is not valid."),
        BodyHeaderError::InvalidChecksum(_) => invalid_argument(message),
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_error_table_maps_every_variant_by_name() {
        let source = include_str!("error.rs");
        assert_eq!(ferry_http::errors::check_no_wildcard_arms(source), Ok(()));
    }

    #[test]
    fn engine_errors_get_oss_codes() {
        use ferry_core::{Error, PreconditionFailure};
        let e = super::OssError::from(Error::PreconditionFailed(PreconditionFailure::ObjectExists));
        assert_eq!((e.status, e.code), (http::StatusCode::CONFLICT, "FileAlreadyExists"));
        let e = super::OssError::from(ferry_http::BodyHeaderError::InvalidMd5);
        assert_eq!((e.status, e.code), (http::StatusCode::BAD_REQUEST, "InvalidDigest"));
    }
}
