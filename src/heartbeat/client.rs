//! The HTTP/1.1 client of heartbeat pings: one request per connection (`Connection: close`),
//! over `std::net::TcpStream` or, for `https://`, the rustls client of [`super::tls`], both
//! behind [`super::stream`]'s `Stream` over the socket with the attempt's deadline. Only the
//! status line matters (a 2xx is success), so the response is read up to the end of its head
//! and parsed with httparse; the body is never read. One deadline covers the whole attempt:
//! name resolution, connecting, the TLS handshake, writing and reading.
//!
//! Why our own and not ureq: a ping needs none of a general client (no redirects, pooling,
//! bodies, cookies, proxies), and ureq with `http` and `ureq-proto` was about 140 KiB of the
//! full build. It runs only on a ping's helper thread, never on the event loop.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Job;
use super::stream::{Stream, Timed, remaining};
use super::tls::Client;

/// A response head longer than this is refused (a receiver's status line and headers are short).
const MAX_HEAD: usize = 16 * 1024;

/// The parts of a ping URL the request needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Url<'a> {
    pub https: bool,
    /// As written in the URL, with brackets for IPv6 (the `Host` header, the TLS server name).
    pub host: &'a str,
    pub port: u16,
    /// `host[:port]` for the `Host` header, without any `user@`.
    pub authority: &'a str,
    /// Path and query (`/` when the URL has none); the fragment is dropped.
    pub target: &'a str,
}

pub fn parse(url: &str) -> Result<Url<'_>, String> {
    let invalid = || format!("{url:?} is not a valid URL");
    let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, target) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (
            &authority[..i],
            authority[i + 1..].parse().map_err(|_| invalid())?,
        ),
        _ => (authority, if https { 443 } else { 80 }),
    };
    if host.is_empty() || url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(invalid());
    }
    let target = match target {
        "" => "/",
        t => t,
    };
    Ok(Url {
        https,
        host,
        port,
        authority,
        target,
    })
}

/// One attempt: the status of the answer when it is 2xx, else why not.
pub fn request(job: &Job, tls: &Client) -> Result<u16, String> {
    let url = parse(&job.url)?;
    let deadline = Instant::now() + Duration::from_millis(job.timeout_ms);
    let sock = connect(&url, deadline)?;
    let timed = Timed { sock, deadline };
    let mut stream: Box<dyn Stream> = if url.https {
        tls.connect(
            url.host.trim_start_matches('[').trim_end_matches(']'),
            timed,
        )?
    } else {
        Box::new(timed)
    };
    stream
        .write_all(&head(job, &url))
        .and_then(|()| stream.flush())
        .map_err(|e| io_error("sending", &e))?;
    let status = read_status(&mut stream)?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!("HTTP {status}"))
    }
}

/// The request line, headers and body. The headers were checked when the configuration was
/// loaded (no CR or LF); configured ones replace ours of the same name.
fn head(job: &Job, url: &Url<'_>) -> Vec<u8> {
    let has = |name: &str| {
        job.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    let mut h = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        job.method, url.target, url.authority
    );
    if !has("user-agent") {
        h.push_str(concat!(
            "User-Agent: phpeek-pm/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        ));
    }
    for (k, v) in &job.headers {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    let body = job.body.as_deref().unwrap_or_default();
    if job.body.is_some() && !has("content-type") {
        h.push_str("Content-Type: text/plain\r\n");
    }
    if matches!(job.method, "POST" | "PUT") {
        h.push_str("Content-Length: ");
        h.push_str(&body.len().to_string());
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.push_str(body);
    h.into_bytes()
}

/// Reads until a final (non-1xx) response head is complete and returns its status.
fn read_status(stream: &mut dyn Stream) -> Result<u16, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| io_error("reading the answer", &e))?;
        if n == 0 {
            return Err("the connection closed before an answer".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => match resp.code {
                    // 100 Continue and other interim answers precede the real one.
                    Some(c) if (100..200).contains(&c) => {
                        buf.drain(..len);
                    }
                    Some(c) => return Ok(c),
                    None => return Err("an invalid HTTP answer".to_owned()),
                },
                Ok(httparse::Status::Partial) => break,
                Err(e) => return Err(format!("an invalid HTTP answer: {e}")),
            }
        }
        if buf.len() > MAX_HEAD {
            return Err("the answer's head is too long".to_owned());
        }
    }
}

/// Resolves (on a throwaway thread when the host is a name: std's resolver cannot time out)
/// and connects to the first address that answers before the deadline.
fn connect(url: &Url<'_>, deadline: Instant) -> Result<TcpStream, String> {
    let bare = url.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, url.port)],
        Err(_) => {
            let (tx, rx) = mpsc::channel();
            let name = (bare.to_owned(), url.port);
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let _ = tx.send(name.to_socket_addrs().map(Iterator::collect));
                })
                .map_err(|e| io_error("resolving", &e))?;
            match rx.recv_timeout(remaining(deadline)?) {
                Ok(r) => r.map_err(|e| format!("resolving {bare}: {e}"))?,
                Err(_) => return Err(format!("resolving {bare}: timed out")),
            }
        }
    };
    let mut last = format!("{bare} has no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = io_error(&format!("connecting to {a}"), &e),
        }
    }
    Err(last)
}

