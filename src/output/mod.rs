//! Everything the manager writes to its stdout: children's lines and its own events, as JSON
//! records or text lines, through one bounded queue.
//!
//! Back-pressure instead of loss: when the queue holds [`QUEUE_LIMIT`] bytes the reactor stops
//! reading child pipes, so a child that logs faster than our stdout drains blocks on its own
//! pipe (as it would on a full Docker log pipe) while memory stays bounded. Lines longer than
//! [`MAX_LINE`](crate::config::model::MAX_LINE) are cut into several records; all but the last
//! carry `"partial":true`.

pub mod lines;
#[cfg(feature = "log-processing")]
mod processed;
mod queue;
pub mod recent;

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

#[cfg(not(feature = "log-processing"))]
use crate::config::model::PlainRules;
use crate::config::model::{Level, LogFormat};
use crate::supervisor::Field;
use queue::Queue;

/// Bytes of formatted records we hold before we stop reading child pipes.
pub const QUEUE_LIMIT: usize = 256 * 1024;
/// Bytes of queued records written at once while pipes are being read (`worth_writing`); the
/// rest goes at the end of the turn, so this only sets how often a flood writes (and wakes
/// the reader of our stdout) mid-turn. At 64 KiB a 1 ms burst of a fast writer (about 850 KiB
/// of records) was 13 writes, each of which may wake the reader to compete with the writing
/// child for a CPU: 128 KiB read 2.2-2.3 % more lines/s in two interleaved invocations (21 and
/// 31 runs), with the same peak RSS (the queue's buffer is `QUEUE_KEEP`).
const WRITE_AT: usize = 128 * 1024;
/// The queue's buffer after a burst that grew it past four times the limit.
const QUEUE_KEEP: usize = QUEUE_LIMIT + 64 * 1024;
/// What our stdout pipe is asked to hold (`F_SETPIPE_SZ`) when it is a pipe: a log pipe of
/// 64 KiB (the kernel's default) takes a quarter of one full queue per write, so a flood
/// costs a wake-up of us and of the reader per 64 KiB; 1 MiB is the default most a pipe may
/// be given without privileges (`/proc/sys/fs/pipe-max-size`).
pub const STDOUT_PIPE: usize = 1024 * 1024;

/// Whose line a record is: `(instance, process, stream)`.
pub type Who<'a> = (&'a str, &'a str, Stream);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub const fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Bytes held upstream of the queue: only log processing holds any.
#[cfg(feature = "log-processing")]
use processed::Held;

/// Without log processing nothing is held.
#[cfg(not(feature = "log-processing"))]
struct Held;

#[cfg(not(feature = "log-processing"))]
impl Held {
    const fn new() -> Held {
        Held
    }

    #[inline(always)]
    const fn bytes(&self) -> usize {
        0
    }
}

/// How one pipe's lines become records. With log processing every pipe goes through the
/// stage (a switched-off stream too: the stage drops its lines).
pub enum Shaper {
    /// One record per line, as written, at level `info`.
    #[cfg(not(feature = "log-processing"))]
    Plain,
    /// None: the stream is switched off (`stdout: false` / `stderr: false`); its lines are
    /// read and dropped, so the child never blocks on a full pipe.
    #[cfg(not(feature = "log-processing"))]
    Discard,
    /// Through the log-processing stage (levels, multiline, JSON, redaction, filters).
    #[cfg(feature = "log-processing")]
    Processed(Box<crate::logproc::Stage>),
}

/// The shaper a process's log rules give each of its pipes.
pub trait ShaperFor {
    fn shaper(&self, stream: Stream) -> Shaper;
    /// Whether the stream is on at all: one switched off (`stdout: false` / `stderr: false`)
    /// is not read, its process writes it to `/dev/null`.
    fn wanted(&self, stream: Stream) -> bool;
}

#[cfg(not(feature = "log-processing"))]
impl ShaperFor for PlainRules {
    fn shaper(&self, stream: Stream) -> Shaper {
        if self.wanted(stream) {
            Shaper::Plain
        } else {
            Shaper::Discard
        }
    }

    fn wanted(&self, stream: Stream) -> bool {
        match stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        }
    }
}

