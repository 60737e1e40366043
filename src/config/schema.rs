//! The table of every configuration key: its kind and the feature it needs. One table serves
//! three jobs: rejecting unknown keys (with the closest known one), rejecting keys of features
//! this binary was built without, and giving `PHPEEK_PM_*` overrides their types and nesting.
//! A unit test keeps it in step with the serde types of `raw.rs`.

use yaml_serde::Value;

use crate::features::Feature;

/// What a key holds, as far as env overrides and the key walk need to know.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Duration,
    /// argv: a JSON array, or a whitespace-separated string from the environment.
    Command,
    /// A list of strings: a JSON array, or comma-separated from the environment.
    List,
    /// A map of strings (`env`).
    StrMap,
    /// A nested section with its own keys.
    Section(&'static [Key]),
    /// A list of sections with the same keys (hook lists).
    SectionList(&'static [Key]),
    /// The map of processes: any name, each a `PROCESS` section.
    Processes,
    /// Held as written until its feature types it.
    Any,
}

#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// The feature this key switches on: its presence (or, for booleans, `true`) in a build
    /// without the feature is an error.
    pub feature: Option<Feature>,
}

const fn k(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        feature: None,
    }
}

const fn f(name: &'static str, kind: Kind, feature: Feature) -> Key {
    Key {
        name,
        kind,
        feature: Some(feature),
    }
}

use Kind::*;

pub const TOP: &[Key] = &[
    k("version", Str),
    k("global", Section(GLOBAL)),
    f("hooks", Section(HOOKS), Feature::Hooks),
    k("processes", Processes),
];

/// The phases of a `hooks` block; the original tool spells them with hyphens, we accept both.
pub const HOOKS: &[Key] = &[
    k("pre-start", SectionList(HOOK)),
    k("post-start", SectionList(HOOK)),
    k("pre-stop", SectionList(HOOK)),
    k("post-stop", SectionList(HOOK)),
    k("pre_start", SectionList(HOOK)),
    k("post_start", SectionList(HOOK)),
    k("pre_stop", SectionList(HOOK)),
    k("post_stop", SectionList(HOOK)),
];

/// One hook (feature `hooks`).
pub const HOOK: &[Key] = &[
    k("name", Str),
    k("command", Command),
    k("timeout", Duration),
    k("retry", Int),
    k("retry_delay", Duration),
    k("continue_on_error", Bool),
    k("env", StrMap),
    k("working_dir", Str),
    k("user", Str),
    k("group", Str),
];

/// A `health_check` block (feature `health`). `interval` and `retries` are the original
/// tool's documentation's names for `period` and `failure_threshold`.
pub const HEALTH: &[Key] = &[
    k("type", Str),
    k("address", Str),
    k("url", Str),
    k("command", Command),
    k("initial_delay", Duration),
    k("period", Duration),
    k("interval", Duration),
    k("timeout", Duration),
    k("failure_threshold", Int),
    k("retries", Int),
    k("success_threshold", Int),
    k("expected_status", Int),
    k("expected_body", Str),
    k("mode", Str),
];

/// `global.readiness`, the original tool's readiness-file block (feature `health`).
pub const READINESS: &[Key] = &[
    k("enabled", Bool),
    k("path", Str),
    k("mode", Str),
    k("content", Str),
    k("processes", List),
];

/// `api_acl` / `metrics_acl` (the Go tool's `ACLConfig`).
pub const ACL: &[Key] = &[
    k("enabled", Bool),
    k("mode", Str),
    k("allow_list", List),
    k("deny_list", List),
    k("trust_proxy", Bool),
];

/// `api_tls` / `metrics_tls` (the Go tool's `TLSConfig`).
pub const TLS: &[Key] = &[
    k("enabled", Bool),
    k("cert_file", Str),
    k("key_file", Str),
    k("ca_file", Str),
    k("client_auth", Str),
    k("min_version", Str),
    k("cipher_suites", List),
    k("auto_reload", Bool),
    k("auto_reload_interval", Duration),
];

