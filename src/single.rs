//! Single-command mode, a drop-in for tini: `phpeek-pm [-s] [-g] [-e CODE]... [-p SIGNAL]
//! [-v]... [-w] [-l] [-h] -- CMD [ARGS...]`.
//!
//! No configuration is read and nothing is logged as JSON: the manager is PID 1 (or a child
//! subreaper) for exactly one child that gets the manager's own stdin, stdout, stderr, other
//! descriptors, environment, and the signal mask and ignored signals it was started with.
//! The whole mode is one small loop, like tini's:
//!
//! ```text
//! parse → block signals, signalfd → [-p] parent-death signal → subreaper unless PID 1
//!       → spawn CMD in its own process group
//!       → loop { wait on the signalfd; forward every signal but SIGCHLD to CMD (or, with -g,
//!                its group); reap every ended child (orphans too); CMD ended? exit }
//! ```
//!
//! Exit code: CMD's, or 128+n when signal n ended it; `-e CODE` maps CODE to 0. When CMD
//! cannot be executed: 127 (not found) or 126 (not executable), as a shell would say. A usage
//! error is 2. The manager exits as soon as CMD has ended and the children that had ended by
//! then are reaped (tini does the same): as PID 1 the kernel then ends the rest of the
//! namespace; as a subreaper the rest passes to our own parent.

use std::ffi::OsString;
use std::os::fd::OwnedFd;

use crate::sys;
use crate::sys::signals;

/// Single-command mode's own usage (the general one mentions it in one line).
pub const USAGE: &str = "\
Usage: phpeek-pm [-s] [-g] [-e CODE]... [-p SIGNAL] [-v]... [-w] [-l] [-h] -- CMD [ARGS...]

Runs CMD as the only child, the way tini does: signals are forwarded to it, orphans are
reaped, and phpeek-pm exits with CMD's exit code (128+n when signal n ended it). No
configuration file is read; CMD's stdin, stdout and stderr are phpeek-pm's own.

Options (before --):
  -s         register as a child subreaper (the default anyway when not PID 1)
  -g         forward signals to CMD's process group instead of CMD alone
  -e CODE    exit 0 when CMD exits with CODE (0-255; repeatable)
  -p SIGNAL  have the kernel send SIGNAL to phpeek-pm when its parent dies (forwarded to CMD)
  -v         say what happens on stderr (repeat for more)
  -w         print a line on stderr for every orphan reaped
  -l         print the licence and exit
  -h         print this help and exit

Environment: TINI_SUBREAPER (set: like -s), TINI_KILL_PROCESS_GROUP (set: like -g),
TINI_VERBOSITY=N (like N times -v). CMD gets the environment unchanged.
";

/// Exit code for a usage error (INTERFACE.md's).
const USAGE_ERROR: u8 = crate::exit::USAGE;
/// Exit code when CMD was not found, and when it is not executable (the shell's convention).
const NOT_FOUND: u8 = 127;
const NOT_EXECUTABLE: u8 = 126;
/// Exit code when the manager itself cannot set up (signals, signalfd, parent-death signal).
const SETUP_FAILED: u8 = crate::exit::STARTUP;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// `-g` / `TINI_KILL_PROCESS_GROUP`: signals go to CMD's process group.
    pub group: bool,
    /// `-s` / `TINI_SUBREAPER`: asked for explicitly (a failure is then fatal).
    pub subreaper: bool,
    /// `-e`: exit codes mapped to 0 (bit n = code n).
    pub expect: [u64; 4],
    /// `-p`: the parent-death signal.
    pub pdeathsig: Option<i32>,
    /// `-v` count (or `TINI_VERBOSITY`).
    pub verbosity: u32,
    /// `-w`: report every reaped orphan.
    pub warn_on_reap: bool,
    pub argv: Vec<OsString>,
}

/// What `parse` decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
    Licence,
}

