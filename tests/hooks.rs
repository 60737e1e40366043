//! Lifecycle hooks (issue #8), with the real binary as PID 1: the Laravel sequence in order,
//! a graceful Horizon-like stop through `pre_stop_hook` (and `wait_for_exit: false`), retries
//! and `continue_on_error`, hanging hooks killed with their whole group, SIGTERM during a long
//! pre-start hook, and bad hooks refused with `file:line`.
#![cfg(feature = "hooks")]

mod support;

use std::time::Instant;

use support::*;

/// A stub `artisan`: prints what it was asked, and appends it to `log`.
fn artisan(dir: &TestDir) -> String {
    let log = dir.s("artisan.log");
    let p = dir.write(
        "artisan",
        &format!("#!/bin/sh\necho \"artisan $*\"\necho \"$*\" >> {log}\n"),
    );
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn laravel_sequence_runs_in_order() {
    let dir = TestDir::new("hooks-laravel");
    let a = artisan(&dir);
    let cfg = format!(
        r#"hooks:
  pre-start:
    - name: config-cache
      command: ["{a}", "config:cache"]
    - name: route-cache
      command: ["{a}", "route:cache"]
    - name: migrate
      command: ["{a}", "migrate", "--force"]
      timeout: 300
  post-start:
    - name: announce
      command: ["{a}", "up"]
  pre-stop:
    - name: down
      command: ["{a}", "down"]
  post_stop:
    - name: cleanup
      command: ["{a}", "cleanup"]
processes:
  php-fpm:
    command: {fpm}
  nginx:
    depends_on: [php-fpm]
    command: {nginx}
"#,
        fpm = sh("echo fpm running; exec sleep 1000"),
        nginx = sh("echo nginx running; exec sleep 1000"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    let up = m.wait_for(secs(10.0), "post-start hook output", |r| {
        r.says("hook:announce", "artisan up")
    });
    m.wait_for(secs(5.0), "post-start hook done", |r| {
        r.event() == Some("hook_finished") && r.s("hook") == Some("announce")
    });
    let line = |m: &mut Manager, inst: &str, text: &str| -> i64 {
        let t = text.to_owned();
        let i = inst.to_owned();
        m.wait_for(secs(5.0), text, move |r| r.says(&i, &t))
            .line_no()
    };
    let cc = line(&mut m, "hook:config-cache", "artisan config:cache");
    let rc = line(&mut m, "hook:route-cache", "artisan route:cache");
    let mg = line(&mut m, "hook:migrate", "artisan migrate --force");
    let first_start = m
        .find(|r| r.event() == Some("started"))
        .iter()
        .map(|r| r.line_no())
        .min()
        .unwrap();
    assert!(cc < rc && rc < mg && mg < first_start, "{}", m.dump());
    // Post-start after every process runs.
    let last_start = m.wait_for(secs(1.0), "nginx", |r| r.is("started", "nginx-0"));
    assert!(last_start.line_no() < up.line_no());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0);
    let down = line(&mut m, "hook:down", "artisan down");
    let cleanup = line(&mut m, "hook:cleanup", "artisan cleanup");
    let stops: Vec<i64> = m
        .find(|r| r.event() == Some("stopping") || r.event() == Some("stopped"))
        .iter()
        .map(|r| r.line_no())
        .collect();
    assert!(!stops.is_empty());
    assert!(
        down < *stops.iter().min().unwrap(),
        "pre-stop before any process is stopped\n{}",
        m.dump()
    );
    assert!(
        cleanup > *stops.iter().max().unwrap(),
        "post-stop after every process is down\n{}",
        m.dump()
    );
    let log = std::fs::read_to_string(dir.file("artisan.log")).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "config:cache",
            "route:cache",
            "migrate --force",
            "up",
            "down",
            "cleanup"
        ]
    );
}

