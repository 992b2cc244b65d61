//! Decoder for `Content-Encoding: aws-chunked` bodies (inside HTTP's own framing):
//!
//! ```text
//! <hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n … 0[;chunk-signature=<sig>]\r\n[<trailer lines>\r\n]\r\n
//! ```
//!
//! Data is passed on as it arrives, without copying; chunk signatures are checked at the end of
//! each chunk. Passing data on before its signature is checked is safe because the engine makes
//! nothing visible until the stream has ended without error.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use ferry_core::checksum::{ChecksumAlgorithm, from_base64};
use ferry_core::store::ByteStream;
use ferry_core::{Expected, TrailerSlot};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::auth::ChunkSigner;
use crate::error::S3Error;

/// Longest chunk header or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// Why a decode failed, in S3 terms, for the front-end to report.
pub type FailureSlot = Arc<Mutex<Option<S3Error>>>;

enum State {
    Header,
    Data { left: u64 },
    DataEnd,
    Trailer,
    Done,
}

pub struct AwsChunkedDecoder {
    inner: ByteStream,
    pending: Bytes,
    state: State,
    signer: Option<ChunkSigner>,
    chunk_hash: Option<Sha256>,
    chunk_signature: String,
    trailer_lines: Vec<(String, String)>,
    trailer: TrailerSlot,
    failure: FailureSlot,
}

impl AwsChunkedDecoder {
    pub fn new(inner: ByteStream, signer: Option<ChunkSigner>, trailer: TrailerSlot, failure: FailureSlot) -> Self {
        AwsChunkedDecoder {
            inner,
            pending: Bytes::new(),
            state: State::Header,
            signer,
            chunk_hash: None,
            chunk_signature: String::new(),
            trailer_lines: Vec::new(),
            trailer,
            failure,
        }
    }

    fn fail(&mut self, error: S3Error) -> io::Error {
        let message = error.message.clone();
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(error);
        }
        self.state = State::Done;
        io::Error::new(io::ErrorKind::InvalidData, message)
    }

    fn malformed(&mut self, what: &str) -> io::Error {
        self.fail(S3Error::incomplete_body(format!("Malformed aws-chunked body: {what}")))
    }

    /// Take one CRLF-terminated line from the buffer, if complete.
    fn take_line(&mut self) -> Result<Option<String>, io::Error> {
        match self.pending.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                let line = self.pending.split_to(at + 2);
                match std::str::from_utf8(&line[..at]) {
                    Ok(text) => Ok(Some(text.to_string())),
                    Err(_) => Err(self.malformed("a header line is not UTF-8")),
                }
            }
            None if self.pending.len() > MAX_LINE => Err(self.malformed("a header line is too long")),
            None => Ok(None),
        }
    }

    fn start_chunk(&mut self, line: &str) -> Result<(), io::Error> {
        let (size, params) = line.split_once(';').unwrap_or((line, ""));
        let Ok(size) = u64::from_str_radix(size.trim(), 16) else {
            return Err(self.malformed("a chunk size is not hexadecimal"));
        };
        self.chunk_signature = params.trim().strip_prefix("chunk-signature=").unwrap_or("").to_string();
        if self.signer.is_some() {
            if self.chunk_signature.is_empty() {
                return Err(self.fail(S3Error::signature_does_not_match("A chunk has no chunk-signature")));
            }
            self.chunk_hash = Some(Sha256::new());
        }
        if size == 0 {
            self.end_chunk()?;
            self.state = State::Trailer;
        } else {
            self.state = State::Data { left: size };
        }
        Ok(())
    }

    fn end_chunk(&mut self) -> Result<(), io::Error> {
        if let (Some(signer), Some(hash)) = (&mut self.signer, self.chunk_hash.take()) {
            let digest: [u8; 32] = hash.finalize().into();
            if !signer.verify_chunk(&digest, &self.chunk_signature) {
                return Err(self.fail(S3Error::signature_does_not_match(
                    "The chunk signature we calculated does not match the signature you provided.",
                )));
            }
        }
        Ok(())
    }

    fn trailer_line(&mut self, line: &str) -> Result<(), io::Error> {
        let Some((name, value)) = line.split_once(':') else {
            return Err(self.malformed("a trailer line has no ':'"));
        };
        self.trailer_lines.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        Ok(())
    }

    /// All trailer lines read: verify the trailer signature and hand the checksums over.
    fn finish_trailer(&mut self) -> Result<(), io::Error> {
        let lines = std::mem::take(&mut self.trailer_lines);
        let mut canonical = String::new();
        let mut signature = None;
        let mut expected = Vec::new();
        for (name, value) in &lines {
            if name == "x-amz-trailer-signature" {
                signature = Some(value.clone());
                continue;
            }
            canonical.push_str(&format!("{name}:{value}\n"));
            if let Some(algorithm) = name.strip_prefix("x-amz-checksum-").and_then(ChecksumAlgorithm::parse) {
                match from_base64(value) {
                    Some(raw) => expected.push(Expected { kind: algorithm.digest_kind(), value: raw }),
                    None => {
                        return Err(self
                            .fail(S3Error::invalid_request(format!("Value for {name} trailing header is invalid."))));
                    }
                }
            }
        }
        if let Some(signer) = &mut self.signer {
            let ok = signature.as_deref().is_some_and(|sig| signer.verify_trailer(&canonical, sig));
            if !ok && !lines.is_empty() {
                return Err(self.fail(S3Error::signature_does_not_match("The trailer signature does not match.")));
            }
        }
        if let Ok(mut slot) = self.trailer.lock() {
            slot.extend(expected);
        }
        self.state = State::Done;
        Ok(())
    }

    /// Advance the parser over buffered bytes; `Some` when there is an item to yield.
    fn step(&mut self) -> Result<Option<Option<Bytes>>, io::Error> {
        loop {
            match self.state {
                State::Done => return Ok(Some(None)),
                State::Data { left } => {
                    if self.pending.is_empty() {
                        return Ok(None);
                    }
                    let n = left.min(self.pending.len() as u64);
                    let data = self.pending.split_to(n as usize);
                    if let Some(h) = &mut self.chunk_hash {
                        h.update(&data);
                    }
                    self.state = if n == left { State::DataEnd } else { State::Data { left: left - n } };
                    return Ok(Some(Some(data)));
                }
                State::DataEnd => {
                    if self.pending.len() < 2 {
                        return Ok(None);
                    }
                    if &self.pending[..2] != b"\r\n" {
                        return Err(self.malformed("a chunk is longer than its declared size"));
                    }
                    let _ = self.pending.split_to(2);
                    self.end_chunk()?;
                    self.state = State::Header;
                }
                State::Header => match self.take_line()? {
                    None => return Ok(None),
                    Some(line) => self.start_chunk(&line)?,
                },
                State::Trailer => match self.take_line()? {
                    None => return Ok(None),
                    Some(line) if line.is_empty() => self.finish_trailer()?,
                    Some(line) => self.trailer_line(&line)?,
                },
            }
        }
    }
}

