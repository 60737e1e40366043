//! Logs that read like the application's own (issue 18), with the real binary as PID 1 and no
//! log-processing key in the YAML: a Laravel exception with a 20-frame trace on stderr is one
//! record at level error; a real php-fpm (Debian's php-fpm8.2, default `decorate_workers_output`
//! and `log_limit`) serving a page that calls `error_log("x")` gives a record whose msg is
//! exactly `x` (pool and child as fields), and a 3,000-character line a worker writes — which
//! php-fpm cuts into four wrapped pieces — comes out as one record holding the whole line.
#![cfg(feature = "log-processing")]

mod support;

use support::*;

/// Debian's php-fpm (`php-fpm8.2`, ...), installed by `scripts/ensure-deps.sh php`.
fn php_fpm() -> String {
    let found = std::fs::read_dir("/usr/sbin")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("php-fpm"))
        });
    match found {
        Some(p) => p.to_string_lossy().into_owned(),
        None => panic!("php-fpm is not installed: run scripts/ensure-deps.sh php"),
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

#[test]
fn a_laravel_exception_is_one_error_record_without_configuration() {
    let dir = TestDir::new("php-logs-laravel");
    // Laravel's LineFormatter with stack traces, as storage/logs or stderr gets it.
    let script = r#"
import sys, time
lines = ['[2026-12-06 11:00:00] production.ERROR: Division by zero {"userId":1,"exception":"[object] (DivisionByZeroError(code: 0): Division by zero at /app/app/Http/Controllers/HomeController.php:12)', '[stacktrace]']
for i in range(19):
    lines.append('#%d /app/vendor/laravel/framework/src/Illuminate/Pipeline/Pipeline.php(%d): Illuminate\\Pipeline\\Pipeline->handle(Object(Illuminate\\Http\\Request))' % (i, 100 + i))
lines.append('#19 {main}')
lines.append('"} ')
sys.stderr.write('\n'.join(lines) + '\n')
sys.stderr.flush()
print('after the trace', flush=True)
time.sleep(1000)
"#;
    let cfg = format!("processes:\n  app:\n    command: {}\n", py(script));
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(15.0), "the line after the trace", |r| {
        r.says("app-0", "after the trace")
    });
    let trace = m.wait_for(secs(5.0), "the trace record", |r| {
        r.is_output() && r.msg().contains("[stacktrace]")
    });
    let stderr: Vec<Value> = m.find(|r| r.is_output() && r.s("stream") == Some("stderr"));
    assert_eq!(
        stderr.len(),
        1,
        "one record for the whole trace\n{}",
        m.dump()
    );
    assert_eq!(trace.s("level"), Some("error"), "{trace}");
    assert_eq!(trace.i("lines"), Some(23), "{trace}");
    assert!(
        trace
            .msg()
            .starts_with("[2026-12-06 11:00:00] production.ERROR: Division by zero")
    );
    assert!(trace.msg().ends_with("#19 {main}\n\"} "), "{trace}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

/// One FastCGI request to php-fpm on `port` for `script`; python3 speaks the protocol.
fn fastcgi(port: u16, script: &str) {
    let client = format!(
        r#"
import socket, struct
def rec(t, c): return struct.pack('>BBHHBx', 1, t, 1, len(c), 0) + c
params = {{'SCRIPT_FILENAME': '{script}', 'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '/x.php', 'REQUEST_URI': '/x.php', 'QUERY_STRING': ''}}
p = b''
for k, v in params.items():
    k = k.encode(); v = v.encode()
    p += bytes([len(k), len(v)]) + k + v
s = socket.create_connection(('127.0.0.1', {port}), timeout=10)
s.sendall(rec(1, struct.pack('>HBxxxxx', 1, 0)) + rec(4, p) + rec(4, b'') + rec(5, b''))
while s.recv(65536): pass
"#
    );
    // The client's socket timeout bounds this call.
    let out = std::process::Command::new("python3")
        .args(["-c", &client])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "fastcgi request for {script}: {out:?}"
    );
}

#[test]
fn php_fpm_worker_output_reads_like_the_application_wrote_it() {
    let dir = TestDir::new("php-logs-fpm");
    let port = free_port();
    let x = dir.write("x.php", "<?php error_log(\"x\"); echo \"ok\\n\";\n");
    let long_line = format!("{}{}", "c".repeat(1500), "d".repeat(1500));
    let long = dir.write(
        "long.php",
        "<?php file_put_contents('php://stderr', str_repeat('c', 1500) . str_repeat('d', 1500) . \"\\n\"); echo \"ok\\n\";\n",
    );
    // Docker's official images' settings: log to the container's stderr, catch the workers'
    // output; decoration and log_limit left at php-fpm's defaults.
    let conf = dir.write(
        "fpm.conf",
        &format!(
            "[global]\nerror_log = /proc/self/fd/2\ndaemonize = no\n[www]\nlisten = 127.0.0.1:{port}\n\
             pm = static\npm.max_children = 1\ncatch_workers_output = yes\nuser = nobody\ngroup = nogroup\n"
        ),
    );
    let cfg = format!(
        "processes:\n  php-fpm:\n    command: [{}, -n, -F, -R, -y, {}]\n",
        php_fpm(),
        conf.display()
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(15.0), "php-fpm ready", |r| {
        r.is_output() && r.msg().contains("ready to handle connections")
    });
    fastcgi(port, &x.display().to_string());
    let rec = m.wait_for(secs(10.0), "error_log(\"x\")", |r| r.says("php-fpm-0", "x"));
    assert_eq!(rec["fields"]["pool"], "www", "{rec}");
    assert!(
        rec["fields"]["child"].as_u64().is_some_and(|c| c > 1),
        "{rec}"
    );
    assert_eq!(rec.s("level"), Some("info"), "{rec}");
    fastcgi(port, &long.display().to_string());
    let rec = m.wait_for(secs(10.0), "the 3,000-character line", |r| {
        r.is_output() && r.msg().starts_with("cccc")
    });
    assert_eq!(
        rec.msg(),
        long_line,
        "one record holding the whole line\n{}",
        m.dump()
    );
    assert!(rec.get("partial").is_none(), "{rec}");
    let pieces =
        m.find(|r| r.is_output() && (r.msg().starts_with("cc") || r.msg().starts_with("dd")));
    assert_eq!(pieces.len(), 1, "no piece on its own\n{}", m.dump());
    assert!(
        m.find(|r| r.msg().contains("said into")).is_empty(),
        "no php-fpm wrapper left\n{}",
        m.dump()
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0);
}
