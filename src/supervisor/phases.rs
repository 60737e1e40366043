//! The stack's hook phases, decided here in the sans-IO core; the reactor only runs the hooks.
//!
//! ```text
//! start ──► global pre-start ──ok──► processes (per instance: pre-start → spawn → post-start)
//!               │ failed: exit 1            │ every longrun ready, no oneshot pending
//!               │ stop signal: cancel,      ▼
//!               │ start nothing        global post-start
//! shutdown ──► global pre-stop (shutdown held until it ends) ──► stop processes
//!              (per instance: pre-stop → wait for exit / stop signal; post-stop after each exit)
//! everything down, no hook sequence running ──► global post-stop ──► exit
//! ```
//!
//! The supervisor asks for a phase's hooks with [`Action::RunHooks`] and learns the outcome
//! from [`Event::HooksDone`] (exactly one answer per request, also for a cancelled one). What
//! happens inside one phase — the hooks in order, retries, delays, `continue_on_error` — is the
//! hooks runner's business (`crate::hooks`). A phase without hooks is never asked for, so a
//! build without feature `hooks` (whose configurations have none) never sees these actions.
//!
//! Shutdown bounds the hooks: once `shutdown_timeout` has passed since shutdown began, hooks
//! still running are killed ([`HookCancel::Kill`]); the global post-stop hooks get whatever is
//! left of it.

use super::*;
use crate::config::model::HookPhase;
use crate::features::Feature;

/// Built with feature `hooks`. Without it a configuration has no hooks (the keys are refused),
/// so this is only a promise the compiler can use: every hook step below is then dead code and
/// the minimal binary does not carry it.
const HOOKS: bool = Feature::Hooks.compiled();

/// How a phase's hooks ended, as the hooks runner reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookOutcome {
    /// A hook failed for good and the sequence stopped (pre-start without
    /// `continue_on_error`): its name, and why (already in the log).
    pub failed: Option<(String, String)>,
    /// Cancelled (shutdown during the sequence).
    pub cancelled: bool,
}

/// Which running hook sequences to cancel (each still answers with `HooksDone`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookCancel {
    /// The global pre-start hooks (a stop signal during start-up).
    StartUp,
    /// Instances' pre-start hooks and the global post-start hooks: the stack will not come up.
    Starting,
    /// Every sequence, gracefully (a second stop signal).
    All,
    /// Every sequence, its running hooks SIGKILLed now (`shutdown_timeout` reached).
    Kill,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stage {
    #[default]
    NotYet,
    Running,
    Done,
}

const PHASES: usize = 4;

const fn ix(p: HookPhase) -> usize {
    match p {
        HookPhase::PreStart => 0,
        HookPhase::PostStart => 1,
        HookPhase::PreStop => 2,
        HookPhase::PostStop => 3,
    }
}

/// Which phases have hooks (global, per process), and where the global phases are.
#[derive(Debug, Default)]
pub(super) struct Phases {
    global: [bool; PHASES],
    procs: Vec<[bool; PHASES]>,
    /// Per process: after its pre-stop hooks, wait for the process to exit on its own.
    wait_for_exit: Vec<bool>,
    stage: [Stage; PHASES],
    /// Sequences asked for and not answered yet.
    running: usize,
    /// Shutdown waits for the global pre-stop hooks.
    pub(super) hold: bool,
    /// The exit code waiting for the hooks (the global post-stop ones last).
    pending_exit: Option<u8>,
    /// When hooks still running are killed (`shutdown_timeout` after shutdown began).
    kill_at: Option<Millis>,
}

impl Phases {
    pub(super) fn new(config: &Config) -> Phases {
        if !HOOKS {
            return Phases::default();
        }
        let has = |s: &crate::config::model::HookSet| {
            [
                HookPhase::PreStart,
                HookPhase::PostStart,
                HookPhase::PreStop,
                HookPhase::PostStop,
            ]
            .map(|p| !s.get(p).is_empty())
        };
        Phases {
            global: has(&config.hooks),
            procs: config.processes.iter().map(|p| has(&p.hooks.set)).collect(),
            wait_for_exit: config
                .processes
                .iter()
                .map(|p| p.hooks.wait_for_exit)
                .collect(),
            ..Phases::default()
        }
    }

