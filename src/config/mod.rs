//! Loading the configuration, in named steps: file text → `${VAR}` expansion → YAML document
//! (`read_document`) → key check against the tables (`check_keys`) → `PHPEEK_PM_*` overrides
//! (`apply_overrides`) → each section read key by key into the model (`global::parse`,
//! `process::parse`) → start order (`order_processes`) → readiness file → notes on where a Go
//! tool's configuration behaves differently (`compat::differences`).
//!
//! Every error names where it came from: `file:line` for the file, the variable for an
//! override. A problem does not stop the steps after it: [`check`] returns every error of a
//! file, sorted by line, so a file with five mistakes takes one run to fix, not five.

mod compat;
pub mod describe;
pub mod diff;
pub mod duration;
pub mod env;
pub mod expand;
mod fields;
mod global;
mod health;
mod hooks;
mod http;
mod kind;
#[cfg(feature = "log-processing")]
mod logging;
#[cfg(not(feature = "log-processing"))]
#[path = "logging_off.rs"]
mod logging;
pub mod model;
mod process;
pub mod raw;
pub mod schema;
mod signals;
#[cfg(feature = "scheduler")]
pub mod task;
#[cfg(not(feature = "scheduler"))]
#[path = "no_task.rs"]
pub mod task;
pub mod users;

use std::cell::RefCell;
use std::fmt;

use serde::Deserialize;
use yaml_serde::Value;

use crate::dag;
use crate::features::Feature;
use fields::Section;
use model::{Config, ProcessKind, ProcessSpec};
use schema::{Key, Kind, f, k};

/// The top level of a configuration file: the root of the key tables (each section's table
/// sits beside its parser) for the key check and the `PHPEEK_PM_*` overrides.
pub const TOP: &[Key] = &[
    k("version", Kind::Any),
    k("global", Kind::Section(global::KEYS)),
    f("hooks", Kind::Section(hooks::PHASES), Feature::Hooks),
    k("processes", Kind::Processes(process::KEYS)),
];

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

impl ConfigError {
    /// Sort key: file problems by line, then environment variables, then the rest.
    fn rank(&self) -> (u8, usize, String) {
        match &self.origin {
            Origin::File { line, .. } => (0, line.unwrap_or(0), String::new()),
            Origin::Env(v) => (1, 0, v.clone()),
            Origin::Nowhere => (2, 0, String::new()),
        }
    }
}

/// What the loader reads from the outside world; tests supply their own.
pub struct Inputs<'a> {
    /// The config file: its path and text; `None` for an environment-only configuration.
    pub file: Option<(&'a str, &'a str)>,
    /// The manager's environment.
    pub env: &'a [(String, String)],
    /// Contents of `/etc/passwd` and `/etc/group` (read only when a process sets `user`/`group`).
    pub passwd: &'a dyn Fn() -> (String, String),
}

/// Everything a check of the configuration found.
#[derive(Debug)]
pub struct Checked {
    /// The configuration, when there is no error.
    pub config: Option<Config>,
    /// Every error, sorted by line.
    pub errors: Vec<ConfigError>,
    /// Keys accepted that do not do what a user may expect (each says what happens instead).
    pub warnings: Vec<ConfigError>,
    /// Where the Go phpeek-pm would run this file differently (for `check-config`).
    pub differences: Vec<ConfigError>,
}

/// Loads and validates a configuration: the first error (by line) if there is one.
#[cfg(test)]
pub fn load(inputs: &Inputs<'_>) -> Result<Config, ConfigError> {
    let mut c = check(inputs);
    match c.config.take() {
        Some(config) if c.errors.is_empty() => Ok(config),
        _ => Err(c.errors.into_iter().next().unwrap_or(ConfigError {
            origin: Origin::Nowhere,
            msg: "invalid configuration".to_owned(),
        })),
    }
}

