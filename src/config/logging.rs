//! The log-processing keys (feature `log-processing`): global `log_*` keys and the per-process
//! `logging:` block → one compiled [`Rules`] per process. Every regex is compiled here, so a bad
//! one is a configuration error with `file:line` (exit 2), never a surprise at run time.
//!
//! Per-process keys override the global ones key by key; lists replace the global list. A
//! `filters:` block (or `min_level`) switches filtering on for its process unless it says
//! `enabled: false`, as in the original tool.

use std::sync::Arc;

use regex_lite::Regex;
use yaml_serde::Value;

use super::env::Applied;
use super::fields::Section;
use super::schema::Kind::{self, *};
use super::schema::{Key, k};
use super::{ConfigError, Ctx, duration, schema};
use crate::logproc::redact::{Redactor, UserPattern};
use crate::logproc::{self, Filter, Matcher, Multiline, Rules, Severity};

/// How the process table holds `logging`: a section of these keys.
pub const KIND: Kind = Section(KEYS);

/// `processes.*.logging`.
pub const KEYS: &[Key] = &[
    k("stdout", Bool),
    k("stderr", Bool),
    k("labels", StrMap),
    k("min_level", Str),
    k("level_detection", Section(LEVEL_DETECTION)),
    k("json", Section(JSON)),
    k("multiline", Section(MULTILINE)),
    k("redaction", Section(REDACTION)),
    k("filters", Section(FILTERS)),
    k("php_traces", Bool),
    k("php_fpm", Section(PHP_FPM)),
];

/// php-fpm's worker-output wrapper: unwrap it, and the `log_limit` its pieces are cut at.
const PHP_FPM: &[Key] = &[k("unwrap", Bool), k("log_limit", Int)];

const LEVEL_DETECTION: &[Key] = &[
    k("enabled", Bool),
    k("default_level", Str),
    k("patterns", Any),
];

/// The Go tool's JSON switches: level and message are always extracted here, and a line's
/// other fields are kept (nested under `fields`).
const JSON: &[Key] = &[
    k("enabled", Bool),
    k("detect_auto", Bool),
    k("extract_level", Bool),
    k("extract_message", Bool),
    k("merge_fields", Bool),
];

const MULTILINE: &[Key] = &[
    k("enabled", Bool),
    k("pattern", Str),
    k("timeout", Any),
    k("max_lines", Int),
];

const REDACTION: &[Key] = &[
    k("enabled", Bool),
    k("patterns", Any),
    k("placeholder", Str),
    k("emails", Bool),
];

const FILTERS: &[Key] = &[
    k("enabled", Bool),
    k("level", Str),
    k("exclude", List),
    k("include", List),
];

/// What the user wrote, resolved but not compiled: regexes keep their text and key path.
#[derive(Clone)]
pub struct Settings {
    detect: bool,
    custom_levels: Vec<(Severity, Src)>,
    default_level: Severity,
    json: bool,
    ml_enabled: bool,
    ml_pattern: Option<Src>,
    ml_timeout: u64,
    ml_max_lines: u32,
    red_enabled: bool,
    red_patterns: Vec<RedPattern>,
    red_placeholder: String,
    red_emails: bool,
    filter_enabled: bool,
    filter_level: Option<Severity>,
    filter_exclude: Vec<Src>,
    filter_include: Vec<Src>,
    stdout: bool,
    stderr: bool,
    php_traces: bool,
    fpm_unwrap: bool,
    fpm_log_limit: usize,
}

/// A pattern as written and where.
#[derive(Clone)]
struct Src {
    text: String,
    path: Vec<String>,
}

#[derive(Clone)]
struct RedPattern {
    src: Src,
    replacement: Option<String>,
    /// Written as `{name, pattern, replacement}`: a regex even if it looks like a word.
    regex_only: bool,
}