#[cfg(not(feature = "log-processing"))]
impl Shaper {
    /// Cuts `data` (with `None`: the end of the stream, its unfinished last line) into lines
    /// and queues one plain record per line of the stream `(instance, process, stream)`;
    /// `kept` sees each line (an aux child's tail). A stream that is off is dropped whole.
    pub fn shape(
        &mut self,
        lines: &mut lines::Lines,
        data: Option<&[u8]>,
        out: &mut Output<'_>,
        (instance, process, stream): Who<'_>,
        kept: &mut impl FnMut(&[u8]),
    ) {
        if matches!(self, Shaper::Discard) {
            return;
        }
        let emit = &mut |line: &[u8], partial| {
            out.child_line(instance, process, stream, line, partial);
            kept(line);
        };
        match data {
            Some(d) => lines.feed(d, emit),
            None => lines.finish(emit),
        }
    }
}

/// Result of trying to write the queue out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything written.
    Empty,
    /// The reader is slow; wait for stdout to become writable.
    WouldBlock,
}

/// The start of a record, from `{` to the opening quote of `msg` (JSON) or to the `]` after
/// the instance (text): the same for every line of a pipe until the clock moves, so it is
/// built once and copied whole instead of assembled from a dozen pieces per line.
struct Head {
    instance: String,
    process: String,
    stream: Stream,
    level: &'static str,
    bytes: Vec<u8>,
    /// Where the timestamp sits in `bytes`, and the clock tick it shows.
    time_at: usize,
    tick: u64,
}

pub struct Output<'a> {
    fd: BorrowedFd<'a>,
    format: LogFormat,
    level: Level,
    q: Queue,
    /// Stdout is gone (EPIPE and the like): records are discarded from now on.
    broken: bool,
    /// The time records are stamped with, read once per batch of lines ([`Output::tick`]);
    /// within one second only the milliseconds change, so a flood of lines does not format
    /// a full date for each. `ticks` counts changes of the text.
    stamp: [u8; 24],
    stamp_sec: i64,
    stamp_ms: u32,
    ticks: u64,
    /// The head of the last record of child output.
    head: Option<Head>,
    /// Bytes of child output held upstream of the queue (open multiline records): counted
    /// against the queue limit, so holding them cannot grow memory past it.
    held: Held,
    /// The last records of each process, for the API (a no-op without feature `api`).
    pub recent: recent::Recent,
}

impl<'a> Output<'a> {
    pub fn new(fd: BorrowedFd<'a>, format: LogFormat, level: Level) -> Self {
        // Not a pipe, no room (a user over pipe-user-pages-soft) or a smaller maximum: the
        // pipe stays as it is, which only costs more wake-ups.
        if crate::sys::fd_kind(fd) == crate::sys::FdKind::Stream {
            let _ = rustix::pipe::fcntl_setpipe_size(fd, STDOUT_PIPE);
        }
        Output {
            fd,
            format,
            level,
            q: Queue::with_capacity(QUEUE_KEEP),
            broken: false,
            stamp: [b' '; 24],
            stamp_sec: i64::MIN,
            stamp_ms: 0,
            ticks: 0,
            head: None,
            held: Held::new(),
            recent: recent::Recent::new(false),
        }
    }

    /// Reads the clock for the records that follow: once per batch of lines (a pipe's read),
    /// not once per line. The text is `2026-11-26T12:00:00.123Z`, UTC.
    pub fn tick(&mut self) {
        let (secs, ms) = crate::sys::realtime();
        if secs == self.stamp_sec && ms == self.stamp_ms {
            return;
        }
        self.ticks += 1;
        self.stamp_ms = ms;
        if secs == self.stamp_sec {
            self.stamp[20] = b'0' + (ms / 100) as u8;
            self.stamp[21] = b'0' + (ms / 10 % 10) as u8;
            self.stamp[22] = b'0' + (ms % 10) as u8;
            return;
        }
        let mut v = Vec::with_capacity(24);
        format_time(&mut v, secs, ms);
        // Years past 9999 or before 1000 do not fit: no cache (every tick formats), padded.
        self.stamp_sec = if v.len() == 24 { secs } else { i64::MIN };
        self.stamp = [b' '; 24];
        let n = v.len().min(24);
        self.stamp[..n].copy_from_slice(&v[..n]);
    }

