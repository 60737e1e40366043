//! Starting a child the way PID 1 must: its own session and process group, only fds 0-2, stdin
//! from `/dev/null` (or, where there is no `/dev/null`, the read end of a pipe that is already
//! closed), stdout/stderr to non-blocking pipes we read, an empty signal mask and default
//! dispositions, and optionally another user and group.
//!
//! It must work in a root filesystem that holds nothing but our binary and the config (a
//! `FROM scratch` image, a bare chroot): no `/dev`, no `/proc`, no `/etc/passwd`. So nothing
//! here opens a file per spawn: the stdin source is opened once at start-up ([`ChildStdin`]),
//! the pipes are plain `pipe2`, and the child does its own `chdir` and `execve` (with the `PATH`
//! search done from a candidate list built before the fork) instead of std's.
//!
//! Every failure names the step that failed, with the OS error ([`SpawnError`]). Steps in the
//! child report through the pipe std's `Command` already uses for the exec error: the closure
//! returns the errno tagged with its step in the bits above 16 (errno values are far below
//! that), and the parent takes the tag apart again. std itself tags nothing, so an untagged
//! error comes from the manager's side of the spawn (std's own pipe, or `fork`).

use std::ffi::{CString, OsStr};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::signals;

/// Who the child runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (from `/etc/group`).
    pub groups: Vec<u32>,
    /// Login name and home directory from `/etc/passwd`, when the user has an entry: the
    /// child gets them as `USER`, `LOGNAME` and `HOME` unless its `env` sets those.
    pub name: Option<String>,
    pub home: Option<String>,
}

/// Everything needed to start one child.
pub struct SpawnSpec<'a> {
    pub argv: &'a [String],
    /// The complete environment of the child (borrowed: no copy of the manager's
    /// environment is made per start).
    pub env: &'a [(&'a OsStr, &'a OsStr)],
    pub cwd: Option<&'a str>,
    pub credentials: Option<&'a Credentials>,
    /// What every child of this manager gets alike (set up once by the reactor).
    pub base: &'a ChildBase,
    /// Which output streams the manager reads.
    pub capture: Capture,
}

/// Which of a child's output streams the manager reads. A stream it reads is a pipe; one it
/// does not (`stdout: false` / `stderr: false`) is `/dev/null`, as the Go tool does: the child
/// writes it to nowhere and the manager spends nothing on it, not even a pipe. Where
/// `/dev/null` cannot be opened, such a stream is still a pipe, read and dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capture {
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for Capture {
    /// Both streams read, as every child has unless its configuration switches one off.
    fn default() -> Capture {
        Capture {
            stdout: true,
            stderr: true,
        }
    }
}

/// What every child of a manager gets alike, set up once at start-up: nothing here is opened
/// or asked per spawn.
pub struct ChildBase {
    /// What the child reads as stdin.
    pub stdin: ChildStdin,
    /// Its own session (`setsid`), or only its own process group (`setpgid`): see
    /// [`controlling_terminal`].
    pub session: bool,
    /// `/dev/null` opened for writing, given (as a copy) for an output stream that is not
    /// read ([`Capture`]); `None` where it cannot be opened.
    pub discard: Option<OwnedFd>,
}

impl ChildBase {
    /// Opens the children's stdin and `/dev/null` for the streams not read, and asks whether
    /// we have a controlling terminal.
    pub fn open() -> io::Result<ChildBase> {
        use rustix::fs::{Mode, OFlags};
        let discard =
            rustix::fs::open("/dev/null", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()).ok();
        Ok(ChildBase {
            stdin: ChildStdin::open()?,
            session: controlling_terminal(),
            discard,
        })
    }
}

/// Whether we have a controlling terminal (`/dev/tty` opens), asked once at start-up: only
/// then does each child get its own session, which keeps it off that terminal. Without one
/// a session adds nothing to the process group every child gets anyway (stop and kill
/// signals go to the group), and where the kernel's scheduler autogroups apply (tasks in the
/// root CPU cgroup) each session would also be a scheduling group of its own: each instance
/// would weigh as much as the manager, or a whole php-fpm pool. When the answer is unclear
/// (no `/dev/tty` to ask), children get their sessions as ever.
fn controlling_terminal() -> bool {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open("/dev/tty", flags, Mode::empty()) {
        Ok(_) => true,
        Err(e) => e != rustix::io::Errno::NXIO,
    }
}

