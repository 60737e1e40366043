//! Life cycle of the whole manager: SIGHUP/SIGUSR1/SIGUSR2/SIGWINCH are forwarded to every
//! running process group; a `critical` process that fails for good stops everything with exit
//! code 1; when every process has finished the manager exits on its own (0 if all succeeded,
//! 1 otherwise); `log_format: text` and `log_level`.

mod support;

use support::*;

const TRAPS: &str = r#"
import os, signal
for s, n in ((signal.SIGHUP, b"hup"), (signal.SIGUSR1, b"usr1"), (signal.SIGUSR2, b"usr2"), (signal.SIGWINCH, b"winch")):
    signal.signal(s, lambda *a, n=n: os.write(1, b"got-" + n + b"\n"))
os.write(1, b"up\n")
while True:
    signal.pause()
"#;

fn forwarding(mode: Mode) {
    let dir = TestDir::new("forward");
    let cfg = format!(
        "processes:\n  app:\n    scale: 2\n    forward_signals: [HUP, USR1, USR2, WINCH]\n    command: {}\n  shell:\n    forward_signals: [HUP, USR1, USR2, WINCH]\n    command: {}\n",
        py(TRAPS),
        sh(
            "trap 'echo got-hup' HUP; trap '' USR1 USR2; sleep 1000 & echo up; \
            while :; do wait $!; sleep 1000 & done"
        )
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    for inst in ["app-0", "app-1", "shell-0"] {
        m.wait_for(secs(10.0), &format!("{inst} up"), |r| r.says(inst, "up"));
    }
    for (sig, name) in [
        (libc::SIGHUP, "hup"),
        (libc::SIGUSR1, "usr1"),
        (libc::SIGUSR2, "usr2"),
        (libc::SIGWINCH, "winch"),
    ] {
        m.signal(sig);
        let line = format!("got-{name}");
        for inst in ["app-0", "app-1"] {
            m.wait_for(secs(5.0), &format!("{line} from {inst}"), |r| {
                r.says(inst, &line)
            });
        }
    }
    m.wait_for(secs(5.0), "got-hup from the shell", |r| {
        r.says("shell-0", "got-hup")
    });
    // Forwarded, not acted upon: nobody stopped, nobody restarted.
    assert!(
        m.find(|r| r.event() == Some("shutdown")).is_empty(),
        "{}",
        m.dump()
    );
    for inst in ["app-0", "app-1", "shell-0"] {
        assert_eq!(
            m.events("started", inst).len(),
            1,
            "{inst} restarted\n{}",
            m.dump()
        );
        assert!(
            m.events("exited", inst).is_empty(),
            "{inst} exited\n{}",
            m.dump()
        );
    }
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn signals_are_forwarded_as_pid1() {
    forwarding(Mode::Pid1);
}

#[test]
fn signals_are_forwarded_as_subreaper() {
    forwarding(Mode::Subreaper);
}

#[test]
fn critical_process_failing_for_good_stops_everything_with_exit_1() {
    let dir = TestDir::new("critical");
    let cfg = format!(
        "global:\n  restart_backoff_initial: 100ms\n  max_restart_attempts: 1\nprocesses:\n  core:\n    critical: true\n    restart: on-failure\n    command: {}\n  web:\n    command: {}\n",
        sh("sleep 0.2; echo core-failing; exit 5"),
        sh("trap 'echo web-stopped; exit 0' TERM; sleep 1000 & echo up; wait"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    assert_eq!(m.wait_code(secs(15.0)), 1, "{}", m.dump());
    let exits = m.events("exited", "core-0");
    assert_eq!(exits.len(), 2, "one run and one restart\n{}", m.dump());
    assert!(exits.iter().all(|e| e.i("exit_code") == Some(5)));
    assert_eq!(m.events("gave_up", "core-0").len(), 1);
    let crit = m.events("critical_failed", "core-0");
    assert_eq!(crit.len(), 1, "{}", m.dump());
    // The others are stopped gracefully after the critical failure.
    let stop = m.events("stopping", "web-0");
    assert_eq!(stop.len(), 1);
    assert!(stop[0].line_no() > crit[0].line_no());
    assert!(m.output_of("web-0").contains(&"web-stopped".to_owned()));
    let exit = m.find(|r| r.event() == Some("exit"));
    assert_eq!(exit[0].i("exit_code"), Some(1));
}

#[test]
fn critical_process_that_never_starts_gives_exit_1() {
    let dir = TestDir::new("critical2");
    let cfg = format!(
        "processes:\n  core:\n    critical: true\n    restart: never\n    command: [\"/nonexistent/phpeek-core\"]\n  web:\n    command: {}\n",
        sh("sleep 1000 & wait")
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    assert_eq!(m.wait_code(secs(15.0)), 1, "{}", m.dump());
    assert_eq!(m.events("spawn_failed", "core-0").len(), 1);
    assert_eq!(m.events("critical_failed", "core-0").len(), 1);
}

#[test]
fn every_process_finished_successfully_exits_0_by_itself() {
    let dir = TestDir::new("alldone");
    let cfg = format!(
        "processes:\n  setup:\n    type: oneshot\n    command: {}\n  job:\n    restart: never\n    command: {}\n  retry:\n    restart: on-failure\n    command: {}\n  pair:\n    restart: never\n    scale: 2\n    command: {}\n",
        sh("echo setup"),
        sh("sleep 0.3; echo job"),
        sh("exit 0"),
        sh("echo $PHPEEK_PM_INSTANCE_ID"),
    );
    let path = dir.write("c.yaml", &cfg);
    for mode in [Mode::Pid1, Mode::Subreaper] {
        let mut m = Manager::start(mode, &path);
        assert_eq!(m.wait_code(secs(10.0)), 0, "{mode:?}\n{}", m.dump());
        assert_eq!(m.output_of("job-0"), ["job"]);
        assert_eq!(m.output_of("pair-1"), ["pair-1"]);
        let exit = m.find(|r| r.event() == Some("exit"));
        assert_eq!(exit.len(), 1);
        assert_eq!(exit[0].i("exit_code"), Some(0));
        // The manager decided by itself: no signal was involved.
        let sd = m.find(|r| r.event() == Some("shutdown"));
        assert!(!sd.iter().any(|r| r.msg().contains("received")), "{sd:?}");
    }
}

#[test]
fn every_process_finished_with_a_failure_exits_1() {
    let dir = TestDir::new("allfailed");
    let cfg = format!(
        "processes:\n  ok:\n    type: oneshot\n    command: {}\n  bad:\n    type: oneshot\n    command: {}\n",
        sh("exit 0"),
        sh("exit 3"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    assert_eq!(m.wait_code(secs(10.0)), 1, "{}", m.dump());
    assert_eq!(m.events("exited", "bad-0")[0].i("exit_code"), Some(3));
    assert_eq!(m.events("completed", "ok-0").len(), 1);
}

#[test]
fn text_format_and_log_level() {
    let dir = TestDir::new("text");
    let cfg = format!(
        "global:\n  log_format: text\n  log_level: warn\nprocesses:\n  app:\n    restart: never\n    command: {}\n",
        sh("echo hello text; echo oops >&2; exit 4")
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    assert_eq!(m.wait_code(secs(10.0)), 1);
    let lines: Vec<String> = m
        .records()
        .iter()
        .map(|r| r.s("_garbage").unwrap_or("<json>").to_owned())
        .collect();
    let text = lines.join("\n");
    let shape = |l: &str| {
        let mut f = l.splitn(3, ' ');
        let (t, lvl) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        parse_time(t).is_some() && ["DEBUG", "INFO", "WARN", "ERROR"].contains(&lvl)
    };
    assert!(
        lines.iter().all(|l| shape(l)),
        "not TIME LEVEL ...:\n{text}"
    );
    // Child output is always shown; the manager's info events are filtered by log_level.
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(" INFO [app-0] hello text")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with(" INFO [app-0] oops")),
        "{text}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("process started")),
        "info event shown:\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN [app-0] ") && l.contains("exit_code=4")),
        "warn event missing:\n{text}"
    );
}
