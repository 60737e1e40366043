//! A child with a deadline: a command run to its end (a hook, an exec probe, a scheduled run),
//! through the same spawn path, pipes, log pipeline, process group and reaping as the managed
//! processes, but owned by a feature component instead of the supervisor.
//!
//! A part starts one with [`AuxSpec`] and an `AuxTag` of its choosing; the reactor hands the
//! [`AuxDone`] back to that part (`Part::aux_done`) when its leader has been reaped. At `timeout_ms` the
//! group gets `stop_signal`, and `kill_after_ms` later SIGKILL. When the leader exits, whatever
//! is left of its group is SIGKILLed: a hook's or probe's background children never outlive it.
//!
//! This file holds the bookkeeping (sans-IO: times are passed in); the syscalls are made by the
//! reactor (`mod.rs`), which owns the pipes and the poll.

use std::collections::VecDeque;

pub use super::part::AuxDone;
use super::part::AuxOwner;
#[cfg(any(feature = "health", feature = "hooks", feature = "scheduler"))]
use crate::config::model::LogRules;
use crate::supervisor::Millis;
use crate::sys::ExitStatus;
#[cfg(any(feature = "health", feature = "hooks", feature = "scheduler"))]
use crate::sys::spawn::Credentials;

/// Index of a running aux child.
pub type AuxId = usize;

/// Output lines kept per child for error messages ("its last output lines").
pub const TAIL_LINES: usize = 5;
/// Longest kept tail line, in bytes.
pub const TAIL_LINE_BYTES: usize = 512;

/// What to run.
#[cfg(any(feature = "health", feature = "hooks", feature = "scheduler"))]
#[derive(Clone, Debug)]
pub struct AuxSpec {
    pub argv: Vec<String>,
    /// Added on top of the manager's environment (after the identity of `credentials`).
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub credentials: Option<Credentials>,
    /// The `process` field of its log records.
    pub process: String,
    /// The `instance` field of its log records (e.g. `hook:migrate`, `backup-run-3`).
    pub instance: String,
    /// When to send `stop_signal`; `None` = no deadline.
    pub timeout_ms: Option<u64>,
    pub stop_signal: i32,
    /// How long after `stop_signal` the group gets SIGKILL.
    pub kill_after_ms: u64,
    /// How its output becomes records: its process's `logging` rules, or
    /// `config.global.logging` for output that belongs to no process (global hooks).
    pub logging: LogRules,
}

/// The last few lines of a child's output, bounded in lines and bytes.
#[derive(Clone, Debug, Default)]
pub struct Tail(VecDeque<String>);

impl Tail {
    pub fn push(&mut self, line: &[u8]) {
        if self.0.len() == TAIL_LINES {
            self.0.pop_front();
        }
        let cut = &line[..line.len().min(TAIL_LINE_BYTES)];
        self.0.push_back(String::from_utf8_lossy(cut).into_owned());
    }

    fn absorb(&mut self, other: Tail) {
        for l in other.0 {
            if self.0.len() == TAIL_LINES {
                self.0.pop_front();
            }
            self.0.push_back(l);
        }
    }
}

/// A running aux child.
pub struct Aux {
    pub owner: AuxOwner,
    pub pid: i32,
    started: Millis,
    /// When to send the stop signal.
    deadline: Option<Millis>,
    /// When to send SIGKILL (after the stop signal went out).
    kill_at: Option<Millis>,
    stop_signal: i32,
    kill_after: Millis,
    timed_out: bool,
    tail: Tail,
}

/// What the reactor must do for an aux child now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Send this signal to the group of `pid`.
    Signal { pid: i32, signal: i32 },
}

/// Every running aux child, by [`AuxId`] (slots are reused).
#[derive(Default)]
pub struct AuxSet {
    slots: Vec<Option<Aux>>,
}

