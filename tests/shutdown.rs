//! Graceful shutdown (issue #2, item 2): on SIGTERM dependents stop before their dependencies
//! (seen in the children's own output and in a file they append to), a child that ignores
//! SIGTERM is SIGKILLed after its `shutdown.timeout`, a shell with background children and a
//! `setsid` escapee leave nothing behind, and the manager exits 0. Also: a second signal
//! escalates to an immediate kill, and SIGINT/SIGQUIT shut down like SIGTERM.

mod support;

use std::time::Instant;

use support::*;

/// A shell that traps TERM, records its stop in `order`, and otherwise idles in a background
/// `sleep <mark>` (the test waits until that sleep has been exec'd before signalling).
fn trapping(name: &str, order: &str, mark: &str) -> String {
    sh(&format!(
        "trap 'echo {name}-term; echo {name} >> {order}; exit 0' TERM; sleep {mark} & \
         echo {name}-up; wait"
    ))
}

fn graceful(mode: Mode) {
    let dir = TestDir::new("shutdown");
    let order = dir.s("order");
    let bg = format!("1000.{}", unique_digits());
    let esc = format!("1000.{}", unique_digits());
    let _g1 = MarkerGuard(bg.clone());
    let _g2 = MarkerGuard(esc.clone());
    let idle = format!("1000.{}", unique_digits());
    let _g3 = MarkerGuard(idle.clone());
    let cfg = format!(
        r#"global:
  shutdown_timeout: 10
processes:
  db:
    command: {db}
  app:
    command: {app}
    depends_on: [db]
  web:
    command: {web}
    depends_on: [app]
  stubborn:
    command: {stubborn}
    shutdown:
      timeout: 1s
  forker:
    command: {forker}
  escaper:
    command: {escaper}
"#,
        db = trapping("db", &order, &idle),
        app = trapping("app", &order, &idle),
        web = trapping("web", &order, &idle),
        stubborn = sh("trap '' TERM; echo stubborn-up; while :; do sleep 0.2; done"),
        forker = sh(&format!("sleep {bg} & sleep {bg} & echo forker-up; wait")),
        escaper = sh(&format!("setsid sleep {esc} & echo escaper-up; wait")),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    for n in ["db", "app", "web", "stubborn", "forker", "escaper"] {
        let inst = format!("{n}-0");
        m.wait_for(secs(10.0), &format!("{n}-up"), |r| {
            r.says(&inst, &format!("{n}-up"))
        });
    }
    poll_until(secs(5.0), "every background sleep exec'd", || {
        (pids_with_marker(&bg).len() == 2
            && pids_with_marker(&esc).len() == 1
            && pids_with_marker(&idle).len() == 3)
            .then_some(())
    });

    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    // shutdown_timeout is 10 s: finishing well before shows nobody waited for it.
    let code = m.wait_code(secs(8.0));
    let took = t0.elapsed();
    assert_eq!(code, 0, "exit code after SIGTERM\n{}", m.dump());
    m.assert_json_only();

    // Dependents before dependencies, from the children's own side.
    let written = std::fs::read_to_string(&order).unwrap();
    assert_eq!(
        written, "web\napp\ndb\n",
        "stop order written by the children"
    );
    let line = |m: &mut Manager, pred: &dyn Fn(&Value) -> bool, what: &str| -> i64 {
        let v = m.find(pred);
        assert_eq!(v.len(), 1, "expected one {what}, got {v:?}\n{}", m.dump());
        v[0].line_no()
    };
    let web_said = line(&mut m, &|r| r.says("web-0", "web-term"), "web-term");
    let app_said = line(&mut m, &|r| r.says("app-0", "app-term"), "app-term");
    let db_said = line(&mut m, &|r| r.says("db-0", "db-term"), "db-term");
    assert!(web_said < app_said && app_said < db_said, "output order");
    // And from the manager's records: a dependency is signalled only after its dependent exited.
    let web_exit = line(&mut m, &|r| r.is("exited", "web-0"), "web exited");
    let app_stop = line(&mut m, &|r| r.is("stopping", "app-0"), "app stopping");
    let app_exit = line(&mut m, &|r| r.is("exited", "app-0"), "app exited");
    let db_stop = line(&mut m, &|r| r.is("stopping", "db-0"), "db stopping");
    assert!(web_exit < app_stop, "app signalled before web exited");
    assert!(app_exit < db_stop, "db signalled before app exited");
    for n in ["web", "app", "db"] {
        let ex = m.events("exited", &format!("{n}-0"));
        assert_eq!(ex[0].i("exit_code"), Some(0), "{n} exits 0 from its trap");
    }
    // Independent processes are stopped together with the first wave, not after db.
    let stub_stop = line(
        &mut m,
        &|r| r.is("stopping", "stubborn-0"),
        "stubborn stopping",
    );
    assert!(
        stub_stop < app_stop,
        "stubborn waited for unrelated processes"
    );

    // The one ignoring SIGTERM is SIGKILLed after its 1 s shutdown.timeout.
    let stop = m.events("stopping", "stubborn-0")[0].clone();
    assert_eq!(stop.s("signal"), Some("SIGTERM"));
    let kill = m.events("kill", "stubborn-0");
    assert_eq!(kill.len(), 1, "no kill record for stubborn\n{}", m.dump());
    let waited = kill[0].time_ms() - stop.time_ms();
    assert!(
        (950..2500).contains(&waited),
        "SIGKILL came {waited} ms after SIGTERM (timeout 1 s)"
    );
    let ex = m.events("exited", "stubborn-0");
    assert_eq!(ex[0].s("signal"), Some("SIGKILL"), "{:?}", ex[0]);
    for n in ["db", "app", "web", "stubborn", "forker", "escaper"] {
        assert_eq!(
            m.events("stopped", &format!("{n}-0")).len(),
            1,
            "{n} stopped"
        );
    }
    let exit = m.find(|r| r.event() == Some("exit"));
    assert_eq!(exit.len(), 1);
    assert_eq!(exit[0].i("exit_code"), Some(0));

    // Nothing left behind: the forker's background sleeps and the setsid escapee are gone.
    let left = (
        pids_with_marker(&bg),
        pids_with_marker(&esc),
        pids_with_marker(&idle),
    );
    assert!(
        left.0.is_empty() && left.1.is_empty() && left.2.is_empty(),
        "left behind: background {:?}, escapee {:?}, idle {:?}",
        left.0,
        left.1,
        left.2
    );
    println!("{mode:?}: graceful shutdown took {} ms", took.as_millis());
}

#[test]
fn graceful_shutdown_as_pid1() {
    graceful(Mode::Pid1);
}

#[test]
fn graceful_shutdown_as_subreaper() {
    graceful(Mode::Subreaper);
}

#[test]
fn second_sigterm_kills_at_once() {
    second_sigterm();
}

fn second_sigterm() {
    let dir = TestDir::new("second");
    let cfg = format!(
        "global:\n  shutdown_timeout: 60\nprocesses:\n  stubborn:\n    command: {}\n    shutdown:\n      timeout: 30\n",
        sh("trap '' TERM; echo up; while :; do sleep 0.2; done")
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(10.0), "up", |r| r.says("stubborn-0", "up"));
    m.signal(libc::SIGTERM);
    m.wait_for(secs(5.0), "stopping", |r| r.is("stopping", "stubborn-0"));
    m.signal(libc::SIGTERM);
    // Both timeouts are 30 s or more: only the escalation can end it this soon.
    let code = m.wait_code(secs(6.0));
    assert_eq!(code, 0);
    assert_eq!(m.find(|r| r.event() == Some("shutdown_forced")).len(), 1);
    let ex = m.events("exited", "stubborn-0");
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].s("signal"), Some("SIGKILL"));
}

