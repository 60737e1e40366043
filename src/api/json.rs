//! The API's JSON documents, written straight into the response buffer from the status
//! snapshot (the metrics endpoint renders the same snapshot as Prometheus text). Shapes are
//! documented, with an OpenAPI document, in `docs/observability/api.md`.

use crate::http::push_num;
use crate::output::json_str;
use crate::output::recent::Entry;
use crate::status::{HealthView, InstanceView, ProcessView, Snapshot, TaskView};

fn int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_num(out, n.unsigned_abs());
}

fn opt_int(out: &mut Vec<u8>, n: Option<i64>) {
    match n {
        Some(n) => int(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// `"key":` (keys are plain ASCII literals).
fn key(out: &mut Vec<u8>, k: &str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `{"processes":[...]}`.
pub fn processes(s: &Snapshot) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + 256 * s.processes.len());
    out.extend_from_slice(b"{\"processes\":[");
    for (n, p) in s.processes.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        process_into(&mut out, p);
    }
    out.extend_from_slice(b"]}");
    out
}

/// One process object.
pub fn process(p: &ProcessView) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    process_into(&mut out, p);
    out
}

fn process_into(out: &mut Vec<u8>, p: &ProcessView) {
    out.push(b'{');
    key(out, "name");
    json_str(out, &p.name);
    out.push(b',');
    key(out, "type");
    json_str(out, p.kind);
    out.push(b',');
    key(out, "state");
    json_str(out, p.state);
    out.push(b',');
    key(out, "scale");
    int(out, p.instances.len() as i64);
    out.push(b',');
    key(out, "desired_scale");
    int(out, i64::from(p.desired_scale));
    out.push(b',');
    key(out, "restarts");
    out.push(b'{');
    for (n, (reason, count)) in p.restarts_by_reason.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        key(out, reason);
        push_num(out, *count);
    }
    out.extend_from_slice(b"},");
    key(out, "instances");
    out.push(b'[');
    for (n, i) in p.instances.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        instance_into(out, i);
    }
    out.extend_from_slice(b"]}");
}

