//! Starting a child the way PID 1 must: its own session and process group, only fds 0-2, stdin
//! from `/dev/null`, stdout/stderr to non-blocking pipes we read, an empty signal mask and
//! default dispositions, and optionally another user and group.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
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
    /// The complete environment of the child.
    pub env: &'a [(OsString, OsString)],
    pub cwd: Option<&'a str>,
    pub credentials: Option<&'a Credentials>,
}

/// A started child.
pub struct Spawned {
    pub pid: i32,
    /// `None` on kernels without pidfd.
    pub pidfd: Option<OwnedFd>,
    /// Read ends of the child's stdout and stderr, non-blocking and close-on-exec.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Forks and execs `spec.argv` (`argv[0]` looked up in the child's `PATH`). The error says what
/// failed in words a user can act on (`No such file or directory`, `Permission denied`, ...).
pub fn spawn(spec: &SpawnSpec<'_>) -> io::Result<Spawned> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = spec.cwd {
        cmd.current_dir(dir);
    }
    let creds = spec.credentials.cloned();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (setsid, setgroups, setgid, setuid, sigprocmask, signal,
    // close_range); it allocates nothing (the credentials were cloned before the fork).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(c) = &creds {
                if libc::setgroups(c.groups.len() as _, c.groups.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setgid(c.gid) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setuid(c.uid) != 0 {
                    return Err(io::Error::last_os_error());
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
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(io::Error::other("child pipes missing"));
    };
    let stdout: OwnedFd = out.into();
    let stderr: OwnedFd = err.into();
    super::set_nonblocking(stdout.as_fd())?;
    super::set_nonblocking(stderr.as_fd())?;
    let pidfd = super::pidfd_open(pid).unwrap_or(None);
    // `child` is dropped without waiting: reaping happens in one place, the event loop.
    drop(child);
    Ok(Spawned {
        pid,
        pidfd,
        stdout,
        stderr,
    })
}
