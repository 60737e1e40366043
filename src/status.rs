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
