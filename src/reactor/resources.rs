//! The resources part (features `api`, `metrics`): CPU and memory of every running instance's
//! process group, and the manager's own, added to the status snapshot when one is made (a
//! request to the API or `/metrics`), read from `/proc` then within the scanner's bounds
//! ([`crate::resources::Scanner`]) — never on a timer, so an idle manager does not wake up.
//!
//! With `resource_metrics_enabled: true` it also samples every running instance each
//! `resource_metrics_interval` into a ring of `resource_metrics_max_samples` per instance
//! ([`History`]), served as `GET /api/v1/metrics/history`. Those are the only wake-ups it
//! asks for, and only when switched on.

use std::cell::RefCell;

use super::Reactor;
use super::part::{Msg, Part, Reply, Setup};
use crate::config::model::Config;
use crate::resources::{History, ProcFs, Scanner};
use crate::status::{OwnView, Snapshot, UsageView};
use crate::supervisor::{InstId, Millis};
use crate::sys;

pub(super) fn part(config: &Config, _setup: &Setup<'_>) -> Box<dyn Part> {
    let rm = &config.global.resource_metrics;
    Box::new(Resources {
        scanner: RefCell::new(None),
        own: std::cell::Cell::new(None),
        sampling: rm.enabled.then(|| Sampling {
            every: rm.interval_ms.max(1),
            next: 0,
            running: Vec::new(),
            history: History::new(rm.max_samples as usize),
        }),
    })
}

struct Resources {
    /// Made on first use (the snapshot hook reads through `&self`, the scanner keeps state).
    scanner: RefCell<Option<Scanner>>,
    /// The manager's own figures and when they were read: reused like the scanner's readings
    /// (a scrape storm must not list /proc/self/fd for every request).
    own: std::cell::Cell<Option<(Millis, Option<OwnView>)>>,
    /// `resource_metrics_enabled: true`.
    sampling: Option<Sampling>,
}

struct Sampling {
    every: Millis,
    /// When the next sample is due (0: at the first turn).
    next: Millis,
    /// Running instances.
    running: Vec<InstId>,
    history: History,
}

impl Part for Resources {
    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        self.sampling.as_ref().map(|s| s.next)
    }

    fn turn(&mut self, r: &mut Reactor<'_>) {
        let Some(s) = self.sampling.as_mut() else {
            return;
        };
        let now = sys::monotonic_ms();
        if now < s.next {
            return;
        }
        // The next sample on the interval's grid, never a burst to catch up after a stall.
        s.next = if s.next == 0 {
            now + s.every
        } else {
            (s.next + s.every).max(now + 1)
        };
        let (secs, ms) = sys::realtime();
        let time = secs as f64 + f64::from(ms) / 1000.0;
        let live: Vec<(usize, &str, i32)> = s
            .running
            .iter()
            .filter_map(|&inst| {
                let i = r.sup.instance(inst);
                Some((i.process, i.id.as_str(), i.pid?))
            })
            .collect();
        let groups: Vec<i32> = live.iter().map(|l| l.2).collect();
        let mut cell = self.scanner.borrow_mut();
        let scanner = cell.get_or_insert_with(|| Scanner::new(ProcFs::system()));
        let usage = scanner.usage(&groups, now);
        for &(p, id, pid) in &live {
            if let Some(u) = usage.get(&pid) {
                s.history.record(&r.config.processes[p].name, id, time, *u);
            }
        }
        let ids: Vec<&str> = live.iter().map(|l| l.1).collect();
        s.history.retain(&ids);
    }

    fn on(&mut self, r: &mut Reactor<'_>, m: &Msg<'_>) -> Option<Reply> {
        let s = self.sampling.as_mut()?;
        match *m {
            Msg::Started(inst) => s.running.push(inst),
            Msg::Exited(inst) => s.running.retain(|i| *i != inst),
            #[cfg(feature = "api")]
            Msg::History(q) => {
                let (secs, _) = sys::realtime();
                let since = q
                    .since
                    .map_or(secs as f64 - 3600.0, |ms| ms as f64 / 1000.0);
                let data = s.history.query(q.process, q.instance, since, q.limit);
                return Some(Reply::Json(crate::api::json::history(q, since, &data)));
            }
            _ => {}
        }
        let _ = r;
        None
    }

    fn snapshot(&self, _r: &Reactor<'_>, snap: &mut Snapshot) {
        let mut cell = self.scanner.borrow_mut();
        let scanner = cell.get_or_insert_with(|| Scanner::new(ProcFs::system()));
        let now = sys::monotonic_ms();
        let own = match self.own.get() {
            Some((at, own)) if now.saturating_sub(at) < crate::resources::MEMO_MS => own,
            _ => {
                let own = scanner.fs().own().map(|o| OwnView {
                    cpu_seconds: o.cpu_seconds,
                    rss_bytes: o.rss_bytes,
                    vsize_bytes: o.vsize_bytes,
                    open_fds: o.open_fds,
                    max_fds: o.max_fds,
                    threads: o.threads,
                });
                self.own.set(Some((now, own)));
                own
            }
        };
        snap.manager.own = own;
        fill(scanner, snap, now);
    }
}

/// Adds the figures of every instance in `snap`.
fn fill(scanner: &mut Scanner, snap: &mut Snapshot, now: Millis) {
    // Each instance runs in its own group, whose id is its leader's pid.
    let groups: Vec<i32> = snap
        .processes
        .iter()
        .flat_map(|p| p.instances.iter().filter_map(|i| i.pid))
        .collect();
    let usage = scanner.usage(&groups, now);
    for i in snap
        .processes
        .iter_mut()
        .flat_map(|p| p.instances.iter_mut())
    {
        i.usage = i.pid.and_then(|g| usage.get(&g)).map(|u| UsageView {
            cpu_seconds: u.cpu_seconds,
            rss_bytes: u.rss_bytes,
            processes: u.processes,
        });
    }
}
