//! The validated configuration the rest of the program runs on: defaults filled in, names
//! resolved to indices, users to ids, signals to numbers, processes in start order.

use crate::sys::spawn::Credentials;

/// How a process's output lines become records (feature `log-processing`: compiled rules
/// shared by its pipes); nothing at all in builds without the feature.
#[cfg(feature = "log-processing")]
pub use crate::logproc::Shared as LogRules;
#[cfg(not(feature = "log-processing"))]
pub use crate::output::PlainRules as LogRules;

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
    /// The management API (feature `api`), when `api_enabled: true`.
    pub api: Option<ApiSettings>,
    /// The Prometheus endpoint (feature `metrics`), when `metrics_enabled: true`.
    pub metrics: Option<MetricsSettings>,
    /// The container readiness file (feature `health`).
    pub readiness: Option<ReadinessSpec>,
    /// PHP-FPM auto-tuning's share of the memory limit, in millionths (feature `autotune`);
    /// `None` = the profile's own.
    pub autotune_memory_threshold: Option<u64>,
    /// Create the directories a detected framework needs (feature `detect`).
    pub framework_setup: bool,
    /// Log rules for output that belongs to no process (global hooks).
    pub logging: LogRules,
}

/// Where and how the management API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiSettings {
    /// TCP address (`api_host`:`api_port`); `None` when only the Unix socket is wanted.
    pub tcp: Option<std::net::SocketAddr>,
    /// Unix socket path (`api_socket`).
    pub socket: Option<String>,
    /// Bearer token (`api_auth`); `None` or empty = no authentication.
    pub auth: Option<String>,
    /// `api_acl` (TCP clients only).
    pub acl: Option<super::acl::Acl>,
    /// `api_tls` (feature `tls`; TCP only).
    pub tls: Option<TlsSettings>,
    /// `audit_enabled`: a record for every mutating or refused request.
    pub audit: bool,
    /// CPU and memory per instance (`resource_metrics_enabled`, on unless `false`).
    pub resources: bool,
    /// `resource_metrics_enabled: true`: sample every `interval` ms, keep `max_samples`.
    pub history: Option<HistorySettings>,
}

/// The sampled resource history of `GET /api/v1/metrics/history`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistorySettings {
    pub interval_ms: u64,
    pub max_samples: usize,
}

/// A listener's TLS (`api_tls`, `metrics_tls`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: String,
    pub key_file: String,
    /// Client certificates are asked for and verified against this CA (`client_auth`).
    pub client_ca: Option<String>,
    /// Client certificates are required (`client_auth: require` or `verify`).
    pub client_required: bool,
    /// `min_version: "TLS 1.3"`.
    pub tls13_only: bool,
}

/// Where the Prometheus endpoint listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    pub addr: std::net::SocketAddr,
    /// `metrics_path`, starting with `/`.
    pub path: String,
    /// `metrics_acl`.
    pub acl: Option<super::acl::Acl>,
    /// `metrics_tls` (feature `tls`).
    pub tls: Option<TlsSettings>,
    /// Per-instance CPU and memory series (`resource_metrics_enabled`, on unless `false`).
    pub resources: bool,
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
    /// Schedule and run settings of a scheduled task (kind `Task`); `None` otherwise.
    pub task: Option<super::task::TaskSpec>,
    /// How its output lines become records.
    pub logging: LogRules,
    /// Its health check (feature `health`; always `None` in builds without it).
    pub health: Option<HealthSpec>,
    /// Its own lifecycle hooks (feature `hooks`; always empty in builds without it).
    pub hooks: ProcessHooks,
}

#[cfg_attr(not(feature = "health"), allow(dead_code))]
/// How a probe reaches the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// Connect to `host:port`; success = the connection is accepted.
    Tcp { host: String, port: u16 },
    /// `GET http://host:port/path`; success = the status (and body) match.
    Http {
        host: String,
        port: u16,
        /// Path and query, as sent on the request line.
        path: String,
        /// `None` = any 2xx.
        expected_status: Option<u16>,
        expected_body: Option<String>,
    },
    /// Run argv in its own process group; success = exit 0.
    Exec { argv: Vec<String> },
}

#[cfg_attr(not(feature = "health"), allow(dead_code))]
impl ProbeKind {
    pub const fn as_str(&self) -> &'static str {
        match self {
            ProbeKind::Tcp { .. } => "tcp",
            ProbeKind::Http { .. } => "http",
            ProbeKind::Exec { .. } => "exec",
        }
    }
}

#[cfg_attr(not(feature = "health"), allow(dead_code))]
/// What a health check's result is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthMode {
    /// Failures restart the instance; readiness does not wait for it.
    Liveness,
    /// Dependents wait for it; failures only mark the instance not ready.
    Readiness,
    Both,
}

#[cfg_attr(not(feature = "health"), allow(dead_code))]
impl HealthMode {
    pub const fn readiness(self) -> bool {
        matches!(self, HealthMode::Readiness | HealthMode::Both)
    }
    pub const fn liveness(self) -> bool {
        matches!(self, HealthMode::Liveness | HealthMode::Both)
    }
}

/// A validated `health_check` (durations in milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSpec {
    pub probe: ProbeKind,
    pub initial_delay: u64,
    pub period: u64,
    pub timeout: u64,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub mode: HealthMode,
}

