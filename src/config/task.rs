//! Validation of a scheduled task's keys (feature `scheduler`): `schedule`,
//! `schedule_timezone`, `schedule_timeout`, `schedule_max_concurrent` and `heartbeat`.
//!
//! A process with `schedule` becomes a task. Everything that can be wrong with it is found
//! here, before anything starts, with the line of the key: an expression that does not parse
//! or never fires, a time zone missing from the image, a task with `scale` > 1, a heartbeat URL
//! whose scheme this build cannot speak.

use std::collections::BTreeMap;

use super::duration::Duration;
use super::fields::Section;
use super::kind::ProcessKind;
use super::raw::Scalar;
use super::{ConfigError, Ctx, Origin};
use crate::features::Feature;
use crate::scheduler::cron::CronExpr;
use crate::scheduler::tz::{self, Zone};

/// Most runs of one task at the same time (`schedule_max_concurrent`).
pub const MAX_CONCURRENT: i64 = 100;
/// Default per-request timeout of a heartbeat ping (the README's example value).
pub const HEARTBEAT_TIMEOUT_MS: u64 = 10_000;
/// Default attempts per ping, and the pause between them (the Go tool's v1.1 defaults).
pub const HEARTBEAT_ATTEMPTS: u32 = 3;
pub const HEARTBEAT_RETRY_DELAY_MS: u64 = 5_000;
/// Bounds on what a user may ask of one ping.
pub const MAX_HEARTBEAT_ATTEMPTS: i64 = 10;
pub const MAX_HEARTBEAT_TIMEOUT_MS: u64 = 300_000;
/// Largest `ca_file` read.
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// How a scheduled task runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    pub cron: CronExpr,
    /// Zone in which the expression's fields are read.
    pub zone: Zone,
    /// A run still going after this long is stopped (stop signal, then SIGKILL).
    pub timeout_ms: Option<u64>,
    /// Runs allowed at once; a run that falls due beyond it is skipped.
    pub max_concurrent: u32,
    pub heartbeat: Option<HeartbeatSpec>,
}

impl TaskSpec {
    pub const fn kind(&self) -> ProcessKind {
        ProcessKind::Task
    }

    /// For `--dry-run` and `check-config`: `"0 2 * * *" (UTC), timeout 30000 ms, ...`.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?} ({})", self.cron.source(), self.zone.name());
        if let Some(t) = self.timeout_ms {
            s.push_str(&format!(", timeout {t} ms"));
        }
        if self.max_concurrent > 1 {
            s.push_str(&format!(", up to {} runs at once", self.max_concurrent));
        }
        if self.heartbeat.is_some() {
            s.push_str(", heartbeat");
        }
        s
    }
}

/// Dead-man's-switch pings around each run (feature `heartbeat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatSpec {
    /// `None` where the configuration names only a failure URL.
    pub start_url: Option<String>,
    pub success_url: Option<String>,
    pub fail_url: String,
    pub method: &'static str,
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u64,
    /// Attempts per ping (at least 1).
    pub attempts: u32,
    pub retry_delay_ms: u64,
    /// PEM certificates trusted instead of the bundled roots (`ca_file`), and the file's path.
    pub ca: Option<(String, Vec<u8>)>,
}