#[test]
fn pre_stop_hook_lets_horizon_finish_its_job() {
    let dir = TestDir::new("hooks-horizon");
    let d = dir.s("");
    // Works until told to stop (a file), then finishes its "job" for a second and exits.
    let horizon = sh(&format!(
        "trap 'echo got SIGTERM; exit 0' TERM; echo working; \
         while [ ! -f {d}/stop-$PHPEEK_PM_PROCESS_NAME ]; do sleep 0.05; done; \
         echo finishing job; sleep 1; echo job done; exit 0"
    ));
    let cfg = format!(
        r#"global:
  shutdown_timeout: 30
processes:
  graceful:
    command: {horizon}
    shutdown:
      timeout: 10
      pre_stop_hook:
        name: terminate
        command: {hook}
  eager:
    command: {horizon}
    shutdown:
      timeout: 10
      wait_for_exit: false
      pre_stop_hook:
        name: terminate
        command: {hook}
"#,
        hook = sh(&format!(
            "echo terminate $PHPEEK_PM_INSTANCE_ID; touch {d}/stop-$PHPEEK_PM_PROCESS_NAME"
        )),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(5.0), "graceful working", |r| {
        r.says("graceful-0", "working")
    });
    m.wait_for(secs(5.0), "eager working", |r| r.says("eager-0", "working"));
    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(20.0)), 0);
    assert!(t0.elapsed() < secs(8.0), "took {:?}", t0.elapsed());
    // The hook ran with the instance's environment.
    m.wait_for(secs(1.0), "hook output", |r| {
        r.says("graceful-0:hook:terminate", "terminate graceful-0")
    });
    let graceful = m.output_of("graceful-0");
    assert!(graceful.contains(&"job done".to_owned()), "{graceful:?}");
    assert!(
        !graceful.contains(&"got SIGTERM".to_owned()),
        "{graceful:?}"
    );
    assert!(
        m.find(|r| r.is("stopping", "graceful-0") && r.s("signal").is_some())
            .is_empty(),
        "graceful-0 was never signalled\n{}",
        m.dump()
    );
    assert_eq!(m.events("exited", "graceful-0")[0].i("exit_code"), Some(0));
    let eager = m.output_of("eager-0");
    assert!(eager.contains(&"got SIGTERM".to_owned()), "{eager:?}");
    assert!(!eager.contains(&"job done".to_owned()), "{eager:?}");
}

/// A pre-start hook that fails twice, then succeeds; `extra` is added to the hook.
fn flaky_startup(extra: &str) -> (Manager, TestDir) {
    let dir = TestDir::new("hooks-retry");
    let count = dir.s("count");
    let cfg = format!(
        r#"hooks:
  pre-start:
    - name: flaky
      command: {flaky}
      retry_delay: 100ms
{extra}
processes:
  app:
    command: {app}
"#,
        flaky = sh(&format!(
            "n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; \
             echo attempt $n; [ $n -ge 3 ] || {{ echo 'database not reachable' >&2; exit 7; }}"
        )),
        app = sh("echo app running; exec sleep 1000"),
    );
    let path = dir.write("c.yaml", &cfg);
    (Manager::start(Mode::Pid1, &path), dir)
}

