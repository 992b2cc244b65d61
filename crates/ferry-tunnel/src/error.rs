//! ODPS errors: `<Error><Code/><Message/><RequestId/><HostId/></Error>` (pyodps needs all four
//! elements) with the code naming the client's exception class (`NoSuchTable`, ...); Tunnel
//! session calls answer the same fields as a JSON object, which is what the Java SDK parses. Client
//! errors are 4xx: pyodps retries tunnel calls on 5xx, so a refused block would be sent again.

use ferry_core::{Error, TableError};
use ferry_http::Response;
use ferry_http::xml::XmlWriter;
use http::StatusCode;

pub type OdpsResult<T> = Result<T, OdpsError>;

impl OdpsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OdpsError { status, code, message: message.into() }
    }
}

ferry_http::error_table! {
    /// An ODPS error response: HTTP status, code (the client's exception class) and message.
    pub struct OdpsError { code: &'static str }
    codes {
        access_denied => FORBIDDEN, "AccessDenied";
        insufficient_storage => INSUFFICIENT_STORAGE, "InsufficientStorage";
        internal_server_error => INTERNAL_SERVER_ERROR, "InternalServerError";
        invalid_argument => BAD_REQUEST, "InvalidArgument";
        no_such_object => NOT_FOUND, "NoSuchObject";
        no_such_partition => NOT_FOUND, "NoSuchPartition";
        no_such_table => NOT_FOUND, "NoSuchTable";
        no_such_upload => NOT_FOUND, "NoSuchUpload";
        object_already_exists => CONFLICT, "ObjectAlreadyExists";
        precondition_failed => PRECONDITION_FAILED, "PreconditionFailed";
        service_unavailable => SERVICE_UNAVAILABLE, "ServiceUnavailable";
        signature_not_match => FORBIDDEN, "SignatureNotMatch";
        // The request was fine; the stored table is not. 409 tells clients not to retry.
        table_corrupt => CONFLICT, "TableCorrupt";
        table_modified => CONFLICT, "TableModified";
        unauthorized => UNAUTHORIZED, "Unauthorized";
    }
    from Error as (e, message) {
        Error::Table(TableError::NoSuchTable(_)) => no_such_table(message),
        Error::Table(TableError::NoSuchPartition(..)) => no_such_partition(message),
        Error::Table(TableError::TableExists(_) | TableError::PartitionExists(..)) => object_already_exists(message),
        Error::Table(TableError::Modified(_)) => table_modified(message),
        Error::Table(TableError::Corrupt(_)) => table_corrupt(message),
        Error::NoSuchUpload => no_such_upload(message),
        Error::AccessDenied(_) => access_denied(message),
        Error::NoSuchBucket | Error::NoSuchKey => no_such_object(message),
        Error::InvalidPart(block) => invalid_argument(format!(
            "the block list does not match the blocks the server holds (block {block} differs); nothing was committed"
        )),
        Error::Busy => service_unavailable(message),
        Error::PreconditionFailed(_) => precondition_failed(message),
        Error::BucketAlreadyExists | Error::BucketNotEmpty => object_already_exists(message),
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
        | Error::InvalidRange { .. } => invalid_argument(message),
        Error::InsufficientStorage(_) => insufficient_storage(format!(
            "the server's storage is full: drop tables or partitions to free space ({message})"
        )),
        // Like a corrupt table: the stored file is bad, and 409 tells clients not to retry.
        Error::Damaged(_) => table_corrupt(message),
        Error::Critical(_) | Error::Meta(_) | Error::Blob(_) => internal_server_error("internal error; retry"),
    }
}

/// The Tunnel service's error document: `{"Code", "Message", "RequestId", "HostId"}`. The Java
/// SDK's `TunnelException` reads `Code` and `Message` from JSON; pyodps reads either format.
pub fn render_json(e: &OdpsError, request_id: &str) -> Response {
    let body = serde_json::json!({
        "Code": e.code,
        "Message": e.message,
        "RequestId": request_id,
        "HostId": "ferry",
    });
    ferry_http::response::json(e.status, &body)
}

/// The ODPS REST error document.
pub fn render(e: &OdpsError, request_id: &str) -> Response {
    let mut w = XmlWriter::plain("Error");
    w.elem("Code", e.code).elem("Message", &e.message).elem("RequestId", request_id).elem("HostId", "ferry");
    ferry_http::response::xml(e.status, w.finish("Error"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tunnel_errors_are_json_with_code_and_message() {
        let e = super::OdpsError::no_such_upload("the upload session is EXPIRED");
        let r = super::render_json(&e, "req-1");
        assert_eq!(r.status(), http::StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[http::header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn the_error_table_maps_every_variant_by_name() {
        let source = include_str!("error.rs");
        assert_eq!(ferry_http::errors::check_no_wildcard_arms(source), Ok(()));
    }

    #[test]
    fn engine_errors_get_odps_codes() {
        let e = super::OdpsError::from(ferry_core::Error::Table(ferry_core::TableError::Corrupt("x".into())));
        assert_eq!((e.status, e.code), (http::StatusCode::CONFLICT, "TableCorrupt"));
        let e = super::OdpsError::from(ferry_core::Error::Busy);
        assert_eq!((e.status, e.code), (http::StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"));
    }
}