    /// Queues the head of a record of child output (see [`Head`]).
    fn put_head(&mut self, instance: &str, process: &str, stream: Stream, level: &'static str) {
        let fresh = self.head.as_ref().is_some_and(|h| {
            h.stream == stream
                && std::ptr::eq(h.level, level)
                && same(&h.instance, instance)
                && same(&h.process, process)
        });
        if !fresh {
            let mut b = Vec::with_capacity(128);
            let time_at = match self.format {
                LogFormat::Json => {
                    b.extend_from_slice(b"{\"time\":\"");
                    let at = b.len();
                    b.extend_from_slice(&self.stamp);
                    b.extend_from_slice(b"\",\"level\":\"");
                    b.extend_from_slice(level.as_bytes());
                    b.extend_from_slice(b"\",\"process\":");
                    json_str(&mut b, process);
                    b.extend_from_slice(b",\"instance\":");
                    json_str(&mut b, instance);
                    b.extend_from_slice(b",\"stream\":\"");
                    b.extend_from_slice(stream.as_str().as_bytes());
                    b.extend_from_slice(b"\",\"msg\":\"");
                    at
                }
                LogFormat::Text => {
                    b.extend_from_slice(&self.stamp);
                    b.push(b' ');
                    b.extend_from_slice(level.as_bytes());
                    b.extend_from_slice(b" [");
                    b.extend_from_slice(instance.as_bytes());
                    b.push(b']');
                    0
                }
            };
            self.head = Some(Head {
                instance: instance.to_owned(),
                process: process.to_owned(),
                stream,
                level,
                bytes: b,
                time_at,
                tick: self.ticks,
            });
        }
        if let Some(h) = self.head.as_mut() {
            if h.tick != self.ticks {
                h.bytes[h.time_at..h.time_at + 24].copy_from_slice(&self.stamp);
                h.tick = self.ticks;
            }
            self.q.put(&h.bytes);
        }
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.q.len()
    }

    /// Whether child pipes may be read (the queue is below its limit).
    pub fn has_room(&self) -> bool {
        self.pending() + self.held.bytes() < QUEUE_LIMIT
    }

    /// Whether the queue holds enough to be written before more is read: a burst's records
    /// go out 64 KiB at a time instead of filling the whole queue first.
    pub fn worth_writing(&self) -> bool {
        self.pending() >= WRITE_AT
    }