fn io_error(what: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!("{what}: timed out"),
        _ => format!("{what}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn urls() {
        let u = parse("https://hc-ping.com/abc?x=1#frag").unwrap();
        assert_eq!(
            u,
            Url {
                https: true,
                host: "hc-ping.com",
                port: 443,
                authority: "hc-ping.com",
                target: "/abc?x=1"
            }
        );
        let u = parse("http://[::1]:8080").unwrap();
        assert_eq!((u.host, u.port, u.target), ("[::1]", 8080, "/"));
        let u = parse("http://user:pw@h:81?q").unwrap();
        assert_eq!(
            (u.host, u.port, u.authority, u.target),
            ("h", 81, "h:81", "?q")
        );
        assert_eq!(parse("http://[::1]/p").unwrap().port, 80);
        assert!(parse("ftp://h/").is_err());
        assert!(parse("http:///p").is_err());
        assert!(parse("http://h:x/").is_err());
        assert!(parse("http://h/a b").is_err());
    }

    /// A real exchange over loopback, by name (the resolver thread), with an interim answer
    /// before the final one and configured headers replacing ours.
    #[test]
    fn a_post_by_name_with_an_interim_answer() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 512];
            while !got.ends_with(b"exit_code=3") {
                let n = s.read(&mut b).unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&b[..n]);
            }
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nX: y\r\n\r\nbody")
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let job = Job {
            task: 0,
            run: 1,
            ping: crate::scheduler::Ping::Fail(Some(3)),
            url: format!("http://localhost:{port}/p/fail?k=1#x"),
            method: "POST",
            body: Some("exit_code=3".into()),
            headers: vec![("user-agent".into(), "mine".into())],
            timeout_ms: 5000,
            attempts: 1,
            retry_delay_ms: 0,
            ca_pem: None,
        };
        let tls = super::super::tls::client(None).unwrap();
        assert_eq!(request(&job, &tls), Ok(202));
        let req = server.join().unwrap();
        assert!(req.starts_with("POST /p/fail?k=1 HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains(&format!("\r\nHost: localhost:{port}\r\n")),
            "{req}"
        );
        assert!(req.contains("\r\nuser-agent: mine\r\n"), "{req}");
        assert!(!req.contains("phpeek-pm/"), "{req}");
        assert!(
            req.contains("\r\nContent-Length: 11\r\n\r\nexit_code=3"),
            "{req}"
        );
    }

    #[test]
    fn a_refused_connection_and_a_non_2xx_answer_fail() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 512];
            let _ = s.read(&mut b).unwrap();
            s.write_all(b"HTTP/1.1 503 Busy\r\n\r\n").unwrap();
        });
        let mut job = Job {
            task: 0,
            run: 1,
            ping: crate::scheduler::Ping::Start,
            url: format!("http://127.0.0.1:{port}/p"),
            method: "GET",
            body: None,
            headers: vec![],
            timeout_ms: 5000,
            attempts: 1,
            retry_delay_ms: 0,
            ca_pem: None,
        };
        let tls = super::super::tls::client(None).unwrap();
        assert_eq!(request(&job, &tls), Err("HTTP 503".to_owned()));
        server.join().unwrap();
        job.url = format!("http://127.0.0.1:{port}/p");
        let e = request(&job, &tls).unwrap_err();
        assert!(e.starts_with("connecting to 127.0.0.1:"), "{e}");
    }
}
