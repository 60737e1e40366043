//! Log processing (issue 11), through the real binary: a child prints a PHP stack trace, a
//! Laravel trace, JSON lines with secrets, a connection string, card numbers and health-check
//! noise; the manager's stdout must hold one record per trace, no secret, the cards masked,
//! the order ids kept, no filtered line. The multiline timeout must fire on a real deadline
//! (the child stays silent and alive), held records must be written when the child exits or
//! the manager shuts down, and a bad regex must be a configuration error with `file:line`.
#![cfg(feature = "log-processing")]

#[cfg(feature = "api")]
mod http_support;
mod support;

use support::*;

/// What the child of the end-to-end test prints: (stream, line).
const PHP_TRACE: &[&str] = &[
    "PHP Fatal error:  Uncaught RuntimeException: Connection refused in /var/www/app/Services/Billing.php:42",
    "Stack trace:",
    "#0 /var/www/app/Http/Controllers/CheckoutController.php(31): App\\Services\\Billing->charge()",
    "#1 /var/www/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): App\\Http\\Controllers\\CheckoutController->store()",
    "#2 {main}",
    "  thrown in /var/www/app/Services/Billing.php on line 42",
];

const LARAVEL_TRACE: &[&str] = &[
    "[2024-11-20 10:00:00] production.ERROR: SQLSTATE[HY000] [2002] Connection refused {\"exception\":\"[object] (PDOException(code: 2002): Connection refused at /var/www/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php:65)",
    "[stacktrace]",
    "#0 /var/www/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php(65): PDO->__construct()",
    "#1 {main}",
    "\"} ",
];

const SECRETS: &[&str] = &[
    "hunter2",
    "sk_live_4eC39HqLyjWDarjt",
    "Sup3rS3cret",
    "r3d1sPa55",
    "eyJhbGciOiJIUzI1NiJ9",
    "4111 1111 1111 1111",
    "5555555555554444",
];

