//! Builds without feature `scheduler`: no process is a scheduled task, so the loop has nothing
//! to schedule. These no-ops keep `mod.rs` free of feature conditions.

use mio::Registry;

use crate::config::model::Config;
use crate::status::{Snapshot, TaskView};

/// Kind 7 of the token space stays unused.
#[allow(dead_code)]
pub const KIND_TASKS: usize = 7;

pub struct Tasks;

impl Tasks {
    pub fn new(_config: &Config, _registry: &Registry) -> Tasks {
        Tasks
    }

    pub fn next_deadline(&self) -> Option<u64> {
        None
    }
}

impl super::Reactor<'_> {
    pub(super) fn tasks_turn(&mut self) {}

    pub(super) fn task_event(&mut self, _slot: usize) {}

    #[cfg_attr(not(any(feature = "api", feature = "metrics")), allow(dead_code))]
    pub(super) fn tasks_snapshot(&self, _: &mut Snapshot) {}

    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub(super) fn task_view(&self, _name: &str) -> Option<TaskView> {
        None
    }

    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub(super) fn task_trigger(&mut self, _name: &str) -> Option<Result<u64, (u16, &'static str)>> {
        None
    }

    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub(super) fn task_pause(&mut self, _name: &str, _pause: bool) -> Option<bool> {
        None
    }
}
