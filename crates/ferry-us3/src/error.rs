//! US3 errors: JSON `{"RetCode", "ErrMsg"}` with `Content-Type: application/json` exactly (the
//! SDK parses error bodies only then) and the HTTP status the SDK expects.

use ferry_core::Error;
use ferry_http::Response;
use http::StatusCode;

#[derive(Debug, Clone)]
pub struct Us3Error {
    pub status: StatusCode,
    pub ret_code: i64,
    pub message: String,
}

impl Us3Error {
    pub fn new(status: StatusCode, ret_code: i64, message: impl Into<String>) -> Self {
        Us3Error { status, ret_code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Us3Error::new(StatusCode::BAD_REQUEST, -148643, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Us3Error::new(StatusCode::FORBIDDEN, -148651, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Us3Error::new(StatusCode::NOT_FOUND, -148654, message)
    }
}

impl From<Error> for Us3Error {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::NoSuchBucket => Us3Error::new(StatusCode::BAD_REQUEST, -30010, "bucket not exist"),
            Error::NoSuchKey => Us3Error::not_found("file not exist"),
            Error::NoSuchUpload => Us3Error::not_found("upload id not exist"),
            Error::AccessDenied(_) => Us3Error::new(StatusCode::FORBIDDEN, -148651, message),
            Error::BucketAlreadyExists => Us3Error::new(StatusCode::CONFLICT, -30011, "bucket already exists"),
            Error::BucketNotEmpty => Us3Error::new(StatusCode::CONFLICT, -30012, "bucket not empty"),
            Error::InvalidRange { .. } => Us3Error::new(StatusCode::RANGE_NOT_SATISFIABLE, -148650, message),
            Error::Busy => Us3Error::new(StatusCode::CONFLICT, -148660, message),
            Error::InsufficientStorage(_) => Us3Error::new(
                StatusCode::INSUFFICIENT_STORAGE,
                -148670,
                format!("storage is full: delete files or abort uploads to free space ({message})"),
            ),
            Error::PreconditionFailed(_) => Us3Error::new(StatusCode::PRECONDITION_FAILED, -148612, message),
            // 409, not 500: retrying cannot repair damaged bytes.
            Error::Damaged(_) => Us3Error::new(StatusCode::CONFLICT, -148680, message),
            Error::Critical(_) | Error::Meta(_) | Error::Blob(_) => {
                tracing::error!(error = %message, "internal error");
                Us3Error::new(StatusCode::INTERNAL_SERVER_ERROR, -1, "internal error; retry")
            }
            _ => Us3Error::bad_request(message),
        }
    }
}

pub type Us3Result<T> = Result<T, Us3Error>;

pub fn render(e: &Us3Error) -> Response {
    let body = serde_json::json!({"RetCode": e.ret_code, "ErrMsg": e.message}).to_string();
    let mut r = Response::new(ferry_http::full(body));
    *r.status_mut() = e.status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}
