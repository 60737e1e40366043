//! Severity of a child's line, and the built-in detection of it.
//!
//! Detection is a hand-written scan of the first [`DETECT_WINDOW`] bytes (no regex: it runs on
//! every line). The first level word found in a recognised position wins:
//!
//! - an UPPERCASE level word standing alone: `[ERROR] …`, `2024-11-20 ERROR: …`,
//!   `php artisan: INFO - …`, Monolog's `local.ERROR:`, PHP-FPM's `WARNING: [pool www]`,
//!   Laravel's console `  INFO  Processing jobs…`, and `FAIL` of `queue:work`/Horizon lines;
//! - any-case words in brackets: nginx `[error]`, `[crit]`, Apache `[php:error]`;
//! - `Word:` forms that PHP and compilers print: `PHP Fatal error:`, `PHP Warning:`,
//!   `Parse error:`, `Deprecated:`, `Error:`, `warning:` (lower-case `info:`/`debug:` are
//!   left alone: they are far more often configuration dumps than levels);
//! - `level=warn`, `lvl=error`, `severity="ERROR"`, and `"level":"warn"` (logfmt and JSON that
//!   was not parsed).

/// How far into a line detection looks: levels sit at the start of a record.
pub const DETECT_WINDOW: usize = 256;

/// A record's level, lowest first. `warning` is `Warn`; nginx's `crit`/`emerg` are
/// `Critical`/`Emergency`; PHP's `Deprecated`/`Notice` are `Notice`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Notice,
    Warn,
    Error,
    Critical,
    Fatal,
    Alert,
    Emergency,
}

impl Severity {
    /// As written in JSON records (`"level":"warn"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "trace",
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Notice => "notice",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Critical => "critical",
            Severity::Fatal => "fatal",
            Severity::Alert => "alert",
            Severity::Emergency => "emergency",
        }
    }

    /// As written in text records.
    pub const fn upper(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Notice => "NOTICE",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
            Severity::Fatal => "FATAL",
            Severity::Alert => "ALERT",
            Severity::Emergency => "EMERGENCY",
        }
    }

    /// A level name in any case, with the usual synonyms.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "trace" => Severity::Trace,
            "debug" => Severity::Debug,
            "info" | "information" | "informational" => Severity::Info,
            "notice" | "deprecated" => Severity::Notice,
            "warn" | "warning" => Severity::Warn,
            "error" | "err" => Severity::Error,
            "critical" | "crit" => Severity::Critical,
            "fatal" | "panic" => Severity::Fatal,
            "alert" => Severity::Alert,
            "emergency" | "emerg" => Severity::Emergency,
            _ => return None,
        })
    }

    /// A numeric level: Monolog's 100…600, or pino/bunyan's 10…60.
    pub fn from_number(n: i64) -> Option<Severity> {
        Some(match n {
            10 => Severity::Trace,
            20 | 100 => Severity::Debug,
            30 | 200 => Severity::Info,
            250 => Severity::Notice,
            40 | 300 => Severity::Warn,
            50 | 400 => Severity::Error,
            500 => Severity::Critical,
            60 => Severity::Fatal,
            550 => Severity::Alert,
            600 => Severity::Emergency,
            _ => return None,
        })
    }
}

/// The level word `w` (ASCII letters), in any case; `FAIL`/`FAILED` only matter upper-case.
fn word_level(w: &[u8]) -> Option<Severity> {
    if w.len() < 4 || w.len() > 10 {
        return None;
    }
    let mut low = [0u8; 10];
    for (d, s) in low.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    Some(match &low[..w.len()] {
        b"trace" => Severity::Trace,
        b"debug" => Severity::Debug,
        b"info" => Severity::Info,
        b"notice" | b"deprecated" => Severity::Notice,
        b"warn" | b"warning" => Severity::Warn,
        b"error" | b"fail" | b"failed" => Severity::Error,
        b"critical" | b"crit" => Severity::Critical,
        b"fatal" => Severity::Fatal,
        b"alert" => Severity::Alert,
        b"emergency" | b"emerg" => Severity::Emergency,
        _ => return None,
    })
}

