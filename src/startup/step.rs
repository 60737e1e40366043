//! What a start-up step takes and gives: the request (`Request`: the configuration, the
//! command-line choices, the manager's environment), what the steps produce (`Prepared`,
//! with the facts for the status snapshot, `Report`), and why start-up stops (`Failure`).
//!
//! Plain types, apart from the list of steps: the features' steps (detect, autotune) import
//! this file, the list (`mod.rs`) imports the steps, and nothing here imports either.

use crate::config::model::Config;
use crate::supervisor::Note;

/// What a step gets to work with.
// A build without any start-up feature has no step to read it.
#[allow(dead_code)]
pub struct Request<'a> {
    pub config: &'a Config,
    /// `--php-fpm-profile`.
    pub php_fpm_profile: Option<&'a str>,
    /// `--autotune-memory-threshold`.
    pub memory_threshold: Option<&'a str>,
    /// The manager's environment.
    pub env: &'a [(String, String)],
    /// `--dry-run`: decide and describe, change nothing on disk.
    pub dry_run: bool,
}

/// What the steps produced.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Variables added to every child's environment (on top of the manager's own).
    pub env: Vec<(String, String)>,
    /// Log events, emitted right after the manager's "starting" event.
    pub notes: Vec<Note>,
    /// The `--dry-run` description, one section per step.
    pub text: String,
    pub report: Report,
}

/// Start-up cannot go on: print `msg`, exit with `code` (INTERFACE.md's codes).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub msg: String,
}

/// Facts found at start-up, for the status snapshot (API, metrics). Plain data: renderers
/// read it through `startup::report()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `laravel`, `symfony`, `wordpress` or `generic`; `None` when detection is not built.
    pub framework: Option<&'static str>,
    /// The PHP-FPM pool auto-tuning chose; `None` when it did not run.
    pub autotune: Option<PoolReport>,
}

/// The auto-tuning result as the status snapshot shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolReport {
    pub profile: &'static str,
    /// The values in effect (a user-set variable where one was set), by variable name.
    pub vars: Vec<(&'static str, String)>,
    /// Variables whose value the user set instead of the computed one.
    pub user_set: Vec<&'static str>,
    pub memory_bytes: u64,
    pub memory_source: String,
    /// CPUs in thousandths.
    pub cpu_millis: u64,
    pub cpu_source: String,
}
