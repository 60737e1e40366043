//! The validated configuration the rest of the program runs on: defaults filled in, names
//! resolved to indices, users to ids, signals to numbers, processes in start order. Also the
//! longest line of child output (`MAX_LINE`): the output cuts lines at it, and `log_limit` is
//! checked against it.

pub use super::kind::ProcessKind;
use crate::sys::spawn::Credentials;

/// How a process's output lines become records (feature `log-processing`: compiled rules
/// shared by its pipes); without the feature, only which streams are on (`PlainRules`).
#[cfg(feature = "log-processing")]
pub use crate::logproc::Shared as LogRules;
#[cfg(not(feature = "log-processing"))]
pub use PlainRules as LogRules;

/// The log rules of a build without log processing: every line of a stream that is on is a
/// plain record.
#[cfg(not(feature = "log-processing"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainRules {
    pub stdout: bool,
    pub stderr: bool,
}

#[cfg(not(feature = "log-processing"))]
impl Default for PlainRules {
    fn default() -> Self {
        PlainRules {
            stdout: true,
            stderr: true,
        }
    }
}

/// Longest line (bytes of child output) in one record. Here, below the output that cuts lines
/// at it, because the configuration is checked against it too (`log_limit`).
pub const MAX_LINE: usize = 16 * 1024;

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
    /// `audit_enabled`: every API action (who asked, what, the answer) becomes a log record
    /// with `"event":"audit"`. Parsed here; the HTTP server enforces it.
    pub audit: bool,
    /// `resource_metrics_*`: per-instance CPU and memory sampling for the metrics endpoint and
    /// the API. Parsed here; sampling is the observability work's to add.
    pub resource_metrics: ResourceMetrics,
    /// `max_process_scale`: the most instances a runtime scale may ask of any process.
    pub max_process_scale: u32,
}

/// `resource_metrics_enabled`, `_interval`, `_max_samples`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceMetrics {
    /// Off unless `resource_metrics_enabled: true` (the Go tool sampled by default; here the
    /// loop sleeps when nothing is due).
    pub enabled: bool,
    pub interval_ms: u64,
    /// Samples kept per instance (a ring buffer).
    pub max_samples: u32,
}

impl Default for ResourceMetrics {
    fn default() -> Self {
        ResourceMetrics {
            enabled: false,
            interval_ms: defaults::RESOURCE_METRICS_INTERVAL_MS,
            max_samples: defaults::RESOURCE_METRICS_MAX_SAMPLES,
        }
    }
}

/// `api_tls` / `metrics_tls`: the listener speaks HTTPS (feature `tls`). Files are read when
/// the listener starts; check-config only checks that they are there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: String,
    pub key_file: String,
    /// `ca_file`: CAs that client certificates must chain to (with `client_auth`).
    pub ca_file: Option<String>,
    pub client_auth: ClientAuth,
    /// Oldest protocol accepted: 12 or 13 (TLS 1.2 / 1.3; older ones are refused).
    pub min_version: u8,
    /// `auto_reload`: re-read the files this often (ms) so renewed certificates apply.
    pub reload_every: Option<u64>,
}

/// `client_auth` of a TLS listener (the Go tool's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    /// Ask for a certificate, accept without one.
    Request,
    /// Require one (any, unverified: the Go tool's `require`).
    Require,
    /// Require one that chains to `ca_file`.
    Verify,
}

impl ClientAuth {
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Request => "request",
            ClientAuth::Require => "require",
            ClientAuth::Verify => "verify",
        }
    }
}

/// `api_acl` / `metrics_acl`: which client addresses a listener serves. An entry that is not
/// an address or network is a configuration error: never "ACL off" (the Go tool's fail-open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    /// `allow`: only `allow_list` (minus `deny_list`) is served; `deny`: all but `deny_list`.
    pub allow_only: bool,
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
    /// `trust_proxy`: judge the first `X-Forwarded-For` address instead of the peer's.
    pub trust_proxy: bool,
}

// The ACL check of the HTTP servers (`reactor/http/access.rs`).
#[cfg(any(feature = "api", feature = "metrics"))]
impl Acl {
    /// Whether a client at `ip` is served (403 otherwise).
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        if self.deny.iter().any(|c| c.contains(ip)) {
            return false;
        }
        !self.allow_only || self.allow.iter().any(|c| c.contains(ip))
    }
}

/// An address or network: `10.0.0.0/8`, `192.168.1.100` (= /32), `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or network (10.0.0.0/8, ::1)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0-{max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is in this network (the ACL check of the HTTP servers).
    #[cfg(any(feature = "api", feature = "metrics"))]
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4 client seen on a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(i)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), self.prefix),
            _ => return false,
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(bits))
        };
        a & mask == b & mask
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
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
    /// `api_tls` (TCP only). Parsed here; the HTTP server serves it.
    pub tls: Option<TlsSettings>,
    /// `api_acl` (TCP only). Parsed here; the HTTP server enforces it.
    pub acl: Option<Acl>,
}

