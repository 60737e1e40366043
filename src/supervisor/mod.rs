//! The supervisor core: a sans-IO state machine over every process instance.
//!
//! It makes no syscalls and never reads the clock. The reactor feeds it [`Event`]s with the
//! current time (`handle`, `handle_timeout`), drains the [`Action`]s it queues (`poll_action`)
//! and sleeps until [`Supervisor::next_deadline`]. Unit tests drive it with a fake clock.
//!
//! Instance life cycle (the whole table is [`Supervisor::step`]):
//!
//! ```text
//! waiting ──deps ready──► starting ──spawned──► running ──ready──► ready
//!    │                       │                    │                  │
//!    │ dep failed/timeout    │ spawn failed       └──────exited──────┤
//!    ▼                       ▼                                       ▼
//!  failed ◄──no more restarts── (restart policy) ──restart──► backoff ──deadline──► starting
//!                                  │ no restart, success
//!                                  ▼
//!                                exited
//! shutdown: running/ready ──stop signal──► stopping ──leader exited──► draining ──group empty──► stopped
//!                                              └──timeout: SIGKILL to the group──┘
//! ```
//!
//! Readiness is its own state: a longrun with a readiness check (feature `health`) stays
//! `running` until the check passes (`Event::Ready`) and goes back to `running` when it fails
//! (`Event::NotReady`); without one it is ready as soon as it runs. A oneshot is ready (for its
//! dependents) once it exited 0.
//!
//! Hook phases (feature `hooks`) are decided here too (`phases.rs`): the supervisor asks for
//! a phase's hooks with [`Action::RunHooks`] and goes on when [`Event::HooksDone`] answers. A
//! graceful stop with pre-stop hooks runs them first, then waits for the process to exit on
//! its own until the stop's deadline, and only then sends the stop signal (`stop.rs`).
//!
//! Everything from outside is an input to [`Supervisor::handle`]: observations of the world
//! (spawned, exited, probe verdicts, hooks done) and commands ([`Command`]: stop, start,
//! restart, scale), which are validated here against the state they find.

#[cfg(any(feature = "api", feature = "health"))]
mod control;
mod phases;
mod plan;
mod policy;
mod reconfigure;
mod restart;
#[cfg(feature = "api")]
mod scale;
mod shutdown;
mod snapshot;
mod start;
mod stop;
#[cfg(feature = "scheduler")]
mod tasks;

pub use plan::describe_plan;
pub use policy::Request as SignalRequest;

#[cfg(any(feature = "api", feature = "health"))]
pub use control::Command;
pub use phases::{HookCancel, HookOutcome};
#[cfg(feature = "api")]
pub use scale::Refusal;
pub use stop::{RestartReason, Then};

use std::collections::VecDeque;

use crate::config::model::{Config, HookPhase, Level, ProcessKind, RestartPolicy};
use crate::sys::ExitStatus;
use crate::sys::signals;

/// Milliseconds on the monotonic clock.
pub type Millis = u64;
/// Index of an instance.
pub type InstId = usize;

/// After the global shutdown deadline has sent SIGKILL everywhere, how long to wait for the
/// kernel to deliver it before exiting anyway.
const KILL_GRACE_MS: u64 = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for its dependencies to become ready.
    Waiting,
    /// Spawn requested.
    Starting,
    /// Its process runs, not yet ready.
    Running,
    /// Runs and is ready: dependents may start.
    Ready,
    /// Ended unexpectedly; restarts when the backoff deadline passes.
    Backoff,
    /// Stop signal sent to its group; waiting for the leader to exit.
    Stopping,
    /// The leader exited during a stop but other members of its group remain.
    Draining,
    /// Stopped on purpose (shutdown).
    Stopped,
    /// Ended successfully and will not run again (a completed oneshot, for instance).
    Exited,
    /// Ended unsuccessfully and will not run again.
    Failed,
}

