//! Building S3 responses: XML bodies, dates, ETags, object headers.

use ferry_core::ObjectMeta;
use ferry_http::Response;
pub use ferry_http::response::{no_content, quoted, set, set_read_span, set_validators, status_only, xml};
use ferry_http::xml::XmlWriter;

use crate::error::S3Error;

/// The S3 error document; HEAD responses carry the status only.
pub fn error(e: &S3Error, resource: &str, request_id: &str, head: bool) -> Response {
    if head {
        return status_only(e.status);
    }
    let mut w = XmlWriter::plain("Error");
    w.elem("Code", e.code).elem("Message", &e.message).elem("Resource", resource).elem("RequestId", request_id);
    xml(e.status, w.finish("Error"))
}

pub use ferry_http::dates::{http_date, iso8601};

/// Content headers and user metadata of an object.
pub fn object_meta_headers(r: &mut Response, meta: &ObjectMeta) {
    ferry_http::content_headers(r, meta, "binary/octet-stream", "x-amz-meta-");
}

/// The owner ferry reports for every bucket, object and upload (one account owns everything).
pub const OWNER_ID: &str = "ferry";

/// `<element><ID>ferry</ID><DisplayName>ferry</DisplayName></element>`.
pub fn write_owner(w: &mut XmlWriter, element: &str) {
    w.open(element).elem("ID", OWNER_ID).elem("DisplayName", OWNER_ID).close(element);
}
