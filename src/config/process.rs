//! A `processes.<name>` section: its key table (with `shutdown` and `heartbeat`) and its
//! parser, in named steps (kind and restart policy, scale, initial state, stop, credentials,
//! then the feature blocks). Each step records its own errors and the process is still read to
//! the end, so all its mistakes are reported at once.

use std::collections::BTreeMap;

use super::duration::Duration;
use super::fields::Section;
use super::model::{ProcessKind, ProcessSpec, RestartPolicy, defaults};
use super::raw::{CommandLine, Scalar};
use super::schema::Kind::*;
use super::schema::{Key, f, k};
use super::{ConfigError, Ctx, health, hooks, logging, task, users};
use crate::features::Feature;
use crate::sys::spawn::Credentials;

pub const KEYS: &[Key] = &[
    k("enabled", Bool),
    k("command", Command),
    k("type", Str),
    k("initial_state", Str),
    k("priority", Int),
    k("depends_on", List),
    k("scale", Int),
    k("max_scale", Int),
    k("scale_locked", Bool),
    k("restart", Str),
    k("env", StrMap),
    k("working_dir", Str),
    k("user", Str),
    k("group", Str),
    k("critical", Bool),
    k("stdout", Bool),
    k("stderr", Bool),
    k("shutdown", Section(hooks::SHUTDOWN)),
    k("reload_signal", Str),
    k("forward_signals", List),
    f("health_check", Section(health::KEYS), Feature::Health),
    f("hooks", Section(hooks::PHASES), Feature::Hooks),
    f("pre_start_hook", Section(hooks::HOOK), Feature::Hooks),
    f("post_start_hook", Section(hooks::HOOK), Feature::Hooks),
    f("post_stop_hook", Section(hooks::HOOK), Feature::Hooks),
    f("schedule", Str, Feature::Scheduler),
    f("schedule_timezone", Str, Feature::Scheduler),
    f("schedule_timeout", Time, Feature::Scheduler),
    f("schedule_max_concurrent", Int, Feature::Scheduler),
    f("heartbeat", Section(HEARTBEAT), Feature::Heartbeat),
    f("logging", logging::KIND, Feature::LogProcessing),
    // Keys the Go tool's documentation shows on a process; they are global settings.
    k("restart_delay", Moved("global.restart_backoff_initial")),
    k("max_restart_delay", Moved("global.restart_backoff_max")),
    k("max_restarts", Moved("global.max_restart_attempts")),
    k(
        "restart_threshold",
        Moved("global.restart_stable_after (a run shorter than it counts as a failed start)"),
    ),
    k("dependency_timeout", Moved("global.dependency_timeout")),
];

/// `heartbeat:` of a scheduled task (feature `heartbeat`; parsed in `task.rs`).
pub const HEARTBEAT: &[Key] = &[
    k("enabled", Bool),
    k("url", Str),
    k("timeout", Time),
    k("retry_count", Int),
    k("retry_delay", Time),
    k("method", Str),
    k("headers", StrMap),
    f("ca_file", Str, Feature::Tls),
    k("success_url", Str),
    k("failure_url", Str),
    k("interval", Time),
    k("grace", Time),
];

/// What every process inherits from the global section.
pub(super) struct Defaults<'a> {
    pub restart: Option<RestartPolicy>,
    pub log: Option<&'a logging::Settings>,
    pub max_process_scale: u32,
}

/// `/etc/passwd` and `/etc/group`, read once, when the first process names a user.
#[derive(Default)]
pub(super) struct Passwd(Option<(String, String)>);

