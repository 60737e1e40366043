//! The supervisor driven by a fake clock: every test is a script of events and the actions
//! and states they must produce.

use super::*;
use crate::config::model::ProcessSpec;
use crate::signal_policy::{Reload, SignalPolicy};

fn spec(name: &str, deps: &[usize]) -> ProcessSpec {
    ProcessSpec {
        depends_on: deps.to_vec(),
        ..ProcessSpec::for_tests(name)
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
    Config::for_tests(processes)
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
