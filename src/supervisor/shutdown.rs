//! Shutdown: stopping processes in reverse dependency order through the one graceful stop,
//! escalating to SIGKILL at the global deadline or on a second signal, and the exit code.

use super::*;

impl Supervisor {
    pub(super) fn begin_shutdown(&mut self, reason: Reason, now: Millis) {
        match self.phase {
            Phase::Running => {
                let msg = match reason {
                    Reason::Signal(s) => format!("received {}: shutting down", signals::name(s)),
                    Reason::CriticalFailed => "a critical process failed: shutting down".to_owned(),
                    Reason::AllFinished { .. } => {
                        "every process has finished: shutting down".to_owned()
                    }
                    Reason::StartupFailed => "start-up failed: shutting down".to_owned(),
                };
                self.note(None, Level::Info, "shutdown", msg, vec![]);
                self.phase = Phase::ShuttingDown {
                    reason,
                    deadline: now + self.limits.shutdown_timeout,
                    forced: false,
                };
                for inst in &mut self.insts {
                    if matches!(inst.state, State::Waiting | State::Backoff) {
                        inst.state = State::Stopped;
                        inst.deadline = None;
                    }
                }
                self.hooks_on_shutdown(now);
            }
            Phase::ShuttingDown { forced: false, .. } if matches!(reason, Reason::Signal(_)) => {
                self.note(
                    None,
                    Level::Warn,
                    "shutdown_forced",
                    "second signal: killing every process now".to_owned(),
                    vec![],
                );
                self.force_kill(now);
            }
            _ => {}
        }
    }

    /// SIGKILL to every group that may have members; stop waiting for graceful exits.
    pub(super) fn force_kill(&mut self, now: Millis) {
        if let Phase::ShuttingDown { reason, .. } = self.phase {
            self.phase = Phase::ShuttingDown {
                reason,
                deadline: now,
                forced: true,
            };
        }
        for id in 0..self.insts.len() {
            let inst = &mut self.insts[id];
            if !inst.state.live() {
                continue;
            }
            inst.killed = true;
            inst.deadline = None;
            if let Some(g) = inst.pgid {
                self.actions.push_back(Action::SignalGroup {
                    pgid: g,
                    signal: signals::SIGKILL,
                });
            }
            match inst.state {
                State::Draining => self.stopped(id, now),
                State::Running | State::Ready => self.insts[id].state = State::Stopping,
                _ => {}
            }
        }
    }

    pub(super) fn finish(&mut self, reason: Reason) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        let code = match reason {
            Reason::Signal(_) | Reason::AllFinished { failed: false } => crate::exit::OK,
            Reason::CriticalFailed
            | Reason::AllFinished { failed: true }
            | Reason::StartupFailed => crate::exit::STARTUP,
        };
        self.note(
            None,
            Level::Info,
            "exit",
            format!("exiting with code {code}"),
            vec![("exit_code", Field::Int(code.into()))],
        );
        self.exit_after_hooks(code);
    }

    /// Sends the stop signal to every process whose dependents have all stopped.
    pub(super) fn stop_ready(&mut self, now: Millis) {
        for p in (0..self.procs.len()).rev() {
            let dependents_live = self.procs[p].dependents.iter().any(|&d| {
                self.procs[d]
                    .instances
                    .iter()
                    .any(|&i| self.insts[i].state.live())
            });
            if dependents_live {
                continue;
            }
            for k in 0..self.procs[p].instances.len() {
                let i = self.procs[p].instances[k];
                if matches!(self.insts[i].state, State::Running | State::Ready) {
                    self.begin_stop(i, now);
                }
            }
        }
    }
}