/// Process `name`, checked; `None` when an error leaves nothing to run (they are recorded).
pub(super) fn parse(
    ctx: &Ctx<'_>,
    name: &str,
    s: &Section<'_>,
    d: &Defaults<'_>,
    passwd: &mut Passwd,
) -> Option<ProcessSpec> {
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('/') {
        ctx.error(s.err(
            None,
            format!("invalid process name {name:?}: use letters, digits, '-' and '_'"),
        ));
        return None;
    }
    let command = match ctx.keep(s.get::<CommandLine>("command")) {
        Some(Some(c)) => Some(c.0),
        // A misspelt `command` was reported as an unknown key already.
        Some(None) if ctx.has_unknown_in(&s.path) => None,
        Some(None) => {
            ctx.error(s.err(
                None,
                format!("process {name:?} has no command (add command: [\"program\", \"arg\"])"),
            ));
            None
        }
        None => None,
    };
    let task = ctx.keep(task::validate(ctx, name, s)).flatten();
    let (kind, restart) = kind_and_restart(ctx, s, task.as_ref().map(|t| t.kind()), d.restart);
    let (scale, max_scale, scale_locked) = scale(ctx, s, kind, d.max_process_scale);
    let priority = match ctx.keep(s.get::<i64>("priority")).flatten() {
        None => 0,
        Some(p) => i32::try_from(p).unwrap_or_else(|_| {
            ctx.error(s.err(Some("priority"), format!("priority {p} is out of range")));
            0
        }),
    };
    let start_stopped = initial_state(ctx, s, kind);
    let (stop_signal, stop_timeout) = stop(ctx, s);
    let credentials = credentials(ctx, s, passwd);
    // A feature's block in a build without it was refused by the key check already.
    let check = s
        .value("health_check")
        .filter(|_| Feature::Health.available());
    let health = ctx
        .keep(health::parse(ctx, s.ov, s.key_path("health_check"), check))
        .flatten();
    if health.is_some() && kind == ProcessKind::Oneshot {
        ctx.error(s.err(
            Some("health_check"),
            "a oneshot cannot have a health_check: it is ready when it exits 0".to_owned(),
        ));
    }
    let hooks = if Feature::Hooks.available() {
        ctx.keep(hooks::process(ctx, name, s, credentials.as_ref()))
            .unwrap_or_default()
    } else {
        Default::default()
    };
    let streams = (
        ctx.keep(s.get::<bool>("stdout")).flatten(),
        ctx.keep(s.get::<bool>("stderr")).flatten(),
    );
    let logging = d.log.and_then(|base| {
        ctx.keep(logging::process(
            ctx,
            base,
            name,
            s.value("logging"),
            s.ov,
            streams,
        ))
    });
    let labels = ctx
        .keep(logging::labels(ctx, name, s.value("logging"), s.ov))
        .unwrap_or_default();
    let signals = signal_policy(ctx, s, command.as_deref().unwrap_or_default());
    let env = ctx
        .keep(s.get::<BTreeMap<String, Scalar>>("env"))
        .flatten()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    Some(ProcessSpec {
        name: name.to_owned(),
        command: command?,
        kind,
        priority,
        depends_on: Vec::new(),
        scale,
        restart,
        env,
        working_dir: ctx
            .keep(s.get::<String>("working_dir"))
            .flatten()
            .filter(|d| !d.is_empty()),
        credentials,
        critical: ctx.keep(s.get("critical")).flatten().unwrap_or(false),
        stop_signal,
        stop_timeout,
        task,
        logging: logging?,
        health,
        hooks,
        start_stopped,
        max_scale,
        scale_locked,
        labels,
        signals,
    })
}

/// `reload_signal` and `forward_signals`: the process's signal policy, whose defaults come
/// from its program (`crate::signal_policy`).
fn signal_policy(
    ctx: &Ctx<'_>,
    s: &Section<'_>,
    command: &[String],
) -> crate::signal_policy::SignalPolicy {
    let reload = ctx.keep(s.get::<String>("reload_signal")).flatten();
    let forward = ctx.keep(s.get::<Vec<String>>("forward_signals")).flatten();
    super::signals::parse(command, reload.as_deref(), forward.as_deref()).unwrap_or_else(
        |(key, e)| {
            ctx.error(s.err(Some(key), e));
            Default::default()
        },
    )
}

