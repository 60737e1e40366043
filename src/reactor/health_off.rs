//! The reactor's health side in builds without feature `health`: nothing to probe.

use super::Reactor;
use crate::config::model::Config;
use crate::status::Snapshot;
use crate::supervisor::{InstId, Millis};

pub struct Glue;

impl Glue {
    pub fn new(_: &Config) -> Self {
        Glue
    }
}

impl Reactor<'_> {
    pub(super) fn health_started(&mut self, _: InstId) {}
    pub(super) fn health_stopped(&mut self, _: InstId) {}
    pub(super) fn health_deadline(&self) -> Option<Millis> {
        None
    }
    pub(super) fn health_turn(&mut self) {}
    pub(super) fn health_snapshot(&self, _: &mut Snapshot) {}
}
