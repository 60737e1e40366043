//! The validated configuration the rest of the program runs on: defaults filled in, names
//! resolved to indices, users to ids, signals to numbers, processes in start order.

use crate::sys::spawn::Credentials;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessKind {
    /// Runs for the life of the container; restarted per its policy.
    Longrun,
    /// Runs once to completion; dependents wait for it to exit 0.
    Oneshot,
}

impl ProcessKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Longrun => "longrun",
            ProcessKind::Oneshot => "oneshot",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Option<RestartPolicy> {
        match s {
            "always" => Some(RestartPolicy::Always),
            "on-failure" | "on_failure" => Some(RestartPolicy::OnFailure),
            "never" | "no" => Some(RestartPolicy::Never),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        }
    }
}

/// Settings that apply to the whole manager. Durations are milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    pub shutdown_timeout: u64,
    pub log_format: LogFormat,
    pub log_level: Level,
    pub backoff_initial: u64,
    pub backoff_max: u64,
    /// A run at least this long resets the backoff and the attempt count.
    pub stable_after: u64,
    /// `None` = unlimited restarts.
    pub max_restart_attempts: Option<u32>,
    /// How long a process waits for its dependencies; `None` = forever.
    pub dependency_timeout: Option<u64>,
    /// PHP-FPM auto-tuning's share of the memory limit, in millionths (feature `autotune`);
    /// `None` = the profile's own.
    pub autotune_memory_threshold: Option<u64>,
    /// Create the directories a detected framework needs (feature `detect`).
    pub framework_setup: bool,
}

/// One process definition (a program and how to run it), possibly several instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    pub name: String,
    pub command: Vec<String>,
    pub kind: ProcessKind,
    pub priority: i32,
    /// Indices into `Config::processes`.
    pub depends_on: Vec<usize>,
    pub scale: u32,
    pub restart: RestartPolicy,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub credentials: Option<Credentials>,
    pub critical: bool,
    pub stop_signal: i32,
    pub stop_timeout: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file it came from; `None` when defined by environment variables alone.
    pub path: Option<String>,
    pub global: Global,
    /// Enabled processes, in start order (dependencies before dependents).
    pub processes: Vec<ProcessSpec>,
    /// Variables every child gets on top of the manager's own environment (and below its
    /// process `env`): what start-up computed, e.g. auto-tuning's `PHP_FPM_*`.
    pub child_env: Vec<(String, String)>,
}

pub mod defaults {
    pub const SHUTDOWN_TIMEOUT_MS: u64 = 30_000;
    pub const STOP_TIMEOUT_MS: u64 = 30_000;
    pub const BACKOFF_INITIAL_MS: u64 = 5_000;
    pub const BACKOFF_MAX_MS: u64 = 60_000;
    pub const STABLE_AFTER_MS: u64 = 30_000;
    pub const DEPENDENCY_TIMEOUT_MS: u64 = 300_000;
    /// Most instances one process may have.
    pub const MAX_SCALE: i64 = 1000;
    /// Largest `autotune_memory_threshold`: a pool planned for more than the memory limit can
    /// never pass auto-tuning's safety check.
    pub const MAX_MEMORY_THRESHOLD: f64 = 1.0;
}
