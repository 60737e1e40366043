use super::*;

fn stat_line(pid: i32, comm: &str, pgid: i32, ticks: [u64; 4], start: u64, rss: u64) -> String {
    format!(
        "{pid} ({comm}) S 1 {pgid} {pgid} 0 -1 4194560 100 0 0 0 {} {} {} {} 20 0 1 0 {start} 1000000 {rss} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
        ticks[0], ticks[1], ticks[2], ticks[3]
    )
}

#[test]
fn parses_stat_with_odd_command_names() {
    let s = parse_stat(&stat_line(
        42,
        "php-fpm: pool (www) x",
        40,
        [100, 50, 7, 3],
        999,
        2048,
    ))
    .unwrap();
    assert_eq!(
        s,
        Stat {
            pid: 42,
            pgid: 40,
            ticks: 160,
            threads: 1,
            start: 999,
            vsize: 1_000_000,
            rss_pages: 2048
        }
    );
    assert_eq!(parse_stat("garbage"), None);
    assert_eq!(parse_stat("12 (x) S 1"), None);
}

struct Fixture {
    dir: std::path::PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("phpeek-res-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fixture { dir }
    }
    fn put(&self, pid: i32, pgid: i32, ticks: u64, start: u64, rss: u64) {
        let d = self.dir.join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("stat"),
            stat_line(pid, "p", pgid, [ticks, 0, 0, 0], start, rss),
        )
        .unwrap();
    }
    fn remove(&self, pid: i32) {
        std::fs::remove_dir_all(self.dir.join(pid.to_string())).unwrap();
    }
    fn fs(&self) -> ProcFs {
        ProcFs {
            root: self.dir.to_string_lossy().into_owned(),
            ticks_per_second: 100,
            page_size: 4096,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn sums_the_group_and_walks_rarely() {
    let f = Fixture::new("sum");
    f.put(10, 10, 100, 1, 256); // leader
    f.put(11, 10, 300, 2, 1024); // worker
    f.put(12, 12, 50, 3, 10); // another instance
    f.put(13, 99, 50, 4, 10); // not ours
    let mut s = Scanner::new(f.fs());
    let u = s.usage(&[10, 12], 0).clone();
    assert_eq!(
        u[&10],
        Usage {
            cpu_seconds: 4.0,
            rss_bytes: 1280 * 4096,
            processes: 2
        }
    );
    assert_eq!(u[&12].processes, 1);
    assert_eq!(s.walks, 1);
    // Within the memo: the same reading, nothing read.
    f.put(11, 10, 500, 2, 1024);
    assert_eq!(s.usage(&[10, 12], 100)[&10].cpu_seconds, 4.0);
    // After it: known members re-read, no walk; a new member is not seen yet.
    f.put(14, 10, 100, 5, 0);
    assert_eq!(s.usage(&[10, 12], 400)[&10].cpu_seconds, 6.0);
    assert_eq!(s.walks, 1);
    // A walk finds it.
    assert_eq!(s.usage(&[10, 12], 400 + WALK_EVERY_MS)[&10].processes, 3);
    assert_eq!(s.walks, 2);
}

#[test]
fn cpu_never_goes_down_and_recycled_pids_are_dropped() {
    let f = Fixture::new("mono");
    f.put(10, 10, 100, 1, 1);
    f.put(11, 10, 300, 2, 1);
    let mut s = Scanner::new(f.fs());
    assert_eq!(s.usage(&[10], 0)[&10].cpu_seconds, 4.0);
    // The worker goes (reaped elsewhere) and its pid comes back as a stranger in the group.
    f.remove(11);
    f.put(11, 10, 7, 99, 1);
    let u = s.usage(&[10], 1000)[&10];
    assert_eq!((u.cpu_seconds, u.processes), (4.0, 1));
    // A new leader (another group id): a new counter.
    f.put(20, 20, 1, 5, 1);
    assert_eq!(s.usage(&[20], 1300)[&20].cpu_seconds, 0.01);
}

#[test]
fn reads_the_real_procfs() {
    let fs = ProcFs::system();
    let own = fs.own().unwrap();
    assert!(
        own.rss_bytes > 0 && own.open_fds >= 3 && own.threads >= 1,
        "{own:?}"
    );
    let me = rustix::process::getpgrp().as_raw_nonzero().get();
    let mut s = Scanner::new(fs);
    let u = s.usage(&[me], 0)[&me];
    assert!(u.processes >= 1 && u.rss_bytes > 0, "{u:?}");
}

#[test]
fn history_rings_are_bounded_and_queried_oldest_first() {
    let mut h = History::new(3);
    let u = |cpu: f64| Usage {
        cpu_seconds: cpu,
        rss_bytes: 1,
        processes: 1,
    };
    for (t, cpu) in [(1.0, 0.0), (2.0, 0.5), (3.0, 1.5), (4.0, 2.5)] {
        h.record("web", "web-0", t, u(cpu));
    }
    h.record("web", "web-1", 3.5, u(0.0));
    h.record("db", "db-0", 3.5, u(0.0));
    let all = h.query("web", None, 0.0, 100);
    let times: Vec<(&str, f64)> = all.iter().map(|(i, s)| (*i, s.time)).collect();
    assert_eq!(
        times,
        [
            ("web-0", 2.0),
            ("web-0", 3.0),
            ("web-1", 3.5),
            ("web-0", 4.0)
        ]
    );
    assert_eq!(all[1].1.cpu_percent, 100.0);
    assert_eq!(h.query("web", Some("web-0"), 2.5, 1).len(), 1);
    assert_eq!(h.query("web", Some("web-0"), 2.5, 1)[0].1.time, 4.0);
    h.retain(&["web-0"]);
    assert!(h.query("db", None, 0.0, 10).is_empty());
}
