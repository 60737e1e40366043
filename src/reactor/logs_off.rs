//! Builds without feature `log-processing`: every line is written as it comes, nothing is
//! ever held, so there is no deadline and nothing to flush.

use super::Reactor;

impl Reactor<'_> {
    #[inline(always)]
    pub(super) fn log_deadline(&self) -> Option<u64> {
        None
    }

    #[inline(always)]
    pub(super) fn flush_due_logs(&mut self) {}

    #[inline(always)]
    pub(super) fn flush_held_logs(&mut self) {}
}