impl AuxSet {
    /// Records a started child; returns its id.
    #[cfg(any(feature = "health", feature = "hooks", feature = "scheduler"))]
    pub fn insert(&mut self, owner: AuxOwner, pid: i32, spec: &AuxSpec, now: Millis) -> AuxId {
        let aux = Aux {
            owner,
            pid,
            started: now,
            deadline: spec.timeout_ms.map(|t| now + t),
            kill_at: None,
            stop_signal: spec.stop_signal,
            kill_after: spec.kill_after_ms,
            timed_out: false,
            tail: Tail::default(),
        };
        match self.slots.iter().position(Option::is_none) {
            Some(s) => {
                self.slots[s] = Some(aux);
                s
            }
            None => {
                self.slots.push(Some(aux));
                self.slots.len() - 1
            }
        }
    }

    pub fn get(&self, id: AuxId) -> Option<&Aux> {
        self.slots.get(id).and_then(Option::as_ref)
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Ids of the running children.
    pub fn ids(&self) -> Vec<AuxId> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .collect()
    }

    /// It runs with neither a deadline nor a pending stop.
    pub fn open_ended(&self, id: AuxId) -> bool {
        self.get(id)
            .is_some_and(|a| a.deadline.is_none() && a.kill_at.is_none())
    }

    /// Lines of a pipe that closed before its child was reaped.
    pub fn absorb_tail(&mut self, id: AuxId, tail: Tail) {
        if let Some(Some(a)) = self.slots.get_mut(id) {
            a.tail.absorb(tail);
        }
    }

    /// The earliest time at which [`AuxSet::due`] has work.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|a| a.kill_at.or(a.deadline))
            .min()
    }

    /// Stops a child gracefully now: its stop signal, SIGKILL `kill_after` later.
    pub fn stop(&mut self, id: AuxId, now: Millis) -> Option<Due> {
        let a = self.slots.get_mut(id)?.as_mut()?;
        if a.kill_at.is_some() {
            return None;
        }
        a.deadline = None;
        a.kill_at = Some(now + a.kill_after);
        Some(Due::Signal {
            pid: a.pid,
            signal: a.stop_signal,
        })
    }

    /// Kills a child's group now (a second shutdown signal): SIGKILL, no more timers.
    pub fn kill(&mut self, id: AuxId) -> Option<Due> {
        let a = self.slots.get_mut(id)?.as_mut()?;
        a.deadline = None;
        a.kill_at = None;
        Some(Due::Signal {
            pid: a.pid,
            signal: crate::sys::signals::SIGKILL,
        })
    }

    /// Signals that are due at `now` (deadlines reached).
    pub fn due(&mut self, now: Millis) -> Vec<Due> {
        let mut out = Vec::new();
        for a in self.slots.iter_mut().flatten() {
            if a.kill_at.is_some_and(|k| k <= now) {
                a.kill_at = None;
                out.push(Due::Signal {
                    pid: a.pid,
                    signal: crate::sys::signals::SIGKILL,
                });
            } else if a.deadline.is_some_and(|d| d <= now) {
                a.deadline = None;
                a.timed_out = true;
                a.kill_at = Some(now + a.kill_after);
                out.push(Due::Signal {
                    pid: a.pid,
                    signal: a.stop_signal,
                });
            }
        }
        out
    }

    /// Removes a reaped child and says how it ended (its pipes' tails absorbed first).
    pub fn finish(&mut self, id: AuxId, status: ExitStatus, now: Millis) -> Option<AuxDone> {
        let a = self.slots.get_mut(id)?.take()?;
        Some(AuxDone {
            owner: a.owner,
            status: Some(status),
            spawn_error: None,
            timed_out: a.timed_out,
            duration_ms: now.saturating_sub(a.started),
            tail: a.tail.0.into_iter().collect(),
        })
    }
}