/// A started child.
pub struct Spawned {
    pub pid: i32,
    /// Read ends of the child's stdout and stderr, non-blocking and close-on-exec; `None` for
    /// a stream that goes to `/dev/null` ([`Capture`]).
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// The `PATH` searched when the child's environment has none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Child-side errors carry their [`Step`] in the bits from here up.
const STEP_SHIFT: i32 = 16;
const ERRNO_MASK: i32 = (1 << STEP_SHIFT) - 1;
/// How much of a program file is read to explain an exec failure (its `#!` line).
const SHEBANG_BYTES: usize = 256;

/// What every child reads as stdin: `/dev/null` opened once, or where it cannot be opened (no
/// `/dev` in a bare root filesystem), the read end of a pipe whose write end is closed, which
/// reads as end-of-file just the same. Shared by all children; no file is opened per spawn.
pub struct ChildStdin {
    fd: OwnedFd,
    /// Why `/dev/null` was not used, when it was not.
    pub fallback: Option<io::Error>,
}

impl ChildStdin {
    /// Opens `/dev/null`, or falls back to an empty pipe (`open(2)`, `pipe2(2)`).
    pub fn open() -> io::Result<ChildStdin> {
        use rustix::fs::{Mode, OFlags};
        match rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => Ok(ChildStdin { fd, fallback: None }),
            Err(e) => ChildStdin::empty_pipe(Some(e.into())),
        }
    }

    /// The read end of a pipe with no writer: every read is end-of-file.
    pub fn empty_pipe(fallback: Option<io::Error>) -> io::Result<ChildStdin> {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        drop(w);
        Ok(ChildStdin { fd: r, fallback })
    }
}

/// The step of starting a child that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Attaching stdin (`dup2`, in the child). Child steps are numbered from 1: the number is
    /// their tag.
    Stdin = 1,
    /// Its own session (`setsid`), or its own process group (`setpgid`).
    Session,
    /// Supplementary groups (`setgroups`).
    Groups,
    /// The group switch (`setgid`).
    Group,
    /// The user switch (`setuid`).
    User,
    /// The working directory (`chdir`).
    WorkingDir,
    /// The program itself (`execve`).
    Exec,
    /// Creating the stdout/stderr pipes (in the manager).
    Pipes,
    /// Creating the process (`fork`, in the manager).
    Fork,
}

impl Step {
    /// The steps that run in the child, by their tag.
    const CHILD: [Step; 7] = [
        Step::Stdin,
        Step::Session,
        Step::Groups,
        Step::Group,
        Step::User,
        Step::WorkingDir,
        Step::Exec,
    ];

    /// A child-side error as it travels through std's exec-error pipe.
    fn tagged(self, e: io::Error) -> io::Error {
        let errno = e.raw_os_error().unwrap_or(libc::EINVAL) & ERRNO_MASK;
        io::Error::from_raw_os_error(((self as i32) << STEP_SHIFT) | errno)
    }

    /// Splits an error from `Command::spawn` into its step and the real OS error.
    fn untag(e: io::Error) -> (Option<Step>, io::Error) {
        let Some(raw) = e.raw_os_error() else {
            return (None, e);
        };
        let tag = raw >> STEP_SHIFT;
        match Step::CHILD.iter().find(|s| **s as i32 == tag) {
            Some(s) if tag > 0 => (Some(*s), io::Error::from_raw_os_error(raw & ERRNO_MASK)),
            _ => (None, e),
        }
    }
}

/// Why a child could not be started: the step, the OS error, and a message naming what failed
/// (the program, the working directory, the user, the descriptor limit, ...).
pub struct SpawnError {
    /// Which step failed (the message says it in words; the unit tests and `{:?}` read it).
    pub step: Step,
    msg: String,
}

impl fmt::Debug for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpawnError({:?}: {})", self.step, self.msg)
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for SpawnError {}

/// What the child needs for its own `chdir` and `execve`, built before the fork so the child
/// allocates nothing.
struct ExecPlan {
    /// Paths to try in order (one for a program with a `/`, else one per `PATH` entry).
    candidates: Candidates,
    argv: Vec<CString>,
    /// Every `KEY=value\0` of the environment in one buffer: one allocation, not one per
    /// variable (a spawn allocated and freed about a hundred small objects, which musl's
    /// allocator answered with fresh mappings each time).
    env: Vec<u8>,
    cwd: Option<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    env_ptrs: Vec<*const libc::c_char>,
}

// SAFETY: the raw pointers point into the `CString`s and the environment buffer owned by the
// same struct (heap buffers that do not move with it, never resized after the pointers are
// taken); the plan is only read, and only in the forked child.
unsafe impl Send for ExecPlan {}
// SAFETY: as above: never written after construction.
unsafe impl Sync for ExecPlan {}

