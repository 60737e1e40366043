//! PHP-FPM auto-tuning with the real binary (issue 12): the manager in a nested cgroup the
//! test makes on the host (cgroup v1 here; v2 where the host has it) reads the limits of its
//! own cgroup and its parent, and a real Debian `php-fpm -tt`, started by the manager, parses
//! a pool file that uses the exported `${PHP_FPM_*}` variables and reports the computed
//! `pm.max_children`. Also: a user-set `PHP_FPM_MAX_CHILDREN` wins and the log says so;
//! `--dry-run` prints the calculation; too little memory exits 1 with nothing started.
#![cfg(feature = "autotune")]

mod support;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(30);

/// Debian's php-fpm (`php-fpm8.2`, ...), installed by `scripts/ensure-deps.sh php`.
fn php_fpm() -> String {
    let found = std::fs::read_dir("/usr/sbin")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("php-fpm"))
        });
    match found {
        Some(p) => p.to_string_lossy().into_owned(),
        None => panic!("php-fpm is not installed: run scripts/ensure-deps.sh php"),
    }
}

/// A php-fpm main file with one pool that takes every `pm` setting from the environment,
/// exactly as the README's `www.conf` does.
fn pool_conf(dir: &TestDir) -> PathBuf {
    dir.write(
        "fpm.conf",
        &format!(
            "[global]\nerror_log = /proc/self/fd/2\ndaemonize = no\npid = {}\n\n\
             [www]\nlisten = 127.0.0.1:0\n\
             pm = ${{PHP_FPM_PM}}\n\
             pm.max_children = ${{PHP_FPM_MAX_CHILDREN}}\n\
             pm.start_servers = ${{PHP_FPM_START_SERVERS}}\n\
             pm.min_spare_servers = ${{PHP_FPM_MIN_SPARE}}\n\
             pm.max_spare_servers = ${{PHP_FPM_MAX_SPARE}}\n\
             pm.max_requests = ${{PHP_FPM_MAX_REQUESTS}}\n",
            dir.s("fpm.pid")
        ),
    )
}

/// A config whose one process is `php-fpm -tt` on that pool (a oneshot: the manager exits
/// when it is done), and a marker that shows whether anything was started.
fn fpm_config(dir: &TestDir) -> PathBuf {
    let conf = pool_conf(dir);
    dir.write(
        "phpeek-pm.yaml",
        &format!(
            "processes:\n  php-fpm:\n    type: oneshot\n    command: [{}, -tt, -R, -y, {}]\n  \
             marker:\n    type: oneshot\n    command: [touch, {}]\n",
            q(&php_fpm()),
            q(&conf.to_string_lossy()),
            q(&dir.s("started"))
        ),
    )
}

fn records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn event<'a>(recs: &'a [Value], name: &str) -> Option<&'a Value> {
    recs.iter().find(|r| r["event"] == name)
}

