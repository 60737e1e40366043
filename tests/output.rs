//! Output under pressure (issue #2, item 6): a child printing 200 MB as fast as it can and one
//! printing a 10 MB line without a newline. Every byte must arrive on the manager's stdout in
//! order (reassembled from the records as documented), the manager's memory must stay
//! bounded (peak RSS sampled during the flood), and it must keep answering signals meanwhile
//! (SIGUSR1 forwarded mid-flood shows up before the flood ends; SIGTERM mid-flood ends it
//! promptly).

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use support::*;

const FLOOD_LINES: u64 = 200_000;
/// Each flood line: 9 digits, 990 'x', newline = 1000 bytes; 200 MB in all.
const LINE_LEN: usize = 1000;
const LONG_LEN: usize = 10 * 1024 * 1024;
/// `MAX_LINE` of docs/design-decisions.md.
const MAX_LINE: usize = 16 * 1024;
const RSS_LIMIT_KIB: u64 = 32 * 1024;

/// SIGUSR1 is forwarded to every group, so the flood ignores it.
const FLOOD: &str = r#"
import signal, sys
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
w = sys.stdout.buffer.write
pad = b"x" * 990 + b"\n"
for k in range(0, 200000, 1000):
    w(b"".join(b"%09d" % i + pad for i in range(k, k + 1000)))
sys.stdout.flush()
"#;

/// Traps SIGUSR1; says so on stdout and in files (argv[1] when ready, argv[2] when signalled),
/// so that signal forwarding can be observed apart from the output path. Every line carries
/// the child's own clock (ms), and it ticks every 100 ms, so the delay of its lines through
/// the manager can be measured while the others flood.
const USR1: &str = r#"
import os, signal, sys, time
def now():
    return time.time_ns() // 1000000
def got(*a):
    os.write(1, b"got-usr1 %d\n" % now())
    open(sys.argv[2], "w").close()
signal.signal(signal.SIGUSR1, got)
os.write(1, b"usr1-ready %d\n" % now())
open(sys.argv[1], "w").close()
i = 0
while True:
    time.sleep(0.1)
    os.write(1, b"tick %d %d\n" % (i, now()))
    i += 1
"#;

/// The expected flood, 1,000 lines (1 MB) per chunk.
fn flood_chunks() -> impl FnMut() -> Option<Vec<u8>> + Send {
    let mut next = 0u64;
    move || {
        if next >= FLOOD_LINES {
            return None;
        }
        let mut v = Vec::with_capacity(1000 * LINE_LEN);
        for i in next..next + 1000 {
            v.extend_from_slice(format!("{i:09}").as_bytes());
            v.resize(v.len() + 990, b'x');
            v.push(b'\n');
        }
        next += 1000;
        Some(v)
    }
}

/// 10 MB of deterministic text without a newline: ASCII, 2-, 3- and 4-byte UTF-8 characters,
/// quotes, backslashes, tabs and control characters (which JSON must escape).
fn long_line() -> Vec<u8> {
    const PIECES: [&str; 12] = [
        "abcdefgh", "é", "€", "𝄞", "0123", "\"", "\\", "\t", "\u{1}", " ", "ß", "日本",
    ];
    let mut out = Vec::with_capacity(LONG_LEN + 8);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < LONG_LEN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(PIECES[(x % PIECES.len() as u64) as usize].as_bytes());
    }
    out
}

#[derive(Default)]
struct Seen {
    flood_last_line: u64,
    long_last_line: u64,
    long_max_msg: usize,
    long_partials: u64,
    other_partials: Vec<String>,
}

