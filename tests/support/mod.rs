//! Harness for the integration tests: runs the real `phpeek-pm` binary, either as PID 1 of a
//! fresh PID namespace (`unshare --pid --fork --mount-proc`) or directly as a child subreaper,
//! reads its JSON log records from a pipe in a background thread, and lets a test wait for
//! records with deadlines.
//!
//! Cleanup never depends on the test passing: the manager starts in its own process group, a
//! watchdog thread kills everything after a hard limit, and `Drop` kills whatever is left
//! (the namespace dies with its PID 1; in subreaper mode the manager is stopped and its whole
//! process tree is killed first).
//!
//! Rule of the suite: no bare sleeps to wait for something. Every wait is a poll of an
//! observable condition bounded by a deadline, and a timeout fails the test with the records
//! seen so far.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use serde_json::Value;

/// The binary under test (default features: the minimal build).
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_phpeek-pm")
}

/// Hard limit after which the watchdog kills a manager that a test forgot or hung on.
pub const WATCHDOG: Duration = Duration::from_secs(90);

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// ---------------------------------------------------------------------------------------------
// Unique names and temporary directories (std only).

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A string unique to this test process and call: safe for parallel tests.
pub fn unique() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{n}-{nanos}", std::process::id())
}

/// A number unique to this call, usable where only digits are allowed (a `sleep` argument).
pub fn unique_digits() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}{:03}{:09}", std::process::id(), n % 1000, nanos)
}

/// A temporary directory removed on drop (kept when `PHPEEK_TEST_KEEP` is set).
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        let path = std::env::temp_dir().join(format!("phpeek-pm-it-{tag}-{}", unique()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TestDir { path }
    }

    /// Writes `content` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, content).expect("write test file");
        p
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The path as a string, for embedding into configs.
    pub fn s(&self, name: &str) -> String {
        self.file(name).to_string_lossy().into_owned()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("PHPEEK_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// YAML/JSON string literal for `s` (JSON strings are valid YAML flow scalars).
pub fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A `command:` value running `script` with `/bin/sh -c`, as a YAML flow sequence.
pub fn sh(script: &str) -> String {
    format!("[\"/bin/sh\", \"-c\", {}]", q(script))
}

/// A `command:` value running `script` with `python3 -c`.
pub fn py(script: &str) -> String {
    format!("[\"python3\", \"-c\", {}]", q(script))
}

// ---------------------------------------------------------------------------------------------
// Running the binary for a one-off command (check-config, version, --dry-run, bad configs).

pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary with `args` and a clean environment (no inherited `PHPEEK_PM_*`), plus
/// `env`, in `cwd`; waits at most `limit`.
pub fn run_cmd(args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>, limit: Duration) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    scrub_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("spawn phpeek-pm");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            signal_raw(-(child.id() as i32), libc::SIGKILL);
            let _ = child.wait();
            panic!("phpeek-pm {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
    }
}

fn scrub_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PHPEEK_PM_") {
            cmd.env_remove(k);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes seen through /proc.

#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    pub pgrp: i32,
    pub session: i32,
    /// Its controlling terminal's device number; 0: none.
    pub tty_nr: i32,
}

/// A new pseudo-terminal: (master, slave).
pub fn openpty() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the integers given; the other arguments
    // may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and belong to nobody else.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    }
}

/// Every process on the host, from `/proc/*/stat`.
pub fn proc_table() -> Vec<ProcInfo> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(info) = proc_info(pid) {
            out.push(info);
        }
    }
    out
}

pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may contain spaces and parentheses; cut at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_ascii_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    let session = f.next()?.parse().ok()?;
    let tty_nr = f.next()?.parse().ok()?;
    Some(ProcInfo {
        pid,
        ppid,
        state,
        pgrp,
        session,
        tty_nr,
    })
}