/// `pm.max_children = N` as php-fpm -tt printed it (through the manager's log).
fn fpm_max_children(recs: &[Value]) -> Option<u64> {
    recs.iter()
        .filter(|r| r["process"] == "php-fpm")
        .filter_map(|r| r["msg"].as_str())
        .find_map(|m| m.split("pm.max_children = ").nth(1))
        .and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// A nested cgroup on the host.

/// Two levels, `phpeek-at-<id>/inner`, in the memory and cpu hierarchies (v1) or the unified
/// tree (v2): the memory limit on the outer level, the CPU quota on the inner one, the manager
/// in the inner one. Removed on drop, after killing anything left inside.
struct NestedCgroup {
    /// Directories to remove, innermost first.
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` files the wrapper writes its pid to.
    procs: Vec<PathBuf>,
    /// The outer memory limit file, as the manager should name it.
    memory_file: String,
}

impl NestedCgroup {
    fn new(memory: u64, cpu_quota_us: u64) -> NestedCgroup {
        let name = format!("phpeek-at-{}", unique_digits());
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        if v2 {
            let root = Path::new("/sys/fs/cgroup");
            let outer = root.join(&name);
            let inner = outer.join("inner");
            // Controllers must be enabled down to the leaf; the root may hold processes.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory +cpu");
            std::fs::create_dir(&outer).expect("create a cgroup (needs root)");
            std::fs::write(outer.join("cgroup.subtree_control"), "+memory +cpu").unwrap();
            std::fs::create_dir(&inner).unwrap();
            std::fs::write(outer.join("memory.max"), memory.to_string()).unwrap();
            std::fs::write(inner.join("cpu.max"), format!("{cpu_quota_us} 100000")).unwrap();
            NestedCgroup {
                memory_file: outer.join("memory.max").to_string_lossy().into_owned(),
                procs: vec![inner.join("cgroup.procs")],
                dirs: vec![inner, outer],
            }
        } else {
            let mem = Path::new("/sys/fs/cgroup/memory").join(&name);
            let cpu = Path::new("/sys/fs/cgroup/cpu").join(&name);
            for d in [&mem, &cpu] {
                std::fs::create_dir_all(d.join("inner")).expect("create a cgroup (needs root)");
            }
            std::fs::write(mem.join("memory.limit_in_bytes"), memory.to_string()).unwrap();
            std::fs::write(cpu.join("inner/cpu.cfs_period_us"), "100000").unwrap();
            std::fs::write(cpu.join("inner/cpu.cfs_quota_us"), cpu_quota_us.to_string()).unwrap();
            NestedCgroup {
                memory_file: mem
                    .join("memory.limit_in_bytes")
                    .to_string_lossy()
                    .into_owned(),
                procs: vec![
                    mem.join("inner/cgroup.procs"),
                    cpu.join("inner/cgroup.procs"),
                ],
                dirs: vec![mem.join("inner"), mem, cpu.join("inner"), cpu],
            }
        }
    }

    /// Runs phpeek-pm as PID 1 of a new PID namespace, inside the inner cgroup: a shell moves
    /// itself in, then execs `unshare ... phpeek-pm ARGS`.
    fn run(&self, args: &[&str], env: &[(&str, &str)], cwd: &Path) -> support::Output {
        let mut script = String::new();
        for (i, _) in self.procs.iter().enumerate() {
            script.push_str(&format!("echo $$ > \"${}\" && ", i + 1));
        }
        script.push_str(&format!("shift {} && exec \"$@\"", self.procs.len()));
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg("sh");
        cmd.args(&self.procs);
        cmd.args(["unshare", "--pid", "--fork", "--mount-proc", bin()]);
        cmd.args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("PHPEEK_PM_") || k.starts_with("PHP_FPM_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn sh");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if Instant::now() >= deadline {
                signal_raw(-(child.id() as i32), libc::SIGKILL);
                let _ = child.wait();
                panic!("phpeek-pm {args:?} did not finish within {LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        support::Output {
            code: status.code(),
            stdout: t_out.join().unwrap(),
            stderr: t_err.join().unwrap(),
        }
    }
}

impl Drop for NestedCgroup {
    fn drop(&mut self) {
        for p in &self.procs {
            if let Ok(pids) = std::fs::read_to_string(p) {
                for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    signal_raw(pid, libc::SIGKILL);
                }
            }
        }
        for d in &self.dirs {
            // A cgroup can be removed once its last process is reaped: retry briefly.
            let until = Instant::now() + Duration::from_secs(5);
            while std::fs::remove_dir(d).is_err() && d.exists() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn nested_cgroup_limits_reach_a_real_php_fpm() {
    let dir = TestDir::new("at-nested");
    let cfg = fpm_config(&dir);
    let cfg_s = cfg.to_string_lossy().into_owned();
    // 512 MiB on the parent cgroup (the manager's own is unlimited), 1.5 CPUs on its own.
    let cg = NestedCgroup::new(512 * MIB, 150_000);

    // 1. light: 512 × 0.7 = 358 MiB − 224 = 134 MiB → 3 workers of 36 MiB (CPU cap 6).
    let out = cg.run(
        &["-c", &cfg_s],
        &[("PHP_FPM_AUTOTUNE_PROFILE", "light")],
        &dir.path,
    );
    let recs = records(&out.stdout);
    let dump = || format!("stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, Some(0), "{}", dump());
    let start = event(&recs, "starting").unwrap_or_else(|| panic!("{}", dump()));
    assert_eq!(start["pid"], 1, "the manager runs as PID 1");
    let at = event(&recs, "autotune").unwrap_or_else(|| panic!("no autotune event: {}", dump()));
    assert_eq!(at["memory_bytes"], 512 * MIB, "{at}");
    assert_eq!(at["memory_source"], cg.memory_file.as_str(), "{at}");
    assert_eq!(at["cpus"], "1.5", "{at}");
    assert_eq!(at["max_children"], "3", "{at}");
    assert_eq!(at["pm"], "dynamic", "{at}");
    assert_eq!(fpm_max_children(&recs), Some(3), "php-fpm -tt: {}", dump());
    // The autotune event comes before any process starts.
    let pos = |e: &str| recs.iter().position(|r| r["event"] == e);
    assert!(pos("autotune") < pos("started"), "{}", dump());
    std::fs::remove_file(dir.file("started")).expect("the marker process ran");

    // 2. The CPU quota binds: light with the whole memory (threshold 1.0) allows 8 by
    //    memory, 1.5 CPUs allow 6. --dry-run prints the calculation and starts nothing.
    let out = cg.run(
        &[
            "-c",
            &cfg_s,
            "--php-fpm-profile=light",
            "--autotune-memory-threshold",
            "1.0",
            "--dry-run",
        ],
        &[],
        &dir.path,
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for want in [
        "PHP-FPM auto-tuning: profile light (from --php-fpm-profile)",
        &format!("memory limit: 512 MiB — {}", cg.memory_file),
        "CPU limit:    1.5 CPUs",
        "× 1.0 (--autotune-memory-threshold) = 512 MiB",
        "→ 8 workers; CPU cap 6",
        "result: pm=dynamic max_children=6 start_servers=2 min_spare=2 max_spare=3",
    ] {
        assert!(
            out.stdout.contains(want),
            "missing {want:?} in:\n{}",
            out.stdout
        );
    }
    assert!(!dir.file("started").exists(), "--dry-run started something");

    // 3. heavy needs 1056 MiB: a clear error, exit code 1, nothing started.
    let out = cg.run(
        &["-c", &cfg_s, "--php-fpm-profile", "heavy"],
        &[],
        &dir.path,
    );
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("insufficient memory: 512 MiB")
            && out.stderr.contains("at least 1056 MiB"),
        "{}",
        out.stderr
    );
    assert!(!dir.file("started").exists(), "a process started anyway");
    assert!(
        records(&out.stdout).iter().all(|r| r["event"] != "started"),
        "{}",
        out.stdout
    );
}

#[test]
fn user_set_max_children_wins_over_the_computed_one() {
    let dir = TestDir::new("at-user");
    let cfg = fpm_config(&dir);
    let out = run_cmd(
        &["-c", &cfg.to_string_lossy()],
        &[
            ("PHP_FPM_AUTOTUNE_PROFILE", "light"),
            ("PHP_FPM_MAX_CHILDREN", "3"),
        ],
        Some(dir.path.as_path()),
        LIMIT,
    );
    let recs = records(&out.stdout);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(fpm_max_children(&recs), Some(3), "{}", out.stdout);
    let said = recs
        .iter()
        .find(|r| r["event"] == "autotune_user_value" && r["variable"] == "PHP_FPM_MAX_CHILDREN")
        .unwrap_or_else(|| panic!("no override event:\n{}", out.stdout));
    let msg = said["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains(
            "PHP_FPM_MAX_CHILDREN=3 was set in the environment: it wins over the computed"
        ),
        "{msg}"
    );
    assert_ne!(said["computed"], "3", "the computed value differs: {said}");
    let at = event(&recs, "autotune").unwrap();
    assert_eq!(at["max_children"], "3", "{at}");
    // The spares were derived from 3 (light: 0.25 / 0.25 / 0.5 → 1 / 1 / 2).
    assert_eq!(
        (&at["start_servers"], &at["min_spare"], &at["max_spare"]),
        (&Value::from("1"), &Value::from("1"), &Value::from("2")),
        "{at}"
    );
}

#[test]
fn bad_profile_or_threshold_is_a_usage_error() {
    let dir = TestDir::new("at-usage");
    let cfg = fpm_config(&dir);
    let c = cfg.to_string_lossy().into_owned();
    let out = run_cmd(&["-c", &c, "--php-fpm-profile", "huge"], &[], None, LIMIT);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown PHP-FPM profile \"huge\""),
        "{}",
        out.stderr
    );
    let out = run_cmd(
        &["-c", &c, "--dry-run"],
        &[
            ("PHP_FPM_AUTOTUNE_PROFILE", "dev"),
            ("PHP_FPM_AUTOTUNE_MEMORY_THRESHOLD", "1.5"),
        ],
        None,
        LIMIT,
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("PHP_FPM_AUTOTUNE_MEMORY_THRESHOLD"),
        "{}",
        out.stderr
    );
    let bad = dir.write(
        "bad.yaml",
        "global:\n  autotune_memory_threshold: 3\nprocesses:\n  a: {command: [true]}\n",
    );
    let out = run_cmd(
        &["check-config", "-c", &bad.to_string_lossy()],
        &[],
        None,
        LIMIT,
    );
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("bad.yaml:2:"), "{}", out.stderr);
    assert!(!dir.file("started").exists());
}
