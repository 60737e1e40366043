//! The supervisor's part of the status snapshot: processes and instances as they are now.

use super::{Ending, Millis, ProcessKind, RestartReason, State, Supervisor};
use crate::status::{InstanceView, ProcessView, Snapshot};
use crate::sys::ExitStatus;

impl State {
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Ready => "ready",
            State::Backoff => "backoff",
            State::Stopping => "stopping",
            State::Draining => "draining",
            State::Stopped => "stopped",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }

    /// Rank for a process's summary state: the most active instance state wins.
    const fn rank(self) -> u8 {
        match self {
            State::Ready => 9,
            State::Running => 8,
            State::Starting => 7,
            State::Stopping | State::Draining => 6,
            State::Backoff => 5,
            State::Waiting => 4,
            State::Failed => 3,
            State::Exited => 2,
            State::Stopped => 1,
        }
    }
}

impl Supervisor {
    /// Processes and instances now. `now` is the monotonic time of the loop, `wall_now` the
    /// Unix time at that moment, used to turn start times into wall-clock seconds.
    pub fn snapshot(&self, now: Millis, wall_now: f64) -> Snapshot {
        let processes = self
            .procs
            .iter()
            .map(|p| {
                let mut by_reason = [0u64; RestartReason::COUNT];
                // Retired instances' restarts still count: counters never go down.
                for inst in self
                    .insts
                    .iter()
                    .filter(|i| self.procs[i.process].name == p.name)
                {
                    for (n, c) in inst.restarts_by_reason.iter().enumerate() {
                        by_reason[n] += u64::from(*c);
                    }
                }
                let instances: Vec<InstanceView> = p
                    .instances
                    .iter()
                    .map(|&i| {
                        let inst = &self.insts[i];
                        let live = inst.pid.is_some();
                        InstanceView {
                            id: inst.id.clone(),
                            state: inst.state.as_str(),
                            pid: inst.pid,
                            started_at_unix: live.then(|| {
                                wall_now - now.saturating_sub(inst.started_at) as f64 / 1000.0
                            }),
                            restart_count: inst.restarts,
                            last_exit_code: match inst.last_ending {
                                Some(Ending::Status(ExitStatus::Code(c))) => Some(c),
                                Some(Ending::Status(ExitStatus::Signal(s))) => Some(128 + s),
                                Some(Ending::SpawnFailed) | None => None,
                            },
                            ready: if p.kind == ProcessKind::Oneshot {
                                inst.state == State::Exited
                            } else {
                                inst.state == State::Ready
                            },
                            health: None,
                            usage: None,
                            pools: Vec::new(),
                        }
                    })
                    .collect();
                let state = p
                    .instances
                    .iter()
                    .map(|&i| self.insts[i].state)
                    .max_by_key(|s| s.rank())
                    .map_or("stopped", State::as_str);
                ProcessView {
                    name: p.name.clone(),
                    kind: p.kind.as_str(),
                    state,
                    desired_scale: p.desired_scale,
                    restarts_by_reason: RestartReason::all()
                        .iter()
                        .map(|r| (r.as_str(), by_reason[r.index()]))
                        .collect(),
                    instances,
                }
            })
            .collect();
        let mut snap = Snapshot {
            processes,
            ..Snapshot::default()
        };
        snap.manager.shutting_down = !matches!(self.phase, super::Phase::Running);
        snap
    }
}
