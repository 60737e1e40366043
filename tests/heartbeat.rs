//! Heartbeat pings (issue 10, feature `heartbeat`, HTTPS with `tls`), with the real binary: a
//! local HTTP receiver sees exactly `start` → success, and `start` → `fail` with the exit code;
//! a receiver that accepts connections and never answers does not delay signal handling (a
//! SIGUSR1 forwarded to a child's trap, measured while the ping hangs) nor the schedule, and
//! costs one logged, counted failure, and the API answers meanwhile; HTTPS against a local TLS receiver whose test CA is given
//! by `ca_file` works, and the bundled roots do not trust that CA.
#![cfg(feature = "heartbeat")]

#[cfg(feature = "api")]
mod http_support;
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use support::*;

/// Records every request as a JSON line `{method, path, body}` in `log` and answers 200.
const RECEIVER: &str = r#"
import http.server, json, os, ssl, sys
log, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def _do(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n).decode() if n else ''
        with open(log, 'a') as f:
            f.write(json.dumps({'method': self.command, 'path': self.path, 'body': body}) + '\n')
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'OK')
    do_GET = do_POST = do_PUT = do_HEAD = _do
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + '.tmp', portfile)
srv.serve_forever()
"#;

/// Accepts connections (through the listen backlog) and never answers.
const HANG: &str = r#"
import os, socket, sys, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(64)
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
time.sleep(600)
"#;

/// A helper process killed when the test ends, however it ends.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_python(script: &str, args: &[&str], portfile: &Path) -> (Helper, u16) {
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3");
    let h = Helper(child);
    let port = poll_until(secs(10.0), "the receiver's port", || {
        std::fs::read_to_string(portfile).ok()?.trim().parse().ok()
    });
    (h, port)
}

/// Requests the receiver logged: `(method, path, body)`.
fn requests(log: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let f = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            (f("method"), f("path"), f("body"))
        })
        .collect()
}

/// A 6-field schedule firing once a day, `ahead` seconds from now (UTC).
fn once_in(ahead: u64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + ahead;
    format!("{} {} {} * * *", t % 60, (t / 60) % 60, (t / 3600) % 24)
}

fn is_ev(r: &serde_json::Value, event: &str, process: &str) -> bool {
    r.event() == Some(event) && r.process() == Some(process)
}

