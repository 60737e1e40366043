//! The system side of the tini-compatible single-command mode (`phpeek-pm -- CMD`): a child
//! that gets everything the manager was given, untouched — stdin, stdout, stderr and any other
//! inherited descriptor, the environment, and the signal mask and ignored signals the manager
//! was *started* with.
//!
//! That last part needs care, because by the time `main` runs two things have already changed:
//! Rust's runtime has set SIGPIPE to "ignore", and nothing records what it was before. So the
//! original mask and the set of ignored signals are read by a constructor in `.init_array`,
//! which the C runtime runs before Rust's own start-up code (and before any thread exists); the
//! child gets exactly those back between `fork` and `exec`. (YAML mode does the opposite on
//! purpose: its children always start with an empty mask and default dispositions.)
//!
//! The child is put in a process group of its own (like tini, so `-g` can signal the group
//! and a terminal's job control sees one job), and it takes the terminal's foreground only if
//! the manager had it.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// The signal mask the process started with (bit n-1 = signal n).
static START_MASK: AtomicU64 = AtomicU64::new(0);
/// The signals whose disposition was `SIG_IGN` at start (bit n-1 = signal n).
static START_IGNORED: AtomicU64 = AtomicU64::new(0);

/// Size of the kernel's `sigset_t` on Linux (64 signals).
const SIGSET_SIZE: usize = 8;

/// Registered in `.init_array`: the C runtime calls it before `main` (and before Rust's
/// runtime ignores SIGPIPE).
#[used]
#[unsafe(link_section = ".init_array")]
static CAPTURE_AT_START: extern "C" fn() = capture_at_start;

/// Records the signal mask and the ignored signals as our parent left them.
extern "C" fn capture_at_start() {
    let mut mask: u64 = 0;
    let mut ignored: u64 = 0;
    // SAFETY: raw rt_sigprocmask with a null new set only reads the mask into a live 8-byte
    // buffer; rt_sigaction with a null new action only reads the old one into a zeroed buffer
    // at least as large as the kernel's struct sigaction (whose first field, on x86_64 and
    // aarch64, is the handler). No allocation, no locks: safe before `main`.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<u64>(),
            &mut mask as *mut u64,
            SIGSET_SIZE,
        );
        for sig in 1..=64i32 {
            let mut old = [0u64; 4];
            let rc = libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<u64>(),
                old.as_mut_ptr(),
                SIGSET_SIZE,
            );
            if rc == 0 && old[0] == libc::SIG_IGN as u64 {
                ignored |= 1u64 << (sig - 1);
            }
        }
    }
    START_MASK.store(mask, Ordering::Relaxed);
    START_IGNORED.store(ignored, Ordering::Relaxed);
}

/// The signal state the manager was started with: what the child inherits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartSignals {
    /// Blocked signals (bit n-1 = signal n).
    pub mask: u64,
    /// Ignored signals (bit n-1 = signal n).
    pub ignored: u64,
}

/// What [`capture_at_start`] recorded.
pub fn start_signals() -> StartSignals {
    StartSignals {
        mask: START_MASK.load(Ordering::Relaxed),
        ignored: START_IGNORED.load(Ordering::Relaxed),
    }
}

/// In the child: every disposition back to default, or to ignore where it was ignored at
/// start, then the start mask. Raw syscalls, so the signals libc keeps for itself (32-34) are
/// restored too; async-signal-safe.
fn restore(s: StartSignals) {
    // SAFETY: rt_sigaction with a zeroed kernel sigaction (handler SIG_DFL or SIG_IGN, no
    // flags, empty mask, no restorer: none is needed for those two handlers) and a null
    // old-action pointer; rt_sigprocmask with a live 8-byte set. SIGKILL/SIGSTOP fail with
    // EINVAL, which is ignored.
    unsafe {
        for sig in 1..=64i32 {
            let handler = if s.ignored & (1u64 << (sig - 1)) != 0 {
                libc::SIG_IGN as u64
            } else {
                libc::SIG_DFL as u64
            };
            let act = [handler, 0u64, 0, 0];
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                act.as_ptr(),
                std::ptr::null_mut::<u64>(),
                SIGSET_SIZE,
            );
        }
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &s.mask as *const u64,
            std::ptr::null_mut::<u64>(),
            SIGSET_SIZE,
        );
    }
}

/// Whether our process group is the foreground group of the terminal on stdin
/// (`tcgetpgrp(0) == getpgrp()`); false when stdin is not a terminal.
pub fn owns_terminal() -> bool {
    // SAFETY: tcgetpgrp on fd 0 and getpgrp take and return plain integers; a stdin that is
    // not a terminal makes tcgetpgrp fail with ENOTTY (-1, never equal to a process group).
    unsafe { libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Starts `argv` (looked up in `PATH` like `execvp`) with our stdio, descriptors and
/// environment, in a new process group whose id is its pid, with the start signal state, and
/// as the terminal's foreground group when `take_terminal`. Returns its pid. An `exec` failure
/// comes back as the error (`ENOENT`, `EACCES`, ...).
pub fn spawn(argv: &[OsString], start: StartSignals, take_terminal: bool) -> io::Result<i32> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    // SAFETY: the closure runs in the forked child before exec and makes only async-signal-safe
    // calls (setpgid, getpgrp, tcsetpgrp, rt_sigaction, rt_sigprocmask) on values copied in
    // before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Still with every signal blocked (inherited from the manager), so a background
            // tcsetpgrp cannot stop us with SIGTTOU. Best effort: a terminal we cannot take
            // is not a reason not to run.
            if take_terminal {
                libc::tcsetpgrp(0, libc::getpgrp());
            }
            restore(start);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // Dropped without waiting: the caller reaps every child in one loop.
    Ok(child.id() as i32)
}

/// Asks the kernel to send us `sig` when our parent exits (`prctl(PR_SET_PDEATHSIG)`).
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a plain signal number.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Our parent's pid (`getppid(2)`); 0 when we are PID 1 of a namespace.
pub fn parent_pid() -> i32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
}

/// Sends `sig` to ourselves (`kill(getpid(), sig)`): with it blocked, it waits in the
/// signalfd like any other.
pub fn raise(sig: i32) {
    // SAFETY: kill on our own pid with a plain signal number.
    unsafe {
        libc::kill(libc::getpid(), sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constructor_ran_and_saw_sigpipe_before_rust_ignored_it() {
        // The test harness is started by cargo with SIGPIPE at its default; Rust's runtime
        // ignores it before `main`, the constructor ran earlier.
        let ignored_now = {
            let mut old = [0u64; 4];
            // SAFETY: read-only rt_sigaction into a large enough zeroed buffer.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    libc::SIGPIPE,
                    std::ptr::null::<u64>(),
                    old.as_mut_ptr(),
                    SIGSET_SIZE,
                );
            }
            old[0] == libc::SIG_IGN as u64
        };
        assert!(ignored_now, "Rust's runtime ignores SIGPIPE");
        let bit = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(start_signals().ignored & bit, 0, "{:?}", start_signals());
    }
}
