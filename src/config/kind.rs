//! What kind a process is: long-running, run once, or scheduled (feature `scheduler`). Part of
//! the model (`model::ProcessKind`); its own file so that the task validation (`task.rs`,
//! which makes the scheduled kind) does not import the model that holds the task.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessKind {
    /// Runs for the life of the container; restarted per its policy.
    Longrun,
    /// Runs once to completion; dependents wait for it to exit 0.
    Oneshot,
    /// Runs at the times of its `schedule`, by the scheduler: never an instance of the
    /// supervisor, and nobody waits for it.
    #[cfg(feature = "scheduler")]
    Task,
}

impl ProcessKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Longrun => "longrun",
            ProcessKind::Oneshot => "oneshot",
            #[cfg(feature = "scheduler")]
            ProcessKind::Task => "scheduled",
        }
    }

    /// Whether the supervisor runs and keeps its instances. A scheduled task is not
    /// supervised: it has no instances, holds back no dependent, and keeps the manager running.
    pub const fn supervised(self) -> bool {
        match self {
            ProcessKind::Longrun | ProcessKind::Oneshot => true,
            #[cfg(feature = "scheduler")]
            ProcessKind::Task => false,
        }
    }
}
