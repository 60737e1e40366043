//! The HTTP server under abuse (issue 9, must-show 4): 500 idle connections, a client sending
//! one header byte per second, a 1 MB header and random bytes at once. Meanwhile a normal
//! request still answers within 100 ms, the manager's memory stays bounded, and once the
//! clients are gone no descriptor is left open.
#![cfg(feature = "api")]

mod http_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http_support::*;
use support::*;

/// One plain request on a fresh connection: the answer's status line and the time it took.
fn timed_health(addr: &str) -> (String, Duration) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    (text.lines().next().unwrap_or("").to_owned(), t0.elapsed())
}

#[test]
fn abusive_clients_do_not_stall_the_loop() {
    let dir = TestDir::new("abuse");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\nprocesses:\n  web:\n    command: {}\n",
        sh("while :; do sleep 1; done")
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let pid = m.pid();
    let (line, _) = timed_health(&addr);
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let fds_before = open_fds(pid).len();
    let rss_before = status_kib(pid, "VmRSS").unwrap();

    // 500 idle connections (more than the 256 the server keeps: the oldest idle ones go).
    let idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(&addr).expect("idle connect"))
        .collect();

    // A slowloris: one header byte per second, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let slow = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&addr).unwrap();
            for b in b"GET /api/v1/health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };

    // A 1 MB header: refused with 431 once the head passes the limit.
    let huge = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut req = b"GET /api/v1/health HTTP/1.1\r\nX-Big: ".to_vec();
            req.extend(std::iter::repeat_n(b'a', 1024 * 1024));
            req.extend_from_slice(b"\r\n\r\n");
            raw(&addr, &req)
        })
    };

    // Random bytes: 400.
    let noise = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let bytes: Vec<u8> = (0..64 * 1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            raw(&addr, &bytes)
        })
    };

    // Meanwhile, normal requests answer fast.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let (line, took) = timed_health(&addr);
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        worst = worst.max(took);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        worst < Duration::from_millis(100),
        "a normal request took {worst:?}"
    );

    let big = huge.join().unwrap();
    assert!(big.starts_with("HTTP/1.1 431 "), "1 MB header got {big:?}");
    let junk = noise.join().unwrap();
    assert!(
        junk.starts_with("HTTP/1.1 400 ") || junk.is_empty(),
        "random bytes got {junk:?}"
    );

    let rss_during = status_kib(pid, "VmRSS").unwrap();
    assert!(
        rss_during < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_during} KiB"
    );
    // The server holds at most its connection limit, not 500.
    let fds_during = open_fds(pid).len();
    assert!(fds_during <= fds_before + 256 + 2, "{fds_during} fds open");

    // Gone clients leave nothing behind.
    stop.store(true, Ordering::Relaxed);
    slow.join().unwrap();
    drop(idle);
    poll_until(secs(10.0), "descriptors back to the baseline", || {
        (open_fds(pid).len() <= fds_before).then_some(())
    });
    let (line, _) = timed_health(&addr);
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
}
