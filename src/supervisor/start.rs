//! Start-up: which waiting instances may start, from the readiness of their dependencies.

use super::*;

impl Supervisor {
    /// Whether every instance of process `p` satisfies its dependents, never will, or may yet.
    pub(super) fn readiness(&self, p: usize) -> Readiness {
        let proc = &self.procs[p];
        let mut all_ready = true;
        for &i in &proc.instances {
            // Held down on request (or by `initial_state: stopped`): it holds back no
            // dependent, as in the Go tool (which counted such a process ready).
            if self.insts[i].held {
                continue;
            }
            let st = self.insts[i].state;
            // (A scheduled task has no instances: it never holds anyone back.)
            let oneshot = proc.kind == ProcessKind::Oneshot;
            let ok = if oneshot {
                st == State::Exited
            } else {
                st == State::Ready
            };
            let dead = if oneshot {
                matches!(st, State::Failed | State::Stopped)
            } else {
                st.finished()
            };
            if dead {
                return Readiness::Never;
            }
            all_ready &= ok;
        }
        if all_ready {
            Readiness::Ready
        } else {
            Readiness::NotYet
        }
    }

    pub(super) fn start_ready(&mut self, now: Millis) {
        // Processes are in start order, so one pass settles chains that become ready now.
        for p in 0..self.procs.len() {
            let waiting: Vec<InstId> = self.procs[p]
                .instances
                .iter()
                .copied()
                .filter(|&i| self.insts[i].state == State::Waiting)
                .collect();
            if waiting.is_empty() {
                continue;
            }
            let mut verdict = Readiness::Ready;
            let mut blocker = None;
            for &d in &self.procs[p].deps {
                match self.readiness(d) {
                    Readiness::Ready => {}
                    Readiness::NotYet => verdict = Readiness::NotYet,
                    Readiness::Never => {
                        verdict = Readiness::Never;
                        blocker = Some(d);
                        break;
                    }
                }
            }
            match verdict {
                Readiness::Ready => {
                    for i in waiting {
                        self.insts[i].state = State::Starting;
                        self.insts[i].deadline = None;
                        self.request_spawn(i);
                    }
                }
                Readiness::Never => {
                    let dep = blocker
                        .map(|d| self.procs[d].name.clone())
                        .unwrap_or_default();
                    for i in waiting {
                        self.note(
                            Some(i),
                            Level::Error,
                            "dependency_failed",
                            format!("not starting: dependency {dep} failed or ended"),
                            vec![],
                        );
                        self.fail(i, now);
                    }
                }
                Readiness::NotYet => {}
            }
        }
    }
}