type Res<T> = Result<T, ConfigError>;

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// The global keys, checked.
pub fn global(ctx: &Ctx<'_>, g: &Section<'_>, ov: &[Applied]) -> Res<Settings> {
    let gp = |k: &str| p(&["global", k]);
    let ml_pattern: Option<String> = g.get("log_multiline_pattern")?;
    let red_patterns: Option<Vec<String>> = g.get("log_redaction_patterns")?;
    let filter_patterns: Option<Vec<String>> = g.get("log_filter_patterns")?;
    let mut s = Settings {
        detect: true,
        custom_levels: Vec::new(),
        default_level: Severity::Info,
        json: true,
        ml_enabled: g.get("log_multiline_enabled")?.unwrap_or(false),
        ml_pattern: ml_pattern.map(|t| Src {
            text: t,
            path: gp("log_multiline_pattern"),
        }),
        ml_timeout: logproc::DEFAULT_MULTILINE_TIMEOUT_MS,
        ml_max_lines: logproc::DEFAULT_MULTILINE_MAX_LINES,
        red_enabled: g.get("log_redaction_enabled")?.unwrap_or(true),
        red_patterns: red_patterns
            .iter()
            .flatten()
            .map(|t| RedPattern {
                src: Src {
                    text: t.clone(),
                    path: gp("log_redaction_patterns"),
                },
                replacement: None,
                regex_only: false,
            })
            .collect(),
        red_placeholder: g
            .get::<String>("log_redaction_placeholder")?
            .unwrap_or_else(|| logproc::DEFAULT_PLACEHOLDER.to_owned()),
        red_emails: false,
        filter_enabled: g.get("log_filter_enabled")?.unwrap_or(false),
        filter_level: None,
        filter_exclude: srcs(filter_patterns.iter().flatten(), &gp("log_filter_patterns")),
        filter_include: Vec::new(),
        stdout: true,
        stderr: true,
        // Per process only (`logging.php_traces`, `logging.php_fpm`): a global key would
        // cost the minimal build its key-table entry.
        php_traces: true,
        fpm_unwrap: true,
        fpm_log_limit: logproc::fpm::DEFAULT_LOG_LIMIT,
    };
    if let Some(v) = g.value("log_multiline_timeout") {
        s.ml_timeout = timeout(ctx, &gp("log_multiline_timeout"), v, ov, Bare::Millis)?;
    }
    if let Some(n) = g.get::<i64>("log_multiline_max_lines")? {
        s.ml_max_lines = max_lines(ctx, &gp("log_multiline_max_lines"), n, ov)?;
    }
    if let Some(l) = g.get::<String>("log_filter_level")? {
        s.filter_level = Some(level(ctx, &gp("log_filter_level"), &l, ov)?);
    }
    if s.red_placeholder.is_empty() {
        return Err(ctx.at(
            &gp("log_redaction_placeholder"),
            ov,
            "log_redaction_placeholder must not be empty".to_owned(),
        ));
    }
    // Every regex is checked here, switched on or not, so that a bad global one is reported
    // at its own line.
    check_all(ctx, &s, ov)?;
    Ok(s)
}

/// The rules of process `name`: the global settings with its `logging:` block on top, and the
/// Go tool's shorthand `stdout`/`stderr` of the process over both.
pub fn process(
    ctx: &Ctx<'_>,
    base: &Settings,
    name: &str,
    block: Option<&Value>,
    ov: &[Applied],
    streams: (Option<bool>, Option<bool>),
) -> Res<logproc::Shared> {
    let mut s = base.clone();
    let s = &mut s;
    process_block(ctx, s, name, block, ov)?;
    if let Some(on) = streams.0 {
        s.stdout = on;
    }
    if let Some(on) = streams.1 {
        s.stderr = on;
    }
    check_all(ctx, s, ov)?;
    Ok(logproc::Shared(Arc::new(build(ctx, s, ov)?)))
}

