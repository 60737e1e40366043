//! PHP-aware joining, on by default: a PHP or Laravel stack trace becomes one record, and a line
//! php-fpm cut into pieces becomes one line again, without any multiline configuration.
//!
//! ```text
//!  line ─► php-fpm wrapper? (fpm::parse: pool, child, text)
//!          ├─ a cut piece open and this is the same child's next piece → glue, no newline
//!          ├─ a record held and this continues a PHP trace → append as a new line
//!          ├─ could open a trace (ends in `)` or a digit) or is a cut piece → hold it
//!          └─ else → a record of its own, at once, uncopied
//! ```
//!
//! Trace continuations are PHP's and Laravel's only: `Stack trace:`, `#N …` frames,
//! `  thrown in …`, `Next …` (after PHP's blank line), Laravel's `[stacktrace]`,
//! `[previous exception] …` and the `"}` closing its context. The opening line of either format
//! ends in `)` (Laravel's `… at /app/x.php:12)`) or a line number (PHP's `… in /app/x.php:12`),
//! so only such lines are held; every other line goes straight through and costs one byte test.
//! A held record waits [`HOLD_MS`] for its next line: PHP writes a trace in one `write`, the
//! php-fpm master line by line in quick succession, and both arrive well within that; so a
//! lone line ending in a digit reaches the output at most `HOLD_MS` late.
//!
//! The record keeps the first line's origin (pool and child) and, in the stage, its level.

use super::{MAX_MULTILINE_LINES, MAX_RECORD_BYTES, fpm};

/// How long a held record waits for a continuation, in milliseconds.
pub const HOLD_MS: u64 = 20;

/// Receives one finished record: text, lines joined, php-fpm origin (pool, child).
pub type Emit<'e> = dyn FnMut(&str, u32, Option<(&str, u32)>) + 'e;

/// The held record of one pipe.
#[derive(Default)]
pub struct Joiner {
    buf: String,
    lines: u32,
    deadline: Option<u64>,
    /// Origin of the held record when it came through php-fpm.
    pool: String,
    child: Option<u32>,
    /// The last text added was a piece php-fpm cut: the same child's next piece glues on.
    piece_open: bool,
    /// A blank line after a trace, kept back until we know whether `Next …` follows.
    blank: bool,
}

impl Joiner {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }

    /// Takes one whole line. `traces`: join stack traces; `fpm_limit`: unwrap php-fpm's
    /// decoration, gluing pieces cut at this `log_limit`.
    pub fn push(
        &mut self,
        traces: bool,
        fpm_limit: Option<usize>,
        line: &str,
        now: u64,
        emit: &mut Emit<'_>,
    ) {
        let said = fpm_limit.and_then(|_| fpm::parse(line));
        let full = said.is_some() && fpm_limit.is_some_and(|l| fpm::is_full_piece(line, l));
        let origin = said.map(|s| (s.pool, s.child));
        if self.piece_open {
            if let Some(s) = said.filter(|s| self.from(Some((s.pool, s.child)))) {
                if self.buf.len() + s.text.len() <= MAX_RECORD_BYTES {
                    self.buf.push_str(s.text);
                    self.piece_open = full;
                    self.deadline = Some(now.saturating_add(HOLD_MS));
                    return;
                }
            }
            // The cut line's next piece never came: keep what there is.
            self.flush(emit);
        }
        let text = match said {
            Some(s) => fpm::strip_php_message(s.text),
            None => line,
        };
        if self.lines > 0 && traces && self.from(origin) {
            if text.is_empty() && self.lines > 1 && !self.blank {
                self.blank = true;
                self.deadline = Some(now.saturating_add(HOLD_MS));
                return;
            }
            let extra = text.len() + 2;
            if continues(text, self.blank)
                && self.buf.len() + extra <= MAX_RECORD_BYTES
                && self.lines + 2 <= MAX_MULTILINE_LINES
            {
                if std::mem::take(&mut self.blank) {
                    self.buf.push('\n');
                    self.lines += 1;
                }
                self.buf.push('\n');
                self.buf.push_str(text);
                self.lines += 1;
                self.piece_open = full;
                self.deadline = Some(now.saturating_add(HOLD_MS));
                return;
            }
        }
        self.flush(emit);
        if full || (traces && may_open(text)) {
            self.pool.clear();
            self.child = origin.map(|(pool, child)| {
                self.pool.push_str(pool);
                child
            });
            self.buf.push_str(text);
            self.lines = 1;
            self.piece_open = full;
            self.deadline = Some(now.saturating_add(HOLD_MS));
            return;
        }
        emit(text, 1, origin);
    }

    /// Writes the held record if its wait is over.
    pub fn flush_due(&mut self, now: u64, emit: &mut Emit<'_>) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.flush(emit);
        }
    }

    /// Writes the held record, if any.
    pub fn flush(&mut self, emit: &mut Emit<'_>) {
        self.deadline = None;
        self.piece_open = false;
        if self.lines == 0 {
            return;
        }
        let origin = self.child.map(|c| (self.pool.as_str(), c));
        let n = std::mem::replace(&mut self.lines, 0);
        emit(&self.buf, n, origin);
        if std::mem::take(&mut self.blank) {
            emit("", 1, origin);
        }
        self.buf.clear();
        // Keep the allocation for the next record unless a huge trace grew it.
        if self.buf.capacity() > 16 * 1024 {
            self.buf = String::new();
        }
    }

    /// Whether a line of this origin may join the held record (never mix two children).
    fn from(&self, origin: Option<(&str, u32)>) -> bool {
        match (origin, self.child) {
            (None, None) => true,
            (Some((pool, child)), Some(c)) => child == c && pool == self.pool,
            _ => false,
        }
    }
}

/// A line that can open a PHP or Laravel trace: it ends in `)` or a digit.
fn may_open(text: &str) -> bool {
    text.as_bytes()
        .last()
        .is_some_and(|&c| c == b')' || c.is_ascii_digit())
}

/// Whether `text` continues a PHP or Laravel trace (after a blank line only `Next …` does).
pub fn continues(text: &str, after_blank: bool) -> bool {
    if after_blank {
        return text.starts_with("Next ");
    }
    let b = text.as_bytes();
    match b.first() {
        Some(b'#') => {
            let d = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            d > 0 && b.get(1 + d) == Some(&b' ')
        }
        Some(b'[') => text.starts_with("[stacktrace]") || text.starts_with("[previous exception]"),
        Some(b'"') => text.starts_with("\"}"),
        Some(b' ') => text.starts_with("  thrown in "),
        Some(b'S') => text.starts_with("Stack trace:"),
        Some(b'N') => text.starts_with("Next "),
        _ => false,
    }
}
