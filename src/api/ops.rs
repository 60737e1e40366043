//! Commands that answer when they are done. A command is handed to the supervisor through its
//! own entry points (`stop_instance`, `start_instance`, `set_scale`: the same graceful stop,
//! dependency wait and restart paths as everything else), then followed: after every loop turn
//! [`Pending::check`] looks at the supervisor's state and says whether the request can be
//! answered. The connection stays parked meanwhile; nothing blocks. A deadline bounds the wait
//! (a process may wait for a dependency forever): then the answer is 504 and the work goes on.
//!
//! One command per process at a time: the reactor answers 409 to a second one while the first
//! is in flight, so concurrent requests can never leave two instances where one is wanted.

use super::{Op, json};
use crate::http::Response;
use crate::supervisor::{InstId, Millis, RestartReason, State, Supervisor, Then};

/// Time a command may take beyond the process's stop timeout: for the new instances to be
/// spawned and become ready.
pub const START_GRACE_MS: u64 = 30_000;

/// A command in flight, and the connection waiting for its answer.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The waiting connection: its slot and serial number (the slot may be reused).
    pub conn: (usize, u64),
    pub process: usize,
    pub name: String,
    pub op: Op,
    pub deadline: Millis,
    started: Millis,
    oneshot: bool,
    /// The instance count asked for (scale).
    target: u32,
    /// Each instance at the start: its id, restarts after exits, restarts in all.
    baseline: Vec<(InstId, u32, u32)>,
}

fn exit_restarts(sup: &Supervisor, i: InstId) -> u32 {
    sup.instance(i).restarts_by_reason[RestartReason::Exit.index()]
}

impl Pending {
    /// Hands the command to the supervisor. `target` is the new instance count of a scale.
    #[allow(clippy::too_many_arguments)]
    pub fn begin(
        sup: &mut Supervisor,
        process: usize,
        name: &str,
        op: Op,
        target: u32,
        oneshot: bool,
        stop_timeout: Millis,
        conn: (usize, u64),
        now: Millis,
    ) -> Pending {
        let baseline = sup
            .instances_of(process)
            .iter()
            .map(|&i| (i, exit_restarts(sup, i), sup.instance(i).restarts))
            .collect();
        let ids: Vec<InstId> = sup.instances_of(process).to_vec();
        match op {
            Op::Stop => {
                for i in ids {
                    sup.stop_instance(i, Then::Stay, now);
                }
            }
            Op::Start => {
                for i in ids {
                    sup.start_instance(i, now);
                }
            }
            Op::Restart => {
                for i in ids {
                    sup.stop_instance(i, Then::Restart(RestartReason::Manual), now);
                }
            }
            Op::Scale(_) => {
                sup.set_scale(process, target, now);
            }
        }
        Pending {
            conn,
            process,
            name: name.to_owned(),
            op,
            deadline: now + stop_timeout + START_GRACE_MS,
            started: now,
            oneshot,
            target,
            baseline,
        }
    }

    /// The answer, once the command is done, has failed, or ran out of time.
    pub fn check(&self, sup: &Supervisor, now: Millis) -> Option<Response> {
        let ids = sup.instances_of(self.process);
        let settled = |i: InstId| {
            let st = sup.instance(i).state;
            if self.oneshot {
                st == State::Exited
            } else {
                st == State::Ready
            }
        };
        let base = |i: InstId| self.baseline.iter().find(|b| b.0 == i);
        // An instance that crashed (or gave up) since the command began.
        let crashed = ids.iter().copied().find(|&i| {
            let inst = sup.instance(i);
            inst.state == State::Failed
                || base(i).map_or(exit_restarts(sup, i) > 0, |b| exit_restarts(sup, i) > b.1)
        });
        let done = match self.op {
            Op::Stop => ids.iter().all(|&i| {
                matches!(
                    sup.instance(i).state,
                    State::Stopped | State::Exited | State::Failed
                )
            }),
            Op::Start => ids.iter().all(|&i| settled(i)),
            Op::Restart => ids
                .iter()
                .all(|&i| settled(i) && base(i).is_none_or(|b| sup.instance(i).restarts > b.2)),
            Op::Scale(_) => ids.len() == self.target as usize && ids.iter().all(|&i| settled(i)),
        };
        if done {
            let (status, fields): (&str, Vec<(&str, i64)>) = match self.op {
                Op::Stop => ("stopped", vec![]),
                Op::Start => ("started", vec![]),
                Op::Restart => ("restarted", vec![]),
                Op::Scale(_) => ("scaled", vec![("desired", i64::from(self.target))]),
            };
            return Some(Response::json(
                200,
                json::status(status, &self.name, &fields),
            ));
        }
        if self.op != Op::Stop {
            if let Some(i) = crashed {
                let inst = sup.instance(i);
                return Some(Response::error(
                    500,
                    &format!(
                        "{} of {} failed: {} exited while starting (now {}); see GET \
                         /api/v1/processes/{}/logs",
                        self.op.verb(),
                        self.name,
                        inst.id,
                        inst.state.as_str(),
                        self.name
                    ),
                ));
            }
        }
        if now >= self.deadline {
            return Some(Response::error(
                504,
                &format!(
                    "{} of {} is still in progress after {} s (waiting for a dependency, or for \
                     a process to become ready?); it continues: see GET /api/v1/processes/{}",
                    self.op.verb(),
                    self.name,
                    now.saturating_sub(self.started) / 1000,
                    self.name
                ),
            ));
        }
        None
    }
}