/// Checks a configuration completely: every error, warning and difference from the Go tool.
pub fn check(inputs: &Inputs<'_>) -> Checked {
    let mut ctx = Ctx::new(inputs);
    let mut config = None;
    if let Some(mut doc) = read_document(&ctx) {
        check_keys(&ctx, &doc, &[]);
        // Not a mapping at all: nothing below can be read, and saying so once is enough.
        if doc.is_mapping() || doc.is_null() {
            ctx.ov = apply_overrides(&ctx, &mut doc);
            config = validate(&ctx, &doc);
        }
    }
    let (mut errors, mut warnings, differences) = ctx.take();
    errors.sort_by_key(ConfigError::rank);
    errors.dedup();
    warnings.sort_by_key(ConfigError::rank);
    Checked {
        config: config.filter(|_| errors.is_empty()),
        errors,
        warnings,
        differences,
    }
}

/// What the steps share: the inputs, the expanded text, the overrides applied, and what they
/// found so far.
struct Ctx<'a> {
    inputs: &'a Inputs<'a>,
    text: String,
    ov: Vec<env::Applied>,
    errors: RefCell<Vec<ConfigError>>,
    warnings: RefCell<Vec<ConfigError>>,
    differences: RefCell<Vec<ConfigError>>,
    /// Paths of unknown keys found: a "missing key" error next to one would only repeat it.
    unknown: RefCell<Vec<Vec<String>>>,
}

