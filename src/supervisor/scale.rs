//! The API's commands on whole processes (feature `api`): start a stopped process again, scale
//! it, and the checks that refuse a command before it is handed in.

use super::{Command, InstId, Instance, Millis, Phase, ProcessKind, Supervisor, Then};

/// Why a command cannot be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    ShuttingDown,
    /// Scheduled tasks have no instances: the scheduler runs them.
    ScheduledTask,
    /// A oneshot runs once: it cannot be scaled.
    OneshotScale,
}

impl Supervisor {
    /// Why `c` would be refused now, if it would.
    pub fn refusal(&self, c: &Command) -> Option<Refusal> {
        let p = match *c {
            Command::Stop(p) | Command::Start(p) | Command::Restart(p) => p,
            Command::Scale { process, .. } => process,
            #[cfg(feature = "health")]
            Command::Recover(_) => return None,
        };
        let kind = self.procs[p].kind;
        if !matches!(self.phase, Phase::Running) {
            Some(Refusal::ShuttingDown)
        } else if !kind.supervised() {
            Some(Refusal::ScheduledTask)
        } else if matches!(c, Command::Scale { .. }) && kind == ProcessKind::Oneshot {
            Some(Refusal::OneshotScale)
        } else {
            None
        }
    }

    /// Starts a stopped, exited or failed instance again (a held one too): it waits for its
    /// dependencies like at start-up, then spawns. Nothing happens if it is live already.
    pub(super) fn start_instance(&mut self, id: InstId, now: Millis) {
        let inst = &mut self.insts[id];
        if inst.retired || !inst.state.finished() {
            return;
        }
        inst.held = false;
        inst.attempts = 0;
        inst.deadline = None;
        inst.state = super::State::Waiting;
        self.settle(now);
    }

    /// Adds one instance to process `p` (runtime scale-up), named `<name>-<n>` with the lowest
    /// free `n`; a slot retired under the same name is reused, so repeated scaling
    /// does not grow memory. It starts when its dependencies are ready.
    fn add_instance(&mut self, p: usize, now: Millis) -> InstId {
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
        self.settle(now);
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

    /// The number of instances process `p` should have.
    pub fn desired_scale(&self, p: usize) -> u32 {
        self.procs[p].desired_scale
    }

    /// Index of a process by name.
    pub fn process_index(&self, name: &str) -> Option<usize> {
        self.procs.iter().position(|p| p.name == name)
    }
}