/// The task settings of process `name`, or `None` when it has no `schedule` (an empty one,
/// as the Go tool's config save writes it, is no schedule).
pub(super) fn validate(
    ctx: &Ctx<'_>,
    _name: &str,
    p: &Section<'_>,
) -> Result<Option<TaskSpec>, ConfigError> {
    let expr = p
        .get::<String>("schedule")?
        .filter(|e| !e.trim().is_empty());
    let Some(expr) = expr else {
        // The other task keys mean nothing without a schedule: say so rather than ignore them
        // (empty values, as the Go tool's config save writes them, are no values).
        let stray = [
            "schedule_timezone",
            "schedule_timeout",
            "schedule_max_concurrent",
            "heartbeat",
        ]
        .into_iter()
        .find(|k| match p.value(k) {
            Some(yaml_serde::Value::String(v)) => !v.is_empty(),
            Some(yaml_serde::Value::Number(n)) => n.as_i64() != Some(0),
            Some(_) => true,
            None => false,
        });
        if let Some(key) = stray {
            return Err(p.err(
                Some(key),
                format!("{key} applies to scheduled tasks only: add a schedule, or remove it"),
            ));
        }
        return Ok(None);
    };
    let cron = CronExpr::parse(&expr)
        .map_err(|e| p.err(Some("schedule"), format!("invalid schedule: {e}")))?;
    // What a task is not.
    if p.get::<i64>("scale")?.is_some_and(|s| s != 1) {
        return Err(p.err(
            Some("scale"),
            "a scheduled task has no scale (use schedule_max_concurrent to let runs overlap)"
                .to_owned(),
        ));
    }
    if let Some(k) = p.get::<String>("type")?.filter(|k| k != "longrun") {
        return Err(p.err(
            Some("type"),
            format!("a process with a schedule is a scheduled task; type {k:?} does not apply"),
        ));
    }
    if p.get::<String>("restart")?
        .is_some_and(|r| r != "never" && r != "no")
    {
        return Err(p.err(
            Some("restart"),
            "a scheduled task runs again at its next time: restart does not apply (remove it)"
                .to_owned(),
        ));
    }
    // Probes and per-instance hooks act on instances, which a task does not have.
    let per_instance = [
        "health_check",
        "hooks",
        "pre_start_hook",
        "post_start_hook",
        "post_stop_hook",
    ];
    if let Some(key) = per_instance.into_iter().find(|k| p.has(k)) {
        return Err(p.err(
            Some(key),
            format!("{key} does not apply to a scheduled task (it has no long-running instance)"),
        ));
    }
    if let Some(sd) = p.child("shutdown")? {
        if sd.has("pre_stop_hook") {
            return Err(sd.err(
                Some("pre_stop_hook"),
                "shutdown.pre_stop_hook does not apply to a scheduled task".to_owned(),
            ));
        }
    }
    if p.get::<bool>("critical")? == Some(true) {
        return Err(p.err(
            Some("critical"),
            "critical does not apply to a scheduled task (a failed run is counted and logged)"
                .to_owned(),
        ));
    }
    let zone = zone(ctx, p)?;
    let max_concurrent = match p.get::<i64>("schedule_max_concurrent")? {
        // 0 behaved as 1 in the Go tool (its runs were serialized): keep that meaning.
        None | Some(0) => 1,
        Some(n) if (1..=MAX_CONCURRENT).contains(&n) => n as u32,
        Some(n) => {
            return Err(p.err(
                Some("schedule_max_concurrent"),
                format!("schedule_max_concurrent must be between 1 and {MAX_CONCURRENT}, not {n}"),
            ));
        }
    };
    let heartbeat = match p.child("heartbeat")? {
        Some(h) if h.get::<bool>("enabled")? != Some(false) => heartbeat(ctx, &h)?,
        _ => None,
    };
    // The Go tool's config save writes `schedule_timeout: ""`: no timeout.
    let timeout_ms = match p.value("schedule_timeout") {
        Some(yaml_serde::Value::String(t)) if t.is_empty() => None,
        _ => p
            .get::<Duration>("schedule_timeout")?
            .map(|d| d.ms())
            .filter(|&ms| ms > 0),
    };
    Ok(Some(TaskSpec {
        cron,
        zone,
        timeout_ms,
        max_concurrent,
        heartbeat,
    }))
}

