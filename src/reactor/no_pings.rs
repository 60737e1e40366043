//! Builds with `scheduler` but without `heartbeat`: no task has a heartbeat (the key needs the
//! feature), so there is never a ping to send.

use mio::{Registry, Token};

use crate::scheduler::{Ping, Scheduler, TaskId};

pub struct Pings;

impl Pings {
    pub fn new(_sched: &Scheduler, _registry: &Registry, _token: Token) -> Pings {
        Pings
    }
}

impl super::Reactor<'_> {
    pub(super) fn queue_ping(&mut self, _task: TaskId, _run: u64, _ping: Ping) {}

    pub(super) fn pings_done(&mut self) {}
}