/// Every descendant of `root` (not `root` itself), zombies included.
pub fn descendants(root: i32) -> Vec<ProcInfo> {
    let table = proc_table();
    let mut kids: HashMap<i32, Vec<&ProcInfo>> = HashMap::new();
    for p in &table {
        kids.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if let Some(ks) = kids.get(&p) {
            for k in ks {
                if k.pid != root {
                    out.push((*k).clone());
                    stack.push(k.pid);
                }
            }
        }
    }
    out
}

/// Direct children of `pid`, from `/proc/<pid>/task/*/children`.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    s.split_ascii_whitespace()
                        .filter_map(|x| x.parse::<i32>().ok()),
                );
            }
        }
    }
    out
}

/// The argv of a process (empty for zombies and kernel threads).
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Live (non-zombie) processes anywhere on the host with `marker` as one of their arguments
/// (exactly: a shell whose script merely mentions it does not count).
pub fn pids_with_marker(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    proc_table()
        .into_iter()
        .filter(|p| p.pid != me && p.state != 'Z')
        .filter(|p| cmdline(p.pid).iter().skip(1).any(|a| a == marker))
        .map(|p| p.pid)
        .collect()
}

/// Kills every process with `marker` as an argument when dropped: the safety net for tests
/// that start processes meant to escape their group.
pub struct MarkerGuard(pub String);