    /// Queues one record of child output (with log processing, `record` does).
    #[cfg(not(feature = "log-processing"))]
    pub fn child_line(
        &mut self,
        instance: &str,
        process: &str,
        stream: Stream,
        line: &[u8],
        partial: bool,
    ) {
        // Valid UTF-8 (the common case; ASCII is checked 16 bytes at a time) is borrowed.
        let msg = match crate::sys::simd::text(line) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(line),
        };
        self.recent
            .push(&self.stamp, process, instance, stream, &msg, partial);
        match self.format {
            LogFormat::Json => {
                self.put_head(instance, process, stream, "info");
                self.q.put_json(&msg);
                self.q.put(if partial {
                    b"\",\"partial\":true}\n"
                } else {
                    b"\"}\n"
                });
            }
            LogFormat::Text => {
                self.put_head(instance, process, stream, "INFO");
                self.q.put(if partial { b" (partial) " } else { b" " });
                self.q.put(msg.as_bytes());
                self.q.push(b'\n');
            }
        }
    }

    /// Queues one manager event if its level passes `log_level`.
    pub fn event(
        &mut self,
        level: Level,
        who: Option<(&str, &str)>,
        event: &str,
        msg: &str,
        fields: &[(&str, Field)],
    ) {
        if level < self.level {
            return;
        }
        self.tick();
        let now = self.stamp;
        let b = &mut self.q;
        match self.format {
            LogFormat::Json => {
                b.extend_from_slice(b"{\"time\":\"");
                b.extend_from_slice(&now);
                b.extend_from_slice(b"\",\"level\":\"");
                b.extend_from_slice(level.as_str().as_bytes());
                b.extend_from_slice(b"\",\"msg\":");
                json_str(b, msg);
                b.extend_from_slice(b",\"event\":");
                json_str(b, event);
                if let Some((instance, process)) = who {
                    b.extend_from_slice(b",\"process\":");
                    json_str(b, process);
                    b.extend_from_slice(b",\"instance\":");
                    json_str(b, instance);
                }
                for (k, v) in fields {
                    b.push(b',');
                    json_str(b, k);
                    b.push(b':');
                    match v {
                        Field::Int(n) => put_int(b, *n),
                        Field::Str(s) => json_str(b, s),
                        #[cfg(any(feature = "api", feature = "metrics"))]
                        Field::Bool(t) => b.extend_from_slice(if *t { b"true" } else { b"false" }),
                    }
                }
                b.extend_from_slice(b"}\n");
            }
            LogFormat::Text => {
                b.extend_from_slice(&now);
                b.push(b' ');
                b.extend_from_slice(level.as_str().to_ascii_uppercase().as_bytes());
                b.extend_from_slice(b" [");
                b.extend_from_slice(who.map_or("phpeek-pm", |w| w.0).as_bytes());
                b.extend_from_slice(b"] ");
                b.extend_from_slice(msg.as_bytes());
                for (k, v) in fields {
                    b.push(b' ');
                    b.extend_from_slice(k.as_bytes());
                    b.push(b'=');
                    match v {
                        Field::Int(n) => put_int(b, *n),
                        Field::Str(s) => b.extend_from_slice(s.as_bytes()),
                        #[cfg(any(feature = "api", feature = "metrics"))]
                        Field::Bool(t) => b.extend_from_slice(if *t { b"true" } else { b"false" }),
                    }
                }
                b.push(b'\n');
            }
        }
    }

    /// Writes as much of the queue as stdout takes without blocking.
    pub fn flush(&mut self) -> Flush {
        while self.q.len() > 0 {
            if self.broken {
                break;
            }
            match rustix::io::write(self.fd, self.q.bytes()) {
                Ok(0) => self.broken = true,
                Ok(n) => self.q.head += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    self.q.compact();
                    return Flush::WouldBlock;
                }
                Err(_) => self.broken = true,
            }
        }
        self.q.clear(QUEUE_KEEP, 4 * QUEUE_LIMIT);
        Flush::Empty
    }

    /// Writes everything, waiting if stdout is slow (used once, right before exit).
    pub fn flush_blocking(&mut self) {
        let deadline = crate::sys::monotonic_ms() + 5_000;
        while self.flush() == Flush::WouldBlock && crate::sys::monotonic_ms() < deadline {
            let mut fds = [rustix::event::PollFd::new(
                &self.fd,
                rustix::event::PollFlags::OUT,
            )];
            let timeout = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            };
            let _ = rustix::event::poll(&mut fds, Some(&timeout));
        }
    }

    pub fn fd(&self) -> BorrowedFd<'a> {
        self.fd
    }
}

impl AsFd for Output<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
    }
}

/// Where records and JSON are written: the output queue, or a plain `Vec` (API bodies).
pub trait Put {
    fn extend_from_slice(&mut self, s: &[u8]);
    fn push(&mut self, c: u8);
    /// `s` escaped as the inside of a JSON string literal.
    fn json_inner(&mut self, s: &str);
}

impl Put for Vec<u8> {
    fn extend_from_slice(&mut self, s: &[u8]) {
        Vec::extend_from_slice(self, s);
    }

    fn push(&mut self, c: u8) {
        Vec::push(self, c);
    }

    fn json_inner(&mut self, s: &str) {
        json_inner(self, s);
    }
}

/// Appends `s` as a JSON string literal.
pub fn json_str<P: Put + ?Sized>(b: &mut P, s: &str) {
    b.push(b'"');
    b.json_inner(s);
    b.push(b'"');
}

/// `a == b` for the short names of every line's head, compared in place: `==` on strings
/// calls `memcmp`, which musl runs a byte at a time behind a call.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Writes `n` in decimal (no `String` made: records carry a pid, an exit code and a run time).
pub fn put_int<P: Put + ?Sized>(b: &mut P, n: i64) {
    if n < 0 {
        b.push(b'-');
    }
    b.extend_from_slice(decimal(n.unsigned_abs(), &mut [0; 20]));
}

