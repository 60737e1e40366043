//! PID 1 duty "reap in one place" (issue #2, items 1 and 8): a child double-forks 2,000
//! orphans that all exit at the same moment while 20 managed processes exit with distinct
//! codes. Afterwards no zombie may remain under the manager, and every managed exit code must
//! be in its `exited` record (none lost to the orphan sweep). Run as PID 1 of a PID namespace
//! and as a plain child subreaper.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use support::*;

const ORPHANS: usize = 2000;
const CODED: usize = 20;

/// Exit code of managed process `i`: distinct, mostly non-zero, one zero.
fn code(i: usize) -> i64 {
    (i as i64 * 13) % 256
}

/// The storm: forks a middle process that forks `n` grandchildren blocked on a pipe, says
/// "armed", then waits for one byte from the trigger FIFO and exits. The grandchildren, now
/// orphans re-parented to the manager, see EOF at that moment and exit together.
const STORM: &str = r#"
import os, sys, time
fifo, n = sys.argv[1], int(sys.argv[2])
r, w = os.pipe()
mid = os.fork()
if mid == 0:
    for i in range(n):
        if os.fork() == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
    os.close(r)
    os.write(1, b"armed\n")
    fd = os.open(fifo, os.O_RDONLY)
    os.read(fd, 1)
    os._exit(0)
os.close(r)
os.close(w)
os.waitpid(mid, 0)
os.write(1, b"middle-reaped\n")
while True:
    time.sleep(3600)
"#;

fn storm(mode: Mode) {
    let dir = TestDir::new("reap");
    let fifo = dir.file("go");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo failed");
    // Held open read-write by the test: the readers' open() never blocks, and the trigger
    // bytes stay in the FIFO for a reader that opens late.
    let mut trigger = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let fifo_s = fifo.to_string_lossy().into_owned();

    let mut cfg = String::from("global:\n  log_level: debug\n  shutdown_timeout: 10\nprocesses:\n");
    cfg.push_str(&format!(
        "  storm:\n    command: [\"python3\", \"-c\", {}, {}, \"{ORPHANS}\"]\n",
        q(STORM),
        q(&fifo_s)
    ));
    for i in 0..CODED {
        cfg.push_str(&format!(
            "  code{i:02}:\n    restart: never\n    command: {}\n",
            sh(&format!("read x < {}; exit {}", fifo_s, code(i)))
        ));
    }
    let path = dir.write("storm.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    let starting = m.wait_started();
    if mode == Mode::Pid1 {
        assert_eq!(starting.i("pid"), Some(1), "not PID 1 of the namespace");
    } else {
        assert_ne!(starting.i("pid"), Some(1));
    }
    m.wait_count(CODED + 1, secs(15.0), "started records", |r| {
        r.event() == Some("started")
    });
    m.wait_for(secs(30.0), "the storm to arm its orphans", |r| {
        r.says("storm-0", "armed")
    });
    let mgr = m.pid();
    let before = descendants(mgr);
    assert!(
        before.len() > ORPHANS,
        "expected more than {ORPHANS} processes under the manager, found {}",
        before.len()
    );

    // Release the 2,000 orphans (through the middle process) and the 20 coded exits at once.
    let t0 = Instant::now();
    trigger.write_all(&[b'\n'; CODED + 1]).unwrap();

    // The middle process is reaped by the storm itself; its 2,000 children are orphans of the
    // manager. Done when nothing but the storm's top process is left, and no zombie.
    let deadline = t0 + secs(20.0);
    let zero_at = loop {
        let d = descendants(mgr);
        let z = d.iter().filter(|p| p.state == 'Z').count();
        if z == 0 && d.len() == 1 {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{mode:?}: 20 s after the orphans exited, {} process(es) remain under the manager, \
             {z} of them zombies\n{}",
            d.len(),
            m.dump()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let elapsed = zero_at - t0;
    println!(
        "{mode:?}: {ORPHANS} orphans + {CODED} managed exits: 0 zombies after {:.0} ms",
        elapsed.as_secs_f64() * 1000.0
    );
    // It stays at zero.
    let d = descendants(mgr);
    assert_eq!(
        d.iter().filter(|p| p.state == 'Z').count(),
        0,
        "zombies: {d:?}"
    );

    // Every managed exit status, exactly.
    let exits = m.wait_count(CODED, secs(10.0), "exited records of code*", |r| {
        r.event() == Some("exited") && r.process().is_some_and(|p| p.starts_with("code"))
    });
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for r in &exits {
        let inst = r.instance().unwrap().to_owned();
        assert!(r.s("signal").is_none(), "unexpected signal in {r}");
        let c = r
            .i("exit_code")
            .unwrap_or_else(|| panic!("no exit_code in {r}"));
        assert!(
            got.insert(inst.clone(), c).is_none(),
            "two exited records for {inst}"
        );
    }
    for i in 0..CODED {
        assert_eq!(
            got.get(&format!("code{i:02}-0")),
            Some(&code(i)),
            "exit code of code{i:02} (all: {got:?})"
        );
    }
    m.wait_for(secs(10.0), "the storm to reap its middle process", |r| {
        r.says("storm-0", "middle-reaped")
    });
    // Orphans never show up as managed exits, and the storm is untouched.
    let stray = m.find(|r| {
        r.event() == Some("exited") && !r.process().is_some_and(|p| p.starts_with("code"))
    });
    assert!(stray.is_empty(), "unexpected exited records: {stray:?}");
    assert!(m.events("started", "storm-0").len() == 1);

    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0, "{}", m.dump());
    m.assert_json_only();
}

#[test]
fn orphan_storm_as_pid1() {
    storm(Mode::Pid1);
}

#[test]
fn orphan_storm_as_subreaper() {
    storm(Mode::Subreaper);
}

/// An orphan of a managed process is re-parented to the manager (PID 1 of the namespace, or
/// the subreaper), and does not outlive it.
fn reparent(mode: Mode) {
    let dir = TestDir::new("reparent");
    let mark = format!("1000.{}", unique_digits());
    let _guard = MarkerGuard(mark.clone());
    let cfg = format!(
        "processes:\n  parent:\n    restart: never\n    command: {}\n  keeper:\n    command: [\"sleep\", \"1000\"]\n",
        sh(&format!("sleep {mark} & echo spawned; exit 0"))
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(mode, &path);
    let ex = m.wait_for(secs(10.0), "parent exit", |r| r.is("exited", "parent-0"));
    assert_eq!(ex.i("exit_code"), Some(0));
    let mgr = m.pid();
    let orphan = poll_until(secs(5.0), "the orphan sleep", || {
        descendants(mgr)
            .into_iter()
            .find(|p| cmdline(p.pid).iter().any(|a| a == &mark))
    });
    assert_eq!(
        orphan.ppid, mgr,
        "orphan {} was not re-parented to the manager",
        orphan.pid
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(15.0)), 0);
    let left = pids_with_marker(&mark);
    assert!(left.is_empty(), "orphan outlived the manager: {left:?}");
}

#[test]
fn orphan_reparented_and_cleaned_as_pid1() {
    reparent(Mode::Pid1);
}

#[test]
fn orphan_reparented_and_cleaned_as_subreaper() {
    reparent(Mode::Subreaper);
}
