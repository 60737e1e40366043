//! The reactor's side of feature `hooks`: when each phase runs, and running its hooks as
//! children with deadlines.
//!
//! - global `pre-start`: before the supervisor starts anything; a failure ends start-up with
//!   exit code 1; SIGTERM meanwhile stops the hook (its stop signal, SIGKILL later), starts
//!   nothing and exits 0 after the post-stop hooks;
//! - global `post-start`: once every longrun instance is ready (and no oneshot is pending);
//! - global `pre-stop`: when shutdown begins, before any process is signalled (the supervisor
//!   holds its shutdown until they end);
//! - global `post-stop`: after every process is down (and every per-instance hook has ended),
//!   before the manager exits; they get whatever is left of `shutdown_timeout`;
//! - per instance: `pre_start` before each spawn (a failure counts as a failed start),
//!   `post_start` after it, `pre_stop` inside the supervisor's graceful stop, `post_stop` after
//!   each exit.

use std::collections::HashMap;

use super::{AuxId, AuxOwner, AuxSpec, Reactor};
use crate::config::model::{Config, HookPhase, HookSpec, Level, ProcessKind};
use crate::hooks::{Action, Hooks, Outcome, Owner, RunId, RunResult};
use crate::status::Snapshot;
use crate::supervisor::{Event, InstId, Millis, State};
use crate::sys::{self, signals};

/// How long a hook that is asked to stop (timeout, shutdown) gets between its stop signal
/// and SIGKILL to its group.
const HOOK_KILL_AFTER_MS: u64 = 5_000;
/// Exit code when a pre-start hook fails (INTERFACE.md: start-up failure).
const STARTUP_FAILED: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    NotYet,
    Running,
    Done,
}

/// Hooks' state in the reactor.
pub struct Glue {
    hooks: Hooks,
    /// Attempts running as aux children.
    runs: HashMap<RunId, AuxId>,
    pre_start: Stage,
    post_start: Stage,
    pre_stop: Stage,
    post_stop: Stage,
    /// The supervisor was started (the pre-start hooks passed).
    started: bool,
    /// The exit code waiting for the post-stop hooks.
    pending_exit: Option<u8>,
    /// When shutdown's time is up (set when it begins).
    exit_by: Option<Millis>,
    gave_up: bool,
}

impl Glue {
    pub fn new(_config: &Config) -> Self {
        Glue {
            hooks: Hooks::default(),
            runs: HashMap::new(),
            pre_start: Stage::NotYet,
            post_start: Stage::NotYet,
            pre_stop: Stage::NotYet,
            post_stop: Stage::NotYet,
            started: false,
            pending_exit: None,
            exit_by: None,
            gave_up: false,
        }
    }
}