#[test]
fn retries_pass_fail_or_continue() {
    // retry: 2 → three attempts, the third passes.
    let (mut m, _d) = flaky_startup("      retry: 2");
    m.wait_for(secs(10.0), "app running", |r| {
        r.says("app-0", "app running")
    });
    let retries = m.find(|r| r.event() == Some("hook_retry"));
    assert_eq!(retries.len(), 2, "{}", m.dump());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);

    // retry: 1 → two failures: start-up fails with exit 1, naming the hook and its output.
    let (mut m, _d) = flaky_startup("      retry: 1");
    assert_eq!(m.wait_code(secs(10.0)), 1);
    let failed = m.wait_for(secs(1.0), "hook_failed", |r| {
        r.event() == Some("hook_failed")
    });
    assert!(failed.msg().contains("flaky"), "{failed}");
    assert!(failed.msg().contains("exit code 7"), "{failed}");
    assert_eq!(failed.i("exit_code"), Some(7));
    assert!(
        failed
            .s("output")
            .unwrap_or("")
            .contains("database not reachable"),
        "{failed}"
    );
    m.wait_for(secs(1.0), "startup_failed", |r| {
        r.event() == Some("startup_failed") && r.msg().contains("flaky")
    });
    assert!(m.find(|r| r.event() == Some("started")).is_empty());

    // continue_on_error → start-up goes on after the failure.
    let (mut m, _d) = flaky_startup("      continue_on_error: true");
    m.wait_for(secs(10.0), "app running", |r| {
        r.says("app-0", "app running")
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn a_hanging_hook_is_killed_with_its_whole_group() {
    let dir = TestDir::new("hooks-hang");
    let marker = format!("hook-{}", unique_digits());
    let _guard = MarkerGuard(marker.clone());
    let sleeper = format!("python3 -c 'import time; time.sleep(1000)' {marker}");
    let cfg = format!(
        r#"hooks:
  pre-start:
    - name: hang
      command: {hang}
      timeout: 1s
      continue_on_error: true
processes:
  app:
    command: {app}
"#,
        hang = sh(&format!("{sleeper} & echo forked; exec {sleeper}")),
        app = sh("echo app running; exec sleep 1000"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(5.0), "hook forked", |r| r.says("hook:hang", "forked"));
    poll_until(secs(5.0), "both hook processes", || {
        (pids_with_marker(&marker).len() == 2).then_some(())
    });
    let failed = m.wait_for(secs(5.0), "hook timed out", |r| {
        r.event() == Some("hook_failed")
    });
    assert!(failed.msg().contains("timed out"), "{failed}");
    // By the time the next step runs, nothing of the hook is left.
    m.wait_for(secs(5.0), "app running", |r| r.says("app-0", "app running"));
    poll_until(secs(2.0), "no hook process left", || {
        pids_with_marker(&marker).is_empty().then_some(())
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn sigterm_during_a_long_pre_start_hook() {
    let dir = TestDir::new("hooks-sigterm");
    let cfg = format!(
        r#"hooks:
  pre-start:
    - name: slow-migrate
      command: {slow}
      timeout: 60
  post-stop:
    - name: cleanup
      command: ["echo", "cleaned up"]
processes:
  app:
    command: ["sleep", "1000"]
"#,
        slow = sh("echo migrating; sleep 60; echo migrated"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(5.0), "hook running", |r| {
        r.says("hook:slow-migrate", "migrating")
    });
    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    let code = m.wait_code(secs(15.0));
    let took = t0.elapsed();
    assert_eq!(code, 0, "a requested stop exits 0\n{}", m.dump());
    assert!(took < secs(6.0), "took {took:?}");
    assert!(
        m.find(|r| r.event() == Some("started")).is_empty(),
        "{}",
        m.dump()
    );
    assert!(
        !m.output_of("hook:slow-migrate")
            .contains(&"migrated".to_owned())
    );
    m.wait_for(secs(1.0), "post-stop ran", |r| {
        r.says("hook:cleanup", "cleaned up")
    });
}

#[test]
fn bad_hooks_exit_2_with_file_and_line() {
    let dir = TestDir::new("hooks-bad");
    let cases = [
        (
            "hooks:\n  pre-start:\n    - name: a\n      command: []\n",
            4,
            "must not be empty",
        ),
        (
            "hooks:\n  pre-start:\n    - name: a\n      command: [x]\n      retry: -2\n",
            5,
            "0 or more",
        ),
        (
            "hooks:\n  post-stop:\n    - name: a\n      command: [x]\n      retries: 2\n",
            5,
            "unknown key",
        ),
    ];
    for (i, (head, line, want)) in cases.iter().enumerate() {
        let p = dir.write(
            &format!("bad{i}.yaml"),
            &format!("{head}processes:\n  a:\n    command: [sleep, '1']\n"),
        );
        let ps = p.to_string_lossy().into_owned();
        for args in [vec!["check-config", "-c", &ps], vec!["serve", "-c", &ps]] {
            let o = run_cmd(&args, &[], None, secs(10.0));
            assert_eq!(o.code, Some(2), "{args:?}: {}", o.stderr);
            assert!(
                o.stderr.contains(&format!("bad{i}.yaml:{line}:")),
                "{}",
                o.stderr
            );
            assert!(o.stderr.contains(want), "{}", o.stderr);
        }
    }
    let p = dir.write(
        "proc.yaml",
        "processes:\n  a:\n    command: [sleep, '1']\n    shutdown:\n      pre_stop_hook:\n        command: [x]\n        timout: 5\n",
    );
    let o = run_cmd(
        &["check-config", "-c", &p.to_string_lossy()],
        &[],
        None,
        secs(10.0),
    );
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("proc.yaml:7:"), "{}", o.stderr);
    let o = run_cmd(
        &["check-config", "-c", &p.to_string_lossy()],
        &[],
        None,
        secs(10.0),
    );
    assert!(
        o.stderr.contains("did you mean \"timeout\""),
        "{}",
        o.stderr
    );
}

#[test]
fn per_instance_hooks_run_with_the_instance_environment() {
    let dir = TestDir::new("hooks-instance");
    let log = dir.s("log");
    let note = |what: &str| {
        sh(&format!(
            "echo {what} $PHPEEK_PM_INSTANCE_ID $PHPEEK_PM_HOOK_NAME $MODE >> {log}"
        ))
    };
    let cfg = format!(
        r#"processes:
  worker:
    command: {worker}
    scale: 2
    env:
      MODE: queue
    pre_start_hook:
      name: prepare
      command: {pre}
    post_start_hook:
      command: {post}
    post_stop_hook:
      command: {stop}
"#,
        worker = sh(&format!(
            "echo run $PHPEEK_PM_INSTANCE_ID >> {log}; exec sleep 1000"
        )),
        pre = note("pre"),
        post = note("post"),
        stop = note("stopped"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_count(2, secs(10.0), "post-start hooks", |r| {
        r.event() == Some("hook_finished") && r.s("phase") == Some("post_start")
    });
    poll_until(secs(5.0), "both workers running", || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        (t.lines().filter(|l| l.starts_with("run ")).count() == 2).then_some(())
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    for id in ["worker-0", "worker-1"] {
        let mine: Vec<&str> = text.lines().filter(|l| l.contains(id)).collect();
        let kinds: Vec<&str> = mine.iter().map(|l| l.split(' ').next().unwrap()).collect();
        // The post-start hook starts right after the spawn, not after the process's first
        // line: which of the two writes first is the scheduler's choice (seen under load).
        let mut middle = kinds[1..kinds.len().min(3)].to_vec();
        middle.sort_unstable();
        assert_eq!(
            (kinds.first(), middle, kinds.get(3), kinds.len()),
            (Some(&"pre"), vec!["post", "run"], Some(&"stopped"), 4),
            "{id}: {text}"
        );
        assert!(
            mine[0].ends_with(&format!("{id} prepare queue")),
            "{}",
            mine[0]
        );
        let post = mine.iter().find(|l| l.starts_with("post ")).unwrap_or(&"");
        assert!(
            post.ends_with(&format!("{id} worker-post-start queue")),
            "{post}"
        );
    }
}

#[test]
fn a_failing_pre_start_hook_is_a_failed_start() {
    let dir = TestDir::new("hooks-instance-fail");
    let cfg = format!(
        r#"processes:
  app:
    command: ["sleep", "1000"]
    restart: never
    pre_start_hook:
      name: check-db
      command: {fail}
  other:
    command: ["sleep", "1000"]
"#,
        fail = sh("echo no database >&2; exit 3"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    let failed = m.wait_for(secs(10.0), "spawn failed", |r| {
        r.is("spawn_failed", "app-0")
    });
    assert!(
        failed.msg().contains("pre-start hook check-db failed"),
        "{failed}"
    );
    assert!(failed.msg().contains("exit code 3"), "{failed}");
    assert!(m.events("started", "app-0").is_empty());
    m.wait_for(secs(5.0), "other runs", |r| r.is("started", "other-0"));
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

/// Post-stop hooks run during the shutdown while the stopped processes' pipes are left for the
/// exit to close: each hook gets pipes of its own (no end-of-file meant for an earlier pipe
/// reaches it), so every hook's output arrives, written after a pause, and every hook succeeds.
#[test]
fn post_stop_hooks_keep_their_output_during_the_shutdown() {
    let dir = TestDir::new("hooks-shutdown");
    let cfg = format!(
        r#"processes:
  worker:
    command: {worker}
    scale: 30
    post_stop_hook:
      command: {stop}
"#,
        worker = sh("trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 1; done"),
        stop = sh("sleep 0.2; echo hook-done-$PHPEEK_PM_INSTANCE_ID"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_count(30, secs(20.0), "30 workers up", |r| {
        r.is_output() && r.msg() == "up"
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0, "{}", m.dump());
    m.assert_json_only();
    for i in 0..30 {
        let line = format!("hook-done-worker-{i}");
        assert_eq!(
            m.find(|r| r.is_output() && r.msg() == line).len(),
            1,
            "{line} missing\n{}",
            m.dump()
        );
    }
    let done = m.find(|r| r.event() == Some("hook_finished") && r.s("phase") == Some("post_stop"));
    assert_eq!(done.len(), 30, "post-stop hooks finished\n{}", m.dump());
}