/// The digits of `n`, written at the end of `buf` without going through `fmt`.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The escaper of plain `Vec`s: runs of plain bytes are copied whole.
fn json_inner(b: &mut Vec<u8>, s: &str) {
    b.reserve(s.len());
    let mut rest = s.as_bytes();
    while let Some(i) = rest
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
    {
        b.extend_from_slice(&rest[..i]);
        let (e, n) = json_escape(rest[i]);
        b.extend_from_slice(&e[..n]);
        rest = &rest[i + 1..];
    }
    b.extend_from_slice(rest);
}

/// How JSON writes `c`, a byte below 0x20, `"` or `\`, inside a string: the first `n` bytes
/// of the array (`\n`, `\"`, … or `\u00XX`).
#[inline]
pub fn json_escape(c: u8) -> ([u8; 6], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = |e: u8| ([b'\\', e, 0, 0, 0, 0], 2);
    match c {
        b'"' => short(b'"'),
        b'\\' => short(b'\\'),
        b'\n' => short(b'n'),
        b'\r' => short(b'r'),
        b'\t' => short(b't'),
        _ => (
            [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ],
            6,
        ),
    }
}

/// Appends `secs`.`ms` since the epoch as UTC: `2026-11-26T12:00:00.123Z`.
pub fn format_time(b: &mut Vec<u8>, secs: i64, ms: u32) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let y = year.to_string();
    for _ in y.len()..4 {
        b.push(b'0');
    }
    b.extend_from_slice(y.as_bytes());
    b.push(b'-');
    let two = |b: &mut Vec<u8>, n: i64| {
        b.push(b'0' + (n / 10) as u8);
        b.push(b'0' + (n % 10) as u8);
    };
    two(b, month);
    b.push(b'-');
    two(b, day);
    b.push(b'T');
    two(b, sod / 3600);
    b.push(b':');
    two(b, (sod / 60) % 60);
    b.push(b':');
    two(b, sod % 60);
    b.push(b'.');
    let ms = i64::from(ms);
    b.push(b'0' + (ms / 100) as u8);
    two(b, ms % 100);
    b.push(b'Z');
}

/// Result of reading a child's pipe.
pub enum Read {
    /// Some bytes were read (and passed on); there may be more.
    Data,
    /// Nothing available right now.
    WouldBlock,
    /// Every writer has closed the pipe.
    Eof,
}

/// Reads one chunk from a non-blocking pipe into `buf`.
pub fn read_chunk(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(Read, usize)> {
    loop {
        return match rustix::io::read(fd, &mut *buf) {
            Ok(0) => Ok((Read::Eof, 0)),
            Ok(n) => Ok((Read::Data, n)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => Ok((Read::WouldBlock, 0)),
            Err(e) => Err(e.into()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes() {
        let mut b = Vec::new();
        json_str(&mut b, "a\"b\\c\nd\u{1}é");
        assert_eq!(String::from_utf8(b).unwrap(), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn writes_integers_as_to_string_does() {
        for n in [0, 7, -7, 10, 1_000_000, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            put_int(&mut b, n);
            assert_eq!(String::from_utf8(b).unwrap(), n.to_string());
        }
        assert_eq!(
            decimal(u64::MAX, &mut [0; 20]),
            u64::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn formats_utc() {
        let mut b = Vec::new();
        format_time(&mut b, 0, 5);
        assert_eq!(String::from_utf8(b).unwrap(), "1970-01-01T00:00:00.005Z");
        let mut b = Vec::new();
        // 2026-11-26T12:00:00Z
        format_time(&mut b, 1_795_694_400, 123);
        assert_eq!(String::from_utf8(b).unwrap(), "2026-11-26T12:00:00.123Z");
        let mut b = Vec::new();
        // 2024-02-29T23:59:59Z (leap day)
        format_time(&mut b, 1_709_251_199, 999);
        assert_eq!(String::from_utf8(b).unwrap(), "2024-02-29T23:59:59.999Z");
    }
}
