//! The signal policy (issue 18), with the real binary as PID 1 and a real stack: nginx,
//! php-fpm (Debian's, installed by `scripts/ensure-deps.sh php`) and Laravel-style workers
//! (`tests/fixtures/signals/artisan`: `queue:work`, `horizon`, `schedule:work` with Laravel's
//! own signal handling, so a SIGHUP or SIGUSR1 that reached one would kill it mid-job and a
//! SIGUSR2 would pause it for good).
//!
//! 1. SIGHUP while a 6 s job runs: the job completes; no worker exited or restarted; nginx's
//!    master pid unchanged and its workers new; php-fpm's master pid unchanged (it reloaded).
//! 2. SIGUSR2 and SIGUSR1: a job dispatched afterwards completes within seconds; the masters
//!    are unchanged.
//! 3. `forward_signals` and `reload_signal: restart` do what the process asks, in the minimal
//!    build too.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/signals");

/// Debian's php-fpm (`php-fpm8.2`, ...).
fn php_fpm() -> String {
    std::fs::read_dir("/usr/sbin")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("php-fpm"))
        })
        .map(|p| p.to_string_lossy().into_owned())
        .expect("php-fpm is not installed: run scripts/ensure-deps.sh php")
}

/// The stack: nginx, php-fpm, two queue workers, Horizon and the scheduler (all six Laravel
/// processes are the same worker loop, told apart by the manager from their command lines).
fn stack(dir: &TestDir) -> PathBuf {
    let artisan = format!("{FIXTURES}/artisan");
    let d = dir.s("");
    let cfg = format!(
        r#"processes:
  nginx:
    command: ["/usr/sbin/nginx", "-p", {prefix}, "-c", {nginx_conf}, "-e", "stderr", "-g", "daemon off;"]
    working_dir: {d}
  php-fpm:
    command: [{fpm}, "-F", "-R", "-y", {fpm_conf}]
    env: {{FPM_DIR: {d}}}
  queue:
    command: ["php", {artisan}, "queue:work", "--sleep=1"]
    scale: 2
    env: {{QUEUE_DIR: {d}}}
  horizon:
    command: ["php", {artisan}, "horizon"]
    env: {{QUEUE_DIR: {d}}}
  scheduler:
    command: ["php", {artisan}, "schedule:work"]
    env: {{QUEUE_DIR: {d}}}
"#,
        prefix = q(&format!("{d}/")),
        nginx_conf = q(&format!("{FIXTURES}/nginx.conf")),
        fpm = q(&php_fpm()),
        fpm_conf = q(&format!("{FIXTURES}/php-fpm.conf")),
        artisan = q(&artisan),
        d = q(&d),
    );
    dir.write("phpeek-pm.yaml", &cfg)
}

const WORKERS: [&str; 4] = ["queue-0", "queue-1", "horizon-0", "scheduler-0"];

/// Host pids of the manager's descendants whose title starts with `title`.
fn titled(m: &Manager, title: &str) -> BTreeSet<i32> {
    descendants(m.pid())
        .into_iter()
        .filter(|p| p.state != 'Z')
        .filter(|p| cmdline(p.pid).join(" ").starts_with(title))
        .map(|p| p.pid)
        .collect()
}

/// Starts the stack and waits until every part of it runs: the workers said "ready", nginx
/// has its master and two workers, php-fpm its master and two pool workers.
fn start_stack(dir: &TestDir) -> Manager {
    let mut m = Manager::start(Mode::Pid1, &stack(dir));
    for w in WORKERS {
        m.wait_for(secs(20.0), &format!("{w} ready"), |r| {
            r.is_output() && r.instance() == Some(w) && r.msg().contains("ready pid=")
        });
    }
    poll_until(secs(20.0), "nginx master and 2 workers", || {
        (titled(&m, "nginx: master").len() == 1 && titled(&m, "nginx: worker").len() == 2)
            .then_some(())
    });
    poll_until(secs(20.0), "php-fpm master and 2 workers", || {
        (titled(&m, "php-fpm: master").len() == 1 && titled(&m, "php-fpm: pool").len() == 2)
            .then_some(())
    });
    m
}

