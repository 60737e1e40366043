//! The HTTP/1.1 server shared by the management API and the Prometheus endpoint, as a sans-IO
//! connection state machine: bytes in ([`Conn::received`]) → requests out
//! ([`Conn::poll_request`]) → responses in ([`Conn::respond`]) → bytes out
//! ([`Conn::output`], [`Conn::wrote`]), with one deadline per connection
//! ([`Conn::next_deadline`], [`Conn::handle_timeout`]). It never touches a socket or a clock: the
//! reactor (`src/reactor/http/`) reads and writes, and passes the time in.
//!
//! Requests are parsed with httparse across partial reads (the buffer is re-parsed as it
//! grows, never more than [`limits::MAX_HEAD_BYTES`]); bodies need `Content-Length`;
//! keep-alive and pipelining work (one request is handled at a time; later ones wait in the
//! buffer). Every error answer closes the connection. Every bound is a named constant in
//! [`limits`], so a slow, idle or hostile client costs a bounded amount of memory and time.
//!
//! ```text
//!            bytes               complete request            respond()
//!   idle ──────────► reading ───────────────────► busy ─────────────────► writing ──► idle
//!    │ idle timeout    │ request timeout: 408        (handler decides,        │ close: closed
//!    ▼                 ▼ too big: 431/413            maybe later)             ▼ write timeout
//!  closed            closed                                                 closed
//! ```

/// Every bound of the server, in one place.
pub mod limits {
    /// Request line plus headers; more is answered 431.
    pub const MAX_HEAD_BYTES: usize = 8 * 1024;
    /// Header lines per request; more is answered 431.
    pub const MAX_HEADERS: usize = 32;
    /// Request body (`Content-Length`); more is answered 413 without reading it.
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
    /// Open connections per server (API and metrics count separately). When a new client
    /// arrives at the limit, the connection idle for longest is closed; with none idle the
    /// newcomer gets 503.
    pub const MAX_CONNECTIONS: usize = 256;
    /// From the first byte of a request to its last (headers and body): slower is 408.
    pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
    /// A kept-alive connection with no request in flight is closed after this.
    pub const IDLE_TIMEOUT_MS: u64 = 60_000;
    /// A client that takes no bytes of its response for this long is dropped.
    pub const WRITE_TIMEOUT_MS: u64 = 10_000;
    /// Responses queued but not yet taken by the client; past this, pipelined requests wait.
    pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
    /// After an error answer, the rest of what the client sends is read and dropped for this
    /// long (or [`LINGER_BYTES`]) before closing, so that closing with unread data (which makes
    /// the kernel send a reset) does not destroy the answer before the client reads it.
    pub const LINGER_MS: u64 = 2_000;
    pub const LINGER_BYTES: usize = 2 * 1024 * 1024;
}

use limits::*;

/// Milliseconds on the monotonic clock (the supervisor's time).
pub use crate::supervisor::Millis;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

/// One parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// The query string, without `?` (empty when absent).
    pub query: String,
    /// The `Authorization` header, as sent.
    pub authorization: Option<Vec<u8>>,
    /// The `X-Forwarded-For` header (read only by an ACL with `trust_proxy`).
    pub forwarded_for: Option<Vec<u8>>,
    pub body: Vec<u8>,
    /// The client keeps the connection after this request (HTTP/1.1 default).
    pub keep_alive: bool,
}

/// One response; every error status closes the connection after it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra header lines, each `Name: value` without CRLF.
    pub headers: Vec<(&'static str, String)>,
}