impl Reactor<'_> {
    /// Start-up: the global pre-start hooks, then the supervisor.
    pub(super) fn begin(&mut self, now: Millis) {
        self.hooks.pre_start = Stage::Running;
        let list = self.config.hooks.pre_start.clone();
        self.hooks
            .hooks
            .start(Owner::Global(HookPhase::PreStart), &list, None, now);
        self.hooks_actions();
    }

    pub(super) fn hooks_deadline(&self) -> Option<Millis> {
        let shutdown = self.hooks.exit_by.filter(|_| self.hooks.hooks.busy());
        // A phase that is due is started by the next turn, at once.
        let due = self.phase_due().then_some(0);
        [self.hooks.hooks.next_deadline(), shutdown, due]
            .into_iter()
            .flatten()
            .min()
    }

    /// SIGTERM, SIGINT or SIGQUIT.
    pub(super) fn shutdown_signal(&mut self, signal: i32, now: Millis) {
        if self.hooks.pre_start == Stage::Running {
            self.out.event(
                Level::Info,
                None,
                "startup_aborted",
                &format!(
                    "received {} during the pre-start hooks: stopping them, starting nothing",
                    signals::name(signal)
                ),
                &[],
            );
            self.hooks
                .hooks
                .cancel_owner(Owner::Global(HookPhase::PreStart));
        } else if self.sup.shutting_down() {
            // A second signal: hooks are stopped too.
            self.hooks.hooks.cancel_all();
        }
        self.sup.handle(Event::ShutdownSignal { signal }, now);
        self.hooks_actions();
    }

    /// The supervisor asks for an instance to be spawned: its pre-start hooks first.
    pub(super) fn spawn_requested(&mut self, inst: InstId) {
        let p = self.sup.instance(inst).process;
        if self.config.processes[p].hooks.set.pre_start.is_empty() {
            self.spawn(inst);
        } else {
            self.instance_hooks(inst, HookPhase::PreStart);
        }
    }

    /// The instance's process started.
    pub(super) fn hooks_started(&mut self, inst: InstId) {
        self.instance_hooks(inst, HookPhase::PostStart);
    }

    /// The instance's process ended.
    pub(super) fn hooks_exited(&mut self, inst: InstId) {
        self.instance_hooks(inst, HookPhase::PostStop);
    }

    /// The supervisor's graceful stop of `inst` runs its pre-stop hooks.
    pub(super) fn run_pre_stop(&mut self, inst: InstId) {
        self.instance_hooks(inst, HookPhase::PreStop);
    }

    /// Everything is down: the post-stop hooks, then exit with `code`.
    pub(super) fn exit_requested(&mut self, code: u8) {
        if self.hooks.pending_exit.is_none() {
            self.hooks.pending_exit = Some(code);
        }
    }

    /// Phases that are due, deadlines of retries, and shutdown's limit.
    pub(super) fn hooks_turn(&mut self) {
        let now = sys::monotonic_ms();
        self.hooks.hooks.handle_timeout(now);
        if self.sup.shutting_down() && self.hooks.exit_by.is_none() {
            self.hooks.exit_by = Some(now + self.config.global.shutdown_timeout);
            // Instances about to start will not, and the stack will not be "up": their
            // pre-start hooks and the global post-start hooks stop now.
            self.hooks.hooks.cancel_where(|o| {
                matches!(
                    o,
                    Owner::Instance {
                        phase: HookPhase::PreStart,
                        ..
                    } | Owner::Global(HookPhase::PostStart)
                )
            });
        }
        // Global pre-stop: shutdown is held until these end (skipped if nothing was started).
        if self.sup.shutdown_held() && self.hooks.pre_stop == Stage::NotYet {
            if self.hooks.started && !self.config.hooks.pre_stop.is_empty() {
                self.hooks.pre_stop = Stage::Running;
                let list = self.config.hooks.pre_stop.clone();
                self.hooks
                    .hooks
                    .start(Owner::Global(HookPhase::PreStop), &list, None, now);
            } else {
                self.hooks.pre_stop = Stage::Done;
                self.sup.release_shutdown(now);
            }
        }
        if self.hooks.started
            && self.hooks.post_start == Stage::NotYet
            && !self.sup.shutting_down()
            && self.stack_up()
        {
            self.hooks.post_start = Stage::Running;
            let list = self.config.hooks.post_start.clone();
            self.hooks
                .hooks
                .start(Owner::Global(HookPhase::PostStart), &list, None, now);
        }
        if self.hooks.pending_exit.is_some()
            && self.hooks.post_stop == Stage::NotYet
            && !self.hooks.hooks.busy()
        {
            self.hooks.post_stop = Stage::Running;
            let list = self.config.hooks.post_stop.clone();
            self.hooks
                .hooks
                .start(Owner::Global(HookPhase::PostStop), &list, None, now);
        }
        if let Some(limit) = self.hooks.exit_by {
            if now >= limit && self.hooks.hooks.busy() && !self.hooks.gave_up {
                self.hooks.gave_up = true;
                self.out.event(
                    Level::Warn,
                    None,
                    "hooks_killed",
                    "shutdown_timeout reached: killing the hooks still running",
                    &[],
                );
                self.hooks.hooks.cancel_all();
                for (_, &id) in self.hooks.runs.iter() {
                    if let Some(a) = self.aux.get(id) {
                        let _ = sys::signal_group(a.pid, signals::SIGKILL);
                    }
                }
            }
        }
        self.hooks_actions();
    }

    /// An attempt of a hook ended.
    pub(super) fn hook_finished(&mut self, run: RunId, done: super::AuxDone) {
        self.hooks.runs.remove(&run);
        let r = RunResult {
            status: done.status,
            spawn_error: done.spawn_error,
            timed_out: done.timed_out,
            duration_ms: done.duration_ms,
            tail: done.tail,
        };
        self.hooks.hooks.finished(run, &r, sys::monotonic_ms());
        self.hooks_actions();
    }

    /// Hook counters for the status snapshot.
    pub(super) fn hooks_snapshot(&self, snap: &mut Snapshot) {
        snap.hooks = self.hooks.hooks.views();
    }

    /// A global phase waits for `hooks_turn` to start it.
    fn phase_due(&self) -> bool {
        let g = &self.hooks;
        (self.sup.shutdown_held() && g.pre_stop == Stage::NotYet)
            || (g.pending_exit.is_some() && g.post_stop == Stage::NotYet && !g.hooks.busy())
            || (g.started
                && g.post_start == Stage::NotYet
                && !self.sup.shutting_down()
                && self.stack_up())
    }

    /// Every longrun instance is ready (or finished), and no oneshot is still to run.
    fn stack_up(&self) -> bool {
        (0..self.config.processes.len()).all(|p| {
            let longrun = self.config.processes[p].kind == ProcessKind::Longrun;
            self.sup.instances_of(p).iter().all(|&i| {
                let st = self.sup.instance(i).state;
                if longrun {
                    matches!(
                        st,
                        State::Ready | State::Exited | State::Failed | State::Stopped
                    )
                } else {
                    !matches!(st, State::Waiting | State::Starting | State::Running)
                }
            })
        })
    }

    fn instance_hooks(&mut self, inst: InstId, phase: HookPhase) {
        let p = self.sup.instance(inst).process;
        let list = self.config.processes[p].hooks.set.get(phase);
        if list.is_empty() && !matches!(phase, HookPhase::PreStart | HookPhase::PreStop) {
            return;
        }
        let list = list.to_vec();
        let name = self.config.processes[p].name.clone();
        let owner = Owner::Instance {
            inst,
            process: p,
            phase,
        };
        self.hooks
            .hooks
            .start(owner, &list, Some(&name), sys::monotonic_ms());
        self.hooks_actions();
    }

    fn hooks_actions(&mut self) {
        while let Some(a) = self.hooks.hooks.poll_action() {
            let now = sys::monotonic_ms();
            match a {
                Action::Run {
                    run, owner, hook, ..
                } => {
                    let spec = self.hook_spec(owner, &hook);
                    if let Some(id) = self.spawn_aux(spec, AuxOwner::Hook(run)) {
                        self.hooks.runs.insert(run, id);
                    }
                }
                Action::Stop(run) => {
                    if let Some(&id) = self.hooks.runs.get(&run) {
                        self.stop_aux(id);
                    }
                }
                Action::Log(n) => {
                    let who = n
                        .inst
                        .map(|i| (self.sup.instance(i).id.as_str(), self.sup.process_name(i)));
                    self.out.event(n.level, who, n.event, &n.msg, &n.fields);
                }
                Action::Done { owner, outcome, .. } => self.sequence_done(owner, outcome, now),
            }
        }
    }

    fn sequence_done(&mut self, owner: Owner, outcome: Outcome, now: Millis) {
        match owner {
            Owner::Global(HookPhase::PreStart) => {
                self.hooks.pre_start = Stage::Done;
                match outcome {
                    Outcome::Ok if !self.sup.shutting_down() => {
                        self.hooks.started = true;
                        self.sup.start(now);
                    }
                    Outcome::Ok | Outcome::Cancelled => {}
                    Outcome::Failed { hook, reason } => {
                        self.out.event(
                            Level::Error,
                            None,
                            "startup_failed",
                            &format!("pre-start hook {hook} failed ({reason}): not starting"),
                            &[],
                        );
                        self.exit_requested(STARTUP_FAILED);
                    }
                }
            }
            Owner::Global(HookPhase::PostStart) => self.hooks.post_start = Stage::Done,
            Owner::Global(HookPhase::PreStop) => {
                self.hooks.pre_stop = Stage::Done;
                self.sup.release_shutdown(now);
            }
            Owner::Global(HookPhase::PostStop) => {
                self.hooks.post_stop = Stage::Done;
                if let Some(code) = self.hooks.pending_exit {
                    self.exit = Some(code);
                    self.stop_open_ended_aux();
                }
            }
            Owner::Instance {
                inst,
                phase: HookPhase::PreStart,
                ..
            } => {
                if self.sup.instance(inst).state != State::Starting {
                    return;
                }
                match outcome {
                    Outcome::Ok => self.spawn(inst),
                    Outcome::Failed { hook, reason } => self.sup.handle(
                        Event::SpawnFailed {
                            inst,
                            error: format!("pre-start hook {hook} failed: {reason}"),
                        },
                        now,
                    ),
                    Outcome::Cancelled => self.sup.handle(
                        Event::SpawnFailed {
                            inst,
                            error: "pre-start hook cancelled".to_owned(),
                        },
                        now,
                    ),
                }
            }
            Owner::Instance {
                inst,
                phase: HookPhase::PreStop,
                ..
            } => self.sup.handle(Event::PreStopDone { inst }, now),
            Owner::Instance { .. } => {}
        }
    }

    /// A hook as a child with a deadline, in the environment of its owner.
    fn hook_spec(&self, owner: Owner, hook: &HookSpec) -> AuxSpec {
        let mut env: Vec<(String, String)> = Vec::new();
        let (process, instance, cwd, logging) = match owner {
            Owner::Global(_) => (
                "hooks".to_owned(),
                format!("hook:{}", hook.name),
                hook.working_dir.clone(),
                // Global hooks belong to no process: the global log rules.
                self.config.global.logging.clone(),
            ),
            Owner::Instance { inst, process, .. } => {
                let ps = &self.config.processes[process];
                let id = self.sup.instance(inst).id.clone();
                env.extend(ps.env.iter().cloned());
                env.push(("PHPEEK_PM_PROCESS_NAME".into(), ps.name.clone()));
                env.push(("PHPEEK_PM_INSTANCE_ID".into(), id.clone()));
                (
                    ps.name.clone(),
                    format!("{id}:hook:{}", hook.name),
                    hook.working_dir.clone().or_else(|| ps.working_dir.clone()),
                    ps.logging.clone(),
                )
            }
        };
        env.extend(hook.env.iter().cloned());
        env.push(("PHPEEK_PM_HOOK_NAME".into(), hook.name.clone()));
        env.push((
            "PHPEEK_PM_HOOK_PHASE".into(),
            owner.phase().as_str().to_owned(),
        ));
        AuxSpec {
            argv: hook.command.clone(),
            env,
            cwd,
            credentials: hook.credentials.clone(),
            process,
            instance,
            timeout_ms: Some(hook.timeout),
            stop_signal: signals::SIGTERM,
            kill_after_ms: HOOK_KILL_AFTER_MS.min(self.config.global.shutdown_timeout),
            logging,
        }
    }
}