    /// Process `p` has hooks for `phase`.
    pub(super) fn has(&self, p: usize, phase: HookPhase) -> bool {
        self.procs.get(p).is_some_and(|h| h[ix(phase)])
    }

    pub(super) fn wait_for_exit(&self, p: usize) -> bool {
        self.wait_for_exit.get(p).copied().unwrap_or(true)
    }

    /// The earliest time hooks must be killed (only while some run).
    pub(super) fn next_deadline(&self) -> Option<Millis> {
        self.kill_at.filter(|_| HOOKS && self.running > 0)
    }
}

impl Supervisor {
    /// Starts the stack: the global pre-start hooks first (if any), then every instance whose
    /// dependencies allow it.
    pub fn start(&mut self, now: Millis) {
        if HOOKS && self.phases.global[ix(HookPhase::PreStart)] {
            self.phases.stage[ix(HookPhase::PreStart)] = Stage::Running;
            self.run_hooks(HookPhase::PreStart, None);
        } else {
            self.start_processes(now);
        }
    }

    fn run_hooks(&mut self, phase: HookPhase, inst: Option<InstId>) {
        self.phases.running += 1;
        self.actions.push_back(Action::RunHooks { phase, inst });
    }

    fn cancel_hooks(&mut self, which: HookCancel) {
        if self.phases.running > 0 {
            self.actions.push_back(Action::CancelHooks(which));
        }
    }

    /// An instance is to be spawned: its pre-start hooks first, if it has any.
    pub(super) fn request_spawn(&mut self, id: InstId) {
        if HOOKS && self.phases.has(self.insts[id].process, HookPhase::PreStart) {
            self.run_hooks(HookPhase::PreStart, Some(id));
        } else {
            self.actions.push_back(Action::Spawn(id));
        }
    }

    /// Per-instance post-start and post-stop hooks (after `Spawned`, after `Exited`).
    pub(super) fn instance_hooks(&mut self, id: InstId, phase: HookPhase) {
        if HOOKS && self.phases.has(self.insts[id].process, phase) {
            self.run_hooks(phase, Some(id));
        }
    }

    /// A graceful stop of an instance with pre-stop hooks starts with them; false when it has
    /// none (or no process to stop).
    pub(super) fn pre_stop_hooks(&mut self, id: InstId) -> bool {
        let p = self.insts[id].process;
        if !HOOKS || !self.phases.has(p, HookPhase::PreStop) || self.insts[id].pgid.is_none() {
            return false;
        }
        self.insts[id].stop_step = StopStep::Hook;
        self.run_hooks(HookPhase::PreStop, Some(id));
        self.note(
            Some(id),
            Level::Info,
            "stopping",
            "running its pre-stop hook before the stop signal".to_owned(),
            vec![],
        );
        true
    }

    /// A stop signal, before shutdown begins (or escalates): during the global pre-start
    /// hooks they are stopped and nothing will start; a second signal stops every hook.
    pub(super) fn hooks_on_signal(&mut self, signal: i32) {
        if !HOOKS {
            return;
        }
        if self.phases.stage[ix(HookPhase::PreStart)] == Stage::Running {
            self.note(
                None,
                Level::Info,
                "startup_aborted",
                format!(
                    "received {} during the pre-start hooks: stopping them, starting nothing",
                    signals::name(signal)
                ),
                vec![],
            );
            self.cancel_hooks(HookCancel::StartUp);
        } else if self.shutting_down() {
            self.cancel_hooks(HookCancel::All);
        }
    }

    /// Shutdown begins: hooks of a start that will not happen stop, the global pre-stop hooks
    /// run (holding the shutdown) if the stack was started, and the hooks' time is bounded.
    pub(super) fn hooks_on_shutdown(&mut self, now: Millis) {
        if !HOOKS {
            return;
        }
        self.phases.kill_at = Some(now + self.limits.shutdown_timeout);
        if self.started {
            // Hooks of instances about to start, and of the stack coming up.
            self.cancel_hooks(HookCancel::Starting);
        }
        let pre_stop = ix(HookPhase::PreStop);
        if self.started && self.phases.global[pre_stop] {
            self.phases.stage[pre_stop] = Stage::Running;
            self.phases.hold = true;
            self.run_hooks(HookPhase::PreStop, None);
        } else {
            self.phases.stage[pre_stop] = Stage::Done;
        }
    }

