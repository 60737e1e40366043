//! The machinery of the key tables: what a key is ([`Key`], [`Kind`]), the walk that checks a
//! document against the tables, and finding a key's line in the text.
//!
//! The tables themselves sit beside the parser of their section (`global.rs`, `process.rs`,
//! `health.rs`, `hooks.rs`, `http.rs`, `logging.rs`), so adding a key touches the section's file
//! and the model; their root, the file's top level, is `config::TOP`. This file names no table:
//! the walk, the overrides and a section's `child` are given theirs. One walk serves three jobs: rejecting unknown keys (with the closest known one,
//! or the key a Go-docs-only name really is), rejecting keys of features this binary was built
//! without, and giving `PHPEEK_PM_*` overrides their types and nesting. A section parser reads
//! only keys of its own table (checked in debug builds by `fields::Section::get`).

use yaml_serde::Value;

use crate::features::Feature;

/// What a key holds, as far as env overrides and the key walk need to know.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    /// A duration: seconds as a number, or a string with units.
    Time,
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
    /// The map of processes: any name, each a section of the keys given (`process::KEYS`).
    Processes(&'static [Key]),
    /// Held as written until its feature types it.
    Any,
    /// Not a key, though the Go tool's documentation shows it: the text names the real one.
    Moved(&'static str),
}

#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// The feature this key switches on: its presence (or, for booleans, `true`) in a build
    /// without the feature is an error.
    pub feature: Option<Feature>,
}

pub const fn k(name: &'static str, kind: Kind) -> Key {
    Key {
        name,
        kind,
        feature: None,
    }
}

pub const fn f(name: &'static str, kind: Kind, feature: Feature) -> Key {
    Key {
        name,
        kind,
        feature: Some(feature),
    }
}

use Kind::*;

/// A problem found by the key walk, with the path of the offending key.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyProblem {
    Unknown {
        path: Vec<String>,
        closest: Option<&'static str>,
    },
    /// A key of the Go tool's documentation that is not a key (there, nor here).
    Moved {
        path: Vec<String>,
        to: &'static str,
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

impl KeyProblem {
    /// The key path it is about.
    pub fn path(&self) -> &[String] {
        match self {
            KeyProblem::Unknown { path, .. }
            | KeyProblem::Moved { path, .. }
            | KeyProblem::NeedsFeature { path, .. }
            | KeyProblem::NotAMapping { path }
            | KeyProblem::NotAList { path } => path,
        }
    }
}

/// Walks a parsed document against `top` (the file's top-level table, `config::TOP`) and reports
/// every unknown key, feature key of a missing feature, and section that is not a mapping, in
/// document order.
pub fn check(doc: &Value, top: &'static [Key]) -> Vec<KeyProblem> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    match doc {
        Value::Null => {}
        Value::Mapping(_) => walk(doc, top, &mut path, &mut out),
        _ => out.push(KeyProblem::NotAMapping { path }),
    }
    out
}

fn walk(v: &Value, keys: &'static [Key], path: &mut Vec<String>, out: &mut Vec<KeyProblem>) {
    let Value::Mapping(m) = v else {
        if !v.is_null() {
            out.push(KeyProblem::NotAMapping { path: path.clone() });
        }
        return;
    };
    for (key, value) in m {
        let name = match key {
            Value::String(s) => s.clone(),
            other => yaml_scalar_text(other),
        };
        path.push(name.clone());
        walk_key(&name, value, keys, path, out);
        path.pop();
    }
}

fn walk_key(
    name: &str,
    value: &Value,
    keys: &'static [Key],
    path: &mut Vec<String>,
    out: &mut Vec<KeyProblem>,
) {
    let Some(spec) = keys.iter().find(|k| k.name == name) else {
        out.push(KeyProblem::Unknown {
            path: path.clone(),
            closest: closest(name, keys),
        });
        return;
    };
    if let Moved(to) = spec.kind {
        out.push(KeyProblem::Moved {
            path: path.clone(),
            to,
        });
        return;
    }
    if let Some(feature) = spec.feature {
        // `false`, null and "" (what the Go tool's config save writes for an unset string)
        // ask nothing of the feature.
        let activates = match value {
            Value::Bool(b) => *b,
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if activates && !feature.available() {
            out.push(KeyProblem::NeedsFeature {
                path: path.clone(),
                feature,
            });
            return;
        }
    }
    match spec.kind {
        Section(sub) => walk(value, sub, path, out),
        SectionList(sub) => match value {
            Value::Sequence(items) => items.iter().for_each(|item| walk(item, sub, path, out)),
            Value::Null => {}
            _ => out.push(KeyProblem::NotAList { path: path.clone() }),
        },
        Processes(sub) => match value {
            Value::Mapping(procs) => {
                for (name, p) in procs {
                    path.push(yaml_scalar_text(name));
                    walk(p, sub, path, out);
                    path.pop();
                }
            }
            Value::Null => {}
            _ => out.push(KeyProblem::NotAMapping { path: path.clone() }),
        },
        _ => {}
    }
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
    // Close enough to be a typo, not merely another key of similar length: one edit in a short
    // name, about one in six in a long one (`tracing_enabled` is not a typo of `api_enabled`).
    let limit = 1 + name.chars().count() / 6;
    keys.iter()
        .filter(|k| !matches!(k.kind, Moved(_)))
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
    use crate::config::TOP;
    use crate::config::global::KEYS as GLOBAL;
    use crate::config::process::KEYS as PROCESS;

    /// The walk over the whole file's table.
    fn check(doc: &Value) -> Vec<KeyProblem> {
        super::check(doc, TOP)
    }

    /// A key written twice in one table would make the second unreachable.
    #[test]
    fn tables_have_unique_keys() {
        fn check(keys: &'static [Key], seen: &mut Vec<*const Key>) {
            if seen.contains(&(keys.as_ptr())) {
                return;
            }
            seen.push(keys.as_ptr());
            let mut names: Vec<&str> = keys.iter().map(|k| k.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "duplicate key in {names:?}");
            for k in keys {
                match k.kind {
                    Section(sub) | SectionList(sub) | Processes(sub) => check(sub, seen),
                    _ => {}
                }
            }
        }
        check(TOP, &mut Vec::new());
    }

    #[test]
    fn docs_only_keys_name_the_real_key() {
        let doc: Value =
            yaml_serde::from_str("processes:\n  a:\n    restart_delay: 5\n    max_restarts: 3\n")
                .unwrap();
        let p = check(&doc);
        assert!(
            matches!(&p[0], KeyProblem::Moved { to, .. } if to.starts_with("global.restart_backoff_initial")),
            "{p:?}"
        );
        assert!(
            matches!(&p[1], KeyProblem::Moved { to, .. } if to.starts_with("global.max_restart_attempts"))
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
        // Another key of similar length is not a typo.
        assert_eq!(closest("tracing_enabled", GLOBAL), Some("tracing_enabled"));
        assert_eq!(closest("tracin_enabled", GLOBAL), Some("tracing_enabled"));
        assert_eq!(closest("trace_enabled", PROCESS), None);
        assert_eq!(closest("metrics_enable", GLOBAL), Some("metrics_enabled"));
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
