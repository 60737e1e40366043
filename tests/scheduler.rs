//! Scheduled tasks (issue 10, feature `scheduler`), with the real binary as PID 1: a 6-field
//! every-2-seconds task runs on time with the README's environment; 5-field and weekly tasks
//! are accepted and announce the right next run (checked against Python's zoneinfo for a named
//! zone); the statistics in the log agree with the runs that happened; a task longer than its
//! interval never overlaps itself and counts its skips; SIGTERM stops a running task gracefully
//! and nothing starts afterwards; bad schedules exit 2 with `file:line`.
#![cfg(feature = "scheduler")]

mod support;

use support::*;

fn is_task_event(r: &serde_json::Value, event: &str, process: &str) -> bool {
    r.event() == Some(event) && r.process() == Some(process)
}

/// Unix seconds of the next time after `after_s` matching Monday 08:00 in `zone`, by Python.
fn python_next_monday_8(after_s: i64, zone: &str) -> i64 {
    let script = format!(
        "import datetime as d, zoneinfo as z\n\
         tz = z.ZoneInfo({zone:?})\n\
         t = d.datetime.fromtimestamp({after_s}, tz).replace(second=0, microsecond=0)\n\
         while True:\n\
         \x20   t = (t + d.timedelta(minutes=1))\n\
         \x20   l = t.astimezone(tz)\n\
         \x20   if l.weekday() == 0 and l.hour == 8 and l.minute == 0:\n\
         \x20       print(int(l.timestamp())); break\n\
         \x20   t = t.replace(second=0)\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn tasks_run_on_time_with_their_environment_and_statistics() {
    let dir = TestDir::new("sched");
    let cfg = format!(
        r#"processes:
  web:
    command: ["sleep", "600"]
  tick:
    command: {tick}
    schedule: "*/2 * * * * *"
    depends_on: [web]
    env:
      TASK_VAR: "from-config"
  quarter:
    command: ["true"]
    schedule: "*/15 * * * *"
  report:
    command: ["true"]
    schedule: "0 8 * * 1"
  report-berlin:
    command: ["true"]
    schedule: "0 8 * * mon"
    schedule_timezone: Europe/Berlin
"#,
        tick = sh(
            "echo \"env $PHPEEK_PM_PROCESS_NAME $PHPEEK_PM_INSTANCE_ID $PHPEEK_PM_SCHEDULED \
                   [$PHPEEK_PM_SCHEDULE] $PHPEEK_PM_START_TIME $TASK_VAR\"; \
                   n=${PHPEEK_PM_INSTANCE_ID##*-}; exit $((n % 2))"
        ),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    let started = m.wait_count(4, secs(15.0), "four runs of tick", |r| {
        is_task_event(r, "task_started", "tick")
    });
    // On time: each run starts within a fraction of a second after an even second.
    for (i, r) in started.iter().enumerate() {
        let ms = r.time_ms();
        assert_eq!(
            (ms / 1000) % 2,
            0,
            "run {} at {} is not on an even second",
            i + 1,
            ms
        );
        assert!(
            ms % 1000 < 300,
            "run {} started {} ms late",
            i + 1,
            ms % 1000
        );
        assert_eq!(r.instance(), Some(format!("tick-run-{}", i + 1).as_str()));
    }
    // Two seconds apart.
    for w in started.windows(2) {
        let gap = w[1].time_ms() - w[0].time_ms();
        assert!((1600..=2400).contains(&gap), "runs {gap} ms apart");
    }
    // The environment of every run.
    let finished = m.wait_count(4, secs(5.0), "four finished runs of tick", |r| {
        is_task_event(r, "task_finished", "tick")
    });
    for (i, r) in started.iter().enumerate() {
        let n = i + 1;
        let id = format!("tick-run-{n}");
        let out = m.output_of(&id);
        let start_s = r.time_ms() / 1000;
        assert_eq!(
            out,
            [format!(
                "env tick {id} true [*/2 * * * * *] {start_s} from-config"
            )],
            "environment of run {n}"
        );
    }
    // Statistics in the log agree with what happened: odd runs exit 1, even runs exit 0.
    let last = finished.last().unwrap();
    let i = |k: &str| last.get(k).and_then(|v| v.as_i64()).unwrap();
    let done = finished.len() as i64;
    assert_eq!(i("runs"), done);
    assert_eq!(i("successes"), done / 2);
    assert_eq!(i("failures"), done - done / 2);
    assert_eq!(i("skips"), 0);
    for r in &finished {
        let run = r.get("run").and_then(|v| v.as_i64()).unwrap();
        assert_eq!(r.get("exit_code").and_then(|v| v.as_i64()), Some(run % 2));
        assert_eq!(
            r.s("success"),
            Some(if run % 2 == 0 { "true" } else { "false" })
        );
    }
    // The 5-field task's next run: the next quarter hour after it was scheduled.
    let q = m.wait_for(secs(1.0), "quarter scheduled", |r| {
        is_task_event(r, "task_scheduled", "quarter")
    });
    let at = q.time_ms() / 1000;
    let next = q.get("next_run_unix").and_then(|v| v.as_i64()).unwrap();
    assert_eq!(next, (at / 900 + 1) * 900, "{q}");
    // `0 8 * * 1` falls on a Monday at 08:00 UTC (1970-01-01 was a Thursday).
    let rep = m.wait_for(secs(1.0), "report scheduled", |r| {
        is_task_event(r, "task_scheduled", "report")
    });
    let next = rep.get("next_run_unix").and_then(|v| v.as_i64()).unwrap();
    assert_eq!(next % 86_400, 8 * 3600, "08:00 UTC: {rep}");
    assert_eq!((next / 86_400 + 3) % 7, 0, "a Monday: {rep}");
    assert!(next > rep.time_ms() / 1000 && next - rep.time_ms() / 1000 <= 7 * 86_400);
    assert_eq!(
        next,
        python_next_monday_8(rep.time_ms() / 1000, "UTC"),
        "Python agrees"
    );
    // In Europe/Berlin: 08:00 local, whatever the DST of that Monday.
    let ber = m.wait_for(secs(1.0), "report-berlin scheduled", |r| {
        is_task_event(r, "task_scheduled", "report-berlin")
    });
    let next = ber.get("next_run_unix").and_then(|v| v.as_i64()).unwrap();
    assert_eq!(
        next,
        python_next_monday_8(ber.time_ms() / 1000, "Europe/Berlin"),
        "{ber}"
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    m.assert_json_only();
}

#[test]
fn a_task_longer_than_its_interval_never_overlaps() {
    let dir = TestDir::new("overlap");
    let cfg = format!(
        r#"processes:
  slow:
    command: {slow}
    schedule: "* * * * * *"
  pair:
    command: {pair}
    schedule: "* * * * * *"
    schedule_max_concurrent: 2
"#,
        slow = sh("echo begin; sleep 2.5; echo end"),
        pair = sh("sleep 2.5"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    let finished = m.wait_count(2, secs(15.0), "two finished slow runs", |r| {
        is_task_event(r, "task_finished", "slow")
    });
    // Each run of `slow` began after the previous one ended.
    let starts = m.find(|r| is_task_event(r, "task_started", "slow"));
    for (k, start) in starts.iter().enumerate().skip(1) {
        let prev_end = m.find(|r| {
            is_task_event(r, "task_finished", "slow")
                && r.instance() == Some(format!("slow-run-{k}").as_str())
        });
        assert_eq!(
            prev_end.len(),
            1,
            "run {k} ended before run {} began",
            k + 1
        );
        assert!(start.line_no() > prev_end[0].line_no());
    }
    let skipped = m.find(|r| is_task_event(r, "task_skipped", "slow"));
    assert!(
        skipped.len() >= 2,
        "2.5 s runs every second skip fire times"
    );
    let last = finished.last().unwrap();
    let skips_then = last.get("skips").and_then(|v| v.as_i64()).unwrap();
    let skipped_then = m
        .find(|r| is_task_event(r, "task_skipped", "slow"))
        .iter()
        .filter(|r| r.line_no() < last.line_no())
        .count() as i64;
    assert_eq!(
        skips_then, skipped_then,
        "the counter matches the skip records"
    );
    // With schedule_max_concurrent: 2, two runs of `pair` do run at once.
    let pair_starts = m.find(|r| is_task_event(r, "task_started", "pair"));
    let first_end =
        m.find(|r| is_task_event(r, "task_finished", "pair") && r.instance() == Some("pair-run-1"));
    assert!(pair_starts.len() >= 2);
    assert!(
        first_end.is_empty() || pair_starts[1].line_no() < first_end[0].line_no(),
        "run 2 of pair started while run 1 was going"
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn sigterm_stops_a_running_task_gracefully_and_starts_nothing_after() {
    let dir = TestDir::new("sched-stop");
    let cfg = format!(
        r#"processes:
  job:
    command: {job}
    schedule: "* * * * * *"
    shutdown:
      timeout: 5s
"#,
        job = sh("trap 'echo graceful; exit 0' TERM; echo working; while :; do sleep 0.1; done"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(5.0), "the run working", |r| {
        r.says("job-run-1", "working")
    });
    let t0 = std::time::Instant::now();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    assert!(
        t0.elapsed() < secs(3.0),
        "the run stopped on its stop signal, not at a timeout"
    );
    // (sh may also report, on stderr, that its `sleep` was ended by the signal: "Terminated".)
    let out: Vec<String> = m
        .output_of("job-run-1")
        .into_iter()
        .filter(|l| l != "Terminated")
        .collect();
    assert_eq!(out, ["working", "graceful"]);
    let shutdown = m.wait_for(secs(0.0), "shutdown", |r| r.event() == Some("shutdown"));
    let fin = m.wait_for(secs(0.0), "the run finished", |r| {
        is_task_event(r, "task_finished", "job")
    });
    assert_eq!(fin.get("exit_code").and_then(|v| v.as_i64()), Some(0));
    let late =
        m.find(|r| is_task_event(r, "task_started", "job") && r.line_no() > shutdown.line_no());
    assert!(
        late.is_empty(),
        "a run started after shutdown began: {late:?}"
    );
    // Run 1 kept going (max_concurrent 1): every later fire time was skipped, none started.
    assert_eq!(m.find(|r| is_task_event(r, "task_started", "job")).len(), 1);
}

/// A second SIGTERM kills a run that ignores its stop signal at once, as it does processes.
#[test]
fn a_second_sigterm_kills_a_stubborn_run_at_once() {
    let dir = TestDir::new("sched-force");
    let cfg = format!(
        r#"global:
  shutdown_timeout: 60
processes:
  job:
    command: {job}
    schedule: "* * * * * *"
    shutdown:
      timeout: 60s
"#,
        job = sh("trap 'echo ignored' TERM; echo working; while :; do sleep 0.1; done"),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    m.wait_for(secs(5.0), "the run working", |r| {
        r.says("job-run-1", "working")
    });
    m.signal(libc::SIGTERM);
    m.wait_for(secs(5.0), "the run ignoring SIGTERM", |r| {
        r.says("job-run-1", "ignored")
    });
    let t0 = std::time::Instant::now();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
    assert!(t0.elapsed() < secs(3.0), "took {:?}", t0.elapsed());
    let fin = m.wait_for(secs(0.0), "the run finished", |r| {
        is_task_event(r, "task_finished", "job")
    });
    assert_eq!(
        fin.get("exit_code").and_then(|v| v.as_i64()),
        Some(137),
        "{fin}"
    );
}

/// A task's first run waits for the global pre-start hooks, like every process.
#[cfg(feature = "hooks")]
#[test]
fn tasks_wait_for_the_pre_start_hooks() {
    let dir = TestDir::new("sched-hooks");
    let flag = dir.s("migrated");
    let cfg = format!(
        r#"hooks:
  pre-start:
    - name: migrate
      command: {hook}
      timeout: 30
processes:
  job:
    command: {job}
    schedule: "* * * * * *"
"#,
        hook = sh(&format!("sleep 2.5; touch {flag}")),
        job = sh(&format!(
            "if [ -e {flag} ]; then echo after; else echo before; fi"
        )),
    );
    let mut m = Manager::start(Mode::Subreaper, &dir.write("c.yaml", &cfg));
    m.wait_for(secs(10.0), "run 1's output", |r| {
        r.is_output() && r.instance() == Some("job-run-1")
    });
    assert_eq!(m.output_of("job-run-1"), ["after"]);
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn bad_schedules_exit_2_with_file_and_line() {
    let dir = TestDir::new("sched-bad");
    let cases = [
        ("schedule: \"61 * * * *\"", "minute 61 is out of range 0-59"),
        ("schedule: \"0 */5 * * foo *\"", "month \"foo\""),
        ("schedule: \"* * * *\"", "has 4 field(s)"),
        ("scale: 3\n    schedule: \"* * * * *\"", "no scale"),
        (
            "schedule: \"0 8 * * 1\"\n    schedule_timezone: Mars/Base",
            "\"Mars/Base\" not found",
        ),
    ];
    for (i, (keys, want)) in cases.iter().enumerate() {
        let name = format!("c{i}.yaml");
        let path = dir.write(
            &name,
            &format!("processes:\n  web:\n    command: [\"true\"]\n  job:\n    command: [\"true\"]\n    {keys}\n"),
        );
        let out = run_cmd(
            &["check-config", "-c", path.to_str().unwrap()],
            &[],
            None,
            secs(10.0),
        );
        assert_eq!(out.code, Some(2), "{keys}: {}", out.stderr);
        let line = if keys.starts_with("scale") {
            6
        } else {
            6 + keys.matches('\n').count()
        };
        let at = format!("{name}:{line}:");
        let at_first = format!("{name}:6:");
        assert!(
            out.stderr.contains(&at) || out.stderr.contains(&at_first),
            "{keys}: want {at} in {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(want),
            "{keys}: want {want:?} in {}",
            out.stderr
        );
    }
}
