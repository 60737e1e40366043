//! Held log records (feature `log-processing`): the pipes' stages may hold an open multiline
//! record; its deadline joins the loop's wait, it is written when due, and everything held is
//! written at shutdown. Builds without the feature have no such part: nothing is ever held.

use super::part::{Part, Setup};
use super::{Pipe, Reactor, Tail};
use crate::config::model::Config;
use crate::logproc::Record;
use crate::output::{Output, Shaper, Stream};

/// Queues one processed record; an aux child's tail keeps its (redacted) text.
fn emit(
    out: &mut Output<'_>,
    instance: &str,
    process: &str,
    stream: Stream,
    tail: &mut Option<Tail>,
    r: &Record<'_>,
) {
    out.record(instance, process, stream, r);
    if let Some(t) = tail.as_mut() {
        t.push(r.msg.as_bytes());
    }
}

impl Pipe {
    /// When a held record must be written (multiline timeout).
    fn next_deadline(&self) -> Option<u64> {
        let Shaper::Processed(stage) = &self.shaper;
        stage.next_deadline()
    }

    /// Writes held records whose deadline has passed.
    fn flush_due(&mut self, now: u64, out: &mut Output<'_>) {
        let Shaper::Processed(stage) = &mut self.shaper;
        if stage.next_deadline().is_none_or(|d| d > now) {
            return;
        }
        out.tick();
        let (i, pr, s, tail) = (&self.instance, &self.process, self.stream, &mut self.tail);
        let before = stage.held();
        stage.flush_due(now, &mut |r| emit(out, i, pr, s, tail, r));
        out.held_changed(before, stage.held());
    }

    /// Writes every held record (shutdown), leaving an unfinished line to its pipe.
    fn flush_held(&mut self, out: &mut Output<'_>) {
        let Shaper::Processed(stage) = &mut self.shaper;
        out.tick();
        let (i, pr, s, tail) = (&self.instance, &self.process, self.stream, &mut self.tail);
        let before = stage.held();
        stage.finish(&mut |r| emit(out, i, pr, s, tail, r));
        out.held_changed(before, 0);
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
            p.flush_due(now, &mut r.out);
        }
    }

    /// Writes every held log record (the manager is about to exit).
    fn close(&mut self, r: &mut Reactor<'_>) {
        for p in r.pipes.iter_mut().flatten() {
            p.flush_held(&mut r.out);
        }
    }
}
