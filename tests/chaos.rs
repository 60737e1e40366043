//! Chaos tests (issue #13) for the core, each with its pass criterion, the real binary as PID 1:
//!
//! - a signal storm (10,000 mixed SIGUSR1/SIGHUP/SIGCHLD) while children crash in a loop: every
//!   started process has exactly one `exited` record with its pid, and every exit code belongs
//!   to the instance that exited (none lost, none mixed up);
//! - an orphan that escaped its group holds a service's stdout pipe and keeps writing: the
//!   service still reaches `exited`/`stopped` and shutdown ends;
//! - shutdown while a restart backoff is pending, while leftovers of a crashed group are being
//!   stopped, and while a dependency wait is pending: nothing starts afterwards;
//! - 200 consecutive cold starts of a 3-level readiness DAG: 0 failures, start order kept;
//! - the manager's stdout blocked by its reader, or closed (EPIPE): it keeps supervising
//!   (restarts happen, signals are forwarded) and SIGTERM still shuts it down;
//! - a fork bomb in one service held by a `pids` cgroup: the other services keep running,
//!   failed spawns are backed off, signals work, shutdown empties the cgroup.
//!
//! Chaos items that need the management API (the API answering during the fork bomb, restart
//! requested while a dependency wait is pending) come with the API.

mod support;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

/// Lines in a file (0 when it does not exist yet).
fn count_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

const STORM_SIGNALS: usize = 10_000;
const CRASHERS: usize = 4;

fn crash_code(i: usize) -> i64 {
    10 + i as i64
}

