//! The hooks part (feature `hooks`): runs the hook phases the supervisor asks for
//! (`Action::RunHooks`) with the hooks runner (`crate::hooks`: order, retries, delays,
//! `continue_on_error`), each attempt as a child with a deadline, and answers
//! `Event::HooksDone`. When each phase runs is the supervisor's decision (`supervisor/phases.rs`).

use std::collections::HashMap;

use super::Reactor;
use super::children::{AuxDone, AuxId, AuxSpec};
use super::part::{AuxOwner, AuxTag, Msg, Part, PartId, Reply, Setup, Spawner};
use crate::config::model::{Config, HookPhase, HookSpec};
use crate::hooks::{Action, Hooks, Outcome, Owner, RunId, RunResult};
use crate::status::Snapshot;
use crate::supervisor::{self, Event, HookCancel, HookOutcome, InstId, Millis};
use crate::sys::{self, signals};

/// How long a hook that is asked to stop (timeout, shutdown) gets between its stop signal
/// and SIGKILL to its group.
const HOOK_KILL_AFTER_MS: u64 = 5_000;

pub(super) fn part(_config: &Config, setup: &Setup<'_>) -> Box<dyn Part> {
    Box::new(HookRunner {
        id: setup.id,
        hooks: Hooks::default(),
        runs: HashMap::new(),
    })
}

struct HookRunner {
    id: PartId,
    hooks: Hooks,
    /// Attempts running as aux children.
    runs: HashMap<RunId, AuxId>,
}

impl Part for HookRunner {
    /// Retry delays.
    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        self.hooks.next_deadline()
    }

    fn turn(&mut self, r: &mut Reactor<'_>) {
        self.hooks.handle_timeout(sys::monotonic_ms());
        self.actions(r);
    }

    /// The supervisor's hook actions.
    fn on(&mut self, r: &mut Reactor<'_>, m: &Msg<'_>) -> Option<Reply> {
        let Msg::Action(a) = m else {
            return None;
        };
        match **a {
            supervisor::Action::RunHooks { phase, inst } => self.start(r, phase, inst),
            supervisor::Action::CancelHooks(which) => self.cancel(r, which),
            _ => return None,
        }
        self.actions(r);
        Some(Reply::Done)
    }

    /// An attempt of a hook ended.
    fn aux_done(&mut self, r: &mut Reactor<'_>, tag: AuxTag, done: AuxDone) {
        let run = RunId(tag.0);
        self.runs.remove(&run);
        let result = RunResult {
            status: done.status,
            spawn_error: done.spawn_error,
            timed_out: done.timed_out,
            duration_ms: done.duration_ms,
            tail: done.tail,
        };
        self.hooks.finished(run, &result, sys::monotonic_ms());
        self.actions(r);
    }

    /// Hook counters for the status snapshot.
    fn snapshot(&self, _r: &Reactor<'_>, snap: &mut Snapshot) {
        snap.hooks = self.hooks.views();
    }
}

impl HookRunner {
    /// Starts the hooks of `phase`: global, or of one instance.
    fn start(&mut self, r: &Reactor<'_>, phase: HookPhase, inst: Option<InstId>) {
        let now = sys::monotonic_ms();
        match inst {
            None => {
                let list = r.config.hooks.get(phase).to_vec();
                self.hooks.start(Owner::Global(phase), &list, None, now);
            }
            Some(inst) => {
                let p = r.sup.instance(inst).process;
                let ps = &r.config.processes[p];
                let list = ps.hooks.set.get(phase).to_vec();
                let owner = Owner::Instance {
                    inst,
                    process: p,
                    phase,
                };
                self.hooks.start(owner, &list, Some(&ps.name), now);
            }
        }
    }

    fn cancel(&mut self, r: &mut Reactor<'_>, which: HookCancel) {
        self.hooks.cancel_where(|o| covers(which, o));
        if which == HookCancel::Kill {
            for &id in self.runs.values() {
                if let Some(a) = r.aux.get(id) {
                    let _ = sys::signal_group(a.pid, signals::SIGKILL);
                }
            }
        }
    }

    fn actions(&mut self, r: &mut Reactor<'_>) {
        while let Some(a) = self.hooks.poll_action() {
            match a {
                Action::Run {
                    run, owner, hook, ..
                } => {
                    let spec = hook_spec(r, owner, &hook);
                    let owner = AuxOwner {
                        part: self.id,
                        tag: AuxTag(run.0, 0),
                        by: Spawner::Part,
                    };
                    if let Some(id) = r.spawn_aux(spec, owner) {
                        self.runs.insert(run, id);
                    }
                }
                Action::Stop(run) => {
                    if let Some(&id) = self.runs.get(&run) {
                        r.stop_aux(id);
                    }
                }
                Action::Log(n) => r.note(&n),
                Action::Done { owner, outcome, .. } => {
                    let inst = match owner {
                        Owner::Global(_) => None,
                        Owner::Instance { inst, .. } => Some(inst),
                    };
                    let outcome = match outcome {
                        Outcome::Ok => HookOutcome::default(),
                        Outcome::Failed { hook, reason } => HookOutcome {
                            failed: Some((hook, reason)),
                            cancelled: false,
                        },
                        Outcome::Cancelled => HookOutcome {
                            failed: None,
                            cancelled: true,
                        },
                    };
                    let done = Event::HooksDone {
                        phase: owner.phase(),
                        inst,
                        outcome,
                    };
                    r.sup.handle(done, sys::monotonic_ms());
                }
            }
        }
    }
}

/// Whether a cancel request covers a sequence of `owner`.
fn covers(which: HookCancel, owner: Owner) -> bool {
    let (phase, global) = (owner.phase(), matches!(owner, Owner::Global(_)));
    match which {
        HookCancel::StartUp => global && phase == HookPhase::PreStart,
        HookCancel::Starting => {
            (phase == HookPhase::PreStart && !global) || (phase == HookPhase::PostStart && global)
        }
        HookCancel::All | HookCancel::Kill => true,
    }
}

/// A hook as a child with a deadline, in the environment of its owner.
fn hook_spec(r: &Reactor<'_>, owner: Owner, hook: &HookSpec) -> AuxSpec {
    let mut env: Vec<(String, String)> = Vec::new();
    let (process, instance, cwd, logging) = match owner {
        Owner::Global(_) => (
            "hooks".to_owned(),
            format!("hook:{}", hook.name),
            hook.working_dir.clone(),
            // Global hooks belong to no process: the global log rules.
            r.config.global.logging.clone(),
        ),
        Owner::Instance { inst, process, .. } => {
            let ps = &r.config.processes[process];
            let id = r.sup.instance(inst).id.clone();
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
        kill_after_ms: HOOK_KILL_AFTER_MS.min(r.config.global.shutdown_timeout),
        logging,
    }
}