fn dispatch(dir: &TestDir, id: &str, seconds: f64) {
    let jobs = dir.file("jobs");
    std::fs::create_dir_all(&jobs).expect("jobs dir");
    // Written aside and renamed, so a worker never claims a half-written job.
    let tmp = dir.file(&format!("{id}.tmp"));
    std::fs::write(&tmp, format!("{seconds}")).expect("write job");
    std::fs::rename(&tmp, jobs.join(id)).expect("dispatch job");
}

fn wait_done(dir: &TestDir, id: &str, limit: Duration, m: &Manager) -> i32 {
    let done = dir.file("done").join(id);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(pid) = std::fs::read_to_string(&done)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} did not complete within {limit:?}\n{}",
            m.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every `started` and `exited` record of the Laravel workers so far.
fn worker_lifecycle(m: &mut Manager) -> Vec<String> {
    m.records()
        .iter()
        .filter(|r| matches!(r.event(), Some("started" | "exited" | "restart_scheduled")))
        .filter(|r| r.instance().is_some_and(|i| WORKERS.contains(&i)))
        .map(|r| format!("{} {}", r.event().unwrap_or(""), r.instance().unwrap_or("")))
        .collect()
}

#[test]
fn sighup_reloads_nginx_and_php_fpm_while_a_job_finishes() {
    let dir = TestDir::new("sig-hup");
    let mut m = start_stack(&dir);
    let nginx_master = titled(&m, "nginx: master");
    let nginx_workers = titled(&m, "nginx: worker");
    let fpm_master = titled(&m, "php-fpm: master");
    let before = worker_lifecycle(&mut m);
    assert_eq!(before.len(), 4, "{before:?}");

    dispatch(&dir, "long", 6.0);
    let start = m.wait_for(secs(10.0), "the 6 s job to start", |r| {
        r.is_output() && r.msg().starts_with("worker: job long start")
    });
    let runner = start.instance().unwrap_or("").to_owned();
    m.signal(libc::SIGHUP);

    // What the manager says it did.
    let rec = m.wait_for(secs(10.0), "the signal record", |r| {
        r.event() == Some("signal")
    });
    assert_eq!(
        rec.msg(),
        "SIGHUP: nginx (SIGHUP), php-fpm (SIGUSR2); left alone: horizon, queue, scheduler",
    );
    // nginx replaced its workers under the same master.
    poll_until(secs(15.0), "new nginx workers", || {
        let now = titled(&m, "nginx: worker");
        (now.len() == 2 && now.is_disjoint(&nginx_workers)).then_some(())
    });
    // php-fpm reloaded in place (it re-executes itself: same pid).
    m.wait_for(secs(15.0), "php-fpm's reload notice", |r| {
        r.is_output() && r.process() == Some("php-fpm") && r.msg().contains("Reloading in progress")
    });
    poll_until(secs(15.0), "php-fpm pool workers back", || {
        (titled(&m, "php-fpm: pool").len() == 2).then_some(())
    });

    // The job completes, in the worker that took it.
    let pid = wait_done(&dir, "long", secs(20.0), &m);
    let done = m.wait_for(secs(5.0), "job done line", |r| {
        r.is_output() && r.msg() == "worker: job long done"
    });
    assert_eq!(done.instance(), Some(runner.as_str()));
    assert!(pid > 0);

    assert_eq!(
        titled(&m, "nginx: master"),
        nginx_master,
        "nginx master changed"
    );
    assert_eq!(
        titled(&m, "php-fpm: master"),
        fpm_master,
        "php-fpm master changed"
    );
    assert_eq!(
        worker_lifecycle(&mut m),
        before,
        "a worker exited or restarted\n{}",
        m.dump()
    );
    assert!(
        m.find(|r| r.is_output() && r.msg().starts_with("worker: signal"))
            .is_empty(),
        "a worker was signalled"
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(30.0)), 0);
}