fn instance_into(out: &mut Vec<u8>, i: &InstanceView) {
    out.push(b'{');
    key(out, "id");
    json_str(out, &i.id);
    out.push(b',');
    key(out, "state");
    json_str(out, i.state);
    out.push(b',');
    key(out, "pid");
    opt_int(out, i.pid.map(i64::from));
    out.push(b',');
    key(out, "started_at");
    opt_int(out, i.started_at_unix.map(|t| t.floor() as i64));
    out.push(b',');
    key(out, "restart_count");
    int(out, i64::from(i.restart_count));
    out.push(b',');
    key(out, "last_exit_code");
    opt_int(out, i.last_exit_code.map(i64::from));
    out.push(b',');
    key(out, "ready");
    boolean(out, i.ready);
    out.push(b',');
    key(out, "health");
    match &i.health {
        Some(h) => health_into(out, h),
        None => out.extend_from_slice(b"null"),
    }
    // The process group's CPU and memory (absent when resource figures are off).
    if let Some(u) = &i.usage {
        out.push(b',');
        key(out, "cpu_seconds");
        opt_num(out, Some(u.cpu_seconds));
        out.push(b',');
        key(out, "memory_rss_bytes");
        push_num(out, u.rss_bytes);
        out.push(b',');
        key(out, "group_processes");
        int(out, i64::from(u.processes));
    }
    // Its PHP-FPM pools (php-fpm with pm.status_path only).
    if !i.pools.is_empty() {
        out.push(b',');
        key(out, "php_fpm");
        out.push(b'[');
        for (n, v) in i.pools.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.push(b'{');
            key(out, "pool");
            json_str(out, &v.pool);
            out.push(b',');
            key(out, "up");
            boolean(out, v.up);
            for (k, x) in [
                ("active_processes", v.active_processes),
                ("idle_processes", v.idle_processes),
                ("total_processes", v.total_processes),
                ("listen_queue", v.listen_queue),
                ("max_listen_queue", v.max_listen_queue),
                ("listen_queue_len", v.listen_queue_len),
                ("max_children_reached", v.max_children_reached),
                ("accepted_conn", v.accepted_conn),
                ("slow_requests", v.slow_requests),
            ] {
                out.push(b',');
                key(out, k);
                push_num(out, x);
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    out.push(b'}');
}

fn health_into(out: &mut Vec<u8>, h: &HealthView) {
    out.push(b'{');
    key(out, "status");
    json_str(out, h.status);
    out.push(b',');
    key(out, "type");
    json_str(out, h.kind);
    out.push(b',');
    key(out, "consecutive_successes");
    int(out, i64::from(h.consecutive_successes));
    out.push(b',');
    key(out, "consecutive_failures");
    int(out, i64::from(h.consecutive_failures));
    out.push(b',');
    key(out, "last_error");
    match &h.last_error {
        Some(e) => json_str(out, e),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    key(out, "last_duration_ms");
    opt_int(out, h.last_duration_ms.map(|d| d as i64));
    out.push(b'}');
}

/// Readiness for `/api/v1/ready`: whether every longrun instance is ready, and the document.
pub fn ready(s: &Snapshot) -> (bool, Vec<u8>) {
    ready_of(
        s.processes.iter().filter(|p| p.kind == "longrun"),
        s.manager.shutting_down,
    )
}

/// Readiness of the given processes' instances (a oneshot's instance is ready once it
/// finished successfully); nothing is ready while the manager shuts down.
pub fn ready_of<'a>(
    processes: impl IntoIterator<Item = &'a ProcessView>,
    shutting_down: bool,
) -> (bool, Vec<u8>) {
    let waiting: Vec<(&ProcessView, &InstanceView)> = processes
        .into_iter()
        .flat_map(|p| p.instances.iter().map(move |i| (p, i)))
        .filter(|(_, i)| !i.ready)
        .collect();
    let ok = waiting.is_empty() && !shutting_down;
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    key(&mut out, "ready");
    boolean(&mut out, ok);
    if !ok {
        out.push(b',');
        key(&mut out, "shutting_down");
        boolean(&mut out, shutting_down);
        out.push(b',');
        key(&mut out, "not_ready");
        out.push(b'[');
        for (n, (p, i)) in waiting.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.push(b'{');
            key(&mut out, "process");
            json_str(&mut out, &p.name);
            out.push(b',');
            key(&mut out, "instance");
            json_str(&mut out, &i.id);
            out.push(b',');
            key(&mut out, "state");
            json_str(&mut out, i.state);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.push(b'}');
    (ok, out)
}

/// `{"process":..,"limit":..,"count":..,"logs":[{time,instance,stream,msg}]}`, newest first.
pub fn logs<'e>(process: &str, limit: usize, entries: impl Iterator<Item = &'e Entry>) -> Vec<u8> {
    let mut body = Vec::with_capacity(4096);
    let mut count = 0usize;
    for (n, e) in entries.enumerate() {
        count += 1;
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{\"time\":\"");
        body.extend_from_slice(&e.time);
        body.extend_from_slice(b"\",");
        key(&mut body, "instance");
        json_str(&mut body, &e.instance);
        body.push(b',');
        key(&mut body, "stream");
        json_str(&mut body, e.stream.as_str());
        body.push(b',');
        key(&mut body, "msg");
        json_str(&mut body, &e.msg);
        if e.partial {
            body.extend_from_slice(b",\"partial\":true");
        }
        body.push(b'}');
    }
    let mut out = Vec::with_capacity(body.len() + 96);
    out.push(b'{');
    key(&mut out, "process");
    json_str(&mut out, process);
    out.push(b',');
    key(&mut out, "limit");
    push_num(&mut out, limit as u64);
    out.push(b',');
    key(&mut out, "count");
    push_num(&mut out, count as u64);
    out.push(b',');
    key(&mut out, "logs");
    out.push(b'[');
    out.extend_from_slice(&body);
    out.extend_from_slice(b"]}");
    out
}

fn opt_num(out: &mut Vec<u8>, n: Option<f64>) {
    match n {
        // Times and durations with millisecond precision.
        Some(v) if v.is_finite() => out.extend_from_slice(format!("{v:.3}").as_bytes()),
        _ => out.extend_from_slice(b"null"),
    }
}

/// `{"process":..,"schedule":{expression, paused, running, runs, successes, failures, skips,
/// last_exit_code, last_run, next_run, last_duration_seconds}}` (times in Unix seconds).
pub fn task(t: &TaskView) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    key(&mut out, "process");
    json_str(&mut out, &t.name);
    out.extend_from_slice(b",\"schedule\":{");
    key(&mut out, "expression");
    json_str(&mut out, &t.schedule);
    out.push(b',');
    key(&mut out, "paused");
    boolean(&mut out, t.paused);
    for (k, v) in [
        ("running", u64::from(t.running)),
        ("runs", t.runs),
        ("successes", t.successes),
        ("failures", t.failures),
        ("skips", t.skips),
    ] {
        out.push(b',');
        key(&mut out, k);
        push_num(&mut out, v);
    }
    out.push(b',');
    key(&mut out, "last_exit_code");
    opt_int(&mut out, t.last_exit_code.map(i64::from));
    out.push(b',');
    key(&mut out, "last_run");
    opt_num(&mut out, t.last_run_unix);
    out.push(b',');
    key(&mut out, "next_run");
    opt_num(&mut out, t.next_run_unix);
    out.push(b',');
    key(&mut out, "last_duration_seconds");
    opt_num(&mut out, t.last_duration_s);
    out.extend_from_slice(b"}}");
    out
}

/// `{"status":"…","message":"…"}`: the answer of a command that concerns no single process
/// or says what it did in words.
pub fn message(status: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    key(&mut out, "status");
    json_str(&mut out, status);
    out.push(b',');
    key(&mut out, "message");
    json_str(&mut out, message);
    out.push(b'}');
    out
}

/// `{"status":..,"process":..}` plus integer fields.
pub fn status(status: &str, process: &str, fields: &[(&str, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    key(&mut out, "status");
    json_str(&mut out, status);
    out.push(b',');
    key(&mut out, "process");
    json_str(&mut out, process);
    for (k, v) in fields {
        out.push(b',');
        key(&mut out, k);
        int(&mut out, *v);
    }
    out.push(b'}');
    out
}

/// `"key":["a","b"]`.
fn str_list(out: &mut Vec<u8>, k: &str, items: &[String]) {
    key(out, k);
    out.push(b'[');
    for (n, s) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        json_str(out, s);
    }
    out.push(b']');
}

/// The answer of `POST /api/v1/config/reload`: `{"status":"reloaded", "added":[…],
/// "removed":[…], "restarted":[…], "scaled":[…], "unchanged":N, "needs_restart":[…]}`.
pub fn config_reloaded(
    lists: [&[String]; 4],
    unchanged: usize,
    needs_restart: &[String],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"status\":\"reloaded\"");
    for (k, v) in ["added", "removed", "restarted", "scaled"]
        .into_iter()
        .zip(lists)
    {
        out.push(b',');
        str_list(&mut out, k, v);
    }
    out.push(b',');
    key(&mut out, "unchanged");
    int(&mut out, unchanged as i64);
    out.push(b',');
    str_list(&mut out, "needs_restart", needs_restart);
    out.push(b'}');
    out
}

/// A refused configuration reload: `{"error":"…","errors":["file:line: …", …]}`.
pub fn config_errors(errors: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    key(&mut out, "error");
    json_str(
        &mut out,
        &format!(
            "the configuration has {} error(s): nothing changed",
            errors.len()
        ),
    );
    out.push(b',');
    str_list(&mut out, "errors", errors);
    out.push(b'}');
    out
}

/// `{"process","instance","since","limit","samples","data":[{timestamp, cpu_percent,
/// cpu_seconds, memory_rss_bytes, processes}]}` (the Go tool's shape), oldest first.
pub fn history(
    q: &super::HistoryQuery<'_>,
    since: f64,
    data: &[(&str, crate::resources::Sample)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + data.len() * 128);
    out.push(b'{');
    key(&mut out, "process");
    json_str(&mut out, q.process);
    out.push(b',');
    key(&mut out, "instance");
    match q.instance {
        Some(i) => json_str(&mut out, i),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    key(&mut out, "since");
    opt_num(&mut out, Some(since));
    out.push(b',');
    key(&mut out, "limit");
    push_num(&mut out, q.limit as u64);
    out.push(b',');
    key(&mut out, "samples");
    push_num(&mut out, data.len() as u64);
    out.extend_from_slice(b",\"data\":[");
    for (n, (id, s)) in data.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"timestamp\":\"");
        let secs = s.time.floor();
        let ms = ((s.time - secs) * 1000.0) as u32;
        crate::output::format_time(&mut out, secs as i64, ms.min(999));
        out.extend_from_slice(b"\",");
        key(&mut out, "instance");
        json_str(&mut out, id);
        out.push(b',');
        key(&mut out, "cpu_percent");
        opt_num(&mut out, Some(s.cpu_percent));
        out.push(b',');
        key(&mut out, "cpu_seconds");
        opt_num(&mut out, Some(s.cpu_seconds));
        out.push(b',');
        key(&mut out, "memory_rss_bytes");
        push_num(&mut out, s.rss_bytes);
        out.push(b',');
        key(&mut out, "processes");
        push_num(&mut out, s.processes.into());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}
