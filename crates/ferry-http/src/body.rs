use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;

use ferry_core::store::ByteStream;

/// A request body as the server receives it (it fails when the client goes silent; see
/// [`crate::Limits::body_idle_timeout`]).
pub use crate::limits::Body;
/// Any response body: fixed bytes or a stream.
pub type ResponseBody = UnsyncBoxBody<Bytes, io::Error>;

pub fn empty() -> ResponseBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn stream(bytes: ByteStream) -> ResponseBody {
    BodyExt::boxed_unsync(StreamBody::new(bytes.map(|chunk| chunk.map(Frame::data))))
}

/// The request body's data as a byte stream (HTTP trailers are dropped).
pub fn body_stream(body: Body) -> ByteStream {
    Box::pin(http_body_util::BodyDataStream::new(body))
}

/// Read a whole (small) body, failing once it exceeds `limit` bytes. For XML requests only;
/// part data is always streamed.
pub async fn read_limited(mut body: ByteStream, limit: usize) -> io::Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("body larger than {limit} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