/// One hook: a command run to its end, with a deadline and retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookSpec {
    pub name: String,
    pub command: Vec<String>,
    /// Milliseconds per attempt.
    pub timeout: u64,
    /// Extra attempts after a failure.
    pub retry: u32,
    pub retry_delay: u64,
    pub continue_on_error: bool,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub credentials: Option<Credentials>,
}

#[cfg_attr(not(feature = "hooks"), allow(dead_code))]
/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookPhase {
    PreStart,
    PostStart,
    PreStop,
    PostStop,
}

#[cfg_attr(not(feature = "hooks"), allow(dead_code))]
impl HookPhase {
    /// The metric label (`type`) and log name.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookPhase::PreStart => "pre_start",
            HookPhase::PostStart => "post_start",
            HookPhase::PreStop => "pre_stop",
            HookPhase::PostStop => "post_stop",
        }
    }
}

/// Hook lists by phase (global, or one process's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookSet {
    pub pre_start: Vec<HookSpec>,
    pub post_start: Vec<HookSpec>,
    pub pre_stop: Vec<HookSpec>,
    pub post_stop: Vec<HookSpec>,
}

#[cfg_attr(not(feature = "hooks"), allow(dead_code))]
impl HookSet {
    pub fn get(&self, phase: HookPhase) -> &[HookSpec] {
        match phase {
            HookPhase::PreStart => &self.pre_start,
            HookPhase::PostStart => &self.post_start,
            HookPhase::PreStop => &self.pre_stop,
            HookPhase::PostStop => &self.post_stop,
        }
    }
    pub fn get_mut(&mut self, phase: HookPhase) -> &mut Vec<HookSpec> {
        match phase {
            HookPhase::PreStart => &mut self.pre_start,
            HookPhase::PostStart => &mut self.post_start,
            HookPhase::PreStop => &mut self.pre_stop,
            HookPhase::PostStop => &mut self.post_stop,
        }
    }
}

/// A process's hooks, and how its pre-stop hook combines with the stop signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessHooks {
    pub set: HookSet,
    /// After the pre-stop hooks, wait up to `shutdown.timeout` for the process to exit on its
    /// own before sending the stop signal (`shutdown.wait_for_exit`, default true).
    pub wait_for_exit: bool,
}

impl Default for ProcessHooks {
    fn default() -> Self {
        ProcessHooks {
            set: HookSet::default(),
            wait_for_exit: true,
        }
    }
}

#[cfg_attr(not(feature = "health"), allow(dead_code))]
/// When the readiness file says "ready".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadinessMode {
    /// Every tracked longrun instance is ready (passed its readiness check, if any).
    AllHealthy,
    /// Every tracked longrun instance runs.
    AllRunning,
}

/// `global.readiness` / `global.readiness_file` (feature `health`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadinessSpec {
    pub path: String,
    pub mode: ReadinessMode,
    /// File content; `None` = `ready\ntimestamp=<unix>\n`.
    pub content: Option<String>,
    /// Indices of the processes it tracks; empty = every longrun.
    pub processes: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file it came from; `None` when defined by environment variables alone.
    pub path: Option<String>,
    pub global: Global,
    /// Enabled processes, in start order (dependencies before dependents).
    pub processes: Vec<ProcessSpec>,
    /// Global lifecycle hooks (feature `hooks`; empty in builds without it).
    pub hooks: HookSet,
    /// Variables every child gets on top of the manager's own environment (and below its
    /// process `env`): what start-up computed, e.g. auto-tuning's `PHP_FPM_*`.
    pub child_env: Vec<(String, String)>,
}

#[cfg_attr(not(all(feature = "health", feature = "hooks")), allow(dead_code))]
pub mod defaults {
    pub const SHUTDOWN_TIMEOUT_MS: u64 = 30_000;
    pub const STOP_TIMEOUT_MS: u64 = 30_000;
    pub const BACKOFF_INITIAL_MS: u64 = 5_000;
    pub const BACKOFF_MAX_MS: u64 = 60_000;
    pub const STABLE_AFTER_MS: u64 = 30_000;
    pub const DEPENDENCY_TIMEOUT_MS: u64 = 300_000;
    /// Most instances one process may have.
    pub const MAX_SCALE: i64 = 1000;
    pub const API_HOST: &str = "127.0.0.1";
    pub const API_PORT: u16 = 8080;
    pub const METRICS_HOST: &str = "0.0.0.0";
    pub const METRICS_PORT: u16 = 9090;
    pub const METRICS_PATH: &str = "/metrics";
    // Health checks: the original tool's defaults.
    pub const HEALTH_INITIAL_DELAY_MS: u64 = 5_000;
    pub const HEALTH_PERIOD_MS: u64 = 10_000;
    pub const HEALTH_TIMEOUT_MS: u64 = 3_000;
    pub const HEALTH_FAILURE_THRESHOLD: u32 = 3;
    pub const HEALTH_SUCCESS_THRESHOLD: u32 = 1;
    pub const READINESS_PATH: &str = "/tmp/phpeek-ready";
    // Hooks.
    pub const HOOK_TIMEOUT_MS: u64 = 30_000;
    /// Largest `autotune_memory_threshold`: a pool planned for more than the memory limit can
    /// never pass auto-tuning's safety check.
    pub const MAX_MEMORY_THRESHOLD: f64 = 1.0;
}
