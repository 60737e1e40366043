//! `PHPEEK_PM_GLOBAL_<KEY>` and `PHPEEK_PM_PROCESS_<NAME>_<KEY>` overrides, applied to the
//! parsed document before it is typed, so they go through exactly the same checks as YAML.
//!
//! Routing (unlike the original tool, which routed `..._HEALTH_CHECK_TYPE` to a bogus process
//! `nginx-health-check`): the name is matched first against the processes of the file
//! (`QUEUE_DEFAULT` is `queue-default` or `queue_default`), then the rest is resolved against the
//! key table, nesting greedily (`HEALTH_CHECK_TYPE` → `health_check.type`,
//! `SHUTDOWN_TIMEOUT` → `shutdown.timeout`). A name that matches no process of the file defines a
//! new one: the shortest name that leaves a known key. `..._ENV_<VAR>` sets one `env` entry,
//! keeping VAR's case.

use yaml_serde::{Mapping, Value};

use super::schema::{self, Key, Kind};

pub const GLOBAL_PREFIX: &str = "PHPEEK_PM_GLOBAL_";
pub const PROCESS_PREFIX: &str = "PHPEEK_PM_PROCESS_";

/// One override that was applied: which variable, and which key path it set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub var: String,
    pub path: Vec<String>,
    pub value: Value,
}

/// An override variable that names no known setting.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownVar {
    pub var: String,
    pub hint: Option<String>,
}

/// Works out every override in `vars` against the process names of `doc`, without applying:
/// `PHPEEK_PM_GLOBAL_*` against the table `global`, `PHPEEK_PM_PROCESS_*` against `process`.
pub fn plan(
    vars: &[(String, String)],
    doc: &Value,
    global: &'static [Key],
    process: &'static [Key],
) -> Result<Vec<Applied>, UnknownVar> {
    let mut names: Vec<String> = process_names(doc);
    let mut out = Vec::new();
    let mut sorted: Vec<&(String, String)> = vars.iter().collect();
    sorted.sort();
    for (var, value) in sorted {
        if let Some(rest) = var.strip_prefix(GLOBAL_PREFIX) {
            let tokens = lower_tokens(rest);
            let Some((path, key)) = schema::resolve(&tokens, global) else {
                return Err(UnknownVar {
                    var: var.clone(),
                    hint: schema::closest(&tokens.join("_"), global)
                        .map(|k| format!("{GLOBAL_PREFIX}{}", k.to_ascii_uppercase())),
                });
            };
            let mut full = vec!["global".to_owned()];
            full.extend(path.iter().map(|s| (*s).to_owned()));
            out.push(Applied {
                var: var.clone(),
                path: full,
                value: typed(value, key),
            });
        } else if let Some(rest) = var.strip_prefix(PROCESS_PREFIX) {
            if !rest.contains('_') {
                // PHPEEK_PM_PROCESS_NAME is what we give our own children: not an override.
                continue;
            }
            let Some((name, key_path, leaf)) = route(rest, &names, process) else {
                return Err(UnknownVar {
                    var: var.clone(),
                    hint: None,
                });
            };
            if !names.contains(&name) {
                names.push(name.clone());
            }
            let mut full = vec!["processes".to_owned(), name];
            let value = match leaf {
                Some(key) => typed(value, key),
                None => Value::String(value.clone()),
            };
            full.extend(key_path);
            out.push(Applied {
                var: var.clone(),
                path: full,
                value,
            });
        }
    }
    Ok(out)
}

/// Sets one override in the document, creating sections on the way.
pub fn apply(doc: &mut Value, a: &Applied) {
    if !doc.is_mapping() {
        *doc = Value::Mapping(Mapping::new());
    }
    let mut cur = doc;
    for (i, seg) in a.path.iter().enumerate() {
        let Value::Mapping(m) = cur else { return };
        let key = Value::String(seg.clone());
        if i + 1 == a.path.len() {
            m.insert(key, a.value.clone());
            return;
        }
        let entry = m.entry(key).or_insert(Value::Null);
        if !entry.is_mapping() {
            *entry = Value::Mapping(Mapping::new());
        }
        cur = entry;
    }
}