/// The positions (among `names`, the enabled processes) of what `name` depends on; an error
/// for each name that is not an enabled process.
pub(super) fn dependencies(
    ctx: &Ctx<'_>,
    name: &str,
    s: &Section<'_>,
    names: &[&str],
) -> Option<Vec<usize>> {
    let list = ctx
        .keep(s.get::<Vec<String>>("depends_on"))?
        .unwrap_or_default();
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for dep in &list {
        match names.iter().position(|n| n == dep) {
            Some(i) => out.push(i),
            None => {
                ok = false;
                ctx.error(s.err(
                    Some("depends_on"),
                    format!(
                        "process {name:?} depends on {dep:?}, which is not defined or not enabled"
                    ),
                ));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    ok.then_some(out)
}

fn kind_and_restart(
    ctx: &Ctx<'_>,
    s: &Section<'_>,
    task: Option<ProcessKind>,
    default: Option<RestartPolicy>,
) -> (ProcessKind, RestartPolicy) {
    let kind = match (task, ctx.keep(s.get::<String>("type")).flatten().as_deref()) {
        (Some(t), _) => t,
        (None, None | Some("longrun")) => ProcessKind::Longrun,
        (None, Some("oneshot")) => ProcessKind::Oneshot,
        (None, Some(other)) => {
            ctx.error(s.err(
                Some("type"),
                format!("type must be \"longrun\" or \"oneshot\", not {other:?}"),
            ));
            ProcessKind::Longrun
        }
    };
    let restart = match ctx.keep(s.get::<String>("restart")).flatten() {
        None if !kind.supervised() || kind == ProcessKind::Oneshot => RestartPolicy::Never,
        None => default.unwrap_or(RestartPolicy::Always),
        Some(r) => RestartPolicy::parse(&r).unwrap_or_else(|| {
            ctx.error(s.err(
                Some("restart"),
                format!("restart must be always, on-failure or never; not {r:?}"),
            ));
            RestartPolicy::Never
        }),
    };
    if kind == ProcessKind::Oneshot && restart == RestartPolicy::Always {
        ctx.error(s.err(
            Some("restart"),
            "a oneshot cannot use restart: always (use on-failure to retry it)".to_owned(),
        ));
    }
    (kind, restart)
}

/// `scale`, `max_scale` (0 = no limit of its own, as in the Go tool) and `scale_locked`.
fn scale(ctx: &Ctx<'_>, s: &Section<'_>, kind: ProcessKind, cap: u32) -> (u32, u32, bool) {
    let scale = match ctx.keep(s.get::<i64>("scale")).flatten() {
        None => 1,
        Some(n) if (1..=defaults::MAX_SCALE).contains(&n) => n as u32,
        Some(n) => {
            ctx.error(s.err(
                Some("scale"),
                format!(
                    "scale must be between 1 and {}, not {n}",
                    defaults::MAX_SCALE
                ),
            ));
            1
        }
    };
    if kind == ProcessKind::Oneshot && scale != 1 {
        ctx.error(s.err(
            Some("scale"),
            "a oneshot runs once: scale must be 1".to_owned(),
        ));
    }
    let own = match ctx.keep(s.get::<i64>("max_scale")).flatten() {
        None | Some(0) => None,
        Some(n) if (1..=defaults::MAX_SCALE).contains(&n) => Some(n as u32),
        Some(n) => {
            ctx.error(s.err(
                Some("max_scale"),
                format!(
                    "max_scale must be between 0 (no limit of its own) and {}, not {n}",
                    defaults::MAX_SCALE
                ),
            ));
            None
        }
    };
    if let Some(m) = own.filter(|m| *m < scale) {
        ctx.error(s.err(
            Some("max_scale"),
            format!("max_scale {m} is below scale {scale}: raise max_scale or lower scale"),
        ));
    }
    // The configured scale is always allowed, whatever the global cap says.
    let max_scale = own.unwrap_or(u32::MAX).min(cap).max(scale);
    let locked = ctx.keep(s.get("scale_locked")).flatten().unwrap_or(false);
    (scale, max_scale, locked)
}

fn initial_state(ctx: &Ctx<'_>, s: &Section<'_>, kind: ProcessKind) -> bool {
    match ctx
        .keep(s.get::<String>("initial_state"))
        .flatten()
        .as_deref()
    {
        None | Some("running") => false,
        Some("stopped") if !kind.supervised() => {
            ctx.warn(
                s,
                "initial_state",
                "a scheduled task runs at its times: initial_state: stopped does not apply \
                 (pause it with POST /api/v1/processes/NAME/schedule/pause)",
            );
            false
        }
        Some("stopped") => true,
        Some(other) => {
            ctx.error(s.err(
                Some("initial_state"),
                format!("initial_state must be running or stopped, not {other:?}"),
            ));
            false
        }
    }
}

/// `shutdown.signal` and `shutdown.timeout`; `kill_signal` and `graceful` as the Go tool had
/// them (warned where they ask for something else than what every stop here does).
fn stop(ctx: &Ctx<'_>, s: &Section<'_>) -> (i32, u64) {
    use crate::sys::signals;
    let default = (signals::SIGTERM, defaults::STOP_TIMEOUT_MS);
    let Some(sd) = ctx.keep(s.child("shutdown")).flatten() else {
        return default;
    };
    let signal = match ctx.keep(sd.get::<String>("signal")).flatten() {
        None => signals::SIGTERM,
        Some(name) => signals::by_name(&name).unwrap_or_else(|| {
            ctx.error(sd.err(
                Some("signal"),
                format!("unknown signal {name:?} (use a name such as SIGTERM, SIGQUIT, SIGINT)"),
            ));
            signals::SIGTERM
        }),
    };
    if let Some(k) = ctx.keep(sd.get::<String>("kill_signal")).flatten() {
        if signals::by_name(&k) != Some(signals::SIGKILL) {
            ctx.warn(
                &sd,
                "kill_signal",
                "after shutdown.timeout the process group always gets SIGKILL (the one signal \
                 that cannot be ignored); another kill_signal is not used",
            );
        }
    }
    if ctx.keep(sd.get::<bool>("graceful")).flatten() == Some(false) {
        ctx.warn(
            &sd,
            "graceful",
            "every stop is graceful: shutdown.signal, up to shutdown.timeout, then SIGKILL; \
             for an immediate stop set shutdown.timeout: 0",
        );
    }
    let timeout = ctx
        .keep(sd.get::<Duration>("timeout"))
        .flatten()
        .map_or(defaults::STOP_TIMEOUT_MS, |d| d.ms());
    (signal, timeout)
}

fn credentials(ctx: &Ctx<'_>, s: &Section<'_>, passwd: &mut Passwd) -> Option<Credentials> {
    // "" is unset (what the Go tool's config save writes).
    let user = ctx
        .keep(s.get::<Scalar>("user"))
        .flatten()
        .filter(|u| !u.0.is_empty());
    let group = ctx
        .keep(s.get::<Scalar>("group"))
        .flatten()
        .filter(|g| !g.0.is_empty());
    if user.is_none() && group.is_none() {
        return None;
    }
    let (pw, gr) = passwd.0.get_or_insert_with(|| (ctx.inputs.passwd)());
    let which = if user.is_some() { "user" } else { "group" };
    let r: Result<Credentials, ConfigError> = users::resolve(
        user.as_ref().map(|u| u.0.as_str()),
        group.as_ref().map(|g| g.0.as_str()),
        pw,
        gr,
    )
    .map_err(|e| s.err(Some(which), e));
    ctx.keep(r)
}
