//! Log processing (feature `log-processing`): what happens to a child's lines between line
//! assembly and the sink.
//!
//! ```text
//!  pipe → Lines (cut at \n, MAX_LINE) → Stage::push
//!         ├─ multiline: hold continuation lines with their first line (deadline, max lines)
//!         │  — or, without it, the PHP joiner (phptrace.rs, on by default): php-fpm's worker
//!         │    wrapper off (fpm.rs), its cut pieces glued, PHP/Laravel traces in one record
//!         ├─ JSON object? → level, msg, fields
//!         ├─ level: user patterns, then the built-in scan, else the default (info)
//!         ├─ filter: below log_filter_level or matching an exclude pattern → dropped
//!         └─ redaction of msg and fields → Record → Output (stdout, and any other sink)
//! ```
//!
//! Sans-IO like the supervisor: a [`Stage`] (one per pipe, so order per stream is kept) is fed
//! lines with the loop's time and hands finished records to a callback; `next_deadline` tells
//! the reactor when a held multiline record must be flushed, `flush_due` does it, `finish`
//! flushes at EOF, process exit and shutdown. Nothing here reads a clock or does IO.
//!
//! Bounds: a line is at most `config::model::MAX_LINE` bytes (longer lines arrive in pieces, each
//! processed alone); a multiline record at most [`MAX_RECORD_BYTES`] and
//! `log_multiline_max_lines` (≤ [`MAX_MULTILINE_LINES`]) lines; JSON nesting at most
//! [`json::MAX_JSON_DEPTH`]; level detection reads [`level::DETECT_WINDOW`] bytes.

pub mod fpm;
pub mod json;
pub mod level;
#[cfg(test)]
mod php_tests;
pub mod phptrace;
pub mod redact;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use regex_lite::Regex;

pub use level::Severity;
use redact::Redactor;

/// Most bytes one multiline record holds; the rest of a longer trace continues in the next
/// record. Counted against the output queue while held.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Highest `log_multiline_max_lines` accepted.
pub const MAX_MULTILINE_LINES: u32 = 1000;
/// Longest `log_multiline_timeout` accepted, in milliseconds.
pub const MAX_MULTILINE_TIMEOUT_MS: u64 = 60_000;
/// Defaults of the multiline keys.
pub const DEFAULT_MULTILINE_TIMEOUT_MS: u64 = 500;
pub const DEFAULT_MULTILINE_MAX_LINES: u32 = 100;
pub const DEFAULT_PLACEHOLDER: &str = "***REDACTED***";

/// Everything that decides how one process's lines become records (global keys with the
/// process's `logging:` overrides applied). Shared by all pipes of the process.
pub struct Rules {
    /// Built-in level detection.
    pub detect: bool,
    /// User level patterns, most severe first.
    pub custom_levels: Vec<(Severity, Regex)>,
    /// Level of a line in which nothing was detected.
    pub default_level: Severity,
    pub json: bool,
    pub multiline: Option<Multiline>,
    /// Join PHP and Laravel stack traces (when `multiline` is off).
    pub php_traces: bool,
    /// Unwrap php-fpm's decorated worker output, gluing pieces cut at this `log_limit`
    /// (when `multiline` is off).
    pub fpm_log_limit: Option<usize>,
    pub redaction: Option<Redactor>,
    pub filter: Option<Filter>,
    /// Streams whose lines are kept (`logging.stdout` / `logging.stderr`).
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for Rules {
    /// With the feature compiled in and nothing configured: levels detected, JSON parsed.
    fn default() -> Self {
        Rules {
            detect: true,
            custom_levels: Vec::new(),
            default_level: Severity::Info,
            json: true,
            multiline: None,
            php_traces: true,
            fpm_log_limit: Some(fpm::DEFAULT_LOG_LIMIT),
            redaction: None,
            filter: None,
            stdout: true,
            stderr: true,
        }
    }
}

/// The rules of one process as the configuration model holds them: shared by its pipes.
/// Two values are equal when they are the same rules (regexes have no equality).
#[derive(Clone, Default)]
pub struct Shared(pub Arc<Rules>);

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Shared {}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogRules")
    }
}

pub struct Multiline {
    /// A line matching this starts a record (unless it is a known continuation); `None`: any
    /// line that is not a continuation starts one.
    pub start: Option<Regex>,
    pub timeout_ms: u64,
    pub max_lines: u32,
}

/// Text a filter looks for: a plain substring, or a regex.
pub enum Matcher {
    Literal(String),
    Regex(Regex),
}

impl Matcher {
    /// A pattern without regex syntax is matched as a substring (fast).
    pub fn new(p: &str) -> Result<Matcher, regex_lite::Error> {
        if p.bytes().any(|c| b"\\.+*?()|[]{}^$".contains(&c)) {
            regex(p).map(Matcher::Regex)
        } else {
            Ok(Matcher::Literal(p.to_owned()))
        }
    }

    pub fn is_match(&self, s: &str) -> bool {
        match self {
            Matcher::Literal(l) => s.contains(l.as_str()),
            Matcher::Regex(r) => r.is_match(s),
        }
    }
}

