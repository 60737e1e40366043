//! The rings of recent output (feature `api`): the last records of each process, bounded both
//! in lines ([`MAX_LINES`]) and in bytes ([`MAX_BYTES`]), oldest dropped first.

use std::collections::VecDeque;

use crate::output::Stream;

/// Records kept per process.
pub const MAX_LINES: usize = 1000;
/// Bytes of message text kept per process (a record's message counts in full; one record
/// alone may exceed this, up to the line cap of the output).
pub const MAX_BYTES: usize = 256 * 1024;
/// Bytes of message text kept for all processes together: with many processes each keeps its
/// share (`TOTAL_BYTES / processes`), never less than [`MIN_BYTES`].
pub const TOTAL_BYTES: usize = 4 * 1024 * 1024;
pub const MIN_BYTES: usize = 16 * 1024;
/// Processes (or aux children's process names) that get a ring; later names are not kept.
pub const MAX_PROCESSES: usize = 256;

/// One kept record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `2026-11-26T12:00:00.123Z`.
    pub time: [u8; 24],
    pub instance: Box<str>,
    pub stream: Stream,
    pub msg: Box<str>,
    pub partial: bool,
}

#[derive(Default)]
struct Ring {
    process: Box<str>,
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Ring {
    /// Drops the oldest records beyond the line limit and `cap` bytes (keeping the newest).
    fn trim(&mut self, cap: usize) {
        while self.entries.len() > MAX_LINES || (self.bytes > cap && self.entries.len() > 1) {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.msg.len();
            }
        }
    }
}

/// One ring per process.
#[derive(Default)]
pub struct Rings {
    rings: Vec<Ring>,
}

impl Rings {
    /// Keeps one record of `process`.
    pub fn push(
        &mut self,
        time: &[u8; 24],
        process: &str,
        instance: &str,
        stream: Stream,
        msg: &str,
        partial: bool,
    ) {
        let n = match self.rings.iter().position(|r| &*r.process == process) {
            Some(n) => n,
            None if self.rings.len() < MAX_PROCESSES => {
                self.rings.push(Ring {
                    process: process.into(),
                    ..Ring::default()
                });
                // Every ring's share just got smaller.
                let cap = self.cap();
                for r in &mut self.rings {
                    r.trim(cap);
                }
                self.rings.len() - 1
            }
            None => return,
        };
        let cap = self.cap();
        let ring = &mut self.rings[n];
        ring.bytes += msg.len();
        ring.entries.push_back(Entry {
            time: *time,
            instance: instance.into(),
            stream,
            msg: msg.into(),
            partial,
        });
        ring.trim(cap);
    }

    /// Bytes each process may keep now.
    fn cap(&self) -> usize {
        (TOTAL_BYTES / self.rings.len().max(1)).clamp(MIN_BYTES, MAX_BYTES)
    }

    /// The newest `limit` records of `process`, newest first.
    pub fn newest(&self, process: &str, limit: usize) -> impl Iterator<Item = &Entry> {
        self.rings
            .iter()
            .find(|r| &*r.process == process)
            .into_iter()
            .flat_map(|r| r.entries.iter().rev())
            .take(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: [u8; 24] = *b"2026-11-26T12:00:00.123Z";

    #[test]
    fn bounded_in_lines_and_bytes_newest_first() {
        let mut r = Rings::default();
        for n in 0..MAX_LINES + 10 {
            r.push(&T, "web", "web-0", Stream::Stdout, &n.to_string(), false);
        }
        let got: Vec<&str> = r.newest("web", usize::MAX).map(|e| &*e.msg).collect();
        assert_eq!(got.len(), MAX_LINES);
        assert_eq!(got[0], (MAX_LINES + 9).to_string());
        let big = "x".repeat(MAX_BYTES / 4 + 1);
        for _ in 0..8 {
            r.push(&T, "web", "web-1", Stream::Stderr, &big, false);
        }
        let kept: usize = r.newest("web", usize::MAX).map(|e| e.msg.len()).sum();
        assert!(kept <= MAX_BYTES, "{kept}");
        assert_eq!(r.newest("web", 2).count(), 2);
        assert_eq!(r.newest("other", 10).count(), 0);
    }

    #[test]
    fn many_processes_share_a_total() {
        let mut r = Rings::default();
        let line = "y".repeat(1000);
        for p in 0..100 {
            for _ in 0..300 {
                r.push(&T, &format!("p{p}"), "i", Stream::Stdout, &line, false);
            }
        }
        let kept = |p: usize| {
            r.newest(&format!("p{p}"), usize::MAX)
                .map(|e| e.msg.len())
                .sum::<usize>()
        };
        let total: usize = (0..100).map(kept).sum();
        assert!(total <= TOTAL_BYTES, "{total}");
        // Each still has its share.
        assert!(kept(0) >= TOTAL_BYTES / 100 - 1000, "{}", kept(0));
    }
}
