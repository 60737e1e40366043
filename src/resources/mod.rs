//! CPU and memory per instance, summed over its process group, read from `/proc` when someone
//! asks (the API, `/metrics`, `phpeek-pm status`) — never on a timer, so an idle manager still
//! does not wake up.
//!
//! An instance is its process group: the leader we spawned (its pid is the group id, `setsid`)
//! and everything it forked that is still in the group — php-fpm's workers, a queue worker's
//! children. The kernel offers no list of a group's members (and `/proc/PID/task/*/children`
//! is often compiled out), so members are found by a walk over `/proc/*/stat`. That walk is
//! the expensive part and is done at most every [`WALK_EVERY_MS`]; between walks only the
//! members already known (plus every leader) are re-read, and a whole reading is reused for
//! [`MEMO_MS`], so a scraper hammering `/metrics` costs one small read per member at most four
//! times a second.
//!
//! CPU is user + system time of the live members plus the time of members' children they
//! already waited for (`cutime`/`cstime`: php-fpm's master collects its recycled workers), so
//! the figure keeps growing as workers come and go. A member reaped by someone outside the
//! group takes its time with it; the counter is then held at its last value (never goes
//! down) until the leader changes.
//!
//! Also: the manager's own figures (the standard `process_*` series), and [`History`], the
//! ring of samples behind `GET /api/v1/metrics/history` when `resource_metrics_enabled`.

use std::collections::{HashMap, VecDeque};

/// A full walk over `/proc` (to find new group members) at most this often.
pub const WALK_EVERY_MS: u64 = 2_000;
/// A reading is reused by requests within this many milliseconds.
pub const MEMO_MS: u64 = 250;
/// Most members followed per group (a fork bomb cannot make one request unbounded).
pub const MAX_MEMBERS: usize = 4_096;

/// What one `/proc/PID/stat` says about a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub pgid: i32,
    /// utime + stime + cutime + cstime, in clock ticks.
    pub ticks: u64,
    pub threads: u32,
    /// Start time after boot, in clock ticks (tells a recycled pid from the old one).
    pub start: u64,
    pub vsize: u64,
    /// Resident pages.
    pub rss_pages: u64,
}

/// Parses `/proc/PID/stat` (proc(5)). The command name may hold spaces and parentheses, so
/// the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let pid = text[..open].trim().parse().ok()?;
    let close = text.rfind(')')?;
    // Fields from 3 (state) on; index 0 here is field 3.
    let f: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    let num = |field: usize| -> Option<u64> { f.get(field - 3)?.parse().ok() };
    let signed = |field: usize| -> Option<i64> { f.get(field - 3)?.parse().ok() };
    let ticks = [14, 15, 16, 17]
        .iter()
        .map(|&n| signed(n).map(|v| v.max(0) as u64))
        .sum::<Option<u64>>()?;
    Some(Stat {
        pid,
        pgid: i32::try_from(signed(5)?).ok()?,
        ticks,
        threads: u32::try_from(signed(20)?.max(0)).unwrap_or(u32::MAX),
        start: num(22)?,
        vsize: num(23)?,
        rss_pages: u64::try_from(signed(24)?.max(0)).unwrap_or(0),
    })
}

/// One instance's group, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// Live members of the group.
    pub processes: u32,
}

/// The manager's own figures (Prometheus' standard `process_*` series).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Own {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    pub vsize_bytes: u64,
    pub threads: u32,
    pub open_fds: u32,
    pub max_fds: u64,
}

/// Where procfs is (a fixture directory in tests) and the two system constants.
#[derive(Clone, Debug)]
pub struct ProcFs {
    pub root: String,
    pub ticks_per_second: u64,
    pub page_size: u64,
}

impl ProcFs {
    pub fn system() -> ProcFs {
        ProcFs {
            root: "/proc".into(),
            ticks_per_second: rustix::param::clock_ticks_per_second().max(1),
            page_size: rustix::param::page_size() as u64,
        }
    }

    fn stat(&self, pid: i32) -> Option<Stat> {
        let text = std::fs::read_to_string(format!("{}/{pid}/stat", self.root)).ok()?;
        parse_stat(&text)
    }

    /// Every pid under the root.
    fn pids(&self) -> Vec<i32> {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// The manager's own figures.
    pub fn own(&self) -> Option<Own> {
        let s = self.stat(sys_pid())?;
        let open_fds = std::fs::read_dir(format!("{}/self/fd", self.root))
            .map_or(0, |d| d.count().saturating_sub(1) as u32);
        let max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        Some(Own {
            cpu_seconds: s.ticks as f64 / self.ticks_per_second as f64,
            rss_bytes: s.rss_pages * self.page_size,
            vsize_bytes: s.vsize,
            threads: s.threads,
            open_fds,
            max_fds,
        })
    }
}

fn sys_pid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// Finds and reads group members with a bounded cost (see the module doc).
#[derive(Debug)]
pub struct Scanner {
    fs: ProcFs,
    /// Members known per group, with their start time.
    members: HashMap<i32, Vec<(i32, u64)>>,
    last_walk: Option<u64>,
    memo: Option<(u64, Vec<i32>, HashMap<i32, Usage>)>,
    /// Highest CPU figure given per group: the counter never goes down.
    high: HashMap<i32, f64>,
    /// Full walks done (measured by tests and the bench).
    pub walks: u64,
}

impl Scanner {
    pub fn new(fs: ProcFs) -> Scanner {
        Scanner {
            fs,
            members: HashMap::new(),
            last_walk: None,
            memo: None,
            high: HashMap::new(),
            walks: 0,
        }
    }

    pub fn fs(&self) -> &ProcFs {
        &self.fs
    }