#[test]
fn pings_follow_the_healthchecks_protocol() {
    let dir = TestDir::new("hb");
    let log = dir.file("requests.jsonl");
    let portfile = dir.file("port");
    let (_rx, port) = start_python(
        RECEIVER,
        &[log.to_str().unwrap(), portfile.to_str().unwrap()],
        &portfile,
    );
    let when = once_in(3);
    let cfg = format!(
        r#"global:
  log_level: debug
processes:
  ok:
    command: ["true"]
    schedule: "{when}"
    heartbeat:
      url: http://127.0.0.1:{port}/ping/ok
      timeout: 5
  bad:
    command: {bad}
    schedule: "{when}"
    heartbeat:
      url: "http://127.0.0.1:{port}/ping/bad/"
      timeout: 5s
      retry_count: 1
"#,
        bad = sh("exit 3"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_count(4, secs(15.0), "four pings sent", |r| {
        r.event() == Some("heartbeat_sent")
    });
    let mut ok: Vec<_> = requests(&log);
    ok.retain(|(_, p, _)| p.starts_with("/ping/ok"));
    assert_eq!(
        ok,
        [
            ("POST".into(), "/ping/ok/start".into(), String::new()),
            ("POST".into(), "/ping/ok".into(), String::new()),
        ]
    );
    let mut bad = requests(&log);
    bad.retain(|(_, p, _)| p.starts_with("/ping/bad"));
    assert_eq!(
        bad,
        [
            ("POST".into(), "/ping/bad/start".into(), String::new()),
            ("POST".into(), "/ping/bad/fail".into(), "exit_code=3".into()),
        ]
    );
    assert_eq!(requests(&log).len(), 4, "nothing else was sent");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn a_receiver_that_never_answers_delays_nothing() {
    let dir = TestDir::new("hb-hang");
    let portfile = dir.file("port");
    let (_rx, port) = start_python(HANG, &[portfile.to_str().unwrap()], &portfile);
    let cfg = format!(
        r#"processes:
  trapper:
    forward_signals: [USR1]
    command: {trapper}
  tick:
    command: ["true"]
    schedule: "* * * * * *"
    heartbeat:
      url: http://127.0.0.1:{port}/ping
      timeout: 4s
      retry_count: 1
"#,
        trapper = sh("trap 'echo usr1' USR1; echo ready; while :; do sleep 0.05; done"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(5.0), "trapper ready", |r| r.says("trapper-0", "ready"));
    m.wait_for(secs(5.0), "run 1", |r| {
        is_ev(r, "task_started", "tick") && r.instance() == Some("tick-run-1")
    });
    // The start ping of run 1 now hangs for 4 s. Signals go through at once meanwhile.
    let mut worst = std::time::Duration::ZERO;
    for k in 1..=3 {
        let t0 = Instant::now();
        m.signal(libc::SIGUSR1);
        m.wait_count(k, secs(3.0), "the trap's answer", |r| {
            r.says("trapper-0", "usr1")
        });
        worst = worst.max(t0.elapsed());
    }
    eprintln!("signal round trip while the receiver hangs: worst {worst:?}");
    // (The hung ping lasts 4 s; a blocked loop would show seconds here.)
    assert!(worst < secs(1.0), "a forwarded signal took {worst:?}");
    // And the schedule keeps running: more runs start while that ping still hangs.
    let first_failure_free = m.find(|r| r.event() == Some("heartbeat_failed")).is_empty();
    m.wait_for(secs(3.0), "run 3", |r| {
        is_ev(r, "task_started", "tick") && r.instance() == Some("tick-run-3")
    });
    assert!(
        first_failure_free,
        "the measurement ran while the first ping hung"
    );
    // The hung ping ends as one logged, counted failure at its timeout.
    let fail = m.wait_for(secs(8.0), "the ping's failure", |r| {
        r.event() == Some("heartbeat_failed")
    });
    assert_eq!(fail.instance(), Some("tick-run-1"));
    assert_eq!(fail.s("ping"), Some("start"));
    assert_eq!(fail.get("failures").and_then(|v| v.as_i64()), Some(1));
    let took = fail.get("duration_ms").and_then(|v| v.as_i64()).unwrap();
    assert!(
        (3_500..6_000).contains(&took),
        "gave up after {took} ms (timeout 4 s)"
    );
    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    assert!(
        t0.elapsed() < secs(3.0),
        "shutdown does not wait for hung pings"
    );
}

/// The API answers at once while a ping hangs (the loop never waits for a ping).
#[cfg(feature = "api")]
#[test]
fn the_api_answers_while_a_ping_hangs() {
    let dir = TestDir::new("hb-hang-api");
    let portfile = dir.file("port");
    let (_rx, port) = start_python(HANG, &[portfile.to_str().unwrap()], &portfile);
    let cfg = format!(
        r#"global:
  api_enabled: true
  api_port: 0
processes:
  tick:
    command: ["true"]
    schedule: "* * * * * *"
    heartbeat:
      url: http://127.0.0.1:{port}/ping
      timeout: 4s
      retry_count: 1
"#
    );
    let mut m = Manager::start(Mode::Subreaper, &dir.write("c.yaml", &cfg));
    let api = http_support::listen_addr(&mut m, "API");
    m.wait_for(secs(5.0), "run 1", |r| {
        r.event() == Some("task_started") && r.instance() == Some("tick-run-1")
    });
    // Run 1's start ping now hangs for 4 s: time API requests meanwhile.
    let req =
        b"GET /api/v1/processes/tick/schedule HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut worst = std::time::Duration::ZERO;
    for _ in 0..10 {
        let t0 = Instant::now();
        let answer = http_support::raw(&api, req);
        worst = worst.max(t0.elapsed());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    eprintln!("API latency while the receiver hangs: worst of 10 {worst:?}");
    assert!(
        m.find(|r| r.event() == Some("heartbeat_failed")).is_empty(),
        "measured while the first ping still hung"
    );
    assert!(worst < secs(0.5), "an API request took {worst:?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[cfg(feature = "tls")]
#[test]
fn https_with_a_private_ca_from_ca_file() {
    let dir = TestDir::new("hb-tls");
    let d = |f: &str| dir.s(f);
    // A test CA (P-256) and a server certificate for 127.0.0.1 signed by it.
    let script = "set -e
        ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
        openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj '/CN=phpeek test CA' \\
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        openssl req $ec -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
        openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \\
            -days 2 -extfile ext.cnf";
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir.file(""))
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.file("requests.jsonl");
    let portfile = dir.file("port");
    let (_rx, port) = start_python(
        RECEIVER,
        &[
            log.to_str().unwrap(),
            portfile.to_str().unwrap(),
            &d("srv.pem"),
            &d("srv.key"),
        ],
        &portfile,
    );
    let when = once_in(3);
    let cfg = format!(
        r#"global:
  log_level: debug
processes:
  secure:
    command: ["true"]
    schedule: "{when}"
    heartbeat:
      url: https://127.0.0.1:{port}/ping/secure
      ca_file: {ca}
      timeout: 5
  untrusted:
    command: ["true"]
    schedule: "{when}"
    heartbeat:
      url: https://127.0.0.1:{port}/ping/untrusted
      timeout: 5
      retry_count: 1
"#,
        ca = q(&d("ca.pem")),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    m.wait_count(2, secs(15.0), "two pings over TLS", |r| {
        is_ev(r, "heartbeat_sent", "secure")
    });
    let fails = m.wait_count(2, secs(15.0), "two refused pings", |r| {
        is_ev(r, "heartbeat_failed", "untrusted")
    });
    assert!(
        fails[0].msg().to_ascii_lowercase().contains("cert"),
        "the bundled roots do not trust the test CA: {}",
        fails[0].msg()
    );
    let got: Vec<String> = requests(&log).into_iter().map(|(_, p, _)| p).collect();
    assert_eq!(got, ["/ping/secure/start", "/ping/secure"]);
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[cfg(not(feature = "tls"))]
#[test]
fn https_without_tls_is_a_config_error_naming_the_feature() {
    let dir = TestDir::new("hb-notls");
    let path = dir.write(
        "c.yaml",
        "processes:\n  job:\n    command: [\"true\"]\n    schedule: \"0 3 * * *\"\n    heartbeat:\n      url: https://hc-ping.com/x\n",
    );
    let out = run_cmd(
        &["check-config", "-c", path.to_str().unwrap()],
        &[],
        None,
        secs(10.0),
    );
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("c.yaml:6:"), "{}", out.stderr);
    assert!(out.stderr.contains("feature \"tls\""), "{}", out.stderr);
}
