//! The Prometheus endpoint: the status snapshot rendered in the text exposition format 0.0.4,
//! written by hand (no client library). Every family has `# HELP` and `# TYPE` lines; counters
//! end in `_total`, durations are seconds, histograms have `_bucket` (cumulative, ending at
//! `+Inf`), `_sum` and `_count`; label values are escaped.
//!
//! Values are read from the one snapshot the API also renders, at the moment of the scrape,
//! so `phpeek_pm_process_up` is the supervisor's state, not a counter kept on the side. Series
//! of features (health, hooks, scheduled tasks) appear when the snapshot carries them.

use crate::http::{Method, Request, Response};

/// Content type of the text exposition format 0.0.4.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
use crate::status::{HookView, Snapshot};

/// Answers a request to the metrics listener; `body` renders the exposition (see [`render`]).
pub fn handle(req: &Request, path: &str, body: impl FnOnce() -> Vec<u8>) -> Response {
    if req.path != path {
        return Response::error(404, "not found: metrics are served at the configured path");
    }
    if !matches!(req.method, Method::Get | Method::Head) {
        return Response::error(405, "method not allowed: use GET")
            .header("Allow", "GET, HEAD".into());
    }
    Response::new(200, PROMETHEUS, body())
}

/// One metric family being written: its name, and the label pairs of each sample.
struct Family<'a> {
    out: &'a mut Vec<u8>,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut Vec<u8>, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(help.as_bytes());
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(kind.as_bytes());
        out.push(b'\n');
        Family { out, name }
    }

    /// One sample of this family: `name{labels} value`.
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.sample_suffixed("", labels, value);
    }

    fn sample_suffixed(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let o = &mut *self.out;
        o.extend_from_slice(self.name.as_bytes());
        o.extend_from_slice(suffix.as_bytes());
        if !labels.is_empty() {
            o.push(b'{');
            for (n, (k, v)) in labels.iter().enumerate() {
                if n > 0 {
                    o.push(b',');
                }
                o.extend_from_slice(k.as_bytes());
                o.extend_from_slice(b"=\"");
                escape_label(o, v);
                o.push(b'"');
            }
            o.push(b'}');
        }
        o.push(b' ');
        push_value(o, value);
        o.push(b'\n');
    }
}