impl State {
    /// A process of this instance exists (or is being created).
    const fn live(self) -> bool {
        matches!(
            self,
            State::Starting | State::Running | State::Ready | State::Stopping | State::Draining
        )
    }

    /// It will never run again without an outside request.
    const fn finished(self) -> bool {
        matches!(self, State::Stopped | State::Exited | State::Failed)
    }
}

/// How an instance last ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Status(ExitStatus),
    SpawnFailed,
}

impl Ending {
    fn success(self) -> bool {
        self == Ending::Status(ExitStatus::Code(0))
    }
}

#[derive(Clone, Debug)]
pub struct Instance {
    /// Index of its process in `Config::processes`.
    pub process: usize,
    pub id: String,
    pub state: State,
    /// The leader's pid while it runs.
    pub pid: Option<i32>,
    /// Its process group (the leader's pid), kept until the group is gone.
    pub pgid: Option<i32>,
    pub started_at: Millis,
    /// Restarts since the last stable run (drives backoff and `max_restart_attempts`).
    pub attempts: u32,
    /// Restarts in total.
    pub restarts: u32,
    /// Restarts by cause, indexed by [`RestartReason::index`].
    pub restarts_by_reason: [u32; RestartReason::COUNT],
    pub last_ending: Option<Ending>,
    /// The group of a leader that ended unexpectedly while other members lived on: they were
    /// sent the stop signal, and get SIGKILL before the instance restarts if still there.
    pub lingering: Option<i32>,
    deadline: Option<Millis>,
    killed: bool,
    /// What to do once a stop requested by a command ends.
    then: Option<Then>,
    /// Stopped on request: it stays down and does not count as "finished" for the manager.
    pub held: bool,
    /// Removed by a scale-down: no longer an instance of its process.
    pub retired: bool,
    /// Where a graceful stop is (meaningful in `Stopping`).
    stop_step: StopStep,
}

/// The steps of one graceful stop ([`Supervisor::begin_stop`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopStep {
    /// Its pre-stop hooks run.
    Hook,
    /// They ended; waiting for the process to exit on its own.
    WaitExit,
    /// The stop signal went to its group; SIGKILL at the deadline.
    Signal,
}

