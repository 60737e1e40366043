//! The `global:` section: its key table and its parser, in named steps (logging, restarts,
//! listeners, compatibility with the Go tool's keys). Every problem is recorded in the context
//! and parsing goes on with the default, so one run reports them all.

use super::duration::Duration;
use super::fields::Section;
use super::model::{Global, Level, LogFormat, LogRules, ResourceMetrics, RestartPolicy, defaults};
use super::schema::Kind::*;
use super::schema::{Key, f, k};
use super::{Ctx, http};
use crate::features::Feature;

pub const KEYS: &[Key] = &[
    k("shutdown_timeout", Time),
    k("log_format", Str),
    k("log_level", Str),
    k("log_timestamps", Bool),
    k("restart_policy", Str),
    k("restart_backoff", Time),
    k("restart_backoff_initial", Time),
    k("restart_backoff_max", Time),
    k("restart_stable_after", Time),
    k("max_restart_attempts", Int),
    k("dependency_timeout", Time),
    k("max_process_scale", Int),
    // The Go tool's keys that have no work to do here (warned about, see `compat`).
    k("health_check_interval", Time),
    k("health_check_strict", Bool),
    k("process_start_timeout", Time),
    k("process_stop_timeout", Time),
    k("zombie_reap_interval", Time),
    k("schedule_history_size", Int),
    k("oneshot_history_max_entries", Int),
    k("oneshot_history_max_age", Time),
    k("tracing_enabled", Bool),
    k("tracing_exporter", Str),
    k("tracing_endpoint", Str),
    k("tracing_sample_rate", Float),
    k("tracing_service_name", Str),
    k("tracing_use_tls", Bool),
    // Feature `log-processing`.
    f("log_multiline_enabled", Bool, Feature::LogProcessing),
    k("log_multiline_pattern", Str),
    k("log_multiline_timeout", Any),
    k("log_multiline_max_lines", Int),
    f("log_redaction_enabled", Bool, Feature::LogProcessing),
    k("log_redaction_patterns", List),
    k("log_redaction_placeholder", Str),
    f("log_filter_enabled", Bool, Feature::LogProcessing),
    k("log_filter_level", Str),
    k("log_filter_patterns", List),
    // Features `metrics` and `api` (their keys are read in `http.rs`).
    f("metrics_enabled", Bool, Feature::Metrics),
    k("metrics_port", Int),
    k("metrics_path", Str),
    k("metrics_host", Str),
    k("metrics_tls", Section(http::TLS)),
    k("metrics_acl", Section(http::ACL)),
    f("api_enabled", Bool, Feature::Api),
    k("api_port", Int),
    k("api_host", Str),
    k("api_socket", Str),
    k("api_auth", Str),
    k("api_tls", Section(http::TLS)),
    k("api_acl", Section(http::ACL)),
    k("api_max_request_body", Int),
    k("audit_enabled", Bool),
    k("resource_metrics_enabled", Bool),
    k("resource_metrics_interval", Time),
    k("resource_metrics_max_samples", Int),
    // Feature `autotune`.
    f("autotune_memory_threshold", Float, Feature::Autotune),
    // Feature `health`: the container readiness file.
    f("readiness_file", Str, Feature::Health),
    f(
        "readiness",
        Section(super::health::READINESS),
        Feature::Health,
    ),
    // Feature `detect`.
    f("framework_setup", Bool, Feature::Detect),
];

/// Largest `resource_metrics_interval` and `_max_samples` (the Go tool's limits).
const MAX_RESOURCE_INTERVAL_MS: u64 = 3_600_000;
const MAX_RESOURCE_SAMPLES: i64 = 100_000;

/// The global section, checked; `None` fields of `Global` that later steps fill
/// (`readiness`) are left empty. Also returns the default restart policy of processes.
pub(super) fn parse(
    ctx: &Ctx<'_>,
    g: &Section<'_>,
    logging: LogRules,
) -> (Global, Option<RestartPolicy>) {
    let (log_format, log_level) = log_settings(ctx, g);
    let restarts = restarts(ctx, g);
    let (api, metrics) = ctx.keep(http::settings(ctx, g)).unwrap_or((None, None));
    compat(ctx, g);
    let global = Global {
        shutdown_timeout: ctx
            .keep(g.get::<Duration>("shutdown_timeout"))
            .flatten()
            .map_or(defaults::SHUTDOWN_TIMEOUT_MS, |d| d.ms()),
        log_format,
        log_level,
        backoff_initial: restarts.backoff_initial,
        backoff_max: restarts.backoff_max,
        stable_after: restarts.stable_after,
        max_restart_attempts: restarts.max_attempts,
        dependency_timeout: match ctx.keep(g.get::<Duration>("dependency_timeout")).flatten() {
            None => Some(defaults::DEPENDENCY_TIMEOUT_MS),
            Some(d) if d.ms() == 0 => None,
            Some(d) => Some(d.ms()),
        },
        logging,
        api,
        metrics,
        readiness: None,
        autotune_memory_threshold: memory_threshold(ctx, g),
        framework_setup: ctx.keep(g.get("framework_setup")).flatten().unwrap_or(true),
        audit: ctx.keep(g.get("audit_enabled")).flatten().unwrap_or(false),
        resource_metrics: resource_metrics(ctx, g),
        max_process_scale: max_process_scale(ctx, g),
    };
    (global, restarts.default_policy)
}

