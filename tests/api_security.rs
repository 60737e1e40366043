//! Security review of the management API (issue #13), as tests against the real binary:
//!
//! - with a token configured, every route but liveness and readiness refuses a request without
//!   the exact token (none, wrong, a prefix, a longer one, another scheme, wrong case of the
//!   scheme) with 401, and a refused command changes nothing (same pid, no stop);
//! - no secret leaves the manager: neither the token nor a process's environment value appears
//!   in any log record, in stderr or in any answer, whatever was asked;
//! - the Unix socket is 0600, even when the manager starts with umask 000 (it is created with a
//!   restrictive umask, never open to others for an instant).
#![cfg(feature = "api")]

mod http_support;
mod support;

use http_support::*;
use support::*;

const TOKEN: &str = "tok-9f2c61d0a4e7";
const SECRET_ENV: &str = "db-password-7c1e55";

fn config(dir: &TestDir, sock: &str) -> std::path::PathBuf {
    let cfg = format!(
        r#"global:
  api_enabled: true
  api_port: 0
  api_auth: "{TOKEN}"
  api_socket: {sock}
  shutdown_timeout: 5
processes:
  web:
    command: ["sleep", "1000"]
    env:
      DB_PASSWORD: "{SECRET_ENV}"
  once:
    type: oneshot
    command: {once}
"#,
        once = sh("echo done"),
    );
    dir.write("c.yaml", &cfg)
}

/// The ways a request can fail to carry the token.
fn bad_auth() -> Vec<Option<String>> {
    vec![
        None,
        Some("Bearer wrong".into()),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer  {TOKEN}")),
        Some(format!("bearer {TOKEN}")),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.into()),
        Some(String::new()),
    ]
}

