//! Outgoing non-blocking TCP connections (token kind 4): the tcp probe (does the port accept a
//! connection?) and a tiny HTTP/1.1 GET client (status line and an optional body substring,
//! parsed with httparse), for health checks.
//!
//! Every connection is a `mio` stream registered in the one poll: `connect` never blocks
//! (`EINPROGRESS`), reads and writes stop at `WouldBlock`, and nothing here keeps time — the
//! owner (the health component) decides when a probe has taken too long and calls
//! [`NetSet::abort`], which deregisters and closes the socket. A connection that ends, however
//! it ends, is dropped at once: no descriptor outlives its probe.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// Most bytes of an HTTP response kept: its head and enough body to look for
/// `expected_body`. A response that has not decided the probe by then fails it.
const MAX_RESPONSE: usize = 64 * 1024;
/// Headers httparse may parse in one response.
const MAX_HEADERS: usize = 64;
/// Bytes read per `read` call.
const READ_CHUNK: usize = 8 * 1024;

/// What an HTTP probe asks and expects.
#[derive(Clone, Debug)]
pub struct HttpGet {
    /// The request, ready to send.
    pub request: Vec<u8>,
    /// `None` = any 2xx.
    pub expected_status: Option<u16>,
    pub expected_body: Option<String>,
}

impl HttpGet {
    pub fn new(
        host: &str,
        port: u16,
        path: &str,
        expected_status: Option<u16>,
        expected_body: Option<String>,
    ) -> Self {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: phpeek-pm-health\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        HttpGet {
            request,
            expected_status,
            expected_body,
        }
    }
}

struct Conn<O> {
    owner: O,
    stream: TcpStream,
    connected: bool,
    http: Option<HttpGet>,
    written: usize,
    response: Vec<u8>,
}

/// The connections in flight, by slot (the token's upper bits).
pub struct NetSet<O> {
    slots: Vec<Option<Conn<O>>>,
    kind: usize,
}

impl<O: Copy + PartialEq> NetSet<O> {
    /// `kind` is the token kind these connections use.
    pub fn new(kind: usize) -> Self {
        NetSet {
            slots: Vec::new(),
            kind,
        }
    }

    /// Starts connecting to `addr`; for `http`, sends the request once connected. A connect
    /// that fails at once is returned as an error (the owner counts it as a failed probe).
    pub fn connect(
        &mut self,
        registry: &Registry,
        addr: SocketAddr,
        http: Option<HttpGet>,
        owner: O,
    ) -> Result<(), String> {
        let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        registry
            .register(
                &mut stream,
                Token((slot << 3) | self.kind),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("cannot watch the connection to {addr}: {e}"))?;
        self.slots[slot] = Some(Conn {
            owner,
            stream,
            connected: false,
            http,
            written: 0,
            response: Vec::new(),
        });
        Ok(())
    }

    /// Closes the connection of `owner`, if any (its result is not wanted).
    pub fn abort(&mut self, registry: &Registry, owner: O) {
        if let Some(slot) = self
            .slots
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.owner == owner))
        {
            self.close(registry, slot);
        }
    }

    /// The socket of `slot` is ready: moves its connection on. Returns the owner and the
    /// result when the probe is decided (the connection is closed by then).
    pub fn ready(&mut self, registry: &Registry, slot: usize) -> Option<(O, Result<(), String>)> {
        let conn = self.slots.get_mut(slot)?.as_mut()?;
        let owner = conn.owner;
        let verdict = match step(conn) {
            Ok(None) => return None,
            Ok(Some(v)) => v,
            Err(e) => Err(e),
        };
        self.close(registry, slot);
        Some((owner, verdict))
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut c) = self.slots[slot].take() {
            let _ = registry.deregister(&mut c.stream);
            // Dropping the stream closes the descriptor.
        }
    }
}

