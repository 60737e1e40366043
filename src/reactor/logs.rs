//! Held log records (feature `log-processing`): the pipes' stages may hold an open multiline
//! record; its deadline joins the loop's wait, it is written when due, and everything held is
//! written at shutdown. Builds without the feature have no such part: nothing is ever held.

use super::part::{Part, Setup};
use super::{Pipe, Reactor};
use crate::config::model::Config;
use crate::output::{Output, Shaper};

impl Pipe {
    /// When a held record must be written (multiline timeout).
    fn next_deadline(&self) -> Option<u64> {
        let Shaper::Processed(stage) = &self.shaper;
        stage.next_deadline()
    }

    /// Writes the held records due at `due` (`None`: all of them, at shutdown), leaving an
    /// unfinished line to its pipe.
    fn flush_held(&mut self, due: Option<u64>, out: &mut Output<'_>) {
        if let Some(now) = due {
            if self.next_deadline().is_none_or(|d| d > now) {
                return;
            }
        }
        out.tick();
        let (shaper, _, who, mut kept) = self.parts();
        shaper.flush_held(due, out, who, &mut kept);
    }
}

/// The part: held records' deadlines join the loop's wait; due ones are written each turn,
/// the rest at exit.
pub(super) fn part(_config: &Config, _setup: &Setup<'_>) -> Box<dyn Part> {
    Box::new(HeldLogs)
}

struct HeldLogs;

impl Part for HeldLogs {
    /// The earliest deadline of a held log record.
    fn next_deadline(&self, r: &Reactor<'_>) -> Option<u64> {
        r.pipes
            .iter()
            .flatten()
            .filter_map(Pipe::next_deadline)
            .min()
    }

    /// Writes held log records whose deadline has passed.
    fn turn(&mut self, r: &mut Reactor<'_>) {
        let now = crate::sys::monotonic_ms();
        for p in r.pipes.iter_mut().flatten() {
            p.flush_held(Some(now), &mut r.out);
        }
    }

    /// Writes every held log record (the manager is about to exit).
    fn close(&mut self, r: &mut Reactor<'_>) {
        for p in r.pipes.iter_mut().flatten() {
            p.flush_held(None, &mut r.out);
        }
    }
}