#[test]
fn sigusr2_and_sigusr1_leave_workers_working_and_masters_in_place() {
    let dir = TestDir::new("sig-usr");
    let mut m = start_stack(&dir);
    let nginx_master = titled(&m, "nginx: master");
    let fpm_master = titled(&m, "php-fpm: master");
    let before = worker_lifecycle(&mut m);

    m.signal(libc::SIGUSR2);
    m.wait_for(secs(10.0), "the SIGUSR2 record", |r| {
        r.event() == Some("signal") && r.s("signal") == Some("SIGUSR2")
    });
    m.signal(libc::SIGUSR1);
    let rec = m.wait_for(secs(10.0), "the SIGUSR1 record", |r| {
        r.event() == Some("signal") && r.s("signal") == Some("SIGUSR1")
    });
    assert_eq!(
        rec.msg(),
        "SIGUSR1: nginx (SIGUSR1), php-fpm (SIGUSR1); left alone: horizon, queue, scheduler"
    );
    m.wait_for(secs(10.0), "nginx reopening its logs", |r| {
        r.is_output() && r.process() == Some("nginx") && r.msg().contains("reopening logs")
    });

    // Four short jobs, one per worker if they are all free: none is paused.
    for n in 0..4 {
        dispatch(&dir, &format!("after-{n}"), 0.5);
    }
    let mut by: BTreeSet<i32> = BTreeSet::new();
    for n in 0..4 {
        by.insert(wait_done(&dir, &format!("after-{n}"), secs(10.0), &m));
    }
    assert!(
        m.find(|r| r.msg().contains("paused")).is_empty(),
        "a worker paused"
    );
    assert!(!by.is_empty());
    assert_eq!(titled(&m, "nginx: master"), nginx_master);
    assert_eq!(titled(&m, "php-fpm: master"), fpm_master);
    assert_eq!(worker_lifecycle(&mut m), before, "{}", m.dump());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(30.0)), 0);
}

/// A shell that prints every signal it catches.
fn trapper(tag: &str) -> String {
    sh(&format!(
        "for s in HUP USR1 USR2 WINCH; do trap \"echo {tag}-got-$s\" $s; done; \
         echo {tag}-ready; while :; do sleep 0.05; done"
    ))
}

fn forward_and_restart(mode: Mode) {
    let dir = TestDir::new("sig-forward");
    let cfg = dir.write(
        "phpeek-pm.yaml",
        &format!(
            r#"processes:
  asks:
    command: {asks}
    forward_signals: [SIGUSR2, WINCH]
  quiet:
    command: {quiet}
  restarts:
    command: {restarts}
    reload_signal: restart
    shutdown: {{timeout: 5}}
"#,
            asks = trapper("asks"),
            quiet = trapper("quiet"),
            restarts = sh(
                "trap 'echo restarts-term; exit 0' TERM; echo restarts-ready; \
                           while :; do sleep 0.05; done"
            ),
        ),
    );
    let mut m = Manager::start(mode, &cfg);
    for t in ["asks-0", "quiet-0", "restarts-0"] {
        let tag = t.trim_end_matches("-0");
        m.wait_for(secs(10.0), &format!("{t} ready"), |r| {
            r.says(t, &format!("{tag}-ready"))
        });
    }
    let first = m
        .wait_for(secs(5.0), "restarts started", |r| {
            r.is("started", "restarts-0")
        })
        .i("pid");
    for sig in [libc::SIGUSR2, libc::SIGWINCH] {
        m.signal(sig);
    }
    m.wait_for(secs(10.0), "asks got USR2", |r| {
        r.says("asks-0", "asks-got-USR2")
    });
    m.wait_for(secs(10.0), "asks got WINCH", |r| {
        r.says("asks-0", "asks-got-WINCH")
    });
    // SIGHUP: `restarts` runs its TERM handler and comes back with a new pid; the others
    // hear nothing of it.
    m.signal(libc::SIGHUP);
    m.wait_for(secs(10.0), "the TERM handler", |r| {
        r.says("restarts-0", "restarts-term")
    });
    let again = m.wait_count(2, secs(10.0), "restarts started twice", |r| {
        r.is("started", "restarts-0")
    });
    assert_ne!(again[1].i("pid"), first);
    m.wait_count(2, secs(10.0), "restarts ready twice", |r| {
        r.says("restarts-0", "restarts-ready")
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(30.0)), 0);
    let stray = m
        .find(|r| r.is_output() && (r.msg().starts_with("quiet-got") || r.msg() == "asks-got-HUP"));
    assert!(
        stray.is_empty(),
        "signals reached who did not ask: {stray:?}"
    );
}