/// Whether the command line is single-command mode: it has a `--`, and no subcommand word of
/// YAML mode comes before it (`phpeek-pm logs -- x` stays the client's business). Options
/// before the `--` are checked by `parse`, so `phpeek-pm -c x.yaml -- cmd` is a usage error
/// naming `-c`, not YAML mode.
pub fn requested(args: &[OsString]) -> bool {
    let Some(end) = args.iter().position(|a| a == "--") else {
        return false;
    };
    !args[..end]
        .iter()
        .any(|a| a.to_str().is_some_and(crate::cli::is_subcommand))
}

/// Parses everything up to the first `--` as tini's options (short flags, which may be
/// combined: `-gvv`, `-e3`); everything after it is CMD. `env` gives the `TINI_*` variables.
pub fn parse(args: &[OsString], env: impl Fn(&str) -> Option<OsString>) -> Result<Parsed, String> {
    use lexopt::prelude::*;
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut o = Options {
        group: env("TINI_KILL_PROCESS_GROUP").is_some(),
        subreaper: env("TINI_SUBREAPER").is_some(),
        expect: [0; 4],
        pdeathsig: None,
        verbosity: env("TINI_VERBOSITY")
            .and_then(|v| v.to_str()?.trim().parse().ok())
            .unwrap_or(0),
        warn_on_reap: false,
        argv: args.get(end + 1..).unwrap_or_default().to_vec(),
    };
    let mut p = lexopt::Parser::from_args(args[..end].iter().cloned());
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('s') => o.subreaper = true,
            Short('g') => o.group = true,
            Short('v') => o.verbosity += 1,
            Short('w') => o.warn_on_reap = true,
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('l') => return Ok(Parsed::Licence),
            Short('e') => {
                let v = p.value().map_err(|e| e.to_string())?;
                let code = v
                    .to_str()
                    .and_then(|s| s.parse::<u8>().ok())
                    .ok_or_else(|| format!("-e takes an exit code from 0 to 255, not {v:?}"))?;
                o.expect[usize::from(code / 64)] |= 1u64 << (code % 64);
            }
            Short('p') => {
                let v = p.value().map_err(|e| e.to_string())?;
                let sig = v
                    .to_str()
                    .and_then(signals::by_name)
                    .ok_or_else(|| format!("-p takes a signal (SIGTERM, TERM, 15), not {v:?}"))?;
                o.pdeathsig = Some(sig);
            }
            Value(v) => {
                return Err(format!(
                    "unexpected argument {v:?} before --: single-command mode takes only \
                     -s, -g, -e CODE, -p SIGNAL, -v, -w, -l, -h there"
                ));
            }
            other => {
                return Err(format!(
                    "{}: single-command mode takes -s, -g, -e CODE, -p SIGNAL, -v, -w, -l, -h",
                    other.unexpected()
                ));
            }
        }
    }
    if o.argv.is_empty() {
        return Err("no command after --".to_owned());
    }
    Ok(Parsed::Run(o))
}

/// Entry point from `main` (arguments without the program name). Returns the exit code.
pub fn main(args: &[OsString]) -> u8 {
    let o = match parse(args, |k| std::env::var_os(k)) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            crate::say(USAGE);
            return crate::exit::OK;
        }
        Ok(Parsed::Licence) => {
            crate::say(&format!(
                "phpeek-pm {} is released under the {} licence; tini's options are \
                 re-implemented, none of its code is included.\n",
                env!("CARGO_PKG_VERSION"),
                env!("CARGO_PKG_LICENSE")
            ));
            return crate::exit::OK;
        }
        Err(e) => {
            eprintln!("phpeek-pm: {e}\n\n{USAGE}");
            return USAGE_ERROR;
        }
    };
    run(&o)
}

/// Messages on stderr, by verbosity (stdout belongs to CMD).
struct Say {
    verbosity: u32,
}

impl Say {
    fn at(&self, level: u32, msg: impl FnOnce() -> String) {
        if self.verbosity >= level {
            eprintln!("phpeek-pm: {}", msg());
        }
    }
}

