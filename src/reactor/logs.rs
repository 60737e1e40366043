//! Held log records (feature `log-processing`): the pipes' stages may hold an open multiline
//! record; its deadline joins the loop's wait, it is written when due, and everything held is
//! written at shutdown. Builds without the feature use `logs_off.rs`: nothing is ever held.

use super::{Pipe, Reactor, Tail};
use crate::logproc::Record;
use crate::output::{Output, Shaper, Stream};

/// Queues one processed record; an aux child's tail keeps its (redacted) text.
pub(super) fn emit(
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
        match &self.shaper {
            Shaper::Plain => None,
            Shaper::Processed(stage) => stage.next_deadline(),
        }
    }

    /// Writes held records whose deadline has passed.
    fn flush_due(&mut self, now: u64, out: &mut Output<'_>) {
        if let Shaper::Processed(stage) = &mut self.shaper {
            if stage.next_deadline().is_none_or(|d| d > now) {
                return;
            }
            out.tick();
            let (i, pr, s, tail) = (&self.instance, &self.process, self.stream, &mut self.tail);
            let before = stage.held();
            stage.flush_due(now, &mut |r| emit(out, i, pr, s, tail, r));
            out.held_changed(before, stage.held());
        }
    }

    /// Writes every held record (shutdown), leaving an unfinished line to its pipe.
    fn flush_held(&mut self, out: &mut Output<'_>) {
        if let Shaper::Processed(stage) = &mut self.shaper {
            out.tick();
            let (i, pr, s, tail) = (&self.instance, &self.process, self.stream, &mut self.tail);
            let before = stage.held();
            stage.finish(&mut |r| emit(out, i, pr, s, tail, r));
            out.held_changed(before, 0);
        }
    }
}

impl Reactor<'_> {
    /// The earliest deadline of a held log record.
    pub(super) fn log_deadline(&self) -> Option<u64> {
        self.pipes
            .iter()
            .flatten()
            .filter_map(Pipe::next_deadline)
            .min()
    }

    /// Writes held log records whose deadline has passed.
    pub(super) fn flush_due_logs(&mut self) {
        let now = crate::sys::monotonic_ms();
        for p in self.pipes.iter_mut().flatten() {
            p.flush_due(now, &mut self.out);
        }
    }

    /// Writes every held log record (the manager is about to exit).
    pub(super) fn flush_held_logs(&mut self) {
        for p in self.pipes.iter_mut().flatten() {
            p.flush_held(&mut self.out);
        }
    }
}