#[test]
fn forward_signals_and_reload_restart_as_pid1() {
    forward_and_restart(Mode::Pid1);
}

#[test]
fn forward_signals_and_reload_restart_as_subreaper() {
    forward_and_restart(Mode::Subreaper);
}

#[test]
fn bad_signal_keys_are_config_errors() {
    let dir = TestDir::new("sig-bad");
    for (key, val, want) in [
        ("forward_signals", "[SIGTERM]", "cannot be forwarded"),
        ("forward_signals", "[SIGNOPE]", "unknown signal"),
        ("reload_signal", "reboot", "unknown reload_signal"),
        ("reload_signal", "SIGKILL", "cannot be a reload signal"),
    ] {
        let cfg = dir.write(
            "bad.yaml",
            &format!("processes:\n  a:\n    command: [sleep, \"1\"]\n    {key}: {val}\n"),
        );
        let c = cfg.to_string_lossy().into_owned();
        let out = run_cmd(&["check-config", "-c", &c], &[], None, secs(10.0));
        assert_eq!(out.code, Some(2), "{key}: {val}: {}", out.stderr);
        assert!(
            out.stderr.contains(want) && out.stderr.contains(":4"),
            "{key}: {val}: {}",
            out.stderr
        );
    }
}

/// `phpeek-pm reload [NAME]` over the API (a Unix socket): a process with a reload signal
/// gets it, one with none is refused (exit 1, nothing sent), no NAME reloads the stack.
#[cfg(feature = "api")]
#[test]
fn reload_subcommand_does_what_sighup_does() {
    let dir = TestDir::new("sig-reload-cli");
    let sock = dir.s("api.sock");
    let cfg = dir.write(
        "phpeek-pm.yaml",
        &format!(
            r#"global:
  api_enabled: true
  api_port: 0
  api_socket: {sock}
processes:
  web:
    command: {web}
    reload_signal: SIGUSR1
  queue:
    command: {queue}
"#,
            sock = q(&sock),
            web = trapper("web"),
            queue = trapper("queue"),
        ),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    m.wait_for(secs(10.0), "web ready", |r| r.says("web-0", "web-ready"));
    m.wait_for(secs(10.0), "queue ready", |r| {
        r.says("queue-0", "queue-ready")
    });
    poll_until(secs(10.0), "the API socket", || {
        std::path::Path::new(&sock).exists().then_some(())
    });
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--api", &sock]);
        run_cmd(&all, &[], None, secs(10.0))
    };
    let out = cli(&["reload", "web"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "web: sent SIGUSR1\n");
    m.wait_for(secs(10.0), "web got USR1", |r| {
        r.says("web-0", "web-got-USR1")
    });
    let out = cli(&["reload", "queue"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("queue has no reload"), "{}", out.stderr);
    let out = cli(&["reload", "nope"]);
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    let out = cli(&["reload"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "reloaded 1 process(es)\n");
    m.wait_count(2, secs(10.0), "web got USR1 twice", |r| {
        r.says("web-0", "web-got-USR1")
    });
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(30.0)), 0);
    assert!(
        m.find(|r| r.is_output() && r.msg().starts_with("queue-got"))
            .is_empty(),
        "the queue worker was signalled"
    );
}
