//! The API's commands on a scheduled task (`POST …/schedule/trigger`, `/pause`, `/resume`).

use super::{Gate, Level, Scheduler, TaskId, Trigger, TriggerError, next_fields};

impl TriggerError {
    pub const fn as_str(self) -> &'static str {
        match self {
            TriggerError::Busy => "the task is already running (schedule_max_concurrent reached)",
            TriggerError::NotReady => "the task is waiting for its dependencies",
            TriggerError::ShuttingDown => "the manager is shutting down",
        }
    }
}

impl Scheduler {
    /// Starts a run now, outside the schedule (API `schedule/trigger`). Returns its number.
    pub fn trigger(&mut self, id: TaskId, wall: i64) -> Result<u64, TriggerError> {
        if self.shutting_down {
            return Err(TriggerError::ShuttingDown);
        }
        if self.tasks[id].gate != Gate::Armed {
            return Err(TriggerError::NotReady);
        }
        self.fire(id, Trigger::Manual, wall)
    }

    /// Stops starting runs on schedule (a run going on finishes). Returns false if it was
    /// already paused.
    pub fn pause(&mut self, id: TaskId) -> bool {
        let was = std::mem::replace(&mut self.tasks[id].paused, true);
        if !was {
            self.note(
                id,
                None,
                Level::Info,
                "task_paused",
                "task paused".into(),
                vec![],
            );
        }
        !was
    }

    /// Resumes a paused task from its next fire time (missed times are not made up).
    pub fn resume(&mut self, id: TaskId) -> bool {
        let was = std::mem::replace(&mut self.tasks[id].paused, false);
        if was {
            let fields = next_fields(self.tasks[id].next_fire);
            self.note(
                id,
                None,
                Level::Info,
                "task_resumed",
                "task resumed".into(),
                fields,
            );
        }
        was
    }
}