impl Instance {
    fn new(process: usize, id: String) -> Self {
        Instance {
            process,
            id,
            state: State::Waiting,
            pid: None,
            pgid: None,
            started_at: 0,
            attempts: 0,
            restarts: 0,
            restarts_by_reason: [0; RestartReason::COUNT],
            last_ending: None,
            lingering: None,
            deadline: None,
            killed: false,
            then: None,
            held: false,
            retired: false,
            stop_step: StopStep::Signal,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The reactor started the instance's process.
    Spawned { inst: InstId, pid: i32 },
    /// The reactor could not start it; `error` says why.
    SpawnFailed { inst: InstId, error: String },
    /// The instance's leader was reaped. `group_alive`: other members of its group remain.
    Exited {
        inst: InstId,
        status: ExitStatus,
        group_alive: bool,
    },
    /// The group of a draining instance has no members left.
    GroupEmpty { inst: InstId },
    /// A configuration reload: the new running configuration (process indices stay, added
    /// processes are appended) and what changes, one entry per process of it.
    Reconfigure {
        config: std::rc::Rc<Config>,
        changes: Vec<crate::config::diff::Change>,
    },
    /// SIGTERM, SIGINT or SIGQUIT reached the manager.
    ShutdownSignal { signal: i32 },
    /// A signal other than the shutdown ones reached the manager (SIGHUP, SIGUSR1, ...): each
    /// process answers it by its signal policy.
    Forward { signal: i32 },
    /// The hooks asked for with `Action::RunHooks` ended.
    HooksDone {
        phase: HookPhase,
        inst: Option<InstId>,
        outcome: HookOutcome,
    },
    /// A request from outside: validated against the state it finds.
    #[cfg(any(feature = "api", feature = "health"))]
    Command(Command),
    /// The instance passed its readiness check: dependents may start.
    #[cfg(feature = "health")]
    Ready { inst: InstId },
    /// It failed its readiness check after passing it: not ready (nothing is stopped).
    #[cfg(feature = "health")]
    NotReady { inst: InstId },
}

/// A value in a log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Int(i64),
    Str(String),
    /// A JSON `true`/`false` (the audit trail's `"audit":true`).
    #[cfg(any(feature = "api", feature = "metrics"))]
    Bool(bool),
}

/// A manager event worth logging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub level: Level,
    pub inst: Option<InstId>,
    pub event: &'static str,
    pub msg: String,
    pub fields: Vec<(&'static str, Field)>,
}

impl Note {
    /// A manager event about no instance in particular (start-up steps, for instance).
    pub fn global(
        level: Level,
        event: &'static str,
        msg: String,
        fields: Vec<(&'static str, Field)>,
    ) -> Note {
        Note {
            level,
            inst: None,
            event,
            msg,
            fields,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start a process for this instance and answer with `Spawned` or `SpawnFailed`.
    Spawn(InstId),
    /// `kill(-pgid, signal)`.
    SignalGroup {
        pgid: i32,
        signal: i32,
    },
    Log(Note),
    /// Run the hooks of `phase` (global when `inst` is `None`), then answer `HooksDone`.
    RunHooks {
        phase: HookPhase,
        inst: Option<InstId>,
    },
    /// Cancel running hook sequences; each still answers `HooksDone` (`Cancelled`).
    CancelHooks(HookCancel),
    /// Everything is down: exit with this code.
    Exit(u8),
}

impl Action {
    /// The answer the supervisor gets when nobody carries out this action: hooks that nobody
    /// runs (a build without feature `hooks`, whose configurations have none) are done.
    pub fn unanswered(&self) -> Option<Event> {
        match *self {
            Action::RunHooks { phase, inst } => Some(Event::HooksDone {
                phase,
                inst,
                outcome: HookOutcome::default(),
            }),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    Signal(i32),
    CriticalFailed,
    AllFinished {
        failed: bool,
    },
    /// A global pre-start hook failed: nothing was started.
    StartupFailed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    ShuttingDown {
        reason: Reason,
        deadline: Millis,
        forced: bool,
    },
    Done,
}

/// What the core needs from a process definition.
#[derive(Clone, Debug)]
struct Proc {
    name: String,
    kind: ProcessKind,
    restart: RestartPolicy,
    deps: Vec<usize>,
    dependents: Vec<usize>,
    instances: Vec<InstId>,
    critical: bool,
    stop_signal: i32,
    stop_timeout: Millis,
    /// Instances wanted (the configured `scale`, then whatever a scale request asked for).
    desired_scale: u32,
    /// A running longrun is ready only when a readiness check says so (`Event::Ready`).
    gated: bool,
    /// What manager signals and reload requests mean for it.
    signals: crate::signal_policy::SignalPolicy,
    /// Gone from the configuration by a reload: no instances, not listed (its index stays).
    removed: bool,
}

/// Restart and shutdown settings of the whole manager (milliseconds).
#[derive(Clone, Copy, Debug)]
struct Limits {
    backoff_initial: Millis,
    backoff_max: Millis,
    stable_after: Millis,
    max_attempts: Option<u32>,
    dependency_timeout: Option<Millis>,
    shutdown_timeout: Millis,
}

pub struct Supervisor {
    procs: Vec<Proc>,
    insts: Vec<Instance>,
    limits: Limits,
    phase: Phase,
    actions: VecDeque<Action>,
    rng: u64,
    /// Which phases have hooks, and where the stack's hook phases are.
    phases: phases::Phases,
    /// The processes were started (after the global pre-start hooks).
    started: bool,
}

impl Supervisor {
    /// Builds the instances of every process, all waiting; call [`Supervisor::start`] next.
    pub fn new(config: &Config, seed: u64) -> Self {
        let mut procs: Vec<Proc> = config.processes.iter().map(Proc::from_spec).collect();
        for i in 0..procs.len() {
            for d in procs[i].deps.clone() {
                procs[d].dependents.push(i);
            }
        }
        let mut insts = Vec::new();
        // A scheduled task gets no instances: the scheduler runs it.
        for (pi, p) in config
            .processes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.supervised())
        {
            for n in 0..p.scale {
                procs[pi].instances.push(insts.len());
                let mut inst = Instance::new(pi, format!("{}-{n}", p.name));
                if p.start_stopped {
                    // `initial_state: stopped`: held down until a start request.
                    inst.state = State::Stopped;
                    inst.held = true;
                }
                insts.push(inst);
            }
        }
        let g = &config.global;
        Supervisor {
            procs,
            insts,
            limits: Limits {
                backoff_initial: g.backoff_initial,
                backoff_max: g.backoff_max,
                stable_after: g.stable_after,
                max_attempts: g.max_restart_attempts,
                dependency_timeout: g.dependency_timeout,
                shutdown_timeout: g.shutdown_timeout,
            },
            phase: Phase::Running,
            actions: VecDeque::new(),
            rng: seed | 1,
            phases: phases::Phases::new(config),
            started: false,
        }
    }

    /// Starts every instance whose dependencies allow it (after the global pre-start hooks).
    fn start_processes(&mut self, now: Millis) {
        self.started = true;
        if let Some(t) = self.limits.dependency_timeout {
            for inst in self.insts.iter_mut().filter(|i| !i.held) {
                inst.deadline = Some(now + t);
            }
        }
        self.settle(now);
    }

    pub fn instance(&self, id: InstId) -> &Instance {
        &self.insts[id]
    }

    /// The name of an instance's process.
    pub fn process_name(&self, id: InstId) -> &str {
        &self.procs[self.insts[id].process].name
    }

    /// Next queued action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Process groups whose leader is gone while other members may live on (a draining stop,
    /// or leftovers of a crash): the reactor reports `GroupEmpty` when one empties.
    pub fn watched_groups(&self) -> impl Iterator<Item = (InstId, i32)> + '_ {
        self.insts.iter().enumerate().filter_map(|(n, i)| {
            if i.state == State::Draining {
                i.pgid.map(|g| (n, g))
            } else {
                i.lingering.map(|g| (n, g))
            }
        })
    }

    /// The earliest time at which [`Supervisor::handle_timeout`] has work to do.
    pub fn next_deadline(&self) -> Option<Millis> {
        let phase = match self.phase {
            Phase::ShuttingDown {
                deadline, forced, ..
            } => Some(if forced {
                deadline + KILL_GRACE_MS
            } else {
                deadline
            }),
            _ => None,
        };
        self.insts
            .iter()
            .filter_map(|i| i.deadline)
            .chain(phase)
            .chain(self.phases.next_deadline())
            .min()
    }

    pub fn handle(&mut self, ev: Event, now: Millis) {
        match ev {
            Event::ShutdownSignal { signal } => {
                self.hooks_on_signal(signal);
                self.begin_shutdown(Reason::Signal(signal), now);
            }
            Event::Forward { signal } => {
                self.signal_request(SignalRequest::Signal(signal), now);
            }
            Event::Spawned { inst, pid } => {
                self.step(inst, Input::Spawned(pid), now);
                self.instance_hooks(inst, HookPhase::PostStart);
            }
            Event::SpawnFailed { inst, error } => self.step(inst, Input::SpawnFailed(error), now),
            Event::Exited {
                inst,
                status,
                group_alive,
            } => {
                self.step(inst, Input::Exited(status, group_alive), now);
                self.instance_hooks(inst, HookPhase::PostStop);
            }
            Event::GroupEmpty { inst } => self.step(inst, Input::GroupEmpty, now),
            Event::Reconfigure { config, changes } => self.reconfigure(&config, &changes, now),
            Event::HooksDone {
                phase,
                inst,
                outcome,
            } => self.hooks_done(phase, inst, outcome, now),
            #[cfg(any(feature = "api", feature = "health"))]
            Event::Command(c) => self.command(c, now),
            #[cfg(feature = "health")]
            Event::Ready { inst } => self.step(inst, Input::Ready(true), now),
            #[cfg(feature = "health")]
            Event::NotReady { inst } => self.step(inst, Input::Ready(false), now),
        }
        self.settle(now);
    }

    /// Acts on every deadline that has passed.
    pub fn handle_timeout(&mut self, now: Millis) {
        if let Phase::ShuttingDown {
            deadline,
            forced,
            reason,
        } = self.phase
        {
            if !forced && now >= deadline {
                self.note(
                    None,
                    Level::Warn,
                    "shutdown_timeout",
                    format!(
                        "shutdown_timeout ({} ms) reached: killing what is left",
                        self.limits.shutdown_timeout
                    ),
                    vec![],
                );
                self.force_kill(now);
            } else if forced && now >= deadline + KILL_GRACE_MS {
                self.note(
                    None,
                    Level::Error,
                    "shutdown_abandoned",
                    "processes did not die after SIGKILL; exiting anyway".to_owned(),
                    vec![],
                );
                self.finish(reason);
                return;
            }
        }
        self.hooks_timeout(now);
        for i in 0..self.insts.len() {
            if self.insts[i].deadline.is_some_and(|d| d <= now) {
                self.insts[i].deadline = None;
                self.step(i, Input::Deadline, now);
            }
        }
        self.settle(now);
    }

    /// The transition table: one instance, one input.
    fn step(&mut self, id: InstId, input: Input, now: Millis) {
        let state = self.insts[id].state;
        match (state, input) {
            (State::Waiting, Input::Deadline) => {
                let p = self.insts[id].process;
                let waiting_for: Vec<&str> = self.procs[p]
                    .deps
                    .iter()
                    .filter(|&&d| self.readiness(d) != Readiness::Ready)
                    .map(|&d| self.procs[d].name.as_str())
                    .collect();
                let msg = format!(
                    "gave up waiting for dependencies (dependency_timeout): not ready: {}",
                    waiting_for.join(", ")
                );
                self.note(Some(id), Level::Error, "dependency_timeout", msg, vec![]);
                self.fail(id, now);
            }
            (State::Starting, Input::Spawned(pid)) => {
                let inst = &mut self.insts[id];
                inst.pid = Some(pid);
                inst.pgid = Some(pid);
                inst.started_at = now;
                inst.killed = false;
                inst.state = State::Running;
                self.note(
                    Some(id),
                    Level::Info,
                    "started",
                    "process started".to_owned(),
                    vec![("pid", Field::Int(pid.into()))],
                );
                if self.insts[id].then.is_some() {
                    // A stop was requested while it was being spawned.
                    self.begin_stop(id, now);
                    return;
                }
                // Readiness: a longrun without a readiness check is ready as soon as it runs;
                // with one, it stays `Running` until the check passes (`Input::Ready`).
                let p = &self.procs[self.insts[id].process];
                if p.kind == ProcessKind::Longrun && !p.gated {
                    self.insts[id].state = State::Ready;
                    self.note(
                        Some(id),
                        Level::Debug,
                        "ready",
                        "process ready".to_owned(),
                        vec![],
                    );
                }
            }
            (State::Starting, Input::SpawnFailed(error)) => {
                self.note(
                    Some(id),
                    Level::Error,
                    "spawn_failed",
                    format!(
                        "failed to start {}: {error}",
                        self.procs[self.insts[id].process].name
                    ),
                    vec![],
                );
                self.ended(id, Ending::SpawnFailed, false, now);
            }
            (State::Running | State::Ready, Input::Exited(status, group_alive)) => {
                self.log_exit(id, status, now);
                if matches!(self.phase, Phase::Running) {
                    self.ended(id, Ending::Status(status), group_alive, now);
                } else {
                    // Exited on its own during shutdown: nothing to restart.
                    let inst = &mut self.insts[id];
                    inst.pid = None;
                    inst.pgid = None;
                    inst.last_ending = Some(Ending::Status(status));
                    inst.state = State::Stopped;
                }
            }
            (State::Stopping, Input::Exited(status, group_alive)) => {
                self.log_exit(id, status, now);
                let inst = &mut self.insts[id];
                inst.pid = None;
                inst.last_ending = Some(Ending::Status(status));
                if group_alive && !inst.killed {
                    inst.state = State::Draining;
                } else {
                    self.stopped(id, now);
                }
            }
            (State::Draining, Input::GroupEmpty) => self.stopped(id, now),
            (_, Input::GroupEmpty) => self.insts[id].lingering = None,
            #[cfg(feature = "health")]
            (State::Running, Input::Ready(true)) => {
                self.insts[id].state = State::Ready;
                self.note(
                    Some(id),
                    Level::Info,
                    "ready",
                    "process ready (readiness check passed)".to_owned(),
                    vec![],
                );
            }
            #[cfg(feature = "health")]
            (State::Ready, Input::Ready(false)) => {
                // Dependents already running keep running; new ones wait again.
                self.insts[id].state = State::Running;
                self.note(
                    Some(id),
                    Level::Warn,
                    "not_ready",
                    "process not ready (readiness check failing)".to_owned(),
                    vec![],
                );
            }
            (State::Stopping, Input::PreStopDone) if self.insts[id].stop_step == StopStep::Hook => {
                if self.phases.wait_for_exit(self.insts[id].process) {
                    // The deadline set by begin_stop still bounds the wait.
                    self.insts[id].stop_step = StopStep::WaitExit;
                } else {
                    self.send_stop_signal(id, now);
                }
            }
            (State::Stopping, Input::Deadline) if self.insts[id].stop_step != StopStep::Signal => {
                let why = match self.insts[id].stop_step {
                    StopStep::Hook => "pre-stop hook still running",
                    _ => "did not exit after its pre-stop hook",
                };
                self.note(
                    Some(id),
                    Level::Info,
                    "pre_stop_timeout",
                    format!("{why} within shutdown.timeout"),
                    vec![],
                );
                self.send_stop_signal(id, now);
            }
            (State::Stopping | State::Draining, Input::Deadline) => {
                let inst = &mut self.insts[id];
                let (pgid, draining) = (inst.pgid, inst.state == State::Draining);
                inst.killed = true;
                self.note(
                    Some(id),
                    Level::Warn,
                    "kill",
                    "did not stop in time: sending SIGKILL to its process group".to_owned(),
                    vec![],
                );
                if let Some(g) = pgid {
                    self.actions.push_back(Action::SignalGroup {
                        pgid: g,
                        signal: signals::SIGKILL,
                    });
                }
                if draining {
                    self.stopped(id, now);
                }
            }
            (State::Backoff, Input::Deadline) => {
                if let Some(g) = self.insts[id].lingering.take() {
                    self.actions.push_back(Action::SignalGroup {
                        pgid: g,
                        signal: signals::SIGKILL,
                    });
                }
                if matches!(self.phase, Phase::Running) {
                    self.insts[id].state = State::Starting;
                    self.request_spawn(id);
                }
            }
            // Anything else is a stale or duplicate input (a deadline already acted on, a
            // group that emptied after we gave up on it): nothing to do.
            _ => {}
        }
    }

    fn log_exit(&mut self, id: InstId, status: ExitStatus, now: Millis) {
        let ran = now.saturating_sub(self.insts[id].started_at);
        let pid = self.insts[id].pid.unwrap_or(0);
        let (level, msg, field) = match status {
            ExitStatus::Code(0) => (
                Level::Info,
                "process exited".to_owned(),
                ("exit_code", Field::Int(0)),
            ),
            ExitStatus::Code(c) => (
                Level::Warn,
                format!("process exited with code {c}"),
                ("exit_code", Field::Int(c.into())),
            ),
            ExitStatus::Signal(s) => {
                let stopping = matches!(self.insts[id].state, State::Stopping);
                (
                    if stopping { Level::Info } else { Level::Warn },
                    format!("process killed by {}", signals::name(s)),
                    ("signal", Field::Str(signals::name(s).into_owned())),
                )
            }
        };
        self.note(
            Some(id),
            level,
            "exited",
            msg,
            vec![
                ("pid", Field::Int(pid.into())),
                field,
                ("runtime_ms", Field::Int(ran as i64)),
            ],
        );
    }

    fn fail(&mut self, id: InstId, now: Millis) {
        self.insts[id].state = State::Failed;
        self.insts[id].deadline = None;
        let p = &self.procs[self.insts[id].process];
        if p.critical && matches!(self.phase, Phase::Running) {
            let msg = format!("critical process {} failed: stopping the container", p.name);
            self.note(Some(id), Level::Error, "critical_failed", msg, vec![]);
            self.begin_shutdown(Reason::CriticalFailed, now);
        }
    }

    fn stopped(&mut self, id: InstId, now: Millis) {
        let inst = &mut self.insts[id];
        inst.state = State::Stopped;
        inst.deadline = None;
        inst.pid = None;
        // The group is gone (or was SIGKILLed): forget its id, which the kernel may reuse.
        inst.pgid = None;
        self.note(
            Some(id),
            Level::Info,
            "stopped",
            "process stopped".to_owned(),
            vec![],
        );
        if let Some(then) = self.insts[id].then.take() {
            if matches!(self.phase, Phase::Running) {
                self.after_stop(id, then, now);
            }
        }
    }

    /// After every input: start what may start, notice the end of the work, advance shutdown.
    fn settle(&mut self, now: Millis) {
        match self.phase {
            // Nothing starts before `start` (global pre-start hooks may run first).
            Phase::Running if !self.started => {}
            Phase::Running => {
                self.start_ready(now);
                let mut active = self.insts.iter().filter(|i| !i.retired);
                // Scheduled tasks keep the manager running: they are never "finished".
                let tasks = self.procs.iter().any(|p| !p.kind.supervised());
                if !tasks && active.all(|i| i.state.finished() && !i.held) {
                    let failed = self
                        .insts
                        .iter()
                        .any(|i| !i.retired && i.state == State::Failed);
                    self.begin_shutdown(Reason::AllFinished { failed }, now);
                }
                self.hooks_settle();
            }
            Phase::ShuttingDown { .. } | Phase::Done => {}
        }
        if let Phase::ShuttingDown { reason, forced, .. } = self.phase {
            if !forced && !self.phases.hold {
                self.stop_ready(now);
            }
            if !self.insts.iter().any(|i| i.state.live()) {
                self.finish(reason);
            }
        }
    }

    fn note(
        &mut self,
        inst: Option<InstId>,
        level: Level,
        event: &'static str,
        msg: String,
        fields: Vec<(&'static str, Field)>,
    ) {
        self.actions.push_back(Action::Log(Note {
            inst,
            ..Note::global(level, event, msg, fields)
        }));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Readiness {
    Ready,
    NotYet,
    Never,
}

#[derive(Debug)]
enum Input {
    Spawned(i32),
    SpawnFailed(String),
    Exited(ExitStatus, bool),
    GroupEmpty,
    Deadline,
    PreStopDone,
    /// A readiness check passed (`true`) or failed after passing (`false`).
    #[cfg(feature = "health")]
    Ready(bool),
}

#[cfg(test)]
mod tests;
