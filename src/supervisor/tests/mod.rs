//! The supervisor driven by a fake clock: every test is a script of events and the actions
//! and states they must produce.

use super::*;
use crate::config::model::{Global, LogFormat, ProcessSpec};
use crate::signal_policy::{Reload, SignalPolicy};

fn spec(name: &str, deps: &[usize]) -> ProcessSpec {
    ProcessSpec {
        name: name.to_owned(),
        command: vec!["true".to_owned()],
        kind: ProcessKind::Longrun,
        priority: 0,
        depends_on: deps.to_vec(),
        scale: 1,
        restart: RestartPolicy::Always,
        env: Vec::new(),
        working_dir: None,
        credentials: None,
        critical: false,
        stop_signal: signals::SIGTERM,
        stop_timeout: 1_000,
        task: None,
        logging: Default::default(),
        health: None,
        hooks: Default::default(),
        signals: SignalPolicy::new(&["true".to_owned()], None, vec![]),
        start_stopped: false,
        max_scale: 1000,
        scale_locked: false,
        labels: Vec::new(),
    }
}

/// A process running `argv`, with the signal policy its program gets by default.
fn program(name: &str, argv: &[&str]) -> ProcessSpec {
    let mut p = spec(name, &[]);
    p.command = argv.iter().map(|s| (*s).to_owned()).collect();
    p.signals = SignalPolicy::new(&p.command, None, vec![]);
    p
}

fn config(processes: Vec<ProcessSpec>) -> Config {
    Config {
        path: None,
        global: Global {
            shutdown_timeout: 10_000,
            log_format: LogFormat::Json,
            log_level: Level::Info,
            backoff_initial: 100,
            backoff_max: 1_000,
            stable_after: 5_000,
            max_restart_attempts: None,
            dependency_timeout: None,
            api: None,
            metrics: None,
            readiness: None,
            autotune_memory_threshold: None,
            framework_setup: true,
            logging: Default::default(),
            audit: false,
            resource_metrics: Default::default(),
            max_process_scale: 100,
        },
        processes,
        hooks: Default::default(),
        child_env: Vec::new(),
        watch: false,
    }
}

/// A supervisor plus a fake world: spawned pids are handed out in order.
struct World {
    sup: Supervisor,
    now: Millis,
    next_pid: i32,
    /// Non-log actions seen, in order.
    seen: Vec<Action>,
    notes: Vec<Note>,
    exit: Option<u8>,
    /// Every action in order, as text (logs only for the events named in `TRACED`).
    trace: Vec<String>,
    /// Hook requests not answered yet, oldest first.
    hooks: VecDeque<(HookPhase, Option<InstId>)>,
}

/// Log events that show in `World::trace`.
const TRACED: [&str; 4] = [
    "startup_failed",
    "startup_aborted",
    "hooks_killed",
    "spawn_failed",
];

impl World {
    fn new(c: &Config) -> Self {
        let mut w = World {
            sup: Supervisor::new(c, 42),
            now: 0,
            next_pid: 100,
            seen: Vec::new(),
            notes: Vec::new(),
            exit: None,
            trace: Vec::new(),
            hooks: VecDeque::new(),
        };
        w.sup.start(0);
        w.pump();
        w
    }

    /// Runs queued actions; spawns succeed at once unless `fail_spawn` names the instance.
    fn pump(&mut self) {
        while let Some(a) = self.sup.poll_action() {
            let line = match &a {
                Action::Spawn(i) => Some(format!("spawn {}", self.sup.instance(*i).id)),
                Action::SignalGroup { pgid, signal } => {
                    Some(format!("signal {pgid} {}", signals::name(*signal)))
                }
                Action::Log(n) => TRACED
                    .contains(&n.event)
                    .then(|| format!("note {}", n.event)),
                Action::RunHooks { phase, inst } => {
                    self.hooks.push_back((*phase, *inst));
                    Some(match inst {
                        Some(i) => format!("run {} {}", phase.as_str(), self.sup.instance(*i).id),
                        None => format!("run {}", phase.as_str()),
                    })
                }
                Action::CancelHooks(c) => Some(format!("cancel {c:?}")),
                Action::Exit(c) => Some(format!("exit {c}")),
            };
            self.trace.extend(line);
            match &a {
                Action::Spawn(i) => {
                    let pid = self.next_pid;
                    self.next_pid += 1;
                    self.seen.push(a.clone());
                    self.sup.handle(Event::Spawned { inst: *i, pid }, self.now);
                }
                Action::Log(n) => self.notes.push(n.clone()),
                Action::Exit(c) => self.exit = Some(*c),
                Action::SignalGroup { .. } | Action::RunHooks { .. } | Action::CancelHooks(_) => {
                    self.seen.push(a.clone())
                }
            }
        }
    }

    fn at(&mut self, t: Millis) {
        self.now = t;
        self.sup.handle_timeout(t);
        self.pump();
    }

    fn send(&mut self, ev: Event) {
        self.sup.handle(ev, self.now);
        self.pump();
    }

    fn exit(&mut self, inst: InstId, code: i32) {
        self.send(Event::Exited {
            inst,
            status: ExitStatus::Code(code),
            group_alive: false,
        });
    }

    fn state(&self, inst: InstId) -> State {
        self.sup.instance(inst).state
    }

    fn spawned(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|a| match a {
                Action::Spawn(i) => Some(self.sup.instance(*i).id.clone()),
                _ => None,
            })
            .collect()
    }

    fn signals(&self) -> Vec<(i32, i32)> {
        self.seen
            .iter()
            .filter_map(|a| match a {
                Action::SignalGroup { pgid, signal } => Some((*pgid, *signal)),
                _ => None,
            })
            .collect()
    }

    fn events(&self, name: &str) -> usize {
        self.notes.iter().filter(|n| n.event == name).count()
    }
}

/// The hook phases (a build without feature `hooks` has none: its configurations cannot
/// name a hook).
#[cfg(feature = "hooks")]
mod phases;

/// Commands come with the API, scheduled tasks with the scheduler.
#[cfg(any(feature = "api", feature = "scheduler"))]
mod commands;
mod forwarding;
mod reconfigure;
mod restart;
mod shutdown;
mod start;