/// `logging.labels`: static fields for every record of the process.
pub fn labels(
    ctx: &Ctx<'_>,
    name: &str,
    block: Option<&Value>,
    ov: &[Applied],
) -> Res<Vec<(String, String)>> {
    let Some(v) = block.and_then(|b| b.get("labels")).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let path = p(&["processes", name, "logging", "labels"]);
    let map: std::collections::BTreeMap<String, super::raw::Scalar> =
        yaml_serde::from_value(v.clone()).map_err(|_| {
            ctx.at(
                &path,
                ov,
                format!("{} must be a mapping of NAME: value", path.join(".")),
            )
        })?;
    Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// The `logging:` block's keys over `s`.
fn process_block(
    ctx: &Ctx<'_>,
    s: &mut Settings,
    name: &str,
    block: Option<&Value>,
    ov: &[Applied],
) -> Res<()> {
    if let Some(Value::Mapping(m)) = block {
        let at = |k: &[&str]| {
            let mut v = p(&["processes", name, "logging"]);
            v.extend(k.iter().map(|s| (*s).to_owned()));
            v
        };
        let get = |m: &yaml_serde::Mapping, k: &str| m.get(k).filter(|v| !v.is_null()).cloned();
        if let Some(v) = get(m, "stdout") {
            s.stdout = boolean(ctx, &at(&["stdout"]), &v, ov)?;
        }
        if let Some(v) = get(m, "stderr") {
            s.stderr = boolean(ctx, &at(&["stderr"]), &v, ov)?;
        }
        if let Some(v) = get(m, "min_level") {
            s.filter_level = Some(level(
                ctx,
                &at(&["min_level"]),
                &string(ctx, &at(&["min_level"]), &v, ov)?,
                ov,
            )?);
            s.filter_enabled = true;
        }
        if let Some(Value::Mapping(d)) = get(m, "level_detection") {
            if let Some(v) = get(&d, "enabled") {
                s.detect = boolean(ctx, &at(&["level_detection", "enabled"]), &v, ov)?;
            }
            if let Some(v) = get(&d, "default_level") {
                let path = at(&["level_detection", "default_level"]);
                s.default_level = level(ctx, &path, &string(ctx, &path, &v, ov)?, ov)?;
            }
            if let Some(v) = get(&d, "patterns") {
                s.custom_levels =
                    custom_levels(ctx, &at(&["level_detection", "patterns"]), &v, ov)?;
            }
        }
        if let Some(Value::Mapping(j)) = get(m, "json") {
            if let Some(v) = get(&j, "enabled") {
                s.json = boolean(ctx, &at(&["json", "enabled"]), &v, ov)?;
            }
        }
        if let Some(Value::Mapping(ml)) = get(m, "multiline") {
            if let Some(v) = get(&ml, "enabled") {
                s.ml_enabled = boolean(ctx, &at(&["multiline", "enabled"]), &v, ov)?;
            }
            if let Some(v) = get(&ml, "pattern") {
                let path = at(&["multiline", "pattern"]);
                s.ml_pattern = Some(Src {
                    text: string(ctx, &path, &v, ov)?,
                    path,
                });
            }
            if let Some(v) = get(&ml, "timeout") {
                s.ml_timeout = timeout(ctx, &at(&["multiline", "timeout"]), &v, ov, Bare::Seconds)?;
            }
            if let Some(v) = get(&ml, "max_lines") {
                let path = at(&["multiline", "max_lines"]);
                let n = v.as_i64().ok_or_else(|| {
                    ctx.at(&path, ov, "max_lines must be a whole number".to_owned())
                })?;
                s.ml_max_lines = max_lines(ctx, &path, n, ov)?;
            }
        }
        if let Some(Value::Mapping(r)) = get(m, "redaction") {
            if let Some(v) = get(&r, "enabled") {
                s.red_enabled = boolean(ctx, &at(&["redaction", "enabled"]), &v, ov)?;
            }
            if let Some(v) = get(&r, "emails") {
                s.red_emails = boolean(ctx, &at(&["redaction", "emails"]), &v, ov)?;
            }
            if let Some(v) = get(&r, "placeholder") {
                let path = at(&["redaction", "placeholder"]);
                s.red_placeholder = string(ctx, &path, &v, ov)?;
                if s.red_placeholder.is_empty() {
                    return Err(ctx.at(&path, ov, "placeholder must not be empty".to_owned()));
                }
            }
            if let Some(v) = get(&r, "patterns") {
                s.red_patterns = red_patterns(ctx, &at(&["redaction", "patterns"]), &v, ov)?;
            }
        }
        if let Some(v) = get(m, "php_traces") {
            s.php_traces = boolean(ctx, &at(&["php_traces"]), &v, ov)?;
        }
        if let Some(Value::Mapping(f)) = get(m, "php_fpm") {
            if let Some(v) = get(&f, "unwrap") {
                s.fpm_unwrap = boolean(ctx, &at(&["php_fpm", "unwrap"]), &v, ov)?;
            }
            if let Some(v) = get(&f, "log_limit") {
                let path = at(&["php_fpm", "log_limit"]);
                let n = v.as_i64().ok_or_else(|| {
                    ctx.at(&path, ov, "log_limit must be a whole number".to_owned())
                })?;
                s.fpm_log_limit = log_limit(ctx, &path, n, ov)?;
            }
        }
        if let Some(Value::Mapping(f)) = get(m, "filters") {
            s.filter_enabled = true;
            if let Some(v) = get(&f, "enabled") {
                s.filter_enabled = boolean(ctx, &at(&["filters", "enabled"]), &v, ov)?;
            }
            if let Some(v) = get(&f, "level") {
                let path = at(&["filters", "level"]);
                s.filter_level = Some(level(ctx, &path, &string(ctx, &path, &v, ov)?, ov)?);
            }
            if let Some(v) = get(&f, "exclude") {
                let path = at(&["filters", "exclude"]);
                s.filter_exclude = srcs(strings(ctx, &path, &v, ov)?.iter(), &path);
            }
            if let Some(v) = get(&f, "include") {
                let path = at(&["filters", "include"]);
                s.filter_include = srcs(strings(ctx, &path, &v, ov)?.iter(), &path);
            }
        }
    }
    Ok(())
}

/// Compiles every pattern the settings hold, used or not.
fn check_all(ctx: &Ctx<'_>, s: &Settings, ov: &[Applied]) -> Res<()> {
    let all = s
        .custom_levels
        .iter()
        .map(|(_, src)| src)
        .chain(&s.ml_pattern)
        .chain(s.red_patterns.iter().map(|r| &r.src))
        .chain(&s.filter_exclude)
        .chain(&s.filter_include);
    for src in all {
        regex(ctx, src, ov)?;
    }
    Ok(())
}

/// The rules for output that belongs to no process (global hooks): the global settings.
pub fn unowned(ctx: &Ctx<'_>, base: &Settings, ov: &[Applied]) -> Res<logproc::Shared> {
    Ok(logproc::Shared(Arc::new(build(ctx, base, ov)?)))
}

/// Compiles the settings.
fn build(ctx: &Ctx<'_>, s: &Settings, ov: &[Applied]) -> Res<Rules> {
    let mut custom_levels = Vec::with_capacity(s.custom_levels.len());
    for (l, src) in &s.custom_levels {
        custom_levels.push((*l, regex(ctx, src, ov)?));
    }
    custom_levels.sort_by_key(|c| std::cmp::Reverse(c.0));
    let multiline = if s.ml_enabled {
        Some(Multiline {
            start: s
                .ml_pattern
                .as_ref()
                .map(|src| regex(ctx, src, ov))
                .transpose()?,
            timeout_ms: s.ml_timeout,
            max_lines: s.ml_max_lines,
        })
    } else {
        None
    };
    let redaction = if s.red_enabled {
        let mut keys = Vec::new();
        let mut patterns = Vec::new();
        let mut emails = s.red_emails;
        for rp in &s.red_patterns {
            let t = &rp.src.text;
            if !rp.regex_only
                && !t.is_empty()
                && t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
            {
                // A plain word names a key whose values are secrets; `email` (or `emails`)
                // also switches on the redaction of every e-mail address.
                emails |= matches!(t.to_ascii_lowercase().as_str(), "email" | "emails");
                keys.push(
                    t.bytes()
                        .filter(|c| !matches!(c, b'_' | b'-' | b'.'))
                        .map(|c| c.to_ascii_lowercase() as char)
                        .collect(),
                );
            } else {
                patterns.push(UserPattern {
                    regex: regex(ctx, &rp.src, ov)?,
                    replacement: rp
                        .replacement
                        .clone()
                        .unwrap_or_else(|| s.red_placeholder.replace('$', "$$")),
                });
            }
        }
        Some(Redactor {
            placeholder: s.red_placeholder.clone(),
            keys,
            patterns,
            emails,
        })
    } else {
        None
    };
    let filter = if s.filter_enabled {
        let matchers = |v: &[Src]| -> Res<Vec<Matcher>> {
            v.iter()
                .map(|src| Matcher::new(&src.text).map_err(|e| regex_error(ctx, src, &e, ov)))
                .collect()
        };
        Some(Filter {
            min: s.filter_level,
            exclude: matchers(&s.filter_exclude)?,
            include: matchers(&s.filter_include)?,
        })
    } else {
        None
    };
    Ok(Rules {
        detect: s.detect,
        custom_levels,
        default_level: s.default_level,
        json: s.json,
        multiline,
        redaction,
        filter,
        stdout: s.stdout,
        stderr: s.stderr,
        php_traces: s.php_traces,
        fpm_log_limit: s.fpm_unwrap.then_some(s.fpm_log_limit),
    })
}

fn srcs<'a>(v: impl Iterator<Item = &'a String>, path: &[String]) -> Vec<Src> {
    v.map(|t| Src {
        text: t.clone(),
        path: path.to_vec(),
    })
    .collect()
}