fn child_script() -> String {
    let mut lines: Vec<(u8, String)> = Vec::new();
    lines.push((1, "[2024-11-20 10:00:00] production.INFO: Booting".into()));
    for l in PHP_TRACE {
        lines.push((2, (*l).into()));
    }
    lines.push((1, r#"{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000,"password":"hunter2","api_key":"sk_live_4eC39HqLyjWDarjt"}"#.into()));
    lines.push((1, r#"{"message":"Payment captured","level_name":"INFO","level":200,"context":{"card":"4111 1111 1111 1111","order_id":"ORD-2024-000123","headers":{"Authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}}}"#.into()));
    for _ in 0..3 {
        lines.push((
            1,
            "172.18.0.1 - - [20/Nov/2024:10:00:00 +0000] \"GET /health_check HTTP/1.1\" 200 2"
                .into(),
        ));
    }
    lines.push((
        1,
        "[2024-11-20 10:00:01] production.DEBUG: health_check ok".into(),
    ));
    lines.push((1, "[2024-11-20 10:00:01] production.INFO: DATABASE_URL=mysql://forge:Sup3rS3cret@mysql:3306/forge REDIS_URL=redis://:r3d1sPa55@cache:6379".into()));
    lines.push((1, "[2024-11-20 10:00:02] production.INFO: charged 5555555555554444 for order 1000234567890123".into()));
    lines.push((
        1,
        "[2024-11-20 10:00:02] production.INFO: User 42 changed their password".into(),
    ));
    for l in LARAVEL_TRACE {
        lines.push((1, (*l).into()));
    }
    // The last record is a trace still held when the child exits.
    let mut py = String::from("import os\n");
    for (fd, l) in &lines {
        py.push_str(&format!("os.write({fd}, {}.encode() + b'\\n')\n", q(l)));
    }
    py
}

#[test]
fn traces_secrets_cards_and_noise_as_pid1() {
    let dir = TestDir::new("logproc");
    let cfg = format!(
        r#"global:
  log_multiline_enabled: true
  log_multiline_timeout: 500
  log_multiline_max_lines: 100
  log_redaction_enabled: true
  log_redaction_patterns:
    - "password"
    - "api_key"
    - "secret"
    - "token"
  log_redaction_placeholder: "***REDACTED***"
  log_filter_enabled: true
  log_filter_level: "info"
  log_filter_patterns:
    - "health_check"
    - "metrics_export"
processes:
  app:
    type: oneshot
    command: {cmd}
"#,
        cmd = py(&child_script()),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    assert_eq!(m.wait_code(secs(30.0)), 0, "{}", m.dump());
    m.assert_json_only();
    let recs: Vec<Value> = m.find(|r| r.is_output() && r.instance() == Some("app-0"));
    let dump = || {
        recs.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };

    // One record per trace, with its level, stream and line count.
    let php: Vec<&Value> = recs
        .iter()
        .filter(|r| r.msg().contains("Billing"))
        .collect();
    assert_eq!(php.len(), 1, "PHP trace split:\n{}", dump());
    assert_eq!(php[0].msg(), PHP_TRACE.join("\n"));
    assert_eq!(
        (php[0].s("level"), php[0].s("stream"), php[0].i("lines")),
        (Some("fatal"), Some("stderr"), Some(PHP_TRACE.len() as i64))
    );
    let laravel: Vec<&Value> = recs.iter().filter(|r| r.msg().contains("PDO")).collect();
    assert_eq!(laravel.len(), 1, "Laravel trace split:\n{}", dump());
    assert_eq!(laravel[0].msg(), LARAVEL_TRACE.join("\n"));
    assert_eq!(laravel[0].s("level"), Some("error"));
    assert_eq!(laravel[0].i("lines"), Some(LARAVEL_TRACE.len() as i64));
    // Held at the child's exit, written before its `exited` record.
    let exited = m.events("exited", "app-0");
    assert!(laravel[0].line_no() < exited[0].line_no(), "{}", m.dump());

    // No secret anywhere on stdout, in messages or fields.
    let all: Vec<String> = m.records().iter().map(|r| r.to_string()).collect();
    for s in SECRETS {
        assert!(
            !all.iter().any(|r| r.contains(s)),
            "{s} leaked:\n{}",
            dump()
        );
    }
    // JSON lines: level, message, redacted fields; cards masked, order ids kept.
    let q = recs
        .iter()
        .find(|r| r.msg() == "Query failed")
        .unwrap_or_else(|| panic!("no Query failed record:\n{}", dump()));
    assert_eq!(q.s("level"), Some("error"));
    assert_eq!(q["fields"]["duration"], 5000);
    assert_eq!(q["fields"]["query"], "SELECT *");
    assert_eq!(q["fields"]["password"], "***REDACTED***");
    assert_eq!(q["fields"]["api_key"], "***REDACTED***");
    let pay = recs
        .iter()
        .find(|r| r.msg() == "Payment captured")
        .unwrap_or_else(|| panic!("no payment record:\n{}", dump()));
    assert_eq!(pay.s("level"), Some("info"));
    assert_eq!(pay["fields"]["context"]["card"], "**** **** **** 1111");
    assert_eq!(pay["fields"]["context"]["order_id"], "ORD-2024-000123");
    assert_eq!(
        pay["fields"]["context"]["headers"]["Authorization"],
        "***REDACTED***"
    );
    let urls = recs
        .iter()
        .find(|r| r.msg().contains("DATABASE_URL"))
        .unwrap();
    assert!(
        urls.msg().ends_with(
            "DATABASE_URL=mysql://forge:***REDACTED***@mysql:3306/forge REDIS_URL=redis://:***REDACTED***@cache:6379"
        ),
        "{urls}"
    );
    let charged = recs.iter().find(|r| r.msg().contains("charged")).unwrap();
    assert!(
        charged
            .msg()
            .ends_with("charged ************4444 for order 1000234567890123"),
        "{charged}"
    );
    // A line that mentions the word without a value is untouched.
    assert!(
        recs.iter()
            .any(|r| r.msg().ends_with("User 42 changed their password")),
        "{}",
        dump()
    );
    // Filtered: health-check noise and the debug line.
    assert!(
        !all.iter().any(|r| r.contains("health_check")),
        "filtered line written:\n{}",
        dump()
    );
    // Everything else arrived: boot line, 2 traces, 2 JSON lines, URLs, charge, password line.
    assert_eq!(recs.len(), 8, "{}", dump());
}

#[test]
fn multiline_timeout_fires_while_the_child_is_silent() {
    let dir = TestDir::new("logproc-deadline");
    let cfg = format!(
        r#"global:
  log_multiline_enabled: true
  log_multiline_timeout: 400ms
processes:
  worker:
    command: {cmd}
"#,
        cmd = sh("printf 'Exception: boom\\n  at a()\\n  at b()\\n'; exec sleep 600"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    let started = m.wait_for(secs(10.0), "worker started", |r| {
        r.is("started", "worker-0")
    });
    let rec = m.wait_for(secs(10.0), "the trace record", |r| {
        r.is_output() && r.msg().starts_with("Exception: boom")
    });
    assert_eq!(rec.msg(), "Exception: boom\n  at a()\n  at b()");
    assert_eq!(rec.i("lines"), Some(3));
    // Written by the deadline, not by more input or an exit: the child still sleeps.
    assert!(m.events("exited", "worker-0").is_empty(), "{}", m.dump());
    let held = rec.time_ms() - started.time_ms();
    assert!(
        (390..3_000).contains(&held),
        "trace written {held} ms after the start, expected about 400 ms"
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(20.0)), 0);
}

#[test]
fn held_records_are_written_at_shutdown() {
    // A 60 s timeout: only the child's end (SIGTERM at shutdown) can flush the trace.
    let dir = TestDir::new("logproc-shutdown");
    let ready = dir.s("ready");
    let cfg = format!(
        r#"processes:
  worker:
    command: {cmd}
    logging:
      multiline: {{enabled: true, timeout: 60s}}
"#,
        cmd = sh(&format!(
            "printf 'Exception: late\\n  at a()\\n' >&2; touch {ready}; exec sleep 600"
        )),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    poll_until(secs(10.0), "child ready", || {
        std::path::Path::new(&ready).exists().then_some(())
    });
    m.wait_started();
    assert!(
        m.find(|r| r.is_output()).is_empty(),
        "record written early: {}",
        m.dump()
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(20.0)), 0);
    let rec = m
        .find(|r| r.is_output() && r.instance() == Some("worker-0"))
        .pop()
        .unwrap_or_else(|| panic!("held trace lost at shutdown\n{}", m.dump()));
    assert_eq!(rec.msg(), "Exception: late\n  at a()");
    assert_eq!(rec.s("stream"), Some("stderr"));
    let exit = m.find(|r| r.event() == Some("exit")).pop().unwrap();
    assert!(rec.line_no() < exit.line_no());
}

#[test]
fn defaults_detect_levels_and_redact_without_hiding_anything() {
    let dir = TestDir::new("logproc-defaults");
    let cfg = format!(
        "processes:\n  app:\n    type: oneshot\n    command: {}\n  quiet:\n    type: oneshot\n    command: {}\n    logging:\n      stderr: false\n      level_detection:\n        patterns:\n          critical: '^OOPS'\n",
        sh(
            "echo 'plain line'; echo 'plain on stderr' >&2; echo '[ERROR] Database connection failed'; \
             echo '2024-11-20 ERROR: Query timeout'; echo 'php artisan: INFO - Cache cleared'; \
             echo '{\"level\":\"warn\",\"msg\":\"Slow query\"}'; echo '[2024-11-20 10:00:00] local.DEBUG: shown'; \
             echo 'password=hunter2'"
        ),
        sh("echo 'OOPS: custom'; echo 'hidden' >&2"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    assert_eq!(m.wait_code(secs(20.0)), 0, "{}", m.dump());
    let level_of = |m: &mut Manager, inst: &str, msg: &str| -> String {
        m.find(|r| r.says(inst, msg))
            .first()
            .and_then(|r| r.s("level").map(str::to_owned))
            .unwrap_or_else(|| panic!("no record {msg:?}\n{}", m.dump()))
    };
    for (msg, level) in [
        ("plain line", "info"),
        ("plain on stderr", "info"),
        ("[ERROR] Database connection failed", "error"),
        ("2024-11-20 ERROR: Query timeout", "error"),
        ("php artisan: INFO - Cache cleared", "info"),
        ("Slow query", "warn"),
        ("[2024-11-20 10:00:00] local.DEBUG: shown", "debug"),
        ("password=***REDACTED***", "info"),
    ] {
        assert_eq!(level_of(&mut m, "app-0", msg), level, "{msg}");
    }
    assert_eq!(level_of(&mut m, "quiet-0", "OOPS: custom"), "critical");
    assert!(m.find(|r| r.says("quiet-0", "hidden")).is_empty());
}

#[test]
fn text_format_renders_json_lines_as_the_readme_shows() {
    let dir = TestDir::new("logproc-text");
    let cfg = format!(
        "global:\n  log_format: text\nprocesses:\n  app:\n    type: oneshot\n    command: {}\n",
        sh(
            r#"echo '{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000}'; echo '[WARNING] disk 91% full'"#
        ),
    );
    let path = dir.write("c.yaml", &cfg);
    let out = run_cmd(&["-c", path.to_str().unwrap()], &[], None, secs(20.0));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let line = |needle: &str| {
        out.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{}", out.stdout))
            .to_owned()
    };
    assert!(
        line("Query failed").ends_with(
            " ERROR [app-0] [query_failed] Query failed (duration: 5000ms, query: SELECT *)"
        ),
        "{}",
        out.stdout
    );
    assert!(line("disk").ends_with(" WARN [app-0] [WARNING] disk 91% full"));
}

#[test]
fn an_invalid_regex_is_a_configuration_error_with_its_line() {
    let dir = TestDir::new("logproc-badregex");
    let marker = dir.s("started");
    let cases = [
        (
            format!(
                "global:\n  log_filter_enabled: true\n  log_filter_patterns:\n    - health_check\n    - '(unclosed'\nprocesses:\n  web:\n    command: [touch, {marker}]\n"
            ),
            5,
            "(unclosed",
        ),
        (
            format!(
                "processes:\n  web:\n    command: [touch, {marker}]\n    logging:\n      multiline:\n        enabled: true\n        pattern: '^[z-a]'\n"
            ),
            7,
            "^[z-a]",
        ),
    ];
    for (yaml, line, pattern) in &cases {
        let path = dir.write("bad.yaml", yaml);
        let p = path.to_str().unwrap();
        for args in [vec!["check-config", "-c", p], vec!["-c", p]] {
            let out = run_cmd(&args, &[], None, secs(10.0));
            assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
            let want = format!("{p}:{line}: invalid regex {pattern:?}");
            assert!(
                out.stderr.contains(&want),
                "{args:?}: want {want:?} in {:?}",
                out.stderr
            );
            // The regex engine's own explanation follows.
            let why = out.stderr.trim_end().rsplit(": ").next().unwrap_or("");
            assert!(why.len() > 5, "no reason in {:?}", out.stderr);
            assert!(!std::path::Path::new(&marker).exists(), "a process started");
        }
    }
}

/// 20,000 traces of 10 lines (2,000,000 bytes) as fast as a child can write them, with
/// multiline, redaction and filters on: every line arrives, in order, in one record per trace,
/// and the manager's memory stays bounded (held records count against the output queue).
#[test]
fn trace_flood_keeps_every_line_in_order_with_bounded_memory() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    const TRACES: u64 = 20_000;
    const FRAMES: u64 = 9;
    let dir = TestDir::new("logproc-flood");
    let ready = dir.s("flooded");
    let script = format!(
        r#"
import os, sys
w = sys.stdout.buffer.write
for t in range({TRACES}):
    w(b"Exception: trace %d password=hunter2\n" % t + b"".join(b"  #%d frame of %d\n" % (f, t) for f in range({FRAMES})))
sys.stdout.flush()
open({ready:?}, "w").close()
os.execvp("sleep", ["sleep", "600"])
"#
    );
    let cfg = format!(
        r#"global:
  log_multiline_enabled: true
  log_multiline_timeout: 200
  log_filter_enabled: true
  log_filter_patterns: [health_check]
processes:
  flood:
    command: {cmd}
"#,
        cmd = py(&script),
    );
    let path = dir.write("c.yaml", &cfg);
    let records = Arc::new(AtomicU64::new(0));
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let (r2, p2) = (Arc::clone(&records), Arc::clone(&problems));
    let mut next = 0u64;
    let tap: Tap = Box::new(move |line, _| {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            return false;
        };
        if v.instance() != Some("flood-0") || !v.is_output() {
            return false;
        }
        let mut want = format!("Exception: trace {next} password=***REDACTED***");
        for f in 0..FRAMES {
            want.push_str(&format!("\n  #{f} frame of {next}"));
        }
        if v.msg() != want || v.i("lines") != Some(FRAMES as i64 + 1) {
            let mut p = p2.lock().unwrap();
            if p.len() < 5 {
                p.push(format!("record {next}: {v}"));
            }
        }
        next += 1;
        r2.store(next, Ordering::Relaxed);
        true
    });
    let mut m = Launch::new(Mode::Pid1).config(&path).tap(tap).spawn();
    poll_until(secs(60.0), "every trace through the manager", || {
        (records.load(Ordering::Relaxed) >= TRACES).then_some(())
    });
    assert!(std::path::Path::new(&ready).exists());
    let hwm = status_kib(m.pid(), "VmHWM").expect("manager VmHWM");
    println!("manager peak RSS during the trace flood: {hwm} KiB");
    assert!(hwm < 32 * 1024, "manager peak RSS {hwm} KiB");
    let problems = problems.lock().unwrap().clone();
    assert!(problems.is_empty(), "out of order or split: {problems:#?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(20.0)), 0);
    assert_eq!(records.load(Ordering::Relaxed), TRACES, "extra records");
}

/// Hooks are children like any other: their output is processed with their process's rules
/// (global hooks: the global rules) before it is written.
#[cfg(feature = "hooks")]
#[test]
fn hook_output_is_levelled_and_redacted() {
    let dir = TestDir::new("logproc-hooks");
    let cfg = format!(
        r#"global:
  log_redaction_placeholder: "[global]"
hooks:
  pre-start:
    - name: warm
      command: {warm}
processes:
  app:
    type: oneshot
    command: {app}
    pre_start_hook:
      name: prep
      command: {prep}
    logging:
      redaction: {{placeholder: "[app]"}}
"#,
        warm = sh("echo '[ERROR] warming failed password=hunter2'"),
        app = sh("echo done"),
        prep = sh("echo 'WARNING: token=abc123' >&2"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    assert_eq!(m.wait_code(secs(20.0)), 0, "{}", m.dump());
    let all: Vec<String> = m.records().iter().map(|r| r.to_string()).collect();
    assert!(
        !all.iter()
            .any(|r| r.contains("hunter2") || r.contains("abc123")),
        "{}",
        m.dump()
    );
    let warm = m
        .find(|r| r.is_output() && r.instance() == Some("hook:warm"))
        .pop()
        .unwrap_or_else(|| panic!("no hook output\n{}", m.dump()));
    assert_eq!(warm.msg(), "[ERROR] warming failed password=[global]");
    assert_eq!(warm.s("level"), Some("error"));
    let prep = m
        .find(|r| r.is_output() && r.instance() == Some("app-0:hook:prep"))
        .pop()
        .unwrap_or_else(|| panic!("no per-process hook output\n{}", m.dump()));
    assert_eq!(prep.msg(), "WARNING: token=[app]");
    assert_eq!(prep.s("level"), Some("warn"));
}

/// The API's recent output is fed from the same place as stdout: it holds the redacted text
/// (a JSON line as the text format renders it).
#[cfg(feature = "api")]
#[test]
fn api_recent_output_is_redacted() {
    use http_support::*;
    let dir = TestDir::new("logproc-api");
    let cfg = format!(
        r#"global:
  api_enabled: true
  api_port: 0
processes:
  app:
    command: {app}
"#,
        app = sh(
            r#"echo 'login password=hunter2 card 4111111111111111'; echo '{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000,"api_key":"sk_live_abc"}'; exec sleep 600"#
        ),
    );
    let mut m = Manager::start(Mode::Subreaper, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let logs = poll_until(secs(10.0), "app's output in /logs", || {
        let r = curl(&[&format!("http://{addr}/api/v1/processes/app/logs")]);
        (r.json()["count"] == 2).then_some(r)
    });
    let body = logs.body.clone();
    for secret in ["hunter2", "4111111111111111", "sk_live_abc"] {
        assert!(!body.contains(secret), "{secret} in /logs: {body}");
    }
    let doc = logs.json();
    assert_eq!(
        doc["logs"][0]["msg"],
        "[query_failed] Query failed (api_key: ***REDACTED***, duration: 5000ms, query: SELECT *)"
    );
    assert_eq!(
        doc["logs"][1]["msg"],
        "login password=***REDACTED*** card ************1111"
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(20.0)), 0);
}
