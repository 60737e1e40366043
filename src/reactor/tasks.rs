//! The reactor's side of scheduled tasks (feature `scheduler`): feeds the [`Scheduler`] the
//! loop's clocks, the readiness of each task's dependencies and the start of shutdown; runs
//! each due run as a child with a deadline (`spawn_aux`); stops runs (`stop_aux`); logs; hands
//! heartbeat pings to [`super::pings`]; and watches the wall clock for jumps (a `timerfd`).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::children::{AuxDone, AuxId, AuxOwner, AuxSpec};
use super::pings::Pings;
use crate::config::model::{Config, Level};
use crate::scheduler::{Action, Event, Outcome, Scheduler, TaskId, TriggerError};
use crate::status::{Snapshot, TaskView};
use crate::sys;

/// Kind 7 of the token space (features' spare kind): slot 0 the heartbeat waker, slot 1 the
/// clock watch.
pub const KIND_TASKS: usize = 7;
pub const SLOT_WAKER: usize = 0;
pub const SLOT_CLOCK: usize = 1;

pub struct Tasks {
    pub(super) sched: Scheduler,
    /// Runs going now, for `stop_aux`.
    runs: HashMap<(TaskId, u64), AuxId>,
    #[cfg_attr(not(feature = "heartbeat"), allow(dead_code))]
    pub(super) pings: Pings,
    /// Readable when the wall clock is set (`None` if the kernel refused a timerfd).
    clock: Option<OwnedFd>,
    /// The manager's shutdown has been passed on.
    stopping: bool,
    /// A problem met while setting up, logged on the first turn.
    setup_warning: Option<String>,
}