fn cstring(s: &[u8], what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

impl ExecPlan {
    fn new(spec: &SpawnSpec<'_>) -> Result<ExecPlan, String> {
        let program = &spec.argv[0];
        let argv = spec
            .argv
            .iter()
            .map(|a| cstring(a.as_bytes(), "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let size = spec.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut env = Vec::with_capacity(size);
        let mut starts = Vec::with_capacity(spec.env.len());
        for (k, v) in spec.env {
            let (k, v) = (k.as_bytes(), v.as_bytes());
            if k.contains(&0) || v.contains(&0) {
                return Err("an environment variable contains a NUL byte".to_owned());
            }
            starts.push(env.len());
            env.extend_from_slice(k);
            env.push(b'=');
            env.extend_from_slice(v);
            env.push(0);
        }
        let candidates = Candidates::new(program.as_bytes(), path_of(spec.env))?;
        let cwd = spec
            .cwd
            .map(|d| cstring(d.as_bytes(), "working_dir"))
            .transpose()?;
        let mut plan = ExecPlan {
            candidates,
            argv,
            env,
            cwd,
            argv_ptrs: Vec::new(),
            env_ptrs: Vec::new(),
        };
        plan.argv_ptrs = plan.argv.iter().map(|a| a.as_ptr()).collect();
        plan.argv_ptrs.push(std::ptr::null());
        let base = plan.env.as_ptr();
        plan.env_ptrs = starts
            .iter()
            .map(|&i| base.wrapping_add(i).cast::<libc::c_char>())
            .collect();
        plan.env_ptrs.push(std::ptr::null());
        Ok(plan)
    }
}

/// The `PATH` of the child's environment.
fn path_of<'a>(env: &[(&'a OsStr, &'a OsStr)]) -> &'a [u8] {
    env.iter()
        .rev()
        .find(|(k, _)| *k == "PATH")
        .map_or(DEFAULT_PATH.as_bytes(), |(_, v)| v.as_bytes())
}

/// Where `execve` is tried for a program, in order (like `execvp(3)`: a name with a `/` is
/// used as it is; an empty `PATH` entry means the current directory). Every path is in one
/// buffer, each ending with a NUL: one allocation per start, however long `PATH` is (a
/// `String` and a `CString` per entry made the search list cost more than the rest of the
/// start-up's bookkeeping).
struct Candidates {
    buf: Vec<u8>,
    /// Where each path starts in `buf`.
    starts: Vec<usize>,
}

impl Candidates {
    fn new(program: &[u8], path: &[u8]) -> Result<Candidates, String> {
        if program.contains(&0) || path.contains(&0) {
            return Err("the program path contains a NUL byte".to_owned());
        }
        let mut c = Candidates {
            buf: Vec::new(),
            starts: Vec::new(),
        };
        if program.contains(&b'/') {
            c.add(None, program);
        } else if !program.is_empty() {
            let dirs = path.split(|&b| b == b':');
            c.buf
                .reserve(path.len() + dirs.clone().count() * (program.len() + 3));
            for d in dirs {
                let d = if d.is_empty() { &b"."[..] } else { d };
                let end = d.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
                c.add(Some(&d[..end]), program);
            }
        }
        Ok(c)
    }

    /// Appends `dir/program`, or `program` alone.
    fn add(&mut self, dir: Option<&[u8]>, program: &[u8]) {
        self.starts.push(self.buf.len());
        if let Some(d) = dir {
            self.buf.extend_from_slice(d);
            self.buf.push(b'/');
        }
        self.buf.extend_from_slice(program);
        self.buf.push(0);
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn get(&self, i: usize) -> &std::ffi::CStr {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.buf.len());
        // Each path was written with exactly one NUL, at its end (the parts were checked for
        // NULs in `new`).
        std::ffi::CStr::from_bytes_with_nul(&self.buf[self.starts[i]..end]).unwrap_or(c"")
    }

    fn iter(&self) -> impl Iterator<Item = &std::ffi::CStr> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// As text, for messages and tests.
    fn strings(&self) -> Vec<String> {
        self.iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()
    }
}

/// In the child: `execve` each candidate until one works. Returns only on failure, with the
/// error `execvp(3)` would give: `EACCES` if any candidate was not executable, else the last
/// error (`ENOENT` when nothing was found). Allocation-free.
fn exec(plan: &ExecPlan) -> io::Error {
    let mut err = io::Error::from_raw_os_error(libc::ENOENT);
    let mut denied = false;
    for c in plan.candidates.iter() {
        // SAFETY: every pointer is a NUL-terminated string owned by `plan`, and both arrays
        // end with a null pointer; execve only returns on failure.
        unsafe {
            libc::execve(c.as_ptr(), plan.argv_ptrs.as_ptr(), plan.env_ptrs.as_ptr());
        }
        err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EACCES) => denied = true,
            Some(libc::ENOENT | libc::ENOTDIR) => {}
            _ => return err,
        }
    }
    if denied {
        io::Error::from_raw_os_error(libc::EACCES)
    } else {
        err
    }
}

/// Forks and execs `spec.argv` (`argv[0]` looked up in the child's `PATH`).
pub fn spawn(spec: &SpawnSpec<'_>) -> Result<Spawned, SpawnError> {
    let fail = |step: Step, msg: String| SpawnError { step, msg };
    let Some(program) = spec.argv.first() else {
        return Err(fail(Step::Exec, "empty command".to_owned()));
    };
    let plan = ExecPlan::new(spec).map_err(|m| fail(Step::Exec, m))?;
    let streams = output_fds(spec.base, spec.capture.stdout)
        .and_then(|out| Ok((out, output_fds(spec.base, spec.capture.stderr)?)));
    let ((out_r, out_w), (err_r, err_w)) = match streams {
        Ok(p) => p,
        Err(e) => {
            let os = io::Error::from(e);
            let msg = format!(
                "cannot create the output pipes: {os}{}",
                hint(Step::Pipes, &os)
            );
            return Err(fail(Step::Pipes, msg));
        }
    };
    // The common case (no user switch) starts with posix_spawn: no copy of our page tables,
    // and the child reaches execve sooner (start-up of many processes waits on each execve).
    // Anything it cannot do, or any failure, takes the fork path below, which names the step.
    if creds_needed(spec).is_none() {
        if let Some(pid) = spawn_fast(&plan, spec, stdin_fd(spec), &out_w, &err_w) {
            drop((out_w, err_w));
            return finish(pid, out_r, err_r);
        }
    }
    // std's Command is only used for its fork and its exec-error pipe: the child's set-up and
    // its execve happen in our closure, which never returns Ok (execve replaced the process).
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::inherit())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w));
    let stdin_fd = stdin_fd(spec);
    let session = spec.base.session;
    let creds = creds_needed(spec);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (dup2, setsid or setpgid, setgroups, setgid, setuid, chdir, sigprocmask,
    // sigaction, close_range, execve); it allocates nothing: the credentials and the exec plan
    // were built before the fork, and errors are plain errno values.
    unsafe {
        cmd.pre_exec(move || {
            let os = io::Error::last_os_error;
            if libc::dup2(stdin_fd, 0) < 0 {
                return Err(Step::Stdin.tagged(os()));
            }
            let own = if session {
                libc::setsid()
            } else {
                libc::setpgid(0, 0)
            };
            if own < 0 {
                return Err(Step::Session.tagged(os()));
            }
            if let Some(c) = &creds {
                if libc::setgroups(c.groups.len() as _, c.groups.as_ptr()) != 0 {
                    return Err(Step::Groups.tagged(os()));
                }
                if libc::setgid(c.gid) != 0 {
                    return Err(Step::Group.tagged(os()));
                }
                if libc::setuid(c.uid) != 0 {
                    return Err(Step::User.tagged(os()));
                }
            }
            // After the user switch: the directory must be reachable by the user it runs as.
            if let Some(d) = &plan.cwd {
                if libc::chdir(d.as_ptr()) != 0 {
                    return Err(Step::WorkingDir.tagged(os()));
                }
            }
            signals::reset_for_child();
            // Belt and braces: nothing but 0-2 survives exec, whatever leaked in.
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Err(Step::Exec.tagged(exec(&plan)))
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Err(explain(spec, program, e)),
    };
    // `cmd` holds nothing of ours any more: std closed the write ends after the fork.
    drop(cmd);
    let pid = child.id() as i32;
    // `child` is dropped without waiting: reaping happens in one place, the event loop.
    drop(child);
    finish(pid, out_r, err_r)
}

fn stdin_fd(spec: &SpawnSpec<'_>) -> i32 {
    spec.base.stdin.fd.as_raw_fd()
}

/// The user switch a spawn needs, if any. An unprivileged manager asked to run a child as the
/// user and group it already is (a config with `user: app` under `docker run --user` of the
/// same ids) has nothing to switch: trying would fail at setgroups. Root always switches (it
/// also resets the groups).
fn creds_needed(spec: &SpawnSpec<'_>) -> Option<Credentials> {
    let c = spec.credentials?;
    let (uid, gid) = (super::uid(), rustix::process::getgid().as_raw());
    (uid == 0 || c.uid != uid || c.gid != gid).then(|| c.clone())
}

/// The program file to start: the first candidate that is an executable file, as `execvp`
/// would find it. `None` where the parent cannot tell (a relative path with a working
/// directory of its own: relative to the child's directory) or nothing is executable.
fn resolve(plan: &ExecPlan, spec: &SpawnSpec<'_>) -> Option<usize> {
    use rustix::fs::Access;
    // The search costs an access() per PATH entry before the one that has the program, and
    // starting `scale: 50` of one command repeats it 50 times: the answer is kept for a
    // moment (as a shell's command hash does, but only for `FOUND_MS`, so a program installed
    // earlier in PATH later is found at the next start). A cached file that went away makes
    // posix_spawn fail, and the caller's fork path then searches again.
    let now = super::monotonic_ms();
    let own_dir = spec.cwd.is_some();
    let cached = {
        let f = found();
        (f.own_dir == own_dir
            && f.paths == plan.candidates.buf
            && now.saturating_sub(f.at) < FOUND_MS)
            .then_some(f.index)
    };
    if let Some(i) = cached.filter(|&i| i < plan.candidates.len()) {
        return Some(i);
    }
    let index = plan.candidates.iter().position(|c| {
        let b = c.to_bytes();
        (b.first() == Some(&b'/') || !own_dir)
            && rustix::fs::access(c, Access::EXEC_OK).is_ok()
            && rustix::fs::stat(c).is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
            })
    })?;
    let mut f = found();
    f.own_dir = own_dir;
    f.paths.clone_from(&plan.candidates.buf);
    (f.at, f.index) = (now, index);
    Some(index)
}