type Found = (Vec<ConfigError>, Vec<ConfigError>, Vec<ConfigError>);

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
        Ctx {
            inputs,
            text,
            ov: Vec::new(),
            errors: RefCell::new(Vec::new()),
            warnings: RefCell::new(Vec::new()),
            differences: RefCell::new(Vec::new()),
            unknown: RefCell::new(Vec::new()),
        }
    }

    /// Whether an unknown key was found directly in the section at `path` (a typo of a
    /// required key, most likely).
    fn has_unknown_in(&self, path: &[String]) -> bool {
        self.unknown
            .borrow()
            .iter()
            .any(|p| p.len() == path.len() + 1 && p.starts_with(path))
    }

    fn take(&self) -> Found {
        (
            self.errors.take(),
            self.warnings.take(),
            self.differences.take(),
        )
    }

    /// Records an error; the steps go on.
    fn error(&self, e: ConfigError) {
        self.errors.borrow_mut().push(e);
    }

    /// The value of a step that may fail: on failure the error is recorded and `None` returned.
    fn keep<T>(&self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.error(e)).ok()
    }

    /// A warning at `key` of section `s`.
    fn warn(&self, s: &Section<'_>, key: &str, msg: &str) {
        let w = s.err(Some(key), format!("{}.{key}: {msg}", s.dotted()));
        self.warnings.borrow_mut().push(w);
    }

    /// A difference from the Go tool at `path` (its line, or the file).
    fn differs(&self, path: &[String], msg: String) {
        let e = self.at(path, &[], msg);
        self.differences.borrow_mut().push(e);
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
            schema::KeyProblem::Moved { path, to } => {
                let msg = format!(
                    "{} is not a key (the Go tool's documentation shows it, but the Go tool \
                     ignores it): use {to}",
                    dotted(&path)
                );
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

/// Step 1: the document as written (after `${VAR}`). A file of several YAML documents (`---`)
/// is read as the Go tool reads it, the first document only, with a warning naming the line
/// where the ignored ones begin. `None` when the text is not YAML (nothing else can be checked).
fn read_document(ctx: &Ctx<'_>) -> Option<Value> {
    let text = ctx.text.as_str();
    if text.trim().is_empty() {
        return Some(Value::Null);
    }
    let mut docs = yaml_serde::Deserializer::from_str(text);
    let first = docs.next().map(Value::deserialize).transpose();
    let doc = match first {
        Ok(v) => v.unwrap_or(Value::Null),
        Err(e) => {
            // The parser reports a duplicate key at the start of its mapping; point at the
            // second key instead when a scan of the text finds it. (Only ever consulted for a
            // document the parser rejected, so the scan cannot reject valid YAML.)
            ctx.error(match schema::duplicate_key(text) {
                Some((line, key, first)) => ConfigError {
                    origin: ctx.file_origin(Some(line)),
                    msg: format!("duplicate key {key:?} (first written at line {first})"),
                },
                None => ctx.yaml_error(&e),
            });
            return None;
        }
    };
    let rest_used = docs.any(|d| Value::deserialize(d).map_or(true, |v| !v.is_null()));
    if rest_used {
        let line = second_document_line(text);
        ctx.warnings.borrow_mut().push(ConfigError {
            origin: ctx.file_origin(line),
            msg: "a second YAML document starts here (---): only the first document is read, \
                  as the Go tool does; put everything in one document, or split the file"
                .to_owned(),
        });
    }
    Some(doc)
}

/// The line of the `---` that ends the first document (one before any content is a header).
fn second_document_line(text: &str) -> Option<usize> {
    let mut content = false;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_end();
        if t == "---" || t.starts_with("--- ") {
            if content {
                return Some(i + 1);
            }
            continue;
        }
        let t = t.trim_start();
        if !t.is_empty() && !t.starts_with('#') {
            content = true;
        }
    }
    None
}

/// Step 2: every key against the tables. `blame` limits the report to problems at paths set
/// by those overrides (the second pass, after they were applied).
fn check_keys(ctx: &Ctx<'_>, doc: &Value, blame: &[env::Applied]) {
    for p in schema::check(doc, TOP) {
        let at = p.path();
        if let schema::KeyProblem::Unknown { path, .. } = &p {
            ctx.unknown.borrow_mut().push(path.clone());
        }
        if blame.is_empty() || blame.iter().any(|o| o.path.starts_with(at)) {
            ctx.error(ctx.key_problem(p, blame));
        }
    }
}

/// Step 3: `PHPEEK_PM_*` overrides on top of the document; their key problems are blamed on
/// the variable.
fn apply_overrides(ctx: &Ctx<'_>, doc: &mut Value) -> Vec<env::Applied> {
    let overrides = match env::plan(ctx.inputs.env, doc, global::KEYS, process::KEYS) {
        Ok(o) => o,
        Err(u) => {
            ctx.error(ConfigError {
                origin: Origin::Env(u.var),
                msg: match u.hint {
                    Some(h) => format!("not a known setting (did you mean {h}?)"),
                    None => "not a known setting".to_owned(),
                },
            });
            return Vec::new();
        }
    };
    for o in &overrides {
        env::apply(doc, o);
    }
    check_keys(ctx, doc, &overrides);
    overrides
}

/// Steps 4-7: the sections into the model.
fn validate(ctx: &Ctx<'_>, doc: &Value) -> Option<Config> {
    let null = Value::Null;
    let ov = ctx.ov.as_slice();
    let g = Section::new(
        ctx,
        ov,
        path(&["global"]),
        None,
        doc.get("global").unwrap_or(&null),
    );
    let g = ctx.keep(g)?.with_keys(global::KEYS);
    let log_settings = ctx.keep(logging::global(ctx, &g, ov));
    let unowned = log_settings
        .as_ref()
        .and_then(|s| ctx.keep(logging::unowned(ctx, s, ov)))
        .unwrap_or_default();
    let (global, default_restart) = global::parse(ctx, &g, unowned);
    // A feature's block in a build without it was refused by the key check already.
    let hooks = doc.get("hooks").filter(|_| Feature::Hooks.available());
    let hooks = ctx.keep(hooks::global(ctx, ov, hooks)).unwrap_or_default();
    let defaults = process::Defaults {
        restart: default_restart,
        log: log_settings.as_ref(),
        max_process_scale: global.max_process_scale,
    };
    let processes = parse_processes(ctx, doc, &defaults);
    compat::differences(ctx, doc);
    let (processes, names) = order_processes(ctx, processes?)?;
    let readiness = match Feature::Health.available() {
        true => ctx.keep(health::readiness(&g, &names)).flatten(),
        false => None,
    };
    let config = Config {
        path: ctx.inputs.file.map(|(p, _)| p.to_owned()),
        global: model::Global {
            readiness,
            ..global
        },
        processes,
        hooks,
        child_env: Vec::new(),
        watch: false,
    };
    Some(config)
}

/// Step 5: every enabled process, with the indices of its dependencies (by position among
/// the enabled ones).
fn parse_processes(
    ctx: &Ctx<'_>,
    doc: &Value,
    defaults: &process::Defaults<'_>,
) -> Option<Vec<(ProcessSpec, Vec<usize>)>> {
    let ov = ctx.ov.as_slice();
    let sections: Vec<(String, Section<'_>)> = doc
        .get("processes")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let name = schema::yaml_scalar_text(k);
            let s = ctx.keep(Section::new(ctx, ov, path(&["processes", &name]), None, v))?;
            Some((name, s.with_keys(process::KEYS)))
        })
        .filter(|(_, s)| ctx.keep(s.get::<bool>("enabled")).flatten() != Some(false))
        .collect();
    let malformed = doc
        .get("processes")
        .is_some_and(|p| !p.is_null() && !p.is_mapping());
    if sections.is_empty() && !malformed {
        ctx.error(ConfigError {
            origin: ctx.file_origin(None),
            msg: "no processes to run: define at least one enabled process under `processes:` \
                  (or with PHPEEK_PM_PROCESS_<NAME>_COMMAND)"
                .to_owned(),
        });
    }
    let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
    let mut passwd = process::Passwd::default();
    // Every process is read (for its errors) before giving up on any.
    let parsed: Vec<Option<(ProcessSpec, Vec<usize>)>> = sections
        .iter()
        .map(|(name, s)| {
            let spec = process::parse(ctx, name, s, defaults, &mut passwd);
            let deps = process::dependencies(ctx, name, s, &names);
            spec.zip(deps)
        })
        .collect();
    parsed.into_iter().collect()
}

