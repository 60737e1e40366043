//! The only module allowed to use `unsafe`: the few Linux calls the rest of the program needs
//! that rustix does not offer safely (signal masks, signalfd, `kill(-1)`, the child-side set-up
//! between `fork` and `exec`), plus thin safe wrappers over rustix for the rest, and the SSE2
//! byte classification of the log path (`simd`, and `scan` for log processing).
//!
//! Every function says which syscall it makes; see the matching man page for details.
#![allow(unsafe_code)]

#[cfg(feature = "scheduler")]
pub mod clock;
pub mod passthrough;
#[cfg(feature = "log-processing")]
pub mod scan;
pub mod signals;
pub mod simd;
pub mod spawn;

use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::OFlags;
use rustix::process::WaitOptions;

/// Sets `O_NONBLOCK` on a descriptor (`fcntl(F_SETFL)`).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
    Ok(())
}

/// Restores the file status flags read earlier (`fcntl(F_SETFL)`).
pub fn set_status_flags(fd: BorrowedFd<'_>, flags: OFlags) -> io::Result<()> {
    rustix::fs::fcntl_setfl(fd, flags)?;
    Ok(())
}

/// Reads the file status flags (`fcntl(F_GETFL)`).
pub fn status_flags(fd: BorrowedFd<'_>) -> io::Result<OFlags> {
    Ok(rustix::fs::fcntl_getfl(fd)?)
}

/// What kind of file a descriptor refers to, as far as output handling cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// A pipe or a socket: can be made non-blocking and polled.
    Stream,
    /// A terminal, a regular file, `/dev/null`: written with plain blocking writes.
    Other,
}

/// Classifies a descriptor with `fstat(2)`.
pub fn fd_kind(fd: BorrowedFd<'_>) -> FdKind {
    match rustix::fs::fstat(fd) {
        Ok(st) => {
            let t = rustix::fs::FileType::from_raw_mode(st.st_mode);
            if matches!(t, rustix::fs::FileType::Fifo | rustix::fs::FileType::Socket) {
                FdKind::Stream
            } else {
                FdKind::Other
            }
        }
        Err(_) => FdKind::Other,
    }
}

/// Marks every descriptor from 3 upwards close-on-exec, so that whatever our own parent leaked
/// to us never reaches a child (`close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`, Linux 5.11). On older
/// kernels it walks `/proc/self/fd` instead.
pub fn cloexec_inherited_fds() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags; it closes
    // nothing and touches no memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return;
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        for entry in dir.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if fd > 2 {
                // SAFETY: F_GETFD/F_SETFD on a number that may or may not be open; an invalid
                // descriptor just returns EBADF.
                unsafe {
                    let f = libc::fcntl(fd, libc::F_GETFD);
                    if f >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, f | libc::FD_CLOEXEC);
                    }
                }
            }
        }
    }
}

/// Becomes the child subreaper of our descendants (`prctl(PR_SET_CHILD_SUBREAPER)`), so that
/// orphans are re-parented to us instead of to the real init.
pub fn become_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    Ok(())
}

/// Ends the process now with `code` (`_exit(2)`): no destructors, no teardown of std's
/// runtime (the main thread's signal stack, an `munmap`; buffer frees), no `atexit` handlers.
/// For the manager's last step only, once its output is flushed; std's own stdout must be
/// unused by then (the manager writes fd 1 through its own queue, never `print!`).
pub fn exit_now(code: u8) -> ! {
    // SAFETY: `_exit` accepts any status, never returns, and touches no memory of ours.
    unsafe { libc::_exit(i32::from(code)) }
}