/// Where the Prometheus endpoint listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    pub addr: std::net::SocketAddr,
    /// `metrics_path`, starting with `/`.
    pub path: String,
    /// `metrics_tls`. Parsed here; the HTTP server serves it.
    pub tls: Option<TlsSettings>,
    /// `metrics_acl`. Parsed here; the HTTP server enforces it.
    pub acl: Option<Acl>,
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
    /// What the signals the manager receives (and reload requests) mean for it.
    pub signals: crate::signal_policy::SignalPolicy,
    /// `initial_state: stopped`: its instances exist but wait for a start request (API or
    /// `phpeek-pm start NAME`); they hold back no dependent.
    pub start_stopped: bool,
    /// The most instances a runtime scale may ask for (`max_scale`, capped by the global
    /// `max_process_scale`).
    pub max_scale: u32,
    /// `scale_locked: true`: runtime scale requests are refused.
    pub scale_locked: bool,
    /// `logging.labels`: static fields for every record of the process. Parsed here; the log
    /// output adds them (the observability work).
    pub labels: Vec<(String, String)>,
}

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

// Read by the probes of feature `health` (their metric label).
#[cfg(feature = "health")]
impl ProbeKind {
    pub const fn as_str(&self) -> &'static str {
        match self {
            ProbeKind::Tcp { .. } => "tcp",
            ProbeKind::Http { .. } => "http",
            ProbeKind::Exec { .. } => "exec",
        }
    }
}

/// What a health check's result is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthMode {
    /// Failures restart the instance; readiness does not wait for it.
    Liveness,
    /// Dependents wait for it; failures only mark the instance not ready.
    Readiness,
    Both,
}

impl HealthMode {
    pub const fn readiness(self) -> bool {
        matches!(self, HealthMode::Readiness | HealthMode::Both)
    }
    // Read by the probes of feature `health`.
    #[cfg(feature = "health")]
    pub const fn liveness(self) -> bool {
        matches!(self, HealthMode::Liveness | HealthMode::Both)
    }
}

/// A validated `health_check` (durations in milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSpec {
    pub probe: ProbeKind,
    pub initial_delay: u64,
    /// From the start: failures before the first pass do not count toward liveness.
    pub start_period: u64,
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

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookPhase {
    PreStart,
    PostStart,
    PreStop,
    PostStop,
}

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
    /// `serve --watch`: re-read the file when it changes (set from the command line).
    pub watch: bool,
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
    /// Runtime scale cap of every process unless `max_process_scale` says otherwise (the Go
    /// tool's default).
    pub const MAX_PROCESS_SCALE: u32 = 100;
    pub const RESOURCE_METRICS_INTERVAL_MS: u64 = 5_000;
    pub const RESOURCE_METRICS_MAX_SAMPLES: u32 = 720;
    pub const API_HOST: &str = "127.0.0.1";
    pub const API_PORT: u16 = 8080;
    pub const METRICS_HOST: &str = "0.0.0.0";
    pub const METRICS_PORT: u16 = 9090;
    pub const METRICS_PATH: &str = "/metrics";
    // Health checks: the original tool's defaults.
    pub const HEALTH_INITIAL_DELAY_MS: u64 = 5_000;
    /// Long enough for a slow Laravel boot (config cache, migrations checks, opcache warm-up).
    pub const HEALTH_START_PERIOD_MS: u64 = 30_000;
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

/// The unit tests' configuration: one fixture for every test that drives a supervisor.
#[cfg(test)]
mod fixtures {
    use super::*;

    impl ProcessSpec {
        /// A longrun running `true`, scale 1, restarted always, with its program's signal
        /// policy.
        pub fn for_tests(name: &str) -> ProcessSpec {
            let command = vec!["true".to_owned()];
            ProcessSpec {
                name: name.to_owned(),
                signals: crate::signal_policy::SignalPolicy::new(&command, None, vec![]),
                command,
                kind: ProcessKind::Longrun,
                priority: 0,
                depends_on: Vec::new(),
                scale: 1,
                restart: RestartPolicy::Always,
                env: Vec::new(),
                working_dir: None,
                credentials: None,
                critical: false,
                stop_signal: crate::sys::signals::SIGTERM,
                stop_timeout: 1_000,
                task: None,
                logging: Default::default(),
                health: None,
                hooks: Default::default(),
                start_stopped: false,
                max_scale: 1000,
                scale_locked: false,
                labels: Vec::new(),
            }
        }
    }

    impl Config {
        /// `processes` under short timings: a 10 s shutdown, backoff 100 ms to 1 s, stable
        /// after 5 s, no listeners.
        pub fn for_tests(processes: Vec<ProcessSpec>) -> Config {
            Config {
                path: None,
                global: Global {
                    shutdown_timeout: 10_000,
                    log_format: LogFormat::Json,
                    log_level: Level::Info,
                    backoff_initial: 100,
                    backoff_max: 1_000,
                    stable_after: 5_000,
                    max_restart_attempts: None,
                    dependency_timeout: None,
                    api: None,
                    metrics: None,
                    readiness: None,
                    autotune_memory_threshold: None,
                    framework_setup: true,
                    logging: Default::default(),
                    audit: false,
                    resource_metrics: Default::default(),
                    max_process_scale: 100,
                },
                processes,
                hooks: Default::default(),
                child_env: Vec::new(),
                watch: false,
            }
        }
    }
}
