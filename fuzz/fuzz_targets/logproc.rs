//! The log-processing stage (`logproc::Stage`: multiline, JSON lines, level detection,
//! filtering, redaction) over rules built from the built-in defaults or from fuzzer-chosen
//! patterns. Checks, beyond "no panic":
//!
//! - a push emits at most two records (the held one and its own), `flush_due` and `finish` at
//!   most one; after `finish` nothing is held and no deadline is left; a passed deadline is
//!   flushed by `flush_due`; an open record always has a deadline;
//! - nothing is held over `MAX_RECORD_BYTES`; a record joins at most `max_lines` lines (one
//!   without multiline, for a JSON line and for a piece of a long line);
//! - without redaction, JSON and filtering, the records are the input lines, in order, none
//!   lost or added (`lines` counts add up, texts joined by `\n` are equal);
//! - filtering: no record below `min`, none matching an exclude pattern, all matching an
//!   include one;
//! - redaction: each rule replaces at least a byte per placeholder it inserts (so a line grows
//!   by a bounded factor, never without bound), and with the default placeholder and only
//!   built-in rules, redacting again changes nothing (no secret left for a second pass).
//!
//! Input: 4 header bytes, then the body.
//! - byte 0: flags ([`MULTILINE`], [`REDACT`], ...);
//! - byte 1: `log_multiline_max_lines` (0: the default, else 1 + 4 × n, at most the maximum);
//! - byte 2: `log_multiline_timeout` in units of 10 ms (0: the default);
//! - byte 3: low nibble the filter's minimum level (≥ 10: none), high nibble the default level;
//! - body: with [`CUSTOM`], up to six NUL-separated fields before the last one: a custom
//!   (error) level regex, the multiline start regex, redaction patterns (one a line: a plain
//!   word is a sensitive key, anything else a regex), exclude and include filters (one a line),
//!   the placeholder (with [`CUSTOM_PLACEHOLDER`]). The last field is the stream: lines at
//!   `\n`; a line may start with control bytes: `0x01` partial piece, `0x02` time jumps past
//!   the multiline timeout, `0x03` time advances 1 ms; `0x04 n c` in a line stands for
//!   `(n + 1) × 64` copies of `c` (so short inputs reach long records); a line is cut at
//!   `MAX_LINE` as the line assembler does.
#![no_main]

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::config::model::MAX_LINE;
use phpeek_pm_fuzz::logproc::redact::{Redactor, UserPattern};
use phpeek_pm_fuzz::logproc::{
    self, DEFAULT_MULTILINE_MAX_LINES, DEFAULT_MULTILINE_TIMEOUT_MS, DEFAULT_PLACEHOLDER, Filter,
    MAX_MULTILINE_LINES, MAX_RECORD_BYTES, Matcher, Multiline, Record, Rules, Severity, Stage,
};

const MULTILINE: u8 = 1;
const REDACT: u8 = 2;
const FILTER: u8 = 4;
const JSON: u8 = 8;
const DETECT: u8 = 16;
const EMAILS: u8 = 32;
const CUSTOM: u8 = 64;
const CUSTOM_PLACEHOLDER: u8 = 128;

/// Longest pattern compiled (regex compilation is config time; keep inputs fast).
const MAX_PATTERN: usize = 256;
/// Longest placeholder.
const MAX_PLACEHOLDER: usize = 32;
/// Time between two lines, ms.
const STEP_MS: u64 = 7;

const LEVELS: [Severity; 10] = [
    Severity::Trace,
    Severity::Debug,
    Severity::Info,
    Severity::Notice,
    Severity::Warn,
    Severity::Error,
    Severity::Critical,
    Severity::Fatal,
    Severity::Alert,
    Severity::Emergency,
];

fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Non-empty lines of a field, each at most MAX_PATTERN bytes.
fn patterns(field: &[u8]) -> Vec<String> {
    text(field)
        .lines()
        .filter(|l| !l.is_empty() && l.len() <= MAX_PATTERN)
        .map(str::to_owned)
        .collect()
}