pub const GLOBAL: &[Key] = &[
    k("shutdown_timeout", Duration),
    k("log_format", Str),
    k("log_level", Str),
    k("restart_policy", Str),
    k("restart_backoff", Duration),
    k("restart_backoff_initial", Duration),
    k("restart_backoff_max", Duration),
    k("restart_stable_after", Duration),
    k("max_restart_attempts", Int),
    k("dependency_timeout", Duration),
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
    f("metrics_enabled", Bool, Feature::Metrics),
    k("metrics_port", Int),
    k("metrics_path", Str),
    k("metrics_host", Str),
    f("api_enabled", Bool, Feature::Api),
    k("api_port", Int),
    k("api_host", Str),
    k("api_socket", Str),
    k("api_auth", Str),
    f("api_acl", Section(ACL), Feature::Api),
    f("api_tls", Section(TLS), Feature::Tls),
    f("metrics_acl", Section(ACL), Feature::Metrics),
    f("metrics_tls", Section(TLS), Feature::Tls),
    f("audit_enabled", Bool, Feature::Api),
    k("resource_metrics_enabled", Bool),
    k("resource_metrics_interval", Duration),
    k("resource_metrics_max_samples", Int),
    f("autotune_memory_threshold", Float, Feature::Autotune),
    f("framework_setup", Bool, Feature::Detect),
    f("readiness_file", Str, Feature::Health),
    f("readiness", Section(READINESS), Feature::Health),
];

pub const PROCESS: &[Key] = &[
    k("enabled", Bool),
    k("command", Command),
    k("type", Str),
    k("priority", Int),
    k("depends_on", List),
    k("scale", Int),
    k("restart", Str),
    k("env", StrMap),
    k("working_dir", Str),
    k("user", Str),
    k("group", Str),
    k("critical", Bool),
    k("shutdown", Section(SHUTDOWN)),
    f("health_check", Section(HEALTH), Feature::Health),
    f("hooks", Section(HOOKS), Feature::Hooks),
    f("pre_start_hook", Section(HOOK), Feature::Hooks),
    f("post_start_hook", Section(HOOK), Feature::Hooks),
    f("post_stop_hook", Section(HOOK), Feature::Hooks),
    f("schedule", Str, Feature::Scheduler),
    f("schedule_timezone", Str, Feature::Scheduler),
    f("schedule_timeout", Duration, Feature::Scheduler),
    f("schedule_max_concurrent", Int, Feature::Scheduler),
    f("heartbeat", Section(HEARTBEAT), Feature::Heartbeat),
    f("logging", LOGGING_KIND, Feature::LogProcessing),
];

/// `processes.*.logging`: its keys are only known (and routed for env overrides) in builds
/// with the feature; other builds reject the whole block by name.
#[cfg(feature = "log-processing")]
const LOGGING_KIND: Kind = Section(LOGGING);
#[cfg(not(feature = "log-processing"))]
const LOGGING_KIND: Kind = Any;

#[cfg(feature = "log-processing")]
pub const LOGGING: &[Key] = &[
    k("stdout", Bool),
    k("stderr", Bool),
    k("min_level", Str),
    k("level_detection", Section(LOG_LEVEL_DETECTION)),
    k("json", Section(LOG_JSON)),
    k("multiline", Section(LOG_MULTILINE)),
    k("redaction", Section(LOG_REDACTION)),
    k("filters", Section(LOG_FILTERS)),
];

#[cfg(feature = "log-processing")]
const LOG_LEVEL_DETECTION: &[Key] = &[
    k("enabled", Bool),
    k("default_level", Str),
    k("patterns", Any),
];

#[cfg(feature = "log-processing")]
const LOG_JSON: &[Key] = &[k("enabled", Bool)];

#[cfg(feature = "log-processing")]
const LOG_MULTILINE: &[Key] = &[
    k("enabled", Bool),
    k("pattern", Str),
    k("timeout", Any),
    k("max_lines", Int),
];

#[cfg(feature = "log-processing")]
const LOG_REDACTION: &[Key] = &[
    k("enabled", Bool),
    k("patterns", Any),
    k("placeholder", Str),
    k("emails", Bool),
];

#[cfg(feature = "log-processing")]
const LOG_FILTERS: &[Key] = &[
    k("enabled", Bool),
    k("level", Str),
    k("exclude", List),
    k("include", List),
];