/// The zone of a task: `schedule_timezone`, else `TZ`, else UTC.
fn zone(ctx: &Ctx<'_>, p: &Section<'_>) -> Result<Zone, ConfigError> {
    let at = p.key_path("schedule_timezone");
    let (at, ov) = (at.as_slice(), p.ov);
    let var = |k: &str| {
        ctx.inputs
            .env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let tzdir = var("TZDIR")
        .filter(|d| !d.is_empty())
        .unwrap_or(tz::DEFAULT_TZDIR);
    let read = |p: &str| read_limited(p, tz::MAX_TZIF_BYTES as u64);
    let written = p
        .get::<String>("schedule_timezone")?
        .filter(|z| !z.is_empty());
    match written.as_deref() {
        Some("Local" | "local") => match var("TZ") {
            Some(t) => tz::load(t, tzdir, &read).map_err(|e| env_error("TZ", e)),
            // No TZ: the image's /etc/localtime, and UTC when it has none (as libc does).
            None => match read("/etc/localtime") {
                Some(data) => Zone::from_tzif("Local", &data).map_err(|e| ctx.at(at, ov, e)),
                None => Ok(Zone::utc()),
            },
        },
        Some(name) => tz::load(name, tzdir, &read)
            .map_err(|e| ctx.at(at, ov, format!("schedule_timezone: {e}"))),
        None => match var("TZ") {
            Some(t) => tz::load(t, tzdir, &read).map_err(|e| {
                env_error(
                    "TZ",
                    format!("{e} (scheduled tasks read their times in TZ; set schedule_timezone to choose another zone)"),
                )
            }),
            None => Ok(Zone::utc()),
        },
    }
}

fn env_error(var: &str, msg: String) -> ConfigError {
    ConfigError {
        origin: Origin::Env(var.to_owned()),
        msg,
    }
}

/// Reads a small file; `None` when it is missing, unreadable or larger than `limit`.
fn read_limited(path: &str, limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut data = Vec::new();
    f.take(limit + 1).read_to_end(&mut data).ok()?;
    (data.len() as u64 <= limit).then_some(data)
}

/// The pings of a task; `None` (with a warning) for the Go tool's URL-less block, which
/// pinged nothing there either.
fn heartbeat(ctx: &Ctx<'_>, h: &Section<'_>) -> Result<Option<HeartbeatSpec>, ConfigError> {
    let ov = h.ov;
    let key = |k: &str| h.key_path(k);
    for k in ["interval", "grace"] {
        if h.get::<Duration>(k)?.is_some() {
            ctx.warn(
                h,
                k,
                "not used: phpeek-pm pings when a run starts and ends; set the expected period \
                 and grace time at the monitoring service",
            );
        }
    }
    let check_url = |k: &str| -> Result<Option<String>, ConfigError> {
        let Some(u) = h.get::<String>(k)?.filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        match url_problem(&u) {
            Some(e) => Err(ctx.at(&key(k), ov, format!("heartbeat.{k}: {e}"))),
            None => Ok(Some(u)),
        }
    };
    let base = check_url("url")?;
    let success = check_url("success_url")?.or_else(|| base.clone());
    let failure = check_url("failure_url")?;
    let fail = match (failure, &base, &success) {
        (Some(u), _, _) => u,
        (None, Some(b), _) => join(b, "fail"),
        (None, None, Some(s)) => join(s, "fail"),
        (None, None, None) => {
            ctx.warn(
                h,
                "enabled",
                "heartbeat has no url, so no ping is sent (the Go tool sent none either): add \
                 url: https://hc-ping.com/<uuid> (or success_url / failure_url)",
            );
            return Ok(None);
        }
    };
    // The start ping exists only where the URL scheme is the healthchecks.io one.
    let start = base
        .as_deref()
        .or(success.as_deref())
        .map(|b| join(b, "start"));
    let method = match h
        .get::<String>("method")?
        .map(|m| m.to_ascii_uppercase())
        .as_deref()
    {
        None | Some("POST") => "POST",
        Some("GET") => "GET",
        Some("HEAD") => "HEAD",
        Some("PUT") => "PUT",
        Some(other) => {
            return Err(ctx.at(
                &key("method"),
                ov,
                format!("heartbeat.method must be GET, POST, HEAD or PUT, not {other:?}"),
            ));
        }
    };
    let mut headers = Vec::new();
    for (k, v) in h
        .get::<BTreeMap<String, Scalar>>("headers")?
        .iter()
        .flatten()
    {
        let bad_name = k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if bad_name || v.0.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(ctx.at(
                &key("headers"),
                ov,
                format!("heartbeat.headers: {k:?} is not a valid header"),
            ));
        }
        headers.push((k.clone(), v.0.clone()));
    }
    let timeout_ms = h
        .get::<Duration>("timeout")?
        .map_or(HEARTBEAT_TIMEOUT_MS, |d| d.ms());
    if timeout_ms == 0 || timeout_ms > MAX_HEARTBEAT_TIMEOUT_MS {
        return Err(ctx.at(
            &key("timeout"),
            ov,
            format!(
                "heartbeat.timeout must be more than 0 and at most {} s",
                MAX_HEARTBEAT_TIMEOUT_MS / 1000
            ),
        ));
    }
    let attempts = match h.get::<i64>("retry_count")? {
        None => HEARTBEAT_ATTEMPTS,
        Some(n) if (0..=MAX_HEARTBEAT_ATTEMPTS).contains(&n) => (n as u32).max(1),
        Some(n) => {
            return Err(ctx.at(
                &key("retry_count"),
                ov,
                format!(
                    "heartbeat.retry_count must be between 0 and {MAX_HEARTBEAT_ATTEMPTS}, not {n}"
                ),
            ));
        }
    };
    let retry_delay_ms = h
        .get::<Duration>("retry_delay")?
        .map_or(HEARTBEAT_RETRY_DELAY_MS, |d| d.ms())
        .min(MAX_HEARTBEAT_TIMEOUT_MS);
    let ca = match &h.get::<String>("ca_file")? {
        None => None,
        Some(f) => {
            let data = read_limited(f, MAX_CA_FILE_BYTES).ok_or_else(|| {
                ctx.at(
                    &key("ca_file"),
                    ov,
                    format!(
                        "heartbeat.ca_file: cannot read {f} (missing, unreadable or over 1 MiB)"
                    ),
                )
            })?;
            if !data
                .windows(27)
                .any(|w| w == b"-----BEGIN CERTIFICATE-----")
            {
                return Err(ctx.at(
                    &key("ca_file"),
                    ov,
                    format!("heartbeat.ca_file: {f} holds no PEM certificate"),
                ));
            }
            Some((f.clone(), data))
        }
    };
    Ok(Some(HeartbeatSpec {
        start_url: start,
        success_url: success,
        fail_url: fail,
        method,
        headers,
        timeout_ms,
        attempts,
        retry_delay_ms,
        ca,
    }))
}

