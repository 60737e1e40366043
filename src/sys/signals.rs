//! Signal mask and signalfd: the first thing `main` does is block every asynchronous signal so
//! that all of them arrive through one descriptor in the event loop (no handlers, no flags).
//! rustix has neither `signalfd` nor a stable `sigprocmask`, so these wrap libc.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Signals the kernel raises synchronously for a fault in our own code: they stay unblocked
/// so a bug crashes loudly instead of hanging PID 1.
const FAULT_SIGNALS: [i32; 6] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGTRAP,
];

/// The set of signals we block and read from the signalfd.
pub struct BlockedSet(libc::sigset_t);

/// Set once [`block_all`] has put every disposition back to the default: children then only
/// need their mask restored, not 64 `rt_sigaction` calls each (measured: most of a spawn's
/// time in the child before `execve`, and the manager waits for that `execve`).
static DEFAULT_DISPOSITIONS: AtomicBool = AtomicBool::new(false);

/// The last line a panic of a tiny build leaves (see [`fault_line`]).
const FAULT_LINE: &[u8] = b"phpeek-pm: fatal internal error (SIGILL): a panic in a build without \
panic messages (make build-tiny) or a bug; the release build prints the panic's message\n";

/// Sets every signal's disposition to the default (raw `rt_sigaction`: libc's `signal()`
/// refuses the real-time ones it reserves). SIGKILL/SIGSTOP fail with EINVAL, ignored.
fn default_dispositions() {
    // The kernel's sigaction for SIG_DFL is all zeros (handler 0, no flags, empty mask), so a
    // zeroed buffer is right whatever the architecture's field layout.
    let zero = [0u64; 4];
    for s in 1..=64 {
        // SAFETY: raw rt_sigaction with a pointer to a live, correctly sized buffer
        // (sigsetsize 8 = the kernel's sigset_t on Linux); the old-value pointer is null.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                s,
                zero.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
    }
}

/// SIGILL handler: a tiny build (`-C panic=immediate-abort`) ends a panic with an illegal
/// instruction and no message of its own, so this writes one fixed line to stderr. Then the
/// signal acts as it would have without us: `SA_RESETHAND` restored the default action and
/// `raise` delivers it at once (`SA_NODEFER`); after a real fault, returning re-executes the
/// instruction, which kills even PID 1. Only async-signal-safe calls (`write`, `raise`).
extern "C" fn fault_line(_: libc::c_int) {
    // SAFETY: write(2) of a static buffer to fd 2 (the result is irrelevant), then raise(3).
    unsafe {
        libc::write(2, FAULT_LINE.as_ptr().cast(), FAULT_LINE.len());
        libc::raise(libc::SIGILL);
    }
}

fn install_fault_line() {
    // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the handler is an
    // `extern "C" fn(c_int)` as sa_sigaction expects without SA_SIGINFO.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = fault_line as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESETHAND | libc::SA_NODEFER;
        libc::sigaction(libc::SIGILL, &sa, std::ptr::null_mut());
    }
}

