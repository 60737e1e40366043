//! What scheduled tasks (feature `scheduler`) ask of the supervisor: a task has no instances
//! (the scheduler runs it), but it waits for its dependencies like a process does.

use super::{Readiness, Supervisor};

impl Supervisor {
    /// Whether every dependency of process `p` is ready: `Some(true)`, `Some(false)` while
    /// one may still become ready (or before the start), `None` when one never will (it failed
    /// or ended for good).
    /// A scheduled task asks this before its first run.
    pub fn dependencies_ready(&self, p: usize) -> Option<bool> {
        // Nothing runs before the start (global pre-start hooks run first).
        if !self.started {
            return Some(false);
        }
        let mut ready = true;
        for &d in &self.procs[p].deps {
            match self.readiness(d) {
                Readiness::Ready => {}
                Readiness::NotYet => ready = false,
                Readiness::Never => return None,
            }
        }
        Some(ready)
    }
}
