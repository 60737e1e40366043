//! Observability (issue 20) against the real binary: CPU and memory per process group in the
//! API, `/metrics` (checked by promtool) and `phpeek-pm status`; the audit trail of mutating
//! and refused API calls over TCP and the Unix socket; ACLs on the API and metrics listeners
//! (issue 19).
#![cfg(all(feature = "api", feature = "metrics"))]

mod http_support;
mod support;

use http_support::*;
use support::*;

const TOKEN: &str = "tok-obs-51c2";

/// A child of the leader allocates 80 MiB and spins: the group, not the idle leader, uses it.
#[test]
fn cpu_and_memory_of_the_whole_group() {
    let dir = TestDir::new("obsres");
    let api_port = free_port();
    let metrics_port = free_port();
    let burner = dir.write(
        "burn.py",
        "b = bytearray(b'x' * (80 << 20))\nwhile True: pass\n",
    );
    let cfg = dir.write(
        "c.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: {api_port}\n  metrics_enabled: true\n  \
             metrics_port: {metrics_port}\n  metrics_host: 127.0.0.1\n  shutdown_timeout: 5\n\
             processes:\n  burner:\n    command: {cmd}\n  idle:\n    command: [sleep, '1000']\n",
            cmd = sh(&format!("python3 {} & wait", burner.display())),
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    m.wait_for(secs(10.0), "burner started", |r| {
        r.is("started", "burner-0")
    });
    let api = format!("http://127.0.0.1:{api_port}/api/v1/processes/burner");
    // Memory reaches 80 MiB and CPU time keeps growing (about a second per second).
    let inst = poll_until(secs(30.0), "80 MiB and 1 s of CPU in the API", || {
        let r = curl(&[&api]);
        let i = r.json()["instances"][0].clone();
        let ok = i["memory_rss_bytes"].as_u64()? >= 80 << 20 && i["cpu_seconds"].as_f64()? >= 1.0;
        ok.then_some(i)
    });
    assert!(inst["group_processes"].as_u64().unwrap() >= 2, "{inst}");
    let metrics = curl(&[&format!("http://127.0.0.1:{metrics_port}/metrics")]).body;
    let value = |series: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} missing in\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let sel = "{name=\"burner\",instance=\"burner-0\"}";
    assert!(value(&format!("phpeek_pm_process_memory_bytes{sel}")) >= (80 << 20) as f64);
    assert!(value(&format!("phpeek_pm_process_cpu_seconds_total{sel}")) >= 1.0);
    // The idle one uses (almost) nothing; the manager's own series are there.
    assert!(value("phpeek_pm_process_cpu_seconds_total{name=\"idle\"") < 1.0);
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert!(value("process_open_fds") > 0.0);
    let file = dir.write("metrics.txt", &metrics);
    let check = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", file.display()))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // `status` renders the same figures.
    let out = run_cmd(
        &["status", "--api", &format!("http://127.0.0.1:{api_port}")],
        &[],
        None,
        secs(10.0),
    );
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("burner-0"))
        .unwrap_or_else(|| panic!("{} {}", out.stdout, out.stderr))
        .to_owned();
    let mem = row
        .split_whitespace()
        .find(|c| c.ends_with('M'))
        .unwrap_or_else(|| panic!("no memory column: {row}"));
    assert!(
        mem.trim_end_matches('M').parse::<f64>().unwrap() >= 80.0,
        "{row}"
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

/// `resource_metrics_enabled`: samples every interval into a bounded ring per instance, served
/// by `GET /api/v1/metrics/history` in the Go tool's shape; off, the route says 503.
#[test]
fn resource_history_is_sampled_and_bounded() {
    let dir = TestDir::new("obshist");
    let api_port = free_port();
    let holder = dir.write(
        "hold.py",
        "import time\nb = bytearray(b'x' * (20 << 20))\ntime.sleep(1000)\n",
    );
    let cfg = dir.write(
        "c.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: {api_port}\n  resource_metrics_enabled: true\n  \
             resource_metrics_interval: 1\n  resource_metrics_max_samples: 3\n  shutdown_timeout: 5\n\
             processes:\n  web:\n    command: [python3, {h}]\n  idle:\n    command: [sleep, '1000']\n",
            h = holder.display(),
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    let base = format!("http://127.0.0.1:{api_port}/api/v1/metrics/history");
    // Three samples of web-0 with its 20 MiB, then the ring stays at three while the oldest
    // gives way to newer ones.
    let first = poll_until(secs(20.0), "three samples holding 20 MiB", || {
        let r = try_curl(&[&format!("{base}?process=web")]).ok()?;
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        let data = v["data"].as_array()?;
        let full = data.len() == 3
            && data
                .iter()
                .all(|d| d["memory_rss_bytes"].as_u64().unwrap_or(0) >= 20 << 20);
        full.then_some(v)
    });
    assert_eq!(first["process"], "web", "{first}");
    assert_eq!(first["samples"], 3, "{first}");
    assert_eq!(first["limit"], 100, "{first}");
    let d0 = &first["data"][0];
    assert_eq!(d0["instance"], "web-0", "{first}");
    assert!(
        d0["cpu_percent"].is_number() && d0["cpu_seconds"].is_number(),
        "{first}"
    );
    let stamps = |v: &serde_json::Value| -> Vec<i64> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| parse_time(d["timestamp"].as_str().unwrap()).unwrap())
            .collect()
    };
    let t = stamps(&first);
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "oldest first: {first}");
    let later = poll_until(secs(10.0), "the oldest sample replaced", || {
        let v = curl(&[&format!("{base}?process=web")]).json();
        (stamps(&v)[0] > t[0]).then_some(v)
    });
    assert_eq!(later["samples"], 3, "bounded by max_samples: {later}");
    // limit=1: the newest; instance= filters; another process has its own ring.
    let one = curl(&[&format!("{base}?process=web&instance=web-0&limit=1")]).json();
    assert_eq!(
        (one["samples"].clone(), one["instance"].clone()),
        (1.into(), "web-0".into())
    );
    let idle = curl(&[&format!("{base}?process=idle")]).json();
    assert!(idle["samples"].as_u64().unwrap() >= 1, "{idle}");
    assert!(
        idle["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["instance"] == "idle-0")
    );
    // Mistakes: no process 400, unknown process 404, bad limit 400.
    assert_eq!(curl(&[&base]).status, 400);
    assert_eq!(curl(&[&format!("{base}?process=nope")]).status, 404);
    assert_eq!(curl(&[&format!("{base}?process=web&limit=0")]).status, 400);
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    // Without resource_metrics_enabled there is no sampling: 503.
    let off = dir.write(
        "off.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: {api_port}\n  shutdown_timeout: 5\n\
             processes:\n  web:\n    command: [sleep, '1000']\n"
        ),
    );
    let mut m = Manager::start(Mode::Subreaper, &off);
    m.wait_for(secs(10.0), "web started", |r| r.is("started", "web-0"));
    let r = curl(&[&format!("{base}?process=web")]);
    assert_eq!(r.status, 503, "{r:?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

fn audits(m: &mut Manager) -> Vec<serde_json::Value> {
    m.find(|r| r["audit"] == true)
}

#[test]
fn audit_trail_over_tcp_and_the_unix_socket() {
    let dir = TestDir::new("obsaudit");
    let sock = dir.s("api.sock");
    let cfg = dir.write(
        "c.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: 0\n  api_auth: {TOKEN}\n  api_socket: {sock}\n  \
             audit_enabled: true\n  shutdown_timeout: 5\nprocesses:\n  web:\n    command: [sleep, '1000']\n"
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    let addr = listen_addr(&mut m, "API");
    m.wait_for(secs(10.0), "web started", |r| r.is("started", "web-0"));
    let url = |p: &str| format!("http://{addr}/api/v1{p}");
    // Reads are not audited.
    assert_eq!(curl_auth(TOKEN, &[&url("/processes")]).status, 200);
    // A restart over TCP.
    let r = curl_auth(TOKEN, &["-X", "POST", &url("/processes/web/restart")]);
    assert_eq!(r.status, 200, "{r:?}");
    let a = m.wait_for(secs(10.0), "audit of the TCP restart", |r| {
        r["audit"] == true && r["action"] == "process.restart"
    });
    assert_eq!(
        (a["target"].as_str(), a["result"].as_i64()),
        (Some("web"), Some(200))
    );
    assert!(
        a["caller"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{a}"
    );
    // Over the Unix socket: the caller's uid and pid.
    let r = curl_auth(
        TOKEN,
        &[
            "--unix-socket",
            &sock,
            "-X",
            "POST",
            "http://x/api/v1/processes/web/restart",
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let a = m.wait_for(secs(10.0), "audit of the socket restart", |r| {
        r["audit"] == true && r["caller"] == "unix"
    });
    assert_eq!(a["caller_uid"].as_i64(), Some(i64::from(unsafe_free_uid())));
    // The pid is 0 when curl lives outside the manager's pid namespace (PID 1 mode).
    assert!(a["caller_pid"].as_i64().is_some(), "{a}");
    // A wrong token: one auth.failure record.
    let r = curl_auth("wrong", &["-X", "POST", &url("/processes/web/stop")]);
    assert_eq!(r.status, 401);
    let a = m.wait_for(secs(10.0), "audit of the 401", |r| {
        r["audit"] == true && r["result"] == 401
    });
    assert_eq!(a["action"], "auth.failure");
    // Exactly the three, none for the GET.
    let all = audits(&mut m);
    assert_eq!(all.len(), 3, "{all:?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

/// Our uid, from /proc (no libc call needed).
fn unsafe_free_uid() -> u32 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn acl_refuses_with_403_and_bad_entries_are_config_errors() {
    let dir = TestDir::new("obsacl");
    let metrics_port = free_port();
    let cfg = dir.write(
        "c.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: 0\n  audit_enabled: true\n  \
             api_acl:\n    enabled: true\n    allow_list: [127.0.0.0/8]\n  metrics_enabled: true\n  \
             metrics_port: {metrics_port}\n  metrics_host: 127.0.0.1\n  metrics_acl:\n    enabled: true\n    \
             mode: deny\n    deny_list: [127.0.0.1]\n  \
             shutdown_timeout: 5\nprocesses:\n  web:\n    command: [sleep, '1000']\n"
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    let addr = listen_addr(&mut m, "API");
    assert_eq!(
        curl(&[&format!("http://{addr}/api/v1/processes")]).status,
        200
    );
    let r = curl(&[&format!("http://127.0.0.1:{metrics_port}/metrics")]);
    assert_eq!(r.status, 403, "{r:?}");
    let a = m.wait_for(secs(10.0), "audit of the 403", |r| {
        r["audit"] == true && r["result"] == 403
    });
    assert_eq!(a["action"], "acl.deny");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    // An entry that is not an address: exit 2 at check-config, with its line.
    let bad = dir.write(
        "bad.yaml",
        "global:\n  api_enabled: true\n  api_acl:\n    allow_list: [10.0.0.0/8, office]\nprocesses:\n  a:\n    command: [sleep, '1']\n",
    );
    let out = run_cmd(
        &["check-config", "-c", &bad.to_string_lossy()],
        &[],
        None,
        secs(10.0),
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("bad.yaml:4") && out.stderr.contains("\"office\""),
        "{}",
        out.stderr
    );
}

/// A python script that runs `phpeek-pm top` on a pseudo-terminal, waits for two frames,
/// sends `q`, and prints what it saw as JSON: frames, exit code, whether the terminal is back
/// in canonical mode. Its own deadline (20 s) makes it fail rather than hang.
const TOP_IN_A_PTY: &str = r#"
import json, os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "top", "--api", sys.argv[2]])
seen, code, sent, end = b"", None, False, time.time() + 20
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            seen += os.read(fd, 65536)
        except OSError:
            pass
    if not sent and seen.count(b"INSTANCE") >= 2:
        canon_in_view = bool(termios.tcgetattr(fd)[3] & termios.ICANON)
        os.write(fd, b"q")
        sent = True
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        code = os.waitstatus_to_exitcode(status)
        break
if code is None:
    os.kill(pid, 9)
print(json.dumps({"frames": seen.count(b"INSTANCE"), "code": code, "sent": sent,
                  "raw_in_view": sent and not canon_in_view,
                  "text": seen.decode("utf-8", "replace")}))
"#;

#[test]
fn top_once_prints_the_table_and_top_quits_on_q_in_a_pty() {
    let dir = TestDir::new("obstop");
    let burner = dir.write("burn.py", "while True: pass\n");
    let cfg = dir.write(
        "c.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: 0\n  shutdown_timeout: 5\n\
             processes:\n  burner:\n    command: {cmd}\n  idle:\n    command: [sleep, '1000']\n    scale: 2\n",
            cmd = sh(&format!("python3 {} & wait", burner.display())),
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    let addr = listen_addr(&mut m, "API");
    m.wait_for(secs(10.0), "burner started", |r| {
        r.is("started", "burner-0")
    });
    let api = format!("http://{addr}");
    let out = run_cmd(&["top", "--once", "--api", &api], &[], None, secs(10.0));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("phpeek-pm top  instances 3"),
        "{}",
        out.stdout
    );
    assert!(lines[1].starts_with("INSTANCE"), "{}", out.stdout);
    assert!(lines[1].contains("CPU %") && lines[1].contains("POOL BUSY/IDLE"));
    let row = |id: &str| -> Vec<String> {
        let l = lines
            .iter()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {}", out.stdout));
        l.split_whitespace().map(str::to_owned).collect()
    };
    // The spinning child uses CPU over the one-second sample (how much depends on the
    // machine's load), the sleeping ones none to speak of.
    let burn = row("burner-0");
    let pct: f64 = burn[3].parse().unwrap_or_else(|_| panic!("{burn:?}"));
    assert_eq!(burn[1], "ready");
    let idle: f64 = row("idle-1")[3].parse().unwrap();
    assert!(pct > 5.0 && idle < pct, "{}", out.stdout);
    // Live view in a pseudo-terminal: two frames, `q` quits with 0, the terminal is restored.
    let script = dir.write("top_pty.py", TOP_IN_A_PTY);
    let r = std::process::Command::new("python3")
        .args([script.to_str().unwrap(), bin(), &api])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&r.stderr)));
    assert!(v["frames"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["raw_in_view"], true, "{v}");
    assert!(v["text"].as_str().unwrap().contains("burner-0"), "{v}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

/// A test CA and a server certificate for 127.0.0.1 signed by it (RSA, the common case), made
/// with openssl: (ca.pem, server.pem, server.key).
#[cfg(feature = "tls")]
fn test_pki(dir: &TestDir) -> (String, String, String) {
    let ext = dir.write("ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    let script = format!(
        "set -e; cd {d}\n\
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
           -out ca.pem -days 2 -subj /CN=phpeek-test-ca 2>/dev/null\n\
         openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
           -subj /CN=localhost 2>/dev/null\n\
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
           -out server.pem -days 2 -extfile {ext} 2>/dev/null\n",
        d = dir.s(""),
        ext = ext.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.s("ca.pem"), dir.s("server.pem"), dir.s("server.key"))
}

#[cfg(feature = "tls")]
#[test]
fn https_on_the_api_and_metrics_listeners() {
    let dir = TestDir::new("obstls");
    let (ca, cert, key) = test_pki(&dir);
    let tls = format!("\n    enabled: true\n    cert_file: {cert}\n    key_file: {key}");
    let cfg = dir.write(
        "c.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: 0\n  api_auth: {TOKEN}\n  api_tls:{tls}\n  \
             metrics_enabled: true\n  metrics_port: 0\n  metrics_host: 127.0.0.1\n  \
             metrics_tls:{tls}\n    min_version: TLS 1.3\n  shutdown_timeout: 5\n\
             processes:\n  web:\n    command: [sleep, '1000']\n"
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    let api = listen_addr(&mut m, "API");
    let metrics = listen_addr(&mut m, "metrics endpoint");
    assert!(
        api.starts_with("https://") && metrics.starts_with("https://"),
        "{api} {metrics}"
    );
    m.wait_for(secs(10.0), "web started", |r| r.is("started", "web-0"));
    // curl verifies the chain against the test CA and the address against the certificate.
    let r = curl_auth(
        TOKEN,
        &["--cacert", &ca, &format!("{api}/api/v1/processes")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["processes"][0]["name"], "web");
    // A mutating call over TLS (a POST with a body, answered when done).
    let r = curl_auth(
        TOKEN,
        &[
            "--cacert",
            &ca,
            "-X",
            "POST",
            &format!("{api}/api/v1/processes/web/restart"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = curl(&["--cacert", &ca, &format!("{metrics}/metrics")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body
            .contains("phpeek_pm_process_memory_bytes{name=\"web\""),
        "{}",
        r.body
    );
    // metrics_tls asks for TLS 1.3: a TLS 1.2-only client is refused.
    assert!(
        try_curl(&[
            "--cacert",
            &ca,
            "--tls-max",
            "1.2",
            &format!("{metrics}/metrics")
        ])
        .is_err()
    );
    // Without the CA the certificate is not trusted: no answer.
    assert!(try_curl(&[&format!("{api}/api/v1/processes")]).is_err());
    // Plain HTTP to the TLS port: a plain 400 that says so, never the API.
    let plain = api.replace("https://", "http://");
    let r = curl_auth(TOKEN, &[&format!("{plain}/api/v1/processes")]);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("speaks HTTPS"), "{r:?}");
    // ...and the listener keeps serving.
    let r = curl_auth(
        TOKEN,
        &["--cacert", &ca, &format!("{api}/api/v1/processes")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    // A key that does not exist: start-up stops with exit 1 and names the file.
    let bad = dir.write(
        "bad.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: 0\n  api_tls:\n    enabled: true\n    \
             cert_file: {cert}\n    key_file: {}\nprocesses:\n  web:\n    command: [sleep, '1000']\n",
            dir.s("missing.key")
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &bad);
    assert_eq!(m.wait_code(secs(10.0)), 1);
    assert!(m.dump().contains("missing.key"), "{}", m.dump());
}

/// Sends `n` FastCGI requests for `script` to a php-fpm TCP port and keeps the connections
/// open until its stdin closes (python, so the test needs no FastCGI code of its own).
const FCGI_CLIENTS: &str = r#"
import socket, struct, sys
def rec(t, body):
    return struct.pack("!BBHHBB", 1, t, 1, len(body), 0, 0) + body
def pair(k, v):
    return bytes([len(k), len(v)]) + k + v
port, script, n = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
params = b"".join(pair(k, v) for k, v in [
    (b"SCRIPT_FILENAME", script), (b"SCRIPT_NAME", b"/s.php"), (b"REQUEST_METHOD", b"GET"),
    (b"QUERY_STRING", b""), (b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"GATEWAY_INTERFACE", b"CGI/1.1")])
conns = []
for _ in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.sendall(rec(1, struct.pack("!HB5x", 1, 0)) + rec(4, params) + rec(4, b"") + rec(5, b""))
    conns.append(s)
print("sent", flush=True)
sys.stdin.read()
"#;

/// Real php-fpm 8.2, two static workers both busy and a third request queued: a scrape of
/// /metrics is answered (the status page comes from `pm.status_listen`, not from a worker) and
/// shows 2 active and a listen queue; the API's process list carries the same pool.
#[test]
fn php_fpm_pool_status_while_every_worker_is_busy() {
    let Some(fpm) = ["/usr/sbin/php-fpm8.2", "/usr/sbin/php-fpm"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        panic!("php-fpm is not installed: scripts/ensure-deps.sh php");
    };
    let dir = TestDir::new("obsfpm");
    let metrics_port = free_port();
    let www_port = free_port();
    let root = unsafe_free_uid() == 0;
    let conf = dir.write(
        "fpm.conf",
        &format!(
            "[global]\nerror_log = /proc/self/fd/2\ndaemonize = no\npid = {d}/fpm.pid\n\
             [www]\n{user}listen = 127.0.0.1:{www_port}\nlisten.backlog = 16\npm = static\n\
             pm.max_children = 2\npm.status_path = /status\npm.status_listen = {d}/status.sock\n",
            d = dir.s("").trim_end_matches('/'),
            user = if root {
                "user = root\ngroup = root\n"
            } else {
                ""
            },
        ),
    );
    // Busy long enough that every scrape below happens while both workers are busy.
    let script = dir.write("slow.php", "<?php sleep(30); echo 'done';\n");
    let cfg = dir.write(
        "c.yaml",
        &format!(
            "global:\n  api_enabled: true\n  api_port: 0\n  metrics_enabled: true\n  \
             metrics_port: {metrics_port}\n  metrics_host: 127.0.0.1\n  shutdown_timeout: 5\n\
             processes:\n  fpm:\n    command: [{fpm}, -F, -R, -y, {conf}]\n",
            conf = conf.display()
        ),
    );
    let mut m = Manager::start(Mode::Subreaper, &cfg);
    let api = listen_addr(&mut m, "API");
    poll_until(secs(20.0), "php-fpm's sockets", || {
        (std::net::TcpStream::connect(("127.0.0.1", www_port)).is_ok()
            && std::path::Path::new(&dir.s("status.sock")).exists())
        .then_some(())
    });
    let mut clients = std::process::Command::new("python3")
        .args([
            "-c",
            FCGI_CLIENTS,
            &www_port.to_string(),
            script.to_str().unwrap(),
            "3",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let value = |body: &str, series: &str| -> Option<f64> {
        let line = body.lines().find(|l| l.starts_with(series))?;
        line.rsplit(' ').next()?.parse().ok()
    };
    let sel = "{name=\"fpm\",instance=\"fpm-0\",pool=\"www\"}";
    let mut slowest = std::time::Duration::ZERO;
    let body = poll_until(
        secs(20.0),
        "2 active and a queued request in /metrics",
        || {
            let t = std::time::Instant::now();
            let r = curl(&[&url]);
            slowest = slowest.max(t.elapsed());
            let active = value(&r.body, &format!("phpeek_pm_fpm_active_processes{sel}"))?;
            let queue = value(&r.body, &format!("phpeek_pm_fpm_listen_queue{sel}"))?;
            (active == 2.0 && queue >= 1.0).then_some(r.body)
        },
    );
    assert_eq!(value(&body, &format!("phpeek_pm_fpm_up{sel}")), Some(1.0));
    assert_eq!(
        value(&body, &format!("phpeek_pm_fpm_idle_processes{sel}")),
        Some(0.0)
    );
    assert_eq!(
        value(&body, &format!("phpeek_pm_fpm_total_processes{sel}")),
        Some(2.0)
    );
    assert!(value(&body, &format!("phpeek_pm_fpm_listen_queue_length{sel}")).unwrap() >= 1.0);
    // Reported, not asserted (timing is bench's business): how long the scrapes took.
    eprintln!("slowest /metrics answer while both workers were busy: {slowest:?}");
    let file = dir.write("metrics.txt", &body);
    let check = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", file.display()))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The API's list carries the pool too.
    let doc = curl(&[&format!("http://{api}/api/v1/processes")]).json();
    conforms(&openapi(), "get", "/api/v1/processes", 200, &doc);
    let pool = &doc["processes"][0]["instances"][0]["php_fpm"][0];
    assert_eq!(
        (pool["pool"].as_str(), pool["active_processes"].as_u64()),
        (Some("www"), Some(2)),
        "{doc}"
    );
    drop(clients.stdin.take());
    let _ = clients.wait();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0);
}
