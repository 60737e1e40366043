//! The scheduler part (feature `scheduler`): feeds the [`Scheduler`] the loop's clocks, the
//! readiness of each task's dependencies and the start of shutdown; runs each due run as a
//! child with a deadline (`spawn_aux`); stops runs (`stop_aux`); logs; hands heartbeat pings to
//! the pings part (feature `heartbeat`, `pings.rs`); and watches the wall clock for jumps (a
//! `timerfd`, slot 0 of its token kind).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};

use mio::Interest;
use mio::unix::SourceFd;

use super::Reactor;
use super::children::{AuxDone, AuxId, AuxSpec};
use super::part::{AuxOwner, AuxTag, Msg, Part, PartId, Reply, Setup, Spawner};
use crate::config::model::{Config, Level};
use crate::scheduler::{Action, Event, Outcome, Scheduler, TaskId};
use crate::status::Snapshot;
use crate::supervisor::Millis;
use crate::sys;

/// The clock watch's slot in this part's token kind.
const SLOT_CLOCK: usize = 0;

pub(super) fn part(config: &Config, setup: &Setup<'_>) -> Box<dyn Part> {
    let sched = Scheduler::new(config);
    let mut setup_warning = None;
    let clock = if sched.is_empty() {
        None
    } else {
        match sys::clock::watch() {
            Ok(fd) => {
                let r = setup.registry.register(
                    &mut SourceFd(&fd.as_raw_fd()),
                    super::token(SLOT_CLOCK, setup.kind),
                    Interest::READABLE,
                );
                r.ok().map(|()| fd)
            }
            Err(e) => {
                setup_warning = Some(format!(
                    "cannot watch the wall clock ({e}): a clock jump is noticed at the next \
                     fire time only"
                ));
                None
            }
        }
    };
    Box::new(Tasks {
        id: setup.id,
        sched,
        runs: HashMap::new(),
        clock,
        stopping: false,
        setup_warning,
    })
}

struct Tasks {
    id: PartId,
    sched: Scheduler,
    /// Runs going now, for `stop_aux`.
    runs: HashMap<(TaskId, u64), AuxId>,
    /// Readable when the wall clock is set (`None` if the kernel refused a timerfd).
    clock: Option<OwnedFd>,
    /// The manager's shutdown has been passed on.
    stopping: bool,
    /// A problem met while setting up, logged on the first turn.
    setup_warning: Option<String>,
}

/// Unix milliseconds now.
fn wall_ms() -> i64 {
    let (s, ms) = sys::realtime();
    s * 1000 + i64::from(ms)
}

impl Part for Tasks {
    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        self.sched.next_deadline()
    }

    /// One loop turn's work for the scheduler: shutdown, dependencies, deadlines, actions.
    fn turn(&mut self, r: &mut Reactor<'_>) {
        if let Some(w) = self.setup_warning.take() {
            r.out
                .event(Level::Warn, None, "clock_watch_failed", &w, &[]);
        }
        let (now, wall) = (sys::monotonic_ms(), wall_ms());
        if r.sup.shutting_down() && !self.stopping {
            self.stopping = true;
            self.sched.handle(Event::Shutdown, now, wall);
        }
        let waiting: Vec<(TaskId, usize)> = self.sched.waiting().collect();
        for (task, process) in waiting {
            match r.sup.dependencies_ready(process) {
                Some(true) => self.sched.handle(Event::DepsReady(task), now, wall),
                Some(false) => {}
                None => self.sched.handle(Event::DepsFailed(task), now, wall),
            }
        }
        self.sched.handle_timeout(now, wall);
        self.actions(r);
    }

    /// The clock watch: the wall clock was set.
    fn ready(&mut self, r: &mut Reactor<'_>, _slot: usize, _ev: &mio::event::Event) {
        if self.clock.as_ref().is_some_and(sys::clock::changed) {
            r.out.event(
                Level::Info,
                None,
                "clock_changed",
                "the wall clock was set: re-reading scheduled times",
                &[],
            );
            let (now, wall) = (sys::monotonic_ms(), wall_ms());
            self.sched.handle(Event::ClockChanged, now, wall);
        }
    }

    /// The API's schedule commands (`None`: not a task of ours).
    fn on(&mut self, r: &mut Reactor<'_>, m: &Msg<'_>) -> Option<Reply> {
        let reply = match *m {
            Msg::Started(_) | Msg::Exited(_) | Msg::Action(_) | Msg::Reconfigured => None,
            #[cfg(any(feature = "api", feature = "metrics"))]
            Msg::FpmAsk | Msg::FpmPending => None,
            #[cfg(feature = "api")]
            Msg::History(_) => None,
            #[cfg(feature = "api")]
            Msg::Trigger(name) => {
                self.sched
                    .find(name)
                    .map(|t| match self.sched.trigger(t, wall_ms()) {
                        Ok(run) => Reply::Run(run),
                        Err(e) => {
                            let status = match e {
                                crate::scheduler::TriggerError::ShuttingDown => 503,
                                crate::scheduler::TriggerError::Busy
                                | crate::scheduler::TriggerError::NotReady => 409,
                            };
                            Reply::Refused(status, e.as_str())
                        }
                    })
            }
            #[cfg(feature = "api")]
            Msg::Pause(name, pause) => self.sched.find(name).map(|t| {
                if pause {
                    self.sched.pause(t);
                } else {
                    self.sched.resume(t);
                }
                Reply::Done
            }),
            #[cfg(feature = "heartbeat")]
            Msg::Ping { .. } => None,
        };
        if reply.is_some() {
            self.actions(r);
        }
        reply
    }

    /// A run's child ended (or could not be spawned).
    fn aux_done(&mut self, r: &mut Reactor<'_>, tag: AuxTag, done: AuxDone) {
        let (task, run) = (tag.0 as TaskId, tag.1);
        self.runs.remove(&(task, run));
        let outcome = match (done.status, done.spawn_error) {
            (Some(status), _) => Outcome::Exited {
                status,
                timed_out: done.timed_out,
            },
            (None, e) => Outcome::SpawnFailed(e.unwrap_or_default()),
        };
        let (now, wall) = (sys::monotonic_ms(), wall_ms());
        self.sched.handle(
            Event::Finished {
                task,
                run,
                outcome,
                duration_ms: done.duration_ms,
            },
            now,
            wall,
        );
        self.actions(r);
    }

    /// The tasks' views, and each task's process shown with the task's state (`scheduled`,
    /// `running`, `paused`, ...).
    fn snapshot(&self, _r: &Reactor<'_>, snap: &mut Snapshot) {
        snap.tasks = (0..self.sched.len()).map(|t| self.sched.view(t)).collect();
        for p in &mut snap.processes {
            if let Some(t) = self.sched.find(&p.name) {
                p.state = self.sched.state(t);
            }
        }
    }
}

