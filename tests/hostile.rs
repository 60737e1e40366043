//! Hostile environments for the core (issue #13): every spawn error names what failed, with the
//! OS error; a manager that cannot switch users says so; file-descriptor exhaustion
//! (`ulimit -n`) and a `pids` cgroup limit hit while spawning are logged and backed off, never
//! a crash, and the manager recovers once the limit is lifted. The bare root filesystem (no
//! /dev, /proc, /etc/passwd) is `tests/container/bare.sh`, which needs the static binary.

mod support;

use std::time::Duration;

use support::*;

/// `spawn_failed` message of `inst` (the first one).
fn spawn_error(m: &mut Manager, inst: &str) -> String {
    m.wait_for(secs(10.0), &format!("spawn_failed of {inst}"), |r| {
        r.is("spawn_failed", inst)
    })
    .msg()
    .to_owned()
}

#[test]
fn spawn_errors_name_what_failed() {
    let dir = TestDir::new("spawnerr");
    let script = dir.write("run.sh", "#!/no/such/interpreter\necho never\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let plain = dir.write("plain.txt", "not a program\n");
    let cfg = format!(
        r#"processes:
  keeper:
    command: ["sleep", "1000"]
  notinpath:
    restart: never
    env:
      PATH: /nonexistent-a:/nonexistent-b
    command: ["sleep", "1"]
  missing:
    restart: never
    command: ["/nonexistent/phpeek-prog"]
  nointerp:
    restart: never
    command: [{script}]
  notexec:
    restart: never
    command: [{plain}]
  nodir:
    restart: never
    working_dir: /nonexistent-dir
    command: ["true"]
"#,
        script = q(&script.to_string_lossy()),
        plain = q(&plain.to_string_lossy()),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    m.wait_for(secs(10.0), "keeper started", |r| {
        r.is("started", "keeper-0")
    });
    let mut c = Soft::default();
    let enoent = "No such file or directory (os error 2)";
    c.eq(
        spawn_error(&mut m, "notinpath-0"),
        format!(
            "failed to start notinpath: sleep: not found in PATH \
             /nonexistent-a:/nonexistent-b: {enoent}"
        ),
        "program not in PATH",
    );
    c.eq(
        spawn_error(&mut m, "missing-0"),
        format!("failed to start missing: /nonexistent/phpeek-prog: {enoent}"),
        "missing program",
    );
    c.eq(
        spawn_error(&mut m, "nointerp-0"),
        format!(
            "failed to start nointerp: {}: {enoent} (the file exists, so its interpreter \
             /no/such/interpreter is missing)",
            script.display()
        ),
        "missing interpreter",
    );
    c.eq(
        spawn_error(&mut m, "notexec-0"),
        format!(
            "failed to start notexec: {}: Permission denied (os error 13)",
            plain.display()
        ),
        "not executable",
    );
    c.eq(
        spawn_error(&mut m, "nodir-0"),
        format!("failed to start nodir: working_dir /nonexistent-dir: {enoent}"),
        "missing working_dir",
    );
    c.check(m.events("started", "keeper-0").len() == 1, || {
        "keeper started once".into()
    });
    c.finish(&m.dump());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

/// A manager running as an ordinary user cannot start a process as root: the error names the
/// user and the step, and the manager goes on. A process asking for the manager's own ids
/// starts (nothing to switch).
#[test]
fn a_failed_user_switch_is_named() {
    let dir = TestDir::new("userswitch");
    // `same` asks for the ids the manager already has: nothing to switch, it starts.
    let cfg = "processes:\n  keeper:\n    command: [\"sleep\", \"1000\"]\n  asroot:\n    restart: never\n    user: root\n    command: [\"true\"]\n  same:\n    restart: never\n    user: \"1000\"\n    group: \"1000\"\n    command: [\"sh\", \"-c\", \"echo same: $(id -u):$(id -g)\"]\n";
    let path = dir.write("c.yaml", cfg);
    let mut m = Launch::new(Mode::Subreaper)
        .wrap(&[
            "setpriv",
            "--reuid=1000",
            "--regid=1000",
            "--clear-groups",
            "--",
        ])
        .config(&path)
        .spawn();
    m.wait_for(secs(10.0), "keeper started", |r| {
        r.is("started", "keeper-0")
    });
    assert_eq!(
        spawn_error(&mut m, "asroot-0"),
        "failed to start asroot: cannot switch to user root (uid 0, gid 0): setting \
         supplementary groups [0]: Operation not permitted (os error 1) (only root can switch \
         users; the manager runs unprivileged)"
    );
    m.wait_for(secs(10.0), "same started", |r| {
        r.says("same-0", "same: 1000:1000")
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

const SERVICES: usize = 6;

/// `SERVICES` long-running sleeps that restart quickly after a failed spawn.
fn many_sleepers(dir: &TestDir, mark: &str) -> std::path::PathBuf {
    let mut cfg = String::from(
        "global:\n  restart_backoff_initial: 100ms\n  restart_backoff_max: 400ms\nprocesses:\n",
    );
    for i in 0..SERVICES {
        cfg.push_str(&format!("  s{i}:\n    command: [\"sleep\", \"{mark}\"]\n"));
    }
    dir.write("c.yaml", &cfg)
}

/// Waits until every service has a `started` record; returns how many spawn failures it took.
fn all_started(m: &mut Manager, limit: Duration) -> usize {
    m.wait_count(SERVICES, limit, "every service started", |r| {
        r.event() == Some("started")
    });
    m.find(|r| r.event() == Some("spawn_failed")).len()
}

/// Checks the manager lives on through failed spawns: the failures are backed off (announced
/// restarts with growing delays), not retried in a hot loop, and nothing crashed.
fn assert_backed_off(m: &mut Manager, hint: &str) {
    let fails = m.wait_count(3, secs(10.0), "three spawn failures", |r| {
        r.event() == Some("spawn_failed")
    });
    for f in &fails {
        assert!(
            f.msg().contains(hint),
            "spawn_failed should say {hint:?}: {f}\n{}",
            m.dump()
        );
        assert_eq!(f.s("level"), Some("error"), "{f}");
    }
    let delays: Vec<i64> = m
        .find(|r| r.event() == Some("restart_scheduled"))
        .iter()
        .filter_map(|r| r.i("delay_ms"))
        .collect();
    assert!(
        delays.iter().all(|&d| d >= 90),
        "failed spawns are retried after a backoff, not at once: {delays:?}"
    );
    assert!(m.exited().is_none(), "the manager died\n{}", m.dump());
}

#[test]
fn fd_exhaustion_is_backed_off_and_recovers() {
    let dir = TestDir::new("nofile");
    let mark = format!("1000.{}", unique_digits());
    let _g = MarkerGuard(mark.clone());
    let path = many_sleepers(&dir, &mark);
    // 0-2, signalfd, epoll, stdin source, 3 per child and 6 while spawning one: room for two
    // children, not six. (Only the soft limit is low: raising a hard limit later would need
    // CAP_SYS_RESOURCE, which this machine's root lacks.)
    let mut m = Launch::new(Mode::Pid1)
        .wrap(&["prlimit", "--nofile=16:1024", "--"])
        .config(&path)
        .spawn();
    assert_backed_off(
        &mut m,
        "Too many open files (os error 24) (the manager's file descriptor limit is reached",
    );
    let running = m.find(|r| r.event() == Some("started")).len();
    assert!(
        (1..SERVICES).contains(&running),
        "some but not all services run under the limit: {running}\n{}",
        m.dump()
    );
    // Lift the limit: the next retries succeed.
    let pid = m.pid().to_string();
    let st = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=1024:1024"])
        .status()
        .unwrap();
    assert!(st.success());
    let fails = all_started(&mut m, secs(15.0));
    println!("fd limit 16: {running} of {SERVICES} ran, {fails} failed spawns, all up once lifted");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
}

#[test]
fn pids_limit_is_backed_off_and_recovers() {
    let dir = TestDir::new("pids");
    let mark = format!("1000.{}", unique_digits());
    let _g = MarkerGuard(mark.clone());
    let path = many_sleepers(&dir, &mark);
    let cg = PidsCgroup::new();
    // The manager and two children.
    cg.set_max("3");
    let mut m = Launch::new(Mode::Pid1)
        .wrap(&cg.join_wrapper())
        .config(&path)
        .spawn();
    assert_backed_off(
        &mut m,
        "cannot create a process: Resource temporarily unavailable (os error 11) (process limit reached",
    );
    let running = m.find(|r| r.event() == Some("started")).len();
    assert_eq!(
        running,
        2,
        "two children fit under pids.max=3\n{}",
        m.dump()
    );
    cg.set_max("max");
    let fails = all_started(&mut m, secs(15.0));
    println!("pids.max 3: {running} of {SERVICES} ran, {fails} failed spawns, all up once lifted");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
}
