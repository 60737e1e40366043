//! Builds without feature `scheduler`: no process is ever a scheduled task (the key check has
//! already refused `schedule` and its companions by name), so there is nothing to validate.

use super::fields::Section;
use super::kind::ProcessKind;
use super::{ConfigError, Ctx};

/// Never built: a process of this build is never a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskSpec {}

impl TaskSpec {
    pub const fn kind(&self) -> ProcessKind {
        match *self {}
    }

    pub fn describe(&self) -> String {
        match *self {}
    }
}

pub(super) fn validate(
    _ctx: &Ctx<'_>,
    _name: &str,
    _p: &Section<'_>,
) -> Result<Option<TaskSpec>, ConfigError> {
    Ok(None)
}
