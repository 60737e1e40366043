//! Scheduled tasks (feature `scheduler`): the built-in cron replacement.
//!
//! [`Scheduler`] is sans-IO, like the supervisor: it never reads a clock and makes no syscall.
//! The reactor feeds it the loop's monotonic time and the wall-clock time of the same moment,
//! runs the [`Action`]s it queues (start a run as a child with a deadline, stop one, log, ping)
//! and sleeps until [`Scheduler::next_deadline`].
//!
//! ```text
//! waiting for depends_on ──deps ready──► armed ──fire time──► run <name>-run-<n> (a child)
//!        │ a dependency failed for good      ▲        │ max_concurrent runs going: skipped
//!        ▼                                   │        ▼
//!     blocked                                └── next fire time, from the wall clock now
//! ```
//!
//! Fire times follow the wall clock in the task's zone; each becomes a monotonic deadline
//! (`now + (fire − wall)`). When a deadline passes, or the reactor reports that the wall clock
//! was set ([`Event::ClockChanged`]), the task looks at the wall clock again: if its fire time
//! has been reached it runs **once**, however many fire times were skipped, and its next fire
//! time is always the first one after the current wall time. So a clock set forward costs at
//! most one late run per task (no storm of catch-up runs), and a clock set back moves the next
//! run back with it (no stall until the old time comes round again).

#[cfg(any(feature = "api", test))]
mod commands;
pub mod cron;
pub mod tz;

use std::collections::VecDeque;

use crate::config::model::{Config, Level};
use crate::config::task::TaskSpec;
use crate::status::TaskView;
use crate::supervisor::{Field, Millis};
use crate::sys::ExitStatus;

/// Index of a task in the scheduler.
pub type TaskId = usize;

/// What a task is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// Its `depends_on` are not ready yet.
    Waiting,
    /// Running on schedule.
    Armed,
    /// A dependency failed or ended for good: it will never run.
    Blocked,
}

/// Counters of one task, as the log, the snapshot and the metrics show them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Runs started.
    pub runs: u64,
    pub successes: u64,
    pub failures: u64,
    /// Fire times that found `max_concurrent` runs still going.
    pub skips: u64,
    /// Runs stopped at `schedule_timeout` (also counted as failures).
    pub timeouts: u64,
    /// Exit code of the last finished run; `128 + n` when signal n ended it.
    pub last_exit_code: Option<i32>,
    /// Wall-clock start of the last run (Unix ms).
    pub last_run_unix_ms: Option<i64>,
    pub last_duration_ms: Option<u64>,
}

struct Task {
    /// Index of its process in `Config::processes`.
    process: usize,
    name: String,
    spec: TaskSpec,
    gate: Gate,
    paused: bool,
    /// Next fire time (Unix ms), and the monotonic deadline it was turned into.
    next_fire: Option<i64>,
    due: Option<Millis>,
    /// Numbers of the runs going now.
    running: Vec<u64>,
    /// Number of the last run started (`<name>-run-<n>`).
    seq: u64,
    stats: Stats,
}

/// How a run ended, as the reactor saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The run's leader exited; `timed_out` when it was stopped at `schedule_timeout`.
    Exited { status: ExitStatus, timed_out: bool },
    /// It could not be started (missing binary, bad working_dir, ...).
    SpawnFailed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Every `depends_on` of the task is ready: start scheduling it.
    DepsReady(TaskId),
    /// A dependency failed or ended for good.
    DepsFailed(TaskId),
    /// A run ended.
    Finished {
        task: TaskId,
        run: u64,
        outcome: Outcome,
        duration_ms: u64,
    },
    /// The manager is shutting down: start nothing more, stop what runs.
    Shutdown,
    /// The wall clock was set (a jump forward or back): look at every fire time again.
    ClockChanged,
}

/// Which ping of the heartbeat protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ping {
    Start,
    Success,
    /// With the exit code, when the run produced one.
    Fail(Option<i32>),
}