fn log_settings(ctx: &Ctx<'_>, g: &Section<'_>) -> (LogFormat, Level) {
    let format = match ctx.keep(g.get::<String>("log_format")).flatten().as_deref() {
        None | Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        Some(other) => {
            ctx.error(g.err(
                Some("log_format"),
                format!("log_format must be \"json\" or \"text\", not {other:?}"),
            ));
            LogFormat::Json
        }
    };
    let level = match ctx.keep(g.get::<String>("log_level")).flatten() {
        None => Level::Info,
        Some(s) => Level::parse(&s).unwrap_or_else(|| {
            ctx.error(g.err(
                Some("log_level"),
                format!("log_level must be one of debug, info, warn, error; not {s:?}"),
            ));
            Level::Info
        }),
    };
    (format, level)
}

struct Restarts {
    default_policy: Option<RestartPolicy>,
    backoff_initial: u64,
    backoff_max: u64,
    stable_after: u64,
    max_attempts: Option<u32>,
}

fn restarts(ctx: &Ctx<'_>, g: &Section<'_>) -> Restarts {
    let ms = |key: &str| ctx.keep(g.get::<Duration>(key)).flatten().map(Duration::ms);
    let default_policy = match ctx.keep(g.get::<String>("restart_policy")).flatten() {
        None => None,
        Some(s) => RestartPolicy::parse(&s).or_else(|| {
            ctx.error(g.err(
                Some("restart_policy"),
                format!("restart_policy must be always, on-failure or never; not {s:?}"),
            ));
            None
        }),
    };
    // The Go tool's legacy `restart_backoff: N` seeds initial N s and max 12·N s.
    let legacy = ms("restart_backoff");
    let backoff_initial = ms("restart_backoff_initial")
        .or(legacy)
        .unwrap_or(defaults::BACKOFF_INITIAL_MS);
    let backoff_max = ms("restart_backoff_max")
        .or(legacy.map(|l| l * 12))
        .unwrap_or(defaults::BACKOFF_MAX_MS)
        .max(backoff_initial);
    let max_attempts = match ctx.keep(g.get::<i64>("max_restart_attempts")).flatten() {
        None => None,
        Some(n) if n < 0 => None,
        Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
    };
    Restarts {
        default_policy,
        backoff_initial,
        backoff_max,
        stable_after: ms("restart_stable_after").unwrap_or(defaults::STABLE_AFTER_MS),
        max_attempts,
    }
}

fn memory_threshold(ctx: &Ctx<'_>, g: &Section<'_>) -> Option<u64> {
    match ctx
        .keep(g.get::<f64>("autotune_memory_threshold"))
        .flatten()
    {
        None => None,
        // Millionths; 0 = the profile's own share (as in the Go tool).
        Some(v) if (0.0..=defaults::MAX_MEMORY_THRESHOLD).contains(&v) => {
            Some((v * 1e6).round() as u64).filter(|ppm| *ppm > 0)
        }
        Some(v) => {
            ctx.error(g.err(
                Some("autotune_memory_threshold"),
                format!(
                    "autotune_memory_threshold must be from 0 to 1.0 (a share of the memory \
                     limit, e.g. 0.7; 0 = the profile's own), not {v}"
                ),
            ));
            None
        }
    }
}

