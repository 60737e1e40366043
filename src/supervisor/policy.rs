//! Signals the manager receives (other than the shutdown ones) and reload requests, applied to
//! each process through its signal policy (`crate::signal_policy`): a signal to its running
//! instances' groups, a graceful restart of them, or nothing. One summary record says who got
//! what and who was left alone, so a SIGHUP is never silent and never repeated per instance.

use super::{Field, Millis, RestartReason, State, Supervisor, Then};
use crate::config::model::Level;
use crate::signal_policy::Response;
use crate::sys::signals;

/// What a request asks of the processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The manager received this signal.
    Signal(i32),
    /// A reload (`phpeek-pm reload`, the API) of one process, or of every process.
    #[cfg(any(test, feature = "api"))]
    Reload(Option<usize>),
}

impl Supervisor {
    /// Applies a signal or reload request to the processes it concerns. Returns how many
    /// processes were signalled or restarted. Nothing happens once shutdown has begun.
    pub fn signal_request(&mut self, req: Request, now: Millis) -> usize {
        // Before the start (global pre-start hooks) nothing runs; after it, nothing is
        // reloaded while the stack is going down.
        if self.shutting_down() || !self.started {
            return 0;
        }
        let targets: Vec<usize> = match req {
            #[cfg(any(test, feature = "api"))]
            Request::Reload(Some(p)) => vec![p],
            _ => (0..self.procs.len()).collect(),
        };
        let mut acted: Vec<String> = Vec::new();
        let mut left_alone: Vec<String> = Vec::new();
        let mut count = 0;
        for &p in &targets {
            let proc = &self.procs[p];
            // Scheduled tasks have no instances: their runs are the scheduler's; a process
            // removed by a reload is no longer anybody's concern.
            if !proc.kind.supervised() || proc.removed {
                continue;
            }
            let response = match req {
                Request::Signal(sig) => proc.signals.on_signal(sig),
                #[cfg(any(test, feature = "api"))]
                Request::Reload(_) => proc.signals.on_reload(),
            };
            let running: Vec<usize> = proc
                .instances
                .iter()
                .copied()
                .filter(|&i| matches!(self.insts[i].state, State::Running | State::Ready))
                .collect();
            match response {
                Response::Ignore => {
                    left_alone.push(self.procs[p].name.clone());
                    continue;
                }
                Response::Signal(s) => {
                    for &i in &running {
                        if let Some(g) = self.insts[i].pgid {
                            self.actions
                                .push_back(super::Action::SignalGroup { pgid: g, signal: s });
                        }
                    }
                    acted.push(format!("{} ({})", self.procs[p].name, signals::name(s)));
                }
                Response::Restart => {
                    acted.push(format!("{} (restart)", self.procs[p].name));
                }
            }
            count += 1;
            if response == Response::Restart {
                for i in running {
                    self.stop_instance(i, Then::Restart(RestartReason::Manual), now);
                }
            }
        }
        let (what, event) = match req {
            Request::Signal(sig) => (signals::name(sig).into_owned(), "signal"),
            #[cfg(any(test, feature = "api"))]
            Request::Reload(_) => ("reload".to_owned(), "reload"),
        };
        // SIGWINCH comes with every resize of an attached terminal (`docker run -it`): when
        // it reaches nobody, that is only worth a debug line. Anything else is said.
        let level = if acted.is_empty() && req == Request::Signal(signals::SIGWINCH) {
            Level::Debug
        } else {
            Level::Info
        };
        let msg = match (acted.is_empty(), left_alone.is_empty()) {
            (false, false) => format!(
                "{what}: {}; left alone: {}",
                acted.join(", "),
                left_alone.join(", ")
            ),
            (false, true) => format!("{what}: {}", acted.join(", ")),
            (true, _) => format!("{what}: passed to no process (no process asked for it)"),
        };
        self.note(
            None,
            level,
            event,
            msg,
            vec![
                ("signal", Field::Str(what)),
                ("acted", Field::Int(count as i64)),
            ],
        );
        count
    }
}
