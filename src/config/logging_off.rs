//! Builds without feature `log-processing`: the `logging` block and the global `log_*` keys
//! are refused by the key table before validation gets here; only the Go tool's shorthand
//! `stdout`/`stderr` of a process remains, and a switched-off stream is discarded.

use yaml_serde::Value;

use super::env::Applied;
use super::fields::Section;
use super::model::LogRules;
use super::schema::Kind;
use super::{ConfigError, Ctx};

/// The block is held as written; the key table refuses it by name.
pub const KIND: Kind = Kind::Any;

/// Nothing to carry.
#[derive(Clone)]
pub struct Settings;

pub fn global(_: &Ctx<'_>, _: &Section<'_>, _: &[Applied]) -> Result<Settings, ConfigError> {
    Ok(Settings)
}

pub fn process(
    _: &Ctx<'_>,
    _: &Settings,
    _: &str,
    _: Option<&Value>,
    _: &[Applied],
    streams: (Option<bool>, Option<bool>),
) -> Result<LogRules, ConfigError> {
    Ok(LogRules {
        stdout: streams.0.unwrap_or(true),
        stderr: streams.1.unwrap_or(true),
    })
}

pub fn labels(
    _: &Ctx<'_>,
    _: &str,
    _: Option<&Value>,
    _: &[Applied],
) -> Result<Vec<(String, String)>, ConfigError> {
    Ok(Vec::new())
}

pub fn unowned(_: &Ctx<'_>, _: &Settings, _: &[Applied]) -> Result<LogRules, ConfigError> {
    Ok(LogRules::default())
}
