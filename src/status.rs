//! The status snapshot: one read-only picture of the manager that the API renders as JSON and
//! `/metrics` as Prometheus text, so the two can never disagree. The supervisor fills the core
//! part ([`crate::supervisor::Supervisor::snapshot`]); each feature adds its own part (health
//! per instance, hook and task counters) from its component's read-only accessors.
//!
//! Times are wall-clock Unix seconds (what clients and Prometheus want); durations are seconds
//! or milliseconds as the field name says.

// Only the renderers (features api, metrics) read a snapshot's fields; every other build fills
// them for nothing, and which fields a build reads differs with its features.

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub manager: ManagerView,
    pub processes: Vec<ProcessView>,
    pub hooks: Vec<HookView>,
    pub tasks: Vec<TaskView>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagerView {
    pub version: &'static str,
    pub pid: i32,
    pub start_time_unix: f64,
    pub shutting_down: bool,
    /// Framework found by the `detect` feature.
    pub framework: Option<String>,
    /// `PHP_FPM_*` variables computed by the `autotune` feature.
    pub autotune: Option<Vec<(String, String)>>,
    /// The manager's own CPU and memory, when resource figures are on.
    pub own: Option<OwnView>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessView {
    pub name: String,
    /// `longrun` or `oneshot`.
    pub kind: &'static str,
    /// The most active state among its instances (see `Supervisor::snapshot`).
    pub state: &'static str,
    pub desired_scale: u32,
    /// Restarts of all its instances by reason (`exit`, `health_check`, `manual`).
    pub restarts_by_reason: Vec<(&'static str, u64)>,
    pub instances: Vec<InstanceView>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceView {
    pub id: String,
    pub state: &'static str,
    pub pid: Option<i32>,
    pub started_at_unix: Option<f64>,
    pub restart_count: u32,
    /// Exit code of its last run; `128 + n` when signal n killed it.
    pub last_exit_code: Option<i32>,
    pub ready: bool,
    pub health: Option<HealthView>,
    /// CPU and memory of its process group, when resource figures are on.
    pub usage: Option<UsageView>,
    /// Its PHP-FPM pools' status pages (php-fpm with `pm.status_path`), asked for this
    /// snapshot; empty for everything else.
    pub pools: Vec<PoolView>,
}

/// One PHP-FPM pool's status page (the numbers of php-fpm's `?json` page).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolView {
    pub pool: String,
    /// The page answered within the timeout (else every number is 0).
    pub up: bool,
    pub accepted_conn: u64,
    pub listen_queue: u64,
    pub max_listen_queue: u64,
    pub listen_queue_len: u64,
    pub idle_processes: u64,
    pub active_processes: u64,
    pub total_processes: u64,
    pub max_active_processes: u64,
    pub max_children_reached: u64,
    pub slow_requests: u64,
}

/// An instance's process group (or the manager itself), read from `/proc` for this snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UsageView {
    /// User + system CPU time, seconds (a counter).
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// Live processes in the group.
    pub processes: u32,
}

/// The manager's own figures (the standard `process_*` series).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OwnView {
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    pub vsize_bytes: u64,
    pub open_fds: u32,
    pub max_fds: u64,
    pub threads: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthView {
    /// `unknown`, `healthy` or `unhealthy`.
    pub status: &'static str,
    /// `tcp`, `http` or `exec`.
    pub kind: &'static str,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HookView {
    pub name: String,
    /// `pre_start`, `post_start`, `pre_stop`, `post_stop` (the `type` label of the original
    /// tool's hook metrics).
    pub phase: &'static str,
    /// The process of a per-process hook; `None` for a global hook.
    pub process: Option<String>,
    pub success: u64,
    pub failure: u64,
    pub timeout: u64,
    pub duration_sum_s: f64,
    /// Cumulative histogram buckets: (upper bound in seconds, runs at or below it).
    pub duration_buckets: Vec<(f64, u64)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskView {
    pub name: String,
    pub schedule: String,
    pub paused: bool,
    pub running: u32,
    pub runs: u64,
    pub successes: u64,
    pub failures: u64,
    pub skips: u64,
    pub last_exit_code: Option<i32>,
    pub last_run_unix: Option<f64>,
    pub next_run_unix: Option<f64>,
    pub last_duration_s: Option<f64>,
}