pub const JSON: &str = "application/json";

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            body,
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response::new(status, JSON, body)
    }

    /// `{"error":"<msg>"}` with `status`.
    pub fn error(status: u16, msg: &str) -> Response {
        let mut b = Vec::with_capacity(msg.len() + 12);
        b.extend_from_slice(b"{\"error\":");
        crate::output::json_str(&mut b, msg);
        b.push(b'}');
        Response::json(status, b)
    }

    pub fn header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// Appends the response, headers and body, to `out`.
    fn write_to(&self, out: &mut Vec<u8>, close: bool, head_only: bool) {
        out.reserve(self.body.len() + 128);
        out.extend_from_slice(b"HTTP/1.1 ");
        push_num(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(self.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        push_num(out, self.body.len() as u64);
        for (k, v) in &self.headers {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
        }
        if close {
            out.extend_from_slice(b"\r\nConnection: close");
        }
        out.extend_from_slice(b"\r\n\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

/// Appends a decimal number without going through `fmt`.
pub fn push_num(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(crate::output::decimal(n, &mut [0; 20]));
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The canned answer for a client that arrives when every connection slot is busy.
pub fn overloaded() -> Vec<u8> {
    let mut out = Vec::new();
    Response::error(503, "too many connections: try again later").write_to(&mut out, true, false);
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No request in flight (a new connection, or between kept-alive requests).
    Idle,
    /// Part of a request has arrived.
    Reading,
    /// A request was handed out and awaits [`Conn::respond`].
    Busy,
    /// The last response is queued; nothing more is read. Closes once it is written.
    Closing,
    /// The last response is written and our side shut down; what the client still sends is
    /// dropped until it closes (see [`limits::LINGER_MS`]).
    Lingering,
    /// Done: the reactor closes the socket.
    Closed,
}

/// The HTTP side of one connection.
#[derive(Debug)]
pub struct Conn {
    input: Vec<u8>,
    output: Vec<u8>,
    /// How much of `output` has been written.
    written: usize,
    phase: Phase,
    /// When the current phase's timer runs out.
    deadline: Millis,
    /// When the connection last became idle (for choosing whom to close at the limit).
    idle_since: Millis,
    /// The request in flight closes the connection after its response.
    close_after: bool,
    /// The request in flight is HEAD: its response carries no body.
    head_only: bool,
    /// `100 Continue` was already sent for the request being read.
    continued: bool,
    /// The peer shut down its side: answer what is in flight, then close.
    peer_closed: bool,
    /// The reactor should shut down the writing side of the socket (once).
    shutdown_due: bool,
    /// Bytes dropped while lingering.
    dropped: usize,
}

/// What a request timer, or a broken request, makes of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Keep going.
    Open,
    /// Close the socket now.
    Close,
}

impl Conn {
    pub fn new(now: Millis) -> Conn {
        Conn {
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            phase: Phase::Idle,
            deadline: now + IDLE_TIMEOUT_MS,
            idle_since: now,
            close_after: false,
            head_only: false,
            continued: false,
            peer_closed: false,
            shutdown_due: false,
            dropped: 0,
        }
    }

    /// Bytes arrived from the client.
    pub fn received(&mut self, data: &[u8], now: Millis) {
        if self.phase == Phase::Lingering {
            self.dropped += data.len();
            if self.dropped > LINGER_BYTES {
                self.phase = Phase::Closed;
            }
            return;
        }
        if matches!(self.phase, Phase::Closing | Phase::Closed) || data.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            self.phase = Phase::Reading;
            self.deadline = now + REQUEST_TIMEOUT_MS;
            self.continued = false;
        }
        self.input.extend_from_slice(data);
    }

    /// The client closed its sending side (read returned 0).
    pub fn peer_closed(&mut self) {
        self.peer_closed = true;
        match self.phase {
            Phase::Lingering => self.phase = Phase::Closed,
            // Nothing in flight.
            Phase::Idle if self.input.is_empty() && self.output().is_empty() => {
                self.phase = Phase::Closed;
            }
            // Answer what is being handled or already buffered, then close (clients that
            // `shutdown(SHUT_WR)` after sending); `poll_request` drops an unfinished request.
            Phase::Busy => self.close_after = true,
            _ => {}
        }
    }

    /// Whether the reactor should read from the socket: not while a response is being
    /// handled or the buffers are full (back-pressure on pipelining clients).
    pub fn wants_read(&self) -> bool {
        if self.phase == Phase::Lingering {
            return true;
        }
        matches!(self.phase, Phase::Idle | Phase::Reading | Phase::Busy)
            && !self.peer_closed
            && self.input.len() < MAX_HEAD_BYTES + MAX_BODY_BYTES
            && self.output.len() - self.written < MAX_OUTPUT_BYTES
    }

    /// The next complete request, if one is buffered and none is in flight. Broken or
    /// oversized requests are answered here (and the connection set to close).
    pub fn poll_request(&mut self, now: Millis) -> Option<Request> {
        if !matches!(self.phase, Phase::Idle | Phase::Reading)
            || self.output.len() - self.written >= MAX_OUTPUT_BYTES
        {
            return None;
        }
        if self.input.is_empty() {
            return None;
        }
        if self.phase == Phase::Idle {
            // Pipelined bytes left from the previous request: a new one has begun.
            self.phase = Phase::Reading;
            self.deadline = now + REQUEST_TIMEOUT_MS;
            self.continued = false;
        }
        match parse(&self.input) {
            Parsed::Partial {
                expects_continue: true,
            } if !self.continued => {
                self.continued = true;
                self.output
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                None
            }
            Parsed::Partial { .. } if self.peer_closed => {
                // Half a request that will never be finished.
                self.phase = Phase::Closed;
                None
            }
            Parsed::Partial { .. } => None,
            Parsed::Error(status, msg) => {
                self.fail(status, msg, now);
                None
            }
            Parsed::Complete(req, used) => {
                self.input.drain(..used);
                self.phase = Phase::Busy;
                self.close_after = !req.keep_alive || self.peer_closed;
                self.head_only = req.method == Method::Head;
                Some(req)
            }
        }
    }

    /// Answers the request in flight.
    pub fn respond(&mut self, resp: &Response, now: Millis) {
        if self.phase != Phase::Busy {
            return;
        }
        let close = self.close_after || resp.status >= 400;
        resp.write_to(&mut self.output, close, self.head_only);
        if close {
            self.phase = Phase::Closing;
            self.input.clear();
            self.deadline = now + WRITE_TIMEOUT_MS;
        } else {
            // Idle once written; until then the client must take its answer in time.
            self.phase = Phase::Idle;
            self.idle_since = now;
            self.deadline = now + WRITE_TIMEOUT_MS;
        }
    }

    /// Queues an error answer and closes after it.
    fn fail(&mut self, status: u16, msg: &str, now: Millis) {
        self.phase = Phase::Busy;
        self.close_after = true;
        self.head_only = false;
        self.respond(&Response::error(status, msg), now);
    }

    /// Bytes waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.output[self.written..]
    }

    /// `n` bytes of [`Conn::output`] were written.
    pub fn wrote(&mut self, n: usize, now: Millis) {
        self.written += n;
        if self.written >= self.output.len() {
            self.output.clear();
            self.written = 0;
            if self.output.capacity() > 64 * 1024 {
                self.output.shrink_to(4 * 1024);
            }
            match self.phase {
                Phase::Closing if self.peer_closed => self.phase = Phase::Closed,
                Phase::Closing => {
                    self.phase = Phase::Lingering;
                    self.shutdown_due = true;
                    self.deadline = now + LINGER_MS;
                }
                Phase::Idle if self.peer_closed && self.input.is_empty() => {
                    self.phase = Phase::Closed;
                }
                Phase::Idle => {
                    self.idle_since = now;
                    self.deadline = now + IDLE_TIMEOUT_MS;
                }
                _ => {}
            }
        } else if n > 0 && matches!(self.phase, Phase::Idle | Phase::Closing) {
            self.deadline = now + WRITE_TIMEOUT_MS;
        }
    }

    /// Whether the reactor should now shut down the writing side of the socket (true once).
    pub fn take_shutdown(&mut self) -> bool {
        std::mem::take(&mut self.shutdown_due)
    }

    /// The reactor should close the socket.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Idle since when, or `None` while a request is in flight (for the eviction rule).
    pub fn idle_since(&self) -> Option<Millis> {
        (self.phase == Phase::Idle && self.input.is_empty() && self.output.is_empty())
            .then_some(self.idle_since)
    }

    /// When [`Conn::handle_timeout`] has something to do. A request being handled has no
    /// timer here: its handler owns the deadline.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.phase {
            Phase::Busy | Phase::Closed => None,
            _ => Some(self.deadline),
        }
    }

    /// Acts on a passed deadline: a request too slow to arrive gets 408, an idle connection
    /// or a client not reading its answer is closed.
    pub fn handle_timeout(&mut self, now: Millis) -> Outcome {
        if self.next_deadline().is_none_or(|d| d > now) {
            return Outcome::Open;
        }
        match self.phase {
            Phase::Reading if self.output.len() == self.written => {
                self.fail(408, "request not received in time", now);
                Outcome::Open
            }
            _ => {
                self.phase = Phase::Closed;
                Outcome::Close
            }
        }
    }
}