/// How long a program's place in PATH is reused.
const FOUND_MS: u64 = 1_000;

/// The program found last. Instances of one process start one after another, so one entry is
/// enough. Only the reactor's thread spawns; the lock is never contended.
struct Found {
    /// What was searched: the candidates (program and `PATH`), and whether the child had a
    /// working directory of its own (a relative candidate is relative to it).
    own_dir: bool,
    paths: Vec<u8>,
    /// When, and which candidate it was.
    at: u64,
    index: usize,
}

static FOUND: std::sync::Mutex<Found> = std::sync::Mutex::new(Found {
    own_dir: false,
    paths: Vec::new(),
    at: 0,
    index: 0,
});

/// The program found last (a poisoned lock only means a panic elsewhere: the entry itself is
/// always whole).
fn found() -> std::sync::MutexGuard<'static, Found> {
    FOUND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `posix_spawn(3)` with what every child needs: its own session or process group
/// (`POSIX_SPAWN_SETSID` or `POSIX_SPAWN_SETPGROUP`, see [`ChildBase`]), an
/// empty signal mask, stdin and the two output pipes as 0-2, the working directory. musl and
/// glibc start it with `clone(CLONE_VM | CLONE_VFORK)`: no page tables copied. Dispositions
/// are already the defaults (`signals::block_all` reset them once; libc puts back any handler
/// it installed). Every other descriptor of ours is close-on-exec. `None`: not possible here
/// or failed — the caller then takes the fork path, which reports the failing step.
fn spawn_fast(
    plan: &ExecPlan,
    spec: &SpawnSpec<'_>,
    stdin: i32,
    out: &OwnedFd,
    err: &OwnedFd,
) -> Option<i32> {
    let (out, err) = (out.as_raw_fd(), err.as_raw_fd());
    // dup2 onto itself would keep close-on-exec set: only descriptors above 2 (always so
    // unless the manager was started with 0-2 closed).
    if !signals::defaults_in_place() || stdin <= 2 || out <= 2 || err <= 2 {
        return None;
    }
    let program = plan.candidates.get(resolve(plan, spec)?);
    let mut pid: libc::pid_t = 0;
    // SAFETY: the attribute and file-action objects are initialised before use and destroyed
    // on every path; every pointer handed to posix_spawn points to a NUL-terminated string or
    // a null-terminated pointer array owned by `plan`, alive for the call; the sigsets are
    // initialised by sigemptyset, and a sigset_t is at least 8 bytes (128 on musl and glibc)
    // and 8-byte aligned, so its first word may be read and written as a u64.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        let mut fa = std::mem::MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        if libc::posix_spawnattr_init(attr.as_mut_ptr()) != 0 {
            return None;
        }
        if libc::posix_spawn_file_actions_init(fa.as_mut_ptr()) != 0 {
            libc::posix_spawnattr_destroy(attr.as_mut_ptr());
            return None;
        }
        let (a, f) = (attr.as_mut_ptr(), fa.as_mut_ptr());
        let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        // The libc's child sets its internal signals (musl 32-34, glibc 32-33) to SIG_IGN,
        // which exec keeps, unless they are in the default set; sigaddset refuses them, so
        // their bits (signal n is bit n-1 of the first word) are set by hand.
        let mut internal = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(internal.as_mut_ptr());
        let word = internal.as_mut_ptr().cast::<u64>();
        word.write(word.read() | (0b111u64 << 31));
        // Without SETSID, SETPGROUP with the attribute's process group 0: a group of its own.
        let own = if spec.base.session {
            libc::POSIX_SPAWN_SETSID
        } else {
            libc::POSIX_SPAWN_SETPGROUP as libc::c_short
        };
        let flags =
            own | (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        let mut ok = libc::posix_spawnattr_setflags(a, flags) == 0
            && libc::posix_spawnattr_setsigmask(a, empty.as_ptr()) == 0
            && libc::posix_spawnattr_setsigdefault(a, internal.as_ptr()) == 0
            && libc::posix_spawn_file_actions_adddup2(f, stdin, 0) == 0
            && libc::posix_spawn_file_actions_adddup2(f, out, 1) == 0
            && libc::posix_spawn_file_actions_adddup2(f, err, 2) == 0;
        if let (true, Some(d)) = (ok, &plan.cwd) {
            ok = libc::posix_spawn_file_actions_addchdir_np(f, d.as_ptr()) == 0;
        }
        let rc = if ok {
            libc::posix_spawn(
                &mut pid,
                program.as_ptr(),
                f,
                a,
                plan.argv_ptrs.as_ptr().cast(),
                plan.env_ptrs.as_ptr().cast(),
            )
        } else {
            -1
        };
        libc::posix_spawn_file_actions_destroy(f);
        libc::posix_spawnattr_destroy(a);
        if rc != 0 {
            // Maybe the program found a moment ago is gone: the next start searches again.
            found().paths.clear();
        }
        (rc == 0 && pid > 0).then_some(pid)
    }
}

