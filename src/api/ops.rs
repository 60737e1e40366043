//! Commands that answer when they are done. A command is handed to the supervisor as an input
//! ([`Command`]: the same graceful stop, dependency wait and restart paths as everything else),
//! then followed: after every loop turn
//! [`Pending::check`] looks at the supervisor's state and says whether the request can be
//! answered. The connection stays parked meanwhile; nothing blocks. A deadline bounds the wait
//! (a process may wait for a dependency forever): then the answer is 504 and the work goes on.
//!
//! One command per process at a time: the reactor answers 409 to a second one while the first
//! is in flight, so concurrent requests can never leave two instances where one is wanted.

use super::{Op, json};
use crate::http::Response;
use crate::supervisor::{Command, Event, InstId, Millis, RestartReason, State, Supervisor};

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

/// The supervisor's command for an API operation on process `p` (`target`: a scale's count).
pub fn command(op: Op, p: usize, target: u32) -> Command {
    match op {
        Op::Stop => Command::Stop(p),
        Op::Start => Command::Start(p),
        Op::Restart => Command::Restart(p),
        Op::Scale(_) => Command::Scale {
            process: p,
            desired: target,
        },
    }
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
        sup.handle(Event::Command(command(op, process, target)), now);
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
        if sup.shutting_down() {
            return Some(Response::error(
                503,
                &format!(
                    "the manager is shutting down: {} of {} abandoned",
                    self.op.verb(),
                    self.name
                ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Scale;
    use crate::config::model::{Config, ProcessSpec};
    use crate::supervisor::{Action, Event};
    use crate::sys::ExitStatus;

    fn config(scale: u32) -> Config {
        Config::for_tests(vec![ProcessSpec {
            scale,
            ..ProcessSpec::for_tests("web")
        }])
    }

    /// A supervisor whose spawns succeed at once with fresh pids; returns the groups signalled.
    struct World {
        sup: Supervisor,
        next_pid: i32,
        now: Millis,
    }

    impl World {
        fn new(scale: u32) -> World {
            let mut w = World {
                sup: Supervisor::new(&config(scale), 1),
                next_pid: 100,
                now: 1_000,
            };
            w.sup.start(w.now);
            w.run();
            w
        }

        /// Runs queued actions: spawns succeed; returns the signalled groups.
        fn run(&mut self) -> Vec<i32> {
            let mut signalled = Vec::new();
            while let Some(a) = self.sup.poll_action() {
                match a {
                    Action::Spawn(i) => {
                        self.next_pid += 1;
                        let pid = self.next_pid;
                        self.sup.handle(Event::Spawned { inst: i, pid }, self.now);
                    }
                    Action::SignalGroup { pgid, .. } => signalled.push(pgid),
                    _ => {}
                }
            }
            signalled
        }

        /// The process of group `pid` exits with `code`.
        fn exit(&mut self, pid: i32, code: i32) {
            let inst = (0..8)
                .find(|&i| {
                    self.sup.instances_of(0).contains(&i) && self.sup.instance(i).pid == Some(pid)
                })
                .expect("an instance with that pid");
            self.sup.handle(
                Event::Exited {
                    inst,
                    status: ExitStatus::Code(code),
                    group_alive: false,
                },
                self.now,
            );
        }

        fn begin(&mut self, op: Op, target: u32) -> Pending {
            Pending::begin(
                &mut self.sup,
                0,
                "web",
                op,
                target,
                false,
                1_000,
                (0, 1),
                self.now,
            )
        }
    }

    fn status(r: Option<Response>) -> Option<u16> {
        r.map(|r| r.status)
    }

    #[test]
    fn restart_answers_once_the_new_process_is_ready() {
        let mut w = World::new(1);
        let p = w.begin(Op::Restart, 1);
        let groups = w.run();
        assert_eq!(groups, [101], "stop signal to the old group");
        assert_eq!(status(p.check(&w.sup, w.now)), None);
        w.exit(101, 0);
        w.run();
        let r = p.check(&w.sup, w.now).expect("done");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, br#"{"status":"restarted","process":"web"}"#);
        assert_eq!(w.sup.instance(0).pid, Some(102));
    }

    #[test]
    fn stop_then_start() {
        let mut w = World::new(1);
        let p = w.begin(Op::Stop, 1);
        w.run();
        assert_eq!(status(p.check(&w.sup, w.now)), None);
        w.exit(101, 0);
        w.run();
        assert_eq!(status(p.check(&w.sup, w.now)), Some(200));
        // Stopping again is done at once; so is starting something running.
        let again = w.begin(Op::Stop, 1);
        assert_eq!(status(again.check(&w.sup, w.now)), Some(200));
        let start = w.begin(Op::Start, 1);
        w.run();
        assert_eq!(status(start.check(&w.sup, w.now)), Some(200));
        let start = w.begin(Op::Start, 1);
        assert_eq!(status(start.check(&w.sup, w.now)), Some(200));
    }

    #[test]
    fn scale_down_waits_for_the_retired_instances() {
        let mut w = World::new(1);
        let t = Scale::To(3).target(1).unwrap();
        let up = w.begin(Op::Scale(Scale::To(3)), t);
        w.run();
        assert_eq!(status(up.check(&w.sup, w.now)), Some(200));
        let ids: Vec<&str> = w
            .sup
            .instances_of(0)
            .iter()
            .map(|&i| w.sup.instance(i).id.as_str())
            .collect();
        assert_eq!(ids, ["web-0", "web-1", "web-2"]);
        let down = w.begin(Op::Scale(Scale::By(-2)), 1);
        let groups = w.run();
        assert_eq!(groups, [103, 102], "the highest instances are stopped");
        assert_eq!(status(down.check(&w.sup, w.now)), None);
        w.exit(103, 0);
        w.run();
        assert_eq!(status(down.check(&w.sup, w.now)), None);
        w.exit(102, 0);
        w.run();
        assert_eq!(status(down.check(&w.sup, w.now)), Some(200));
        assert_eq!(w.sup.instances_of(0).len(), 1);
    }

    #[test]
    fn a_crash_during_start_is_500_and_a_long_wait_504() {
        let mut w = World::new(1);
        let p = w.begin(Op::Restart, 1);
        w.run();
        w.exit(101, 0);
        w.run();
        // The new process is spawned ... and crashes before the check.
        w.exit(102, 1);
        w.run();
        let r = p.check(&w.sup, w.now).expect("answer");
        assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
        let mut w = World::new(1);
        let p = w.begin(Op::Stop, 1);
        w.run();
        assert_eq!(
            status(p.check(&w.sup, w.now + 1_000 + START_GRACE_MS - 1)),
            None
        );
        assert_eq!(
            status(p.check(&w.sup, w.now + 1_000 + START_GRACE_MS)),
            Some(504)
        );
    }
}
