//! The resources part (features `api`, `metrics`): CPU and memory of every running instance's
//! process group, and the manager's own, added to the status snapshot when one is made (a
//! request to the API or `/metrics`), read from `/proc` then within the scanner's bounds
//! ([`crate::resources::Scanner`]) — never on a timer, so an idle manager does not wake up.

use std::cell::RefCell;

use super::Reactor;
use super::part::{Part, Setup};
use crate::config::model::Config;
use crate::resources::{ProcFs, Scanner};
use crate::status::{OwnView, Snapshot, UsageView};
use crate::sys;

pub(super) fn part(_config: &Config, _setup: &Setup<'_>) -> Box<dyn Part> {
    Box::new(Resources {
        scanner: RefCell::new(None),
    })
}

struct Resources {
    /// Made on first use (the snapshot hook reads through `&self`, the scanner keeps state).
    scanner: RefCell<Option<Scanner>>,
}

impl Part for Resources {
    fn snapshot(&self, _r: &Reactor<'_>, snap: &mut Snapshot) {
        let mut cell = self.scanner.borrow_mut();
        let scanner = cell.get_or_insert_with(|| Scanner::new(ProcFs::system()));
        fill(scanner, snap);
    }
}

/// Adds the figures of every instance in `snap` and the manager's own.
fn fill(scanner: &mut Scanner, snap: &mut Snapshot) {
    snap.manager.own = scanner.fs().own().map(|o| OwnView {
        cpu_seconds: o.cpu_seconds,
        rss_bytes: o.rss_bytes,
        vsize_bytes: o.vsize_bytes,
        open_fds: o.open_fds,
        max_fds: o.max_fds,
        threads: o.threads,
    });
    // Each instance runs in its own group, whose id is its leader's pid.
    let groups: Vec<i32> = snap
        .processes
        .iter()
        .flat_map(|p| p.instances.iter().filter_map(|i| i.pid))
        .collect();
    let usage = scanner.usage(&groups, sys::monotonic_ms());
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