fn resource_metrics(ctx: &Ctx<'_>, g: &Section<'_>) -> ResourceMetrics {
    let interval_ms = match ctx
        .keep(g.get::<Duration>("resource_metrics_interval"))
        .flatten()
    {
        None => defaults::RESOURCE_METRICS_INTERVAL_MS,
        Some(d) if (1_000..=MAX_RESOURCE_INTERVAL_MS).contains(&d.ms()) => d.ms(),
        Some(d) => {
            ctx.error(g.err(
                Some("resource_metrics_interval"),
                format!(
                    "resource_metrics_interval must be from 1 s to 1 h, not {} ms",
                    d.ms()
                ),
            ));
            defaults::RESOURCE_METRICS_INTERVAL_MS
        }
    };
    let max_samples = match ctx
        .keep(g.get::<i64>("resource_metrics_max_samples"))
        .flatten()
    {
        None => defaults::RESOURCE_METRICS_MAX_SAMPLES,
        Some(n) if (1..=MAX_RESOURCE_SAMPLES).contains(&n) => n as u32,
        Some(n) => {
            ctx.error(g.err(
                Some("resource_metrics_max_samples"),
                format!(
                    "resource_metrics_max_samples must be from 1 to {MAX_RESOURCE_SAMPLES}, not {n}"
                ),
            ));
            defaults::RESOURCE_METRICS_MAX_SAMPLES
        }
    };
    ResourceMetrics {
        enabled: ctx
            .keep(g.get("resource_metrics_enabled"))
            .flatten()
            .unwrap_or(false),
        interval_ms,
        max_samples,
    }
}

fn max_process_scale(ctx: &Ctx<'_>, g: &Section<'_>) -> u32 {
    match ctx.keep(g.get::<i64>("max_process_scale")).flatten() {
        None | Some(0) => defaults::MAX_PROCESS_SCALE,
        Some(n) if (1..=defaults::MAX_SCALE).contains(&n) => n as u32,
        Some(n) => {
            ctx.error(g.err(
                Some("max_process_scale"),
                format!(
                    "max_process_scale must be from 1 to {}, not {n}",
                    defaults::MAX_SCALE
                ),
            ));
            defaults::MAX_PROCESS_SCALE
        }
    }
}

/// The Go tool's global keys that have nothing to do here: accepted, each with one warning
/// saying what happens instead (only where the value asks for something we do not do).
fn compat(ctx: &Ctx<'_>, g: &Section<'_>) {
    let on = |key: &str| ctx.keep(g.get::<bool>(key)).flatten() == Some(true);
    let set = |key: &str| g.has(key);
    if on("tracing_enabled") {
        ctx.warn(
            g,
            "tracing_enabled",
            "OpenTelemetry tracing is not part of phpeek-pm: no spans are exported \
             (tracing_* keys are ignored); use the JSON logs (every start, exit, restart and \
             API action is a record with process, instance and pid) and the metrics endpoint",
        );
    }
    if ctx.keep(g.get::<bool>("log_timestamps")).flatten() == Some(false) {
        ctx.warn(
            g,
            "log_timestamps",
            "every record carries its time (\"time\" in JSON, the first column in text): \
             log_timestamps: false is ignored, as in the Go tool",
        );
    }
    let ignored: [(&str, &str); 7] = [
        (
            "health_check_interval",
            "each health_check has its own period; the global interval is not used (nor was \
             it by the Go tool)",
        ),
        (
            "process_start_timeout",
            "a process counts as started when it runs (or passes its readiness check); \
             dependents wait up to dependency_timeout. process_start_timeout is not used (nor \
             was it by the Go tool)",
        ),
        (
            "process_stop_timeout",
            "a stop through the API waits for each process's shutdown.timeout, then kills; \
             process_stop_timeout is not used",
        ),
        (
            "zombie_reap_interval",
            "orphans are reaped at once on SIGCHLD, with no polling interval: \
             zombie_reap_interval is not needed",
        ),
        (
            "schedule_history_size",
            "phpeek-pm keeps no run history: a task's last run is in GET \
             /api/v1/processes/NAME/schedule and the phpeek_pm_scheduled_task_* metrics, every \
             run is in the log; schedule_history_size is ignored",
        ),
        (
            "oneshot_history_max_entries",
            "phpeek-pm keeps no oneshot history: each run's exit is a log record and in the \
             process's status; oneshot_history_* is ignored",
        ),
        (
            "api_max_request_body",
            "the API refuses request bodies over 64 KiB (its commands are small JSON); \
             api_max_request_body is ignored",
        ),
    ];
    for (key, why) in ignored {
        if set(key) {
            ctx.warn(g, key, why);
        }
    }
    if set("oneshot_history_max_age") && !set("oneshot_history_max_entries") {
        ctx.warn(
            g,
            "oneshot_history_max_age",
            "phpeek-pm keeps no oneshot history: each run's exit is a log record and in the \
             process's status; oneshot_history_* is ignored",
        );
    }
    // Validated, but free of warnings: every check is validated before start-up here, which
    // is what the Go tool's health_check_strict asked for.
    let _ = ctx.keep(g.get::<bool>("health_check_strict"));
}