fn run(o: &Options) -> u8 {
    let say = Say {
        verbosity: o.verbosity,
    };
    // Read before anything can make it change: if the parent is gone by the time the
    // parent-death signal is armed, the kernel will never send it, so we raise it ourselves.
    let parent = sys::passthrough::parent_pid();
    let start = sys::passthrough::start_signals();
    // Every signal but the fault set goes to the signalfd from here on; the child gets the
    // start state back before exec.
    let sigfd = match signals::block_all().and_then(|set| signals::signalfd(&set)) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("phpeek-pm: cannot set up signal handling: {e}");
            return SETUP_FAILED;
        }
    };
    if let Some(sig) = o.pdeathsig {
        if let Err(e) = sys::passthrough::set_parent_death_signal(sig) {
            eprintln!("phpeek-pm: cannot set the parent-death signal: {e}");
            return SETUP_FAILED;
        }
        if sys::passthrough::parent_pid() != parent {
            sys::passthrough::raise(sig);
        }
    }
    if sys::pid() != 1 {
        // Our default in every mode, so -s only makes a failure fatal.
        match sys::become_subreaper() {
            Ok(()) => say.at(3, || "registered as child subreaper".to_owned()),
            Err(e) if o.subreaper => {
                eprintln!("phpeek-pm: cannot become a child subreaper: {e}");
                return SETUP_FAILED;
            }
            Err(e) => eprintln!(
                "phpeek-pm: cannot become a child subreaper ({e}): orphans go to the real init"
            ),
        }
    }
    let take_terminal = sys::passthrough::owns_terminal();
    let child = match sys::passthrough::spawn(&o.argv, start, take_terminal) {
        Ok(pid) => pid,
        Err(e) => {
            let cmd = o.argv[0].to_string_lossy();
            eprintln!("phpeek-pm: cannot run {cmd}: {e}");
            return match e.raw_os_error() {
                Some(libc::ENOENT) => NOT_FOUND,
                Some(libc::EACCES | libc::ENOEXEC | libc::EISDIR) => NOT_EXECUTABLE,
                _ => SETUP_FAILED,
            };
        }
    };
    say.at(2, || {
        format!("started {} as pid {child}", o.argv[0].to_string_lossy())
    });
    let code = supervise(o, &say, &sigfd, child);
    say.at(2, || format!("exiting with {code}"));
    code
}

/// The loop: forward signals, reap, until the child has ended. Returns the exit code.
fn supervise(o: &Options, say: &Say, sigfd: &OwnedFd, child: i32) -> u8 {
    loop {
        // Blocks until a signal is pending (SIGCHLD included): no timer, no periodic wake-up.
        if let Err(e) = wait_readable(sigfd) {
            // Cannot wait on the signalfd any more: poll for the child instead of spinning.
            say.at(1, || format!("waiting for signals failed: {e}"));
        }
        while let Some(sig) = signals::read_signal(sigfd) {
            if sig == signals::SIGCHLD {
                continue;
            }
            let (target, what) = if o.group {
                (sys::signal_group(child, sig), "group")
            } else {
                (sys::signal_process(child, sig), "process")
            };
            match target {
                Ok(()) => say.at(2, || {
                    format!("forwarded {} to {what} {child}", signals::name(sig))
                }),
                Err(e) => say.at(1, || {
                    format!(
                        "cannot forward {} to {what} {child}: {e}",
                        signals::name(sig)
                    )
                }),
            }
        }
        let mut ended = None;
        while let Some((pid, status)) = sys::reap_one() {
            if pid == child {
                ended = Some(status);
                say.at(2, || format!("{child} ended: {status:?}"));
            } else if o.warn_on_reap {
                eprintln!("phpeek-pm: reaped zombie process with pid={pid}");
            } else {
                say.at(3, || format!("reaped orphan {pid}"));
            }
        }
        if let Some(status) = ended {
            return exit_code(status, &o.expect);
        }
    }
}

