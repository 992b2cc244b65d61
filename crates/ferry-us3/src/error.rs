//! US3's error table: every error ferry answers in US3 with its HTTP status and `RetCode`, and
//! the conversions from engine and kit errors (exhaustive: a new engine error must get a row
//! here). On the wire: JSON `{"RetCode", "ErrMsg"}` with `Content-Type: application/json`
//! exactly (the SDK parses error bodies only then).

use ferry_core::Error;
use ferry_http::{BodyHeaderError, Response};
use http::StatusCode;

impl Us3Error {
    pub fn new(status: StatusCode, ret_code: i64, message: impl Into<String>) -> Self {
        Us3Error { status, ret_code, message: message.into() }
    }
}

ferry_http::error_table! {
    /// A US3 error response: HTTP status, `RetCode` and message (`ErrMsg`).
    pub struct Us3Error { ret_code: i64 }
    codes {
        bad_request => BAD_REQUEST, -148643;
        unauthorized => FORBIDDEN, -148651;
        not_found => NOT_FOUND, -148654;
        no_such_bucket => BAD_REQUEST, -30010;
        bucket_already_exists => CONFLICT, -30011;
        bucket_not_empty => CONFLICT, -30012;
        invalid_range => RANGE_NOT_SATISFIABLE, -148650;
        busy => CONFLICT, -148660;
        insufficient_storage => INSUFFICIENT_STORAGE, -148670;
        precondition_failed => PRECONDITION_FAILED, -148612;
        internal_error => INTERNAL_SERVER_ERROR, -1;
        damaged => CONFLICT, -148680;
    }
    from Error as (e, message) {
        Error::NoSuchBucket => no_such_bucket("bucket not exist"),
        Error::NoSuchKey => not_found("file not exist"),
        Error::NoSuchUpload => not_found("upload id not exist"),
        Error::AccessDenied(_) => unauthorized(message),
        Error::BucketAlreadyExists => bucket_already_exists("bucket already exists"),
        Error::BucketNotEmpty => bucket_not_empty("bucket not empty"),
        Error::InvalidRange { .. } => invalid_range(message),
        Error::Busy => busy(message),
        Error::InsufficientStorage(_) => insufficient_storage(format!(
            "storage is full: delete files or abort uploads to free space ({message})"
        )),
        Error::PreconditionFailed(_) => precondition_failed(message),
        // 409, not 500: retrying cannot repair damaged bytes.
        Error::Damaged(_) => damaged(message),
        Error::Critical(_) | Error::Meta(_) | Error::Blob(_) => internal_error("internal error; retry"),
        Error::InvalidBucketName(_)
        | Error::InvalidKey(_)
        | Error::KeyTooLong(_)
        | Error::InvalidPart(_)
        | Error::MissingPart(_)
        | Error::PartSizeMismatch { .. }
        | Error::InvalidPartOrder
        | Error::EntityTooSmall { .. }
        | Error::EntityTooLarge { .. }
        | Error::InvalidArgument(_)
        | Error::ChecksumMismatch { .. }
        | Error::IncompleteBody(_)
        | Error::Table(_) => bad_request(message),
    }
    from BodyHeaderError as (e, message) {
        // The same answer the engine gives a body that grows past the limit.
        BodyHeaderError::TooLarge { max } => bad_request(Error::EntityTooLarge { max }.to_string()),
        BodyHeaderError::LengthNotANumber(_)
        | BodyHeaderError::MissingContentLength
        | BodyHeaderError::MissingLengthHeader(_)
        | BodyHeaderError::InvalidMd5
        | BodyHeaderError::InvalidChecksum(_) => bad_request(message),
    }
}

pub type Us3Result<T> = Result<T, Us3Error>;

/// The US3 error document.
pub fn render(e: &Us3Error) -> Response {
    ferry_http::response::json(e.status, &serde_json::json!({"RetCode": e.ret_code, "ErrMsg": e.message}))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_error_table_maps_every_variant_by_name() {
        let source = include_str!("error.rs");
        assert_eq!(ferry_http::errors::check_no_wildcard_arms(source), Ok(()));
    }

    #[test]
    fn engine_errors_get_us3_ret_codes() {
        let e = super::Us3Error::from(ferry_core::Error::NoSuchBucket);
        assert_eq!((e.status, e.ret_code), (http::StatusCode::BAD_REQUEST, -30010));
        let e = super::Us3Error::from(ferry_core::Error::InvalidPartOrder);
        assert_eq!((e.status, e.ret_code), (http::StatusCode::BAD_REQUEST, -148643));
        let e = super::Us3Error::from(ferry_http::BodyHeaderError::TooLarge { max: 4 });
        assert_eq!(e.message, ferry_core::Error::EntityTooLarge { max: 4 }.to_string());
    }
}
