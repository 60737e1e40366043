//! The reactor's hooks side in builds without feature `hooks`: every step goes straight on.

use super::Reactor;
use crate::config::model::Config;
use crate::status::Snapshot;
use crate::supervisor::{Event, InstId, Millis};

pub struct Glue;

impl Glue {
    pub fn new(_: &Config) -> Self {
        Glue
    }
}

impl Reactor<'_> {
    pub(super) fn begin(&mut self, now: Millis) {
        self.sup.start(now);
    }
    pub(super) fn hooks_deadline(&self) -> Option<Millis> {
        None
    }
    pub(super) fn shutdown_signal(&mut self, signal: i32, now: Millis) {
        self.sup.handle(Event::ShutdownSignal { signal }, now);
    }
    pub(super) fn spawn_requested(&mut self, inst: InstId) {
        self.spawn(inst);
    }
    pub(super) fn hooks_started(&mut self, _: InstId) {}
    pub(super) fn hooks_exited(&mut self, _: InstId) {}
    pub(super) fn run_pre_stop(&mut self, inst: InstId) {
        self.sup
            .handle(Event::PreStopDone { inst }, crate::sys::monotonic_ms());
    }
    pub(super) fn exit_requested(&mut self, code: u8) {
        self.exit = Some(code);
        self.stop_open_ended_aux();
    }
    pub(super) fn hooks_turn(&mut self) {}
    pub(super) fn hooks_snapshot(&self, _: &mut Snapshot) {}
}