/// Waits until the signalfd is readable (`poll(2)` with no timeout, retried on EINTR).
fn wait_readable(fd: &OwnedFd) -> std::io::Result<()> {
    use rustix::event::{PollFd, PollFlags, poll};
    loop {
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, None) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The manager's exit code for how the child ended: its code, or 128+n for signal n, taken
/// modulo 256 like tini; a code listed with `-e` becomes 0.
fn exit_code(status: sys::ExitStatus, expect: &[u64; 4]) -> u8 {
    let code = match status {
        sys::ExitStatus::Code(c) => c,
        sys::ExitStatus::Signal(s) => 128 + s,
    };
    let code = (code & 0xff) as u8;
    if expect[usize::from(code / 64)] & (1u64 << (code % 64)) != 0 {
        0
    } else {
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn p(a: &[&str]) -> Result<Parsed, String> {
        parse(&args(a), |_| None)
    }

    fn opts(a: &[&str]) -> Options {
        match p(a) {
            Ok(Parsed::Run(o)) => o,
            other => panic!("{a:?}: {other:?}"),
        }
    }

    #[test]
    fn which_command_lines_are_single_mode() {
        assert!(requested(&args(&["--", "sh"])));
        assert!(requested(&args(&["-g", "-e", "3", "--", "sh", "-c", "x"])));
        assert!(requested(&args(&["-c", "x.yaml", "--", "sh"])));
        assert!(!requested(&args(&["sh", "-c", "x"])));
        assert!(!requested(&args(&[])));
        assert!(!requested(&args(&["-c", "x.yaml"])));
        assert!(!requested(&args(&["logs", "--", "-n"])));
        assert!(!requested(&args(&["serve", "--"])));
    }

    #[test]
    fn options_and_command() {
        let o = opts(&[
            "-sgvv", "-e3", "-e", "255", "-p", "SIGUSR1", "-w", "--", "a", "--", "-g",
        ]);
        assert!(o.subreaper && o.group && o.warn_on_reap);
        assert_eq!(o.verbosity, 2);
        assert_eq!(o.pdeathsig, Some(signals::SIGUSR1));
        assert_eq!(o.argv, args(&["a", "--", "-g"]));
        assert_eq!(exit_code(sys::ExitStatus::Code(3), &o.expect), 0);
        assert_eq!(exit_code(sys::ExitStatus::Code(255), &o.expect), 0);
        assert_eq!(exit_code(sys::ExitStatus::Code(4), &o.expect), 4);
        let plain = opts(&["--", "x"]);
        assert!(!plain.group && !plain.subreaper && plain.pdeathsig.is_none());
        assert_eq!(p(&["-h", "--", "x"]), Ok(Parsed::Help));
        assert_eq!(p(&["-l", "--", "x"]), Ok(Parsed::Licence));
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["-x", "--", "a"][..],
            &["-c", "f.yaml", "--", "a"],
            &["--config", "f", "--", "a"],
            &["-e", "256", "--", "a"],
            &["-e", "-1", "--", "a"],
            &["-e", "x", "--", "a"],
            &["-p", "SIGBOGUS", "--", "a"],
            &["-e", "--", "a"],
            &["--"],
            &["-g", "--"],
            &["word", "--", "a"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        let e = p(&["-x", "--", "a"]).unwrap_err();
        assert!(e.contains("-x") && e.contains("-e CODE"), "{e}");
    }

    #[test]
    fn environment_variables_like_tini() {
        let o = match parse(&args(&["--", "a"]), |k| match k {
            "TINI_KILL_PROCESS_GROUP" | "TINI_SUBREAPER" => Some("".into()),
            "TINI_VERBOSITY" => Some("3".into()),
            _ => None,
        }) {
            Ok(Parsed::Run(o)) => o,
            other => panic!("{other:?}"),
        };
        assert!(o.group && o.subreaper);
        assert_eq!(o.verbosity, 3);
    }

    #[test]
    fn exit_codes() {
        let none = [0; 4];
        for c in 0..=255 {
            assert_eq!(exit_code(sys::ExitStatus::Code(c), &none), c as u8);
        }
        assert_eq!(exit_code(sys::ExitStatus::Signal(15), &none), 143);
        assert_eq!(exit_code(sys::ExitStatus::Signal(9), &none), 137);
    }
}