/// Why a ping URL cannot be used by this build, if it cannot.
fn url_problem(u: &str) -> Option<String> {
    let rest = if let Some(r) = u.strip_prefix("http://") {
        r
    } else if let Some(r) = u.strip_prefix("https://") {
        if !Feature::Tls.available() {
            return Some(Feature::Tls.unavailable(&format!("the https URL {u:?}")));
        }
        r
    } else {
        return Some(format!("{u:?} is not an http:// or https:// URL"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("{u:?} is not a valid URL"));
    }
    None
}

/// `<url>/<what>`, keeping a query string at the end (`https://x/p?k=1` → `https://x/p/fail?k=1`).
pub fn join(url: &str, what: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    format!("{}/{what}{query}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::super::{Inputs, load};
    use super::*;

    fn load_env(
        text: &str,
        env: &[(&str, &str)],
    ) -> Result<super::super::model::Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        load(&Inputs {
            file: Some(("t.yaml", text)),
            env: &env,
            passwd: &|| (String::new(), String::new()),
        })
    }

    fn task(text: &str) -> TaskSpec {
        let c = load_env(text, &[]).unwrap();
        c.processes
            .iter()
            .find_map(|p| p.task.clone())
            .expect("a task")
    }

    fn line_of(text: &str, env: &[(&str, &str)]) -> (Option<usize>, String) {
        let e = load_env(text, env).unwrap_err();
        match e.origin {
            Origin::File { line, .. } => (line, e.msg),
            other => panic!("{other:?}: {}", e.msg),
        }
    }

    #[test]
    fn readme_tasks_load() {
        let t = task(
            "processes:\n  backup-job:\n    enabled: true\n    command: [\"php\", \"artisan\", \"backup:run\"]\n    schedule: \"0 2 * * *\"  # Daily at 2 AM\n    env:\n      BACKUP_DESTINATION: \"s3\"\n",
        );
        assert_eq!(t.cron.source(), "0 2 * * *");
        assert_eq!(t.zone.name(), "UTC");
        assert_eq!(t.max_concurrent, 1);
        assert_eq!(t.timeout_ms, None);
        let c = load_env(
            "processes:\n  web: {command: [x]}\n  job:\n    command: [y]\n    schedule: '*/5 * * * *'\n    schedule_timeout: 30s\n    schedule_max_concurrent: 2\n    depends_on: [web]\n",
            &[],
        )
        .unwrap();
        let job = c.processes.iter().find(|p| p.name == "job").unwrap();
        assert_eq!(job.kind, ProcessKind::Task);
        let t = job.task.as_ref().unwrap();
        assert_eq!((t.timeout_ms, t.max_concurrent), (Some(30_000), 2));
    }

    #[test]
    fn bad_schedules_point_at_their_line() {
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '61 * * * *'\n",
            &[],
        );
        assert_eq!(line, Some(4));
        assert!(msg.contains("minute 61 is out of range 0-59"), "{msg}");
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 0 * * mnday *'\n",
            &[],
        );
        assert_eq!(line, Some(4));
        assert!(msg.contains("month \"mnday\""), "{msg}");
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    scale: 3\n    schedule: '* * * * *'\n",
            &[],
        );
        assert_eq!(line, Some(4));
        assert!(msg.contains("no scale"), "{msg}");
        let (line, _) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '* * * * *'\n    restart: always\n",
            &[],
        );
        assert_eq!(line, Some(5));
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule_timeout: 5s\n",
            &[],
        );
        assert_eq!(line, Some(4));
        assert!(msg.contains("scheduled tasks only"), "{msg}");
    }

    #[cfg(feature = "health")]
    #[test]
    fn a_health_check_on_a_task_is_refused_at_its_line() {
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '* * * * *'\n    health_check:\n      type: exec\n      command: [true]\n",
            &[],
        );
        assert_eq!(line, Some(5));
        assert!(msg.contains("does not apply to a scheduled task"), "{msg}");
    }

    #[test]
    fn zones_come_from_the_key_or_tz_and_must_exist() {
        let t = task(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 8 * * 1'\n    schedule_timezone: Europe/Berlin\n",
        );
        assert_eq!(t.zone.name(), "Europe/Berlin");
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 8 * * 1'\n    schedule_timezone: Europe/Berln\n",
            &[],
        );
        assert_eq!(line, Some(5));
        assert!(msg.contains("\"Europe/Berln\" not found"), "{msg}");
        let text = "processes:\n  job:\n    command: [y]\n    schedule: '0 8 * * 1'\n";
        let c = load_env(text, &[("TZ", ":America/New_York")]).unwrap();
        assert_eq!(
            c.processes[0].task.as_ref().unwrap().zone.name(),
            "America/New_York"
        );
        let e = load_env(text, &[("TZ", "Nowhere/City")]).unwrap_err();
        assert_eq!(e.origin, Origin::Env("TZ".into()));
        let c = load_env(text, &[("TZ", "UTC")]).unwrap();
        assert_eq!(c.processes[0].task.as_ref().unwrap().zone.name(), "UTC");
        // TZDIR points the lookup elsewhere (an image with its zone files in another place).
        let e = load_env(text, &[("TZ", "Europe/Berlin"), ("TZDIR", "/nonexistent")]).unwrap_err();
        assert!(e.msg.contains("/nonexistent/Europe/Berlin"), "{}", e.msg);
    }

    #[cfg(feature = "heartbeat")]
    #[test]
    fn heartbeat_urls_and_limits() {
        let t = task(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    heartbeat:\n      url: http://127.0.0.1:9/ping/abc\n      timeout: 10\n",
        );
        let h = t.heartbeat.unwrap();
        assert_eq!(
            h.start_url.as_deref(),
            Some("http://127.0.0.1:9/ping/abc/start")
        );
        assert_eq!(
            h.success_url.as_deref(),
            Some("http://127.0.0.1:9/ping/abc")
        );
        assert_eq!(h.fail_url, "http://127.0.0.1:9/ping/abc/fail");
        assert_eq!((h.timeout_ms, h.attempts, h.method), (10_000, 3, "POST"));
        assert_eq!(join("https://x/p/?k=1", "fail"), "https://x/p/fail?k=1");
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    heartbeat:\n      url: ftp://x\n",
            &[],
        );
        assert_eq!(line, Some(6));
        assert!(msg.contains("not an http"), "{msg}");
        // The Go tool's interval and grace: accepted, with a warning at their line.
        let checked = crate::config::check(&crate::config::Inputs {
            file: Some((
                "t.yaml",
                "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    heartbeat:\n      url: http://x\n      interval: 60\n",
            )),
            env: &[],
            passwd: &|| (String::new(), String::new()),
        });
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        let w = &checked.warnings[0];
        assert_eq!(
            w.origin,
            Origin::File {
                path: "t.yaml".into(),
                line: Some(7)
            }
        );
        assert!(w.msg.contains("monitoring service"), "{w}");
        // Only a failure URL (valid in the Go docs): failure pings only.
        let t = task(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    heartbeat:\n      failure_url: http://x/fail-hook\n",
        );
        let h = t.heartbeat.unwrap();
        assert_eq!((h.start_url, h.success_url), (None, None));
        assert_eq!(h.fail_url, "http://x/fail-hook");
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    heartbeat:\n      url: http://x\n",
            &[],
        );
        assert_eq!(line, Some(4));
        assert!(msg.contains("scheduled tasks only"), "{msg}");
        // Off is off.
        let t = task(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    heartbeat:\n      enabled: false\n      url: http://x\n",
        );
        assert!(t.heartbeat.is_none());
    }

    /// What the Go tool's config save writes for a process without a schedule.
    #[test]
    fn empty_schedule_strings_mean_unset() {
        let c = load_env(
            "processes:\n  web:\n    command: [y]\n    schedule: \"\"\n    schedule_timezone: \"\"\n    schedule_timeout: \"\"\n    schedule_max_concurrent: 0\n",
            &[],
        )
        .unwrap();
        assert!(c.processes[0].task.is_none());
        assert_eq!(c.processes[0].kind, ProcessKind::Longrun);
        let c = load_env(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    schedule_timezone: \"\"\n    schedule_timeout: \"\"\n",
            &[("TZ", "UTC")],
        )
        .unwrap();
        let t = c.processes[0].task.as_ref().unwrap();
        assert_eq!((t.zone.name(), t.timeout_ms), ("UTC", None));
    }
}