/// A manager event about a task (or one of its runs) worth logging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    pub task: TaskId,
    pub run: Option<u64>,
    pub event: &'static str,
    pub msg: String,
    pub fields: Vec<(&'static str, Field)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start run `run` of the task as a child with a deadline (`schedule_timeout`), its
    /// environment carrying `PHPEEK_PM_START_TIME=start_unix`; answer with `Finished`.
    Start {
        task: TaskId,
        run: u64,
        start_unix: i64,
    },
    /// Stop a run gracefully (its stop signal, then SIGKILL after its shutdown timeout).
    Stop {
        task: TaskId,
        run: u64,
    },
    Log(Note),
    /// Send a heartbeat ping (only for tasks with `heartbeat`).
    Ping {
        task: TaskId,
        run: u64,
        ping: Ping,
    },
}

/// Why a manual trigger did not start a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerError {
    /// `schedule_max_concurrent` runs are going.
    Busy,
    /// Its dependencies are not ready (or never will be).
    #[cfg(any(feature = "api", test))]
    NotReady,
    #[cfg(any(feature = "api", test))]
    ShuttingDown,
}

/// Why a run was asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Schedule,
    #[cfg(any(feature = "api", test))]
    Manual,
}

pub struct Scheduler {
    tasks: Vec<Task>,
    actions: VecDeque<Action>,
    shutting_down: bool,
}

