//! Stopping, starting and scaling single instances while the manager runs: the one graceful
//! stop path ([`Supervisor::begin_stop`], shared with shutdown) and what follows a stop that was
//! asked for outside shutdown ([`Then`]). Features use these instead of touching instance state:
//! a failed liveness probe restarts through `stop_instance(.., Then::Restart(HealthCheck), ..)`,
//! the API's stop/start/restart/scale go through the same functions.

// Single-instance stops come from features (health's liveness restarts, the API's commands):
// the minimal build never asks for one.
#![cfg_attr(
    not(any(feature = "health", feature = "api", feature = "hooks")),
    allow(dead_code)
)]

use super::{Field, InstId, Instance, Millis, Phase, State, StopStep, Supervisor};
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
    pub const ALL: [RestartReason; RestartReason::COUNT] = [
        RestartReason::Exit,
        RestartReason::HealthCheck,
        RestartReason::Manual,
    ];

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

/// What happens to an instance once a stop requested outside shutdown has ended.
// Stay and Retire come from the API (stop, scale down).
#[cfg_attr(not(feature = "api"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Start it again: at once for a manual restart, after the backoff delay for a failed
    /// health check (a process that keeps failing its probe must not restart in a tight loop).
    Restart(RestartReason),
    /// Leave it stopped ("held") until a start request.
    Stay,
    /// Remove it from its process (scale-down).
    Retire,
}

impl Supervisor {
    /// Stops one instance gracefully (the same path as shutdown: stop signal to its group, its
    /// `shutdown.timeout`, then SIGKILL), then does `then`. An instance that has no process
    /// right now gets `then` at once. Ignored once shutdown has begun: everything stops anyway.
    pub fn stop_instance(&mut self, id: InstId, then: Then, now: Millis) {
        if !matches!(self.phase, Phase::Running) || self.insts[id].retired {
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

    /// Starts a stopped, exited or failed instance again (a held one too): it waits for its
    /// dependencies like at start-up, then spawns. Returns false if it is live already.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub fn start_instance(&mut self, id: InstId, now: Millis) -> bool {
        let inst = &mut self.insts[id];
        if !matches!(self.phase, Phase::Running) || inst.retired || !inst.state.finished() {
            return false;
        }
        inst.held = false;
        inst.attempts = 0;
        inst.deadline = None;
        inst.state = State::Waiting;
        self.settle(now);
        true
    }

    /// Adds one instance to process `p` (runtime scale-up), named `<name>-<n>` with the lowest
    /// free `n`; a slot retired under the same name is reused, so repeated scaling
    /// does not grow memory. It starts when its dependencies are ready.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub fn add_instance(&mut self, p: usize, now: Millis) -> InstId {
        // The lowest number not in use (instances being retired still hold theirs).
        let taken = |id: &str| {
            self.procs[p]
                .instances
                .iter()
                .any(|&i| self.insts[i].id == id)
        };
        let id = (0..)
            .map(|n| format!("{}-{n}", self.procs[p].name))
            .find(|id| !taken(id))
            .unwrap_or_default();
        let slot = self
            .insts
            .iter()
            .position(|i| i.retired && i.process == p && i.id == id && !i.state.live());
        let inst = match slot {
            Some(s) => {
                self.insts[s] = Instance::new(p, id);
                s
            }
            None => {
                self.insts.push(Instance::new(p, id));
                self.insts.len() - 1
            }
        };
        self.procs[p].instances.push(inst);
        self.settle(now);
        inst
    }

    /// Sets the number of instances of process `p`: adds `<name>-<n>` instances, or stops the
    /// highest-numbered ones gracefully and retires them. Returns the instances added.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub fn set_scale(&mut self, p: usize, desired: u32, now: Millis) -> Vec<InstId> {
        // A scheduled task has no instances to scale.
        if !matches!(self.phase, Phase::Running) || !self.procs[p].kind.supervised() {
            return Vec::new();
        }
        self.procs[p].desired_scale = desired;
        // Instances already on their way out do not count.
        let staying: Vec<InstId> = self.procs[p]
            .instances
            .iter()
            .copied()
            .filter(|&i| self.insts[i].then != Some(Then::Retire))
            .collect();
        let mut added = Vec::new();
        if staying.len() < desired as usize {
            for _ in staying.len()..desired as usize {
                added.push(self.add_instance(p, now));
            }
        } else {
            for &i in staying.iter().skip(desired as usize).rev() {
                self.stop_instance(i, Then::Retire, now);
            }
        }
        added
    }

    /// The number of instances process `p` should have.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub fn desired_scale(&self, p: usize) -> u32 {
        self.procs[p].desired_scale
    }

    /// Index of a process by name.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub fn process_index(&self, name: &str) -> Option<usize> {
        self.procs.iter().position(|p| p.name == name)
    }

    /// The instances of process `p`, in order (retired ones are not listed).
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub fn instances_of(&self, p: usize) -> &[InstId] {
        &self.procs[p].instances
    }

    /// The one graceful stop. Without a pre-stop step: stop signal to the group, SIGKILL at
    /// the deadline. With one (`pre_stop_hook`): run it first (`Action::PreStop`); then, by
    /// default, wait for the process to exit on its own until `shutdown.timeout` has passed
    /// since the stop began, and only then send the stop signal, with SIGKILL one
    /// `shutdown.timeout` later (`wait_for_exit: false`: the signal as soon as the step ends).
    pub(super) fn begin_stop(&mut self, id: InstId, now: Millis) {
        let p = self.insts[id].process;
        let timeout = self.procs[p].stop_timeout;
        let inst = &mut self.insts[id];
        inst.state = State::Stopping;
        inst.deadline = Some(now + timeout);
        if self.procs[p].pre_stop && inst.pgid.is_some() {
            inst.stop_step = StopStep::Hook;
            self.actions.push_back(super::Action::PreStop(id));
            self.note(
                Some(id),
                Level::Info,
                "stopping",
                "running its pre-stop hook before the stop signal".to_owned(),
                vec![],
            );
            return;
        }
        self.send_stop_signal(id, now);
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

    /// Whether shutdown waits for [`Supervisor::release_shutdown`].
    #[cfg_attr(not(feature = "hooks"), allow(dead_code))]
    pub fn shutdown_held(&self) -> bool {
        self.held && self.shutting_down()
    }

    /// Lets a held shutdown go on: processes get their stop signals now.
    #[cfg_attr(not(feature = "hooks"), allow(dead_code))]
    pub fn release_shutdown(&mut self, now: Millis) {
        if self.held {
            self.held = false;
            self.settle(now);
        }
    }

    /// Applies `then` to an instance that has just stopped (state `Stopped`).
    pub(super) fn after_stop(&mut self, id: InstId, then: Then, now: Millis) {
        match then {
            Then::Restart(reason) => {
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
                        ("reason", Field::Str(reason.as_str().to_owned())),
                        ("delay_ms", Field::Int(delay as i64)),
                    ],
                );
            }
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
