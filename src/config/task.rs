//! Validation of a scheduled task's keys (feature `scheduler`): `schedule`,
//! `schedule_timezone`, `schedule_timeout`, `schedule_max_concurrent` and `heartbeat`.
//!
//! A process with `schedule` becomes a task. Everything that can be wrong with it is found
//! here, before anything starts, with the line of the key: an expression that does not parse
//! or never fires, a time zone missing from the image, a task with `scale` > 1, a heartbeat URL
//! whose scheme this build cannot speak.

use super::model::ProcessKind;
use super::raw::{RawHeartbeat, RawProcess};
use super::{ConfigError, Ctx, Origin, env, path};
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
    pub start_url: String,
    pub success_url: String,
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

/// The task settings of process `name`, or `None` when it has no `schedule`.
pub(super) fn validate(
    ctx: &Ctx<'_>,
    name: &str,
    p: &RawProcess,
    ov: &[env::Applied],
) -> Result<Option<TaskSpec>, ConfigError> {
    let pp = |k: &[&str]| {
        let mut v = path(&["processes", name]);
        v.extend(k.iter().map(|s| (*s).to_owned()));
        v
    };
    let Some(expr) = p.schedule.as_deref() else {
        // The other task keys mean nothing without a schedule: say so rather than ignore them.
        let stray = [
            ("schedule_timezone", p.schedule_timezone.is_some()),
            ("schedule_timeout", p.schedule_timeout.is_some()),
            (
                "schedule_max_concurrent",
                p.schedule_max_concurrent.is_some(),
            ),
            ("heartbeat", p.heartbeat.is_some()),
        ];
        if let Some((key, _)) = stray.iter().find(|(_, set)| *set) {
            return Err(ctx.at(
                &pp(&[key]),
                ov,
                format!("{key} applies to scheduled tasks only: add a schedule, or remove it"),
            ));
        }
        return Ok(None);
    };
    let cron = CronExpr::parse(expr)
        .map_err(|e| ctx.at(&pp(&["schedule"]), ov, format!("invalid schedule: {e}")))?;
    // What a task is not.
    if p.scale.is_some_and(|s| s != 1) {
        return Err(ctx.at(
            &pp(&["scale"]),
            ov,
            "a scheduled task has no scale (use schedule_max_concurrent to let runs overlap)"
                .to_owned(),
        ));
    }
    if let Some(k) = p.kind.as_deref().filter(|k| *k != "longrun") {
        return Err(ctx.at(
            &pp(&["type"]),
            ov,
            format!("a process with a schedule is a scheduled task; type {k:?} does not apply"),
        ));
    }
    if p.restart
        .as_deref()
        .is_some_and(|r| r != "never" && r != "no")
    {
        return Err(ctx.at(
            &pp(&["restart"]),
            ov,
            "a scheduled task runs again at its next time: restart does not apply (remove it)"
                .to_owned(),
        ));
    }
    // Probes and per-instance hooks act on instances, which a task does not have.
    let per_instance = [
        ("health_check", p.health_check.is_some()),
        ("hooks", p.hooks.is_some()),
        ("pre_start_hook", p.pre_start_hook.is_some()),
        ("post_start_hook", p.post_start_hook.is_some()),
        ("post_stop_hook", p.post_stop_hook.is_some()),
    ];
    if let Some((key, _)) = per_instance.iter().find(|(_, set)| *set) {
        return Err(ctx.at(
            &pp(&[key]),
            ov,
            format!("{key} does not apply to a scheduled task (it has no long-running instance)"),
        ));
    }
    if p.shutdown
        .as_ref()
        .is_some_and(|s| s.pre_stop_hook.is_some())
    {
        return Err(ctx.at(
            &pp(&["shutdown", "pre_stop_hook"]),
            ov,
            "shutdown.pre_stop_hook does not apply to a scheduled task".to_owned(),
        ));
    }
    if p.critical == Some(true) {
        return Err(ctx.at(
            &pp(&["critical"]),
            ov,
            "critical does not apply to a scheduled task (a failed run is counted and logged)"
                .to_owned(),
        ));
    }
    let zone = zone(ctx, p, &pp(&["schedule_timezone"]), ov)?;
    let max_concurrent = match p.schedule_max_concurrent {
        // 0 behaved as 1 in the Go tool (its runs were serialized): keep that meaning.
        None | Some(0) => 1,
        Some(n) if (1..=MAX_CONCURRENT).contains(&n) => n as u32,
        Some(n) => {
            return Err(ctx.at(
                &pp(&["schedule_max_concurrent"]),
                ov,
                format!("schedule_max_concurrent must be between 1 and {MAX_CONCURRENT}, not {n}"),
            ));
        }
    };
    let heartbeat = match &p.heartbeat {
        Some(h) if h.enabled != Some(false) => Some(heartbeat(ctx, h, &pp(&["heartbeat"]), ov)?),
        _ => None,
    };
    Ok(Some(TaskSpec {
        cron,
        zone,
        timeout_ms: p.schedule_timeout.map(|d| d.ms()).filter(|&ms| ms > 0),
        max_concurrent,
        heartbeat,
    }))
}

