//! Child output pipes: registered at spawn, read round-robin within a turn's budget, left
//! to fill while they burst, drained when their child exits. The one place where the bytes
//! of a child become lines (`Pipe::feed`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use mio::Interest;
use mio::unix::SourceFd;

use super::{Child, KIND_PIPE, Reactor, Tail, token};
use crate::config::model::{Level, LogRules};
use crate::output::{self, Output, Shaper, ShaperFor, Stream, Who, lines::Lines};
use crate::sys;

/// Bytes read from all pipes together per loop turn, so floods cannot starve signals.
const READ_BUDGET: usize = 1024 * 1024;
/// Most bytes read from one pipe when its child exits, past the queue limit: a full pipe
/// buffer (64 KiB by default, at most 1 MiB), but not the endless output of a grandchild that
/// keeps writing to the same pipe.
const DRAIN_LIMIT: usize = 1024 * 1024;
/// Size of the read buffer shared by all pipes: one read's records (about 2.5 times its bytes
/// for 75-byte lines) plus the queue's `WRITE_AT` make the queue's peak.
pub(super) const READ_CHUNK: usize = 16 * 1024;
/// Bytes one pipe yields in one turn that make it a burst (a writer flushing whole stdio
/// buffers, not a log line now and then): such a pipe is left to fill for `COALESCE_MS`.
const BURST: usize = 4 * 1024;
/// How long a bursting pipe is out of the poll. Every write to a polled pipe wakes the loop
/// (and costs the writer the wake-up); left alone for a millisecond, the pipe is read in a few
/// hundred KiB per turn instead of 4 KiB per wake-up.
const COALESCE_MS: u64 = 1;
/// What a bursting pipe is asked to hold meanwhile (`F_SETPIPE_SZ`): what our stdout is asked
/// for, the most an unprivileged process may have by default. A pipe that cannot be given it
/// is never left to fill: at the kernel's 64 KiB the writer would block within the millisecond.
const BURST_PIPE: usize = output::STDOUT_PIPE;
/// A pipe's size again after its burst: the kernel's default.
const QUIET_PIPE: usize = 64 * 1024;

/// One output stream (stdout or stderr) of a child, and how far it has been read.
pub(super) struct Pipe {
    fd: OwnedFd,
    owner: Child,
    pub(super) instance: String,
    pub(super) process: String,
    pub(super) stream: Stream,
    lines: Lines,
    pub(super) shaper: Shaper,
    readable: bool,
    /// The poll said so: every writer is gone and nothing is left to read (`EPOLLHUP` without
    /// `EPOLLIN`), so the pipe is finished without another `read`.
    at_eof: bool,
    /// Bytes read in this turn, by the turn's reading (not by a drain at exit).
    got: usize,
    /// Out of the poll while it fills, until this time (ms): a bursting pipe.
    paused_until: Option<u64>,
    /// The kernel refused it `BURST_PIPE`: it is never left to fill.
    cannot_grow: bool,
    /// Last lines, kept for aux children (their owners quote them in error messages).
    pub(super) tail: Option<Tail>,
}

impl Pipe {
    /// The poll reported the pipe.
    pub(super) fn ready(&mut self, ev: &mio::event::Event) {
        self.readable = true;
        // A pipe's poll state is final once its writers are gone: HUP with no IN means empty
        // for good (the usual state of both pipes of a child that just exited), which saves
        // the `read` that returns 0. The event cannot be a stale one of an earlier pipe in
        // this slot: a closed pipe's descriptor was its only one (every spawn returns after
        // the child's exec closed its copies), so the close took it out of the poll, pending
        // events included; and the slot of a pipe left open for the exit is never reused
        // (`free_slot`).
        self.at_eof |= ev.is_read_closed() && !ev.is_readable();
    }

    /// The one place where child lines become records: the lines of `data`, or with `None`
    /// the end of the stream (the unfinished last line, and everything log processing holds).
    fn shape(&mut self, data: Option<&[u8]>, out: &mut Output<'_>) {
        // One clock read stamps every line of this read.
        out.tick();
        let (shaper, lines, who, mut kept) = self.parts();
        shaper.shape(lines, data, out, who, &mut kept);
    }

    /// The pipe taken apart for its shaper: the shaper, the line splitter, the stream's names
    /// `(instance, process, stream)`, and what keeps each line for an aux child's tail.
    pub(super) fn parts(&mut self) -> (&mut Shaper, &mut Lines, Who<'_>, impl FnMut(&[u8]) + '_) {
        let tail = &mut self.tail;
        let kept = move |msg: &[u8]| {
            if let Some(t) = tail.as_mut() {
                t.push(msg);
            }
        };
        let who = (self.instance.as_str(), self.process.as_str(), self.stream);
        (&mut self.shaper, &mut self.lines, who, kept)
    }
}