/// Blocks every signal except the fault set (`sigprocmask(SIG_SETMASK)`) and returns the set.
pub fn block_all() -> io::Result<BlockedSet> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set it is given; sigdelset/sigprocmask read the
    // initialised set; the old-mask pointer may be null.
    unsafe {
        if libc::sigfillset(set.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut set = set.assume_init();
        for s in FAULT_SIGNALS {
            libc::sigdelset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Every signal is blocked or a fault now: default dispositions change nothing for us
        // (a broken stdout pipe stays EPIPE, its SIGPIPE merely pending), and an ignored
        // SIGCHLD inherited from our parent would have hidden our children's exits.
        default_dispositions();
        DEFAULT_DISPOSITIONS.store(true, Ordering::Relaxed);
        install_fault_line();
        Ok(BlockedSet(set))
    }
}

/// Creates a non-blocking, close-on-exec signalfd for the blocked set (`signalfd(2)`).
pub fn signalfd(set: &BlockedSet) -> io::Result<OwnedFd> {
    // SAFETY: -1 asks for a new descriptor; the set is initialised; on success we own the fd.
    unsafe {
        let fd = libc::signalfd(-1, &set.0, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reads one pending signal from the signalfd; `None` when none is pending.
pub fn read_signal(fd: &OwnedFd) -> Option<i32> {
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::zeroed();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: we read at most `size` bytes into a buffer of exactly that size.
        let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
        if n == size as isize {
            // SAFETY: the kernel filled the whole struct.
            let info = unsafe { info.assume_init() };
            return Some(info.ssi_signo as i32);
        }
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// How many signals [`read_signals`] takes per `read`.
pub const BATCH: usize = 8;

/// Reads up to [`BATCH`] pending signals from the signalfd with one `read` and returns how many
/// it put in `out`. Fewer than `BATCH` means none was left pending (the kernel fills the buffer
/// while signals are queued), so the caller need not read again to see `EAGAIN`: a signal that
/// comes later makes the descriptor readable anew.
pub fn read_signals(fd: &OwnedFd, out: &mut [i32; BATCH]) -> usize {
    let mut info = [MaybeUninit::<libc::signalfd_siginfo>::zeroed(); BATCH];
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: we read at most `BATCH * size` bytes into a buffer of exactly that size
        // (an array of `BATCH` structs with no padding between them).
        let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), BATCH * size) };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        // The kernel writes whole structs only; an error or nothing read counts as none.
        let got = usize::try_from(n).unwrap_or(0) / size;
        for (o, i) in out.iter_mut().zip(&info[..got]) {
            // SAFETY: the kernel filled the first `got` structs completely.
            *o = unsafe { i.assume_init_ref() }.ssi_signo as i32;
        }
        return got;
    }
}

/// Whether every signal disposition is the default (after [`block_all`]), so a child started
/// without our own reset gets the defaults too.
pub fn defaults_in_place() -> bool {
    DEFAULT_DISPOSITIONS.load(Ordering::Relaxed)
}

/// Restores what a freshly exec'd program expects: an empty signal mask, and (unless
/// [`block_all`] already did it once for the manager) the default disposition for every
/// signal, including the real-time ones libc reserves for itself. Called in the child between
/// `fork` and `exec`, so it only makes async-signal-safe calls.
pub fn reset_for_child() {
    let empty_mask = 0u64;
    // SAFETY: raw rt_sigprocmask with a pointer to a live, correctly sized buffer (sigsetsize 8
    // = the kernel's sigset_t on Linux); the old-value pointer is null.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty_mask as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
    }
    // Handlers do not survive exec; ignored signals would. After `block_all` there are none.
    if !DEFAULT_DISPOSITIONS.load(Ordering::Relaxed) {
        default_dispositions();
    }
}

/// Signals we accept by name in configuration, with their numbers.
const NAMES: [(&str, i32); 18] = [
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGABRT", libc::SIGABRT),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGWINCH", libc::SIGWINCH),
];

pub const SIGHUP: i32 = libc::SIGHUP;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGQUIT: i32 = libc::SIGQUIT;
pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGKILL: i32 = libc::SIGKILL;
pub const SIGSTOP: i32 = libc::SIGSTOP;
pub const SIGCHLD: i32 = libc::SIGCHLD;
pub const SIGUSR1: i32 = libc::SIGUSR1;
pub const SIGUSR2: i32 = libc::SIGUSR2;
pub const SIGWINCH: i32 = libc::SIGWINCH;

/// Parses `SIGTERM`, `TERM`, `term` or `15`.
pub fn by_name(s: &str) -> Option<i32> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = t.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    NAMES.iter().find(|(n, _)| n[3..] == *bare).map(|(_, v)| *v)
}

/// `SIGTERM` for 15; `SIG42` for numbers without a name here. Borrowed for the named ones:
/// every stop and every exit by a signal is logged with its name.
pub fn name(sig: i32) -> std::borrow::Cow<'static, str> {
    match NAMES.iter().find(|(_, v)| *v == sig) {
        Some((n, _)) => std::borrow::Cow::Borrowed(n),
        None => std::borrow::Cow::Owned(format!("SIG{sig}")),
    }
}
