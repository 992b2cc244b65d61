//! Connection limits of the shared listener: how long a client may take to send a request's
//! headers, how long a request body may go silent, how many connections are served at once, and
//! the refusal of requests whose body framing is ambiguous (`Content-Length` together with
//! `Transfer-Encoding`, the shape of request-smuggling attempts).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The listener's limits. Every field has a default suited to a server on a trusted network that
/// also faces the occasional hostile or broken client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A connection must deliver a request's complete header block within this long, counted from
    /// when the server starts waiting for it; this also closes keep-alive connections that sit
    /// idle between requests for this long.
    pub header_read_timeout: Duration,
    /// A request body that delivers no bytes for this long fails: the part being uploaded is
    /// discarded and the connection is closed.
    pub body_idle_timeout: Duration,
    /// Connections served at once. Further connections get a prompt `503 SlowDown` (or, past a
    /// small backlog of such answers, are closed at once) until a slot frees up.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

/// What a connection's byte watcher and its request handler share.
#[derive(Default)]
pub(crate) struct ConnectionState {
    /// 1-based number of the request whose head carried both `Content-Length` and
    /// `Transfer-Encoding`; 0 when none did. hyper ends the connection after such a request, so
    /// there is at most one.
    conflicting_request: AtomicU64,
    /// Requests handed to the service so far.
    requests: AtomicU64,
    /// Signalled when a request body went silent for the idle timeout.
    pub(crate) stalled: Notify,
}

impl ConnectionState {
    /// Count a request as the service receives it; true when its framing was ambiguous.
    pub(crate) fn next_request_is_conflicting(&self) -> bool {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        self.conflicting_request.load(Ordering::SeqCst) == n
    }
}

/// A transport that follows HTTP/1 message framing in the bytes it reads, to flag a request
/// head that carries both `Content-Length` and `Transfer-Encoding`. hyper accepts such a request
/// (it lets `Transfer-Encoding` win, drops `Content-Length` from the headers and closes the
/// connection afterwards), so the handler could not tell it apart; ferry refuses it instead.
pub(crate) struct Watched<T> {
    inner: T,
    framing: Framing,
    state: Arc<ConnectionState>,
}

impl<T> Watched<T> {
    pub(crate) fn new(inner: T, state: Arc<ConnectionState>) -> Self {
        Watched { inner, framing: Framing::default(), state }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let this = &mut *self;
            if let Some(n) = this.framing.feed(&buf.filled()[before..]) {
                this.state.conflicting_request.store(n, Ordering::SeqCst);
            }
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Longest request head followed; hyper refuses longer ones itself (its read buffer is smaller).
const MAX_HEAD: usize = 1 << 20;

/// Where the byte stream is in HTTP/1 framing.
#[derive(Debug)]
enum Step {
    /// Reading a request head (the bytes so far).
    Head(Vec<u8>),
    /// Skipping a body of known length.
    Fixed(u64),
    /// Reading a chunk-size line: the size so far, and whether the size digits have ended.
    ChunkSize { size: u64, digits_done: bool, saw_cr: bool },
    /// Skipping chunk data.
    ChunkData(u64),
    /// The CRLF after chunk data (`true` once the CR was seen).
    ChunkDataEnd(bool),
    /// The trailer section after the last chunk: `true` at the start of a line.
    Trailer { line_start: bool, saw_cr: bool },
    /// No longer followed: the connection ends after the current request, or hyper will refuse
    /// what follows.
    Off,
}

#[derive(Debug)]
struct Framing {
    step: Step,
    /// Request heads seen.
    heads: u64,
}

impl Default for Framing {
    fn default() -> Self {
        Framing { step: Step::Head(Vec::new()), heads: 0 }
    }
}

impl Framing {
    /// Follow `data`; returns the 1-based number of a request whose head has conflicting
    /// framing headers, when this data completed one.
    fn feed(&mut self, mut data: &[u8]) -> Option<u64> {
        while !data.is_empty() {
            match &mut self.step {
                Step::Off => return None,
                Step::Head(head) => {
                    let byte = data[0];
                    data = &data[1..];
                    // Empty lines before a request line are skipped, as hyper does.
                    if head.is_empty() && (byte == b'\r' || byte == b'\n') {
                        continue;
                    }
                    head.push(byte);
                    if head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n") {
                        let head = std::mem::take(head);
                        self.heads += 1;
                        let (step, conflicting) = after_head(&head);
                        self.step = step;
                        if conflicting {
                            return Some(self.heads);
                        }
                    } else if head.len() > MAX_HEAD {
                        self.step = Step::Off;
                    }
                }
                Step::Fixed(left) => {
                    let n = (*left).min(data.len() as u64);
                    data = &data[n as usize..];
                    *left -= n;
                    if *left == 0 {
                        self.step = Step::Head(Vec::new());
                    }
                }
                Step::ChunkSize { size, digits_done, saw_cr } => {
                    let byte = data[0];
                    data = &data[1..];
                    match byte {
                        b'\n' => {
                            self.step = if *size == 0 {
                                Step::Trailer { line_start: true, saw_cr: false }
                            } else {
                                Step::ChunkData(*size)
                            };
                        }
                        _ if *saw_cr => self.step = Step::Off,
                        b'\r' => *saw_cr = true,
                        b if b.is_ascii_hexdigit() && !*digits_done => {
                            let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                            match size.checked_mul(16).and_then(|s| s.checked_add(digit)) {
                                Some(s) => *size = s,
                                None => self.step = Step::Off,
                            }
                        }
                        // Whitespace or a chunk extension ends the digits.
                        _ => *digits_done = true,
                    }
                }
                Step::ChunkData(left) => {
                    let n = (*left).min(data.len() as u64);
                    data = &data[n as usize..];
                    *left -= n;
                    if *left == 0 {
                        self.step = Step::ChunkDataEnd(false);
                    }
                }
                Step::ChunkDataEnd(saw_cr) => {
                    let byte = data[0];
                    data = &data[1..];
                    match byte {
                        b'\r' if !*saw_cr => *saw_cr = true,
                        b'\n' => self.step = Step::ChunkSize { size: 0, digits_done: false, saw_cr: false },
                        _ => self.step = Step::Off,
                    }
                }
                Step::Trailer { line_start, saw_cr } => {
                    let byte = data[0];
                    data = &data[1..];
                    match byte {
                        b'\n' if *line_start => self.step = Step::Head(Vec::new()),
                        b'\n' => {
                            *line_start = true;
                            *saw_cr = false;
                        }
                        b'\r' if *line_start => *saw_cr = true,
                        _ if *saw_cr => self.step = Step::Off,
                        _ => *line_start = false,
                    }
                }
            }
        }
        None
    }
}

/// The framing that follows a request head, and whether the head is ambiguous.
fn after_head(head: &[u8]) -> (Step, bool) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    if request_line.starts_with("CONNECT ") {
        return (Step::Off, false);
    }
    let mut content_length: Option<&str> = None;
    let mut transfer_encoding: Option<&str> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.trim());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last Transfer-Encoding line decides, as in hyper.
            transfer_encoding = Some(value.trim());
        }
    }
    match (content_length, transfer_encoding) {
        (Some(_), Some(_)) => (Step::Off, true),
        (None, Some(te)) => {
            let chunked = te.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            // hyper refuses a request whose last coding is not chunked.
            (if chunked { Step::ChunkSize { size: 0, digits_done: false, saw_cr: false } } else { Step::Off }, false)
        }
        (Some(cl), None) => match cl.parse::<u64>() {
            Ok(0) => (Step::Head(Vec::new()), false),
            Ok(n) => (Step::Fixed(n), false),
            // hyper refuses it.
            Err(_) => (Step::Off, false),
        },
        (None, None) => (Step::Head(Vec::new()), false),
    }
}