impl Tasks {
    fn actions(&mut self, r: &mut Reactor<'_>) {
        while let Some(a) = self.sched.poll_action() {
            match a {
                Action::Start {
                    task,
                    run,
                    start_unix,
                } => self.start_run(r, task, run, start_unix),
                Action::Stop { task, run } => {
                    if let Some(&id) = self.runs.get(&(task, run)) {
                        r.stop_aux(id);
                    }
                }
                Action::Log(n) => {
                    let name = self.sched.name(n.task);
                    let instance = match n.run {
                        Some(run) => format!("{name}-run-{run}"),
                        None => name.to_owned(),
                    };
                    r.out.event(
                        n.level,
                        Some((instance.as_str(), name)),
                        n.event,
                        &n.msg,
                        &n.fields,
                    );
                }
                #[cfg(feature = "heartbeat")]
                Action::Ping { task, run, ping } => {
                    if let Some(heartbeat) = self.sched.spec(task).heartbeat.as_ref() {
                        let name = self.sched.name(task);
                        r.tell(&Msg::Ping {
                            task,
                            run,
                            ping,
                            name,
                            heartbeat,
                        });
                    }
                }
                // Without feature `heartbeat` no task has a heartbeat: nothing to ping.
                #[cfg(not(feature = "heartbeat"))]
                Action::Ping { .. } => {}
            }
        }
    }

    fn start_run(&mut self, r: &mut Reactor<'_>, task: TaskId, run: u64, start_unix: i64) {
        let p = &r.config.processes[self.sched.process(task)];
        let t = self.sched.spec(task);
        let instance = format!("{}-run-{run}", p.name);
        let mut env = p.env.clone();
        env.extend([
            ("PHPEEK_PM_PROCESS_NAME".to_owned(), p.name.clone()),
            ("PHPEEK_PM_INSTANCE_ID".to_owned(), instance.clone()),
            ("PHPEEK_PM_SCHEDULED".to_owned(), "true".to_owned()),
            ("PHPEEK_PM_SCHEDULE".to_owned(), t.cron.source().to_owned()),
            ("PHPEEK_PM_START_TIME".to_owned(), start_unix.to_string()),
        ]);
        let spec = AuxSpec {
            argv: p.command.clone(),
            env,
            cwd: p.working_dir.clone(),
            credentials: p.credentials.clone(),
            process: p.name.clone(),
            instance,
            timeout_ms: t.timeout_ms,
            stop_signal: p.stop_signal,
            // Its shutdown timeout, within the global bound on the whole shutdown.
            kill_after_ms: p.stop_timeout.min(r.config.global.shutdown_timeout),
            // Its output is processed with its process's log rules.
            logging: p.logging.clone(),
        };
        let owner = AuxOwner {
            part: self.id,
            tag: AuxTag(task as u64, run),
            by: Spawner::Part,
        };
        if let Some(id) = r.spawn_aux(spec, owner) {
            self.runs.insert((task, run), id);
        }
    }
}
