//! Chaos tests (issue #13) that need the management API, the real binary as PID 1:
//!
//! - a fork bomb in one service held by a `pids` cgroup: the API keeps answering (health and
//!   the process list, each within a second), the other service keeps running;
//! - restart requested while the process waits for its dependency: it is not started early,
//!   not failed, and starts exactly once when the dependency completes;
//! - stop during restart: a second command while the restart is in flight is refused (409),
//!   and a shutdown during the restart abandons it (503): nothing starts afterwards.
#![cfg(feature = "api")]

mod http_support;
mod support;

use std::time::{Duration, Instant};

use http_support::*;
use support::*;

/// A curl in a thread: for commands that answer only when done.
fn curl_later(args: Vec<String>) -> std::thread::JoinHandle<Reply> {
    std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&a)
    })
}

#[test]
fn api_answers_during_a_fork_bomb() {
    let dir = TestDir::new("bombapi");
    let ticks = dir.file("ticks");
    let cg = PidsCgroup::new();
    cg.set_max("40");
    let cfg = format!(
        r#"global:
  api_enabled: true
  api_port: 0
  shutdown_timeout: 10
processes:
  steady:
    command: {steady}
  bomb:
    command: {bomb}
"#,
        steady = py(&format!(
            "import time\nwhile True:\n    open({t:?}, 'a').write('tick\\n')\n    time.sleep(0.05)\n",
            t = ticks.to_string_lossy()
        )),
        bomb = py("import os, time\n\
             print('bomb-armed', flush=True)\n\
             while True:\n\
             \x20   try:\n\
             \x20       if os.fork() == 0:\n\
             \x20           time.sleep(3600)\n\
             \x20           os._exit(0)\n\
             \x20   except OSError:\n\
             \x20       time.sleep(0.001)\n"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Launch::new(Mode::Pid1)
        .wrap(&cg.join_wrapper())
        .config(&path)
        .spawn();
    let addr = listen_addr(&mut m, "API");
    m.wait_for(secs(10.0), "bomb armed", |r| r.says("bomb-0", "bomb-armed"));
    poll_until(secs(10.0), "the cgroup full", || {
        (cg.count() >= 39).then_some(())
    });
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        for p in ["/health", "/processes"] {
            let t0 = Instant::now();
            let r = curl(&[&format!("http://{addr}/api/v1{p}")]);
            let took = t0.elapsed();
            assert_eq!(r.status, 200, "{p} under the bomb: {r:?}");
            assert!(took < secs(1.0), "{p} took {took:?} under the bomb");
            slowest = slowest.max(took);
        }
    }
    let doc = curl(&[&format!("http://{addr}/api/v1/processes")]).json();
    assert_eq!(instances(&doc, "steady")[0]["state"], "ready", "{doc}");
    let n = std::fs::read_to_string(&ticks).map_or(0, |s| s.lines().count());
    poll_until(secs(5.0), "steady ticking under the bomb", || {
        (std::fs::read_to_string(&ticks).map_or(0, |s| s.lines().count()) >= n + 5).then_some(())
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0, "{}", m.dump());
    poll_until(secs(5.0), "the cgroup empty", || {
        (cg.count() == 0).then_some(())
    });
    println!("API under a fork bomb (pids.max=40): 40 answers, slowest {slowest:?}");
}

#[test]
fn restart_while_a_dependency_wait_is_pending() {
    let dir = TestDir::new("restartwait");
    let go = dir.s("go");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\nprocesses:\n  migrate:\n    type: oneshot\n    command: {}\n  app:\n    depends_on: [migrate]\n    command: [\"sleep\", \"1000\"]\n",
        sh(&format!(
            "echo migrating; while [ ! -e {go} ]; do sleep 0.05; done; echo migrated"
        )),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let url = |p: &str| format!("http://{addr}/api/v1{p}");
    m.wait_for(secs(10.0), "migrating", |r| {
        r.says("migrate-0", "migrating")
    });
    // The restart waits (parked) for app to be ready, which needs migrate.
    let pending = curl_later(vec![
        "-X".into(),
        "POST".into(),
        "--max-time".into(),
        "60".into(),
        url("/processes/app/restart"),
    ]);
    // Meanwhile the API answers, app is still waiting and has not failed.
    let doc = poll_until(secs(5.0), "app listed as waiting", || {
        let d = curl(&[&url("/processes")]).json();
        (instances(&d, "app")[0]["state"] == "waiting").then_some(d)
    });
    assert_eq!(instances(&doc, "migrate")[0]["state"], "running", "{doc}");
    std::thread::sleep(Duration::from_millis(300)); // let a wrong early start show up
    assert!(
        m.events("started", "app-0").is_empty(),
        "app started before its dependency"
    );
    std::fs::write(&go, "").unwrap();
    let r = pending.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], "restarted", "{r:?}");
    m.wait_for(secs(10.0), "app started", |r| r.is("started", "app-0"));
    let starts = m.events("started", "app-0");
    assert_eq!(starts.len(), 1, "app started more than once\n{}", m.dump());
    let done = m.events("completed", "migrate-0")[0].line_no();
    assert!(
        starts[0].line_no() > done,
        "app started before migrate completed"
    );
    assert!(
        m.find(|r| r.event() == Some("dependency_failed"))
            .is_empty()
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn stop_during_restart() {
    let dir = TestDir::new("stoprestart");
    // Takes a second to stop: the restart is in flight for that long.
    let web = sh("trap 'echo web-term; sleep 1; exit 0' TERM; echo web-up; \
                  while :; do sleep 0.1; done");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\n  shutdown_timeout: 10\nprocesses:\n  web:\n    command: {web}\n"
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let url = |p: &str| format!("http://{addr}/api/v1{p}");
    m.wait_for(secs(10.0), "web up", |r| r.says("web-0", "web-up"));

    // 1. A stop while the restart is in flight is refused; the restart completes.
    let restart = curl_later(vec![
        "-X".into(),
        "POST".into(),
        url("/processes/web/restart"),
    ]);
    m.wait_for(secs(5.0), "web stopping", |r| r.says("web-0", "web-term"));
    let stop = curl(&["-X", "POST", &url("/processes/web/stop")]);
    assert_eq!(stop.status, 409, "{stop:?}");
    let r = restart.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    m.wait_count(2, secs(10.0), "web up twice", |r| r.says("web-0", "web-up"));

    // 2. A shutdown while a restart is in flight abandons it: nothing starts afterwards.
    let from = m.records().len();
    let restart = curl_later(vec![
        "-X".into(),
        "POST".into(),
        url("/processes/web/restart"),
    ]);
    m.wait_for_from(from, secs(5.0), "web stopping again", |r| {
        r.says("web-0", "web-term")
    });
    m.signal(libc::SIGTERM);
    let r = restart.join().unwrap();
    assert_eq!(r.status, 503, "the restart should be abandoned: {r:?}");
    assert!(r.body.contains("shutting down"), "{r:?}");
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
    let shutdown = m
        .find(|r| r.event() == Some("shutdown"))
        .first()
        .expect("shutdown record")
        .line_no();
    let late = m.find(|r| r.event() == Some("started") && r.line_no() > shutdown);
    assert!(late.is_empty(), "started after shutdown: {late:?}");
    assert_eq!(m.events("started", "web-0").len(), 2);
}