/// Label value escaping of the text format: backslash, double quote and line feed.
fn escape_label(out: &mut Vec<u8>, v: &str) {
    for &b in v.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// A sample value: integers without a fraction, others as Rust's shortest round-trip form.
fn push_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        if v < 0.0 {
            out.push(b'-');
        }
        crate::http::push_num(out, v.abs() as u64);
    } else if v.abs() >= 1e15 || v.abs() < 1e-6 {
        // Display never uses an exponent: 1e300 would be 301 digits.
        out.extend_from_slice(format!("{v:e}").as_bytes());
    } else {
        out.extend_from_slice(v.to_string().as_bytes());
    }
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Writes every series of the snapshot.
pub fn render(s: &Snapshot, out: &mut Vec<u8>) {
    let m = &s.manager;
    Family::new(
        out,
        "phpeek_pm_build_info",
        "gauge",
        "Build information (always 1).",
    )
    .sample(&[("version", m.version)], 1.0);
    Family::new(
        out,
        "phpeek_pm_manager_start_time_seconds",
        "gauge",
        "Unix time the manager started, in seconds.",
    )
    .sample(&[], m.start_time_unix);
    Family::new(
        out,
        "phpeek_pm_manager_processes",
        "gauge",
        "Configured processes and scheduled tasks.",
    )
    .sample(&[], (s.processes.len() + s.tasks.len()) as f64);
    Family::new(
        out,
        "phpeek_pm_manager_shutting_down",
        "gauge",
        "1 while the manager is shutting down.",
    )
    .sample(&[], bool_value(m.shutting_down));

    let mut f = Family::new(
        out,
        "phpeek_pm_process_up",
        "gauge",
        "1 if the instance has a running process, else 0.",
    );
    for p in &s.processes {
        for i in &p.instances {
            f.sample(
                &[("name", &p.name), ("instance", &i.id)],
                bool_value(i.pid.is_some()),
            );
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_process_ready",
        "gauge",
        "1 if the instance is ready (a longrun running and healthy, a oneshot completed).",
    );
    for p in &s.processes {
        for i in &p.instances {
            f.sample(
                &[("name", &p.name), ("instance", &i.id)],
                bool_value(i.ready),
            );
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_process_start_time_seconds",
        "gauge",
        "Unix time the instance's current process started, in seconds.",
    );
    for p in &s.processes {
        for i in &p.instances {
            if let Some(t) = i.started_at_unix {
                f.sample(&[("name", &p.name), ("instance", &i.id)], t);
            }
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_process_last_exit_code",
        "gauge",
        "Exit code of the instance's last run (128+n when killed by signal n).",
    );
    for p in &s.processes {
        for i in &p.instances {
            if let Some(c) = i.last_exit_code {
                f.sample(&[("name", &p.name), ("instance", &i.id)], f64::from(c));
            }
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_process_restarts_total",
        "counter",
        "Restarts of the process's instances by reason (exit, health_check, manual).",
    );
    for p in &s.processes {
        for (reason, n) in &p.restarts_by_reason {
            f.sample(&[("name", &p.name), ("reason", reason)], *n as f64);
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_process_desired_scale",
        "gauge",
        "Instances the process should have.",
    );
    for p in &s.processes {
        f.sample(&[("name", &p.name)], f64::from(p.desired_scale));
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_process_current_scale",
        "gauge",
        "Instances of the process that have a running process now.",
    );
    for p in &s.processes {
        let up = p.instances.iter().filter(|i| i.pid.is_some()).count();
        f.sample(&[("name", &p.name)], up as f64);
    }
    render_health(s, out);
    render_hooks(&s.hooks, out);
    render_tasks(s, out);
    render_usage(s, out);
    render_pools(s, out);
}

/// PHP-FPM pools' status pages, asked by the manager for this scrape, and autotune's
/// `pm.max_children` beside them.
fn render_pools(s: &Snapshot, out: &mut Vec<u8>) {
    let pools = || {
        s.processes.iter().flat_map(|p| {
            p.instances.iter().flat_map(move |i| {
                i.pools
                    .iter()
                    .map(move |v| (p.name.as_str(), i.id.as_str(), v))
            })
        })
    };
    if pools().next().is_some() {
        type Get = fn(&crate::status::PoolView) -> f64;
        let series: [(&str, &str, &str, Get); 10] = [
            (
                "phpeek_pm_fpm_up",
                "gauge",
                "1 if the pool's status page answered this scrape.",
                |v| bool_value(v.up),
            ),
            (
                "phpeek_pm_fpm_active_processes",
                "gauge",
                "Workers serving a request.",
                |v| v.active_processes as f64,
            ),
            (
                "phpeek_pm_fpm_idle_processes",
                "gauge",
                "Workers waiting for a request.",
                |v| v.idle_processes as f64,
            ),
            (
                "phpeek_pm_fpm_total_processes",
                "gauge",
                "Workers of the pool.",
                |v| v.total_processes as f64,
            ),
            (
                "phpeek_pm_fpm_listen_queue",
                "gauge",
                "Connections waiting for a free worker.",
                |v| v.listen_queue as f64,
            ),
            (
                "phpeek_pm_fpm_max_listen_queue",
                "gauge",
                "Most connections that ever waited for a free worker.",
                |v| v.max_listen_queue as f64,
            ),
            (
                "phpeek_pm_fpm_listen_queue_length",
                "gauge",
                "Size of the pool's socket backlog.",
                |v| v.listen_queue_len as f64,
            ),
            (
                "phpeek_pm_fpm_max_children_reached_total",
                "counter",
                "Times the pool hit pm.max_children.",
                |v| v.max_children_reached as f64,
            ),
            (
                "phpeek_pm_fpm_accepted_connections_total",
                "counter",
                "Requests the pool accepted.",
                |v| v.accepted_conn as f64,
            ),
            (
                "phpeek_pm_fpm_slow_requests_total",
                "counter",
                "Requests slower than request_slowlog_timeout.",
                |v| v.slow_requests as f64,
            ),
        ];
        for (name, kind, help, get) in series {
            let mut f = Family::new(out, name, kind, help);
            for (p, i, v) in pools() {
                f.sample(&[("name", p), ("instance", i), ("pool", &v.pool)], get(v));
            }
        }
    }
    let max_children = s
        .manager
        .autotune
        .iter()
        .flatten()
        .find(|(k, _)| k == "PHP_FPM_MAX_CHILDREN");
    if let Some(n) = max_children.and_then(|(_, v)| v.parse::<f64>().ok()) {
        Family::new(
            out,
            "phpeek_pm_fpm_autotune_max_children",
            "gauge",
            "pm.max_children computed by autotune (PHP_FPM_MAX_CHILDREN).",
        )
        .sample(&[], n);
    }
}

/// CPU and memory per instance (its whole process group) and the manager's own standard
/// `process_*` series, when the snapshot carries them (`resource_metrics_enabled` not false).
fn render_usage(s: &Snapshot, out: &mut Vec<u8>) {
    let with_usage = || {
        s.processes.iter().flat_map(|p| {
            p.instances
                .iter()
                .filter_map(move |i| Some((p.name.as_str(), i.id.as_str(), i.usage?)))
        })
    };
    if with_usage().next().is_some() {
        let mut f = Family::new(
            out,
            "phpeek_pm_process_cpu_seconds_total",
            "counter",
            "User and system CPU time of the instance's process group (leader and the processes it forked), in seconds.",
        );
        for (p, i, u) in with_usage() {
            f.sample(&[("name", p), ("instance", i)], u.cpu_seconds);
        }
        let mut f = Family::new(
            out,
            "phpeek_pm_process_memory_bytes",
            "gauge",
            "Resident memory (RSS) of the instance's process group, in bytes.",
        );
        for (p, i, u) in with_usage() {
            f.sample(&[("name", p), ("instance", i)], u.rss_bytes as f64);
        }
        let mut f = Family::new(
            out,
            "phpeek_pm_process_group_processes",
            "gauge",
            "Live processes in the instance's process group.",
        );
        for (p, i, u) in with_usage() {
            f.sample(&[("name", p), ("instance", i)], f64::from(u.processes));
        }
    }
    let Some(own) = &s.manager.own else { return };
    for (name, kind, help, v) in [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            own.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            own.rss_bytes as f64,
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            own.vsize_bytes as f64,
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            f64::from(own.open_fds),
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            own.max_fds as f64,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            s.manager.start_time_unix,
        ),
    ] {
        Family::new(out, name, kind, help).sample(&[], v);
    }
}

fn render_health(s: &Snapshot, out: &mut Vec<u8>) {
    let checked = || {
        s.processes.iter().flat_map(|p| {
            p.instances
                .iter()
                .filter_map(move |i| i.health.as_ref().map(|h| (p, i, h)))
        })
    };
    if checked().next().is_none() {
        return;
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_health_check_status",
        "gauge",
        "1 if the instance's health check passes, 0 if it fails (absent before the first result).",
    );
    for (p, i, h) in checked() {
        let v = match h.status {
            "healthy" => 1.0,
            "unhealthy" => 0.0,
            _ => continue,
        };
        f.sample(
            &[("name", &p.name), ("instance", &i.id), ("type", h.kind)],
            v,
        );
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_health_check_duration_seconds",
        "gauge",
        "Duration of the instance's last health check, in seconds.",
    );
    for (p, i, h) in checked() {
        if let Some(ms) = h.last_duration_ms {
            f.sample(
                &[("name", &p.name), ("instance", &i.id), ("type", h.kind)],
                ms as f64 / 1000.0,
            );
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_health_check_consecutive_fails",
        "gauge",
        "Consecutive failed health checks of the instance.",
    );
    for (p, i, h) in checked() {
        f.sample(
            &[("name", &p.name), ("instance", &i.id)],
            f64::from(h.consecutive_failures),
        );
    }
}

fn render_hooks(hooks: &[HookView], out: &mut Vec<u8>) {
    if hooks.is_empty() {
        return;
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_hook_executions_total",
        "counter",
        "Hook runs by hook, phase and outcome (success, failure, timeout).",
    );
    for h in hooks {
        for (status, n) in [
            ("success", h.success),
            ("failure", h.failure),
            ("timeout", h.timeout),
        ] {
            f.sample(
                &[("name", &h.name), ("type", h.phase), ("status", status)],
                n as f64,
            );
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_hook_duration_seconds",
        "histogram",
        "Duration of hook runs, in seconds.",
    );
    for h in hooks {
        let count = h.success + h.failure + h.timeout;
        for (bound, n) in &h.duration_buckets {
            let mut b = Vec::new();
            push_value(&mut b, *bound);
            let le = String::from_utf8_lossy(&b);
            f.sample_suffixed(
                "_bucket",
                &[("name", &h.name), ("type", h.phase), ("le", &le)],
                *n as f64,
            );
        }
        let labels = [("name", h.name.as_str()), ("type", h.phase)];
        f.sample_suffixed(
            "_bucket",
            &[labels[0], labels[1], ("le", "+Inf")],
            count as f64,
        );
        f.sample_suffixed("_sum", &labels, h.duration_sum_s);
        f.sample_suffixed("_count", &labels, count as f64);
    }
}

fn render_tasks(s: &Snapshot, out: &mut Vec<u8>) {
    if s.tasks.is_empty() {
        return;
    }
    type Get = fn(&crate::status::TaskView) -> Option<f64>;
    let gauges: [(&'static str, &str, Get); 6] = [
        (
            "phpeek_pm_scheduled_task_last_run_timestamp",
            "Unix time the task last started, in seconds.",
            |t| t.last_run_unix,
        ),
        (
            "phpeek_pm_scheduled_task_next_run_timestamp",
            "Unix time the task is next due, in seconds.",
            |t| t.next_run_unix,
        ),
        (
            "phpeek_pm_scheduled_task_last_exit_code",
            "Exit code of the task's last run.",
            |t| t.last_exit_code.map(f64::from),
        ),
        (
            "phpeek_pm_scheduled_task_duration_seconds",
            "Duration of the task's last run, in seconds.",
            |t| t.last_duration_s,
        ),
        (
            "phpeek_pm_scheduled_task_running",
            "Runs of the task in progress now.",
            |t| Some(f64::from(t.running)),
        ),
        (
            "phpeek_pm_scheduled_task_paused",
            "1 if the task's schedule is paused.",
            |t| Some(bool_value(t.paused)),
        ),
    ];
    for (name, help, get) in gauges {
        let mut f = Family::new(out, name, "gauge", help);
        for t in &s.tasks {
            if let Some(v) = get(t) {
                f.sample(&[("name", &t.name)], v);
            }
        }
    }
    let mut f = Family::new(
        out,
        "phpeek_pm_scheduled_task_total",
        "counter",
        "Finished or skipped runs of the task by status (success, failure, skipped).",
    );
    for t in &s.tasks {
        for (status, n) in [
            ("success", t.successes),
            ("failure", t.failures),
            ("skipped", t.skips),
        ] {
            f.sample(&[("name", &t.name), ("status", status)], n as f64);
        }
    }
}

#[cfg(test)]
mod tests;