impl Tasks {
    pub fn new(config: &Config, registry: &Registry) -> Tasks {
        let sched = Scheduler::new(config);
        let mut setup_warning = None;
        let clock = if sched.is_empty() {
            None
        } else {
            match sys::clock::watch() {
                Ok(fd) => {
                    let r = registry.register(
                        &mut SourceFd(&fd.as_raw_fd()),
                        super::token(SLOT_CLOCK, KIND_TASKS),
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
        let pings = Pings::new(&sched, registry, super::token(SLOT_WAKER, KIND_TASKS));
        Tasks {
            sched,
            runs: HashMap::new(),
            pings,
            clock,
            stopping: false,
            setup_warning,
        }
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.sched.next_deadline()
    }
}

/// Unix milliseconds now.
fn wall_ms() -> i64 {
    let (s, ms) = sys::realtime();
    s * 1000 + i64::from(ms)
}

impl super::Reactor<'_> {
    /// One loop turn's work for the scheduler: shutdown, dependencies, deadlines, actions.
    pub(super) fn tasks_turn(&mut self) {
        if let Some(w) = self.tasks.setup_warning.take() {
            self.out
                .event(Level::Warn, None, "clock_watch_failed", &w, &[]);
        }
        let (now, wall) = (sys::monotonic_ms(), wall_ms());
        if self.sup.shutting_down() && !self.tasks.stopping {
            self.tasks.stopping = true;
            self.tasks.sched.handle(Event::Shutdown, now, wall);
        }
        let waiting: Vec<(TaskId, usize)> = self.tasks.sched.waiting().collect();
        for (task, process) in waiting {
            match self.sup.dependencies_ready(process) {
                Some(true) => self.tasks.sched.handle(Event::DepsReady(task), now, wall),
                Some(false) => {}
                None => self.tasks.sched.handle(Event::DepsFailed(task), now, wall),
            }
        }
        self.tasks.sched.handle_timeout(now, wall);
        self.task_actions();
    }

    /// A task source is ready: the clock watch, or the heartbeat waker.
    pub(super) fn task_event(&mut self, slot: usize) {
        match slot {
            SLOT_CLOCK => {
                let changed = self.tasks.clock.as_ref().is_some_and(sys::clock::changed);
                if changed {
                    self.out.event(
                        Level::Info,
                        None,
                        "clock_changed",
                        "the wall clock was set: re-reading scheduled times",
                        &[],
                    );
                    let (now, wall) = (sys::monotonic_ms(), wall_ms());
                    self.tasks.sched.handle(Event::ClockChanged, now, wall);
                }
            }
            _ => self.pings_done(),
        }
    }

    /// A run's child ended (or could not be spawned).
    pub(super) fn task_run_finished(&mut self, task: TaskId, run: u64, done: AuxDone) {
        self.tasks.runs.remove(&(task, run));
        let outcome = match (done.status, done.spawn_error) {
            (Some(status), _) => Outcome::Exited {
                status,
                timed_out: done.timed_out,
            },
            (None, e) => Outcome::SpawnFailed(e.unwrap_or_default()),
        };
        let (now, wall) = (sys::monotonic_ms(), wall_ms());
        self.tasks.sched.handle(
            Event::Finished {
                task,
                run,
                outcome,
                duration_ms: done.duration_ms,
            },
            now,
            wall,
        );
        self.task_actions();
    }

    fn task_actions(&mut self) {
        while let Some(a) = self.tasks.sched.poll_action() {
            match a {
                Action::Start {
                    task,
                    run,
                    start_unix,
                } => self.start_run(task, run, start_unix),
                Action::Stop { task, run } => {
                    if let Some(&id) = self.tasks.runs.get(&(task, run)) {
                        self.stop_aux(id);
                    }
                }
                Action::Log(n) => {
                    let name = self.tasks.sched.name(n.task);
                    let instance = match n.run {
                        Some(r) => format!("{name}-run-{r}"),
                        None => name.to_owned(),
                    };
                    self.out.event(
                        n.level,
                        Some((instance.as_str(), name)),
                        n.event,
                        &n.msg,
                        &n.fields,
                    );
                }
                Action::Ping { task, run, ping } => self.queue_ping(task, run, ping),
            }
        }
    }

    fn start_run(&mut self, task: TaskId, run: u64, start_unix: i64) {
        let p = &self.config.processes[self.tasks.sched.process(task)];
        let t = self.tasks.sched.spec(task);
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
            kill_after_ms: p.stop_timeout.min(self.config.global.shutdown_timeout),
            // Its output is processed with its process's log rules.
            logging: p.logging.clone(),
        };
        if let Some(id) = self.spawn_aux(spec, AuxOwner::Task { task, run }) {
            self.tasks.runs.insert((task, run), id);
        }
    }

    /// The tasks' part of the status snapshot: their views, and each task's process shown
    /// with the task's state (`scheduled`, `running`, `paused`, ...).
    #[cfg_attr(not(any(feature = "api", feature = "metrics")), allow(dead_code))]
    pub(super) fn tasks_snapshot(&self, snap: &mut Snapshot) {
        snap.tasks = self.task_views();
        for p in &mut snap.processes {
            if let Some(t) = self.tasks.sched.find(&p.name) {
                p.state = self.tasks.sched.state(t);
            }
        }
    }

    #[cfg_attr(not(any(feature = "api", feature = "metrics")), allow(dead_code))]
    fn task_views(&self) -> Vec<TaskView> {
        (0..self.tasks.sched.len())
            .map(|t| self.tasks.sched.view(t))
            .collect()
    }

    /// API `POST /processes/{name}/schedule/trigger`: starts a run now and returns its number,
    /// or the HTTP status and reason it did not start. `None` when `name` is not a task.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub(super) fn task_trigger(&mut self, name: &str) -> Option<Result<u64, (u16, &'static str)>> {
        let t = self.tasks.sched.find(name)?;
        let r = self.tasks.sched.trigger(t, wall_ms()).map_err(|e| {
            let status = match e {
                TriggerError::ShuttingDown => 503,
                TriggerError::Busy | TriggerError::NotReady => 409,
            };
            (status, e.as_str())
        });
        self.task_actions();
        Some(r)
    }

    /// API `POST /processes/{name}/schedule/pause` (`true`) or `/resume` (`false`). Returns
    /// whether anything changed; `None` when `name` is not a task.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub(super) fn task_pause(&mut self, name: &str, pause: bool) -> Option<bool> {
        let t = self.tasks.sched.find(name)?;
        let changed = if pause {
            self.tasks.sched.pause(t)
        } else {
            self.tasks.sched.resume(t)
        };
        self.task_actions();
        Some(changed)
    }

    /// API `GET /processes/{name}/schedule`.
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
    pub(super) fn task_view(&self, name: &str) -> Option<TaskView> {
        self.tasks
            .sched
            .find(name)
            .map(|t| self.tasks.sched.view(t))
    }
}