/// The descriptors of one output stream: the read end we keep (`None` when the stream is not
/// read) and what the child gets as its write end, a pipe's or a copy of `/dev/null`.
fn output_fds(base: &ChildBase, read: bool) -> rustix::io::Result<(Option<OwnedFd>, OwnedFd)> {
    match &base.discard {
        Some(null) if !read => Ok((None, rustix::io::fcntl_dupfd_cloexec(null, 3)?)),
        _ => {
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            Ok((Some(r), w))
        }
    }
}

/// The manager's side after either way of starting: non-blocking read ends. The child's exit
/// reaches the loop as SIGCHLD (no pidfd: see docs/design-decisions.md).
fn finish(pid: i32, out_r: Option<OwnedFd>, err_r: Option<OwnedFd>) -> Result<Spawned, SpawnError> {
    let fail = |step: Step, msg: String| SpawnError { step, msg };
    // A fresh pipe's read end has no status flags but O_RDONLY: set O_NONBLOCK without reading
    // them first (one fcntl per pipe instead of two).
    let nb = |fd: &Option<OwnedFd>| match fd {
        Some(fd) => rustix::fs::fcntl_setfl(fd, rustix::fs::OFlags::NONBLOCK),
        None => Ok(()),
    };
    let nonblocking = nb(&out_r)
        .and_then(|()| nb(&err_r))
        .map_err(io::Error::from);
    if let Err(os) = nonblocking {
        // Cannot happen for a fresh pipe; if it did, the child runs with pipes we cannot poll.
        let msg = format!("cannot make the output pipes non-blocking: {os}");
        return Err(fail(Step::Pipes, msg));
    }
    Ok(Spawned {
        pid,
        stdout: out_r,
        stderr: err_r,
    })
}

