//! Parts: every optional feature that needs time on the loop is one entry in [`PARTS`], the
//! way `startup/mod.rs` lists start-up steps. The loop (`mod.rs`) iterates the list and names no
//! feature; a feature compiled out is simply not in it.
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
use super::children::AuxOwner;
use crate::config::model::Config;
use crate::status::Snapshot;
use crate::supervisor::{Action, InstId, Millis};
use crate::sys::ExitStatus;

/// A part's place in [`PARTS`].
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

type Make = fn(&Config, &Setup<'_>) -> Box<dyn Part>;

/// The parts built in, in the order they get their turns: held log records first, then the
/// features that feed the supervisor, the HTTP servers last (their answers show the turn's
/// state).
const PARTS: &[Make] = &[
    #[cfg(feature = "log-processing")]
    super::logs::part,
    super::watch::part,
    #[cfg(feature = "health")]
    super::health::part,
    #[cfg(feature = "hooks")]
    super::hooks::part,
    #[cfg(feature = "scheduler")]
    super::tasks::part,
    #[cfg(feature = "heartbeat")]
    super::pings::part,
    #[cfg(any(feature = "api", feature = "metrics"))]
    super::resources::part,
    #[cfg(any(feature = "api", feature = "metrics"))]
    super::fpm::part,
    #[cfg(any(feature = "api", feature = "metrics"))]
    super::http::part,
];

/// How many parts this build has (the minimal build: only the configuration watch).
pub const COUNT: usize = PARTS.len();

/// Every part of this build, by [`PartId`]; a slot is empty while its part runs.
pub type Parts = [Option<Box<dyn Part>>; COUNT];

/// Builds every part; `first_kind` is the first token kind parts may own.
pub fn build(config: &Config, registry: &Registry, first_kind: usize) -> Parts {
    std::array::from_fn(|id| {
        let setup = Setup {
            id,
            kind: first_kind + id,
            registry,
        };
        Some(PARTS[id](config, &setup))
    })
}