impl Reactor<'_> {
    /// Whether a pipe is known to hold more than was read, and the queue has room for it.
    pub(super) fn more_to_read(&self) -> bool {
        self.out.has_room() && self.pipes.iter().flatten().any(|p| p.readable)
    }

    /// When the first pipe left to fill is due to be read.
    pub(super) fn pipes_due(&self) -> Option<u64> {
        self.pipes
            .iter()
            .flatten()
            .filter_map(|p| p.paused_until)
            .min()
    }

    /// Registers a child's stdout and stderr pipes with the poll.
    pub(super) fn watch_pipes(
        &mut self,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        owner: Child,
        instance: &str,
        process: &str,
        logging: &LogRules,
    ) {
        let streams = [(stdout, Stream::Stdout), (stderr, Stream::Stderr)];
        for (fd, stream) in streams.into_iter().filter_map(|(f, s)| Some((f?, s))) {
            let slot = self.free_slot();
            let raw = fd.as_raw_fd();
            if let Err(e) = self.poll.registry().register(
                &mut SourceFd(&raw),
                token(slot, KIND_PIPE),
                Interest::READABLE,
            ) {
                self.log(
                    Level::Error,
                    "register_failed",
                    &format!("cannot watch output of {instance}: {e}"),
                );
                continue;
            }
            self.pipes[slot] = Some(Pipe {
                fd,
                owner,
                instance: instance.to_owned(),
                process: process.to_owned(),
                stream,
                lines: Lines::default(),
                shaper: ShaperFor::shaper(logging, stream),
                // Nothing to read yet (the child has just been started); should it have written
                // already, EPOLL_CTL_ADD reports that at once, edge-triggered or not: no `read`
                // just to see EAGAIN per pipe at every start.
                readable: false,
                at_eof: false,
                got: 0,
                paused_until: None,
                cannot_grow: false,
                tail: matches!(owner, Child::Aux(_)).then(Tail::default),
            });
        }
    }

    /// A slot for a new pipe: the first empty one that no pipe left open for the exit holds
    /// (`close_at_exit`). Such a pipe is still in the epoll set under its slot's token, and an
    /// end-of-file it had pending would reach the slot's next pipe, say a post-stop hook's.
    fn free_slot(&mut self) -> usize {
        let held = |s: usize| self.close_at_exit.iter().any(|(k, _)| *k == s);
        match (0..self.pipes.len()).find(|&s| self.pipes[s].is_none() && !held(s)) {
            Some(s) => s,
            None => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
        }
    }

    /// Reads the pipes (those left to fill are due again after their pause), then takes those
    /// that burst out of the poll for a while and puts back those whose burst is over.
    pub(super) fn read_pipes(&mut self) {
        let now = sys::monotonic_ms();
        for p in self.pipes.iter_mut().flatten() {
            if p.paused_until.is_some_and(|d| d <= now) {
                p.readable = true;
            }
        }
        self.read_round_robin();
        for slot in 0..self.pipes.len() {
            self.coalesce(slot, now);
        }
    }

    /// A pipe read to empty after a burst is enlarged and taken out of the poll for
    /// `COALESCE_MS` (`F_SETPIPE_SZ`, `EPOLL_CTL_DEL`); while it keeps bursting it stays out,
    /// read once per pause; the first turn it yields less it is given back its usual size and
    /// its place in the poll (`EPOLL_CTL_ADD` reports at once what arrived or closed meanwhile).
    fn coalesce(&mut self, slot: usize, now: u64) {
        let Some(p) = self.pipes[slot].as_mut() else {
            return;
        };
        let got = std::mem::take(&mut p.got);
        // Not read to empty this turn (the queue was full), or not due yet: nothing to decide.
        if p.readable || p.paused_until.is_some_and(|d| d > now) {
            return;
        }
        let (fd, raw) = (p.fd.as_fd(), p.fd.as_raw_fd());
        let registry = self.poll.registry();
        match (p.paused_until.is_some(), got >= BURST) {
            (false, true) if !p.cannot_grow => {
                let grown = rustix::pipe::fcntl_setpipe_size(fd, BURST_PIPE)
                    .is_ok_and(|size| size >= BURST_PIPE);
                p.cannot_grow = !grown;
                if grown && registry.deregister(&mut SourceFd(&raw)).is_ok() {
                    p.paused_until = Some(now + COALESCE_MS);
                } else if grown {
                    let _ = rustix::pipe::fcntl_setpipe_size(fd, QUIET_PIPE);
                }
            }
            (true, true) => p.paused_until = Some(now + COALESCE_MS),
            (true, false) => {
                // An empty pipe counts against its user's pipe quota by its size
                // (`pipe-user-pages-soft`), so it does not stay large after the burst.
                let _ = rustix::pipe::fcntl_setpipe_size(fd, QUIET_PIPE);
                let t = token(slot, KIND_PIPE);
                // Should the poll refuse it, the pipe is read once per pause instead.
                p.paused_until = match registry.register(&mut SourceFd(&raw), t, Interest::READABLE)
                {
                    Ok(()) => None,
                    Err(_) => Some(now + COALESCE_MS),
                };
            }
            _ => {}
        }
    }

    /// Reads readable pipes round-robin, one chunk from each in turn, while the output queue
    /// has room and the turn's budget lasts. When the queue fills, the next turn resumes at the
    /// pipe that was skipped, so a quiet child is never starved by a flooding one.
    fn read_round_robin(&mut self) {
        let n = self.pipes.len();
        let mut spent = 0;
        while n > 0 && spent < READ_BUDGET {
            let mut progress = false;
            for k in 0..n {
                let slot = (self.rr + k) % n;
                if !self.pipes[slot].as_ref().is_some_and(|p| p.readable) {
                    continue;
                }
                // Written as it fills, not only when full: the queue's pages, once touched,
                // stay in our RSS.
                if self.out.worth_writing() || !self.out.has_room() {
                    self.flush();
                    if !self.out.has_room() {
                        self.rr = slot;
                        return;
                    }
                }
                let got = self.read_pipe(slot, READ_CHUNK, true);
                if let Some(p) = self.pipes[slot].as_mut() {
                    p.got += got;
                }
                spent += got;
                progress |= got > 0;
            }
            if !progress {
                break;
            }
        }
        if n > 0 {
            self.rr = (self.rr + 1) % n;
        }
    }

    /// Reads one pipe until it would block, hits EOF, the budget is spent, or (when
    /// `respect_queue`) the output queue is full. Returns the bytes read.
    fn read_pipe(&mut self, slot: usize, budget: usize, respect_queue: bool) -> usize {
        let mut total = 0;
        loop {
            if total >= budget || (respect_queue && !self.out.has_room()) {
                return total;
            }
            let Some(p) = self.pipes[slot].as_mut() else {
                return total;
            };
            let r = if p.at_eof {
                Ok((output::Read::Eof, 0))
            } else {
                output::read_chunk(p.fd.as_fd(), &mut self.buf)
            };
            let out = &mut self.out;
            match r {
                Ok((output::Read::Data, n)) => {
                    total += n;
                    p.shape(Some(&self.buf[..n]), out);
                }
                Ok((output::Read::WouldBlock, _)) => {
                    p.readable = false;
                    return total;
                }
                Ok((output::Read::Eof, _)) | Err(_) => {
                    self.finish_pipe(slot);
                    // No EPOLL_CTL_DEL: dropping the pipe closes its only descriptor (children
                    // get it only until their exec: close-on-exec), which removes it from the
                    // epoll set — one system call less per stream at every exit. During the
                    // shutdown a managed process's pipe is held (`close_at_exit`).
                    if let Some(p) = self.pipes[slot].take() {
                        if matches!(p.owner, Child::Inst(_)) && self.sup.shutting_down() {
                            self.close_at_exit.push((slot, p.fd));
                        }
                    }
                    return total;
                }
            }
        }
    }

    /// Reads whatever a child's pipes hold right now, regardless of the queue limit (the
    /// excess is bounded by `DRAIN_LIMIT`), so its output is written before its exit record.
    pub(super) fn drain(&mut self, owner: Child) {
        for slot in 0..self.pipes.len() {
            if self.pipes[slot].as_ref().is_some_and(|p| p.owner == owner) {
                let _ = self.read_pipe(slot, DRAIN_LIMIT, false);
                // A grandchild may keep the pipe open: the tail without newline is emitted
                // now, so the exit record follows all of it.
                self.finish_pipe(slot);
            }
        }
    }

    /// Writes what the pipe in `slot` still holds (its unfinished last line, held records) and
    /// hands an aux child's last lines to their owner.
    fn finish_pipe(&mut self, slot: usize) {
        if let Some(p) = self.pipes[slot].as_mut() {
            p.shape(None, &mut self.out);
            if let (Child::Aux(a), Some(t)) = (p.owner, p.tail.take()) {
                self.aux.absorb_tail(a, t);
            }
        }
    }
}