/// Turns an error of `Command::spawn` into a message naming what failed.
fn explain(spec: &SpawnSpec<'_>, program: &str, e: io::Error) -> SpawnError {
    let (step, os) = match Step::untag(e) {
        (Some(s), os) => (s, os),
        // Untagged: the manager's side, std's exec-error pipe or the fork itself.
        (None, os) => match os.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => (Step::Pipes, os),
            _ => (Step::Fork, os),
        },
    };
    let who = || match spec.credentials {
        Some(c) => match &c.name {
            Some(n) => format!("user {n} (uid {}, gid {})", c.uid, c.gid),
            None => format!("uid {} (gid {})", c.uid, c.gid),
        },
        None => "the manager's user".to_owned(),
    };
    let h = hint(step, &os);
    let msg = match step {
        Step::Pipes => format!("cannot create the output pipes: {os}{h}"),
        Step::Fork => format!("cannot create a process: {os}{h}"),
        Step::Stdin => format!("cannot attach stdin: {os}"),
        Step::Session if spec.base.session => format!("cannot start a new session (setsid): {os}"),
        Step::Session => format!("cannot start a new process group (setpgid): {os}"),
        Step::Groups => format!(
            "cannot switch to {}: setting supplementary groups {:?}: {os}{h}",
            who(),
            spec.credentials
                .map(|c| c.groups.clone())
                .unwrap_or_default()
        ),
        Step::Group => format!("cannot switch to {}: setting the group: {os}{h}", who()),
        Step::User => format!("cannot switch to {}: setting the user: {os}{h}", who()),
        Step::WorkingDir => format!(
            "working_dir {}: {os}{}",
            spec.cwd.unwrap_or(""),
            if spec.credentials.is_some() {
                format!(" (as {})", who())
            } else {
                String::new()
            }
        ),
        Step::Exec => exec_message(spec, program, &os),
    };
    SpawnError { step, msg }
}

fn hint(step: Step, os: &io::Error) -> &'static str {
    match (step, os.raw_os_error()) {
        (Step::Pipes, Some(libc::EMFILE)) => {
            " (the manager's file descriptor limit is reached: raise `ulimit -n`)"
        }
        (Step::Pipes, Some(libc::ENFILE)) => " (the system-wide file limit is reached)",
        (Step::Fork, Some(libc::EAGAIN)) => {
            " (process limit reached: the container's pids limit or `ulimit -u`)"
        }
        (Step::Groups | Step::Group | Step::User, Some(libc::EPERM)) => {
            " (only root can switch users; the manager runs unprivileged)"
        }
        _ => "",
    }
}