pub const SHUTDOWN: &[Key] = &[
    k("signal", Str),
    k("timeout", Duration),
    f("pre_stop_hook", Section(HOOK), Feature::Hooks),
    k("wait_for_exit", Bool),
];

pub const HEARTBEAT: &[Key] = &[
    k("enabled", Bool),
    k("url", Str),
    k("timeout", Duration),
    k("retry_count", Int),
    k("retry_delay", Duration),
    k("method", Str),
    k("headers", StrMap),
    f("ca_file", Str, Feature::Tls),
    k("success_url", Str),
    k("failure_url", Str),
    k("interval", Any),
    k("grace", Any),
];

/// A problem found by the key walk, with the path of the offending key.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyProblem {
    Unknown {
        path: Vec<String>,
        closest: Option<&'static str>,
    },
    NeedsFeature {
        path: Vec<String>,
        feature: Feature,
    },
    NotAMapping {
        path: Vec<String>,
    },
    NotAList {
        path: Vec<String>,
    },
}

/// Walks a parsed document and reports the first unknown key, feature key of a missing
/// feature, or section that is not a mapping.
pub fn check(doc: &Value) -> Option<KeyProblem> {
    let mut path = Vec::new();
    match doc {
        Value::Null => None,
        Value::Mapping(_) => walk(doc, TOP, &mut path),
        _ => Some(KeyProblem::NotAMapping { path }),
    }
}

fn walk(v: &Value, keys: &'static [Key], path: &mut Vec<String>) -> Option<KeyProblem> {
    let Value::Mapping(m) = v else {
        return if v.is_null() {
            None
        } else {
            Some(KeyProblem::NotAMapping { path: path.clone() })
        };
    };
    for (key, value) in m {
        let name = match key {
            Value::String(s) => s.clone(),
            other => yaml_scalar_text(other),
        };
        path.push(name.clone());
        let Some(spec) = keys.iter().find(|k| k.name == name) else {
            return Some(KeyProblem::Unknown {
                path: path.clone(),
                closest: closest(&name, keys),
            });
        };
        if let Some(feature) = spec.feature {
            let activates = match value {
                Value::Bool(b) => *b,
                Value::Null => false,
                _ => true,
            };
            if activates && !feature.available() {
                return Some(KeyProblem::NeedsFeature {
                    path: path.clone(),
                    feature,
                });
            }
        }
        let problem = match spec.kind {
            Section(sub) => walk(value, sub, path),
            SectionList(sub) => match value {
                Value::Sequence(items) => items.iter().find_map(|item| walk(item, sub, path)),
                Value::Null => None,
                _ => Some(KeyProblem::NotAList { path: path.clone() }),
            },
            Processes => match value {
                Value::Mapping(procs) => procs.iter().find_map(|(name, p)| {
                    path.push(yaml_scalar_text(name));
                    let r = walk(p, PROCESS, path);
                    path.pop();
                    r
                }),
                Value::Null => None,
                _ => Some(KeyProblem::NotAMapping { path: path.clone() }),
            },
            _ => None,
        };
        if problem.is_some() {
            return problem;
        }
        path.pop();
    }
    None
}

/// The text of a scalar key (`1` for a number key, `true` for a boolean key).
pub fn yaml_scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        _ => "<complex key>".to_owned(),
    }
}