#[test]
fn every_route_but_health_needs_the_exact_token() {
    let dir = TestDir::new("apisec");
    let sock = dir.s("api.sock");
    let mut m = Manager::start(Mode::Pid1, &config(&dir, &sock));
    let addr = listen_addr(&mut m, "API");
    let url = |p: &str| format!("http://{addr}/api/v1{p}");
    m.wait_for(secs(10.0), "web started", |r| r.is("started", "web-0"));
    let pid = || {
        let r = curl_auth(TOKEN, &[&url("/processes/web")]);
        assert_eq!(r.status, 200, "{r:?}");
        r.json()["instances"][0]["pid"].as_i64().unwrap()
    };
    let pid0 = pid();

    let mut bodies = Vec::new();
    let routes: [(&str, &str, Option<&str>); 13] = [
        ("GET", "/processes", None),
        ("GET", "/processes/web", None),
        ("GET", "/processes/web/logs", None),
        ("GET", "/processes/web/schedule", None),
        ("POST", "/processes/web/stop", None),
        ("POST", "/processes/web/start", None),
        ("POST", "/processes/web/restart", None),
        ("POST", "/processes/web/scale", Some("{\"desired\":3}")),
        ("POST", "/processes/web/schedule/trigger", None),
        ("POST", "/processes/web/schedule/pause", None),
        ("POST", "/processes/web/schedule/resume", None),
        ("DELETE", "/processes/web", None),
        ("POST", "/nope", None),
    ];
    let mut refused = 0;
    for (method, path, body) in routes {
        for auth in bad_auth() {
            let mut args: Vec<String> = vec!["-X".into(), method.into()];
            if let Some(a) = &auth {
                args.push("-H".into());
                args.push(format!("Authorization: {a}"));
            }
            if let Some(b) = body {
                args.extend(["-H".into(), "Content-Type: application/json".into()]);
                args.extend(["--data".into(), b.into()]);
            }
            args.push(url(path));
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = curl(&a);
            assert_eq!(
                r.status, 401,
                "{method} {path} with {auth:?} was not refused: {r:?}"
            );
            assert!(r.headers.contains("WWW-Authenticate: Bearer"), "{r:?}");
            bodies.push(r.body);
            refused += 1;
        }
    }
    // Liveness and readiness stay open (probes carry no token).
    assert_eq!(curl(&[&url("/health")]).status, 200);
    assert_eq!(curl(&[&url("/ready")]).status, 200);
    // Nothing happened to web.
    assert_eq!(pid(), pid0, "a refused command changed web");
    assert!(m.events("stopping", "web-0").is_empty(), "{}", m.dump());
    assert!(m.find(|r| r.is("started", "web-1")).is_empty());
    // The right token works, for a command too.
    let r = curl_auth(TOKEN, &["-X", "POST", &url("/processes/web/restart")]);
    assert!(r.status < 300, "{r:?}");
    m.wait_for(secs(10.0), "web restarted", |r| {
        r.event() == Some("started") && r.instance() == Some("web-0") && r.i("pid") != Some(pid0)
    });
    // No answer quoted the token or the secret.
    for b in &bodies {
        assert!(!b.contains(TOKEN) && !b.contains(SECRET_ENV), "leak in {b}");
    }
    println!("{refused} requests without the exact token refused with 401");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn no_secret_in_logs_or_answers() {
    let dir = TestDir::new("apisecret");
    let sock = dir.s("api.sock");
    let mut m = Manager::start(Mode::Pid1, &config(&dir, &sock));
    let addr = listen_addr(&mut m, "API");
    let url = |p: &str| format!("http://{addr}/api/v1{p}");
    m.wait_for(secs(10.0), "once completed", |r| {
        r.is("completed", "once-0")
    });
    let mut answers = Vec::new();
    for p in [
        "/processes",
        "/processes/web",
        "/processes/web/logs?limit=1000",
        "/processes/once/logs",
        "/processes/nope",
        "/processes/web/logs?limit=x",
    ] {
        answers.push(curl_auth(TOKEN, &[&url(p)]).body);
        answers.push(curl(&["-H", "Authorization: Bearer wrong", &url(p)]).body);
    }
    for (p, body) in [
        ("/processes/web/scale", "{\"desired\":\"x\"}"),
        ("/processes/web/scale", "not json"),
        ("/processes/web/scale", "{\"token\":1}"),
    ] {
        answers.push(curl_auth(TOKEN, &["--data", body, &url(p)]).body);
    }
    // The CLI client, token from the environment.
    let out = std::process::Command::new(bin())
        .args(["status", "-c"])
        .arg(dir.file("c.yaml"))
        .env("PHPEEK_PM_API_TOKEN", "wrong-token")
        .output()
        .unwrap();
    answers.push(String::from_utf8_lossy(&out.stdout).into_owned());
    answers.push(String::from_utf8_lossy(&out.stderr).into_owned());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);

    let mut leaks = Vec::new();
    for r in m.records() {
        let s = r.to_string();
        if s.contains(TOKEN) || s.contains(SECRET_ENV) {
            leaks.push(format!("log record: {s}"));
        }
    }
    let stderr = m.stderr();
    if stderr.contains(TOKEN) || stderr.contains(SECRET_ENV) {
        leaks.push(format!("stderr: {stderr}"));
    }
    for a in &answers {
        if a.contains(TOKEN) || a.contains(SECRET_ENV) {
            leaks.push(format!("answer: {a}"));
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

/// The socket's mode, whatever the umask the manager was started with.
fn socket_mode(umask: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new("apisock");
    let sock = dir.s("api.sock");
    let set_umask = format!("umask {umask} && exec \"$@\"");
    let mut m = Launch::new(Mode::Pid1)
        .wrap(&["sh", "-c", &set_umask, "sh"])
        .config(&config(&dir, &sock))
        .spawn();
    m.wait_for(secs(10.0), "the socket listening", |r| {
        r.event() == Some("listening") && r.s("address") == Some(sock.as_str())
    });
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    let r = curl_auth(
        TOKEN,
        &["--unix-socket", &sock, "http://localhost/api/v1/processes"],
    );
    assert_eq!(r.status, 200, "{r:?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    mode
}

#[test]
fn unix_socket_is_0600_whatever_the_umask() {
    for umask in ["000", "022", "077"] {
        let mode = socket_mode(umask);
        assert_eq!(mode, 0o600, "socket mode {mode:o} under umask {umask}");
    }
}