/// Expands `0x04 n c` runs and cuts at MAX_LINE.
fn expand(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() && out.len() < MAX_LINE {
        if line[i] == 0x04 && i + 2 < line.len() {
            out.extend(std::iter::repeat_n(
                line[i + 2],
                (usize::from(line[i + 1]) + 1) * 64,
            ));
            i += 3;
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    // Cut like the line assembler (which may split a UTF-8 character: the stage decodes
    // lossily).
    out.truncate(MAX_LINE);
    out
}

/// Most bytes a redacted text of `len` bytes can have: key values, URL credentials and
/// e-mail addresses each replace at least 3 input bytes per placeholder (cards keep their
/// length); a user pattern may match the empty string at every position.
fn redacted_bound(len: usize, red: &Redactor) -> usize {
    let p = red.placeholder.len();
    let mut l = len;
    for _ in 0..3 {
        l += (l / 3 + 1) * p;
    }
    for _ in &red.patterns {
        l += (l + 1) * p;
    }
    l
}

struct Built {
    rules: Rules,
    /// Custom exclude/include matchers, kept for the oracle.
    exclude: Vec<String>,
    include: Vec<String>,
    default_placeholder: bool,
}

fn build(flags: u8, hdr: &[u8], pats: &[&[u8]]) -> Option<Built> {
    let field = |i: usize| pats.get(i).copied().unwrap_or(b"");
    let custom = flags & CUSTOM != 0;
    let mut rules = Rules {
        json: flags & JSON != 0,
        detect: flags & DETECT != 0,
        // PHP trace joining and php-fpm unwrapping (on by default) join lines by other rules
        // than `multiline`'s line budget, which the oracle below checks; they have their own
        // table tests (src/logproc/php_tests.rs).
        php_traces: false,
        fpm_log_limit: None,
        ..Rules::default()
    };
    rules.default_level = LEVELS[usize::from(hdr[3] >> 4) % LEVELS.len()];
    if custom {
        for p in patterns(field(0)) {
            rules
                .custom_levels
                .push((Severity::Error, logproc::regex(&p).ok()?));
        }
    }
    if flags & MULTILINE != 0 {
        let start = if custom {
            patterns(field(1))
                .first()
                .map(|p| logproc::regex(p))
                .transpose()
                .ok()?
        } else {
            None
        };
        let max_lines = match hdr[1] {
            0 => DEFAULT_MULTILINE_MAX_LINES,
            n => (1 + 4 * u32::from(n)).min(MAX_MULTILINE_LINES),
        };
        let timeout_ms = match hdr[2] {
            0 => DEFAULT_MULTILINE_TIMEOUT_MS,
            n => u64::from(n) * 10,
        };
        rules.multiline = Some(Multiline {
            start,
            timeout_ms,
            max_lines,
        });
    }
    let placeholder = if flags & CUSTOM_PLACEHOLDER != 0 && custom {
        let p = text(field(5)).into_owned();
        if p.len() > MAX_PLACEHOLDER {
            return None;
        }
        p
    } else {
        DEFAULT_PLACEHOLDER.to_owned()
    };
    let default_placeholder = placeholder == DEFAULT_PLACEHOLDER;
    if flags & REDACT != 0 {
        let mut keys = Vec::new();
        let mut user = Vec::new();
        let mut emails = flags & EMAILS != 0;
        if custom {
            // As config/logging.rs: a plain word names a sensitive key, the rest are regexes
            // replaced by the placeholder (`$` escaped).
            for t in patterns(field(2)) {
                if t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
                {
                    emails |= matches!(t.to_ascii_lowercase().as_str(), "email" | "emails");
                    keys.push(
                        t.bytes()
                            .filter(|c| !matches!(c, b'_' | b'-' | b'.'))
                            .map(|c| c.to_ascii_lowercase() as char)
                            .collect(),
                    );
                } else {
                    user.push(UserPattern {
                        regex: logproc::regex(&t).ok()?,
                        replacement: placeholder.replace('$', "$$"),
                    });
                }
            }
        }
        rules.redaction = Some(Redactor {
            placeholder,
            keys,
            patterns: user,
            emails,
        });
    }
    let (mut exclude, mut include) = (Vec::new(), Vec::new());
    if flags & FILTER != 0 {
        let min = LEVELS.get(usize::from(hdr[3] & 0x0f)).copied();
        if custom {
            exclude = patterns(field(3));
            include = patterns(field(4));
        }
        let m = |v: &[String]| {
            v.iter()
                .map(|p| Matcher::new(p))
                .collect::<Result<Vec<_>, _>>()
        };
        rules.filter = Some(Filter {
            min,
            exclude: m(&exclude).ok()?,
            include: m(&include).ok()?,
        });
    }
    Some(Built {
        rules,
        exclude,
        include,
        default_placeholder,
    })
}

/// What the oracle keeps of a record.
struct Got {
    level: Severity,
    msg: String,
    lines: u32,
    json: bool,
    partial: bool,
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (hdr, body) = data.split_at(4);
    let flags = hdr[0];
    let fields: Vec<&[u8]> = if flags & CUSTOM != 0 {
        body.splitn(7, |&b| b == 0).collect()
    } else {
        vec![body]
    };
    let (stream, pats) = fields.split_last().unwrap_or((&body, &[]));
    let Some(built) = build(flags, hdr, pats) else {
        return;
    };
    let rules = Arc::new(built.rules);
    let max_lines = rules.multiline.as_ref().map_or(1, |m| m.max_lines);
    let timeout = rules.multiline.as_ref().map_or(0, |m| m.timeout_ms);
    let mut stage = Stage::new(Arc::clone(&rules), false);

    // Shared with the callback, counted between calls.
    let got: RefCell<Vec<Got>> = RefCell::new(Vec::new());
    let count = || got.borrow().len();
    let mut emit = |r: &Record<'_>| {
        got.borrow_mut().push(Got {
            level: r.level,
            msg: r.msg.to_owned(),
            lines: r.lines,
            json: r.json.is_some(),
            partial: r.partial,
        })
    };
    let mut inputs: Vec<String> = Vec::new();
    let mut now: u64 = 0;
    for raw in stream.split(|&b| b == b'\n') {
        let mut line = raw;
        let mut partial = false;
        while let Some((&c, rest)) = line.split_first() {
            match c {
                0x01 => partial = true,
                0x02 => now += timeout + 1,
                0x03 => now += 1,
                _ => break,
            }
            line = rest;
        }
        let line = expand(line);
        inputs.push(text(&line).into_owned());
        let before = count();
        stage.push(&line, partial, now, &mut emit);
        assert!(
            count() - before <= 2,
            "one push emitted {} records",
            count() - before
        );
        assert!(
            stage.held() <= MAX_RECORD_BYTES,
            "{} bytes held",
            stage.held()
        );
        if stage.held() > 0 {
            assert!(
                stage.next_deadline().is_some(),
                "a held record without a deadline"
            );
        }
        now += STEP_MS;
        let before = count();
        stage.flush_due(now, &mut emit);
        assert!(count() - before <= 1, "flush_due emitted several records");
        assert!(
            stage.next_deadline().is_none_or(|d| d > now),
            "a passed deadline was not flushed"
        );
    }
    let before = count();
    stage.finish(&mut emit);
    assert!(count() - before <= 1, "finish emitted several records");
    assert_eq!(stage.held(), 0, "finish left bytes held");
    assert!(stage.next_deadline().is_none(), "finish left a deadline");

    let got = got.into_inner();
    for r in &got {
        assert!(
            r.lines >= 1 && r.lines <= max_lines,
            "record of {} lines",
            r.lines
        );
        if r.json || r.partial {
            assert_eq!(
                r.lines, 1,
                "a JSON line or long-line piece joined with others"
            );
        }
        if let Some(red) = &rules.redaction {
            if !r.json {
                assert!(
                    r.msg.len() <= redacted_bound(MAX_RECORD_BYTES, red),
                    "redacted record of {} bytes",
                    r.msg.len()
                );
            }
        } else if !r.json {
            assert!(
                r.msg.len() <= MAX_RECORD_BYTES,
                "record of {} bytes",
                r.msg.len()
            );
        }
        if let Some(f) = &rules.filter {
            assert!(
                f.min.is_none_or(|m| r.level >= m),
                "a record below the filter level"
            );
            if rules.redaction.is_none() && !r.json {
                let ex = |p: &String| Matcher::new(p).is_ok_and(|m| m.is_match(&r.msg));
                assert!(!built.exclude.iter().any(ex), "an excluded record was kept");
                assert!(
                    built.include.is_empty() || built.include.iter().any(ex),
                    "a record matching no include pattern was kept"
                );
            }
        }
    }

    // Nothing lost, added or reordered when nothing transforms or drops.
    if rules.redaction.is_none() && !rules.json && rules.filter.is_none() {
        let n: u64 = got.iter().map(|r| u64::from(r.lines)).sum();
        assert_eq!(n, inputs.len() as u64, "line count of the records");
        let joined: Vec<&str> = got.iter().map(|r| r.msg.as_str()).collect();
        assert!(
            joined.join("\n") == inputs.join("\n"),
            "records differ from the lines"
        );
    }

    // Redaction of each line alone: bounded growth; a fixpoint with built-in rules only.
    if let Some(red) = &rules.redaction {
        for l in &inputs {
            let once = red.text(l);
            assert!(
                once.len() <= redacted_bound(l.len(), red),
                "{} bytes redacted to {}",
                l.len(),
                once.len()
            );
            if built.default_placeholder && red.patterns.is_empty() {
                let twice = red.text(&once);
                assert!(
                    twice == once,
                    "a second redaction pass changed {once:?} to {twice:?}"
                );
            }
        }
    }
});