/// The known key nearest to `name` by edit distance, if it is near enough to be a typo.
pub fn closest(name: &str, keys: &'static [Key]) -> Option<&'static str> {
    let limit = (name.len() / 3).max(2);
    keys.iter()
        .map(|k| (edit_distance(name, k.name), k.name))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Resolves `["health", "check", "type"]` against a section to the key path
/// `["health_check", "type"]`, joining tokens greedily (longest known key first) at each level.
pub fn resolve(
    tokens: &[String],
    keys: &'static [Key],
) -> Option<(Vec<&'static str>, &'static Key)> {
    for take in (1..=tokens.len()).rev() {
        let joined = tokens[..take].join("_");
        let Some(spec) = keys.iter().find(|k| k.name == joined) else {
            continue;
        };
        if take == tokens.len() {
            return Some((vec![spec.name], spec));
        }
        if let Section(sub) = spec.kind {
            if let Some((mut rest, leaf)) = resolve(&tokens[take..], sub) {
                rest.insert(0, spec.name);
                return Some((rest, leaf));
            }
        }
    }
    None
}

/// Finds the 1-based line of the key at `path` in block-style YAML text. For keys written in
/// flow style (`{a: 1}`) it returns the line of the nearest enclosing key it can find.
pub fn locate(text: &str, path: &[String]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut best = None;
    let mut start = 0usize;
    let mut parent_indent: isize = -1;
    let mut end = lines.len();
    for key in path {
        let mut found = None;
        for (i, line) in lines.iter().enumerate().take(end).skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as isize;
            if indent <= parent_indent {
                break;
            }
            let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
            if key_of(body).is_some_and(|k| k == key) {
                found = Some((i, indent));
                break;
            }
        }
        match found {
            Some((i, indent)) => {
                best = Some(i + 1);
                parent_indent = indent;
                start = i + 1;
                end = lines
                    .iter()
                    .enumerate()
                    .skip(i + 1)
                    .find(|(_, l)| {
                        let t = l.trim_start();
                        !t.is_empty()
                            && !t.starts_with('#')
                            && ((l.len() - t.len()) as isize) <= indent
                    })
                    .map_or(lines.len(), |(j, _)| j);
            }
            None => {
                // Flow style: the key sits on the parent's line or the lines inside it.
                let from = best.map_or(0, |b| b - 1);
                let needle_plain = format!("{key}:");
                return lines
                    .iter()
                    .enumerate()
                    .take(end)
                    .skip(from)
                    .find(|(_, l)| l.contains(&needle_plain))
                    .map(|(i, _)| i + 1)
                    .or(best);
            }
        }
    }
    best
}

/// Finds a key written twice in the same block mapping: `(line, key, first line)`, 1-based.
/// YAML parsers report this at the start of the mapping; users want the second key's line.
/// Block style only (flow mappings are left to the parser); block scalars (`|`, `>`) skipped.
pub fn duplicate_key(text: &str) -> Option<(usize, String, usize)> {
    // Open mappings: (indent of their keys, keys seen with their lines).
    let mut stack: Vec<(usize, Vec<(String, usize)>)> = Vec::new();
    let mut scalar_block: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        if let Some(parent) = scalar_block {
            if indent > parent {
                continue;
            }
            scalar_block = None;
        }
        let mut body = trimmed;
        let line_indent = indent;
        // "- key: v" opens a new mapping two columns in.
        let mut item = false;
        while let Some(rest) = body.strip_prefix("- ") {
            indent += 2;
            body = rest.trim_start();
            item = true;
        }
        while stack
            .last()
            .is_some_and(|(ind, _)| *ind > indent || (item && *ind == indent))
        {
            stack.pop();
        }
        let key = key_of(body);
        let value = match key {
            Some(_) => body[body.find(':').map_or(body.len(), |c| c + 1)..].trim(),
            None => body,
        };
        if value.starts_with('|') || value.starts_with('>') {
            // Everything indented deeper than this line is text, not keys.
            scalar_block = Some(line_indent);
        }
        let Some(key) = key else { continue };
        if stack.last().is_none_or(|(ind, _)| *ind < indent) {
            stack.push((indent, Vec::new()));
        }
        if let Some((_, keys)) = stack.last_mut() {
            if let Some((_, first)) = keys.iter().find(|(k, _)| k == key) {
                return Some((i + 1, key.to_owned(), *first));
            }
            keys.push((key.to_owned(), i + 1));
        }
    }
    None
}

