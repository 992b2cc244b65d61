//! Entry points for the fuzz targets in `fuzz/` and for the tests that replay their corpora:
//! each takes arbitrary bytes and must return without panicking. Not part of ferry's API.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use ferry_core::store::ByteStream;
use ferry_core::{Expected, TrailerSlot};
use futures_util::Stream;

use crate::auth::{self, ChunkSigner};
use crate::chunked::{AwsChunkedDecoder, FailureSlot};
use crate::request::{Address, Query};

/// The aws-chunked body decoder. The first byte chooses how the rest arrives: its low 7 bits
/// are the size of the network reads (0: one read), its top bit makes the chunks signed
/// (with the chain of AWS's published streaming example, so most signatures fail to match).
pub fn aws_chunked(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else { return };
    let read = match usize::from(mode & 0x7f) {
        0 => body.len().max(1),
        n => n,
    };
    let signer = (mode & 0x80 != 0).then(|| ChunkSigner {
        key: ferry_sigv4::signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3"),
        amz_date: "20130524T000000Z".into(),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
    });
    let reads: Vec<std::io::Result<Bytes>> = body.chunks(read).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let inner: ByteStream = Box::pin(futures_util::stream::iter(reads));
    let trailer = TrailerSlot::default();
    let failure = FailureSlot::default();
    let mut decoder = pin!(AwsChunkedDecoder::new(inner, signer, trailer.clone(), failure.clone()));
    // The inner stream is always ready, so the decoder never waits: a no-op waker drives it.
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = 0usize;
    loop {
        match decoder.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(bytes))) => out += bytes.len(),
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => break,
            Poll::Pending => panic!("the aws-chunked decoder waited on an always-ready body"),
        }
    }
    assert!(out <= body.len(), "decoded more bytes than were sent");
    let _: Vec<Expected> = trailer.lock().map(|t| t.clone()).unwrap_or_default();
}

/// S3 request heads (see `ferry_http::fuzz::request_parts` for the text form): addressing,
/// routing, and SigV4/SigV2 verification from the `Authorization` header or a presigned query.
pub fn auth(data: &[u8]) {
    let Some(parts) = ferry_http::fuzz::request_parts(data) else { return };
    let _ = auth::is_s3_signed(&parts);
    let query = Query::parse(parts.uri.query());
    let Ok(addr) = Address::resolve(&parts, Some("s3.fuzz.test")) else { return };
    let _ = crate::router::route(&parts.method, &addr, &query, &parts.headers);
    let _ = auth::authenticate(&parts, &query, addr.host_bucket.as_deref(), &ferry_http::fuzz::credentials());
}