    /// After every input while running: the global post-start hooks once the stack is up.
    pub(super) fn hooks_settle(&mut self) {
        let post_start = ix(HookPhase::PostStart);
        if !HOOKS
            || !self.started
            || !matches!(self.phase, Phase::Running)
            || self.phases.stage[post_start] != Stage::NotYet
            || !self.stack_up()
        {
            return;
        }
        if self.phases.global[post_start] {
            self.phases.stage[post_start] = Stage::Running;
            self.run_hooks(HookPhase::PostStart, None);
        } else {
            self.phases.stage[post_start] = Stage::Done;
        }
    }

    /// Every longrun instance is ready (or finished), and no oneshot is still to run.
    fn stack_up(&self) -> bool {
        self.procs.iter().all(|p| {
            let longrun = p.kind == ProcessKind::Longrun;
            p.instances.iter().all(|&i| {
                let st = self.insts[i].state;
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

    /// Everything is down: exit with `code` once no hook runs and the post-stop hooks ended.
    pub(super) fn exit_after_hooks(&mut self, code: u8) {
        if !HOOKS {
            self.actions.push_back(Action::Exit(code));
            return;
        }
        if self.phases.pending_exit.is_none() {
            self.phases.pending_exit = Some(code);
        }
        self.hooks_try_exit();
    }

    fn hooks_try_exit(&mut self) {
        let Some(code) = self.phases.pending_exit else {
            return;
        };
        if self.phases.running > 0 {
            return;
        }
        let post_stop = ix(HookPhase::PostStop);
        if self.phases.stage[post_stop] == Stage::NotYet && self.phases.global[post_stop] {
            self.phases.stage[post_stop] = Stage::Running;
            self.run_hooks(HookPhase::PostStop, None);
            return;
        }
        self.phases.pending_exit = None;
        self.actions.push_back(Action::Exit(code));
    }

    /// Hooks still running when shutdown's time is up are killed.
    pub(super) fn hooks_timeout(&mut self, now: Millis) {
        if HOOKS && self.phases.kill_at.is_some_and(|t| now >= t) && self.phases.running > 0 {
            self.phases.kill_at = None;
            self.note(
                None,
                Level::Warn,
                "hooks_killed",
                "shutdown_timeout reached: killing the hooks still running".to_owned(),
                vec![],
            );
            self.actions
                .push_back(Action::CancelHooks(HookCancel::Kill));
        }
    }

    /// A phase's hooks ended.
    pub(super) fn hooks_done(
        &mut self,
        phase: HookPhase,
        inst: Option<InstId>,
        outcome: HookOutcome,
        now: Millis,
    ) {
        if !HOOKS {
            return;
        }
        self.phases.running = self.phases.running.saturating_sub(1);
        match (phase, inst) {
            (_, None) => {
                self.phases.stage[ix(phase)] = Stage::Done;
                self.global_hooks_done(phase, outcome, now);
            }
            (HookPhase::PreStart, Some(id)) if self.insts[id].state == State::Starting => {
                match outcome.failed {
                    Some((hook, reason)) => {
                        let error = format!("pre-start hook {hook} failed: {reason}");
                        self.step(id, Input::SpawnFailed(error), now);
                    }
                    None if outcome.cancelled => {
                        let error = "pre-start hook cancelled".to_owned();
                        self.step(id, Input::SpawnFailed(error), now);
                    }
                    None => self.actions.push_back(Action::Spawn(id)),
                }
            }
            (HookPhase::PreStop, Some(id)) => self.step(id, Input::PreStopDone, now),
            _ => {}
        }
        self.hooks_try_exit();
    }

    fn global_hooks_done(&mut self, phase: HookPhase, outcome: HookOutcome, now: Millis) {
        match (phase, outcome.failed) {
            (HookPhase::PreStart, None) if !outcome.cancelled && !self.shutting_down() => {
                self.start_processes(now);
            }
            (HookPhase::PreStart, Some((hook, reason))) => {
                self.note(
                    None,
                    Level::Error,
                    "startup_failed",
                    format!("pre-start hook {hook} failed ({reason}): not starting"),
                    vec![],
                );
                self.finish(Reason::StartupFailed);
            }
            (HookPhase::PreStop, _) => self.phases.hold = false,
            _ => {}
        }
    }
}