impl Stream for AwsChunkedDecoder {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.step() {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(Some(item)) => return Poll::Ready(item.map(Ok)),
                Ok(None) => {}
            }
            match this.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(more))) => {
                    if this.pending.is_empty() {
                        this.pending = more;
                    } else {
                        let mut joined = BytesMut::with_capacity(this.pending.len() + more.len());
                        joined.extend_from_slice(&this.pending);
                        joined.extend_from_slice(&more);
                        this.pending = joined.freeze();
                    }
                }
                Poll::Ready(None) => {
                    // Some clients stop right after the last trailer line without the final CRLF.
                    if matches!(this.state, State::Trailer) && this.pending.is_empty() {
                        if let Err(e) = this.finish_trailer() {
                            return Poll::Ready(Some(Err(e)));
                        }
                        return Poll::Ready(None);
                    }
                    let e = this.malformed("the body ended before the final chunk");
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn decode(pieces: &[&'static [u8]]) -> (Result<Vec<u8>, io::Error>, Vec<Expected>, Option<S3Error>) {
        let chunks: Vec<io::Result<Bytes>> = pieces.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        let trailer = TrailerSlot::default();
        let failure = FailureSlot::default();
        let decoder = AwsChunkedDecoder::new(
            Box::pin(futures_util::stream::iter(chunks)),
            None,
            trailer.clone(),
            failure.clone(),
        );
        let out = decoder.try_collect::<Vec<Bytes>>().await.map(|v| v.concat());
        let expected = trailer.lock().map(|v| v.clone()).unwrap_or_default();
        let failure = failure.lock().ok().and_then(|f| f.clone());
        (out, expected, failure)
    }

    #[tokio::test]
    async fn boto3_unsigned_trailer_example() {
        let (out, expected, _) = decode(&[b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"]).await;
        assert_eq!(out.ok().as_deref(), Some(&b"hello world"[..]));
        assert_eq!(
            expected,
            vec![Expected { kind: ferry_core::DigestKind::Crc32, value: vec![0x0d, 0x4a, 0x11, 0x85] }]
        );
    }

    #[tokio::test]
    async fn split_anywhere() {
        let (out, _, _) = decode(&[b"5\r", b"\nhel", b"lo\r\n6\r\n worl", b"d\r\n0\r", b"\n\r\n"]).await;
        assert_eq!(out.ok().as_deref(), Some(&b"hello world"[..]));
    }

    #[tokio::test]
    async fn truncated_and_malformed_bodies_fail() {
        assert!(decode(&[b"b\r\nhello"]).await.0.is_err());
        assert!(decode(&[b"zz\r\nhello\r\n0\r\n\r\n"]).await.0.is_err());
        let (out, _, failure) = decode(&[b"3\r\nhello\r\n0\r\n\r\n"]).await;
        assert!(out.is_err());
        assert_eq!(failure.map(|f| f.code), Some("IncompleteBody"));
    }
}