impl Drop for MarkerGuard {
    fn drop(&mut self) {
        for _ in 0..20 {
            let pids = pids_with_marker(&self.0);
            if pids.is_empty() {
                return;
            }
            for p in pids {
                signal_raw(p, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A line of `/proc/<pid>/status`, e.g. `status_field(pid, "VmHWM")` → `"2048 kB"`.
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// `VmRSS`/`VmHWM` and the like in KiB.
pub fn status_kib(pid: i32, key: &str) -> Option<u64> {
    status_field(pid, key)?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The environment of a process, from `/proc/<pid>/environ`.
pub fn environ(pid: i32) -> Vec<(String, String)> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let s = String::from_utf8_lossy(s);
                    match s.split_once('=') {
                        Some((k, v)) => (k.to_owned(), v.to_owned()),
                        None => (s.into_owned(), String::new()),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn signal_raw(pid: i32, sig: i32) -> bool {
    assert!(pid != 0 && pid != -1, "refusing to signal {pid}");
    // SAFETY: kill(2) takes plain integers; 0 and -1 (our group, everyone) were refused above.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// The descriptors a process has open, sorted, from `/proc/<pid>/fd`.
pub fn open_fds(pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Where descriptor `fd` of `pid` points (`/dev/null`, `pipe:[123]`, ...).
pub fn fd_target(pid: i32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Polls `cond` every few milliseconds until it returns `Some` or `limit` passes.
pub fn poll_until<T>(limit: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------------------------
// Log records.

/// Accessors for one JSON record of the manager's stdout. `_line` is added by the reader: the
/// 1-based line number on stdout, for ordering.
pub trait Rec {
    fn s(&self, key: &str) -> Option<&str>;
    fn i(&self, key: &str) -> Option<i64>;
    fn event(&self) -> Option<&str> {
        self.s("event")
    }
    fn instance(&self) -> Option<&str> {
        self.s("instance")
    }
    fn process(&self) -> Option<&str> {
        self.s("process")
    }
    fn msg(&self) -> &str {
        self.s("msg").unwrap_or("")
    }
    fn line_no(&self) -> i64 {
        self.i("_line").unwrap_or(-1)
    }
    /// `time` as milliseconds since the Unix epoch.
    fn time_ms(&self) -> i64 {
        parse_time(self.s("time").expect("record has a time")).expect("time is well-formed")
    }
    /// A record of child output (has `stream`) rather than a manager event.
    fn is_output(&self) -> bool {
        self.s("stream").is_some() && self.s("event").is_none()
    }
    fn is(&self, event: &str, instance: &str) -> bool {
        self.event() == Some(event) && self.instance() == Some(instance)
    }
    /// Child output of `instance` whose msg equals `text`.
    fn says(&self, instance: &str, text: &str) -> bool {
        self.is_output() && self.instance() == Some(instance) && self.msg() == text
    }
}

impl Rec for Value {
    fn s(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }
    fn i(&self, key: &str) -> Option<i64> {
        self.get(key)?.as_i64()
    }
}

/// `2026-11-26T12:00:00.123Z` → ms since the epoch.
pub fn parse_time(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() != 24 || b[10] != b'T' || b[23] != b'Z' || b[19] != b'.' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss, ms) = (n(11..13)?, n(14..16)?, n(17..19)?, n(20..23)?);
    // Days from civil (H. Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + hh) * 60 + mm) * 60 + ss) * 1000 + ms)
}

// ---------------------------------------------------------------------------------------------
// The manager under test.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 of a fresh PID namespace (`unshare --pid --fork --mount-proc`).
    Pid1,
    /// Run directly: not PID 1, so it makes itself a child subreaper.
    Subreaper,
}

/// Sees every raw stdout line (and its 1-based number) before it is parsed; returning `true`
/// consumes it (it is neither parsed nor kept). Used by the flood test to check hundreds of
/// megabytes without holding them.
pub type Tap = Box<dyn FnMut(&[u8], u64) -> bool + Send>;

enum Msg {
    Rec(Value),
    Eof,
}

/// What the watchdog and `Drop` need to kill everything.
#[derive(Clone, Copy)]
struct KillTarget {
    mode: Mode,
    /// Process group of the process we spawned (unshare, or the manager itself).
    pgid: i32,
    /// Host pid of the manager (0 while unknown).
    pid: i32,
}

impl KillTarget {
    fn kill_everything(self) {
        match self.mode {
            // The manager is in unshare's group; when PID 1 of the namespace dies, the kernel
            // kills every other process of the namespace.
            Mode::Pid1 => {
                signal_raw(-self.pgid, libc::SIGKILL);
            }
            Mode::Subreaper => {
                let root = if self.pid > 0 { self.pid } else { self.pgid };
                // Freeze the manager so it neither restarts nor reaps while its tree dies.
                signal_raw(root, libc::SIGSTOP);
                for _ in 0..100 {
                    let live: Vec<i32> = descendants(root)
                        .into_iter()
                        .filter(|p| p.state != 'Z')
                        .map(|p| p.pid)
                        .collect();
                    if live.is_empty() {
                        break;
                    }
                    for p in live {
                        signal_raw(p, libc::SIGKILL);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                signal_raw(-self.pgid, libc::SIGKILL);
                signal_raw(root, libc::SIGKILL);
            }
        }
    }
}

/// How to start a manager; `Manager::start` covers the common case.
pub struct Launch {
    pub mode: Mode,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub tap: Option<Tap>,
    /// Give the manager an inherited descriptor without close-on-exec (fd 9, a copy of its
    /// stdin), as a careless parent would.
    pub leak_fd: bool,
    /// Signals the manager starts with ignored, and blocked. By default it starts as a
    /// container runtime starts PID 1: every disposition default, nothing blocked (the test
    /// harness itself ignores SIGPIPE and glibc's signal 32, which must not leak into it).
    pub ignore: Vec<i32>,
    pub block: Vec<i32>,
    /// A command line that runs before the manager and `exec`s it (appended as its last
    /// arguments): `prlimit --nofile=16 --`, `setpriv --reuid=1000 --`, a shell that joins a
    /// cgroup. In PID 1 mode it runs inside the namespace, as its PID 1 until it execs.
    pub wrap: Vec<String>,
    /// Start the manager in a session of its own with this terminal (the slave side of a
    /// pseudo-terminal) as its stdin and controlling terminal, as `docker run -t` does.
    /// Without it the manager runs in the test's session, in a process group of its own.
    pub terminal: Option<std::os::fd::OwnedFd>,
}

impl Launch {
    pub fn new(mode: Mode) -> Launch {
        Launch {
            mode,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            tap: None,
            leak_fd: false,
            ignore: Vec::new(),
            block: Vec::new(),
            wrap: Vec::new(),
            terminal: None,
        }
    }

    /// See [`Launch::terminal`].
    pub fn terminal(mut self, slave: std::os::fd::OwnedFd) -> Launch {
        self.terminal = Some(slave);
        self
    }

    /// Runs the manager through `wrapper` (which must end by exec'ing its last arguments).
    pub fn wrap<S: AsRef<str>>(mut self, wrapper: &[S]) -> Launch {
        self.wrap = wrapper.iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }

    /// Start the manager with these signals ignored and blocked (as a careless parent would).
    pub fn inherit_signals(mut self, ignore: &[i32], block: &[i32]) -> Launch {
        self.ignore = ignore.to_vec();
        self.block = block.to_vec();
        self
    }

    pub fn leak_fd(mut self) -> Launch {
        self.leak_fd = true;
        self
    }

    pub fn config(mut self, path: &Path) -> Launch {
        self.args.push("-c".into());
        self.args.push(path.into());
        self
    }

    pub fn arg(mut self, a: &str) -> Launch {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Launch {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn cwd(mut self, d: &Path) -> Launch {
        self.cwd = Some(d.to_owned());
        self
    }

    pub fn tap(mut self, t: Tap) -> Launch {
        self.tap = Some(t);
        self
    }

    pub fn spawn(self) -> Manager {
        Manager::launch(self)
    }
}

/// Sets every signal's disposition to default (or ignored, for those in `ignore`) and the mask
/// to `block`, with raw syscalls: the libc wrappers refuse the signals glibc and musl keep for
/// themselves (32-34), which is exactly where a stale disposition could hide.
#[cfg(target_arch = "x86_64")]
fn set_signal_state(ignore: &[i32], block: &[i32]) {
    // The kernel's struct sigaction on x86_64: handler, flags, restorer, mask.
    for sig in 1..=64i32 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let handler = if ignore.contains(&sig) {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        let act: [usize; 4] = [handler, 0, 0, 0];
        // SAFETY: rt_sigaction with a valid kernel sigaction and no old-action pointer.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                act.as_ptr(),
                std::ptr::null::<usize>(),
                8usize,
            );
        }
    }
    let mut mask: u64 = 0;
    for &b in block {
        mask |= 1u64 << (b - 1);
    }
    // SAFETY: rt_sigprocmask(SIG_SETMASK) with an 8-byte set and no old-set pointer.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask as *const u64,
            std::ptr::null::<u64>(),
            8usize,
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn set_signal_state(ignore: &[i32], block: &[i32]) {
    // SAFETY: signal/sigprocmask on plain values; async-signal-safe.
    unsafe {
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                let h = if ignore.contains(&sig) {
                    libc::SIG_IGN
                } else {
                    libc::SIG_DFL
                };
                libc::signal(sig, h);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &b in block {
            libc::sigaddset(&mut set, b);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// The descriptor number `Launch::leak_fd` leaks into the manager.
pub const LEAKED_FD: i32 = 9;

pub struct Manager {
    pub mode: Mode,
    child: Child,
    target: KillTarget,
    rx: Receiver<Msg>,
    recs: Vec<Value>,
    eof: bool,
    stderr: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
    watchdog: Option<Sender<()>>,
}

impl Manager {
    /// Starts `phpeek-pm -c <config>` in `mode`.
    pub fn start(mode: Mode, config: &Path) -> Manager {
        Launch::new(mode).config(config).spawn()
    }

    fn launch(l: Launch) -> Manager {
        let mut cmd = match (l.mode, l.wrap.split_first()) {
            (Mode::Pid1, _) => {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc"]);
                c.args(&l.wrap).arg(bin());
                c
            }
            (Mode::Subreaper, Some((w, rest))) => {
                let mut c = Command::new(w);
                c.args(rest).arg(bin());
                c
            }
            (Mode::Subreaper, None) => Command::new(bin()),
        };
        cmd.args(&l.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match l.terminal {
            Some(tty) => {
                cmd.stdin(Stdio::from(tty));
                // SAFETY: setsid and ioctl on plain values; async-signal-safe, no allocation.
                unsafe {
                    cmd.pre_exec(|| {
                        if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            None => {
                cmd.stdin(Stdio::null()).process_group(0);
            }
        }
        scrub_env(&mut cmd);
        for (k, v) in &l.env {
            cmd.env(k, v);
        }
        if let Some(d) = &l.cwd {
            cmd.current_dir(d);
        }
        if l.leak_fd {
            // SAFETY: dup2 is async-signal-safe; the closure allocates nothing.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::dup2(0, LEAKED_FD) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let (ignore, block) = (l.ignore.clone(), l.block.clone());
        // SAFETY: only raw rt_sigaction/rt_sigprocmask syscalls on data prepared before the
        // fork; nothing is allocated in the child.
        unsafe {
            cmd.pre_exec(move || {
                set_signal_state(&ignore, &block);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn manager");
        let pgid = child.id() as i32;
        let mut target = KillTarget {
            mode: l.mode,
            pgid,
            pid: if l.mode == Mode::Subreaper { pgid } else { 0 },
        };

        // Watchdog: kills everything if the test neither finishes nor unwinds in time.
        let (wd_tx, wd_rx) = mpsc::channel::<()>();
        let wd_target = Arc::new(Mutex::new(target));
        let wd_target2 = Arc::clone(&wd_target);
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = wd_rx.recv_timeout(WATCHDOG) {
                eprintln!("watchdog: manager still running after {WATCHDOG:?}: killing it");
                let t = *wd_target2.lock().unwrap();
                t.kill_everything();
            }
        });

        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let mut tap = l.tap;
        std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(1 << 20, stdout);
            let mut line = Vec::with_capacity(64 * 1024);
            let mut n: u64 = 0;
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                n += 1;
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if let Some(t) = tap.as_mut() {
                    if t(&line, n) {
                        continue;
                    }
                }
                let mut v = match serde_json::from_slice::<Value>(&line) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => serde_json::json!({
                        "_garbage": String::from_utf8_lossy(&line).into_owned()
                    }),
                };
                v.as_object_mut()
                    .unwrap()
                    .insert("_line".into(), Value::from(n));
                if tx.send(Msg::Rec(v)).is_err() {
                    break;
                }
            }
            let _ = tx.send(Msg::Eof);
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let err_buf = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err_buf.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });

        if l.mode == Mode::Pid1 {
            // The manager is unshare's child; wait until it has exec'd our binary.
            let upid = pgid;
            let found = {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let kid = children_of(upid)
                        .into_iter()
                        .find(|&k| cmdline(k).first().map(String::as_str) == Some(bin()));
                    if let Some(k) = kid {
                        break Some(k);
                    }
                    if Instant::now() >= deadline {
                        break None;
                    }
                    if let Ok(Some(_)) = child.try_wait() {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            };
            if let Some(k) = found {
                target.pid = k;
                *wd_target.lock().unwrap() = target;
            }
        }
        Manager {
            mode: l.mode,
            child,
            target,
            rx,
            recs: Vec::new(),
            eof: false,
            stderr,
            status: None,
            watchdog: Some(wd_tx),
        }
    }

    /// Host pid of the manager process (in PID 1 mode, unshare's child).
    pub fn pid(&self) -> i32 {
        assert!(
            self.target.pid > 0,
            "manager pid unknown (did it start?)\n{}",
            self.dump()
        );
        self.target.pid
    }

    /// Every record received so far.
    pub fn records(&mut self) -> &[Value] {
        self.pump();
        &self.recs
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Moves whatever the reader has so far into `recs` without waiting.
    fn pump(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.accept(m);
        }
    }

    fn accept(&mut self, m: Msg) {
        match m {
            Msg::Rec(v) => self.recs.push(v),
            Msg::Eof => self.eof = true,
        }
    }

    /// Waits for the first record (from the start of the log) matching `pred`.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_for_from(0, limit, what, pred)
    }

    /// Waits for the first record at index `from` or later (in `records()`) matching `pred`.
    pub fn wait_for_from(
        &mut self,
        from: usize,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        let mut i = from;
        loop {
            while i < self.recs.len() {
                if pred(&self.recs[i]) {
                    return self.recs[i].clone();
                }
                i += 1;
            }
            if self.eof {
                panic!("manager stdout ended without {what}\n{}", self.dump());
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "timed out after {limit:?} waiting for {what}\n{}",
                    self.dump()
                );
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(m) => self.accept(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
            }
        }
    }

    /// Waits until `n` records match `pred`; returns them.
    pub fn wait_count(
        &mut self,
        n: usize,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let got: Vec<Value> = self.recs.iter().filter(|r| pred(r)).cloned().collect();
            if got.len() >= n {
                return got;
            }
            if self.eof {
                panic!(
                    "manager stdout ended with {} of {n} {what}\n{}",
                    got.len(),
                    self.dump()
                );
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "timed out after {limit:?} with {} of {n} {what}\n{}",
                    got.len(),
                    self.dump()
                );
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(m) => self.accept(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
            }
        }
    }

    /// Waits for the manager's own `starting` record (its signals are blocked from then on).
    pub fn wait_started(&mut self) -> Value {
        self.wait_for(secs(10.0), "the `starting` record", |r| {
            r.event() == Some("starting")
        })
    }

    /// Sends `sig` to the manager process.
    pub fn signal(&mut self, sig: i32) {
        self.wait_started();
        let pid = self.pid();
        assert!(
            signal_raw(pid, sig),
            "kill({pid}, {sig}) failed: {}",
            std::io::Error::last_os_error()
        );
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits for the manager to exit and for its stdout to end; returns the exit status (of
    /// unshare in PID 1 mode, which passes on the manager's code or signal).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.exited() {
                break s;
            }
            if Instant::now() >= deadline {
                panic!("manager did not exit within {limit:?}\n{}", self.dump());
            }
            self.pump();
            std::thread::sleep(Duration::from_millis(5));
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.eof {
            let now = Instant::now();
            if now >= deadline {
                panic!("manager exited but its stdout stayed open\n{}", self.dump());
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(m) => self.accept(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
            }
        }
        status
    }

    /// Waits for the exit and returns the exit code (panics if killed by a signal).
    pub fn wait_code(&mut self, limit: Duration) -> i32 {
        let st = self.wait_exit(limit);
        match st.code() {
            Some(c) => c,
            None => panic!(
                "manager was killed by signal {:?}\n{}",
                st.signal(),
                self.dump()
            ),
        }
    }

    /// Records matching `pred` received so far.
    pub fn find(&mut self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.pump();
        self.recs.iter().filter(|r| pred(r)).cloned().collect()
    }

    /// Events of one kind for one instance, in order.
    pub fn events(&mut self, event: &str, instance: &str) -> Vec<Value> {
        self.find(|r| r.is(event, instance))
    }

    /// The text of child output of `instance`, one entry per record.
    pub fn output_of(&mut self, instance: &str) -> Vec<String> {
        self.find(|r| r.is_output() && r.instance() == Some(instance))
            .iter()
            .map(|r| r.msg().to_owned())
            .collect()
    }

    /// Every line must have been a JSON object.
    pub fn assert_json_only(&mut self) {
        self.pump();
        let bad: Vec<&Value> = self
            .recs
            .iter()
            .filter(|r| r.get("_garbage").is_some())
            .collect();
        assert!(bad.is_empty(), "non-JSON lines on stdout: {bad:?}");
    }

    /// The last records and stderr, for failure messages.
    pub fn dump(&self) -> String {
        let n = self.recs.len();
        let from = n.saturating_sub(80);
        let mut s = format!(
            "--- {:?} manager: last {} of {n} records ---\n",
            self.mode,
            n - from
        );
        for r in &self.recs[from..] {
            let mut line = r.to_string();
            if line.len() > 400 {
                let mut cut = 400;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push_str("...");
            }
            s.push_str(&line);
            s.push('\n');
        }
        s.push_str("--- stderr ---\n");
        s.push_str(&String::from_utf8_lossy(&self.stderr.lock().unwrap()));
        s
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let Some(w) = self.watchdog.take() {
            let _ = w.send(());
        }
        if self.exited().is_none() {
            if std::thread::panicking() {
                eprintln!("{}", self.dump());
            }
            self.target.kill_everything();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        } else if std::thread::panicking() {
            self.pump();
            eprintln!("{}", self.dump());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Soft assertions: check everything, then fail once with every problem found.

#[derive(Default)]
pub struct Soft(pub Vec<String>);

impl Soft {
    pub fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }

    pub fn eq<T: PartialEq + std::fmt::Debug, U: std::fmt::Debug + PartialEq<T>>(
        &mut self,
        got: U,
        want: T,
        what: &str,
    ) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    /// Panics with every failed check, if any.
    pub fn finish(self, context: &str) {
        assert!(
            self.0.is_empty(),
            "{} failed check(s):\n  {}\n{context}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

/// The signal numbers set in a `/proc/<pid>/status` mask such as `SigIgn`.
pub fn mask_signals(hex: &str) -> Vec<i32> {
    let v = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    (1..=64).filter(|s| v & (1u64 << (s - 1)) != 0).collect()
}

// ---------------------------------------------------------------------------------------------
// Reassembling a child's byte stream from its records.

/// Compares a child's byte stream, reassembled from its records as documented (join `msg`
/// without a newline after a `"partial":true` record, with one after the others), with the
/// expected bytes, incrementally: nothing is held but the current expected chunk.
pub struct StreamCheck {
    next: Box<dyn FnMut() -> Option<Vec<u8>> + Send>,
    chunk: Vec<u8>,
    pos: usize,
    /// Bytes matched so far.
    pub matched: u64,
    /// Records fed so far.
    pub records: u64,
    /// The first difference, if any (the check stops there).
    pub error: Option<String>,
}

impl StreamCheck {
    /// `next` yields the expected stream chunk by chunk, then `None`.
    pub fn new(next: impl FnMut() -> Option<Vec<u8>> + Send + 'static) -> StreamCheck {
        StreamCheck {
            next: Box::new(next),
            chunk: Vec::new(),
            pos: 0,
            matched: 0,
            records: 0,
            error: None,
        }
    }

    /// Feeds one record's msg.
    pub fn record(&mut self, msg: &[u8], partial: bool) {
        self.records += 1;
        self.bytes(msg);
        if !partial {
            self.bytes(b"\n");
        }
    }

    fn bytes(&mut self, mut got: &[u8]) {
        while self.error.is_none() && !got.is_empty() {
            if self.pos == self.chunk.len() {
                match (self.next)() {
                    Some(c) => {
                        self.chunk = c;
                        self.pos = 0;
                        continue;
                    }
                    None => {
                        self.error = Some(format!(
                            "{} bytes more than expected after byte {}: {:?}",
                            got.len(),
                            self.matched,
                            String::from_utf8_lossy(&got[..got.len().min(80)])
                        ));
                        return;
                    }
                }
            }
            let n = got.len().min(self.chunk.len() - self.pos);
            let want = &self.chunk[self.pos..self.pos + n];
            if want != &got[..n] {
                let k = want
                    .iter()
                    .zip(&got[..n])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                self.error = Some(format!(
                    "mismatch at byte {}: expected {:?}, got {:?}",
                    self.matched + k as u64,
                    String::from_utf8_lossy(&want[k..(k + 60).min(n)]),
                    String::from_utf8_lossy(&got[k..(k + 60).min(n)])
                ));
                return;
            }
            self.pos += n;
            self.matched += n as u64;
            got = &got[n..];
        }
    }

    /// Whether every expected byte has arrived (pulls the next chunk to be sure).
    pub fn complete(&mut self) -> bool {
        if self.error.is_some() {
            return false;
        }
        while self.pos == self.chunk.len() {
            match (self.next)() {
                Some(c) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                None => return true,
            }
        }
        false
    }
}

/// Fast path for one child-output record line of the JSON format: returns (instance, msg,
/// partial) without a JSON parser when the msg holds no escapes, else parses it properly.
/// `None` for manager events and anything that is not child output.
pub fn child_record(line: &[u8]) -> Option<(String, Vec<u8>, bool)> {
    const MSG: &[u8] = b",\"msg\":\"";
    const PARTIAL_END: &[u8] = b"\",\"partial\":true}";
    const END: &[u8] = b"\"}";
    // {"time":"<24 bytes>","level":"info","process":...,"instance":"X","stream":"...","msg":"
    if line.len() > 300 && line.starts_with(b"{\"time\":\"") {
        let head = &line[..300];
        if let Some(m) = find(head, MSG) {
            let start = m + MSG.len();
            let inst = between(&head[..m], b"\"instance\":\"", b"\"");
            let stream_ok = find(&head[..m], b"\"stream\":\"").is_some();
            let (end, partial) = if line.ends_with(PARTIAL_END) {
                (line.len() - PARTIAL_END.len(), true)
            } else if line.ends_with(END) {
                (line.len() - END.len(), false)
            } else {
                (0, false)
            };
            if let (Some(inst), true, true) = (inst, stream_ok, end >= start) {
                let msg = &line[start..end];
                if !msg.contains(&b'\\') && !msg.contains(&b'"') {
                    return Some((
                        String::from_utf8_lossy(inst).into_owned(),
                        msg.to_vec(),
                        partial,
                    ));
                }
            }
        }
    }
    let v: Value = serde_json::from_slice(line).ok()?;
    if !v.is_output() {
        return None;
    }
    Some((
        v.instance()?.to_owned(),
        v.msg().as_bytes().to_vec(),
        v.get("partial").and_then(Value::as_bool).unwrap_or(false),
    ))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn between<'a>(hay: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a [u8]> {
    let s = find(hay, open)? + open.len();
    let e = find(&hay[s..], close)? + s;
    Some(&hay[s..e])
}

// ---------------------------------------------------------------------------------------------
// Resource limits.

/// A `pids` cgroup (v1 on this host, v2 where that is what is mounted) for one test, removed
/// on drop once empty.
pub struct PidsCgroup {
    dir: std::path::PathBuf,
}

impl PidsCgroup {
    pub fn new() -> PidsCgroup {
        let v1 = std::path::Path::new("/sys/fs/cgroup/pids");
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers");
        let parent = if v1.join("cgroup.procs").exists() {
            v1.to_path_buf()
        } else if std::fs::read_to_string(v2)
            .is_ok_and(|s| s.split_whitespace().any(|c| c == "pids"))
        {
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+pids");
            v2.parent().unwrap().to_path_buf()
        } else {
            panic!("no pids cgroup controller (neither /sys/fs/cgroup/pids nor cgroup v2 pids)");
        };
        let dir = parent.join(format!("phpeek-pm-it-{}", unique()));
        std::fs::create_dir(&dir).expect("create a pids cgroup (needs root)");
        PidsCgroup { dir }
    }

    pub fn set_max(&self, v: &str) {
        std::fs::write(self.dir.join("pids.max"), v).expect("write pids.max");
    }

    /// Its `cgroup.procs` file: a process joins by writing its pid there.
    pub fn procs(&self) -> String {
        self.dir.join("cgroup.procs").to_string_lossy().into_owned()
    }

    /// A `Launch::wrap` command line that joins this cgroup, then execs the manager.
    pub fn join_wrapper(&self) -> Vec<String> {
        let join = format!("echo $$ > {} && exec \"$@\"", self.procs());
        vec!["sh".into(), "-c".into(), join, "sh".into()]
    }

    /// Processes in it now.
    pub fn count(&self) -> usize {
        std::fs::read_to_string(self.procs()).map_or(0, |s| s.lines().count())
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        for _ in 0..200 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
