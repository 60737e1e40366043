//! Loading the configuration: file text → `${VAR}` expansion → YAML document → key check →
//! `PHPEEK_PM_*` overrides → serde types (`raw`) → validated model (`model`).
//!
//! Every error names where it came from: `file:line` for the file, the variable for an
//! override. Problems are found before anything starts.

pub mod acl;
pub mod duration;
pub mod env;
pub mod expand;
mod http;
#[cfg(feature = "log-processing")]
mod logging;
#[cfg(not(feature = "log-processing"))]
#[path = "logging_off.rs"]
mod logging;
pub mod model;
pub mod raw;
pub mod schema;
#[cfg(feature = "scheduler")]
pub mod task;
#[cfg(not(feature = "scheduler"))]
#[path = "no_task.rs"]
pub mod task;
pub mod users;

// Feature sections: the real parsers when the feature is built, else stubs that never see a
// value (the key walk has already refused the keys of a missing feature).
#[cfg(any(
    feature = "health",
    feature = "hooks",
    feature = "api",
    feature = "metrics"
))]
mod fields;
#[cfg(any(feature = "api", feature = "metrics"))]
mod security;
#[cfg(not(any(feature = "api", feature = "metrics")))]
mod security {
    //! Stub: this build has neither `api` nor `metrics` (the key walk refused their keys).
    use super::model::{HistorySettings, TlsSettings};
    use super::{ConfigError, Ctx, acl::Acl, env, raw::RawGlobal};
    pub(super) fn acl(
        _: &Ctx<'_>,
        _: &[env::Applied],
        _: &str,
        _: Option<&yaml_serde::Value>,
    ) -> Result<Option<Acl>, ConfigError> {
        Ok(None)
    }
    pub(super) fn tls(
        _: &Ctx<'_>,
        _: &[env::Applied],
        _: &str,
        _: Option<&yaml_serde::Value>,
    ) -> Result<Option<TlsSettings>, ConfigError> {
        Ok(None)
    }
    pub(super) fn history(
        _: &Ctx<'_>,
        _: &[env::Applied],
        _: &RawGlobal,
    ) -> Result<Option<HistorySettings>, ConfigError> {
        Ok(None)
    }
}
#[cfg(feature = "health")]
mod health;
#[cfg(not(feature = "health"))]
mod health {
    //! Stub: this build has no feature `health`.
    use super::model::{HealthSpec, ReadinessSpec};
    use super::{ConfigError, Ctx, env, raw::RawGlobal};
    pub(super) fn parse(
        _: &Ctx<'_>,
        _: &[env::Applied],
        _: Vec<String>,
        _: Option<&yaml_serde::Value>,
    ) -> Result<Option<HealthSpec>, ConfigError> {
        Ok(None)
    }
    pub(super) fn readiness(
        _: &Ctx<'_>,
        _: &[env::Applied],
        _: &RawGlobal,
        _: &[(&str, bool)],
    ) -> Result<Option<ReadinessSpec>, ConfigError> {
        Ok(None)
    }
}
#[cfg(feature = "hooks")]
mod hooks;
#[cfg(not(feature = "hooks"))]
mod hooks {
    //! Stub: this build has no feature `hooks`.
    use super::model::{HookSet, ProcessHooks};
    use super::{ConfigError, Ctx, env, raw::RawProcess};
    use crate::sys::spawn::Credentials;
    pub(super) fn global(
        _: &Ctx<'_>,
        _: &[env::Applied],
        _: Option<&yaml_serde::Value>,
    ) -> Result<HookSet, ConfigError> {
        Ok(HookSet::default())
    }
    pub(super) fn process(
        _: &Ctx<'_>,
        _: &[env::Applied],
        _: &str,
        _: &RawProcess,
        _: Option<&Credentials>,
    ) -> Result<ProcessHooks, ConfigError> {
        Ok(ProcessHooks::default())
    }
}

use std::fmt;

use yaml_serde::Value;

use crate::supervisor::dag;
use model::{Config, Global, Level, LogFormat, ProcessKind, ProcessSpec, RestartPolicy, defaults};
use raw::{RawConfig, RawProcess};