/// Our own process id (`getpid(2)`).
pub fn pid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// Our real user id (`getuid(2)`).
pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)`.
    Code(i32),
    /// It was killed by a signal.
    Signal(i32),
}

/// Reaps one child of ours that has ended, whichever it is (`waitpid(-1, WNOHANG)`).
/// `None` when no child has ended (or there are no children at all).
pub fn reap_one() -> Option<(i32, ExitStatus)> {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                let st = if let Some(code) = status.exit_status() {
                    ExitStatus::Code(code)
                } else if let Some(sig) = status.terminating_signal() {
                    ExitStatus::Signal(sig)
                } else {
                    // Stopped/continued reports are not asked for; keep looking.
                    continue;
                };
                return Some((pid.as_raw_nonzero().get(), st));
            }
            Ok(None) => return None,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
}

/// Whether we have any child left, ended or not (`waitid(P_ALL, WNOHANG|WNOWAIT|WEXITED)`,
/// which reaps nothing: only `ECHILD` says there are none).
pub fn children_remain() -> bool {
    use rustix::process::{WaitId, WaitIdOptions};
    let opts = WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT | WaitIdOptions::EXITED;
    !matches!(
        rustix::process::waitid(WaitId::All, opts),
        Err(rustix::io::Errno::CHILD)
    )
}

/// Sends `sig` to every process of the group `pgid` (`kill(-pgid, sig)`). A process-group id is
/// not reused while any member lives, so this never hits a stranger.
pub fn signal_group(pgid: i32, sig: i32) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill(2) takes plain integers; pgid > 1 was checked so this never means "all".
    let rc = unsafe { libc::kill(-pgid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether any process of the group `pgid` still exists (`kill(-pgid, 0)`).
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission; nothing is delivered.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Sends `sig` to one process (`kill(pid, sig)`). Only ever used for a child of ours not yet
/// reaped: its pid cannot have been handed to another process.
pub fn signal_process(pid: i32, sig: i32) -> io::Result<()> {
    if pid <= 1 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: plain integers; pid > 1.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends SIGKILL to every process we may signal (`kill(-1, SIGKILL)`). Only ever used as PID 1
/// of a namespace at final shutdown, where "every process" is exactly the container.
pub fn kill_everything() {
    // SAFETY: kill(2) with plain integers; callers only use it as PID 1 of a PID namespace.
    unsafe {
        libc::kill(-1, libc::SIGKILL);
    }
}

/// Our direct children right now, from `/proc/self/task/*/children` (CONFIG_PROC_CHILDREN), or
/// else by scanning the parent pid of every `/proc/<pid>/stat`. Used at final shutdown to find
/// re-parented processes that escaped their group with `setsid`.
pub fn direct_children() -> Vec<i32> {
    let mut out = Vec::new();
    let mut have_children_file = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let mut p = t.path();
            p.push("children");
            if let Ok(s) = std::fs::read_to_string(&p) {
                have_children_file = true;
                out.extend(
                    s.split_ascii_whitespace()
                        .filter_map(|x| x.parse::<i32>().ok()),
                );
            }
        }
    }
    if have_children_file {
        return out;
    }
    let me = pid();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, ...
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_ascii_whitespace().nth(1))
            .and_then(|x| x.parse::<i32>().ok());
        if ppid == Some(me) {
            out.push(child);
        }
    }
    out
}

/// Monotonic time in milliseconds since the first call (`clock_gettime(CLOCK_MONOTONIC)`), the
/// clock of every deadline in the program. Read through std (libc's vDSO): rustix's own vDSO
/// lookup crashes under valgrind, which we use to count instructions.
pub fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    // Offset by a day so that "now minus a delay" never underflows near the start.
    86_400_000 + start.elapsed().as_millis() as u64
}

/// Wall-clock time as (seconds, milliseconds) since the Unix epoch
/// (`clock_gettime(CLOCK_REALTIME)`), used only for log timestamps.
pub fn realtime() -> (i64, u32) {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
        Err(e) => {
            let d = e.duration();
            let ms = d.subsec_millis();
            let secs = -(d.as_secs() as i64) - i64::from(ms > 0);
            (secs, if ms > 0 { 1000 - ms } else { 0 })
        }
    }
}

/// A seed for backoff jitter: not security-relevant, just different per run.
pub fn seed() -> u64 {
    let (secs, ms) = realtime();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    (nanos ^ ((secs as u64) << 20) ^ u64::from(ms) ^ ((pid() as u64) << 40)) | 1
}

/// The uid and pid of a Unix-socket peer (`SO_PEERCRED`, socket(7)); the pid is 0 when the
/// peer lives outside our pid namespace. `None` if the kernel refuses.
#[allow(unsafe_code)]
#[cfg(any(feature = "api", feature = "metrics"))]
pub fn peer_credentials(fd: BorrowedFd<'_>) -> Option<(u32, i32)> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is the size of `cred`; the
    // descriptor is borrowed, so it stays open for the call.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    (r == 0).then_some((cred.uid, cred.pid))
}