fn process_names(doc: &Value) -> Vec<String> {
    doc.get("processes")
        .and_then(Value::as_mapping)
        .map(|m| m.keys().map(schema::yaml_scalar_text).collect())
        .unwrap_or_default()
}

fn lower_tokens(s: &str) -> Vec<String> {
    s.split('_')
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// `QUEUE_DEFAULT` matches a process named `queue-default`, `queue_default` or `QUEUE_DEFAULT`.
fn env_form(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// Splits `NAME_KEY` into a process name and key path. `None` when no split names a key.
fn route(
    rest: &str,
    names: &[String],
    process: &'static [Key],
) -> Option<(String, Vec<String>, Option<&'static Key>)> {
    // Known processes first, longest name first, so `QUEUE_HIGH_SCALE` prefers `queue-high`
    // over `queue` when both exist.
    let mut known: Vec<&String> = names.iter().collect();
    known.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in known {
        let prefix = format!("{}_", env_form(n));
        if let Some(key) = rest.strip_prefix(&prefix) {
            if let Some((path, leaf)) = key_path(key, process) {
                return Some((n.clone(), path, leaf));
            }
        }
    }
    // A new process: the shortest name that leaves a known key.
    let parts: Vec<&str> = rest.split('_').collect();
    for split in 1..parts.len() {
        let key = parts[split..].join("_");
        if let Some((path, leaf)) = key_path(&key, process) {
            let name = parts[..split].join("-").to_ascii_lowercase();
            return Some((name, path, leaf));
        }
    }
    None
}

/// Resolves the key part of a process override. `ENV_<VAR>` keeps VAR as written; keys under a
/// section held as written (`health_check` until its feature types it) take the rest as one key.
fn key_path(key: &str, process: &'static [Key]) -> Option<(Vec<String>, Option<&'static Key>)> {
    if let Some(var) = key.strip_prefix("ENV_") {
        if !var.is_empty() {
            return Some((vec!["env".to_owned(), var.to_owned()], None));
        }
    }
    let tokens = lower_tokens(key);
    if tokens.is_empty() {
        return None;
    }
    if let Some((path, leaf)) = schema::resolve(&tokens, process) {
        return Some((path.iter().map(|s| (*s).to_owned()).collect(), Some(leaf)));
    }
    // A prefix that names a key held as written: the remaining tokens form one sub-key.
    for take in (1..tokens.len()).rev() {
        let head = tokens[..take].join("_");
        if let Some(k) = process.iter().find(|k| k.name == head) {
            if matches!(k.kind, Kind::Any) {
                return Some((vec![head, tokens[take..].join("_")], None));
            }
        }
    }
    None
}

/// Turns an environment string into the YAML value the key expects.
fn typed(raw: &str, key: &Key) -> Value {
    let s = raw.trim();
    let json = || yaml_serde::from_str::<Value>(s).ok();
    match key.kind {
        Kind::Str => Value::String(s.to_owned()),
        Kind::Int => s
            .parse::<i64>()
            .map(|n| Value::Number(n.into()))
            .unwrap_or_else(|_| Value::String(s.to_owned())),
        Kind::Float => s
            .parse::<f64>()
            .map(|n| Value::Number(n.into()))
            .unwrap_or_else(|_| Value::String(s.to_owned())),
        Kind::Bool => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => Value::String(s.to_owned()),
        },
        Kind::Time => s
            .parse::<u64>()
            .map(|n| Value::Number(n.into()))
            .unwrap_or_else(|_| Value::String(s.to_owned())),
        Kind::Command => match s.starts_with('[').then(json).flatten() {
            Some(v) => v,
            None => Value::Sequence(
                s.split_whitespace()
                    .map(|w| Value::String(w.to_owned()))
                    .collect(),
            ),
        },
        Kind::List => match s.starts_with('[').then(json).flatten() {
            Some(v) => v,
            None => Value::Sequence(
                s.split(',')
                    .map(str::trim)
                    .filter(|w| !w.is_empty())
                    .map(|w| Value::String(w.to_owned()))
                    .collect(),
            ),
        },
        Kind::StrMap
        | Kind::Section(_)
        | Kind::SectionList(_)
        | Kind::Processes(_)
        | Kind::Any
        | Kind::Moved(_) => json().unwrap_or_else(|| Value::String(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overrides against the real tables.
    fn plan(vars: &[(String, String)], doc: &Value) -> Result<Vec<Applied>, UnknownVar> {
        super::plan(
            vars,
            doc,
            crate::config::global::KEYS,
            crate::config::process::KEYS,
        )
    }

    fn doc(text: &str) -> Value {
        yaml_serde::from_str(text).unwrap()
    }

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect()
    }

    fn paths(p: &[Applied]) -> Vec<String> {
        p.iter().map(|a| a.path.join(".")).collect()
    }

    #[test]
    fn nested_keys_go_to_the_named_process() {
        let d = doc("processes:\n  nginx: {command: [nginx]}\n  queue-default: {command: [q]}\n");
        let p = plan(
            &vars(&[
                ("PHPEEK_PM_PROCESS_NGINX_SHUTDOWN_TIMEOUT", "60"),
                ("PHPEEK_PM_PROCESS_NGINX_HEALTH_CHECK_TYPE", "http"),
                ("PHPEEK_PM_PROCESS_QUEUE_DEFAULT_SCALE", "5"),
                ("PHPEEK_PM_PROCESS_NGINX_ENV_App_Mode", "prod"),
            ]),
            &d,
        )
        .unwrap();
        assert_eq!(
            paths(&p),
            [
                "processes.nginx.env.App_Mode",
                "processes.nginx.health_check.type",
                "processes.nginx.shutdown.timeout",
                "processes.queue-default.scale",
            ]
        );
        assert_eq!(p[3].value, Value::Number(5.into()));
    }

    #[test]
    fn env_only_processes_and_globals() {
        let p = plan(
            &vars(&[
                ("PHPEEK_PM_PROCESS_MY_APP_COMMAND", "php -S 0.0.0.0:8000"),
                ("PHPEEK_PM_PROCESS_MY_APP_DEPENDS_ON", "db, cache"),
                ("PHPEEK_PM_GLOBAL_LOG_LEVEL", "debug"),
                ("PHPEEK_PM_GLOBAL_SHUTDOWN_TIMEOUT", "60"),
                ("PHPEEK_PM_PROCESS_NAME", "ignored"),
            ]),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(
            paths(&p),
            [
                "global.log_level",
                "global.shutdown_timeout",
                "processes.my-app.command",
                "processes.my-app.depends_on",
            ]
        );
        let argv: Vec<String> = yaml_serde::from_value(p[2].value.clone()).unwrap();
        assert_eq!(argv, ["php", "-S", "0.0.0.0:8000"]);
        let deps: Vec<String> = yaml_serde::from_value(p[3].value.clone()).unwrap();
        assert_eq!(deps, ["db", "cache"]);
    }

    #[test]
    fn json_commands_and_unknown_vars() {
        let p = plan(
            &vars(&[(
                "PHPEEK_PM_PROCESS_APP_COMMAND",
                r#"["php","artisan","horizon"]"#,
            )]),
            &Value::Null,
        )
        .unwrap();
        let argv: Vec<String> = yaml_serde::from_value(p[0].value.clone()).unwrap();
        assert_eq!(argv, ["php", "artisan", "horizon"]);
        let e = plan(&vars(&[("PHPEEK_PM_GLOBAL_LOG_LEVL", "x")]), &Value::Null).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("PHPEEK_PM_GLOBAL_LOG_LEVEL"));
        assert!(plan(&vars(&[("PHPEEK_PM_PROCESS_WEB_SCAEL", "3")]), &Value::Null).is_err());
    }

    #[test]
    fn apply_creates_sections() {
        let mut d = Value::Null;
        let p = plan(
            &vars(&[("PHPEEK_PM_PROCESS_WEB_SHUTDOWN_SIGNAL", "SIGQUIT")]),
            &d,
        )
        .unwrap();
        apply(&mut d, &p[0]);
        assert_eq!(
            d["processes"]["web"]["shutdown"]["signal"],
            Value::String("SIGQUIT".into())
        );
    }
}
