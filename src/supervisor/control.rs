//! Commands (feature `api`, and `health`'s liveness restarts): requests from outside the
//! supervisor to stop, start, restart or scale, handed in as [`super::Event::Command`] and
//! validated here against the state they find. Each goes through the same graceful stop,
//! dependency wait and restart paths as everything else.

use super::{InstId, Millis, Phase, RestartReason, Supervisor, Then};

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
    /// The signal policy's reload (`phpeek-pm reload [NAME]`) of one process, or of all: the
    /// same as SIGHUP to the manager.
    #[cfg(feature = "api")]
    Reload(Option<usize>),
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
            #[cfg(feature = "api")]
            Command::Reload(p) => {
                self.signal_request(super::SignalRequest::Reload(p), now);
            }
            #[cfg(feature = "health")]
            Command::Recover(i) => {
                if matches!(
                    self.insts[i].state,
                    super::State::Running | super::State::Ready
                ) {
                    self.stop_instance(i, Then::Restart(RestartReason::HealthCheck), now);
                }
            }
        }
    }

    /// The instances of process `p`, in order (retired ones are not listed).
    pub fn instances_of(&self, p: usize) -> &[InstId] {
        &self.procs[p].instances
    }
}
