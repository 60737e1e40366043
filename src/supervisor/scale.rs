//! The API's commands on whole processes (feature `api`): start a stopped process again, and
//! the checks that refuse a command before it is handed in. (Scaling itself is shared with the
//! live reload: `reconfigure.rs`.)

use super::{Command, InstId, Millis, Phase, ProcessKind, Supervisor};

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
            Command::Scale { process, .. } | Command::Reload(Some(process)) => process,
            Command::Reload(None) if !matches!(self.phase, Phase::Running) => {
                return Some(Refusal::ShuttingDown);
            }
            Command::Reload(None) => return None,
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

    /// The number of instances process `p` should have.
    pub fn desired_scale(&self, p: usize) -> u32 {
        self.procs[p].desired_scale
    }

    /// Index of a process by name.
    pub fn process_index(&self, name: &str) -> Option<usize> {
        self.procs.iter().position(|p| p.name == name && !p.removed)
    }
}