fn signal_storm(mode: Mode) {
    let dir = TestDir::new("storm");
    let mut cfg = String::from(
        "global:\n  restart_backoff_initial: 10ms\n  restart_backoff_max: 40ms\n  \
         restart_stable_after: 1h\n  shutdown_timeout: 10\nprocesses:\n",
    );
    for i in 0..CRASHERS {
        // Ignores the forwarded signals once its trap is set (a signal that lands before that
        // kills it, which is an exit status like any other: it must be reported too).
        cfg.push_str(&format!(
            "  crash{i}:\n    restart: always\n    forward_signals: [SIGHUP, SIGUSR1]\n    command: {}\n",
            sh(&format!(
                "trap '' HUP USR1; sleep 0.02; exit {}",
                crash_code(i)
            ))
        ));
    }
    cfg.push_str(&format!(
        "  steady:\n    forward_signals: [SIGHUP, SIGUSR1]\n    command: {}\n",
        sh("trap '' HUP USR1; echo steady-up; while :; do sleep 1; done")
    ));
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    m.wait_for(secs(10.0), "steady-up", |r| r.says("steady-0", "steady-up"));
    let mgr = m.pid();
    let before = m.find(|r| r.event() == Some("exited")).len();
    let t0 = Instant::now();
    let sender = std::thread::spawn(move || {
        let sigs = [libc::SIGUSR1, libc::SIGHUP, libc::SIGCHLD];
        for i in 0..STORM_SIGNALS {
            assert!(signal_raw(mgr, sigs[i % 3]), "kill failed at signal {i}");
            if i % 25 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    sender.join().unwrap();
    let storm_ms = t0.elapsed().as_millis();
    // Children kept crashing and restarting through the storm.
    m.wait_count(
        before + 20,
        secs(10.0),
        "20 exits after the storm began",
        |r| r.event() == Some("exited"),
    );
    assert!(
        m.exited().is_none(),
        "the manager died in the storm\n{}",
        m.dump()
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0, "{}", m.dump());

    // Pair every start with its exit, per pid.
    let mut started: BTreeMap<i64, String> = BTreeMap::new();
    for r in m.find(|r| r.event() == Some("started")) {
        let pid = r.i("pid").expect("started has a pid");
        assert!(
            started
                .insert(pid, r.instance().unwrap().to_owned())
                .is_none(),
            "pid {pid} started twice"
        );
    }
    let mut exited: BTreeMap<i64, String> = BTreeMap::new();
    let (mut by_code, mut by_signal) = (0, 0);
    for r in m.find(|r| r.event() == Some("exited")) {
        let pid = r.i("pid").expect("exited has a pid");
        let inst = r.instance().unwrap().to_owned();
        assert!(
            exited.insert(pid, inst.clone()).is_none(),
            "two exited records for pid {pid}"
        );
        if let Some(i) = inst
            .strip_prefix("crash")
            .and_then(|s| s.strip_suffix("-0"))
        {
            let i: usize = i.parse().unwrap();
            match (r.i("exit_code"), r.s("signal")) {
                (Some(c), _) => {
                    assert_eq!(c, crash_code(i), "exit code of {inst} (pid {pid}): {r}");
                    by_code += 1;
                }
                (None, Some("SIGHUP" | "SIGUSR1" | "SIGTERM")) => by_signal += 1,
                _ => panic!("unexpected ending of {inst}: {r}"),
            }
        }
    }
    let missing: Vec<_> = started
        .iter()
        .filter(|(p, _)| !exited.contains_key(p))
        .collect();
    assert!(
        missing.is_empty(),
        "started but never reported exited: {missing:?}"
    );
    let foreign: Vec<_> = exited.keys().filter(|p| !started.contains_key(p)).collect();
    assert!(
        foreign.is_empty(),
        "exited records for pids never started: {foreign:?}"
    );
    for (pid, inst) in &started {
        assert_eq!(
            &exited[pid], inst,
            "pid {pid} exited under another instance"
        );
    }
    println!(
        "{mode:?}: {STORM_SIGNALS} signals in {storm_ms} ms; {} starts, {} exits ({by_code} \
         with their own code, {by_signal} by a signal), none lost",
        started.len(),
        exited.len()
    );
}

#[test]
fn signal_storm_while_children_crash() {
    signal_storm(Mode::Pid1);
}

/// A service whose orphan escaped its group (`setsid`) and keeps writing to the service's
/// stdout pipe: the pipe never reaches EOF, yet the service is reported when it ends, stops at
/// shutdown, and shutdown ends (the orphan is killed by the final sweep).
fn orphan_holds_pipe(mode: Mode) {
    let dir = TestDir::new("pipeholder");
    let m1 = unique_digits();
    let m2 = unique_digits();
    let _g1 = MarkerGuard(m1.clone());
    let _g2 = MarkerGuard(m2.clone());
    let writer = |tag: &str, mark: &str| {
        format!("setsid sh -c 'while :; do echo {tag}-tick; sleep 0.05; done' {mark} &")
    };
    let cfg = format!(
        r#"global:
  shutdown_timeout: 10
processes:
  quitter:
    restart: never
    command: {quitter}
  holder:
    command: {holder}
"#,
        quitter = sh(&format!("{} echo quitter-up; exit 0", writer("q", &m1))),
        holder = sh(&format!(
            "{} echo holder-up; trap 'exit 0' TERM; while :; do sleep 0.1; done",
            writer("h", &m2)
        )),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    // The quitter ended while its orphan holds the pipe: its exit is still reported.
    let ex = m.wait_for(secs(10.0), "quitter exited", |r| {
        r.is("exited", "quitter-0")
    });
    assert_eq!(ex.i("exit_code"), Some(0));
    m.wait_for(secs(10.0), "the quitter's orphan writing", |r| {
        r.says("quitter-0", "q-tick")
    });
    m.wait_for(secs(10.0), "the holder's orphan writing", |r| {
        r.says("holder-0", "h-tick")
    });
    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    m.wait_for(secs(5.0), "holder stopped", |r| r.is("stopped", "holder-0"));
    assert_eq!(m.wait_code(secs(8.0)), 0, "{}", m.dump());
    let took = t0.elapsed();
    assert!(
        took < secs(5.0),
        "shutdown waited for the orphan's pipe: {took:?}"
    );
    for mark in [&m1, &m2] {
        assert!(
            poll_until(secs(3.0), "orphans gone", || pids_with_marker(mark)
                .is_empty()
                .then_some(true)),
            "orphan outlived the manager"
        );
    }
    println!("{mode:?}: shutdown with pipe-holding orphans took {took:?}");
}

#[test]
fn orphan_holding_a_service_pipe_as_pid1() {
    orphan_holds_pipe(Mode::Pid1);
}

#[test]
fn orphan_holding_a_service_pipe_as_subreaper() {
    orphan_holds_pipe(Mode::Subreaper);
}

/// Shutdown while a restart is pending (a long backoff) and while the leftovers of a crashed
/// group (ignoring SIGTERM) are being stopped before that restart: nothing starts afterwards,
/// the leftovers do not survive, and the backoff is not waited for.
#[test]
fn shutdown_during_backoff_and_leftover_stop() {
    let dir = TestDir::new("backoff");
    let mark = format!("1000.{}", unique_digits());
    let _g = MarkerGuard(mark.clone());
    let cfg = format!(
        r#"global:
  restart_backoff_initial: 5s
  shutdown_timeout: 10
processes:
  crasher:
    restart: always
    command: {crasher}
  leaver:
    restart: always
    command: {leaver}
"#,
        crasher = sh("echo crasher-up; exit 3"),
        // The leader exits only once its leftover ignores SIGTERM (SIG_IGN survives exec).
        leaver = sh(&format!(
            "sh -c \"trap '' TERM; touch {armed}; exec sleep {mark}\" & \
             while [ ! -e {armed} ]; do sleep 0.01; done; echo leaver-up; exit 4",
            armed = dir.s("armed")
        )),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    for inst in ["crasher-0", "leaver-0"] {
        let r = m.wait_for(secs(10.0), "restart scheduled", |r| {
            r.is("restart_scheduled", inst)
        });
        assert!(r.i("delay_ms").unwrap() >= 4000, "{r}");
    }
    m.wait_for(secs(5.0), "leftovers asked to stop", |r| {
        r.is("leftover_processes", "leaver-0")
    });
    poll_until(secs(5.0), "the leftover sleep running", || {
        (!pids_with_marker(&mark).is_empty()).then_some(())
    });
    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(8.0)), 0, "{}", m.dump());
    let took = t0.elapsed();
    assert!(took < secs(3.0), "waited for the backoff: {took:?}");
    let shutdown_line = m
        .find(|r| r.event() == Some("shutdown"))
        .first()
        .expect("shutdown record")
        .line_no();
    let late = m.find(|r| r.event() == Some("started") && r.line_no() > shutdown_line);
    assert!(late.is_empty(), "started after shutdown: {late:?}");
    assert_eq!(m.events("started", "crasher-0").len(), 1);
    assert_eq!(m.events("started", "leaver-0").len(), 1);
    assert!(
        pids_with_marker(&mark).is_empty(),
        "the leftover that ignores SIGTERM outlived the manager"
    );
}

/// Shutdown while a process waits for its dependency: it never starts.
#[test]
fn shutdown_during_dependency_wait() {
    let dir = TestDir::new("depwait");
    let cfg = format!(
        r#"processes:
  migrate:
    type: oneshot
    command: {migrate}
    shutdown:
      timeout: 2s
  app:
    command: ["sleep", "1000"]
    depends_on: [migrate]
"#,
        migrate = sh("echo migrating; exec sleep 30"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(10.0), "migrating", |r| {
        r.says("migrate-0", "migrating")
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(8.0)), 0, "{}", m.dump());
    assert!(
        m.events("started", "app-0").is_empty(),
        "app started during shutdown\n{}",
        m.dump()
    );
    assert_eq!(m.events("stopped", "migrate-0").len(), 1, "{}", m.dump());
}

const COLD_STARTS: usize = 200;

/// 200 consecutive cold starts of a 3-level DAG (oneshots → longruns → longruns), each up
/// to its last level, then SIGTERM: no failure, and the start order holds every time.
#[test]
fn cold_starts_of_a_three_level_dag() {
    let dir = TestDir::new("dag");
    let mark = format!("1000.{}", unique_digits());
    let _g = MarkerGuard(mark.clone());
    let cfg = format!(
        r#"global:
  shutdown_timeout: 5
processes:
  migrate:
    type: oneshot
    command: ["true"]
  cache:
    type: oneshot
    command: ["true"]
  fpm:
    command: ["sleep", "{mark}"]
    depends_on: [migrate, cache]
  worker:
    command: ["sleep", "{mark}"]
    depends_on: [migrate]
  nginx:
    command: ["sleep", "{mark}"]
    depends_on: [fpm]
  horizon:
    command: ["sleep", "{mark}"]
    depends_on: [worker, fpm]
"#
    );
    let path = dir.write("c.yaml", &cfg);
    let deps: [(&str, &[&str]); 4] = [
        ("fpm-0", &["migrate-0", "cache-0"]),
        ("worker-0", &["migrate-0"]),
        ("nginx-0", &["fpm-0"]),
        ("horizon-0", &["worker-0", "fpm-0"]),
    ];
    let t0 = Instant::now();
    let mut slowest = Duration::ZERO;
    for run in 0..COLD_STARTS {
        let t = Instant::now();
        let mut m = Manager::start(Mode::Pid1, &path);
        m.wait_count(4, secs(20.0), "the four longruns started", |r| {
            r.event() == Some("started")
                && r.process().is_some_and(|p| p != "migrate" && p != "cache")
        });
        let line = |m: &mut Manager, ev: &str, inst: &str| {
            m.events(ev, inst)
                .first()
                .unwrap_or_else(|| panic!("run {run}: no {ev} for {inst}\n{}", m.dump()))
                .line_no()
        };
        for (inst, needs) in deps {
            let at = line(&mut m, "started", inst);
            for d in needs {
                // A oneshot is ready once completed, a longrun once started.
                let ev = if d.starts_with("migrate") || d.starts_with("cache") {
                    "completed"
                } else {
                    "started"
                };
                let dep_at = line(&mut m, ev, d);
                assert!(
                    dep_at < at,
                    "run {run}: {inst} started before {d} was ready\n{}",
                    m.dump()
                );
            }
        }
        m.signal(libc::SIGTERM);
        let code = m.wait_code(secs(10.0));
        assert_eq!(code, 0, "run {run}: exit code\n{}", m.dump());
        let failures = m.find(|r| r.s("level") == Some("error"));
        assert!(failures.is_empty(), "run {run}: errors {failures:?}");
        slowest = slowest.max(t.elapsed());
    }
    let total = t0.elapsed();
    println!(
        "{COLD_STARTS} cold starts of a 3-level DAG: 0 failures, {:.1} s in all, {:.0} ms \
         average, {:.0} ms slowest (start to exit, unshare and the harness included)",
        total.as_secs_f64(),
        total.as_secs_f64() * 1000.0 / COLD_STARTS as f64,
        slowest.as_secs_f64() * 1000.0
    );
}

/// Services for the stdout tests: a crash loop counting its runs in a file, and a service
/// recording every SIGHUP it gets, plus a chatty one that fills any pipe.
fn stdout_config(dir: &TestDir, runs: &str, hups: &str) -> std::path::PathBuf {
    let cfg = format!(
        r#"global:
  restart_backoff_initial: 50ms
  restart_backoff_max: 100ms
  shutdown_timeout: 10
processes:
  counter:
    restart: always
    command: {counter}
  hup:
    forward_signals: [SIGHUP]
    command: {hup}
  chatty:
    command: {chatty}
"#,
        counter = sh(&format!("echo run >> {runs}; exit 1")),
        hup = py(&format!(
            "import signal, os\n\
             def h(*a):\n    open({hups:?}, 'a').write('hup\\n')\n\
             signal.signal(signal.SIGHUP, h)\n\
             open({hups:?}, 'a').write('ready\\n')\n\
             while True:\n    signal.pause()\n"
        )),
        chatty = py("import sys\nwhile True:\n    sys.stdout.write('x' * 200 + '\\n')\n"),
    );
    dir.write("c.yaml", &cfg)
}

/// While stdout is stuck, the manager still restarts processes and forwards signals.
fn assert_supervises(m: &Manager, runs: &std::path::Path, hups: &std::path::Path) {
    poll_until(secs(10.0), "the hup service ready", || {
        std::fs::read_to_string(hups)
            .is_ok_and(|s| s.contains("ready"))
            .then_some(())
    });
    let n = count_lines(runs);
    poll_until(secs(10.0), "five more restarts of counter", || {
        (count_lines(runs) >= n + 5).then_some(())
    });
    assert!(signal_raw(m.pid(), libc::SIGHUP));
    poll_until(secs(5.0), "SIGHUP forwarded", || {
        std::fs::read_to_string(hups)
            .is_ok_and(|s| s.contains("hup"))
            .then_some(())
    });
}

#[test]
fn stdout_blocked_by_its_reader() {
    let dir = TestDir::new("blocked");
    let (runs, hups) = (dir.file("runs"), dir.file("hups"));
    let path = stdout_config(&dir, &dir.s("runs"), &dir.s("hups"));
    // The reader stops at its 100th line until released: the pipe and the manager's queue
    // fill up behind it.
    let (release, gate) = mpsc::channel::<()>();
    let mut gate = Some(gate);
    let mut m = Launch::new(Mode::Pid1)
        .config(&path)
        .tap(Box::new(move |_line, n| {
            if n == 100 {
                if let Some(g) = gate.take() {
                    let _ = g.recv();
                }
            }
            false
        }))
        .spawn();
    assert_supervises(&m, &runs, &hups);
    // Shutdown still works with stdout stuck: the manager exits after its bounded final flush.
    let t0 = Instant::now();
    assert!(signal_raw(m.pid(), libc::SIGTERM));
    poll_until(
        secs(20.0),
        "the manager to exit with stdout blocked",
        || m.exited().map(|_| ()),
    );
    let took = t0.elapsed();
    release.send(()).unwrap();
    // (What the manager could not write within its final flush bound is dropped at exit: the
    // reader never came back while it ran.)
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
    println!("blocked stdout: exit {took:?} after SIGTERM");
}

#[test]
fn stdout_closed_by_its_reader() {
    let dir = TestDir::new("closed");
    let (runs, hups) = (dir.file("runs"), dir.file("hups"));
    let path = stdout_config(&dir, &dir.s("runs"), &dir.s("hups"));
    // stdout is a pipe whose read end is closed before the manager starts: every write fails
    // with EPIPE (SIGPIPE is blocked like every other signal).
    let epipe = "import os, sys\nr, w = os.pipe()\nos.dup2(w, 1)\nos.close(r)\nos.close(w)\n\
                 os.execv(sys.argv[1], sys.argv[1:])\n";
    let mut m = Launch::new(Mode::Pid1)
        .wrap(&["python3", "-c", epipe])
        .config(&path)
        .spawn();
    assert_supervises(&m, &runs, &hups);
    assert!(signal_raw(m.pid(), libc::SIGTERM));
    let st = poll_until(secs(15.0), "the manager to exit", || m.exited());
    assert_eq!(
        st.code(),
        Some(0),
        "exit status with a closed stdout: {st:?}"
    );
}

/// A fork bomb in one service, held by a `pids` cgroup around the whole container (as
/// `docker run --pids-limit` does): the other services keep running, failed spawns are logged
/// and backed off, signals still work, and shutdown kills the bomb's whole group. (With the
/// management API, the API must also keep answering: a later test.)
#[test]
fn fork_bomb_held_by_a_pids_limit() {
    let dir = TestDir::new("forkbomb");
    let ticks = dir.file("ticks");
    let hups = dir.file("hups");
    let cg = PidsCgroup::new();
    cg.set_max("40");
    let cfg = format!(
        r#"global:
  restart_backoff_initial: 100ms
  restart_backoff_max: 400ms
  shutdown_timeout: 10
processes:
  steady:
    forward_signals: [SIGHUP]
    command: {steady}
  bomb:
    command: {bomb}
  counter:
    restart: always
    command: ["/nonexistent-but-needs-a-fork"]
"#,
        steady = py(&format!(
            "import signal, time\n\
             signal.signal(signal.SIGHUP, lambda *a: open({h:?}, 'a').write('hup\\n'))\n\
             while True:\n    open({t:?}, 'a').write('tick\\n')\n    time.sleep(0.05)\n",
            h = hups.to_string_lossy(),
            t = ticks.to_string_lossy()
        )),
        // Forks sleepers until the limit refuses, then keeps trying: the cgroup stays full.
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
    m.wait_for(secs(10.0), "bomb armed", |r| r.says("bomb-0", "bomb-armed"));
    poll_until(secs(10.0), "the cgroup full", || {
        (cg.count() >= 39).then_some(())
    });
    // While the bomb holds every pid: failed spawns are backed off (the counter's restarts
    // need a fork each), the steady service keeps ticking, SIGHUP is forwarded.
    let fails = m.wait_count(3, secs(10.0), "spawn failures under the limit", |r| {
        r.event() == Some("spawn_failed") && r.msg().contains("Resource temporarily unavailable")
    });
    assert!(
        fails.iter().all(|f| f.instance() == Some("counter-0")),
        "{fails:?}"
    );
    let n = count_lines(&ticks);
    poll_until(secs(5.0), "steady ticking under the bomb", || {
        (count_lines(&ticks) >= n + 10).then_some(())
    });
    assert!(signal_raw(m.pid(), libc::SIGHUP));
    poll_until(secs(5.0), "SIGHUP forwarded under the bomb", || {
        (count_lines(&hups) >= 1).then_some(())
    });
    assert!(m.exited().is_none(), "the manager died\n{}", m.dump());
    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0, "{}", m.dump());
    poll_until(secs(5.0), "the cgroup empty", || {
        (cg.count() == 0).then_some(())
    });
    println!(
        "fork bomb under pids.max=40: {} failed spawns backed off, shutdown in {:?}",
        m.find(|r| r.event() == Some("spawn_failed")).len(),
        t0.elapsed()
    );
}