pub struct Filter {
    /// Records below this level are dropped.
    pub min: Option<Severity>,
    /// Records matching any of these are dropped.
    pub exclude: Vec<Matcher>,
    /// If not empty, only records matching one of these are kept.
    pub include: Vec<Matcher>,
}

impl Filter {
    fn keeps(&self, level: Severity, text: &str) -> bool {
        self.min.is_none_or(|m| level >= m)
            && !self.exclude.iter().any(|m| m.is_match(text))
            && (self.include.is_empty() || self.include.iter().any(|m| m.is_match(text)))
    }
}

/// One finished record, borrowed for the duration of the callback.
pub struct Record<'a> {
    pub level: Severity,
    /// The message, redacted. For a JSON line, its `msg`/`message`.
    pub msg: &'a str,
    /// Lines joined into this record (1 unless multiline).
    pub lines: u32,
    /// The parsed JSON line (fields redacted), if it was one.
    pub json: Option<&'a json::Parsed>,
    /// A piece of a line longer than `MAX_LINE` (all but the last piece).
    pub partial: bool,
}

/// The processing of one pipe (one stream of one instance).
pub struct Stage {
    rules: Arc<Rules>,
    /// The stream is switched off: its lines are dropped.
    off: bool,
    /// The open multiline record and its line count.
    buf: String,
    lines: u32,
    deadline: Option<u64>,
    /// The previous piece was a partial one: the next piece ends that long line.
    in_long_line: bool,
    /// The PHP joiner's held record.
    php: phptrace::Joiner,
}

impl Stage {
    pub fn new(rules: Arc<Rules>, stderr: bool) -> Stage {
        let off = if stderr { !rules.stderr } else { !rules.stdout };
        Stage {
            rules,
            off,
            buf: String::new(),
            lines: 0,
            deadline: None,
            in_long_line: false,
            php: phptrace::Joiner::default(),
        }
    }

    /// Bytes held in the open multiline record.
    pub fn held(&self) -> usize {
        self.buf.len() + self.php.held()
    }

