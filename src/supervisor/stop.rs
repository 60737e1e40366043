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

/// What happens to an instance once a stop requested outside shutdown has ended. Only the
/// features that send commands (api, health) ask for such stops: a build without them has
/// none, and this type no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Start it again: at once for a manual restart, after the backoff delay for a failed
    /// health check (a process that keeps failing its probe must not restart in a tight loop).
    #[cfg(any(feature = "api", feature = "health"))]
    Restart(RestartReason),
    /// Leave it stopped ("held") until a start request.
    #[cfg(feature = "api")]
    Stay,
    /// Remove it from its process (scale-down).
    #[cfg(feature = "api")]
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
            vec![("signal", Field::Str(signals::name(signal)))],
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
            #[cfg(any(feature = "api", feature = "health"))]
            Then::Restart(reason) => self.restart_after_stop(id, reason, now),
            #[cfg(feature = "api")]
            Then::Stay => self.insts[id].held = true,
            #[cfg(feature = "api")]
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