fn shutdown_by(sig: i32, mode: Mode) {
    let dir = TestDir::new("sig");
    let cfg = format!(
        "processes:\n  app:\n    command: {}\n",
        // No background job: a signal racing with the fork of one could miss it (a shell
        // child between fork and exec), and the test would wait for the stop timeout.
        py("import os, signal\n\
            def bye(*a):\n    os.write(1, b'bye\\n')\n    os._exit(0)\n\
            signal.signal(signal.SIGTERM, bye)\nos.write(1, b'up\\n')\n\
            while True:\n    signal.pause()\n")
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    m.wait_for(secs(10.0), "up", |r| r.says("app-0", "up"));
    m.signal(sig);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    assert_eq!(m.output_of("app-0"), ["up", "bye"]);
    let ex = m.events("exited", "app-0");
    assert_eq!(ex[0].i("exit_code"), Some(0));
    assert_eq!(m.find(|r| r.event() == Some("shutdown")).len(), 1);
}

#[test]
fn sigint_shuts_down_gracefully() {
    shutdown_by(libc::SIGINT, Mode::Pid1);
}

#[test]
fn sigquit_shuts_down_gracefully() {
    shutdown_by(libc::SIGQUIT, Mode::Subreaper);
}

#[test]
fn custom_stop_signal_is_used() {
    let dir = TestDir::new("stopsig");
    let cfg = format!(
        "processes:\n  fpm:\n    command: {}\n    shutdown:\n      signal: SIGQUIT\n      timeout: 5\n",
        py("import os, signal\n\
            def on(msg, code):\n    def h(*a):\n        os.write(1, msg)\n        os._exit(code)\n    return h\n\
            signal.signal(signal.SIGQUIT, on(b'got-quit\\n', 0))\n\
            signal.signal(signal.SIGTERM, on(b'got-term\\n', 9))\n\
            os.write(1, b'up\\n')\nwhile True:\n    signal.pause()\n")
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(10.0), "up", |r| r.says("fpm-0", "up"));
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    assert_eq!(m.output_of("fpm-0"), ["up", "got-quit"]);
    assert_eq!(
        m.events("stopping", "fpm-0")[0].s("signal"),
        Some("SIGQUIT")
    );
    assert!(
        m.events("kill", "fpm-0").is_empty(),
        "needed SIGKILL\n{}",
        m.dump()
    );
}

/// Fifty children stopping at once, so their exits reach the loop together (pipes at
/// end-of-file in the same poll, several children per reap): each one's last words on SIGTERM —
/// a line, then a tail without newline — come before its exit record, and every exit and stop
/// is recorded exactly once. The shutdown-path shortcuts (no `read` of a pipe the poll already
/// reported as finished, no `EPOLL_CTL_DEL`, the final sweep skipped when no child is left)
/// must not lose any of it.
fn fifty_at_once(mode: Mode) {
    let dir = TestDir::new("fifty");
    let cfg = format!(
        "processes:\n  w:\n    scale: 50\n    command: {}\n",
        // A foreground sleep, not `sleep & wait`: a background sleep forked just after the
        // group's SIGTERM would outlive the shell and hold the group for the whole timeout.
        sh(
            "trap 'echo bye-$PHPEEK_PM_INSTANCE_ID; printf tail; exit 0' TERM; \
            echo up; while :; do sleep 1; done"
        )
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    for i in 0..50 {
        let inst = format!("w-{i}");
        m.wait_for(secs(20.0), &format!("{inst} up"), |r| r.says(&inst, "up"));
    }
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
    m.assert_json_only();
    for i in 0..50 {
        let inst = format!("w-{i}");
        let one = |m: &mut Manager, v: Vec<Value>, what: &str| -> Value {
            assert_eq!(
                v.len(),
                1,
                "{inst}: expected one {what}, got {v:?}\n{}",
                m.dump()
            );
            v[0].clone()
        };
        let bye = m.find(|r| r.says(&inst, &format!("bye-{inst}")));
        let bye = one(&mut m, bye, "bye line");
        let tail = m.find(|r| r.says(&inst, "tail"));
        let tail = one(&mut m, tail, "tail");
        let exited = m.events("exited", &inst);
        let exited = one(&mut m, exited, "exited record");
        let stopped = m.events("stopped", &inst);
        let stopped = one(&mut m, stopped, "stopped record");
        assert_eq!(exited.i("exit_code"), Some(0), "{inst}: {exited}");
        assert!(
            bye.line_no() < tail.line_no() && tail.line_no() < exited.line_no(),
            "{inst}: output after its exit record\n{}",
            m.dump()
        );
        assert!(
            exited.line_no() < stopped.line_no(),
            "{inst}: stopped before exited"
        );
    }
}

#[test]
fn fifty_children_stop_at_once_as_pid1() {
    fifty_at_once(Mode::Pid1);
}

#[test]
fn fifty_children_stop_at_once_as_subreaper() {
    fifty_at_once(Mode::Subreaper);
}

/// Pipes of processes that stopped during a shutdown are freed while others are still
/// stopping (only the last ones are left to the exit): while a stubborn process holds the
/// shutdown open, the manager holds the 20 stopped processes' 40 pipes no more, every stopped
/// process's output and records are complete, and the exit still comes (with the stubborn one
/// SIGKILLed at its timeout).
fn descriptors_during_a_long_shutdown(mode: Mode) {
    let dir = TestDir::new("fds-shutdown");
    let cfg = format!(
        "processes:\n  w:\n    scale: 20\n    command: {w}\n  stubborn:\n    command: {s}\n    \
         shutdown:\n      timeout: 3s\n",
        w = sh("trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 1; done"),
        s = sh("trap '' TERM; echo up; while :; do sleep 0.2; done"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    m.wait_count(21, secs(20.0), "21 processes up", |r| {
        r.is_output() && r.msg() == "up"
    });
    let running = open_fds(m.pid()).len();
    m.signal(libc::SIGTERM);
    m.wait_count(20, secs(8.0), "20 stopped records", |r| {
        r.event() == Some("stopped") && r.process() == Some("w")
    });
    let pid = m.pid();
    // Well inside the stubborn one's 3 s (a gone manager has no descriptors, which is no pass).
    poll_until(secs(2.0), "the stopped processes' pipes freed", || {
        let shutting = open_fds(pid).len();
        (shutting > 0 && shutting + 40 <= running).then_some(shutting)
    });
    assert!(
        m.exited().is_none(),
        "exited before the stubborn timeout\n{}",
        m.dump()
    );
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
    m.assert_json_only();
    for i in 0..20 {
        let inst = format!("w-{i}");
        assert_eq!(
            m.find(|r| r.says(&inst, "bye")).len(),
            1,
            "{inst}: its last words"
        );
        assert_eq!(m.events("stopped", &inst).len(), 1, "{inst} stopped");
    }
    let ex = m.events("exited", "stubborn-0");
    assert_eq!(ex.len(), 1, "{}", m.dump());
    assert_eq!(ex[0].s("signal"), Some("SIGKILL"), "{:?}", ex[0]);
}

#[test]
fn descriptors_during_a_long_shutdown_as_pid1() {
    descriptors_during_a_long_shutdown(Mode::Pid1);
}

#[test]
fn descriptors_during_a_long_shutdown_as_subreaper() {
    descriptors_during_a_long_shutdown(Mode::Subreaper);
}
