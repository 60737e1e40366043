//! The part interface: every optional feature that needs time on the loop is a [`Part`], one
//! entry in the list of `registry.rs` (the way `startup/mod.rs` lists start-up steps). The
//! loop (`mod.rs`) iterates that list and names no feature; a feature compiled out is simply
//! not in it. This file holds what the loop and the parts share: the trait, its messages and
//! answers, and the ends of aux children.
//!
//! A part may:
//! - ask for a turn at a deadline ([`Part::next_deadline`]) or at once ([`Part::busy`]);
//! - own the tokens of its kind (`token(slot, kind)` with the kind [`Setup::kind`] gave it),
//!   and hear of them in [`Part::ready`]; it may register sources, and wakers, with the poll;
//! - act on a turn ([`Part::turn`]): read the supervisor (`r.sup`), feed it inputs
//!   (`r.sup.handle`), spawn children with deadlines (`r.spawn_aux`), log (`r.out`);
//! - hear what happens ([`Part::on`]: an instance started or exited, a supervisor action the
//!   loop does not carry out itself, a request from another part) and answer;
//! - get the end of the aux children it spawned ([`Part::aux_done`]);
//! - add to the status snapshot ([`Part::snapshot`]); open before anything starts
//!   ([`Part::open`]) and close at exit ([`Part::close`]).
//!
//! While one part's method runs, that part is out of the list (so it can borrow the reactor
//! mutably); messages sent meanwhile reach the others.

// The interface carries what any part may need (the messages, the end of an aux child, what
// a part is built with); a build with only some parts leaves some of it unread (which part of
// it differs with every feature set, down to none in the minimal build). The full build uses
// all of it.
#![allow(dead_code)]

use mio::Registry;

use super::Reactor;
use crate::status::Snapshot;
use crate::supervisor::{Action, InstId, Millis};
use crate::sys::ExitStatus;

/// A part's place in the list of parts (`registry.rs`).
pub type PartId = usize;

/// What an aux child means to the part that spawned it (e.g. a task and its run number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxTag(pub u64, pub u64);

/// The parts that spawn children with a deadline say so with this value in every `AuxOwner`.
/// A build without such parts has no value of it, so the compiler knows that no aux child
/// ever exists there and leaves their code out of the binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spawner {
    #[cfg(any(feature = "health", feature = "hooks", feature = "scheduler"))]
    Part,
}

/// Who started an aux child and gets its [`AuxDone`]: a part, and what the child is to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxOwner {
    pub part: PartId,
    pub tag: AuxTag,
    /// Only a part that spawns children can make one (see [`Spawner`]).
    pub by: Spawner,
}

/// How an aux child ended (see [`Part::aux_done`]).
#[derive(Clone, Debug)]
pub struct AuxDone {
    pub owner: AuxOwner,
    /// `None` when it could not be spawned (see `spawn_error`).
    pub status: Option<ExitStatus>,
    pub spawn_error: Option<String>,
    /// It was still running at its deadline (and got `stop_signal`).
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Its last output lines (stdout and stderr), oldest first.
    pub tail: Vec<String>,
}

/// What a part is told (see [`Part::on`]). The loop's own messages always exist; requests
/// between parts are variants of the features that send them.
pub enum Msg<'m> {
    /// An instance's process was spawned.
    Started(InstId),
    /// An instance's process was reaped.
    Exited(InstId),
    /// A supervisor action the loop does not carry out itself (the hook phases).
    Action(&'m Action),
    /// The running configuration was swapped by a live reload (`r.config` is the new one;
    /// process indices stay, added processes are appended). Every part hears it.
    Reconfigured,
    /// API: run a scheduled task now.
    #[cfg(feature = "api")]
    Trigger(&'m str),
    /// API: pause (`true`) or resume a scheduled task.
    #[cfg(feature = "api")]
    Pause(&'m str, bool),
    /// A request wants PHP-FPM status pages: answered (`Done`) when it must wait for a round
    /// of them, unanswered when there is none to wait for.
    #[cfg(any(feature = "api", feature = "metrics"))]
    FpmAsk,
    /// Whether a round of PHP-FPM status pages is still out (`Done`: yes).
    #[cfg(any(feature = "api", feature = "metrics"))]
    FpmPending,
    /// API: the sampled resource history (answered with `Json` when sampling is on).
    #[cfg(feature = "api")]
    History(&'m crate::api::HistoryQuery<'m>),
    /// A scheduled task's run has a heartbeat ping to send.
    #[cfg(feature = "heartbeat")]
    Ping {
        task: usize,
        run: u64,
        ping: crate::scheduler::Ping,
        name: &'m str,
        heartbeat: &'m crate::config::task::HeartbeatSpec,
    },
}

/// A part's answer to a [`Msg`].
pub enum Reply {
    /// Taken care of: nobody else is told.
    Done,
    /// A triggered run's number.
    #[cfg(feature = "api")]
    Run(u64),
    /// Refused, with an HTTP status and the reason.
    #[cfg(feature = "api")]
    Refused(u16, &'static str),
    /// A JSON document to answer with.
    #[cfg(feature = "api")]
    Json(Vec<u8>),
}

/// What a part is built with.
pub struct Setup<'s> {
    /// Its place in the list.
    pub id: PartId,
    /// The token kind it owns.
    pub kind: usize,
    pub registry: &'s Registry,
}

/// A feature's presence on the loop. Every method has a default that does nothing.
pub trait Part {
    /// Before any process starts (listeners bind): an error stops start-up with exit code 1,
    /// logged as the event named.
    fn open(&mut self, _r: &mut Reactor<'_>) -> Result<(), (&'static str, String)> {
        Ok(())
    }
    /// When it next needs a turn.
    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        None
    }
    /// It has work queued: the loop must not sleep.
    fn busy(&self) -> bool {
        false
    }
    /// A token of its kind is ready.
    fn ready(&mut self, _r: &mut Reactor<'_>, _slot: usize, _ev: &mio::event::Event) {}
    /// Its work of one loop turn.
    fn turn(&mut self, _r: &mut Reactor<'_>) {}
    /// Something happened; `Some` answers it (and nobody else is told).
    fn on(&mut self, _r: &mut Reactor<'_>, _m: &Msg<'_>) -> Option<Reply> {
        None
    }
    /// An aux child it spawned ended (or could not be spawned).
    fn aux_done(&mut self, _r: &mut Reactor<'_>, _tag: AuxTag, _done: AuxDone) {}
    /// Its part of the status snapshot.
    fn snapshot(&self, _r: &Reactor<'_>, _snap: &mut Snapshot) {}
    /// The manager is about to exit.
    fn close(&mut self, _r: &mut Reactor<'_>) {}
}
