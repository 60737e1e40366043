//! The client subcommands (`phpeek-pm status|start|stop|restart|scale|logs`, and `health` when
//! it asks the API — see `src/probe.rs`): a small blocking
//! HTTP/1.1 client over TCP or a Unix socket, rendering the API's JSON for a terminal. It runs
//! in the short-lived client process, never in the manager's loop.
//!
//! Where the manager is: `--api URL|PATH`, else `$PHPEEK_PM_API`, else the configuration's
//! `api_socket` or `api_host:api_port`, else `http://127.0.0.1:8080`. The token:
//! `$PHPEEK_PM_API_TOKEN`, else the configuration's `api_auth`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{Client, ClientAction, Health};
use crate::config::model::{ApiSettings, Config, defaults};

use crate::exit::client as exit;

/// Connecting gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Actions answer when done (a graceful stop may take the process's whole stop timeout, and the
/// manager answers 504 by itself after its own deadline): wait long, but not forever.
const READ_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Answers larger than this are cut (a `logs` answer is at most a few MiB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// A probe must finish well inside the orchestrator's own probe timeout (Kubernetes: 1 s by
/// default): connecting gives up after this long...
const PROBE_CONNECT: Duration = Duration::from_millis(300);
/// ...and the whole exchange after this long.
const PROBE_TOTAL: Duration = Duration::from_millis(800);

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

    fn describe(&self) -> String {
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
fn locate(
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

fn valid_name(n: &str) -> bool {
    !n.is_empty() && !n.contains(['/', '?', '#', ' ', '%', '&', '='])
}

/// `phpeek-pm health [NAME] [--live]` over the API: `GET /api/v1/ready[?process=NAME]` (or
/// `/api/v1/health` for `--live`), which need no token, within [`PROBE_TOTAL`]. Exit codes
/// are [`crate::probe::exit`]'s.
pub fn health(h: &Health, settings: Option<&ApiSettings>) -> u8 {
    use crate::probe::exit as probe;
    let (target, token) = match locate(h.api.as_deref(), settings) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("phpeek-pm: {e}");
            return probe::USAGE;
        }
    };
    let path = match (&h.name, h.live) {
        (_, true) => "/api/v1/health".to_owned(),
        (Some(n), false) if valid_name(n) => format!("/api/v1/ready?process={n}"),
        (Some(n), false) => {
            eprintln!("phpeek-pm: {n:?} is not a process name");
            return probe::USAGE;
        }
        (None, false) => "/api/v1/ready".to_owned(),
    };
    let answer = request_within(
        &target,
        "GET",
        &path,
        token.as_deref(),
        None,
        PROBE_CONNECT,
        PROBE_TOTAL,
    );
    let (status, body) = match answer {
        Ok(a) => a,
        Err(Unreachable(e)) => {
            println!("unreachable: {}: {e}", target.describe());
            return probe::UNREACHABLE;
        }
    };
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let what = h.name.as_deref().unwrap_or("every longrun");
    match status {
        200 if h.live => {
            println!("alive");
            probe::READY
        }
        200 => {
            println!("ready: {what}");
            probe::READY
        }
        503 => {
            let waiting: Vec<String> = doc["not_ready"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    format!(
                        "{} {}",
                        i["instance"].as_str().unwrap_or("?"),
                        i["state"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let why = if doc["shutting_down"] == true {
                "shutting down".to_owned()
            } else {
                waiting.join(", ")
            };
            println!("not ready: {what}: {why}");
            probe::NOT_READY
        }
        404 if h.name.is_some()
            && doc["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("unknown process")) =>
        {
            println!("unknown process {what:?}");
            probe::UNKNOWN_PROCESS
        }
        _ => {
            println!("not ready: the manager answered {status}");
            probe::NOT_READY
        }
    }
}

/// Runs a client subcommand; `config` is the manager's configuration when one was found.
pub fn run(c: &Client, config: Option<&Config>) -> u8 {
    let settings = config.and_then(|c| c.global.api.as_ref());
    let (target, token) = match locate(c.api.as_deref(), settings) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("phpeek-pm: {e}");
            return exit::USAGE;
        }
    };
    let (method, path, body) = match &c.action {
        ClientAction::Top { once } => return super::top::run(&target, token.as_deref(), *once),
        ClientAction::Status => ("GET", "/api/v1/processes".to_owned(), None),
        ClientAction::Start(n) => ("POST", format!("/api/v1/processes/{n}/start"), None),
        ClientAction::Stop(n) => ("POST", format!("/api/v1/processes/{n}/stop"), None),
        ClientAction::Restart(n) => ("POST", format!("/api/v1/processes/{n}/restart"), None),
        ClientAction::Scale(n, k) => (
            "POST",
            format!("/api/v1/processes/{n}/scale"),
            Some(format!("{{\"desired\":{k}}}")),
        ),
        ClientAction::Logs(n, k) => ("GET", format!("/api/v1/processes/{n}/logs?limit={k}"), None),
        ClientAction::Reload(Some(n)) => ("POST", format!("/api/v1/processes/{n}/reload"), None),
        ClientAction::Reload(None) => ("POST", "/api/v1/reload".to_owned(), None),
        ClientAction::ReloadConfig => ("POST", "/api/v1/config/reload".to_owned(), None),
    };
    if let ClientAction::Start(n)
    | ClientAction::Stop(n)
    | ClientAction::Restart(n)
    | ClientAction::Scale(n, _)
    | ClientAction::Logs(n, _)
    | ClientAction::Reload(Some(n)) = &c.action
    {
        if !valid_name(n) {
            eprintln!("phpeek-pm: {n:?} is not a process name");
            return exit::USAGE;
        }
    }
    let (status, body) = match request(&target, method, &path, token.as_deref(), body.as_deref()) {
        Ok(a) => a,
        Err(Unreachable(e)) => {
            eprintln!(
                "phpeek-pm: cannot reach the manager at {}: {e}\n\
                 Is phpeek-pm running with api_enabled: true? Point at it with --api URL|PATH \
                 (or PHPEEK_PM_API).",
                target.describe()
            );
            return exit::UNREACHABLE;
        }
    };
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let error = doc["error"].as_str().unwrap_or("").to_owned();
    match status {
        200 => {}
        400 if matches!(c.action, ClientAction::ReloadConfig) => {
            eprintln!("phpeek-pm: {error}");
            for e in doc["errors"].as_array().into_iter().flatten() {
                eprintln!("phpeek-pm: {}", e.as_str().unwrap_or_default());
            }
            return exit::FAILED;
        }
        401 => {
            let hint = if token.is_some() {
                "the token was refused: set PHPEEK_PM_API_TOKEN to the manager's api_auth"
            } else {
                "the API needs a token: set PHPEEK_PM_API_TOKEN to the manager's api_auth"
            };
            eprintln!("phpeek-pm: {hint}");
            return exit::UNAUTHORIZED;
        }
        404 if error.starts_with("unknown process") => {
            let name = match &c.action {
                ClientAction::Status
                | ClientAction::Reload(None)
                | ClientAction::ReloadConfig
                | ClientAction::Top { .. } => "",
                ClientAction::Start(n)
                | ClientAction::Stop(n)
                | ClientAction::Restart(n)
                | ClientAction::Scale(n, _)
                | ClientAction::Logs(n, _)
                | ClientAction::Reload(Some(n)) => n,
            };
            eprintln!("phpeek-pm: unknown process {name:?}: `phpeek-pm status` lists them");
            return exit::UNKNOWN_PROCESS;
        }
        _ => {
            let what = if error.is_empty() {
                String::from_utf8_lossy(&body).into_owned()
            } else {
                error
            };
            eprintln!("phpeek-pm: the manager answered {status}: {what}");
            return exit::FAILED;
        }
    }
    let text = match &c.action {
        ClientAction::Status | ClientAction::Top { .. } => status_table(&doc, now_unix()),
        ClientAction::Logs(..) => log_lines(&doc),
        ClientAction::Scale(n, k) => format!("{n}: scaled to {k}\n"),
        ClientAction::Start(n) | ClientAction::Stop(n) | ClientAction::Restart(n) => {
            format!("{n}: {}\n", doc["status"].as_str().unwrap_or("done"))
        }
        ClientAction::Reload(_) => format!("{}\n", doc["message"].as_str().unwrap_or("reloaded")),
        ClientAction::ReloadConfig => reload_summary(&doc),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    exit::OK
}

/// What a configuration reload did, in a few lines.
fn reload_summary(doc: &Value) -> String {
    let list = |k: &str| -> String {
        let v: Vec<&str> = doc[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    let mut text = format!(
        "configuration reloaded: added {}; removed {}; restarted {}; scaled {}; {} unchanged\n",
        list("added"),
        list("removed"),
        list("restarted"),
        list("scaled"),
        doc["unchanged"].as_i64().unwrap_or(0)
    );
    if doc["needs_restart"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        text.push_str(&format!(
            "not applied until phpeek-pm restarts: {}\n",
            list("needs_restart")
        ));
    }
    text
}

pub(super) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `H:MM:SS`, or `Nd H:MM:SS` past a day.
pub(super) fn uptime(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}:{m:02}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

/// A byte count for people: `812K`, `94.6M`, `1.2G` (powers of 1024).
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    match n {
        0..1_048_576 => format!("{}K", n / 1024),
        1_048_576..1_073_741_824 => format!("{:.1}M", f / 1_048_576.0),
        _ => format!("{:.1}G", f / 1_073_741_824.0),
    }
}

/// The process list as a table, one row per instance (like `supervisorctl status`).
pub fn status_table(doc: &Value, now: i64) -> String {
    let mut rows: Vec<[String; 8]> = vec![[
        "INSTANCE".into(),
        "STATE".into(),
        "PID".into(),
        "UPTIME".into(),
        "RESTARTS".into(),
        "CPU".into(),
        "MEMORY".into(),
        "DETAIL".into(),
    ]];
    for p in doc["processes"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        let instances = p["instances"].as_array().cloned().unwrap_or_default();
        if instances.is_empty() {
            rows.push([
                name.into(),
                p["state"].as_str().unwrap_or("?").into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "no instances".into(),
            ]);
        }
        for i in instances {
            let pid = i["pid"].as_i64();
            let mut detail = Vec::new();
            if let Some(h) = i["health"]["status"].as_str() {
                detail.push(format!("health {h}"));
            }
            if let (None, Some(c)) = (pid, i["last_exit_code"].as_i64()) {
                detail.push(format!("last exit {c}"));
            }
            if p["type"] == "oneshot" {
                detail.push("oneshot".into());
            }
            rows.push([
                i["id"].as_str().unwrap_or("?").into(),
                i["state"].as_str().unwrap_or("?").into(),
                pid.map_or("-".into(), |p| p.to_string()),
                match (pid, i["started_at"].as_i64()) {
                    (Some(_), Some(t)) => uptime(now - t),
                    _ => "-".into(),
                },
                i["restart_count"].as_i64().unwrap_or(0).to_string(),
                // CPU seconds used by the whole process group, and its resident memory.
                i["cpu_seconds"]
                    .as_f64()
                    .map_or("-".into(), |c| format!("{c:.1}s")),
                i["memory_rss_bytes"].as_u64().map_or("-".into(), bytes),
                detail.join(", "),
            ]);
        }
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (n, (cell, w)) in r.iter().zip(widths).enumerate() {
            if n + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A logs answer (newest first) as lines, oldest first: `TIME [instance] msg`.
pub fn log_lines(doc: &Value) -> String {
    let mut out = String::new();
    let entries = doc["logs"].as_array().cloned().unwrap_or_default();
    for e in entries.iter().rev() {
        let stream = if e["stream"] == "stderr" {
            " (stderr)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{} [{}]{stream} {}\n",
            e["time"].as_str().unwrap_or(""),
            e["instance"].as_str().unwrap_or(""),
            e["msg"].as_str().unwrap_or("")
        ));
    }
    out
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

    #[test]
    fn table() {
        let doc: Value = serde_json::from_str(
            r#"{"processes":[{"name":"web","type":"longrun","state":"ready","instances":[
              {"id":"web-0","state":"ready","pid":42,"started_at":1000,"restart_count":2,
               "last_exit_code":null,"ready":true,"health":{"status":"healthy"},
               "cpu_seconds":12.5,"memory_rss_bytes":83886080},
              {"id":"web-1","state":"backoff","pid":null,"started_at":null,"restart_count":5,
               "last_exit_code":3,"ready":false,"health":null}]},
              {"name":"migrate","type":"oneshot","state":"exited","instances":[
              {"id":"migrate-0","state":"exited","pid":null,"started_at":null,"restart_count":0,
               "last_exit_code":0,"ready":true,"health":null}]}]}"#,
        )
        .unwrap();
        let t = status_table(&doc, 1000 + 3723);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("INSTANCE   STATE"), "{t}");
        assert!(
            lines[1].starts_with(
                "web-0      ready    42   1:02:03  2         12.5s  80.0M   health healthy"
            ),
            "{t}"
        );
        assert!(
            lines[2].contains("backoff") && lines[2].ends_with("last exit 3"),
            "{t}"
        );
        assert!(lines[3].ends_with("last exit 0, oneshot"), "{t}");
        assert_eq!(uptime(90_061), "1d 1:01:01");
        assert_eq!((bytes(4096), bytes(1 << 30)), ("4K".into(), "1.0G".into()));
    }

    #[test]
    fn logs_oldest_first() {
        let doc: Value = serde_json::from_str(
            r#"{"logs":[{"time":"T2","instance":"w-0","stream":"stderr","msg":"b"},
                        {"time":"T1","instance":"w-0","stream":"stdout","msg":"a"}]}"#,
        )
        .unwrap();
        assert_eq!(log_lines(&doc), "T1 [w-0] a\nT2 [w-0] (stderr) b\n");
    }
}