/// Where a configuration problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File { path: String, line: Option<usize> },
    Env(String),
    Nowhere,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: Origin,
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File {
                path,
                line: Some(l),
            } => write!(f, "{path}:{l}: {}", self.msg),
            Origin::File { path, line: None } => write!(f, "{path}: {}", self.msg),
            Origin::Env(var) => write!(f, "environment variable {var}: {}", self.msg),
            Origin::Nowhere => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What the loader reads from the outside world; tests supply their own.
pub struct Inputs<'a> {
    /// The config file: its path and text; `None` for an environment-only configuration.
    pub file: Option<(&'a str, &'a str)>,
    /// The manager's environment.
    pub env: &'a [(String, String)],
    /// Contents of `/etc/passwd` and `/etc/group` (read only when a process sets `user`/`group`).
    pub passwd: &'a dyn Fn() -> (String, String),
}

/// Loads and validates a configuration.
pub fn load(inputs: &Inputs<'_>) -> Result<Config, ConfigError> {
    let ctx = Ctx::new(inputs);
    let text = ctx.text.as_str();

    // 1. The document as written (after ${VAR}), for syntax errors and the key check.
    let mut doc: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        yaml_serde::from_str(text).map_err(|e| {
            // The parser reports a duplicate key at the start of its mapping; point at the
            // second key instead when a scan of the text finds it. (Only ever consulted for a
            // document the parser rejected, so the scan cannot reject valid YAML.)
            match schema::duplicate_key(text) {
                Some((line, key, first)) => ConfigError {
                    origin: ctx.file_origin(Some(line)),
                    msg: format!("duplicate key {key:?} (first written at line {first})"),
                },
                None => ctx.yaml_error(&e),
            }
        })?
    };
    if let Some(p) = schema::check(&doc) {
        return Err(ctx.key_problem(p, &[]));
    }
    // 2. Types as written, so that type errors carry the file's line numbers.
    if !doc.is_null() {
        yaml_serde::from_str::<RawConfig>(text).map_err(|e| ctx.yaml_error(&e))?;
    }
    // 3. Environment overrides on top.
    let overrides = env::plan(inputs.env, &doc).map_err(|u| ConfigError {
        origin: Origin::Env(u.var),
        msg: match u.hint {
            Some(h) => format!("not a known setting (did you mean {h}?)"),
            None => "not a known setting".to_owned(),
        },
    })?;
    let file_doc = doc.clone();
    for o in &overrides {
        env::apply(&mut doc, o);
    }
    if let Some(p) = schema::check(&doc) {
        return Err(ctx.key_problem(p, &overrides));
    }
    let raw: RawConfig = if doc.is_null() {
        RawConfig::default()
    } else {
        yaml_serde::from_value(doc).map_err(|e| {
            // Name the variable whose value does not fit: apply them one at a time.
            let culprit = overrides.iter().find(|o| {
                let mut d = file_doc.clone();
                env::apply(&mut d, o);
                yaml_serde::from_value::<RawConfig>(d).is_err()
            });
            ConfigError {
                origin: culprit.map_or(Origin::Nowhere, |o| Origin::Env(o.var.clone())),
                msg: strip_location(&e.to_string(), None),
            }
        })?
    };
    // 4. Meaning.
    validate(&ctx, raw, &overrides)
}

struct Ctx<'a> {
    inputs: &'a Inputs<'a>,
    text: String,
}

impl<'a> Ctx<'a> {
    fn new(inputs: &'a Inputs<'a>) -> Self {
        let text = match inputs.file {
            Some((_, t)) => expand::expand(t, |name| {
                inputs
                    .env
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            }),
            None => String::new(),
        };
        Ctx { inputs, text }
    }

    fn file_origin(&self, line: Option<usize>) -> Origin {
        match self.inputs.file {
            Some((path, _)) => Origin::File {
                path: path.to_owned(),
                line,
            },
            None => Origin::Nowhere,
        }
    }

    fn yaml_error(&self, e: &yaml_serde::Error) -> ConfigError {
        let loc = e.location();
        ConfigError {
            origin: self.file_origin(loc.as_ref().map(|l| l.line())),
            msg: strip_location(&e.to_string(), loc.as_ref()),
        }
    }

    /// Error at a key path: the override that set it, else its line in the file.
    fn at(&self, path: &[String], overrides: &[env::Applied], msg: String) -> ConfigError {
        if let Some(o) = overrides
            .iter()
            .rev()
            .find(|o| o.path.starts_with(path) || path.starts_with(&o.path))
        {
            return ConfigError {
                origin: Origin::Env(o.var.clone()),
                msg,
            };
        }
        ConfigError {
            origin: self.file_origin(schema::locate(&self.text, path)),
            msg,
        }
    }

