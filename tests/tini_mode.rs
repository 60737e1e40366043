//! Single-command mode, the drop-in for tini (issue 23): `phpeek-pm [-s] [-g] [-e CODE]
//! [-p SIGNAL] [-v] -- CMD ARGS…`. Modelled on what tini's own suite
//! (`test/run_inner_tests.py` in krallin/tini) checks, written for our harness: every exit code
//! 0-255 and `-e`; 100 orphans reaped; SIGTERM/SIGUSR1/SIGUSR2 (and more) forwarded with exit
//! 128+n; `-g` and `TINI_KILL_PROCESS_GROUP` reaching a grandchild while the child ignores the
//! signal; `-p` on parent death; the child's `SigIgn`/`SigBlk` as the manager inherited them;
//! stdin/stdout/stderr passed through byte for byte. Each runs as PID 1 of a PID namespace and
//! as a plain child subreaper.

mod support;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const MODES: [Mode; 2] = [Mode::Pid1, Mode::Subreaper];

/// What a one-off run of the binary gave, as raw bytes.
struct Raw {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `phpeek-pm ARGS` (inside `unshare` for PID 1 mode) with `stdin` as its input and
/// returns its exit code and exact output. Killed (with its whole group) after `limit`.
fn run_raw(mode: Mode, args: &[&str], env: &[(&str, &str)], stdin: &[u8], limit: f64) -> Raw {
    let mut cmd = match mode {
        Mode::Pid1 => {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc", bin()]);
            c
        }
        Mode::Subreaper => Command::new(bin()),
    };
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn phpeek-pm");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let t_in = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + secs(limit);
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            signal_raw(-(child.id() as i32), libc::SIGKILL);
            let _ = child.wait();
            panic!("phpeek-pm {args:?} ({mode:?}) did not finish within {limit} s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = t_in.join();
    Raw {
        code: status.code(),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn code_of(mode: Mode, args: &[&str]) -> Option<i32> {
    run_raw(mode, args, &[], b"", 20.0).code
}

/// Starts `phpeek-pm ARGS` under the harness (watchdog, cleanup, stdout/stderr readers).
fn start(mode: Mode, args: &[&str]) -> Launch {
    Launch::new(mode).args_tail(args)
}

trait ArgsTail {
    fn args_tail(self, args: &[&str]) -> Launch;
}

impl ArgsTail for Launch {
    /// Appends several arguments.
    fn args_tail(self, args: &[&str]) -> Launch {
        args.iter().fold(self, |l, a| l.arg(a))
    }
}

/// Waits until some descendant of `root` runs `program … marker …` (program being argv[0]:
/// a fork that has not exec'd yet does not count), and returns its pid.
fn wait_descendant(root: i32, program: &str, marker: &str) -> i32 {
    poll_until(secs(10.0), &format!("{program} {marker}"), || {
        descendants(root)
            .into_iter()
            .filter(|p| p.state != 'Z')
            .find(|p| {
                let argv = cmdline(p.pid);
                // By base name: a pyenv python shows its full path as argv[0].
                argv.first().and_then(|a| a.rsplit('/').next()) == Some(program)
                    && argv.iter().skip(1).any(|a| a == marker)
            })
            .map(|p| p.pid)
    })
}

#[test]
fn exit_codes_0_to_255_pass_through_and_e_maps_them_to_0() {
    for mode in MODES {
        for code in 0..=255 {
            let script = format!("exit {code}");
            let c = code.to_string();
            assert_eq!(
                code_of(mode, &["--", "sh", "-c", &script]),
                Some(code),
                "{mode:?}: plain exit {code}"
            );
            assert_eq!(
                code_of(mode, &["-e", &c, "--", "sh", "-c", &script]),
                Some(0),
                "{mode:?}: -e {code}"
            );
        }
        // Every other code listed: this one still comes through (tini's "exclusive" test).
        for code in [0, 1, 2, 127, 128, 143, 255] {
            let mut args: Vec<String> = (0..=255)
                .filter(|&x| x != code)
                .flat_map(|x| ["-e".to_owned(), x.to_string()])
                .collect();
            args.extend(["--", "sh", "-c"].map(str::to_owned));
            args.push(format!("exit {code}"));
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(code_of(mode, &a), Some(code), "{mode:?}: -e all but {code}");
        }
        // A child ended by a signal: 128+n, which -e maps like any other code.
        let killed = ["--", "sh", "-c", "kill -KILL $$"];
        assert_eq!(code_of(mode, &killed), Some(137), "{mode:?}");
        assert_eq!(
            code_of(mode, &["-e", "137", "--", "sh", "-c", "kill -KILL $$"]),
            Some(0),
            "{mode:?}"
        );
    }
}

/// The child: a middle process forks 100 grandchildren blocked on a pipe and exits, so they
/// are orphans; the child checks they were re-parented to the manager, lets them exit, and
/// waits until none is left, not even as a zombie (only the manager can reap them). Exit 0 on
/// success, 2 if they were not re-parented to the manager, 3 if they were never reaped.
const ORPHANS: &str = r#"
import os, sys, time
mgr = os.getppid()
r, w = os.pipe()
pr, pw = os.pipe()
mid = os.fork()
if mid == 0:
    pids = []
    for i in range(100):
        p = os.fork()
        if p == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        pids.append(p)
    os.write(pw, (" ".join(map(str, pids)) + "\n").encode())
    os._exit(0)
os.close(pw)
os.waitpid(mid, 0)
pids = [int(x) for x in os.read(pr, 65536).split()]
print("orphans:", " ".join(map(str, pids)), flush=True)
def ppid(p):
    try:
        with open("/proc/%d/stat" % p) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None
deadline = time.time() + 30
while any(ppid(p) != mgr for p in pids):
    if time.time() > deadline:
        print("not re-parented to", mgr, [(p, ppid(p)) for p in pids if ppid(p) != mgr])
        sys.exit(2)
    time.sleep(0.01)
os.close(w)
os.close(r)
while any(os.path.exists("/proc/%d" % p) for p in pids):
    if time.time() > deadline:
        print("never reaped:", [p for p in pids if os.path.exists("/proc/%d" % p)])
        sys.exit(3)
    time.sleep(0.01)
print("all reaped", flush=True)
"#;

#[test]
fn reaps_100_orphans() {
    for mode in MODES {
        let out = run_raw(
            mode,
            &["-w", "--", "python3", "-c", ORPHANS],
            &[],
            b"",
            60.0,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.code, Some(0), "{mode:?}\n{stdout}\n{stderr}");
        // -w names every orphan the manager reaped: exactly the 100 the child reported.
        let mut said: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("phpeek-pm: reaped zombie process with pid="))
            .collect();
        let mut orphans: Vec<&str> = stdout
            .lines()
            .find_map(|l| l.strip_prefix("orphans: "))
            .unwrap_or_default()
            .split(' ')
            .collect();
        said.sort_unstable();
        orphans.sort_unstable();
        assert_eq!(orphans.len(), 100, "{mode:?}\n{stdout}");
        assert_eq!(said, orphans, "{mode:?}: -w lines\n{stderr}");
    }
}

#[test]
fn signals_are_forwarded_and_the_exit_is_128_plus_n() {
    for mode in MODES {
        for sig in [
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGALRM,
        ] {
            let mark = format!("1000.{}", unique_digits());
            let _guard = MarkerGuard(mark.clone());
            let mut m = start(mode, &["--", "sleep", &mark]).spawn();
            wait_descendant(m.pid(), "sleep", &mark);
            assert!(signal_raw(m.pid(), sig));
            assert_eq!(m.wait_code(secs(10.0)), 128 + sig, "{mode:?} signal {sig}");
        }
    }
}

/// The child ignores SIGUSR1 and runs a grandchild that does not; it exits 128+n when the
/// grandchild was ended by signal n.
const GROUP: &str = r#"
import signal, subprocess, sys
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
p = subprocess.Popen(["sleep", sys.argv[1]],
                     preexec_fn=lambda: signal.signal(signal.SIGUSR1, signal.SIG_DFL))
rc = p.wait()
sys.exit(128 - rc if rc < 0 else rc)
"#;

#[test]
fn g_and_tini_kill_process_group_reach_a_grandchild() {
    for mode in MODES {
        for (flag, env) in [
            (Some("-g"), None),
            (None, Some(("TINI_KILL_PROCESS_GROUP", "1"))),
        ] {
            let mark = format!("1000.{}", unique_digits());
            let _guard = MarkerGuard(mark.clone());
            let mut l = start(mode, &["-vv"]);
            if let Some(f) = flag {
                l = l.arg(f);
            }
            if let Some((k, v)) = env {
                l = l.env(k, v);
            }
            let mut m = l.args_tail(&["--", "python3", "-c", GROUP, &mark]).spawn();
            wait_descendant(m.pid(), "sleep", &mark);
            assert!(signal_raw(m.pid(), libc::SIGUSR1));
            assert_eq!(
                m.wait_code(secs(10.0)),
                128 + libc::SIGUSR1,
                "{mode:?} {flag:?} {env:?}: the grandchild was ended by SIGUSR1\n{}",
                m.stderr()
            );
            assert!(
                m.stderr().contains("forwarded SIGUSR1 to group"),
                "{}",
                m.stderr()
            );
        }
        // Control: without -g the signal reaches the child only, which ignores it: both live
        // on (checked once the manager said it forwarded it). Then the grandchild is killed
        // directly, and the child reports that.
        let mark = format!("1000.{}", unique_digits());
        let _guard = MarkerGuard(mark.clone());
        let mut m = start(mode, &["-vv", "--", "python3", "-c", GROUP, &mark]).spawn();
        let grandchild = wait_descendant(m.pid(), "sleep", &mark);
        assert!(signal_raw(m.pid(), libc::SIGUSR1));
        poll_until(secs(10.0), "the forwarded line", || {
            m.stderr()
                .contains("forwarded SIGUSR1 to process")
                .then_some(())
        });
        assert!(m.exited().is_none(), "{}", m.stderr());
        assert!(
            proc_info(grandchild).is_some_and(|p| p.state != 'Z'),
            "the grandchild must not get the signal without -g"
        );
        assert!(signal_raw(grandchild, libc::SIGKILL));
        assert_eq!(m.wait_code(secs(10.0)), 128 + libc::SIGKILL, "{mode:?}");
    }
}

/// The child: says it is ready by creating a file, then writes "ok" to another file and exits
/// 0 when SIGUSR1 arrives; it gives up after 30 s.
const PDEATH: &str = r#"
import signal, sys, time
def got(*_):
    with open(sys.argv[2], "w") as f:
        f.write("ok")
    sys.exit(0)
signal.signal(signal.SIGUSR1, got)
open(sys.argv[1], "w").close()
time.sleep(30)
"#;

#[test]
fn p_sends_the_parent_death_signal_on_to_the_child() {
    for mode in MODES {
        let dir = TestDir::new("pdeath");
        let (ready, result) = (dir.s("ready"), dir.s("result"));
        let mark = format!("pdeath-{}", unique_digits());
        let _guard = MarkerGuard(mark.clone());
        let mut l = start(mode, &["-p", "SIGUSR1"]);
        if mode == Mode::Subreaper {
            // A parent that stays around to be killed (no exec of the last command).
            l = l.wrap(&["sh", "-c", "\"$@\"; exit $?", "sh"]);
        }
        let m = l
            .args_tail(&["--", "python3", "-c", PDEATH, &ready, &result, &mark])
            .spawn();
        // With the wrapper, the harness's pid is the shell's; the manager is its child.
        let mgr = match mode {
            Mode::Pid1 => m.pid(),
            Mode::Subreaper => poll_until(secs(10.0), "the manager under sh", || {
                children_of(m.pid())
                    .into_iter()
                    .find(|&k| cmdline(k).first().map(String::as_str) == Some(bin()))
            }),
        };
        wait_descendant(mgr, "python3", &mark);
        poll_until(secs(10.0), "the child to be ready", || {
            std::path::Path::new(&ready).exists().then_some(())
        });
        // As PID 1 the manager's parent is unshare; as a subreaper, the wrapping shell.
        let parent = proc_info(mgr).expect("manager alive").ppid;
        assert!(parent > 1 && parent != std::process::id() as i32);
        assert!(signal_raw(parent, libc::SIGKILL));
        poll_until(secs(10.0), "the child to get SIGUSR1", || {
            (std::fs::read_to_string(&result).ok()? == "ok").then_some(())
        });
        poll_until(secs(10.0), "the manager to exit", || {
            proc_info(mgr).is_none_or(|p| p.state == 'Z').then_some(())
        });
    }
}

#[test]
fn the_child_gets_the_signal_mask_and_ignored_set_the_manager_started_with() {
    // (tini's suite also checks an ignored SIGSEGV: recent kernels reset that one at exec.)
    let ignore = [libc::SIGTTOU, libc::SIGBUS, libc::SIGINT, libc::SIGPIPE, 40];
    let block = [
        libc::SIGTTIN,
        libc::SIGILL,
        libc::SIGTERM,
        libc::SIGUSR2,
        35,
    ];
    for mode in MODES {
        for (ign, blk) in [(&ignore[..], &block[..]), (&[][..], &[][..])] {
            let mut m = start(
                mode,
                &["--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
            )
            .inherit_signals(ign, blk)
            .spawn();
            assert_eq!(m.wait_code(secs(10.0)), 0, "{mode:?}");
            let recs = m.find(|_| true);
            let seen = |key: &str| -> Vec<i32> {
                recs.iter()
                    .filter_map(|r| r.get("_garbage")?.as_str()?.strip_prefix(key))
                    .map(|v| mask_signals(v.trim_start_matches(':')))
                    .next()
                    .unwrap_or_else(|| panic!("no {key} line"))
            };
            let sorted = |s: &[i32]| {
                let mut v = s.to_vec();
                v.sort_unstable();
                v
            };
            // Exactly the start state: nothing of ours (every signal blocked for the signalfd,
            // Rust's ignored SIGPIPE) leaks into the child, nothing of the parent's is lost.
            assert_eq!(seen("SigIgn"), sorted(ign), "{mode:?} SigIgn");
            assert_eq!(seen("SigBlk"), sorted(blk), "{mode:?} SigBlk");
        }
    }
}

#[test]
fn stdin_stdout_and_stderr_pass_through_byte_for_byte() {
    // 300 KB of every byte value, CRs, NULs, invalid UTF-8, no final newline.
    let mut input = Vec::with_capacity(300_000);
    let mut x: u32 = 12345;
    while input.len() < 300_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        input.push((x >> 16) as u8);
    }
    for mode in MODES {
        let out = run_raw(
            mode,
            &["--", "sh", "-c", "cat; printf 'err\\r\\000\\377tail' >&2"],
            &[],
            &input,
            30.0,
        );
        assert_eq!(out.code, Some(0), "{mode:?}");
        assert!(out.stdout == input, "{mode:?}: stdout differs from stdin");
        assert_eq!(out.stderr, b"err\r\0\xfftail", "{mode:?}: stderr");
    }
}

#[test]
fn descriptors_environment_and_process_group_pass_through_and_no_config_is_read() {
    let dir = TestDir::new("passthrough");
    dir.write("phpeek-pm.yaml", "this: [is not a valid configuration\n");
    // Exit 42 only if: fd 9 (leaked by the harness) is still open, the PHPEEK_PM_* variables
    // are untouched, and the child leads its own process group.
    let check = r#"
import os, sys
ok = (os.path.exists("/proc/self/fd/9")
      and os.environ.get("PHPEEK_PM_CONFIG") == "/nonexistent.yaml"
      and os.environ.get("PHPEEK_PM_PROCESS_X_COMMAND") == "false"
      and os.getpgrp() == os.getpid())
sys.exit(42 if ok else 1)
"#;
    for mode in MODES {
        let mut m = start(mode, &["--", "python3", "-c", check])
            .leak_fd()
            .cwd(&dir.path)
            .env("PHPEEK_PM_CONFIG", "/nonexistent.yaml")
            .env("PHPEEK_PM_PROCESS_X_COMMAND", "false")
            .spawn();
        assert_eq!(m.wait_code(secs(10.0)), 42, "{mode:?}\n{}", m.stderr());
        // Nothing of ours on stdout or stderr without -v.
        assert!(
            m.find(|_| true).is_empty() && m.stderr().is_empty(),
            "{}",
            m.dump()
        );
    }
}

#[test]
fn usage_errors_exec_failures_and_the_no_op_flags() {
    let mode = Mode::Subreaper;
    let run = |args: &[&str]| run_raw(mode, args, &[], b"", 10.0);
    for bad in [
        &["-x", "--", "true"][..],
        &["-c", "x.yaml", "--", "true"],
        &["--nope", "--", "true"],
        &["-e", "256", "--", "true"],
        &["-p", "SIGNOPE", "--", "true"],
        &["--"],
    ] {
        let out = run(bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.code, Some(2), "{bad:?}: {err}");
        assert!(
            err.contains("-e CODE"),
            "{bad:?}: the usage lists the flags: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    // Without `--` a word that is not a subcommand stays an unknown command, with a hint.
    let out = run(&["php-fpm", "-F"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.code, Some(2), "{err}");
    assert!(err.contains("phpeek-pm -- php-fpm"), "{err}");
    // Not found: 127; found but not executable: 126 (as a shell says).
    let out = run(&["--", "/nonexistent/program"]);
    assert_eq!(out.code, Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/program"));
    assert_eq!(run(&["--", "/etc/passwd"]).code, Some(126));
    // -s and TINI_SUBREAPER are accepted (subreaper is the default anyway); -l and -h print
    // and exit 0; -v talks on stderr only.
    assert_eq!(run(&["-s", "--", "true"]).code, Some(0));
    let with_env = run_raw(mode, &["--", "true"], &[("TINI_SUBREAPER", "")], b"", 10.0);
    assert_eq!(with_env.code, Some(0));
    let l = run(&["-l", "--", "true"]);
    assert_eq!(l.code, Some(0));
    assert!(String::from_utf8_lossy(&l.stdout).contains("MIT"));
    let h = run(&["-h", "--", "true"]);
    assert_eq!(h.code, Some(0));
    assert!(String::from_utf8_lossy(&h.stdout).contains("-p SIGNAL"));
    let v = run(&["-vv", "--", "sh", "-c", "echo out"]);
    assert_eq!(v.code, Some(0));
    assert_eq!(v.stdout, b"out\n");
    assert!(String::from_utf8_lossy(&v.stderr).contains("started sh as pid"));
}