enum Parsed<'a> {
    Partial { expects_continue: bool },
    Complete(Request, usize),
    Error(u16, &'a str),
}

/// Parses one request from the start of `buf`.
fn parse(buf: &[u8]) -> Parsed<'static> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_HEAD_BYTES {
                return Parsed::Error(431, "request head too large");
            }
            return Parsed::Partial {
                expects_continue: false,
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Error(431, "too many headers"),
        Err(httparse::Error::Version) => return Parsed::Error(505, "only HTTP/1.x is served"),
        Err(_) => return Parsed::Error(400, "malformed request"),
    };
    if head_len > MAX_HEAD_BYTES {
        return Parsed::Error(431, "request head too large");
    }
    let version = req.version.unwrap_or(1);
    let mut keep_alive = version >= 1;
    let mut content_length: Option<usize> = None;
    let mut authorization = None;
    let mut forwarded_for = None;
    let mut expects_continue = false;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let Some(n) = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
            else {
                return Parsed::Error(400, "invalid Content-Length");
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if content_length.is_some_and(|c| c != n) {
                return Parsed::Error(400, "conflicting Content-Length headers");
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Bodies are small JSON documents: a length is always known to the client.
            return Parsed::Error(411, "chunked bodies are not accepted: send Content-Length");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = h.value;
            if contains_token(v, b"close") {
                keep_alive = false;
            } else if contains_token(v, b"keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(h.value.to_vec());
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = Some(h.value.to_vec());
        } else if name.eq_ignore_ascii_case("expect") {
            if h.value.eq_ignore_ascii_case(b"100-continue") {
                expects_continue = true;
            } else {
                return Parsed::Error(400, "unsupported Expect header");
            }
        }
    }
    let body_len = content_length.unwrap_or(0);
    if body_len > MAX_BODY_BYTES {
        return Parsed::Error(413, "request body too large");
    }
    if buf.len() < head_len + body_len {
        return Parsed::Partial { expects_continue };
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let method = match req.method.unwrap_or("") {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => Method::Other,
    };
    Parsed::Complete(
        Request {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            authorization,
            forwarded_for,
            body: buf[head_len..head_len + body_len].to_vec(),
            keep_alive,
        },
        head_len + body_len,
    )
}

/// Whether a comma-separated header value holds `token` (case-insensitive).
fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests;
