//! Commands (feature `api`, and `health`'s liveness restarts): requests from outside the
//! supervisor to stop, start, restart or scale, handed in as [`super::Event::Command`] and
//! validated here against the state they find. Each goes through the same graceful stop,
//! dependency wait and restart paths as everything else.

use super::{InstId, Millis, Phase, RestartReason, State, Supervisor, Then};
use crate::config::model::Level;
use crate::sys::signals;

/// What the features ask of the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Stop every instance of a process and keep it down until a start.
    #[cfg(feature = "api")]
    Stop(usize),
    /// Start a stopped, exited or failed process again.
    #[cfg(feature = "api")]
    Start(usize),
    /// Stop every instance of a process and start it again at once.
    #[cfg(feature = "api")]
    Restart(usize),
    /// Add or retire instances until the process has `desired`.
    #[cfg(feature = "api")]
    Scale { process: usize, desired: u32 },
    /// The instance failed its liveness check: restart it, after the backoff delay. Only a
    /// running instance is restarted.
    #[cfg(feature = "health")]
    Recover(InstId),
}

impl Supervisor {
    /// Carries out a command; one that does not fit the state it finds does nothing (a
    /// liveness restart of an instance already on its way down keeps what was asked of it).
    pub(super) fn command(&mut self, c: Command, now: Millis) {
        if !matches!(self.phase, Phase::Running) {
            return;
        }
        match c {
            #[cfg(feature = "api")]
            Command::Stop(p) => {
                for i in self.procs[p].instances.clone() {
                    self.stop_instance(i, Then::Stay, now);
                }
            }
            #[cfg(feature = "api")]
            Command::Start(p) => {
                for i in self.procs[p].instances.clone() {
                    self.start_instance(i, now);
                }
            }
            #[cfg(feature = "api")]
            Command::Restart(p) => {
                for i in self.procs[p].instances.clone() {
                    self.stop_instance(i, Then::Restart(RestartReason::Manual), now);
                }
            }
            #[cfg(feature = "api")]
            Command::Scale { process, desired } => self.set_scale(process, desired, now),
            #[cfg(feature = "health")]
            Command::Recover(i) => {
                if matches!(self.insts[i].state, State::Running | State::Ready) {
                    self.stop_instance(i, Then::Restart(RestartReason::HealthCheck), now);
                }
            }
        }
    }

    /// Stops one instance gracefully (the same path as shutdown: stop signal to its group, its
    /// `shutdown.timeout`, then SIGKILL), then does `then`. An instance that has no process
    /// right now gets `then` at once.
    pub(super) fn stop_instance(&mut self, id: InstId, then: Then, now: Millis) {
        if self.insts[id].retired {
            return;
        }
        match self.insts[id].state {
            State::Running | State::Ready => {
                self.insts[id].then = Some(then);
                self.begin_stop(id, now);
            }
            // Already on its way down, or about to be spawned (the stop follows `Spawned`):
            // the latest request says what happens next.
            State::Stopping | State::Draining | State::Starting => {
                self.insts[id].then = Some(then);
            }
            State::Waiting | State::Backoff | State::Stopped | State::Exited | State::Failed => {
                let inst = &mut self.insts[id];
                inst.deadline = None;
                if let Some(g) = inst.lingering.take() {
                    self.actions.push_back(super::Action::SignalGroup {
                        pgid: g,
                        signal: signals::SIGKILL,
                    });
                }
                self.insts[id].state = State::Stopped;
                self.after_stop(id, then, now);
            }
        }
        self.settle(now);
    }

    /// A restart after a stop: at once (manual), or after the backoff delay (health check).
    pub(super) fn restart_after_stop(&mut self, id: InstId, reason: RestartReason, now: Millis) {
        let backoff = reason == RestartReason::HealthCheck;
        let delay = if backoff {
            self.backoff(self.insts[id].attempts)
        } else {
            0
        };
        let inst = &mut self.insts[id];
        inst.held = false;
        inst.restarts += 1;
        inst.restarts_by_reason[reason.index()] += 1;
        if backoff {
            inst.attempts += 1;
            inst.state = State::Backoff;
            inst.deadline = Some(now + delay);
        } else {
            inst.attempts = 0;
            inst.state = State::Waiting;
        }
        self.note(
            Some(id),
            Level::Info,
            "restart_scheduled",
            format!("restarting ({}) in {delay} ms", reason.as_str()),
            vec![
                ("reason", super::Field::Str(reason.as_str().to_owned())),
                ("delay_ms", super::Field::Int(delay as i64)),
            ],
        );
    }

    /// The instances of process `p`, in order (retired ones are not listed).
    pub fn instances_of(&self, p: usize) -> &[InstId] {
        &self.procs[p].instances
    }
}
