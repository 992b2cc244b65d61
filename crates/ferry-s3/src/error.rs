//! S3's error table: every error ferry answers in S3 with its status and code, and the
//! conversions from engine and kit errors (exhaustive: a new engine error must get a row here).

use ferry_core::{DigestKind, Error};
use ferry_http::BodyHeaderError;
use ferry_http::xml::XmlError;
use http::StatusCode;

impl S3Error {
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        S3Error { code, status, message: message.into() }
    }
}

ferry_http::error_table! {
    /// An S3 error response: code, HTTP status and message.
    pub struct S3Error { code: &'static str }
    codes {
        access_control_list_not_supported => BAD_REQUEST, "AccessControlListNotSupported";
        access_denied => FORBIDDEN, "AccessDenied";
        authorization_header_malformed => BAD_REQUEST, "AuthorizationHeaderMalformed";
        authorization_query_parameters_error => BAD_REQUEST, "AuthorizationQueryParametersError";
        bad_digest => BAD_REQUEST, "BadDigest";
        bucket_already_owned_by_you => CONFLICT, "BucketAlreadyOwnedByYou";
        bucket_not_empty => CONFLICT, "BucketNotEmpty";
        entity_too_large => BAD_REQUEST, "EntityTooLarge";
        entity_too_small => BAD_REQUEST, "EntityTooSmall";
        incomplete_body => BAD_REQUEST, "IncompleteBody";
        insufficient_storage => INSUFFICIENT_STORAGE, "InsufficientStorage";
        internal_error => INTERNAL_SERVER_ERROR, "InternalError";
        invalid_access_key_id => FORBIDDEN, "InvalidAccessKeyId";
        invalid_argument => BAD_REQUEST, "InvalidArgument";
        invalid_bucket_name => BAD_REQUEST, "InvalidBucketName";
        invalid_digest => BAD_REQUEST, "InvalidDigest";
        invalid_part => BAD_REQUEST, "InvalidPart";
        invalid_part_number => RANGE_NOT_SATISFIABLE, "InvalidPartNumber";
        invalid_part_order => BAD_REQUEST, "InvalidPartOrder";
        invalid_range => RANGE_NOT_SATISFIABLE, "InvalidRange";
        invalid_object_state => CONFLICT, "InvalidObjectState";
        invalid_request => BAD_REQUEST, "InvalidRequest";
        key_too_long => BAD_REQUEST, "KeyTooLongError";
        malformed_acl_error => BAD_REQUEST, "MalformedACLError";
        malformed_xml => BAD_REQUEST, "MalformedXML";
        metadata_too_large => BAD_REQUEST, "MetadataTooLarge";
        method_not_allowed => METHOD_NOT_ALLOWED, "MethodNotAllowed";
        missing_content_length => LENGTH_REQUIRED, "MissingContentLength";
        no_such_bucket => NOT_FOUND, "NoSuchBucket";
        no_such_key => NOT_FOUND, "NoSuchKey";
        no_such_lifecycle_configuration => NOT_FOUND, "NoSuchLifecycleConfiguration";
        no_such_upload => NOT_FOUND, "NoSuchUpload";
        not_implemented => NOT_IMPLEMENTED, "NotImplemented";
        operation_aborted => CONFLICT, "OperationAborted";
        precondition_failed => PRECONDITION_FAILED, "PreconditionFailed";
        request_time_too_skewed => FORBIDDEN, "RequestTimeTooSkewed";
        sha256_mismatch => BAD_REQUEST, "XAmzContentSHA256Mismatch";
        signature_does_not_match => FORBIDDEN, "SignatureDoesNotMatch";
    }
    from Error as (e, message) {
        Error::NoSuchBucket => no_such_bucket("The specified bucket does not exist"),
        Error::BucketAlreadyExists => bucket_already_owned_by_you(
            "Your previous request to create the named bucket succeeded and you already own it.",
        ),
        Error::BucketNotEmpty => bucket_not_empty("The bucket you tried to delete is not empty"),
        Error::InvalidBucketName(_) => invalid_bucket_name("The specified bucket is not valid."),
        Error::KeyTooLong(_) => key_too_long("Your key is too long"),
        Error::InvalidKey(_) => invalid_argument(message),
        Error::NoSuchKey => no_such_key("The specified key does not exist."),
        Error::AccessDenied(_) => access_denied(message),
        Error::NoSuchUpload => no_such_upload(
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        ),
        Error::InvalidPart(_) | Error::MissingPart(_) | Error::PartSizeMismatch { .. } => invalid_part(format!(
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. ({message})"
        )),
        Error::InvalidPartOrder => invalid_part_order(
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ),
        Error::EntityTooSmall { .. } => entity_too_small(format!(
            "Your proposed upload is smaller than the minimum allowed object size. ({message})"
        )),
        Error::EntityTooLarge { .. } => entity_too_large(format!(
            "Your proposed upload exceeds the maximum allowed size. ({message})"
        )),
        Error::InvalidArgument(_) => invalid_argument(message),
        Error::ChecksumMismatch { kind: DigestKind::Md5, .. } => bad_digest(
            "The Content-MD5 you specified did not match what we received."
        ),
        Error::ChecksumMismatch { kind, .. } => bad_digest(format!(
            "The {kind} you specified did not match the calculated checksum."
        )),
        Error::IncompleteBody(_) => incomplete_body(format!(
            "You did not provide the number of bytes specified by the Content-Length HTTP header. ({message})"
        )),
        Error::InvalidRange { .. } => invalid_range("The requested range is not satisfiable"),
        Error::Busy => operation_aborted(
            "A conflicting conditional operation is currently in progress against this resource. Please try again.",
        ),
        Error::PreconditionFailed(_) => precondition_failed(
            "At least one of the pre-conditions you specified did not hold"
        ),
        Error::Table(_) => invalid_argument(message),
        Error::InsufficientStorage(_) => insufficient_storage(format!(
            "The server's storage is full: delete objects or abort uploads to free space, then retry. ({message})"
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
        BodyHeaderError::MissingContentLength => missing_content_length(
            "You must provide the Content-Length HTTP header."
        ),
        BodyHeaderError::MissingLengthHeader(name) => missing_content_length(format!(
            "You must provide {name} with aws-chunked bodies."
        )),
        BodyHeaderError::TooLarge { max } => entity_too_large(format!(
            "Your proposed upload exceeds the maximum allowed size of {max} bytes."
        )),
        BodyHeaderError::InvalidMd5 => invalid_digest("The Content-MD5 you specified was invalid."),
        BodyHeaderError::InvalidChecksum(name) => invalid_request(format!(
            "Value for {name} header is invalid."
        )),
    }
}

pub type S3Result<T> = Result<T, S3Error>;

#[cfg(test)]
mod tests {
    #[test]
    fn the_error_table_maps_every_variant_by_name() {
        let source = include_str!("error.rs");
        assert_eq!(ferry_http::errors::check_no_wildcard_arms(source), Ok(()));
    }

    #[test]
    fn engine_errors_get_s3_codes() {
        let e = super::S3Error::from(ferry_core::Error::NoSuchKey);
        assert_eq!((e.status, e.code), (http::StatusCode::NOT_FOUND, "NoSuchKey"));
        let e = super::S3Error::from(ferry_http::BodyHeaderError::MissingContentLength);
        assert_eq!((e.status, e.code), (http::StatusCode::LENGTH_REQUIRED, "MissingContentLength"));
        let e = super::S3Error::from(ferry_core::Error::Meta("disk".into()));
        assert_eq!((e.status, e.code), (http::StatusCode::INTERNAL_SERVER_ERROR, "InternalError"));
        assert!(!e.message.contains("disk"), "internal details stay in the log");
    }
}