/// A request body that fails when the client sends nothing for the idle timeout. Only time
/// spent waiting on the client counts: while the handler is busy (writing a chunk to the blob
/// store, say) the clock does not run.
pub struct Body {
    inner: hyper::body::Incoming,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
    timed_out: bool,
    state: Option<Arc<ConnectionState>>,
}

impl Body {
    pub(crate) fn new(inner: hyper::body::Incoming, idle: Duration, state: Arc<ConnectionState>) -> Self {
        Body { inner, idle, timer: None, armed: false, timed_out: false, state: Some(state) }
    }

    fn timeout_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client sent no request body data for {}s", self.idle.as_secs_f64()),
        )
    }
}

impl http_body::Body for Body {
    type Data = bytes::Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out {
            // Keep failing: a body that ended cleanly here would look complete.
            return Poll::Ready(Some(Err(this.timeout_error())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|f| f.map_err(io::Error::other)));
        }
        let deadline = tokio::time::Instant::now() + this.idle;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !this.armed {
            timer.as_mut().reset(deadline);
            this.armed = true;
        }
        if timer.as_mut().poll(cx).is_ready() {
            this.timed_out = true;
            if let Some(state) = this.state.take() {
                state.stalled.notify_one();
            }
            return Poll::Ready(Some(Err(this.timeout_error())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        !self.timed_out && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn conflicts(stream: &[u8], split: usize) -> Vec<u64> {
        let mut framing = Framing::default();
        let mut out = Vec::new();
        for piece in stream.chunks(split.max(1)) {
            out.extend(framing.feed(piece));
        }
        out
    }

    #[test]
    fn flags_content_length_with_transfer_encoding_in_either_order() {
        for split in [1, 3, 1000] {
            let a = b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
            assert_eq!(conflicts(a, split), vec![1]);
            let b = b"PUT /b/k HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n";
            assert_eq!(conflicts(b, split), vec![1]);
        }
    }

    #[test]
    fn follows_bodies_to_later_requests() {
        // Bodies that look like heads must be skipped, not parsed.
        let stream = b"\r\nPUT /b/k HTTP/1.1\r\nContent-Length: 10\r\n\r\nCL: 1\r\n\r\nX\
                       PUT /b/k HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                       a;ext=1\r\nTE: x\r\n\r\na\r\n0\r\nX-Trailer: 1\r\n\r\n\
                       GET /b/k HTTP/1.1\n\n\
                       PUT /b/k HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        for split in [1, 2, 7, 4096] {
            assert_eq!(conflicts(stream, split), vec![4], "split {split}");
        }
    }

    #[test]
    fn plain_requests_are_not_flagged() {
        let stream = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n\
                       POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert!(conflicts(stream, 5).is_empty());
    }
}
