//! Restart policy and backoff (issue #2, item 3): a crash loop's delays follow
//! `initial × 2^n` capped at `max`, within ±10 % jitter, both as announced in
//! `restart_scheduled.delay_ms` and as measured between `exited` and the next `started`; a run
//! longer than `restart_stable_after` resets the delay to `initial`; `restart: never` and
//! `on-failure` with exit 0 do not restart; `max_restart_attempts` gives up; spawn failures
//! count as failed runs.

mod support;

use support::*;

const INITIAL: i64 = 200;
const MAX: i64 = 1000;

/// The un-jittered delay before restart number `attempt` (1-based) since the last stable run.
fn base(attempt: i64) -> i64 {
    (INITIAL << (attempt - 1)).min(MAX)
}

fn assert_jittered(delay: i64, attempt: i64, what: &str) {
    let b = base(attempt);
    assert!(
        delay * 10 >= b * 9 && delay * 10 <= b * 11,
        "{what}: attempt {attempt}: delay {delay} ms outside {b} ms ±10 %"
    );
}

#[test]
fn crash_loop_backoff_reset_and_policies() {
    let dir = TestDir::new("restart");
    let counter = dir.s("count");
    let cfg = format!(
        r#"global:
  restart_backoff_initial: 200ms
  restart_backoff_max: 1s
  restart_stable_after: 1s
processes:
  crash:
    restart: always
    command: {crash}
  stable:
    restart: on-failure
    command: {stable}
  never:
    restart: never
    command: {never}
  clean:
    restart: on-failure
    command: {clean}
"#,
        crash = sh("echo run; exit 3"),
        // Runs 1, 2, 4, 5... crash at once; run 3 lasts longer than restart_stable_after.
        stable = sh(&format!(
            "n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; \
             echo run-$n; if [ $n -eq 3 ]; then sleep 1.3; fi; exit 4"
        )),
        never = sh("exit 1"),
        clean = sh("exit 0"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);

    // Crash loop: 5 restarts (200, 400, 800, 1000, 1000 ms) → 6 starts.
    let starts = m.wait_count(6, secs(20.0), "starts of crash", |r| {
        r.is("started", "crash-0")
    });
    let exits = m.events("exited", "crash-0");
    let sched = m.events("restart_scheduled", "crash-0");
    assert!(exits.len() >= 5 && sched.len() >= 5, "{}", m.dump());
    let mut delays = Vec::new();
    for k in 0..5 {
        let attempt = k as i64 + 1;
        assert_eq!(exits[k].i("exit_code"), Some(3));
        assert_eq!(sched[k].i("attempt"), Some(attempt), "{:?}", sched[k]);
        let delay = sched[k].i("delay_ms").expect("delay_ms");
        assert_jittered(delay, attempt, "announced delay");
        // Measured: from the exit to the next start (record times have ms resolution; the
        // start record follows fork+exec, which a loaded machine can slow down, never speed up).
        let gap = starts[k + 1].time_ms() - exits[k].time_ms();
        assert!(
            gap >= delay - 2 && gap <= delay + 250,
            "attempt {attempt}: restarted {gap} ms after the exit, announced {delay} ms"
        );
        assert!(
            gap * 10 >= base(attempt) * 9 - 20,
            "attempt {attempt}: restarted after {gap} ms, before {}×0.9",
            base(attempt)
        );
        delays.push(delay);
    }
    println!("crash loop delays (ms): {delays:?}");
    assert!(
        delays
            .iter()
            .enumerate()
            .any(|(k, &d)| d != base(k as i64 + 1)),
        "no jitter at all: {delays:?}"
    );

    // Reset after a stable run: delays 200, 400, then (after the 1.3 s run) 200 again, 400.
    let mut st = m.wait_count(4, secs(10.0), "restarts of stable", |r| {
        r.is("restart_scheduled", "stable-0")
    });
    st.truncate(4);
    let attempts: Vec<i64> = st.iter().map(|r| r.i("attempt").unwrap()).collect();
    assert_eq!(
        attempts,
        [1, 2, 1, 2],
        "attempt numbers of stable\n{}",
        m.dump()
    );
    for r in &st {
        let a = r.i("attempt").unwrap();
        assert_jittered(r.i("delay_ms").unwrap(), a, "stable");
    }
    let runs = m.events("exited", "stable-0");
    assert!(
        runs[2].i("runtime_ms").unwrap() >= 1000,
        "run 3 was meant to be stable"
    );

    // `never` and `on-failure` with exit 0: one run each, no restart.
    for (inst, code) in [("never-0", 1), ("clean-0", 0)] {
        assert_eq!(
            m.events("started", inst).len(),
            1,
            "{inst} restarted\n{}",
            m.dump()
        );
        let ex = m.events("exited", inst);
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].i("exit_code"), Some(code));
        assert!(
            m.events("restart_scheduled", inst).is_empty(),
            "{inst} scheduled a restart"
        );
    }

    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    // Nothing was restarted while shutting down.
    let starts_after = m.events("started", "crash-0").len();
    let shutdown_line = m.find(|r| r.event() == Some("shutdown"))[0].line_no();
    assert!(
        m.find(|r| r.event() == Some("started") && r.line_no() > shutdown_line)
            .is_empty(),
        "a process was started after the shutdown began ({starts_after} crash starts)"
    );
}

#[test]
fn gives_up_after_max_restart_attempts() {
    let dir = TestDir::new("giveup");
    let cfg = format!(
        "global:\n  restart_backoff_initial: 100ms\n  max_restart_attempts: 2\nprocesses:\n  flaky:\n    command: {}\n",
        sh("echo try; exit 7")
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    // The only process failed for good: the manager is done, with code 1.
    assert_eq!(m.wait_code(secs(10.0)), 1, "{}", m.dump());
    assert_eq!(
        m.events("started", "flaky-0").len(),
        3,
        "1 run + 2 restarts"
    );
    assert_eq!(m.events("restart_scheduled", "flaky-0").len(), 2);
    assert_eq!(m.events("gave_up", "flaky-0").len(), 1);
    let exit = m.find(|r| r.event() == Some("exit"));
    assert_eq!(exit[0].i("exit_code"), Some(1));
}

#[test]
fn spawn_failure_counts_as_a_failed_run() {
    let dir = TestDir::new("spawnfail");
    let cfg = "global:\n  restart_backoff_initial: 100ms\n  max_restart_attempts: 1\nprocesses:\n  ghost:\n    command: [\"/nonexistent/phpeek-test-binary\"]\n";
    let path = dir.write("c.yaml", cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    assert_eq!(m.wait_code(secs(10.0)), 1, "{}", m.dump());
    let fails = m.events("spawn_failed", "ghost-0");
    assert_eq!(fails.len(), 2, "1 try + 1 restart\n{}", m.dump());
    assert!(
        fails[0].msg().contains("/nonexistent/phpeek-test-binary"),
        "spawn_failed names the program: {}",
        fails[0]
    );
    assert!(m.events("started", "ghost-0").is_empty());
    assert_eq!(m.events("restart_scheduled", "ghost-0").len(), 1);
    assert_eq!(m.events("gave_up", "ghost-0").len(), 1);
}
