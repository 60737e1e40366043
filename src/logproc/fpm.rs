//! php-fpm's decorated worker output, read back as the worker wrote it.
//!
//! With `catch_workers_output = yes` and the default `decorate_workers_output = yes`, the
//! php-fpm master re-logs every line a pool worker writes as
//! `[06-Dec-2026 11:30:34] WARNING: [pool www] child 3309 said into stderr: "…"` (the time only
//! when it logs to a file or pipe), and cuts a line longer than its `log_limit` (1024) into
//! pieces of exactly `log_limit - 1` bytes, each wrapped the same way and nothing marking the
//! cut (checked with php-fpm 8.2: zlog's wrapping writes `limit - 1` bytes and a newline). A
//! PHP message the worker logs itself (`error_log()`, warnings) also carries the worker's own
//! prefix, `NOTICE: PHP message: `. [`parse`] takes the wrapper apart; the pool and the child's
//! pid become fields, and [`is_full_piece`] tells a cut piece so the stage can glue the next
//! piece of the same child onto it. With `decorate_workers_output = no` lines arrive bare:
//! nothing here matches them, and nothing changes.
//!
//! Cheap when it does not apply: a line that does not start with `[` or `W` is rejected on its
//! first byte, without allocating.

/// php-fpm's default `log_limit`.
pub const DEFAULT_LOG_LIMIT: usize = 1024;
/// Longest time prefix (`[06-Dec-2026 11:30:34.123456] `) we look through for the `]`.
const MAX_TIME_PREFIX: usize = 48;

/// One decorated line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Said<'a> {
    pub pool: &'a str,
    pub child: u32,
    /// The worker wrote it to its stdout (else stderr).
    pub stdout: bool,
    /// What the worker wrote, as far as this line holds it.
    pub text: &'a str,
}

/// Takes php-fpm's wrapper off one line, if it has one.
pub fn parse(line: &str) -> Option<Said<'_>> {
    let rest = match line.as_bytes().first()? {
        b'W' => line,
        b'[' => {
            let end = line.bytes().take(MAX_TIME_PREFIX).position(|c| c == b']')?;
            line.get(end + 1..)?.strip_prefix(' ')?
        }
        _ => return None,
    };
    let rest = rest.strip_prefix("WARNING: [pool ")?;
    let (pool, rest) = rest.split_once("] child ")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let child = rest.get(..digits)?.parse().ok()?;
    let rest = rest.get(digits..)?.strip_prefix(" said into ")?;
    let (stdout, rest) = match rest.strip_prefix("stdout: \"") {
        Some(r) => (true, r),
        None => (false, rest.strip_prefix("stderr: \"")?),
    };
    // A worker that exits mid-line: `…", pipe is closed`.
    let text = rest
        .strip_suffix("\", pipe is closed")
        .or_else(|| rest.strip_suffix('"'))?;
    Some(Said {
        pool,
        child,
        stdout,
        text,
    })
}

/// Whether `line` (decorated, as received) is a piece php-fpm cut at `log_limit`: the rest of
/// the worker's line follows in the next piece of the same child.
pub fn is_full_piece(line: &str, log_limit: usize) -> bool {
    line.len() + 1 == log_limit
}

/// `NOTICE: PHP message: x` → `x`: the worker's own prefix on what PHP logged (its level is
/// always NOTICE, so it says nothing; a PHP error keeps its `PHP Warning:` inside).
pub fn strip_php_message(text: &str) -> &str {
    let upper = text.bytes().take_while(u8::is_ascii_uppercase).count();
    if upper == 0 || upper > 8 {
        return text;
    }
    text[upper..]
        .strip_prefix(": PHP message: ")
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decorated_lines_come_apart() {
        let s = parse(
            "[06-Dec-2026 11:30:34] WARNING: [pool www] child 3309 said into stderr: \"NOTICE: PHP message: x\"",
        )
        .unwrap();
        assert_eq!((s.pool, s.child, s.stdout), ("www", 3309, false));
        assert_eq!(strip_php_message(s.text), "x");
        let s = parse("WARNING: [pool api] child 7 said into stdout: \"a \"quoted\" b\"").unwrap();
        assert_eq!(
            (s.pool, s.child, s.stdout, s.text),
            ("api", 7, true, "a \"quoted\" b")
        );
        let s = parse("WARNING: [pool www] child 7 said into stderr: \"half\", pipe is closed")
            .unwrap();
        assert_eq!(s.text, "half");
    }

    #[test]
    fn other_lines_are_left_alone() {
        for l in [
            "",
            "x",
            "[06-Dec-2026 11:30:33] NOTICE: fpm is running, pid 3291",
            "[06-Dec-2026 11:30:33] WARNING: [pool www] server reached pm.max_children setting (5)",
            "WARNING: [pool www] child x said into stderr: \"x\"",
            "WARNING: [pool www] child 1 said into stderr: \"no closing quote",
            "[2026-12-06 11:00:00] local.ERROR: boom",
        ] {
            assert_eq!(parse(l), None, "{l:?}");
        }
        assert_eq!(strip_php_message("PHP Warning:  x"), "PHP Warning:  x");
        assert_eq!(strip_php_message("NOTICE: x"), "NOTICE: x");
    }

    #[test]
    fn a_piece_is_exactly_one_byte_short_of_the_limit() {
        assert!(is_full_piece(&"a".repeat(1023), DEFAULT_LOG_LIMIT));
        assert!(!is_full_piece(&"a".repeat(1022), DEFAULT_LOG_LIMIT));
    }
}