impl Scheduler {
    /// One task per process with a `schedule`, each waiting for its dependencies.
    pub fn new(config: &Config) -> Self {
        let tasks = config
            .processes
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.task.as_ref().map(|spec| Task {
                    process: i,
                    name: p.name.clone(),
                    spec: spec.clone(),
                    gate: Gate::Waiting,
                    paused: false,
                    next_fire: None,
                    due: None,
                    running: Vec::new(),
                    seq: 0,
                    stats: Stats::default(),
                })
            })
            .collect();
        Scheduler {
            tasks,
            actions: VecDeque::new(),
            shutting_down: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Number of tasks (ids are `0..len()`).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Tasks still waiting for their dependencies: `(task, process index)`.
    pub fn waiting(&self) -> impl Iterator<Item = (TaskId, usize)> + '_ {
        self.tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.gate == Gate::Waiting)
            .map(|(i, t)| (i, t.process))
    }

    pub fn find(&self, name: &str) -> Option<TaskId> {
        self.tasks.iter().position(|t| t.name == name)
    }

    pub fn name(&self, task: TaskId) -> &str {
        &self.tasks[task].name
    }

    /// Index of the task's process in `Config::processes`.
    pub fn process(&self, task: TaskId) -> usize {
        self.tasks[task].process
    }

    pub fn spec(&self, task: TaskId) -> &TaskSpec {
        &self.tasks[task].spec
    }

    #[cfg(test)]
    pub fn stats(&self, task: TaskId) -> &Stats {
        &self.tasks[task].stats
    }

    /// Runs going now, across all tasks.
    #[cfg(test)]
    pub fn running(&self) -> usize {
        self.tasks.iter().map(|t| t.running.len()).sum()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest monotonic time at which [`Scheduler::handle_timeout`] has work.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.tasks.iter().filter_map(|t| t.due).min()
    }

    /// `now`: the loop's monotonic time; `wall`: Unix ms at that moment.
    pub fn handle(&mut self, ev: Event, now: Millis, wall: i64) {
        match ev {
            Event::DepsReady(id) => {
                if self.tasks[id].gate != Gate::Waiting || self.shutting_down {
                    return;
                }
                self.tasks[id].gate = Gate::Armed;
                self.plan(id, now, wall);
                let t = &self.tasks[id];
                let next = t.next_fire;
                let msg = match next {
                    Some(n) => format!(
                        "scheduled {:?} ({}): next run at {}",
                        t.spec.cron.source(),
                        t.spec.zone.name(),
                        iso(n)
                    ),
                    None => format!("scheduled {:?}: no future run", t.spec.cron.source()),
                };
                let fields = next_fields(next);
                self.note(id, None, Level::Info, "task_scheduled", msg, fields);
            }
            Event::DepsFailed(id) => {
                if self.tasks[id].gate == Gate::Waiting {
                    self.tasks[id].gate = Gate::Blocked;
                    self.note(
                        id,
                        None,
                        Level::Error,
                        "dependency_failed",
                        "task will not run: a dependency failed or ended".to_owned(),
                        vec![],
                    );
                }
            }
            Event::Finished {
                task,
                run,
                outcome,
                duration_ms,
            } => self.finished(task, run, outcome, duration_ms),
            Event::Shutdown => {
                if self.shutting_down {
                    return;
                }
                self.shutting_down = true;
                for id in 0..self.tasks.len() {
                    let t = &mut self.tasks[id];
                    t.due = None;
                    t.next_fire = None;
                    let runs = t.running.clone();
                    for run in runs {
                        self.note(
                            id,
                            Some(run),
                            Level::Info,
                            "task_stopping",
                            format!("shutting down: stopping run {run}"),
                            vec![("run", Field::Int(run as i64))],
                        );
                        self.actions.push_back(Action::Stop { task: id, run });
                    }
                }
            }
            Event::ClockChanged => {
                for id in 0..self.tasks.len() {
                    if self.tasks[id].gate == Gate::Armed {
                        self.evaluate(id, now, wall);
                    }
                }
            }
        }
    }

    /// Acts on every task whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Millis, wall: i64) {
        for id in 0..self.tasks.len() {
            if self.tasks[id].due.is_some_and(|d| d <= now) {
                self.evaluate(id, now, wall);
            }
        }
    }

    /// The task as the API and `/metrics` show it.
    pub fn view(&self, id: TaskId) -> TaskView {
        let t = &self.tasks[id];
        let s = &t.stats;
        TaskView {
            name: t.name.clone(),
            schedule: t.spec.cron.source().to_owned(),
            paused: t.paused,
            running: t.running.len() as u32,
            runs: s.runs,
            successes: s.successes,
            failures: s.failures,
            skips: s.skips,
            last_exit_code: s.last_exit_code,
            last_run_unix: s.last_run_unix_ms.map(|ms| ms as f64 / 1000.0),
            next_run_unix: t.next_fire.map(|ms| ms as f64 / 1000.0),
            last_duration_s: s.last_duration_ms.map(|ms| ms as f64 / 1000.0),
        }
    }

    /// The state word for the task's process in the snapshot.
    pub fn state(&self, id: TaskId) -> &'static str {
        let t = &self.tasks[id];
        match t.gate {
            _ if !t.running.is_empty() => "running",
            Gate::Waiting => "waiting",
            Gate::Blocked => "failed",
            _ if self.shutting_down => "stopped",
            Gate::Armed if t.paused => "paused",
            Gate::Armed => "scheduled",
        }
    }

    /// Looks at the wall clock: runs the task if its fire time has come, then plans the next.
    fn evaluate(&mut self, id: TaskId, now: Millis, wall: i64) {
        if self.shutting_down {
            return;
        }
        if self.tasks[id].next_fire.is_some_and(|n| wall >= n) {
            let _ = self.fire(id, Trigger::Schedule, wall);
        }
        self.plan(id, now, wall);
    }

    /// Next fire time: the first one after the wall-clock time now, as a monotonic deadline.
    fn plan(&mut self, id: TaskId, now: Millis, wall: i64) {
        let t = &mut self.tasks[id];
        t.next_fire = t.spec.cron.next_after(wall, &t.spec.zone);
        t.due = t
            .next_fire
            .map(|n| now.saturating_add(u64::try_from(n - wall).unwrap_or(0)));
    }

    fn fire(&mut self, id: TaskId, why: Trigger, wall: i64) -> Result<u64, TriggerError> {
        let t = &mut self.tasks[id];
        if why == Trigger::Schedule && t.paused {
            return Err(TriggerError::Busy);
        }
        if t.running.len() >= t.spec.max_concurrent as usize {
            if why == Trigger::Schedule {
                t.stats.skips += 1;
                let (going, skips) = (t.running.len(), t.stats.skips);
                self.note(
                    id,
                    None,
                    Level::Warn,
                    "task_skipped",
                    format!(
                        "run skipped: {going} run(s) still going (schedule_max_concurrent {})",
                        self.tasks[id].spec.max_concurrent
                    ),
                    vec![("skips", Field::Int(skips as i64))],
                );
            }
            return Err(TriggerError::Busy);
        }
        t.seq += 1;
        let n = t.seq;
        t.stats.runs += 1;
        t.stats.last_run_unix_ms = Some(wall);
        t.running.push(n);
        let heartbeat = t.spec.heartbeat.is_some();
        let trigger = match why {
            Trigger::Schedule => "schedule",
            #[cfg(any(feature = "api", test))]
            Trigger::Manual => "manual",
        };
        self.note(
            id,
            Some(n),
            Level::Info,
            "task_started",
            format!("run {n} started ({trigger})"),
            vec![
                ("run", Field::Int(n as i64)),
                ("trigger", Field::Str(trigger.to_owned())),
            ],
        );
        self.actions.push_back(Action::Start {
            task: id,
            run: n,
            start_unix: wall.div_euclid(1000),
        });
        if heartbeat {
            self.actions.push_back(Action::Ping {
                task: id,
                run: n,
                ping: Ping::Start,
            });
        }
        Ok(n)
    }

    fn finished(&mut self, id: TaskId, run: u64, outcome: Outcome, duration_ms: u64) {
        let t = &mut self.tasks[id];
        let Some(pos) = t.running.iter().position(|&r| r == run) else {
            return;
        };
        t.running.remove(pos);
        let (code, timed_out, error) = match outcome {
            Outcome::Exited { status, timed_out } => (
                Some(match status {
                    ExitStatus::Code(c) => c,
                    ExitStatus::Signal(s) => 128 + s,
                }),
                timed_out,
                None,
            ),
            Outcome::SpawnFailed(e) => (None, false, Some(e)),
        };
        let success = code == Some(0) && !timed_out;
        let s = &mut t.stats;
        if success {
            s.successes += 1;
        } else {
            s.failures += 1;
        }
        s.timeouts += u64::from(timed_out);
        s.last_exit_code = code;
        s.last_duration_ms = Some(duration_ms);
        let next = t.next_fire;
        let heartbeat = t.spec.heartbeat.is_some();
        let timeout = t.spec.timeout_ms.unwrap_or(0);
        let mut fields = vec![("run", Field::Int(run as i64))];
        if let Some(c) = code {
            fields.push(("exit_code", Field::Int(c.into())));
        }
        fields.push(("duration_ms", Field::Int(duration_ms as i64)));
        fields.push(("success", Field::Str(success.to_string())));
        for (k, v) in [
            ("runs", s.runs),
            ("successes", s.successes),
            ("failures", s.failures),
            ("skips", s.skips),
        ] {
            fields.push((k, Field::Int(v as i64)));
        }
        fields.extend(next_fields(next));
        let stopped = self.shutting_down;
        let (level, msg) = match (&error, timed_out, code) {
            (Some(e), _, _) => (Level::Error, format!("run {run} could not start: {e}")),
            (None, false, Some(c)) if stopped && c != 0 => (
                Level::Info,
                format!("run {run} stopped by the shutdown (exit code {c})"),
            ),
            (None, true, _) => (
                Level::Warn,
                format!("run {run} stopped at schedule_timeout ({timeout} ms)"),
            ),
            (None, false, Some(0)) => (Level::Info, format!("run {run} succeeded")),
            (None, false, Some(c)) => (Level::Warn, format!("run {run} failed with exit code {c}")),
            (None, false, None) => (Level::Warn, format!("run {run} failed")),
        };
        self.note(id, Some(run), level, "task_finished", msg, fields);
        if heartbeat {
            let ping = if success {
                Ping::Success
            } else {
                Ping::Fail(code)
            };
            self.actions.push_back(Action::Ping {
                task: id,
                run,
                ping,
            });
        }
    }

    fn note(
        &mut self,
        task: TaskId,
        run: Option<u64>,
        level: Level,
        event: &'static str,
        msg: String,
        fields: Vec<(&'static str, Field)>,
    ) {
        self.actions.push_back(Action::Log(Note {
            level,
            task,
            run,
            event,
            msg,
            fields,
        }));
    }
}

/// `next_run` (ISO 8601, UTC) and `next_run_unix` fields for a log record.
fn next_fields(next: Option<i64>) -> Vec<(&'static str, Field)> {
    match next {
        Some(n) => vec![
            ("next_run", Field::Str(iso(n))),
            ("next_run_unix", Field::Int(n.div_euclid(1000))),
        ],
        None => vec![],
    }
}

/// `2026-11-30T08:00:00Z`.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