/// Which of the (at most 16) bytes from `i` are ASCII letters, and how many bytes that is.
#[inline(always)]
fn letter_mask(b: &[u8], i: usize) -> (u32, usize) {
    // A `match`, not `unwrap_or_else`: at `opt-level = "z"` the closure's caller stayed a call,
    // made several times per line (callgrind).
    match crate::sys::simd::from(b, i, crate::sys::scan::letters) {
        Some(found) => found,
        None => {
            let m = b[i..]
                .iter()
                .rev()
                .fold(0, |m, c| (m << 1) | u32::from(c.is_ascii_alphabetic()));
            (m, b.len() - i)
        }
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The built-in detection (see the module doc). `None`: no level found.
pub fn detect(line: &str) -> Option<Severity> {
    let b = line.as_bytes();
    let end = b.len().min(DETECT_WINDOW);
    let mut i = 0;
    while i < end {
        let (m, n) = letter_mask(b, i);
        if m & 1 == 0 {
            // To the next letter.
            i += if m == 0 {
                n
            } else {
                m.trailing_zeros() as usize
            };
            continue;
        }
        let start = i;
        // To the end of this run of letters (most of an ordinary line), 16 bytes at a time.
        let mut others = !m & ((1 << n) - 1);
        while others == 0 && i + n < b.len() {
            i += n;
            let (m, k) = letter_mask(b, i);
            others = !m & ((1 << k) - 1);
        }
        i += if others == 0 {
            b.len() - i
        } else {
            others.trailing_zeros() as usize
        };
        // Level words and keys are 3 to 10 letters long.
        if !matches!(i - start, 3..=10) {
            continue;
        }
        let before = if start == 0 { b' ' } else { b[start - 1] };
        let after = b.get(i).copied().unwrap_or(b' ');
        if is_word_byte(before) || is_word_byte(after) {
            continue;
        }
        let word = &b[start..i];
        let rest = &b[i..];
        if let Some(l) = keyed_level(word, rest) {
            return Some(l);
        }
        let Some(level) = word_level(word) else {
            continue;
        };
        let fail = matches!(word[0], b'f' | b'F') && word.len() != 5; // fail/failed, not fatal
        let upper = word.iter().all(u8::is_ascii_uppercase);
        // `queue:work` and Horizon end a failed job's line with FAIL; elsewhere "0 FAILED" is
        // a count, not a level.
        if fail && !(word == b"FAIL" && rest.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        // UPPERCASE standing alone.
        if upper
            && matches!(before, b' ' | b'\t' | b'[' | b'(' | b'.' | b'|' | b'<')
            && matches!(
                after,
                b' ' | b'\t' | b']' | b')' | b':' | b'|' | b'>' | b',' | b'-'
            )
        {
            return Some(level);
        }
        // [error], [php:error]
        if after == b']' && (before == b'[' || (before == b':' && bracket_module(&b[..start - 1])))
        {
            return Some(level);
        }
        // PHP's two-word forms: "Fatal error:", "Parse error:" (handled at "error" below).
        if word.eq_ignore_ascii_case(b"fatal") && starts_with_ci(rest, b" error") {
            return Some(Severity::Fatal);
        }
        // "Error: …", "Warning: …", "warning: …" (not "info:" or "debug:").
        if after == b':' && matches!(before, b' ' | b'\t' | b']' | b'.' | b'>') {
            let capital =
                word[0].is_ascii_uppercase() && word[1..].iter().all(u8::is_ascii_lowercase);
            let lower_ok = word.iter().all(u8::is_ascii_lowercase)
                && matches!(
                    level,
                    Severity::Warn | Severity::Error | Severity::Fatal | Severity::Critical
                );
            if capital || lower_ok {
                if level == Severity::Error && ends_with_ci(&b[..start], b"parse ") {
                    return Some(Severity::Fatal);
                }
                return Some(level);
            }
        }
    }
    None
}

/// `level=warn`, `lvl="error"`, `severity: ERROR`, `"level":"warn"`: the level named by a key.
fn keyed_level(word: &[u8], rest: &[u8]) -> Option<Severity> {
    let key = [&b"level"[..], b"lvl", b"severity", b"loglevel"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k));
    if !key {
        return None;
    }
    let mut r = rest;
    r = r.strip_prefix(b"\"").unwrap_or(r);
    r = r.strip_prefix(b"=").or_else(|| r.strip_prefix(b":"))?;
    while let Some(x) = r.strip_prefix(b" ") {
        r = x;
    }
    r = r
        .strip_prefix(b"\"")
        .or_else(|| r.strip_prefix(b"'"))
        .unwrap_or(r);
    let n = r.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if r.get(n).copied().is_some_and(is_word_byte) {
        return None;
    }
    Severity::parse(std::str::from_utf8(&r[..n]).ok()?)
}

/// Whether `head` ends with `[module` (the part of `[php:error]` before the colon).
fn bracket_module(head: &[u8]) -> bool {
    let n = head.iter().rev().take_while(|c| is_word_byte(**c)).count();
    n > 0 && n < 20 && head.len() > n && head[head.len() - n - 1] == b'['
}

fn starts_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p)
}

fn ends_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[s.len() - p.len()..].eq_ignore_ascii_case(p)
}

#[cfg(test)]
mod word_tests {
    use super::*;

    #[test]
    fn detection_does_not_depend_on_where_words_fall() {
        // The same lines shifted across word edges find the same level.
        let lines = [
            (
                "[2024-11-20 10:00:00] local.ERROR: boom",
                Some(Severity::Error),
            ),
            (
                "12345678 WARNING: [pool www] child 12",
                Some(Severity::Warn),
            ),
            ("x=1 y=2 level=warn", Some(Severity::Warn)),
            (
                "PHP Fatal error:  Uncaught Exception",
                Some(Severity::Fatal),
            ),
            (
                "0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 nothing",
                None,
            ),
            (
                "2024/11/20 10:00:00 [crit] 12#12: *1 connect() failed",
                Some(Severity::Critical),
            ),
        ];
        for (line, want) in lines {
            for pad in [
                "",
                "@",
                "@@",
                "1-2",
                "    ",
                "12345",
                "(!)...",
                "--------",
                "--------------",
                "1a2b3c4d5e6f7g8h9",
                "[[[[[[[[[[[[[[[[[",
            ] {
                let l = format!("{pad} {line}");
                assert_eq!(detect(&l), want, "{l:?}");
            }
        }
    }
}