/// The reactor's side: spawning, signalling, reaping and delivering aux children.
impl super::Reactor<'_> {
    /// Starts an aux child. A spawn failure is delivered to the owner like an exit (with
    /// `spawn_error` set), in the same loop turn, never re-entrantly. Only parts that spawn
    /// children have it: in other builds no aux child ever exists.
    #[cfg(any(feature = "health", feature = "hooks", feature = "scheduler"))]
    pub fn spawn_aux(&mut self, spec: AuxSpec, owner: AuxOwner) -> Option<AuxId> {
        let now = crate::sys::monotonic_ms();
        let env = self.child_env(
            spec.credentials.as_ref(),
            spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let result = crate::sys::spawn::spawn(&crate::sys::spawn::SpawnSpec {
            argv: &spec.argv,
            env: &env,
            cwd: spec.cwd.as_deref(),
            credentials: spec.credentials.as_ref(),
            base: &self.child_base,
            // Always both: a hook's or a probe's last lines explain its failure, whatever
            // its process's logging shows.
            capture: crate::sys::spawn::Capture::default(),
        });
        let child = match result {
            Ok(c) => c,
            Err(e) => {
                self.aux_done.push(AuxDone {
                    owner,
                    status: None,
                    spawn_error: Some(e.to_string()),
                    timed_out: false,
                    duration_ms: 0,
                    tail: Vec::new(),
                });
                return None;
            }
        };
        let pid = child.pid;
        let id = self.aux.insert(owner, pid, &spec, now);
        self.watch_pipes(
            child.stdout,
            child.stderr,
            super::Child::Aux(id),
            &spec.instance,
            &spec.process,
            &spec.logging,
        );
        self.pids.insert(pid, super::Child::Aux(id));
        Some(id)
    }

    /// Stops an aux child gracefully: its stop signal now, SIGKILL to the group later.
    pub fn stop_aux(&mut self, id: AuxId) {
        if let Some(d) = self.aux.stop(id, crate::sys::monotonic_ms()) {
            self.aux_signal(d);
        }
    }

    /// A second shutdown signal kills everything at once: aux children too (hooks, probes,
    /// scheduled runs), not only the supervisor's instances.
    pub(super) fn kill_all_aux(&mut self) {
        for id in self.aux.ids() {
            if let Some(d) = self.aux.kill(id) {
                self.aux_signal(d);
            }
        }
    }

    fn aux_signal(&mut self, d: Due) {
        let Due::Signal { pid, signal } = d;
        // The leader leads its own group (setsid), and the group id is not reused while any
        // member lives; the leader is not reaped yet, so the id is still ours.
        let _ = crate::sys::signal_group(pid, signal);
    }

    /// Sends the signals whose deadlines have passed.
    pub(super) fn aux_deadlines(&mut self) {
        for d in self.aux.due(crate::sys::monotonic_ms()) {
            self.aux_signal(d);
        }
    }

    /// At exit: aux children with no deadline would hold the exit forever; stop them.
    pub(super) fn stop_open_ended_aux(&mut self) {
        for id in self.aux.ids() {
            if self.aux.open_ended(id) {
                self.stop_aux(id);
            }
        }
    }

    /// An aux child's leader was reaped: drain its output, kill what is left of its group,
    /// and queue its result for the owner.
    pub(super) fn reaped_aux(&mut self, id: AuxId, pid: i32, status: ExitStatus) {
        self.drain(super::Child::Aux(id));
        if crate::sys::group_alive(pid) {
            let _ = crate::sys::signal_group(pid, crate::sys::signals::SIGKILL);
        }
        if let Some(done) = self.aux.finish(id, status, crate::sys::monotonic_ms()) {
            self.aux_done.push(done);
        }
    }

    /// Hands finished aux children to their owners.
    pub(super) fn deliver_aux(&mut self) {
        while !self.aux_done.is_empty() {
            let done = std::mem::take(&mut self.aux_done);
            for d in done {
                self.aux_finished(d);
            }
            // Owners may have queued supervisor work.
            self.run_actions();
        }
    }

    /// Hands a finished aux child to the part that started it.
    fn aux_finished(&mut self, done: AuxDone) {
        let AuxOwner { part, tag, .. } = done.owner;
        self.with_part(part, |p, r| p.aux_done(r, tag, done));
    }
}
