//! Health checks and readiness-gated dependencies (issue #7), with the real binary as PID 1
//! and as a subreaper: a dependent starts only once its dependency answers; failures below the
//! threshold neither restart nor count as ready; a failing http check restarts gracefully with
//! reason `health_check` and backoff; hanging exec probes are killed without leaking fds or
//! zombies; probes that never get an answer time out without delaying signals; the readiness
//! file follows the stack; bad checks are refused with `file:line`.
#![cfg(feature = "health")]

mod support;

use std::time::Instant;

use support::*;

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// Epoch milliseconds printed by a child as `<tag> <ms>`.
fn stamp(lines: &[String], tag: &str) -> Option<i64> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(tag)?.trim().parse().ok())
}

fn dependency_waits_for_the_port(mode: Mode) {
    let dir = TestDir::new("health-dep");
    let port = free_port();
    let cfg = format!(
        r#"processes:
  fpm:
    command: {fpm}
    health_check:
      type: tcp
      address: "127.0.0.1:{port}"
      initial_delay: 100ms
      period: 200ms
      timeout: 200ms
      failure_threshold: 100
  nginx:
    depends_on: [fpm]
    command: {nginx}
"#,
        fpm = py(&format!(
            "import socket,time\nprint('booting', flush=True)\ntime.sleep(2)\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1',{port})); s.listen(16)\n\
             print('listening', int(time.time()*1000), flush=True)\n\
             while True:\n  c,_=s.accept(); c.close()"
        )),
        nginx = py(
            "import time\nprint('nginx-start', int(time.time()*1000), flush=True)\ntime.sleep(1000)"
        ),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    m.wait_for(secs(15.0), "nginx output", |r| {
        r.is_output() && r.msg().starts_with("nginx-start")
    });
    let listening = stamp(&m.output_of("fpm-0"), "listening").expect("fpm listening stamp");
    let started = stamp(&m.output_of("nginx-0"), "nginx-start").expect("nginx start stamp");
    assert!(
        started >= listening,
        "nginx started at {started}, before fpm listened at {listening}\n{}",
        m.dump()
    );
    let ready = m.wait_for(secs(1.0), "fpm ready", |r| r.is("ready", "fpm-0"));
    let nginx_started = m.wait_for(secs(1.0), "nginx started", |r| r.is("started", "nginx-0"));
    assert!(ready.line_no() < nginx_started.line_no());
    // No failed probe was taken for readiness, and nothing was restarted.
    assert!(
        m.find(|r| r.event() == Some("restart_scheduled"))
            .is_empty()
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn dependent_starts_after_the_port_answers_pid1() {
    dependency_waits_for_the_port(Mode::Pid1);
}

#[test]
fn dependent_starts_after_the_port_answers_subreaper() {
    dependency_waits_for_the_port(Mode::Subreaper);
}

/// Issue 18: a port that opens after 8 s, checked every second with two failures allowed and
/// no other timing key. The default start period (30 s) keeps the boot from being restarted;
/// the instance becomes ready once, and its dependent starts only after the port opens.
#[test]
fn a_slow_boot_inside_the_default_start_period_is_not_restarted() {
    let dir = TestDir::new("health-start-period");
    let port = free_port();
    let cfg = format!(
        r#"processes:
  app:
    command: {app}
    health_check:
      type: tcp
      address: "127.0.0.1:{port}"
      period: 1
      failure_threshold: 2
  web:
    depends_on: [app]
    command: {web}
"#,
        app = py(&format!(
            "import socket,time\nprint('booting', flush=True)\ntime.sleep(8)\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1',{port})); s.listen(16)\n\
             print('listening', int(time.time()*1000), flush=True)\n\
             while True:\n  c,_=s.accept(); c.close()"
        )),
        web = py(
            "import time\nprint('web-start', int(time.time()*1000), flush=True)\ntime.sleep(1000)"
        ),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(30.0), "web output", |r| {
        r.is_output() && r.msg().starts_with("web-start")
    });
    let listening = stamp(&m.output_of("app-0"), "listening").expect("app listening stamp");
    let started = stamp(&m.output_of("web-0"), "web-start").expect("web start stamp");
    assert!(
        started >= listening,
        "web started at {started}, before app listened at {listening}\n{}",
        m.dump()
    );
    assert_eq!(
        m.events("ready", "app-0").len(),
        1,
        "ready once\n{}",
        m.dump()
    );
    assert!(
        m.find(|r| r.event() == Some("restart_scheduled") || r.is("started", "app-1"))
            .is_empty(),
        "nothing restarted\n{}",
        m.dump()
    );
    assert_eq!(
        m.output_of("app-0")
            .iter()
            .filter(|l| *l == "booting")
            .count(),
        1,
        "app booted once\n{}",
        m.dump()
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn two_failures_under_a_threshold_of_three_neither_restart_nor_count_as_ready() {
    let dir = TestDir::new("health-threshold");
    let count = dir.s("probes");
    let cfg = format!(
        r#"processes:
  app:
    command: ["sleep", "1000"]
    health_check:
      type: exec
      command: {probe}
      initial_delay: 0
      period: 300ms
      timeout: 300ms
      failure_threshold: 3
  web:
    depends_on: [app]
    command: ["sleep", "1000"]
"#,
        // Fails on runs 1 and 2, passes from run 3 on.
        probe = sh(&format!(
            "n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; [ $n -ge 3 ]"
        )),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    let healthy = m.wait_for(secs(10.0), "app healthy", |r| {
        r.is("health", "app-0") && r.s("health") == Some("healthy")
    });
    let web = m.wait_for(secs(5.0), "web started", |r| r.is("started", "web-0"));
    assert!(healthy.line_no() < web.line_no(), "{}", m.dump());
    let n: u32 = std::fs::read_to_string(&count)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(n >= 3);
    assert!(
        m.find(|r| r.event() == Some("restart_scheduled") || r.event() == Some("stopping"))
            .is_empty(),
        "no restart below the threshold\n{}",
        m.dump()
    );
    assert!(
        m.find(|r| r.is("health", "app-0") && r.s("health") == Some("unhealthy"))
            .is_empty()
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn an_http_check_answering_500_restarts_gracefully_with_backoff() {
    let dir = TestDir::new("health-http");
    let port = free_port();
    let flag = dir.s("fail");
    let cfg = format!(
        r#"global:
  restart_backoff_initial: 400ms
  restart_backoff_max: 2s
processes:
  api:
    command: {server}
    shutdown:
      timeout: 5s
    health_check:
      type: http
      url: "http://127.0.0.1:{port}/up"
      initial_delay: 2s
      start_period: 0
      period: 200ms
      timeout: 200ms
      failure_threshold: 2
"#,
        server = py(&format!(
            "import http.server,os,signal,sys\n\
             def term(*a):\n  print('got SIGTERM', flush=True); os._exit(0)\n\
             signal.signal(signal.SIGTERM, term)\n\
             class H(http.server.BaseHTTPRequestHandler):\n  \
               def do_GET(self):\n    \
                 code = 500 if os.path.exists({flag:?}) else 200\n    \
                 self.send_response(code); self.send_header('Content-Length','2'); self.end_headers(); self.wfile.write(b'ok')\n  \
               def log_message(self,*a): pass\n\
             class S(http.server.HTTPServer):\n  allow_reuse_address = True\n\
             s = S(('127.0.0.1',{port}), H)\nprint('serving', flush=True)\ns.serve_forever()"
        )),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(10.0), "api healthy", |r| {
        r.is("health", "api-0") && r.s("health") == Some("healthy")
    });
    std::fs::write(&flag, "").unwrap();
    let bad = m.wait_for(secs(10.0), "api unhealthy", |r| {
        r.is("health", "api-0") && r.s("health") == Some("unhealthy")
    });
    assert!(
        bad.s("error").unwrap_or("").contains("HTTP status 500"),
        "{bad}"
    );
    let stopping = m.wait_for(secs(5.0), "graceful stop", |r| {
        r.is("stopping", "api-0") && r.s("signal") == Some("SIGTERM")
    });
    m.wait_for(secs(5.0), "the child's SIGTERM handler", |r| {
        r.says("api-0", "got SIGTERM")
    });
    let sched = m.wait_for(secs(5.0), "restart scheduled", |r| {
        r.is("restart_scheduled", "api-0")
    });
    assert_eq!(sched.s("reason"), Some("health_check"), "{sched}");
    let delay = sched.i("delay_ms").unwrap();
    assert!((360..=440).contains(&delay), "backoff delay {delay}");
    assert!(stopping.line_no() < sched.line_no());
    // It exited on its own (its handler), not by SIGKILL.
    let exited = m.events("exited", "api-0");
    assert_eq!(exited[0].i("exit_code"), Some(0), "{}", m.dump());
    // Restarted after the backoff; still failing, so the next delay doubles.
    let starts = m.wait_count(2, secs(10.0), "restart", |r| r.is("started", "api-0"));
    assert!(starts[1].time_ms() - exited[0].time_ms() >= 350);
    let scheds = m.wait_count(2, secs(15.0), "second restart", |r| {
        r.is("restart_scheduled", "api-0")
    });
    let d2 = scheds[1].i("delay_ms").unwrap();
    assert!((720..=880).contains(&d2), "second backoff delay {d2}");
    std::fs::remove_file(&flag).unwrap();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0);
}

/// Descriptors and zombie children of the manager: the smallest of a few samples, so that a
/// probe caught in flight (its pipes) does not count.
fn fds_and_zombies(pid: i32) -> (usize, usize) {
    let mut best = (usize::MAX, usize::MAX);
    for _ in 0..20 {
        let fds = open_fds(pid).len();
        let zombies = children_of(pid)
            .iter()
            .filter(|c| proc_info(**c).is_some_and(|p| p.state == 'Z'))
            .count();
        best = (best.0.min(fds), best.1.min(zombies));
        std::thread::sleep(std::time::Duration::from_millis(7));
    }
    best
}

#[test]
fn hanging_exec_probes_are_killed_and_leak_nothing() {
    let dir = TestDir::new("health-hang");
    let runs = dir.s("runs");
    let cfg = format!(
        r#"processes:
  app:
    command: ["sleep", "1000"]
    health_check:
      type: exec
      command: {probe}
      mode: readiness
      initial_delay: 0
      start_period: 0
      period: 50ms
      timeout: 25ms
      failure_threshold: 1
"#,
        // Each run notes itself, then hangs (with a background child in its group).
        probe = sh(&format!("echo x >> {runs}; sleep 1000 & exec sleep 1000")),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    let pid = m.pid();
    let lines = |p: &str| std::fs::read_to_string(p).map_or(0, |s| s.lines().count());
    poll_until(secs(10.0), "the first probe runs", || {
        (lines(&runs) >= 2).then_some(())
    });
    let first = fds_and_zombies(pid);
    poll_until(secs(40.0), "200 probe cycles", || {
        (lines(&runs) >= 202).then_some(())
    });
    let after = fds_and_zombies(pid);
    assert_eq!(
        after, first,
        "(fds, zombies) after 200 cycles vs after the first"
    );
    let bad = m.wait_for(secs(1.0), "not ready", |r| {
        r.is("health", "app-0") && r.s("health") == Some("unhealthy")
    });
    assert!(bad.s("error").unwrap_or("").contains("timed out"), "{bad}");
    // Never more than one probe process alive at a time, and no background leftovers.
    let live: Vec<i32> = descendants(pid)
        .into_iter()
        .filter(|p| p.state != 'Z' && cmdline(p.pid).first().is_some_and(|a| a == "sleep"))
        .map(|p| p.pid)
        .collect();
    assert!(live.len() <= 3, "probe processes piling up: {live:?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn unanswered_probes_time_out_and_signals_still_flow() {
    let dir = TestDir::new("health-silent");
    let (tcp_port, http_port) = (free_port(), free_port());
    let cfg = format!(
        r#"processes:
  backlog:
    command: {backlog}
    health_check:
      type: tcp
      address: "127.0.0.1:{tcp_port}"
      mode: readiness
      initial_delay: 1s
      start_period: 0
      period: 3s
      timeout: 2s
      failure_threshold: 1
  silent:
    command: {silent}
    health_check:
      type: http
      url: "http://127.0.0.1:{http_port}/"
      mode: readiness
      initial_delay: 1s
      start_period: 0
      period: 3s
      timeout: 2s
      failure_threshold: 1
  listener:
    forward_signals: [USR1]
    command: {listener}
"#,
        // listen(0), then fill the accept queue ourselves: further SYNs are dropped.
        backlog = py(&format!(
            "import socket,time,signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1',{tcp_port})); s.listen(0)\nfill=[]\n\
             for i in range(4):\n  c=socket.socket(); c.setblocking(False)\n  \
               try: c.connect(('127.0.0.1',{tcp_port}))\n  except OSError: pass\n  fill.append(c)\n\
             print('full', flush=True)\ntime.sleep(1000)"
        )),
        silent = py(&format!(
            "import socket,time,signal\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('127.0.0.1',{http_port})); s.listen(16)\nprint('up', flush=True)\nkeep=[]\n\
             while True:\n  c,_=s.accept(); keep.append(c); print('accepted', flush=True)"
        )),
        listener = py("import signal,time\n\
             signal.signal(signal.SIGUSR1, lambda *a: print('usr1', int(time.time()*1000), flush=True))\n\
             print('waiting', flush=True)\n\
             while True: time.sleep(1000)"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(10.0), "listener ready", |r| {
        r.says("listener-0", "waiting")
    });
    m.wait_for(secs(10.0), "backlog full", |r| r.says("backlog-0", "full"));
    // The http probe is connected and waiting for an answer that never comes; the tcp probe
    // started at the same moment and hangs in its handshake.
    m.wait_for(secs(10.0), "http probe accepted", |r| {
        r.says("silent-0", "accepted")
    });
    let sent = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = Instant::now();
    m.signal(libc::SIGUSR1);
    m.wait_for(secs(5.0), "SIGUSR1 at the child", |r| {
        r.is_output() && r.msg().starts_with("usr1")
    });
    let got = stamp(&m.output_of("listener-0"), "usr1").unwrap();
    assert!(
        got - sent < 100,
        "SIGUSR1 took {} ms to reach the child (seen after {:?})",
        got - sent,
        t0.elapsed()
    );
    for inst in ["backlog-0", "silent-0"] {
        let r = m.wait_for(secs(6.0), "probe timeout", |r| {
            r.is("health", inst) && r.s("health") == Some("unhealthy")
        });
        assert!(
            r.s("error")
                .unwrap_or("")
                .contains("timed out after 2000 ms"),
            "{inst}: {r}"
        );
    }
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

fn readiness_file_follows(mode: Mode) {
    let dir = TestDir::new("health-file");
    let ok = dir.s("ok");
    let file = dir.s("ready");
    let cfg = format!(
        r#"global:
  readiness_file: {file:?}
processes:
  app:
    command: ["sleep", "1000"]
    health_check:
      type: exec
      command: ["test", "-e", {ok:?}]
      mode: readiness
      initial_delay: 0
      start_period: 0
      period: 100ms
      timeout: 100ms
      failure_threshold: 1
  other:
    command: ["sleep", "1000"]
"#
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    let exists = || std::path::Path::new(&file).exists();
    m.wait_for(secs(5.0), "other started", |r| r.is("started", "other-0"));
    m.wait_for(secs(5.0), "a failed probe", |r| r.is("health", "app-0"));
    assert!(!exists(), "the file appeared before app was ready");
    for round in 0..2 {
        std::fs::write(&ok, "").unwrap();
        poll_until(secs(5.0), "readiness file created", || {
            exists().then_some(())
        });
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("ready\ntimestamp="), "{text:?}");
        std::fs::remove_file(&ok).unwrap();
        poll_until(secs(5.0), "readiness file removed", || {
            (!exists()).then_some(())
        });
        assert!(round < 2);
    }
    std::fs::write(&ok, "").unwrap();
    poll_until(secs(5.0), "readiness file created again", || {
        exists().then_some(())
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    assert!(!exists(), "the file is removed at shutdown");
}

#[test]
fn readiness_file_follows_the_stack_pid1() {
    readiness_file_follows(Mode::Pid1);
}

#[test]
fn readiness_file_follows_the_stack_subreaper() {
    readiness_file_follows(Mode::Subreaper);
}

#[test]
fn bad_checks_exit_2_with_file_and_line() {
    let dir = TestDir::new("health-bad");
    let cases = [
        ("type: tcp", "needs address"),
        ("type: http\n      url: https://127.0.0.1/", "https"),
        ("type: udp", "tcp, http or exec"),
        (
            "type: tcp\n      address: 127.0.0.1:1\n      failure_threshold: 0",
            "between 1",
        ),
        (
            "type: tcp\n      address: 127.0.0.1:1\n      period: 1s\n      timeout: 5s",
            "longer than its period",
        ),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let p = dir.write(
            &format!("bad{i}.yaml"),
            &format!(
                "processes:\n  web:\n    command: [sleep, '1']\n    health_check:\n      {body}\n"
            ),
        );
        let ps = p.to_string_lossy().into_owned();
        for args in [vec!["check-config", "-c", &ps], vec!["serve", "-c", &ps]] {
            let o = run_cmd(&args, &[], None, secs(10.0));
            assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
            assert!(o.stderr.contains(&format!("bad{i}.yaml:")), "{}", o.stderr);
            assert!(o.stderr.contains(want), "{}", o.stderr);
        }
    }
    // The same rules for an environment override.
    let p = dir.write(
        "ok.yaml",
        "processes:\n  web:\n    command: [sleep, '1']\n    health_check:\n      type: tcp\n      address: 127.0.0.1:1\n",
    );
    let o = run_cmd(
        &["check-config", "-c", &p.to_string_lossy()],
        &[("PHPEEK_PM_PROCESS_WEB_HEALTH_CHECK_SUCCESS_THRESHOLD", "0")],
        None,
        secs(10.0),
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("PHPEEK_PM_PROCESS_WEB_HEALTH_CHECK_SUCCESS_THRESHOLD"),
        "{}",
        o.stderr
    );
}
