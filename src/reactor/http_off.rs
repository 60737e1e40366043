//! Without the `api` and `metrics` features the reactor has no listeners: these do nothing.

use super::Reactor;
use crate::supervisor::Millis;

#[derive(Default)]
pub(super) struct Servers {
    _none: (),
}

impl Reactor<'_> {
    #[inline(always)]
    pub(super) fn http_start(&mut self) -> Result<(), String> {
        Ok(())
    }

    #[inline(always)]
    pub(super) fn http_event(&mut self, _kind: usize, _slot: usize, _ev: &mio::event::Event) {}

    #[inline(always)]
    pub(super) fn http_turn(&mut self) {}

    #[inline(always)]
    pub(super) fn http_deadline(&self) -> Option<Millis> {
        None
    }

    #[inline(always)]
    pub(super) fn http_busy(&self) -> bool {
        false
    }

    #[inline(always)]
    pub(super) fn http_stop(&mut self) {}
}