fn regex(ctx: &Ctx<'_>, src: &Src, ov: &[Applied]) -> Res<Regex> {
    logproc::regex(&src.text).map_err(|e| regex_error(ctx, src, &e, ov))
}

/// `file:line: invalid regex "(x" in global.log_filter_patterns: <why>` — at the line of the
/// list item when it can be found below its key, else at the key.
fn regex_error(ctx: &Ctx<'_>, src: &Src, e: &regex_lite::Error, ov: &[Applied]) -> ConfigError {
    let msg = format!(
        "invalid regex {:?} in {}: {}",
        src.text,
        src.path.join("."),
        e.to_string().trim_end().replace('\n', " ")
    );
    let mut err = ctx.at(&src.path, ov, msg);
    if let super::Origin::File { line: Some(l), .. } = &mut err.origin {
        if let Some(k) = ctx
            .text
            .lines()
            .enumerate()
            .skip(*l - 1)
            .take(64)
            .find(|(_, t)| t.contains(src.text.as_str()))
        {
            *l = k.0 + 1;
        }
    }
    err
}

fn boolean(ctx: &Ctx<'_>, path: &[String], v: &Value, ov: &[Applied]) -> Res<bool> {
    v.as_bool().ok_or_else(|| {
        ctx.at(
            path,
            ov,
            format!("{} must be true or false", path.join(".")),
        )
    })
}

