//! What a child gets (issue #2, item 5): default signal dispositions and an empty blocked
//! mask, only descriptors 0-2 (even when the manager itself inherited more), stdin from
//! `/dev/null`, its own process group (and session, with a terminal), the manager's environment plus the
//! process `env` plus `PHPEEK_PM_PROCESS_NAME` / `PHPEEK_PM_INSTANCE_ID`, `working_dir`,
//! `user` and `group`. Checked from inside (the child prints what it sees) and from outside
//! (the test reads `/proc/<pid>` of a `sleep`).

mod support;

use std::collections::HashMap;

use support::*;

const ZERO_MASK: &str = "0000000000000000";

fn child_environment(mode: Mode) {
    let dir = TestDir::new("env");
    let mark = format!("1000.{}", unique_digits());
    let _guard = MarkerGuard(mark.clone());
    let work = dir.file("work");
    std::fs::create_dir(&work).unwrap();
    let cfg = format!(
        r#"processes:
  sigs:
    restart: never
    command: ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]
  fds:
    restart: never
    command: {fds}
  stdin:
    restart: never
    command: {stdin}
  show:
    restart: never
    scale: 2
    working_dir: {work}
    env:
      FOO: "bar baz"
      OVERRIDE_ME: from-config
      NUM: 42
    command: {show}
  sleeper:
    scale: 2
    env:
      FOO: sleeping
    command: ["sleep", "{mark}"]
  asuser:
    user: nobody
    command: ["sleep", "{mark}"]
  asgroup:
    group: nogroup
    command: ["sleep", "{mark}"]
"#,
        // `ls` lists the shell's descriptors (not its own directory handle); no pipeline or
        // command substitution, which would open a pipe in the shell.
        fds = sh("ls /proc/$$/fd"),
        stdin =
            sh("if read x; then echo got-input; else echo stdin-eof; fi; readlink /proc/self/fd/0"),
        work = q(&work.to_string_lossy()),
        show = sh(
            "echo \"name=$PHPEEK_PM_PROCESS_NAME id=$PHPEEK_PM_INSTANCE_ID foo=$FOO \
             override=$OVERRIDE_ME num=$NUM inherited=$PHPEEK_TEST_INHERITED pwd=$(pwd)\""
        ),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Launch::new(mode)
        .config(&path)
        .env("PHPEEK_TEST_INHERITED", "from-manager")
        .env("OVERRIDE_ME", "from-manager")
        .leak_fd()
        .spawn();
    // The manager itself did inherit the extra descriptor.
    let mgr = m.pid();
    m.wait_started();
    assert!(
        open_fds(mgr).contains(&LEAKED_FD),
        "the test failed to leak fd {LEAKED_FD} into the manager: {:?}",
        open_fds(mgr)
    );

    // From inside.
    for inst in ["sigs-0", "fds-0", "stdin-0", "show-0", "show-1"] {
        m.wait_for(secs(10.0), &format!("{inst} exit"), |r| {
            r.is("exited", inst)
        });
    }
    let mut c = Soft::default();
    c.eq(
        m.output_of("sigs-0"),
        [
            format!("SigBlk:\t{ZERO_MASK}"),
            format!("SigIgn:\t{ZERO_MASK}"),
        ],
        "signal mask and ignored set seen by the child",
    );
    c.eq(
        m.output_of("fds-0"),
        ["0", "1", "2"],
        "descriptors seen by the child",
    );
    c.eq(m.output_of("stdin-0"), ["stdin-eof", "/dev/null"], "stdin");
    for i in 0..2 {
        c.eq(
            m.output_of(&format!("show-{i}")),
            [format!(
                "name=show id=show-{i} foo=bar baz override=from-config num=42 \
                 inherited=from-manager pwd={}",
                work.display()
            )],
            "environment and working_dir",
        );
    }

    // From outside: the sleepers' /proc entries.
    let sleepers = sleeping(mgr, &mark, 4);
    let mut ids = Vec::new();
    // Its own session only when the manager has a terminal (tests `sessions_*` below); run
    // from a developer's terminal, the manager here has the test's.
    let manager = proc_info(mgr).expect("the manager's stat");
    for p in &sleepers {
        let env: HashMap<String, String> = environ(p.pid).into_iter().collect();
        let name = env
            .get("PHPEEK_PM_PROCESS_NAME")
            .cloned()
            .unwrap_or_default();
        let id = env
            .get("PHPEEK_PM_INSTANCE_ID")
            .cloned()
            .unwrap_or_default();
        c.check(id.starts_with(&format!("{name}-")), || {
            format!("{name} / {id}")
        });
        c.eq(
            env.get("PHPEEK_TEST_INHERITED").map(String::as_str),
            Some("from-manager"),
            "inherited variable",
        );
        if name == "sleeper" {
            c.eq(
                env.get("FOO").map(String::as_str),
                Some("sleeping"),
                "env of sleeper",
            );
        }
        ids.push(id.clone());
        c.eq(
            status_field(p.pid, "SigBlk"),
            Some(ZERO_MASK.to_owned()),
            &format!("SigBlk of {id}"),
        );
        c.eq(
            status_field(p.pid, "SigIgn"),
            Some(ZERO_MASK.to_owned()),
            &format!("SigIgn of {id}"),
        );
        c.eq(open_fds(p.pid), [0, 1, 2], &format!("descriptors of {id}"));
        c.eq(fd_target(p.pid, 0), "/dev/null", &format!("stdin of {id}"));
        for fd in [1, 2] {
            c.check(fd_target(p.pid, fd).starts_with("pipe:"), || {
                format!("fd {fd} of {id} is not a pipe")
            });
        }
        c.check(fd_target(p.pid, 1) != fd_target(p.pid, 2), || {
            format!("stdout and stderr of {id} are the same pipe")
        });
        c.eq(
            (p.pgrp, p.session),
            own_group(p, &manager),
            &format!("{id}: own group, session"),
        );
        let uid = status_field(p.pid, "Uid").unwrap_or_default();
        let gid = status_field(p.pid, "Gid").unwrap_or_default();
        let all = |s: &str, v: &str| s.split_whitespace().all(|x| x == v);
        match name.as_str() {
            "asuser" => {
                c.check(all(&uid, "65534"), || format!("uid of asuser: {uid}"));
                c.check(all(&gid, "65534"), || format!("gid of asuser: {gid}"));
                // Supplementary groups: nobody is in no group of /etc/group; like
                // initgroups(3), the primary group may be listed.
                let groups = status_field(p.pid, "Groups").unwrap_or_default();
                c.check(groups.is_empty() || groups == "65534", || {
                    format!("supplementary groups of asuser: {groups:?}")
                });
            }
            "asgroup" => {
                c.check(all(&uid, "0"), || format!("uid of asgroup: {uid}"));
                c.check(all(&gid, "65534"), || format!("gid of asgroup: {gid}"));
            }
            _ => c.check(all(&uid, "0"), || format!("uid of {id}: {uid}")),
        }
    }
    ids.sort();
    c.eq(
        ids,
        ["asgroup-0", "asuser-0", "sleeper-0", "sleeper-1"],
        "instance ids",
    );
    c.finish(&m.dump());

    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

/// The `n` descendants of `mgr` that run `sleep <mark>`, once they all do.
fn sleeping(mgr: i32, mark: &str, n: usize) -> Vec<ProcInfo> {
    poll_until(secs(10.0), &format!("{n} sleeping children"), || {
        let d: Vec<ProcInfo> = descendants(mgr)
            .into_iter()
            .filter(|p| cmdline(p.pid).get(1).map(String::as_str) == Some(mark))
            .collect();
        (d.len() == n).then_some(d)
    })
}

/// The (group, session) a child of `manager` should have: a group of its own, and a session of
/// its own only when the manager has a controlling terminal, else the manager's.
fn own_group(child: &ProcInfo, manager: &ProcInfo) -> (i32, i32) {
    let session = if manager.tty_nr != 0 {
        child.pid
    } else {
        manager.session
    };
    (child.pid, session)
}

/// A child starts a session of its own only when the manager has a controlling terminal
/// (`docker run -t`), which the session keeps it off; without one (`docker run`), only a
/// process group of its own, in the manager's session: the session would add nothing, and
/// where the kernel's scheduler autogroups apply each session is a scheduling group.
fn sessions(terminal: bool) {
    let dir = TestDir::new("sessions");
    let mark = format!("1000.{}", unique_digits());
    let _guard = MarkerGuard(mark.clone());
    let path = dir.write(
        "c.yaml",
        &format!("processes:\n  s:\n    scale: 2\n    command: [\"sleep\", \"{mark}\"]\n"),
    );
    let mut launch = Launch::new(Mode::Subreaper).config(&path);
    // The master side stays open until the end: closing it would hang the terminal up.
    let mut _master = None;
    if terminal {
        let (master, slave) = openpty();
        _master = Some(master);
        launch = launch.terminal(slave);
    }
    let mut m = launch.spawn();
    let mgr = m.pid();
    m.wait_started();
    let manager = proc_info(mgr).expect("the manager's stat");
    assert_eq!(manager.tty_nr != 0, terminal, "the manager's terminal");
    for p in &sleeping(mgr, &mark, 2) {
        assert_eq!(
            (p.pgrp, p.session),
            own_group(p, &manager),
            "{p:?}\n{}",
            m.dump()
        );
        assert_eq!(p.tty_nr, 0, "{p:?} has a controlling terminal");
    }
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
}

#[test]
fn sessions_with_a_terminal() {
    sessions(true);
}

#[test]
fn sessions_without_a_terminal() {
    sessions(false);
}

#[test]
fn child_environment_as_pid1() {
    child_environment(Mode::Pid1);
}

#[test]
fn child_environment_as_subreaper() {
    child_environment(Mode::Subreaper);
}

/// A careless parent started the manager with signals ignored and blocked (SIGUSR2, SIGHUP,
/// glibc's internal 32 and 33, real-time 40 and the last one, 64). Exec keeps ignored
/// dispositions and the mask, so the manager must put every one back to default for children.
#[test]
fn children_get_default_signals_despite_inherited_ignores() {
    let dir = TestDir::new("sigign");
    let mark = format!("1000.{}", unique_digits());
    let _guard = MarkerGuard(mark.clone());
    let cfg = format!(
        "processes:\n  sigs:\n    restart: never\n    command: [\"grep\", \"-E\", \"^Sig(Blk|Ign)\", \"/proc/self/status\"]\n  idle:\n    command: [\"sleep\", \"{mark}\"]\n"
    );
    let path = dir.write("c.yaml", &cfg);
    let ignored = [libc::SIGUSR2, libc::SIGHUP, 32, 33, 40, 64];
    let blocked = [libc::SIGTERM, libc::SIGUSR1, 35];
    let mut m = Launch::new(Mode::Pid1)
        .config(&path)
        .inherit_signals(&ignored, &blocked)
        .spawn();
    m.wait_for(secs(10.0), "sigs exit", |r| r.is("exited", "sigs-0"));
    let mgr = m.pid();
    // The manager puts its own dispositions back to default once, right after blocking every
    // signal (so a spawn only restores the mask); its mask is its own business.
    let mgr_ign = mask_signals(&status_field(mgr, "SigIgn").unwrap());
    assert!(
        mgr_ign.is_empty(),
        "the manager still ignores {mgr_ign:?} after start-up"
    );
    let idle = poll_until(secs(5.0), "the idle child", || {
        descendants(mgr)
            .into_iter()
            .find(|p| cmdline(p.pid).get(1) == Some(&mark))
    });
    let mut c = Soft::default();
    for line in m.output_of("sigs-0") {
        let (k, v) = line.split_once(":\t").unwrap_or((&line, ""));
        c.eq(
            mask_signals(v),
            Vec::<i32>::new(),
            &format!("{k} seen by the child (signal numbers)"),
        );
    }
    for k in ["SigBlk", "SigIgn"] {
        let v = status_field(idle.pid, k).unwrap_or_default();
        c.eq(
            mask_signals(&v),
            Vec::<i32>::new(),
            &format!("{k} of a child, from /proc (signal numbers)"),
        );
    }
    m.signal(libc::SIGTERM);
    c.eq(m.wait_code(secs(10.0)), 0, "exit code");
    c.finish(&m.dump());
}

/// Without a file: processes defined by `PHPEEK_PM_PROCESS_<NAME>_<KEY>` alone.
#[test]
fn environment_only_configuration() {
    let dir = TestDir::new("envonly");
    let mut m = Launch::new(Mode::Pid1)
        .cwd(&dir.path)
        .env("PHPEEK_PM_PROCESS_APP_COMMAND", "echo hello-from-env")
        .env("PHPEEK_PM_PROCESS_APP_RESTART", "never")
        .env(
            "PHPEEK_PM_PROCESS_MY_WORKER_COMMAND",
            r#"["sh", "-c", "echo $PHPEEK_PM_INSTANCE_ID"]"#,
        )
        .env("PHPEEK_PM_PROCESS_MY_WORKER_SCALE", "2")
        .env("PHPEEK_PM_PROCESS_MY_WORKER_RESTART", "never")
        .env("PHPEEK_PM_PROCESS_MY_WORKER_ENV_GREETING", "hi")
        .spawn();
    let starting = m.wait_started();
    assert_eq!(starting.i("processes"), Some(2), "{starting}");
    // All finished with exit 0: the manager exits 0 by itself.
    assert_eq!(m.wait_code(secs(10.0)), 0, "{}", m.dump());
    assert_eq!(m.output_of("app-0"), ["hello-from-env"]);
    assert_eq!(m.output_of("my-worker-0"), ["my-worker-0"]);
    assert_eq!(m.output_of("my-worker-1"), ["my-worker-1"]);
    m.assert_json_only();
}

/// A stream switched off (`stdout: false` / `stderr: false`) is `/dev/null` in the child, as
/// in the Go tool: no pipe is made for it, and the other stream is still a pipe we read.
#[test]
fn switched_off_streams_are_dev_null() {
    let dir = TestDir::new("off");
    let mark = format!("1000.{}", unique_digits());
    let _guard = MarkerGuard(mark.clone());
    let sleep = format!("[sleep, '{mark}']");
    let cfg = format!(
        "processes:\n  both:\n    command: {sleep}\n  no-out:\n    stdout: false\n    command: {sleep}\n  no-err:\n    stderr: false\n    command: {sleep}\n  neither:\n    stdout: false\n    stderr: false\n    command: {sleep}\n"
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let mut c = Soft::default();
    for p in sleeping(m.pid(), &mark, 4) {
        let env: HashMap<String, String> = environ(p.pid).into_iter().collect();
        let name = env
            .get("PHPEEK_PM_PROCESS_NAME")
            .cloned()
            .unwrap_or_default();
        let (out, err) = (fd_target(p.pid, 1), fd_target(p.pid, 2));
        let (out_off, err_off) = match name.as_str() {
            "both" => (false, false),
            "no-out" => (true, false),
            "no-err" => (false, true),
            "neither" => (true, true),
            other => panic!("unexpected process {other:?}"),
        };
        for (what, target, off) in [("stdout", &out, out_off), ("stderr", &err, err_off)] {
            c.check(
                if off {
                    target == "/dev/null"
                } else {
                    target.starts_with("pipe:")
                },
                || format!("{what} of {name}: {target}"),
            );
        }
        c.eq(
            open_fds(p.pid),
            [0, 1, 2],
            &format!("descriptors of {name}"),
        );
    }
    c.finish(&m.dump());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}