/// The zone of a task: `schedule_timezone`, else `TZ`, else UTC.
fn zone(
    ctx: &Ctx<'_>,
    p: &RawProcess,
    at: &[String],
    ov: &[env::Applied],
) -> Result<Zone, ConfigError> {
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
    match p.schedule_timezone.as_deref() {
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

fn heartbeat(
    ctx: &Ctx<'_>,
    h: &RawHeartbeat,
    at: &[String],
    ov: &[env::Applied],
) -> Result<HeartbeatSpec, ConfigError> {
    let key = |k: &str| {
        let mut v = at.to_vec();
        v.push(k.to_owned());
        v
    };
    for (k, set) in [
        ("interval", h.interval.is_some()),
        ("grace", h.grace.is_some()),
    ] {
        if set {
            return Err(ctx.at(
                &key(k),
                ov,
                format!(
                    "heartbeat.{k} is not used: phpeek-pm pings when a run starts and ends; set \
                     the expected period and grace time at the monitoring service"
                ),
            ));
        }
    }
    let check_url = |k: &str, u: &str| -> Result<String, ConfigError> {
        url_problem(u)
            .map(|e| Err(ctx.at(&key(k), ov, format!("heartbeat.{k}: {e}"))))
            .unwrap_or_else(|| Ok(u.to_owned()))
    };
    let base = match h.url.as_deref() {
        Some(u) => Some(check_url("url", u)?),
        None => None,
    };
    let success = match (h.success_url.as_deref(), &base) {
        (Some(u), _) => check_url("success_url", u)?,
        (None, Some(b)) => b.clone(),
        (None, None) => {
            return Err(ctx.at(
                at,
                ov,
                "heartbeat needs a url (for example https://hc-ping.com/<uuid>)".to_owned(),
            ));
        }
    };
    let fail = match (h.failure_url.as_deref(), &base) {
        (Some(u), _) => check_url("failure_url", u)?,
        (None, Some(b)) => join(b, "fail"),
        (None, None) => join(&success, "fail"),
    };
    // The start ping exists only where the URL scheme is the healthchecks.io one.
    let start = join(base.as_deref().unwrap_or(&success), "start");
    let method = match h.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
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
    for (k, v) in h.headers.iter().flatten() {
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
    let timeout_ms = h.timeout.map_or(HEARTBEAT_TIMEOUT_MS, |d| d.ms());
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
    let attempts = match h.retry_count {
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
        .retry_delay
        .map_or(HEARTBEAT_RETRY_DELAY_MS, |d| d.ms())
        .min(MAX_HEARTBEAT_TIMEOUT_MS);
    let ca = match &h.ca_file {
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
    Ok(HeartbeatSpec {
        start_url: start,
        success_url: success,
        fail_url: fail,
        method,
        headers,
        timeout_ms,
        attempts,
        retry_delay_ms,
        ca,
    })
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
            "processes:\n  job:\n    command: [y]\n    schedule: ''\n",
            &[],
        );
        assert_eq!(line, Some(4));
        assert!(msg.contains("empty schedule"), "{msg}");
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
        assert_eq!(h.start_url, "http://127.0.0.1:9/ping/abc/start");
        assert_eq!(h.success_url, "http://127.0.0.1:9/ping/abc");
        assert_eq!(h.fail_url, "http://127.0.0.1:9/ping/abc/fail");
        assert_eq!((h.timeout_ms, h.attempts, h.method), (10_000, 3, "POST"));
        assert_eq!(join("https://x/p/?k=1", "fail"), "https://x/p/fail?k=1");
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    heartbeat:\n      url: ftp://x\n",
            &[],
        );
        assert_eq!(line, Some(6));
        assert!(msg.contains("not an http"), "{msg}");
        let (line, msg) = line_of(
            "processes:\n  job:\n    command: [y]\n    schedule: '0 3 * * *'\n    heartbeat:\n      url: http://x\n      interval: 60\n",
            &[],
        );
        assert_eq!(line, Some(7));
        assert!(msg.contains("monitoring service"), "{msg}");
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
}