/// Advances one connection as far as it goes without blocking: `Ok(None)` = not decided yet.
fn step(c: &mut Conn<impl Copy>) -> Result<Option<Result<(), String>>, String> {
    if !c.connected {
        if let Some(e) = c.stream.take_error().map_err(|e| e.to_string())? {
            return Err(describe(&e));
        }
        match c.stream.peer_addr() {
            Ok(_) => c.connected = true,
            // Still connecting (a spurious wake-up), or refused (reported by take_error next).
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(None),
            Err(e) => return Err(describe(&e)),
        }
    }
    let Some(http) = c.http.as_ref() else {
        // A tcp probe: the connection was accepted.
        return Ok(Some(Ok(())));
    };
    while c.written < http.request.len() {
        match c.stream.write(&http.request[c.written..]) {
            Ok(0) => return Err("connection closed while sending the request".to_owned()),
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(describe(&e)),
        }
    }
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let room = MAX_RESPONSE - c.response.len();
        if room == 0 {
            return Ok(Some(judge(http, &c.response, true)));
        }
        match c.stream.read(&mut chunk[..room.min(READ_CHUNK)]) {
            Ok(0) => return Ok(Some(judge(http, &c.response, true))),
            Ok(n) => {
                c.response.extend_from_slice(&chunk[..n]);
                if let Some(v) = decided(http, &c.response) {
                    return Ok(Some(v));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(describe(&e)),
        }
    }
}

/// The verdict on what arrived so far, if it already decides the probe.
fn decided(http: &HttpGet, response: &[u8]) -> Option<Result<(), String>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let head = match r.parse(response) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return None,
        Err(e) => return Some(Err(format!("invalid HTTP response: {e}"))),
    };
    let code = r.code.unwrap_or(0);
    let status_ok = match http.expected_status {
        Some(s) => code == s,
        None => (200..300).contains(&code),
    };
    if !status_ok {
        let want = http
            .expected_status
            .map_or("2xx".to_owned(), |s| s.to_string());
        return Some(Err(format!("HTTP status {code} (expected {want})")));
    }
    let Some(needle) = http.expected_body.as_deref() else {
        return Some(Ok(()));
    };
    let body = &response[head..];
    if contains(body, needle.as_bytes()) {
        return Some(Ok(()));
    }
    let length = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    match length {
        Some(n) if body.len() >= n => Some(Err(body_missing(needle))),
        _ => None,
    }
}

/// The verdict once no more will arrive (end of stream or the size bound).
fn judge(http: &HttpGet, response: &[u8], ended: bool) -> Result<(), String> {
    match decided(http, response) {
        Some(v) => v,
        None if response.is_empty() => Err("connection closed without a response".to_owned()),
        None if ended && httparse_complete(response) => {
            Err(body_missing(http.expected_body.as_deref().unwrap_or("")))
        }
        None => Err("incomplete HTTP response".to_owned()),
    }
}

fn httparse_complete(response: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    matches!(
        httparse::Response::new(&mut headers).parse(response),
        Ok(httparse::Status::Complete(_))
    )
}

fn body_missing(needle: &str) -> String {
    format!("response body does not contain {needle:?}")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(status: Option<u16>, body: Option<&str>) -> HttpGet {
        HttpGet::new("127.0.0.1", 80, "/up", status, body.map(str::to_owned))
    }

    #[test]
    fn request_line_and_host() {
        let r = String::from_utf8(get(None, None).request).unwrap();
        assert!(r.starts_with("GET /up HTTP/1.1\r\nHost: 127.0.0.1:80\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
        let v6 = String::from_utf8(HttpGet::new("::1", 8080, "/", None, None).request).unwrap();
        assert!(v6.contains("Host: [::1]:8080\r\n"));
    }

    #[test]
    fn verdicts() {
        let ok = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(decided(&get(None, None), ok), Some(Ok(())));
        assert_eq!(decided(&get(None, None), b"HTTP/1.1 20"), None);
        let e = decided(&get(None, None), b"HTTP/1.1 500 Oops\r\n\r\n").unwrap();
        assert_eq!(e.unwrap_err(), "HTTP status 500 (expected 2xx)");
        let e = decided(&get(Some(200), None), ok).unwrap();
        assert!(e.unwrap_err().contains("expected 200"));
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall ok!";
        assert_eq!(decided(&get(None, Some("ok")), full), Some(Ok(())));
        assert!(decided(&get(None, Some("nope")), full).unwrap().is_err());
        // Body still arriving: undecided until the length or the end of the stream.
        let part = b"HTTP/1.1 200 OK\r\nContent-Length: 70\r\n\r\nall";
        assert_eq!(decided(&get(None, Some("ok")), part), None);
        assert!(judge(&get(None, Some("ok")), part, true).is_err());
        assert!(judge(&get(None, None), b"", true).is_err());
        assert!(
            decided(&get(None, None), b"garbage\r\n\r\n")
                .unwrap()
                .is_err()
        );
    }
}
