//! The one graceful stop ([`Supervisor::begin_stop`], shared by shutdown and by commands) and
//! what follows a stop that was asked for outside shutdown ([`Then`]).

use super::{Field, InstId, Millis, Phase, State, StopStep, Supervisor};
use crate::config::model::Level;
use crate::sys::signals;

/// Why an instance was restarted (the `reason` label of `phpeek_pm_process_restarts_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartReason {
    /// It ended on its own and its restart policy brought it back.
    Exit,
    /// Its liveness check failed too often.
    HealthCheck,
    /// Someone asked for it (API, CLI).
    Manual,
}

impl RestartReason {
    pub const COUNT: usize = 3;

    /// Every reason, in index order (a function, not a constant: the status snapshot lists
    /// every reason, also in builds where nothing restarts for some of them).
    pub const fn all() -> [RestartReason; RestartReason::COUNT] {
        [
            RestartReason::Exit,
            RestartReason::HealthCheck,
            RestartReason::Manual,
        ]
    }

    pub const fn index(self) -> usize {
        match self {
            RestartReason::Exit => 0,
            RestartReason::HealthCheck => 1,
            RestartReason::Manual => 2,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RestartReason::Exit => "exit",
            RestartReason::HealthCheck => "health_check",
            RestartReason::Manual => "manual",
        }
    }
}

/// What happens to an instance once a stop requested outside shutdown has ended: commands
/// (api, health) and the signal policy's `reload_signal: restart` ask for such stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Start it again: at once for a manual restart, after the backoff delay for a failed
    /// health check (a process that keeps failing its probe must not restart in a tight loop).
    Restart(RestartReason),
    /// Leave it stopped ("held") until a start request.
    #[cfg(feature = "api")]
    Stay,
    /// Remove it from its process (scale-down, a process removed by a reload).
    Retire,
}

impl Supervisor {
    /// The one graceful stop. Without a pre-stop step: stop signal to the group, SIGKILL at
    /// the deadline. With one (`pre_stop_hook`): run it first (`Action::RunHooks`); then, by
    /// default, wait for the process to exit on its own until `shutdown.timeout` has passed
    /// since the stop began, and only then send the stop signal, with SIGKILL one
    /// `shutdown.timeout` later (`wait_for_exit: false`: the signal as soon as the step ends).
    pub(super) fn begin_stop(&mut self, id: InstId, now: Millis) {
        let p = self.insts[id].process;
        let timeout = self.procs[p].stop_timeout;
        let inst = &mut self.insts[id];
        inst.state = State::Stopping;
        inst.deadline = Some(now + timeout);
        if !self.pre_stop_hooks(id) {
            self.send_stop_signal(id, now);
        }
    }

    /// The stop signal to the instance's group; SIGKILL when its deadline passes.
    pub(super) fn send_stop_signal(&mut self, id: InstId, now: Millis) {
        let p = self.insts[id].process;
        let (signal, timeout) = (self.procs[p].stop_signal, self.procs[p].stop_timeout);
        let inst = &mut self.insts[id];
        inst.stop_step = StopStep::Signal;
        inst.deadline = Some(now + timeout);
        if let Some(g) = inst.pgid {
            self.actions
                .push_back(super::Action::SignalGroup { pgid: g, signal });
        }
        self.note(
            Some(id),
            Level::Info,
            "stopping",
            format!("sending {} to its process group", signals::name(signal)),
            vec![("signal", Field::Str(signals::name(signal).into_owned()))],
        );
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

    /// Whether shutdown has begun.
    pub fn shutting_down(&self) -> bool {
        !matches!(self.phase, Phase::Running)
    }

    /// Applies `then` to an instance that has just stopped (state `Stopped`).
    pub(super) fn after_stop(&mut self, id: InstId, then: Then, now: Millis) {
        let _ = (id, now);
        match then {
            Then::Restart(reason) => self.restart_after_stop(id, reason, now),
            #[cfg(feature = "api")]
            Then::Stay => self.insts[id].held = true,
            Then::Retire => {
                let p = self.insts[id].process;
                self.insts[id].retired = true;
                self.procs[p].instances.retain(|&i| i != id);
                self.note(
                    Some(id),
                    Level::Info,
                    "retired",
                    "instance removed (scale down)".to_owned(),
                    vec![],
                );
            }
        }
    }
}