    /// Usage of each group in `pgids` (each the pid of an instance's leader) at `now`
    /// (monotonic ms). Groups without a live member are absent.
    pub fn usage(&mut self, pgids: &[i32], now: u64) -> &HashMap<i32, Usage> {
        let fresh = self
            .memo
            .as_ref()
            .is_some_and(|(at, asked, _)| now.saturating_sub(*at) < MEMO_MS && asked == pgids);
        if !fresh {
            let m = self.read(pgids, now);
            self.memo = Some((now, pgids.to_vec(), m));
        }
        &self
            .memo
            .get_or_insert_with(|| (now, Vec::new(), HashMap::new()))
            .2
    }

    fn read(&mut self, pgids: &[i32], now: u64) -> HashMap<i32, Usage> {
        let walk_due = self
            .last_walk
            .is_none_or(|t| now.saturating_sub(t) >= WALK_EVERY_MS)
            || pgids.iter().any(|g| !self.members.contains_key(g));
        self.members.retain(|g, _| pgids.contains(g));
        self.high.retain(|g, _| pgids.contains(g));
        let mut stats: Vec<Stat> = Vec::new();
        if walk_due {
            self.walks += 1;
            self.last_walk = Some(now);
            for g in pgids {
                self.members.insert(*g, Vec::new());
            }
            for pid in self.fs.pids() {
                if let Some(s) = self.fs.stat(pid).filter(|s| pgids.contains(&s.pgid)) {
                    stats.push(s);
                }
            }
        } else {
            for (g, known) in &self.members {
                for &(pid, start) in known {
                    // Still there, still the same process, still in the group.
                    if let Some(s) = self
                        .fs
                        .stat(pid)
                        .filter(|s| s.start == start && s.pgid == *g)
                    {
                        stats.push(s);
                    }
                }
            }
        }
        let mut out: HashMap<i32, Usage> = HashMap::new();
        for s in &stats {
            let members = self.members.entry(s.pgid).or_default();
            if walk_due && members.len() < MAX_MEMBERS {
                members.push((s.pid, s.start));
            }
            let u = out.entry(s.pgid).or_default();
            u.cpu_seconds += s.ticks as f64 / self.fs.ticks_per_second as f64;
            u.rss_bytes += s.rss_pages * self.fs.page_size;
            u.processes += 1;
        }
        for (g, u) in &mut out {
            let high = self.high.entry(*g).or_insert(0.0);
            *high = high.max(u.cpu_seconds);
            u.cpu_seconds = *high;
        }
        out
    }
}

/// One sample of an instance in the history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub time: f64,
    pub cpu_seconds: f64,
    /// CPU used since the previous sample, in percent of one core.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub processes: u32,
}

/// The in-memory ring of samples per instance (`resource_metrics_max_samples` each), taken
/// every `resource_metrics_interval` — the wake-ups the user chose by switching it on.
#[derive(Debug, Default)]
pub struct History {
    pub max_samples: usize,
    rings: HashMap<String, (String, VecDeque<Sample>)>,
}

impl History {
    pub fn new(max_samples: usize) -> History {
        History {
            max_samples: max_samples.max(1),
            rings: HashMap::new(),
        }
    }

    /// Records `usage` of instance `id` (of process `process`) at Unix time `time`.
    pub fn record(&mut self, process: &str, id: &str, time: f64, usage: Usage) {
        let (_, ring) = self
            .rings
            .entry(id.to_owned())
            .or_insert_with(|| (process.to_owned(), VecDeque::new()));
        let cpu_percent = match ring.back() {
            Some(p) if time > p.time && usage.cpu_seconds >= p.cpu_seconds => {
                (usage.cpu_seconds - p.cpu_seconds) / (time - p.time) * 100.0
            }
            _ => 0.0,
        };
        if ring.len() >= self.max_samples {
            ring.pop_front();
        }
        ring.push_back(Sample {
            time,
            cpu_seconds: usage.cpu_seconds,
            cpu_percent,
            rss_bytes: usage.rss_bytes,
            processes: usage.processes,
        });
    }

    /// Forgets instances that no longer exist (their ids are not in `live`).
    pub fn retain(&mut self, live: &[&str]) {
        self.rings.retain(|id, _| live.contains(&id.as_str()));
    }

    /// Samples since `since` (Unix seconds), oldest first, at most the last `limit`, of the
    /// instances of `process` (all of them, or the one named `instance`). The API's history
    /// route asks it (and the unit tests).
    #[cfg(any(test, feature = "api"))]
    pub fn query(
        &self,
        process: &str,
        instance: Option<&str>,
        since: f64,
        limit: usize,
    ) -> Vec<(&str, Sample)> {
        // Each ring is oldest first: merge them (a few instances) instead of sorting.
        let mut rings: Vec<(&str, std::iter::Peekable<_>)> = self
            .rings
            .iter()
            .filter(|(id, (p, _))| p == process && instance.is_none_or(|i| i == id.as_str()))
            .map(|(id, (_, ring))| {
                let samples = ring.iter().filter(move |s| s.time >= since).peekable();
                (id.as_str(), samples)
            })
            .collect();
        let mut v: Vec<(&str, Sample)> = Vec::new();
        loop {
            let mut next: Option<(usize, f64, &str)> = None;
            for (n, (id, it)) in rings.iter_mut().enumerate() {
                let Some(s) = it.peek() else { continue };
                let earlier = next.is_none_or(|(_, t, i)| s.time < t || (s.time == t && *id < i));
                if earlier {
                    next = Some((n, s.time, id));
                }
            }
            let Some((n, _, id)) = next else { break };
            if let Some(s) = rings[n].1.next() {
                v.push((id, *s));
            }
        }
        let skip = v.len().saturating_sub(limit);
        v.drain(..skip);
        v
    }
}

#[cfg(test)]
mod tests;