fn string(ctx: &Ctx<'_>, path: &[String], v: &Value, ov: &[Applied]) -> Res<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(ctx.at(path, ov, format!("{} must be a string", path.join(".")))),
    }
}

fn strings(ctx: &Ctx<'_>, path: &[String], v: &Value, ov: &[Applied]) -> Res<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Sequence(items) => items.iter().map(|i| string(ctx, path, i, ov)).collect(),
        _ => Err(ctx.at(
            path,
            ov,
            format!("{} must be a list of strings", path.join(".")),
        )),
    }
}

fn level(ctx: &Ctx<'_>, path: &[String], s: &str, ov: &[Applied]) -> Res<Severity> {
    Severity::parse(s).ok_or_else(|| {
        ctx.at(
            path,
            ov,
            format!(
                "{} must be a level (trace, debug, info, notice, warn, error, critical, fatal, \
                 alert, emergency), not {s:?}",
                path.join(".")
            ),
        )
    })
}

/// php-fpm's `log_limit` as the pool's master uses it: php-fpm accepts 1 or more; we need
/// room for its wrapper, and a piece longer than our line limit could not be recognised.
fn log_limit(ctx: &Ctx<'_>, path: &[String], n: i64, ov: &[Applied]) -> Res<usize> {
    let max = super::model::MAX_LINE as i64;
    if (128..=max).contains(&n) {
        Ok(n as usize)
    } else {
        Err(ctx.at(
            path,
            ov,
            format!("log_limit must be php-fpm's log_limit, 128 to {max} (default 1024), not {n}"),
        ))
    }
}

/// How a bare number is read in a multiline timeout.
#[derive(Clone, Copy)]
enum Bare {
    /// `log_multiline_timeout: 500`, as the product README writes it.
    Millis,
    /// `logging.multiline.timeout: 1`, as the original tool reads it (and as every other
    /// duration of phpeek-pm is read).
    Seconds,
}