#[test]
fn flood_and_long_line_arrive_intact_with_bounded_memory() {
    let dir = TestDir::new("flood");
    let long = long_line();
    let long_path = dir.file("long.txt");
    std::fs::write(&long_path, &long).unwrap();
    let cfg = format!(
        r#"processes:
  flood:
    type: oneshot
    command: {flood}
  long:
    type: oneshot
    command: ["/bin/sh", "-c", "trap '' USR1; exec cat \"$0\"", {long}]
  usr1:
    forward_signals: [USR1]
    command: ["python3", "-c", {usr1}, {ready}, {got}]
"#,
        flood = py(FLOOD),
        long = q(&long_path.to_string_lossy()),
        usr1 = q(USR1),
        ready = q(&dir.s("usr1-ready")),
        got = q(&dir.s("usr1-got")),
    );
    let (ready_file, got_file) = (dir.file("usr1-ready"), dir.file("usr1-got"));
    let path = dir.write("c.yaml", &cfg);

    // The tap checks the flood and the long line as they stream by, holding none of it.
    let mut expected_long = long.clone();
    expected_long.push(b'\n'); // the record that ends the line (see the report).
    let mut long_chunks = Some(expected_long);
    let flood_check = Arc::new(Mutex::new(StreamCheck::new(flood_chunks())));
    let long_check = Arc::new(Mutex::new(StreamCheck::new(move || long_chunks.take())));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let flood_bytes = Arc::new(AtomicU64::new(0));
    let (fc, lc, sn, fb) = (
        Arc::clone(&flood_check),
        Arc::clone(&long_check),
        Arc::clone(&seen),
        Arc::clone(&flood_bytes),
    );
    let tap: Tap = Box::new(move |line, n| {
        let Some((inst, msg, partial)) = child_record(line) else {
            return false;
        };
        match inst.as_str() {
            "flood-0" => {
                let mut c = fc.lock().unwrap();
                c.record(&msg, partial);
                fb.store(c.matched, Ordering::Relaxed);
                let mut s = sn.lock().unwrap();
                s.flood_last_line = n;
                if partial {
                    s.other_partials
                        .push(format!("flood record {n} is partial"));
                }
                true
            }
            "long-0" => {
                lc.lock().unwrap().record(&msg, partial);
                let mut s = sn.lock().unwrap();
                s.long_last_line = n;
                s.long_max_msg = s.long_max_msg.max(msg.len());
                s.long_partials += u64::from(partial);
                true
            }
            _ => false,
        }
    });
    let mut m = Launch::new(Mode::Pid1).config(&path).tap(tap).spawn();
    let mgr = m.pid();

    let t0 = Instant::now();
    let mut peak_rss = 0u64;
    let mut samples = 0u32;
    let mut usr1_sent: Option<(Instant, u64)> = None;
    // When the trap's file appeared, and how much of the flood had arrived by then.
    let mut usr1_answered: Option<(Instant, u64)> = None;
    let total = FLOOD_LINES * LINE_LEN as u64;
    let deadline = t0 + secs(100.0);
    loop {
        if let Some(kib) = status_kib(mgr, "VmRSS") {
            peak_rss = peak_rss.max(kib);
            samples += 1;
        }
        let done = flood_bytes.load(Ordering::Relaxed);
        if usr1_sent.is_none() && done >= total / 10 && ready_file.exists() {
            m.signal(libc::SIGUSR1);
            usr1_sent = Some((Instant::now(), done));
        }
        if usr1_sent.is_some() && usr1_answered.is_none() && got_file.exists() {
            usr1_answered = Some((Instant::now(), flood_bytes.load(Ordering::Relaxed)));
        }
        let flood_done = flood_check.lock().unwrap().complete();
        let long_done = long_check.lock().unwrap().complete();
        if flood_done && long_done {
            break;
        }
        for (name, c) in [("flood", &flood_check), ("long", &long_check)] {
            let c = c.lock().unwrap();
            assert!(c.error.is_none(), "{name}: {}", c.error.as_ref().unwrap());
        }
        assert!(
            m.exited().is_none(),
            "manager exited mid-flood\n{}",
            m.dump()
        );
        assert!(
            Instant::now() < deadline,
            "flood not through after 100 s: {done} of {total} bytes\n{}",
            m.dump()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let took = t0.elapsed();
    for inst in ["flood-0", "long-0"] {
        let ex = m.wait_for(secs(10.0), "exit", |r| r.is("exited", inst));
        assert_eq!(ex.i("exit_code"), Some(0), "{inst}: {ex}");
    }
    // Peak RSS of the whole run, from the kernel, while the manager still runs.
    let hwm = status_kib(mgr, "VmHWM").expect("VmHWM");
    let (sent, sent_at_bytes) = usr1_sent.expect("SIGUSR1 was never sent (the flood ended first)");
    if usr1_answered.is_none() {
        poll_until(secs(10.0), "the SIGUSR1 trap to run", || {
            got_file.exists().then_some(())
        });
    }
    let got_usr1 = m.wait_for(secs(10.0), "got-usr1", |r| {
        r.is_output() && r.instance() == Some("usr1-0") && r.msg().starts_with("got-usr1 ")
    });
    let usr1_ready = m.wait_for(secs(10.0), "usr1-ready", |r| {
        r.is_output() && r.instance() == Some("usr1-0") && r.msg().starts_with("usr1-ready ")
    });

    let s = seen.lock().unwrap();
    let fc = flood_check.lock().unwrap();
    let lc = long_check.lock().unwrap();
    println!(
        "flood: {} MB in {:.1} s ({:.0} MB/s), {} records; long line: {} bytes in {} records \
         ({} partial, largest msg {} B); manager RSS peak sampled {} KiB over {samples} samples, \
         VmHWM {} KiB; SIGUSR1 sent at {} MB of the flood, trap ran after {} (flood at {} MB); \
         usr1's records at stdout lines {} and {}, the flood's last at line {}",
        total / 1_000_000,
        took.as_secs_f64(),
        total as f64 / 1e6 / took.as_secs_f64(),
        fc.records,
        long.len(),
        lc.records,
        s.long_partials,
        s.long_max_msg,
        peak_rss,
        hwm,
        sent_at_bytes / 1_000_000,
        usr1_answered.map_or("never (during the flood)".to_owned(), |(t, _)| format!(
            "{} ms",
            (t - sent).as_millis()
        )),
        usr1_answered.map_or(0, |(_, b)| b / 1_000_000),
        usr1_ready.line_no(),
        got_usr1.line_no(),
        s.flood_last_line,
    );
    let mut c = Soft::default();
    c.eq(fc.records, FLOOD_LINES, "flood records (one per line)");
    c.eq(fc.matched, total, "flood bytes");
    c.eq(
        lc.matched,
        long.len() as u64 + 1,
        "long-line bytes (+ the final line end)",
    );
    c.check(s.other_partials.is_empty(), || {
        format!("{:?}", &s.other_partials[..1])
    });
    c.check(s.long_max_msg <= MAX_LINE, || {
        format!(
            "a record of the long line holds {} bytes > MAX_LINE",
            s.long_max_msg
        )
    });
    c.check(
        lc.records >= (LONG_LEN / MAX_LINE) as u64 && s.long_partials == lc.records - 1,
        || {
            format!(
                "long line: {} records, {} partial: want every record but the last partial",
                lc.records, s.long_partials
            )
        },
    );
    // The signal is forwarded while the flood goes on...
    c.check(usr1_answered.is_some_and(|(_, b)| b < total), || {
        "SIGUSR1 sent mid-flood reached its child only after the flood ended".to_owned()
    });
    // ...and its answer, and the child's first line, appear on stdout before the flood ends.
    for (what, r) in [("got-usr1", &got_usr1), ("usr1-ready", &usr1_ready)] {
        c.check((r.line_no() as u64) < s.flood_last_line, || {
            format!(
                "{what} reached stdout at line {}, after the flood's last record (line {})",
                r.line_no(),
                s.flood_last_line
            )
        });
    }
    // How long the quiet child's lines took to get through meanwhile (informational here;
    // `quiet_child_is_not_starved_by_floods` asserts a bound).
    let flood_end = m.events("exited", "flood-0")[0].time_ms();
    let usr1_worst = m
        .find(|r| r.is_output() && r.instance() == Some("usr1-0"))
        .iter()
        .filter_map(|r| {
            let printed: i64 = r.msg().rsplit(' ').next()?.parse().ok()?;
            (printed < flood_end).then(|| r.time_ms() - printed)
        })
        .max()
        .unwrap_or(0);
    println!("usr1's lines during the flood: worst delay {usr1_worst} ms");
    c.check(hwm < RSS_LIMIT_KIB, || {
        format!("manager peak RSS {hwm} KiB >= {RSS_LIMIT_KIB} KiB")
    });
    c.check(peak_rss < RSS_LIMIT_KIB, || {
        format!("manager RSS sampled {peak_rss} KiB")
    });
    drop((s, fc, lc));
    m.signal(libc::SIGTERM);
    c.eq(m.wait_code(secs(15.0)), 0, "exit code");
    m.assert_json_only();
    c.finish(&m.dump());
}

/// SIGTERM while a child floods stdout without end: the manager stops it and exits promptly.
#[test]
fn sigterm_during_endless_flood_exits_promptly() {
    let dir = TestDir::new("endless");
    let cfg = format!(
        "processes:\n  flood:\n    command: {}\n",
        py(
            "import sys\nw = sys.stdout.buffer.write\nb = b'y' * 4095 + b'\\n'\nwhile True:\n    w(b * 64)\n"
        )
    );
    let path = dir.write("c.yaml", &cfg);
    let bytes = Arc::new(AtomicU64::new(0));
    let b2 = Arc::clone(&bytes);
    let tap: Tap = Box::new(move |line, _| {
        if line.len() > 4000 && line.windows(11).take(200).any(|w| w == b"\"flood-0\",\"") {
            b2.fetch_add(line.len() as u64, Ordering::Relaxed);
            return true;
        }
        false
    });
    let mut m = Launch::new(Mode::Pid1).config(&path).tap(tap).spawn();
    poll_until(secs(30.0), "20 MB of flood", || {
        (bytes.load(Ordering::Relaxed) > 20_000_000).then_some(())
    });
    let t0 = Instant::now();
    m.signal(libc::SIGTERM);
    let code = m.wait_code(secs(10.0));
    let took = t0.elapsed();
    println!("exit {} ms after SIGTERM mid-flood", took.as_millis());
    assert_eq!(code, 0);
    let ex = m.events("exited", "flood-0");
    assert_eq!(ex.len(), 1, "{}", m.dump());
    assert_eq!(ex[0].s("signal"), Some("SIGTERM"));
    assert!(m.events("kill", "flood-0").is_empty(), "needed SIGKILL");
}

/// Two children flood stdout without end, into a slow log consumer (like a container runtime's
/// log driver, it takes about 8 MB/s), while a third prints a short line every 100 ms with
/// its own clock: each of its lines must still reach the manager's stdout promptly. A reader
/// that always serves the same pipes first holds the quiet child's lines (and, once its pipe
/// is full, the child itself) back for as long as the floods last.
#[test]
fn quiet_child_is_not_starved_by_floods() {
    let dir = TestDir::new("starve");
    let flood = py(
        "import sys\nw = sys.stdout.buffer.write\nb = b'z' * 4095 + b'\\n'\nwhile True:\n    w(b * 16)\n",
    );
    let quiet = py(
        "import time\nfor i in range(30):\n    print('tick %d %d' % (i, time.time_ns() // 1000000), flush=True)\n    time.sleep(0.1)\n",
    );
    let cfg = format!(
        "processes:\n  flood-a:\n    command: {flood}\n  flood-b:\n    command: {flood}\n  quiet:\n    restart: never\n    priority: 10\n    command: {quiet}\n"
    );
    let path = dir.write("c.yaml", &cfg);
    let bytes = Arc::new(AtomicU64::new(0));
    let b2 = Arc::clone(&bytes);
    let mut n = 0u64;
    let tap: Tap = Box::new(move |line, _| {
        if line.len() > 4000 {
            if let Some((inst, msg, _)) = child_record(line) {
                if inst.starts_with("flood-") {
                    b2.fetch_add(msg.len() as u64 + 1, Ordering::Relaxed);
                    // The slow consumer: about 2,000 records (8 MB) a second.
                    n += 1;
                    if n % 2 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    return true;
                }
            }
        }
        false
    });
    let mut m = Launch::new(Mode::Pid1).config(&path).tap(tap).spawn();
    let at_start = m.wait_for(secs(30.0), "quiet to finish", |r| r.is("exited", "quiet-0"));
    let flooded = bytes.load(Ordering::Relaxed);
    let ticks = m.find(|r| r.is_output() && r.instance() == Some("quiet-0"));
    let mut worst = 0i64;
    let mut late = Vec::new();
    for t in &ticks {
        let printed: i64 = t
            .msg()
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad tick {t}"));
        let delay = t.time_ms() - printed;
        worst = worst.max(delay);
        if delay > 1000 {
            late.push(format!("{} after {delay} ms", t.msg()));
        }
    }
    println!(
        "quiet child: {} ticks during {} MB of flood, worst delay {worst} ms",
        ticks.len(),
        flooded / 1_000_000
    );
    m.signal(libc::SIGTERM);
    let code = m.wait_code(secs(15.0));
    let mut c = Soft::default();
    c.eq(ticks.len(), 30, "ticks received");
    c.eq(at_start.i("exit_code"), Some(0), "quiet exit code");
    c.check(flooded > 5_000_000, || {
        format!("the floods wrote only {flooded} bytes")
    });
    c.check(late.is_empty(), || {
        format!(
            "{} of {} lines of the quiet child reached stdout more than 1 s late (worst {worst} ms; e.g. {})",
            late.len(),
            ticks.len(),
            late[0]
        )
    });
    c.eq(code, 0, "exit code");
    c.finish(&m.dump());
}

/// A child that bursts (whole 4 KiB writes, as stdio flushes them) and then goes on with a
/// line now and then, without exiting: the manager takes a bursting pipe out of the poll for a
/// millisecond at a time so that it fills (docs/design-decisions.md), and must put it back
/// once the burst is over. Every line of the burst arrives, in order, and so does each later
/// line while the child still runs (a pipe left out of the poll would hold them until exit).
#[test]
fn lines_after_a_burst_arrive_while_the_child_runs() {
    let dir = TestDir::new("burst");
    let child = py(concat!(
        "import os, time\n",
        "lines = b''.join(b'b%07d ' % i + b'y' * 55 + b'\\n' for i in range(80000))\n",
        "for k in range(0, len(lines), 4096):\n",
        "    os.write(1, lines[k:k + 4096])\n",
        "for i in range(5):\n",
        "    time.sleep(0.2)\n",
        "    os.write(1, b'after %d\\n' % i)\n",
        "time.sleep(1000)\n",
    ));
    let cfg = format!("processes:\n  burst:\n    restart: never\n    command: {child}\n");
    let path = dir.write("c.yaml", &cfg);
    let mut m = Launch::new(Mode::Pid1).config(&path).spawn();
    m.wait_for(secs(30.0), "the last line after the burst", |r| {
        r.is_output() && r.instance() == Some("burst-0") && r.msg() == "after 4"
    });
    let lines = m.find(|r| r.is_output() && r.instance() == Some("burst-0"));
    let exited_early = m.events("exited", "burst-0");
    m.signal(libc::SIGTERM);
    let code = m.wait_code(secs(15.0));
    let mut c = Soft::default();
    c.eq(lines.len(), 80_005, "records of the child");
    let out_of_order = lines.iter().enumerate().find(|(i, r)| {
        let want = if *i < 80_000 {
            format!("b{i:07} {}", "y".repeat(55))
        } else {
            format!("after {}", i - 80_000)
        };
        r.msg() != want
    });
    c.check(out_of_order.is_none(), || {
        format!(
            "first record not as written: {:?}",
            out_of_order.map(|(i, r)| (i, r.msg()))
        )
    });
    c.check(exited_early.is_empty(), || {
        "the child exited before its last line arrived".to_owned()
    });
    c.eq(code, 0, "exit code");
    c.finish(&m.dump());
}