    fn key_problem(&self, p: schema::KeyProblem, overrides: &[env::Applied]) -> ConfigError {
        match p {
            schema::KeyProblem::Unknown { path, closest } => {
                let msg = match closest {
                    Some(c) => format!("unknown key {} (did you mean {c:?}?)", dotted(&path)),
                    None => format!("unknown key {}", dotted(&path)),
                };
                self.at(&path, overrides, msg)
            }
            schema::KeyProblem::NeedsFeature { path, feature } => {
                let msg = feature.unavailable(&dotted(&path));
                self.at(&path, overrides, msg)
            }
            schema::KeyProblem::NotAList { path } => self.at(
                &path,
                overrides,
                format!("{} must be a list", dotted(&path)),
            ),
            schema::KeyProblem::NotAMapping { path } => {
                let what = if path.is_empty() {
                    "the configuration".to_owned()
                } else {
                    dotted(&path)
                };
                self.at(
                    &path,
                    overrides,
                    format!("{what} must be a mapping of keys"),
                )
            }
        }
    }
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

/// Drops the " at line L column C" that the YAML error text ends with: we print the line first.
fn strip_location(msg: &str, loc: Option<&yaml_serde::Location>) -> String {
    let mut s = msg.to_owned();
    if let Some(l) = loc {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(pos) = s.find(&suffix) {
            s.replace_range(pos..pos + suffix.len(), "");
        }
    }
    s
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn validate(ctx: &Ctx<'_>, raw: RawConfig, ov: &[env::Applied]) -> Result<Config, ConfigError> {
    let g = raw.global.unwrap_or_default();
    let gp = |k: &str| path(&["global", k]);

    let log_format = match g.log_format.as_deref() {
        None | Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        Some(other) => {
            return Err(ctx.at(
                &gp("log_format"),
                ov,
                format!("log_format must be \"json\" or \"text\", not {other:?}"),
            ));
        }
    };
    let log_level = match g.log_level.as_deref() {
        None => Level::Info,
        Some(s) => Level::parse(s).ok_or_else(|| {
            ctx.at(
                &gp("log_level"),
                ov,
                format!("log_level must be one of debug, info, warn, error; not {s:?}"),
            )
        })?,
    };
    let default_restart = match g.restart_policy.as_deref() {
        None => None,
        Some(s) => Some(RestartPolicy::parse(s).ok_or_else(|| {
            ctx.at(
                &gp("restart_policy"),
                ov,
                format!("restart_policy must be always, on-failure or never; not {s:?}"),
            )
        })?),
    };
    let legacy = g.restart_backoff.map(|d| d.ms());
    let backoff_initial = g
        .restart_backoff_initial
        .map(|d| d.ms())
        .or(legacy)
        .unwrap_or(defaults::BACKOFF_INITIAL_MS);
    let backoff_max = g
        .restart_backoff_max
        .map(|d| d.ms())
        .or(legacy.map(|l| l * 12))
        .unwrap_or(defaults::BACKOFF_MAX_MS)
        .max(backoff_initial);
    let max_restart_attempts = match g.max_restart_attempts {
        None => None,
        Some(n) if n < 0 => None,
        Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
    };
    let (api, metrics) = http::settings(ctx, &g, ov)?;
    let autotune_memory_threshold = match g.autotune_memory_threshold {
        None => None,
        Some(v) if (0.0..=defaults::MAX_MEMORY_THRESHOLD).contains(&v) => {
            // Millionths; 0 = the profile's own share (as in the Go tool).
            Some((v * 1e6).round() as u64).filter(|ppm| *ppm > 0)
        }
        Some(v) => {
            return Err(ctx.at(
                &gp("autotune_memory_threshold"),
                ov,
                format!(
                    "autotune_memory_threshold must be from 0 to 1.0 (a share of the memory \
                     limit, e.g. 0.7; 0 = the profile's own), not {v}"
                ),
            ));
        }
    };
    let log_settings = logging::global(ctx, &g, ov)?;
    let global = Global {
        shutdown_timeout: g
            .shutdown_timeout
            .map_or(defaults::SHUTDOWN_TIMEOUT_MS, |d| d.ms()),
        log_format,
        log_level,
        backoff_initial,
        backoff_max,
        stable_after: g
            .restart_stable_after
            .map_or(defaults::STABLE_AFTER_MS, |d| d.ms()),
        max_restart_attempts,
        dependency_timeout: match g.dependency_timeout {
            None => Some(defaults::DEPENDENCY_TIMEOUT_MS),
            Some(d) if d.ms() == 0 => None,
            Some(d) => Some(d.ms()),
        },
        logging: logging::unowned(ctx, &log_settings, ov)?,
        api,
        metrics,
        readiness: None,
        autotune_memory_threshold,
        framework_setup: g.framework_setup.unwrap_or(true),
    };
    let global_hooks = hooks::global(ctx, ov, raw.hooks.as_ref())?;

    // Enabled processes, then dependencies by name.
    let all = raw.processes.unwrap_or_default();
    let enabled: Vec<(String, RawProcess)> = all
        .into_iter()
        .filter(|(_, p)| p.enabled.unwrap_or(true))
        .collect();
    let disabled_or_unknown = |name: &str| -> bool { !enabled.iter().any(|(n, _)| n == name) };
    if enabled.is_empty() {
        return Err(ConfigError {
            origin: ctx.file_origin(None),
            msg: "no processes to run: define at least one enabled process under `processes:` \
                  (or with PHPEEK_PM_PROCESS_<NAME>_COMMAND)"
                .to_owned(),
        });
    }
    let mut passwd_cache: Option<(String, String)> = None;
    let mut specs: Vec<ProcessSpec> = Vec::with_capacity(enabled.len());
    for (name, p) in &enabled {
        let pp = |k: &[&str]| {
            let mut v = path(&["processes", name]);
            v.extend(k.iter().map(|s| (*s).to_owned()));
            v
        };
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('/') {
            return Err(ctx.at(
                &pp(&[]),
                ov,
                format!("invalid process name {name:?}: use letters, digits, '-' and '_'"),
            ));
        }
        let Some(command) = p.command.as_ref() else {
            return Err(ctx.at(&pp(&[]), ov, format!("process {name:?} has no command")));
        };
        let task = task::validate(ctx, name, p, ov)?;
        let kind = match (&task, p.kind.as_deref()) {
            (Some(t), _) => t.kind(),
            (None, None | Some("longrun")) => ProcessKind::Longrun,
            (None, Some("oneshot")) => ProcessKind::Oneshot,
            (None, Some(other)) => {
                return Err(ctx.at(
                    &pp(&["type"]),
                    ov,
                    format!("type must be \"longrun\" or \"oneshot\", not {other:?}"),
                ));
            }
        };
        let restart = match p.restart.as_deref() {
            None if !kind.supervised() => RestartPolicy::Never,
            None if kind == ProcessKind::Oneshot => RestartPolicy::Never,
            None => default_restart.unwrap_or(RestartPolicy::Always),
            Some(s) => RestartPolicy::parse(s).ok_or_else(|| {
                ctx.at(
                    &pp(&["restart"]),
                    ov,
                    format!("restart must be always, on-failure or never; not {s:?}"),
                )
            })?,
        };
        if kind == ProcessKind::Oneshot && restart == RestartPolicy::Always {
            return Err(ctx.at(
                &pp(&["restart"]),
                ov,
                "a oneshot cannot use restart: always (use on-failure to retry it)".to_owned(),
            ));
        }
        let scale = p.scale.unwrap_or(1);
        if !(1..=defaults::MAX_SCALE).contains(&scale) {
            return Err(ctx.at(
                &pp(&["scale"]),
                ov,
                format!(
                    "scale must be between 1 and {}, not {scale}",
                    defaults::MAX_SCALE
                ),
            ));
        }
        if kind == ProcessKind::Oneshot && scale != 1 {
            return Err(ctx.at(
                &pp(&["scale"]),
                ov,
                "a oneshot runs once: scale must be 1".to_owned(),
            ));
        }
        let priority = p.priority.unwrap_or(0);
        let Ok(priority) = i32::try_from(priority) else {
            return Err(ctx.at(
                &pp(&["priority"]),
                ov,
                format!("priority {priority} is out of range"),
            ));
        };
        for dep in p.depends_on.iter().flatten() {
            if disabled_or_unknown(dep) {
                return Err(ctx.at(
                    &pp(&["depends_on"]),
                    ov,
                    format!(
                        "process {name:?} depends on {dep:?}, which is not defined or not enabled"
                    ),
                ));
            }
        }
        let sd = p.shutdown.as_ref();
        let stop_signal = match sd.and_then(|s| s.signal.as_deref()) {
            None => crate::sys::signals::SIGTERM,
            Some(s) => crate::sys::signals::by_name(s).ok_or_else(|| {
                ctx.at(
                    &pp(&["shutdown", "signal"]),
                    ov,
                    format!("unknown signal {s:?} (use a name such as SIGTERM, SIGQUIT, SIGINT)"),
                )
            })?,
        };
        let credentials = if p.user.is_some() || p.group.is_some() {
            let (pw, gr) = passwd_cache.get_or_insert_with(|| (ctx.inputs.passwd)());
            let which = if p.user.is_some() { "user" } else { "group" };
            Some(
                users::resolve(
                    p.user.as_ref().map(|s| s.0.as_str()),
                    p.group.as_ref().map(|s| s.0.as_str()),
                    pw,
                    gr,
                )
                .map_err(|e| ctx.at(&pp(&[which]), ov, e))?,
            )
        } else {
            None
        };
        let health = health::parse(ctx, ov, pp(&["health_check"]), p.health_check.as_ref())?;
        if health.is_some() && kind == ProcessKind::Oneshot {
            return Err(ctx.at(
                &pp(&["health_check"]),
                ov,
                "a oneshot cannot have a health_check: it is ready when it exits 0".to_owned(),
            ));
        }
        let hooks = hooks::process(ctx, ov, name, p, credentials.as_ref())?;
        specs.push(ProcessSpec {
            name: name.clone(),
            command: command.0.clone(),
            kind,
            priority,
            depends_on: Vec::new(),
            scale: scale as u32,
            restart,
            env: p
                .env
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
            working_dir: p.working_dir.clone(),
            credentials,
            critical: p.critical.unwrap_or(false),
            stop_signal,
            stop_timeout: sd
                .and_then(|s| s.timeout)
                .map_or(defaults::STOP_TIMEOUT_MS, |d| d.ms()),
            task,
            logging: logging::process(ctx, &log_settings, name, p.logging.as_ref(), ov)?,
            health,
            hooks,
        });
    }
    // Indices of dependencies, then the start order.
    let deps: Vec<Vec<usize>> = enabled
        .iter()
        .map(|(_, p)| {
            let mut v: Vec<usize> = p
                .depends_on
                .iter()
                .flatten()
                .filter_map(|d| enabled.iter().position(|(n, _)| n == d))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    let nodes: Vec<dag::Node<'_>> = specs
        .iter()
        .zip(&deps)
        .map(|(s, d)| dag::Node {
            name: &s.name,
            priority: s.priority,
            deps: d,
        })
        .collect();
    let order = dag::order(&nodes).map_err(|cycle| {
        let first = cycle.first().cloned().unwrap_or_default();
        ctx.at(
            &path(&["processes", &first, "depends_on"]),
            ov,
            format!("dependency cycle: {}", cycle.join(" -> ")),
        )
    })?;
    let mut position = vec![0usize; specs.len()];
    for (pos, &i) in order.iter().enumerate() {
        position[i] = pos;
    }
    let mut slots: Vec<Option<ProcessSpec>> = specs.into_iter().map(Some).collect();
    let mut processes = Vec::with_capacity(slots.len());
    for &i in &order {
        if let Some(mut s) = slots[i].take() {
            s.depends_on = deps[i].iter().map(|&d| position[d]).collect();
            processes.push(s);
        }
    }
    let names: Vec<(&str, bool)> = processes
        .iter()
        .map(|p| (p.name.as_str(), p.kind == ProcessKind::Longrun))
        .collect();
    let readiness = health::readiness(ctx, ov, &g, &names)?;
    Ok(Config {
        path: ctx.inputs.file.map(|(p, _)| p.to_owned()),
        global: Global {
            readiness,
            ..global
        },
        processes,
        hooks: global_hooks,
        child_env: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwd() -> (String, String) {
        (
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n".into(),
            "root:x:0:\napp:x:1000:\n".into(),
        )
    }

    fn load_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        load(&Inputs {
            file: Some(("test.yaml", text)),
            env: &env,
            passwd: &passwd,
        })
    }

    #[test]
    fn readme_quickstart_loads_with_defaults() {
        let c = load_with(
            "version: \"1.0\"\nglobal:\n  shutdown_timeout: 30\n  log_format: json\n  log_level: info\nprocesses:\n  php-fpm:\n    enabled: true\n    command: [\"php-fpm\", \"-F\", \"-R\"]\n    priority: 10\n    restart: always\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.global.shutdown_timeout, 30_000);
        assert_eq!(c.processes.len(), 1);
        let p = &c.processes[0];
        assert_eq!(p.command, ["php-fpm", "-F", "-R"]);
        assert_eq!(p.restart, RestartPolicy::Always);
        assert_eq!(p.stop_signal, crate::sys::signals::SIGTERM);
        assert_eq!(c.global.max_restart_attempts, None);
    }

    #[test]
    fn errors_carry_lines() {
        let e = load_with("processes:\n  web:\n    comand: [x]\n", &[]).unwrap_err();
        assert_eq!(
            e.origin,
            Origin::File {
                path: "test.yaml".into(),
                line: Some(3)
            }
        );
        assert!(e.msg.contains("did you mean \"command\""), "{}", e.msg);
        let e = load_with(
            "processes:\n  web:\n    command: [x]\n    scale: lots\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.origin,
            Origin::File {
                path: "test.yaml".into(),
                line: Some(4)
            }
        );
        let e = load_with(
            "processes:\n  web:\n    command: [x]\n    depends_on: [db]\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.origin,
            Origin::File {
                path: "test.yaml".into(),
                line: Some(4)
            }
        );
        assert!(e.msg.contains("\"db\""));
    }

    #[test]
    fn env_overrides_beat_yaml_and_are_blamed() {
        let text = "processes:\n  queue-default:\n    command: [q]\n    scale: 2\n";
        let c = load_with(text, &[("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "5")]).unwrap();
        assert_eq!(c.processes[0].scale, 5);
        let e = load_with(text, &[("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "many")]).unwrap_err();
        assert_eq!(
            e.origin,
            Origin::Env("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE".into())
        );
        let c = load_with(
            text,
            &[
                ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SHUTDOWN_TIMEOUT", "60"),
                ("PHPEEK_PM_GLOBAL_LOG_LEVEL", "debug"),
            ],
        )
        .unwrap();
        assert_eq!(c.processes[0].stop_timeout, 60_000);
        assert_eq!(c.global.log_level, Level::Debug);
    }

    #[test]
    fn variables_expand_in_values() {
        let c = load_with(
            "processes:\n  w:\n    command: [\"${BIN:-/bin/true}\"]\n    scale: ${N:-2}\n",
            &[("N", "3")],
        )
        .unwrap();
        assert_eq!(c.processes[0].command, ["/bin/true"]);
        assert_eq!(c.processes[0].scale, 3);
    }

    #[test]
    fn users_resolve_and_bad_users_fail() {
        let c = load_with("processes:\n  w:\n    command: [x]\n    user: app\n", &[]).unwrap();
        assert_eq!(
            c.processes[0].credentials.as_ref().map(|c| c.uid),
            Some(1000)
        );
        let e =
            load_with("processes:\n  w:\n    command: [x]\n    user: ghost\n", &[]).unwrap_err();
        assert_eq!(
            e.origin,
            Origin::File {
                path: "test.yaml".into(),
                line: Some(4)
            }
        );
    }

    #[test]
    fn feature_keys_are_accepted_by_the_schema_but_need_their_feature() {
        let e = load_with(
            "processes:\n  nginx:\n    command: [nginx]\n    health_check:\n      type: tcp\n",
            &[],
        )
        .unwrap_err();
        if crate::features::Feature::Health.available() {
            // The check itself is validated instead.
            assert!(e.msg.contains("needs address"), "{}", e.msg);
        } else {
            assert!(e.msg.contains("health_check requires"), "{}", e.msg);
            assert!(e.msg.contains("\"health\""));
        }
        // Turning a feature off is fine in any build.
        load_with(
            "global:\n  metrics_enabled: false\nprocesses:\n  a: {command: [x]}\n",
            &[],
        )
        .unwrap();
    }
}