/// The message for a failed `execve`: which program, and for "not found", whether the file
/// was missing or its interpreter (`#!` line or ELF loader) was.
fn exec_message(spec: &SpawnSpec<'_>, program: &str, os: &io::Error) -> String {
    if os.raw_os_error() != Some(libc::ENOENT) {
        return format!("{program}: {os}");
    }
    let path = path_of(spec.env);
    let base = spec.cwd.unwrap_or(".");
    let listed = Candidates::new(program.as_bytes(), path).map_or(Vec::new(), |c| c.strings());
    let path = String::from_utf8_lossy(path);
    let on_disk = listed.into_iter().find(|c| {
        let full = if c.starts_with('/') {
            c.clone()
        } else {
            format!("{base}/{c}")
        };
        std::fs::metadata(&full).is_ok_and(|m| m.is_file())
    });
    match on_disk {
        Some(file) => {
            let interp = interpreter(spec.cwd, &file);
            format!("{file}: {os} (the file exists, so {interp} is missing)")
        }
        None if !program.contains('/') => format!("{program}: not found in PATH {path}: {os}"),
        None => format!("{program}: {os}"),
    }
}

/// Names the interpreter a program file asks for: its `#!` line, else the ELF loader.
fn interpreter(cwd: Option<&str>, file: &str) -> String {
    use std::io::Read;
    let full = match (file.starts_with('/'), cwd) {
        (false, Some(d)) => format!("{d}/{file}"),
        _ => file.to_owned(),
    };
    let mut head = [0u8; SHEBANG_BYTES];
    let n = std::fs::File::open(full)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let interp = text.split_ascii_whitespace().next().unwrap_or("");
        return format!("its interpreter {interp}");
    }
    "its dynamic loader (ELF interpreter)".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(&'static OsStr, &'static OsStr)> {
        vec![(OsStr::new("PATH"), OsStr::new("/usr/bin:/bin"))]
    }

    /// A child base of our own: stdin an empty pipe, a session per child, `/dev/null` for the
    /// streams not read when `discard` is given.
    fn base(discard: Option<OwnedFd>) -> ChildBase {
        ChildBase {
            stdin: ChildStdin::empty_pipe(None).unwrap(),
            session: true,
            discard,
        }
    }

    fn try_spawn(argv: &[&str], cwd: Option<&str>, creds: Option<&Credentials>) -> String {
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        let base = base(None);
        let e = env();
        match spawn(&SpawnSpec {
            argv: &argv,
            env: &e,
            cwd,
            credentials: creds,
            base: &base,
            capture: Capture::default(),
        }) {
            Ok(s) => {
                // Reap it here: unit tests have no event loop.
                let mut st = 0;
                // SAFETY: waitpid on our own child with a valid status pointer.
                unsafe { libc::waitpid(s.pid, &mut st, 0) };
                format!("ok {}", libc::WEXITSTATUS(st))
            }
            Err(e) => format!("{:?}: {e}", e.step),
        }
    }

    /// A stream that is not read is a copy of `/dev/null` when it could be opened, else still
    /// a pipe (whose lines the reactor then drops); a stream that is read is always a pipe.
    #[test]
    fn a_stream_not_read_is_dev_null_or_else_a_pipe() {
        let argv = vec!["true".to_owned()];
        let e = env();
        let null = ChildBase::open().unwrap().discard;
        assert!(null.is_some(), "/dev/null could not be opened for writing");
        for (discard, stdout_piped) in [(null, false), (None, true)] {
            let base = base(discard);
            let s = spawn(&SpawnSpec {
                argv: &argv,
                env: &e,
                cwd: None,
                credentials: None,
                base: &base,
                capture: Capture {
                    stdout: false,
                    stderr: true,
                },
            })
            .unwrap();
            let mut st = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            unsafe { libc::waitpid(s.pid, &mut st, 0) };
            assert_eq!(s.stdout.is_some(), stdout_piped);
            assert!(s.stderr.is_some());
        }
    }

    /// Runs `prog` with `PATH=path`, retrying while a script just written is busy (see
    /// `a_missing_interpreter_is_not_a_missing_program`).
    fn run_in_path(prog: &str, path: &str) -> String {
        let argv = vec![prog.to_owned()];
        let base = base(None);
        let e = vec![(OsStr::new("PATH"), OsStr::new(path))];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let r = spawn(&SpawnSpec {
                argv: &argv,
                env: &e,
                cwd: None,
                credentials: None,
                base: &base,
                capture: Capture::default(),
            });
            match r {
                Ok(s) => {
                    let mut st = 0;
                    // SAFETY: waitpid on our own child with a valid status pointer.
                    unsafe { libc::waitpid(s.pid, &mut st, 0) };
                    return format!("ok {}", libc::WEXITSTATUS(st));
                }
                Err(e)
                    if e.msg.contains("Text file busy") && std::time::Instant::now() < deadline =>
                {
                    std::thread::yield_now();
                }
                Err(e) => return format!("{:?}: {e}", e.step),
            }
        }
    }

    #[test]
    fn a_program_found_a_moment_ago_and_gone_is_searched_again() {
        let base = std::env::temp_dir().join(format!("spawn-found-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        for (d, code) in [(&a, 5), (&b, 6)] {
            std::fs::create_dir_all(d).unwrap();
            let f = d.join("found-prog");
            std::fs::write(&f, format!("#!/bin/sh\nexit {code}\n")).unwrap();
            std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let path = format!("{}:{}", a.display(), b.display());
        assert_eq!(run_in_path("found-prog", &path), "ok 5");
        // Found in `a` and remembered: the second start within FOUND_MS reuses it.
        assert_eq!(run_in_path("found-prog", &path), "ok 5");
        std::fs::remove_file(a.join("found-prog")).unwrap();
        // The remembered file is gone: posix_spawn fails, the search runs again and finds `b`.
        assert_eq!(run_in_path("found-prog", &path), "ok 6");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn tags_survive_the_round_trip() {
        for s in Step::CHILD {
            let e = s.tagged(io::Error::from_raw_os_error(libc::ENOENT));
            let (step, os) = Step::untag(e);
            assert_eq!(step, Some(s));
            assert_eq!(os.raw_os_error(), Some(libc::ENOENT));
        }
        let (step, os) = Step::untag(io::Error::from_raw_os_error(libc::EAGAIN));
        assert_eq!(step, None);
        assert_eq!(os.raw_os_error(), Some(libc::EAGAIN));
    }

    #[test]
    fn candidates_follow_execvp() {
        let list = |p: &str, path: &str| {
            Candidates::new(p.as_bytes(), path.as_bytes()).map(|c| c.strings())
        };
        assert_eq!(list("/bin/sh", "/x"), Ok(vec!["/bin/sh".to_owned()]));
        assert_eq!(list("./run", "/x"), Ok(vec!["./run".to_owned()]));
        assert_eq!(
            list("sh", "/a/:/b:::/"),
            Ok(["/a/sh", "/b/sh", "./sh", "./sh", "/sh"]
                .map(String::from)
                .to_vec())
        );
        assert_eq!(list("", "/a"), Ok(vec![]));
        assert!(list("s\0h", "/a").is_err());
    }

    #[test]
    fn runs_a_program_found_in_path() {
        assert_eq!(try_spawn(&["sh", "-c", "exit 3"], None, None), "ok 3");
        assert_eq!(
            try_spawn(&["sh", "-c", "exit 4"], Some("/tmp"), None),
            "ok 4"
        );
        // stdin reads as end-of-file at once.
        assert_eq!(
            try_spawn(&["sh", "-c", "read x; exit $?"], None, None),
            "ok 1"
        );
    }

    #[test]
    fn names_the_step_that_failed() {
        let m = try_spawn(&["no-such-program-xyz"], None, None);
        assert_eq!(
            m,
            "Exec: no-such-program-xyz: not found in PATH /usr/bin:/bin: No such file or \
             directory (os error 2)"
        );
        let m = try_spawn(&["/nonexistent/prog"], None, None);
        assert_eq!(
            m,
            "Exec: /nonexistent/prog: No such file or directory (os error 2)"
        );
        let m = try_spawn(&["sh"], Some("/nonexistent-dir"), None);
        assert_eq!(
            m,
            "WorkingDir: working_dir /nonexistent-dir: No such file or directory (os error 2)"
        );
        let m = try_spawn(&["/etc/passwd"], None, None);
        assert_eq!(m, "Exec: /etc/passwd: Permission denied (os error 13)");
        assert_eq!(try_spawn(&[], None, None), "Exec: empty command");
    }

    #[test]
    fn a_missing_interpreter_is_not_a_missing_program() {
        let dir = std::env::temp_dir().join(format!("spawn-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("run.sh");
        std::fs::write(&script, "#!/no/such/shell -e\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let s = script.to_string_lossy().into_owned();
        // Another test thread forking while the script's write descriptor was open may hold
        // it until its exec (the classic ETXTBSY race of writing then running a file in a
        // multi-threaded process): try again until that copy is gone, within a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut m = try_spawn(&[&s], None, None);
        while m.contains("Text file busy") && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            m = try_spawn(&[&s], None, None);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            m,
            format!(
                "Exec: {s}: No such file or directory (os error 2) (the file exists, so its \
                 interpreter /no/such/shell is missing)"
            )
        );
    }
}