/// A process name and whether it is a longrun (what the readiness file may track).
type LongrunFlag = (String, bool);

/// Step 6: the start order (dependencies first); a cycle is an error at the first process's
/// `depends_on`. Also the (name, is a longrun) list in that order, for the readiness file.
fn order_processes(
    ctx: &Ctx<'_>,
    parsed: Vec<(ProcessSpec, Vec<usize>)>,
) -> Option<(Vec<ProcessSpec>, Vec<LongrunFlag>)> {
    let nodes: Vec<dag::Node<'_>> = parsed
        .iter()
        .map(|(s, d)| dag::Node {
            name: &s.name,
            priority: s.priority,
            deps: d,
        })
        .collect();
    let order = match dag::order(&nodes) {
        Ok(o) => o,
        Err(cycle) => {
            let first = cycle.first().cloned().unwrap_or_default();
            ctx.error(ctx.at(
                &path(&["processes", &first, "depends_on"]),
                &ctx.ov,
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ));
            return None;
        }
    };
    let mut position = vec![0usize; parsed.len()];
    for (pos, &i) in order.iter().enumerate() {
        position[i] = pos;
    }
    let mut slots: Vec<Option<(ProcessSpec, Vec<usize>)>> = parsed.into_iter().map(Some).collect();
    let mut processes = Vec::with_capacity(slots.len());
    for &i in &order {
        if let Some((mut s, deps)) = slots[i].take() {
            s.depends_on = deps.iter().map(|&d| position[d]).collect();
            processes.push(s);
        }
    }
    let names = processes
        .iter()
        .map(|p| (p.name.clone(), p.kind == ProcessKind::Longrun))
        .collect();
    Some((processes, names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Level, RestartPolicy};

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