/// The key of a `key: value` line, unquoted.
fn key_of(body: &str) -> Option<&str> {
    let (k, _) = if let Some(rest) = body.strip_prefix('"') {
        let end = rest.find('"')?;
        let k = &rest[..end];
        return rest[end + 1..].trim_start().starts_with(':').then_some(k);
    } else if let Some(rest) = body.strip_prefix('\'') {
        let end = rest.find('\'')?;
        let k = &rest[..end];
        return rest[end + 1..].trim_start().starts_with(':').then_some(k);
    } else {
        let colon = body.find(':')?;
        let after = &body[colon + 1..];
        if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
            return None;
        }
        (body[..colon].trim_end(), ())
    };
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw;

    fn names(keys: &[Key]) -> Vec<&'static str> {
        let mut v: Vec<_> = keys.iter().map(|k| k.name).collect();
        v.sort_unstable();
        v
    }

    fn sorted(mut v: Vec<&'static str>) -> Vec<&'static str> {
        v.sort_unstable();
        v
    }

    #[test]
    fn tables_match_the_serde_types() {
        assert_eq!(names(TOP), sorted(raw::field_names::<raw::RawConfig>()));
        assert_eq!(names(GLOBAL), sorted(raw::field_names::<raw::RawGlobal>()));
        assert_eq!(
            names(PROCESS),
            sorted(raw::field_names::<raw::RawProcess>())
        );
        assert_eq!(
            names(SHUTDOWN),
            sorted(raw::field_names::<raw::RawShutdown>())
        );
        assert_eq!(
            names(HEARTBEAT),
            sorted(raw::field_names::<raw::RawHeartbeat>())
        );
    }

    #[test]
    fn resolves_nested_keys_greedily() {
        let t = |s: &str| s.split('_').map(str::to_owned).collect::<Vec<_>>();
        let (p, _) = resolve(&t("health_check"), PROCESS).unwrap();
        assert_eq!(p, ["health_check"]);
        let (p, _) = resolve(&t("health_check_type"), PROCESS).unwrap();
        assert_eq!(p, ["health_check", "type"]);
        let (p, _) = resolve(&t("health_check_failure_threshold"), PROCESS).unwrap();
        assert_eq!(p, ["health_check", "failure_threshold"]);
        let (p, _) = resolve(&t("shutdown_timeout"), PROCESS).unwrap();
        assert_eq!(p, ["shutdown", "timeout"]);
        let (p, _) = resolve(&t("shutdown_pre_stop_hook_command"), PROCESS).unwrap();
        assert_eq!(p, ["shutdown", "pre_stop_hook", "command"]);
        let (p, _) = resolve(&t("working_dir"), PROCESS).unwrap();
        assert_eq!(p, ["working_dir"]);
        assert!(resolve(&t("no_such"), PROCESS).is_none());
        let (p, _) = resolve(&t("restart_backoff_max"), GLOBAL).unwrap();
        assert_eq!(p, ["restart_backoff_max"]);
    }

    #[test]
    fn suggests_close_keys() {
        assert_eq!(closest("comand", PROCESS), Some("command"));
        assert_eq!(closest("depend_on", PROCESS), Some("depends_on"));
        assert_eq!(closest("zzzzzzzz", PROCESS), None);
    }

    #[test]
    fn finds_duplicate_keys_in_block_mappings() {
        let t = "processes:\n  web:\n    command: [sh]\n    command: [ls]\n";
        assert_eq!(duplicate_key(t), Some((4, "command".into(), 3)));
        let ok = "a:\n  x: 1\nb:\n  x: 2\nlist:\n  - name: a\n    x: 1\n  - name: b\n    x: 2\nc: |\n  x: 1\n  x: 1\n";
        assert_eq!(duplicate_key(ok), None);
        assert_eq!(
            duplicate_key("a: 1\nb: 2\na: 3\n"),
            Some((3, "a".into(), 1))
        );
    }

    #[test]
    fn locates_block_and_flow_keys() {
        let text = "global:\n  log_level: info\nprocesses:\n  web:\n    command: [a]\n    shutdown:\n      timeout: 5\n  'db':\n    command: {x: 1}\n";
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(locate(text, &p(&["global", "log_level"])), Some(2));
        assert_eq!(
            locate(text, &p(&["processes", "web", "shutdown", "timeout"])),
            Some(7)
        );
        assert_eq!(locate(text, &p(&["processes", "db"])), Some(8));
        assert_eq!(
            locate(text, &p(&["processes", "db", "command", "x"])),
            Some(9)
        );
        assert_eq!(locate(text, &p(&["processes", "nope"])), Some(3));
    }
}