    /// When the open multiline record must be flushed, if one is open.
    pub fn next_deadline(&self) -> Option<u64> {
        match (self.deadline, self.php.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes one line (or piece of an over-long line) at time `now` (ms, monotonic).
    pub fn push(
        &mut self,
        line: &[u8],
        partial: bool,
        now: u64,
        emit: &mut dyn FnMut(&Record<'_>),
    ) {
        if self.off {
            return;
        }
        let text = match crate::sys::simd::text(line) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(line),
        };
        let long = std::mem::replace(&mut self.in_long_line, partial);
        let r = &*self.rules;
        if r.multiline.is_none() && (r.php_traces || r.fpm_log_limit.is_some()) {
            let (traces, limit) = (r.php_traces, r.fpm_log_limit);
            if partial || long {
                self.php
                    .flush(&mut |t, n, o| Self::process(r, t, n, false, o, emit));
                Self::process(r, &text, 1, partial, None, emit);
            } else {
                self.php.push(traces, limit, &text, now, &mut |t, n, o| {
                    Self::process(r, t, n, false, o, emit);
                });
            }
            return;
        }
        let open = self.lines;
        let multiline = self
            .rules
            .multiline
            .as_ref()
            .filter(|_| !partial && !long)
            .map(|m| (open == 0 || is_start(m, &text), m.max_lines, m.timeout_ms));
        let Some((starts, max_lines, timeout_ms)) = multiline else {
            // Pieces of a long line are records of their own, in order.
            self.flush(emit);
            Self::process(&self.rules, &text, 1, partial, None, emit);
            return;
        };
        if starts || self.lines >= max_lines || self.buf.len() + 1 + text.len() > MAX_RECORD_BYTES {
            self.flush(emit);
        }
        if text.len() >= MAX_RECORD_BYTES {
            Self::process(&self.rules, &text, 1, false, None, emit);
            return;
        }
        if self.lines > 0 {
            self.buf.push('\n');
        }
        self.buf.push_str(&text);
        self.lines += 1;
        self.deadline = Some(now.saturating_add(timeout_ms));
        if self.lines >= max_lines {
            self.flush(emit);
        }
    }

    /// Flushes the open record if its deadline has passed.
    pub fn flush_due(&mut self, now: u64, emit: &mut dyn FnMut(&Record<'_>)) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.flush(emit);
        }
        let r = &*self.rules;
        self.php
            .flush_due(now, &mut |t, n, o| Self::process(r, t, n, false, o, emit));
    }

    /// The stream ended, the process exited, or we shut down: nothing stays held.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&Record<'_>)) {
        self.flush(emit);
        let r = &*self.rules;
        self.php
            .flush(&mut |t, n, o| Self::process(r, t, n, false, o, emit));
        self.in_long_line = false;
    }

    fn flush(&mut self, emit: &mut dyn FnMut(&Record<'_>)) {
        self.deadline = None;
        if self.lines == 0 {
            return;
        }
        let text = std::mem::take(&mut self.buf);
        let n = std::mem::replace(&mut self.lines, 0);
        Self::process(&self.rules, &text, n, false, None, emit);
        // Keep the allocation for the next record unless a huge trace grew it.
        if text.capacity() <= 8 * 1024 {
            self.buf = text;
            self.buf.clear();
        }
    }

    /// Level, filter, redaction of one finished record. `fpm`: it came through php-fpm's worker
    /// wrapper (pool, child pid), which become fields.
    fn process(
        r: &Rules,
        text: &str,
        lines: u32,
        partial: bool,
        fpm: Option<(&str, u32)>,
        emit: &mut dyn FnMut(&Record<'_>),
    ) {
        let mut parsed = if r.json && lines == 1 && text.starts_with('{') {
            json::parse(text)
        } else {
            None
        };
        if let Some((pool, child)) = fpm {
            let p = parsed.get_or_insert_with(|| json::Parsed {
                level: None,
                msg: text.to_owned(),
                fields: serde_json::Map::new(),
                slug: false,
            });
            p.fields.insert("pool".into(), pool.into());
            p.fields.insert("child".into(), child.into());
        }
        // A joined record has its first line's level, not a frame's.
        let head = match lines {
            1 => text,
            _ => text.split('\n').next().unwrap_or(text),
        };
        let level = parsed
            .as_ref()
            .and_then(|p| p.level)
            .or_else(|| {
                r.custom_levels
                    .iter()
                    .find(|(_, re)| re.is_match(text))
                    .map(|(l, _)| *l)
            })
            .or_else(|| if r.detect { level::detect(head) } else { None })
            .unwrap_or(r.default_level);
        if let Some(f) = &r.filter {
            if !f.keeps(level, text) {
                return;
            }
        }
        match (&mut parsed, &r.redaction) {
            (Some(p), red) => {
                if let Some(red) = red {
                    if let Cow::Owned(m) = red.text(&p.msg) {
                        p.msg = m;
                    }
                    for (k, v) in p.fields.iter_mut() {
                        if !v.is_null() && red.sensitive(k) {
                            *v = serde_json::Value::String(red.placeholder.clone());
                        } else {
                            red.json(v, json::MAX_JSON_DEPTH);
                        }
                    }
                }
                let p = &*p;
                emit(&Record {
                    level,
                    msg: &p.msg,
                    lines,
                    json: Some(p),
                    partial,
                });
            }
            (None, red) => {
                let msg = match red {
                    Some(red) => red.text(text),
                    None => Cow::Borrowed(text),
                };
                emit(&Record {
                    level,
                    msg: &msg,
                    lines,
                    json: None,
                    partial,
                });
            }
        }
    }
}

/// Compiles a user's regex. Like Go's RE2 (the original tool's engine) a `{` that does not
/// start a repetition (`^{"` of the product README's multiline pattern) is a literal brace;
/// regex-lite would reject it, so it is escaped first.
pub fn regex(p: &str) -> Result<Regex, regex_lite::Error> {
    Regex::new(&literal_braces(p))
}

/// Escapes every `{` that does not open `{n}`, `{n,}` or `{n,m}` (outside classes).
fn literal_braces(p: &str) -> Cow<'_, str> {
    let b = p.as_bytes();
    let repetition = |i: usize| {
        let rest = &b[i + 1..];
        let d1 = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let after = &rest[d1..];
        let d2 = after
            .strip_prefix(b",")
            .map(|a| a.iter().take_while(|c| c.is_ascii_digit()).count());
        let close = match d2 {
            Some(n) => after.get(1 + n),
            None => after.first(),
        };
        d1 > 0 && close == Some(&b'}')
    };
    let (mut out, mut class, mut i) = (String::new(), false, 0);
    let mut changed = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let n = p[i + 1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&p[i..i + 1 + n]);
                i += 1 + n;
                continue;
            }
            b'[' => class = true,
            b']' => class = false,
            b'{' if !class && !repetition(i) => {
                out.push_str("\\{");
                changed = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        let n = p[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&p[i..i + n]);
        i += n;
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(p)
    }
}

/// Whether `line` opens a new record under `m`.
fn is_start(m: &Multiline, line: &str) -> bool {
    !is_continuation(line) && m.start.as_ref().is_none_or(|r| r.is_match(line))
}

/// Lines that continue the record before them whatever the start pattern says: indented
/// lines, PHP frames (`#0 /app/…`, `#12 {main}`), `Stack trace:`, Laravel's `[stacktrace]`,
/// `[previous exception]` and the `"}` that closes its context, PHP's chained `Next …`, Java's
/// `Caused by:` and `... 12 more`.
pub fn is_continuation(line: &str) -> bool {
    let b = line.as_bytes();
    match b.first() {
        None => false,
        Some(b' ' | b'\t') => true,
        Some(b'#') => {
            let d = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            d > 0 && b.get(1 + d) == Some(&b' ')
        }
        _ => {
            line.starts_with("Stack trace:")
                || line.starts_with("[stacktrace]")
                || line.starts_with("[previous exception]")
                || line.starts_with("\"}")
                || line.starts_with("Caused by: ")
                || (line.starts_with("Next ") && line.contains(" in /"))
        }
    }
}
