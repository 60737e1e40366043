//! The client side of the API: a small blocking HTTP/1.1 client over TCP or a Unix socket, for
//! the client subcommands (`src/api/client.rs`) and `top` (`src/api/top.rs`). One request per
//! connection (`Connection: close`), each exchange bounded by a deadline and its answer by a
//! size. It runs in the short-lived client process, never in the manager's loop.
//!
//! Where the manager is: `--api URL|PATH`, else `$PHPEEK_PM_API`, else the configuration's
//! `api_socket` or `api_host:api_port`, else `http://127.0.0.1:8080`. The token:
//! `$PHPEEK_PM_API_TOKEN`, else the configuration's `api_auth`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::config::model::{ApiSettings, defaults};

/// Connecting gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Actions answer when done (a graceful stop may take the process's whole stop timeout, and the
/// manager answers 504 by itself after its own deadline): wait long, but not forever.
const READ_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Answers larger than this are cut (a `logs` answer is at most a few MiB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// Where the manager listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `host:port`.
    Tcp(String),
    /// A Unix socket path.
    Unix(String),
}

impl Target {
    /// `http://host:port[/]`, `host:port`, or a path (`/…`, `./…`).
    pub fn parse(s: &str) -> Result<Target, String> {
        if s.starts_with('/') || s.starts_with('.') {
            return Ok(Target::Unix(s.to_owned()));
        }
        if s.starts_with("https://") {
            return Err("the API speaks plain HTTP (put a TLS proxy in front to expose it)".into());
        }
        let rest = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || !rest.contains(':') {
            return Err(format!(
                "--api {s:?}: give http://HOST:PORT or the path of the Unix socket"
            ));
        }
        Ok(Target::Tcp(rest.to_owned()))
    }

    /// From the manager's configuration: its socket if it has one, else its TCP address (a
    /// wildcard address is reached on loopback).
    pub fn from_settings(a: &ApiSettings) -> Option<Target> {
        if let Some(s) = &a.socket {
            return Some(Target::Unix(s.clone()));
        }
        let mut addr = a.tcp?;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        Some(Target::Tcp(addr.to_string()))
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Target::Tcp(a) => format!("http://{a}"),
            Target::Unix(p) => p.clone(),
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub struct Unreachable(pub String);

/// Sends one request and reads the whole answer: (status, body).
pub fn request(
    target: &Target,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, Vec<u8>), Unreachable> {
    request_within(
        target,
        method,
        path,
        token,
        body,
        CONNECT_TIMEOUT,
        READ_TIMEOUT,
    )
}

/// [`request`] that gives up after `connect` to connect and `total` for the whole exchange.
pub fn request_within(
    target: &Target,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    connect: Duration,
    total: Duration,
) -> Result<(u16, Vec<u8>), Unreachable> {
    let deadline = Instant::now() + total;
    let fail = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            Unreachable(format!("no answer within {} ms", total.as_millis()))
        }
        _ => Unreachable(e.to_string()),
    };
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: phpeek-pm\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let answer = match target {
        Target::Tcp(addr) => {
            use std::net::ToSocketAddrs;
            let addrs: Vec<_> = addr.to_socket_addrs().map_err(fail)?.collect();
            let mut last = Unreachable(format!("{addr} resolves to no address"));
            let mut stream = None;
            for a in addrs {
                match TcpStream::connect_timeout(&a, connect) {
                    Ok(s) => {
                        stream = Some(s);
                        break;
                    }
                    Err(e) => last = fail(e),
                }
            }
            let s = stream.ok_or(last)?;
            exchange(
                s,
                |s, t| s.set_read_timeout(t).and(s.set_write_timeout(t)),
                req.as_bytes(),
                deadline,
            )
            .map_err(fail)?
        }
        Target::Unix(path) => {
            // A Unix socket connects at once or fails at once (no peer, no permission); only
            // a listener whose backlog is full could make it wait.
            let s = UnixStream::connect(path).map_err(fail)?;
            exchange(
                s,
                |s, t| s.set_read_timeout(t).and(s.set_write_timeout(t)),
                req.as_bytes(),
                deadline,
            )
            .map_err(fail)?
        }
    };
    parse_answer(&answer).ok_or_else(|| Unreachable("the answer is not HTTP".to_owned()))
}

/// Writes `req` and reads until the peer closes, all before `deadline` (a peer that drips
/// bytes cannot stretch it).
fn exchange<S: Read + Write>(
    mut s: S,
    set_timeout: impl Fn(&S, Option<Duration>) -> std::io::Result<()>,
    req: &[u8],
    deadline: Instant,
) -> std::io::Result<Vec<u8>> {
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    set_timeout(&s, Some(left()?))?;
    s.write_all(req)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    while answer.len() < MAX_ANSWER {
        set_timeout(&s, Some(left()?))?;
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let take = n.min(MAX_ANSWER - answer.len());
        answer.extend_from_slice(&buf[..take]);
    }
    Ok(answer)
}

/// Status and body of an HTTP/1.1 answer read to its end.
pub fn parse_answer(bytes: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(n) = resp.parse(bytes).ok()? else {
        return None;
    };
    let status = resp.code?;
    let len = resp
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
    let body = &bytes[n..];
    let body = match len {
        Some(l) => body.get(..l)?,
        None => body,
    };
    Some((status, body.to_vec()))
}

/// Where the manager is and its token: `--api` (`given`), else `$PHPEEK_PM_API`, else the
/// configuration's settings, else the default address; an error text for a bad address.
pub(super) fn locate(
    given: Option<&str>,
    settings: Option<&ApiSettings>,
) -> Result<(Target, Option<String>), String> {
    let given = given.map(str::to_owned).or_else(|| {
        std::env::var("PHPEEK_PM_API")
            .ok()
            .filter(|s| !s.is_empty())
    });
    let target = match given {
        Some(s) => Target::parse(&s)?,
        None => settings.and_then(Target::from_settings).unwrap_or_else(|| {
            Target::Tcp(format!("{}:{}", defaults::API_HOST, defaults::API_PORT))
        }),
    };
    let token = std::env::var("PHPEEK_PM_API_TOKEN")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| settings.and_then(|s| s.auth.clone()));
    Ok((target, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("http://127.0.0.1:9180/").unwrap(),
            Target::Tcp("127.0.0.1:9180".into())
        );
        assert_eq!(
            Target::parse("localhost:1").unwrap(),
            Target::Tcp("localhost:1".into())
        );
        assert_eq!(
            Target::parse("/run/p.sock").unwrap(),
            Target::Unix("/run/p.sock".into())
        );
        assert!(Target::parse("https://x:1").is_err());
        assert!(Target::parse("http://x/api").is_err());
        assert!(Target::parse("nohost").is_err());
        let a = ApiSettings {
            tcp: Some("0.0.0.0:9180".parse().unwrap()),
            socket: None,
            auth: None,
            tls: None,
            acl: None,
        };
        assert_eq!(
            Target::from_settings(&a),
            Some(Target::Tcp("127.0.0.1:9180".into()))
        );
    }

    #[test]
    fn answers() {
        let a = b"HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        assert_eq!(parse_answer(a), Some((409, b"{}".to_vec())));
        assert_eq!(parse_answer(b"garbage"), None);
    }
}
