//! Changing the set of processes and instances while the manager runs: scaling (an API
//! command) and the live configuration reload ([`super::Event::Reconfigure`]).
//!
//! A reload hands in the new running configuration and one [`Change`] per process (worked
//! out by `config::diff::plan`, which keeps process indices stable): changed processes
//! restart through the one graceful stop (`Then::Restart`), scaled ones add or retire
//! instances, removed ones stop gracefully and retire every instance (the process stays as a
//! tombstone: no instances, not listed), added ones get their instances, which start when
//! their dependencies are ready — the same dependency wait as at start-up. Unchanged
//! processes are not touched: their instances keep running and keep their pids.

use super::{InstId, Instance, Millis, Proc, ProcessKind, RestartReason, State, Supervisor, Then};
use crate::config::diff::Change;
use crate::config::model::{Config, Level, ProcessSpec};

impl Proc {
    /// The core's view of a process definition.
    pub(super) fn from_spec(p: &ProcessSpec) -> Proc {
        Proc {
            name: p.name.clone(),
            kind: p.kind,
            restart: p.restart,
            deps: p.depends_on.clone(),
            dependents: Vec::new(),
            instances: Vec::new(),
            critical: p.critical,
            stop_signal: p.stop_signal,
            stop_timeout: p.stop_timeout,
            desired_scale: p.scale,
            gated: p.kind == ProcessKind::Longrun
                && p.health.as_ref().is_some_and(|h| h.mode.readiness()),
            signals: p.signals.clone(),
            removed: false,
        }
    }

    /// Takes over a new definition, keeping the instances and the scale asked for.
    fn update(&mut self, p: &ProcessSpec) {
        let keep = (std::mem::take(&mut self.instances), self.desired_scale);
        *self = Proc::from_spec(p);
        (self.instances, self.desired_scale) = keep;
    }
}

impl Supervisor {
    /// Which processes are not removed (by index): what `config::diff::plan` needs.
    pub fn live_processes(&self) -> Vec<bool> {
        self.procs.iter().map(|p| !p.removed).collect()
    }

    /// Applies a configuration reload. `config` is the new running configuration (the old
    /// process indices, added ones appended); `changes` has one entry per process of it.
    pub(super) fn reconfigure(&mut self, config: &Config, changes: &[Change], now: Millis) {
        if self.shutting_down() || changes.len() != config.processes.len() {
            return;
        }
        // First who waits for whom, from the new definitions (every index exists before
        // anything settles); a removed process waits for nobody and nobody waits for it.
        for (i, (spec, &change)) in config.processes.iter().zip(changes).enumerate() {
            if i == self.procs.len() {
                let mut p = Proc::from_spec(spec);
                p.removed = true;
                p.desired_scale = 0;
                self.procs.push(p);
            }
            let gone = change == Change::Remove || (self.procs[i].removed && change != Change::Add);
            self.procs[i].deps = if gone {
                Vec::new()
            } else {
                spec.depends_on.clone()
            };
        }
        for p in &mut self.procs {
            p.dependents.clear();
        }
        for i in 0..self.procs.len() {
            for d in self.procs[i].deps.clone() {
                self.procs[d].dependents.push(i);
            }
        }
        self.phases.reconfigure(config);
        for (i, (spec, &change)) in config.processes.iter().zip(changes).enumerate() {
            match change {
                Change::Keep if !self.procs[i].removed => self.procs[i].update(spec),
                Change::Keep => {}
                Change::Restart => {
                    // The old instances stop with the old stop settings, then come back
                    // with the new definition.
                    for id in self.procs[i].instances.clone() {
                        self.stop_instance(id, Then::Restart(RestartReason::Manual), now);
                    }
                    self.procs[i].update(spec);
                    self.set_scale(i, spec.scale, now);
                }
                Change::Scale => {
                    self.procs[i].update(spec);
                    self.set_scale(i, spec.scale, now);
                }
                Change::Add => self.add_process(i, spec, now),
                Change::Remove => {
                    for id in self.procs[i].instances.clone() {
                        self.stop_instance(id, Then::Retire, now);
                    }
                    self.procs[i].removed = true;
                    self.procs[i].desired_scale = 0;
                }
            }
        }
        self.settle(now);
    }

    /// An added process and its instances, like at start-up: `initial_state: stopped` holds
    /// them down; the dependency timeout runs from now.
    fn add_process(&mut self, p: usize, spec: &ProcessSpec, now: Millis) {
        let deps = std::mem::take(&mut self.procs[p].deps);
        let dependents = std::mem::take(&mut self.procs[p].dependents);
        self.procs[p] = Proc::from_spec(spec);
        (self.procs[p].deps, self.procs[p].dependents) = (deps, dependents);
        if !spec.kind.supervised() {
            return;
        }
        for _ in 0..spec.scale {
            let id = self.new_instance(p);
            let inst = &mut self.insts[id];
            if spec.start_stopped {
                inst.state = State::Stopped;
                inst.held = true;
            } else if let Some(t) = self.limits.dependency_timeout {
                inst.deadline = Some(now + t);
            }
        }
        self.note(
            None,
            Level::Info,
            "process_added",
            format!("{} added ({} instance(s))", spec.name, spec.scale),
            vec![("process", super::Field::Str(spec.name.clone()))],
        );
    }

    /// Adds one instance to process `p` (runtime scale-up), named `<name>-<n>` with the lowest
    /// free `n`; a slot retired under the same name is reused, so repeated scaling
    /// does not grow memory. It starts when its dependencies are ready.
    fn add_instance(&mut self, p: usize, now: Millis) -> InstId {
        let id = self.new_instance(p);
        self.settle(now);
        id
    }

    /// A new instance of process `p`, waiting (see [`Supervisor::add_instance`]).
    fn new_instance(&mut self, p: usize) -> InstId {
        // The lowest number not in use (instances being retired still hold theirs).
        let taken = |id: &str| {
            self.procs[p]
                .instances
                .iter()
                .any(|&i| self.insts[i].id == id)
        };
        let id = (0..)
            .map(|n| format!("{}-{n}", self.procs[p].name))
            .find(|id| !taken(id))
            .unwrap_or_default();
        let slot = self
            .insts
            .iter()
            .position(|i| i.retired && i.process == p && i.id == id && !i.state.live());
        let inst = match slot {
            Some(s) => {
                self.insts[s] = Instance::new(p, id);
                s
            }
            None => {
                self.insts.push(Instance::new(p, id));
                self.insts.len() - 1
            }
        };
        self.procs[p].instances.push(inst);
        inst
    }

    /// Sets the number of instances of process `p`: adds `<name>-<n>` instances, or stops the
    /// highest-numbered ones gracefully and retires them.
    pub(super) fn set_scale(&mut self, p: usize, desired: u32, now: Millis) {
        // A scheduled task has no instances to scale.
        if !self.procs[p].kind.supervised() {
            return;
        }
        self.procs[p].desired_scale = desired;
        // Instances already on their way out do not count.
        let staying: Vec<InstId> = self.procs[p]
            .instances
            .iter()
            .copied()
            .filter(|&i| self.insts[i].then != Some(Then::Retire))
            .collect();
        if staying.len() < desired as usize {
            for _ in staying.len()..desired as usize {
                self.add_instance(p, now);
            }
        } else {
            for &i in staying.iter().skip(desired as usize).rev() {
                self.stop_instance(i, Then::Retire, now);
            }
        }
    }
}
