//! Builds without feature `log-processing`: its keys are rejected by the key table before
//! validation gets here, so there is nothing to resolve.

use yaml_serde::Value;

use super::env::Applied;
use super::model::LogRules;
use super::raw::RawGlobal;
use super::{ConfigError, Ctx};

/// Nothing to carry.
#[derive(Clone)]
pub struct Settings;

pub fn global(_: &Ctx<'_>, _: &RawGlobal, _: &[Applied]) -> Result<Settings, ConfigError> {
    Ok(Settings)
}

pub fn process(
    _: &Ctx<'_>,
    _: &Settings,
    _: &str,
    _: Option<&Value>,
    _: &[Applied],
) -> Result<LogRules, ConfigError> {
    Ok(LogRules)
}

pub fn unowned(_: &Ctx<'_>, _: &Settings, _: &[Applied]) -> Result<LogRules, ConfigError> {
    Ok(LogRules)
}