/// A multiline timeout in milliseconds: a bare number per `bare`, or a string with a unit
/// (`500ms`, `2s`).
fn timeout(ctx: &Ctx<'_>, path: &[String], v: &Value, ov: &[Applied], bare: Bare) -> Res<u64> {
    let scale = match bare {
        Bare::Millis => 1,
        Bare::Seconds => 1000,
    };
    let ms = match v {
        Value::Number(n) => n.as_u64().and_then(|n| n.checked_mul(scale)),
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(n) => n.checked_mul(scale),
            Err(_) => Some(duration::parse(s).map_err(|e| ctx.at(path, ov, e))?.ms()),
        },
        _ => None,
    };
    let unit = match bare {
        Bare::Millis => "milliseconds",
        Bare::Seconds => "seconds",
    };
    match ms {
        Some(ms) if (1..=logproc::MAX_MULTILINE_TIMEOUT_MS).contains(&ms) => Ok(ms),
        _ => Err(ctx.at(
            path,
            ov,
            format!(
                "{} must be between 1 ms and {} ms (a bare number means {unit} here; \
                 \"500ms\" and \"2s\" work too)",
                path.join("."),
                logproc::MAX_MULTILINE_TIMEOUT_MS
            ),
        )),
    }
}

fn max_lines(ctx: &Ctx<'_>, path: &[String], n: i64, ov: &[Applied]) -> Res<u32> {
    match u32::try_from(n) {
        Ok(v) if (2..=logproc::MAX_MULTILINE_LINES).contains(&v) => Ok(v),
        _ => Err(ctx.at(
            path,
            ov,
            format!(
                "{} must be between 2 and {}, not {n}",
                path.join("."),
                logproc::MAX_MULTILINE_LINES
            ),
        )),
    }
}

/// `patterns: {error: "regex", warn: ["a", "b"]}`.
fn custom_levels(
    ctx: &Ctx<'_>,
    path: &[String],
    v: &Value,
    ov: &[Applied],
) -> Res<Vec<(Severity, Src)>> {
    let Value::Mapping(m) = v else {
        return Err(ctx.at(
            path,
            ov,
            format!(
                "{} must map a level to a regex or a list of regexes",
                path.join(".")
            ),
        ));
    };
    let mut out = Vec::new();
    for (k, v) in m {
        let name = schema::yaml_scalar_text(k);
        let mut kp = path.to_vec();
        kp.push(name.clone());
        let l = level(ctx, &kp, &name, ov)?;
        for t in strings(ctx, &kp, v, ov)? {
            out.push((
                l,
                Src {
                    text: t,
                    path: kp.clone(),
                },
            ));
        }
    }
    Ok(out)
}

/// `patterns: ["password", "sk_live_[0-9a-z]+", {name, pattern, replacement}]`.
fn red_patterns(ctx: &Ctx<'_>, path: &[String], v: &Value, ov: &[Applied]) -> Res<Vec<RedPattern>> {
    let Value::Sequence(items) = v else {
        return Err(ctx.at(path, ov, format!("{} must be a list", path.join("."))));
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(t) => out.push(RedPattern {
                src: Src {
                    text: t.clone(),
                    path: path.to_vec(),
                },
                replacement: None,
                regex_only: false,
            }),
            Value::Mapping(m) => {
                for k in m.keys() {
                    let k = schema::yaml_scalar_text(k);
                    if !matches!(k.as_str(), "name" | "pattern" | "replacement") {
                        let mut kp = path.to_vec();
                        kp.push(k.clone());
                        return Err(ctx.at(&kp, ov, format!("unknown key {k:?} in a redaction pattern (use name, pattern, replacement)")));
                    }
                }
                let Some(Value::String(t)) = m.get("pattern") else {
                    return Err(ctx.at(
                        path,
                        ov,
                        "a redaction pattern needs `pattern: <regex>`".to_owned(),
                    ));
                };
                let replacement = match m.get("replacement") {
                    None | Some(Value::Null) => None,
                    Some(r) => Some(string(ctx, path, r, ov)?),
                };
                out.push(RedPattern {
                    src: Src {
                        text: t.clone(),
                        path: path.to_vec(),
                    },
                    replacement,
                    regex_only: true,
                });
            }
            _ => {
                return Err(ctx.at(
                    path,
                    ov,
                    format!(
                        "{} must hold strings or {{name, pattern, replacement}} maps",
                        path.join(".")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, Inputs, Origin, load};
    use crate::logproc::Severity;

    fn load_with(
        text: &str,
        env: &[(&str, &str)],
    ) -> Result<crate::config::model::Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        load(&Inputs {
            file: Some(("test.yaml", text)),
            env: &env,
            passwd: &|| (String::new(), String::new()),
        })
    }

    fn line(e: &ConfigError) -> Option<usize> {
        match e.origin {
            Origin::File { line, .. } => line,
            _ => None,
        }
    }

    const README: &str = r#"global:
  log_multiline_enabled: true
  log_multiline_pattern: '^\[|^\d{4}-|^{"'  # Regex for line starts
  log_multiline_timeout: 500  # milliseconds
  log_multiline_max_lines: 100
  log_redaction_enabled: true
  log_redaction_patterns:
    - "password"
    - "api_key"
    - "secret"
    - "token"
  log_redaction_placeholder: "***REDACTED***"
  log_filter_enabled: true
  log_filter_level: "info"  # Only INFO and above
  log_filter_patterns:
    - "health_check"  # Exclude health check logs
    - "metrics_export"  # Exclude metrics logs
processes:
  app:
    command: [php, artisan, serve]
"#;

    #[test]
    fn readme_keys_load() {
        let c = load_with(README, &[]).unwrap();
        let r = &c.processes[0].logging.0;
        let m = r.multiline.as_ref().unwrap();
        assert_eq!((m.timeout_ms, m.max_lines), (500, 100));
        assert!(m.start.as_ref().unwrap().is_match("{\"a\":1}"));
        let red = r.redaction.as_ref().unwrap();
        assert!(red.patterns.is_empty(), "plain words are key names");
        assert!(red.sensitive("x_api_key"));
        assert!(!red.emails, "e-mail addresses are kept unless asked for");
        let f = r.filter.as_ref().unwrap();
        assert_eq!(f.min, Some(Severity::Info));
        assert_eq!(f.exclude.len(), 2);
        assert!(r.detect && r.json);
    }

    #[test]
    fn defaults_and_per_process_overrides() {
        let c = load_with(
            "processes:\n  a:\n    command: [x]\n  b:\n    command: [x]\n    logging:\n      stdout: false\n      min_level: warning\n      level_detection:\n        default_level: notice\n        patterns:\n          error: '^E '\n          warn: ['^W ', 'slow']\n      json: {enabled: false}\n      multiline: {enabled: true, timeout: 2s, max_lines: 10}\n      redaction: {enabled: false}\n  c:\n    command: [x]\n    logging:\n      redaction: {patterns: [password, email]}\n",
            &[],
        )
        .unwrap();
        let a = &c.processes[0].logging.0;
        assert!(a.multiline.is_none() && a.filter.is_none());
        assert!(a.redaction.is_some(), "redaction is on by default");
        let b = &c.processes[1].logging.0;
        assert!(!b.stdout && b.stderr && !b.json && b.redaction.is_none());
        assert_eq!(b.default_level, Severity::Notice);
        assert_eq!(b.custom_levels.len(), 3);
        assert_eq!(b.custom_levels[0].0, Severity::Error, "most severe first");
        assert_eq!(b.filter.as_ref().unwrap().min, Some(Severity::Warn));
        let m = b.multiline.as_ref().unwrap();
        assert_eq!((m.timeout_ms, m.max_lines), (2000, 10));
        assert!(m.start.is_none());
        let c = &c.processes[2].logging.0;
        assert!(
            c.redaction.as_ref().unwrap().emails,
            "the word email switches them on"
        );
    }

    #[test]
    fn php_joining_is_on_by_default_and_switches_off_per_process() {
        let c = load_with(
            "processes:\n  a:\n    command: [x]\n  b:\n    command: [x]\n    logging:\n      php_traces: false\n      php_fpm: {unwrap: false}\n  c:\n    command: [x]\n    logging:\n      php_fpm: {log_limit: 8192}\n  d:\n    command: [x]\n",
            &[("PHPEEK_PM_PROCESS_D_LOGGING_PHP_TRACES", "false")],
        )
        .unwrap();
        let r = |n: &str| {
            let p = c.processes.iter().find(|p| p.name == n).unwrap();
            (p.logging.0.php_traces, p.logging.0.fpm_log_limit)
        };
        assert_eq!(r("a"), (true, Some(1024)));
        assert_eq!(r("b"), (false, None));
        assert_eq!(r("c"), (true, Some(8192)));
        assert_eq!(r("d"), (false, Some(1024)));
        let e = load_with(
            "processes:\n  a:\n    command: [x]\n    logging:\n      php_fpm:\n        log_limit: 10\n",
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(line(&e), Some(6), "{e}");
        assert!(e.to_string().contains("log_limit"), "{e}");
    }

    #[test]
    fn env_overrides_reach_nested_logging_keys() {
        let c = load_with(
            "processes:\n  queue-default:\n    command: [x]\n",
            &[
                (
                    "PHPEEK_PM_PROCESS_QUEUE_DEFAULT_LOGGING_MULTILINE_ENABLED",
                    "true",
                ),
                (
                    "PHPEEK_PM_PROCESS_QUEUE_DEFAULT_LOGGING_MULTILINE_TIMEOUT",
                    "250ms",
                ),
                ("PHPEEK_PM_GLOBAL_LOG_FILTER_ENABLED", "true"),
                (
                    "PHPEEK_PM_GLOBAL_LOG_FILTER_PATTERNS",
                    "health_check,metrics_export",
                ),
            ],
        )
        .unwrap();
        let r = &c.processes[0].logging.0;
        assert_eq!(r.multiline.as_ref().unwrap().timeout_ms, 250);
        assert_eq!(r.filter.as_ref().unwrap().exclude.len(), 2);
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let cases: &[(&str, usize, &[&str])] = &[
            (
                "global:\n  log_multiline_pattern: '(unclosed'\nprocesses:\n  a: {command: [x]}\n",
                2,
                &[
                    "invalid regex",
                    "\"(unclosed\"",
                    "global.log_multiline_pattern",
                ],
            ),
            (
                "global:\n  log_filter_enabled: true\n  log_filter_patterns:\n    - ok\n    - '[z-a]'\nprocesses:\n  a: {command: [x]}\n",
                5,
                &["invalid regex", "[z-a]"],
            ),
            (
                "global:\n  log_redaction_patterns: ['sk_(live']\nprocesses:\n  a: {command: [x]}\n",
                2,
                &["invalid regex"],
            ),
            (
                "global:\n  log_multiline_timeout: 0\nprocesses:\n  a: {command: [x]}\n",
                2,
                &["log_multiline_timeout", "milliseconds"],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      multiline: {timeout: 120}\n",
                5,
                &["multiline.timeout", "seconds"],
            ),
            (
                "global:\n  log_multiline_timeout: 2m\nprocesses:\n  a: {command: [x]}\n",
                2,
                &["between 1 ms and 60000 ms"],
            ),
            (
                "global:\n  log_multiline_max_lines: 5000\nprocesses:\n  a: {command: [x]}\n",
                2,
                &["between 2 and 1000"],
            ),
            (
                "global:\n  log_filter_level: loud\nprocesses:\n  a: {command: [x]}\n",
                2,
                &["log_filter_level", "loud"],
            ),
            (
                "global:\n  log_redaction_placeholder: ''\nprocesses:\n  a: {command: [x]}\n",
                2,
                &["must not be empty"],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      multiline:\n        pattern: '^(['\n",
                6,
                &["invalid regex", "processes.a.logging.multiline.pattern"],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      level_detection:\n        patterns:\n          loud: 'x'\n",
                7,
                &["loud", "must be a level"],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      filters:\n        exclude: ['(']\n",
                6,
                &["invalid regex"],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      labels: [a]\n",
                5,
                &["labels must be a mapping"],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      multiline: {enabld: true}\n",
                5,
                &["unknown key", "did you mean \"enabled\""],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      stdout: maybe\n",
                5,
                &["stdout", "true or false"],
            ),
            (
                "processes:\n  a:\n    command: [x]\n    logging:\n      redaction:\n        patterns: [{name: x, regex: y}]\n",
                6,
                &["unknown key", "regex"],
            ),
        ];
        for (text, want_line, words) in cases {
            let e = load_with(text, &[]).expect_err(text);
            assert_eq!(line(&e), Some(*want_line), "{text}\n{e}");
            for w in *words {
                assert!(e.msg.contains(w), "{w:?} not in {:?}", e.msg);
            }
        }
    }
}
