//! Recent output per process, for the API's `GET /api/v1/processes/{name}/logs` (feature
//! `api`). It is fed where child lines become records, after any processing, so it holds
//! exactly what was written to stdout (redacted text included). Off (nothing kept) unless the
//! API is enabled.
//!
//! The rings live in `recent/store.rs`, built with the API only. A build without it has no
//! way to switch keeping on, so the compiler sees that nothing is ever kept and links none of
//! it: no stub mirrors this file.

#[cfg(feature = "api")]
mod store;

#[cfg(feature = "api")]
pub use store::{Entry, MAX_LINES};

use super::Stream;

/// The recent records of every process, or nothing.
#[derive(Default)]
pub struct Recent(Keep);

#[derive(Default)]
enum Keep {
    #[default]
    Off,
    #[cfg(feature = "api")]
    On(store::Rings),
}

impl Recent {
    /// `enabled`: keep records (the API is on). A build without the API never does.
    pub fn new(enabled: bool) -> Recent {
        Recent(match enabled {
            #[cfg(feature = "api")]
            true => Keep::On(store::Rings::default()),
            _ => Keep::Off,
        })
    }

    /// Whether records are kept (log processing renders a JSON line as text only then).
    #[cfg(feature = "log-processing")]
    pub fn enabled(&self) -> bool {
        !matches!(self.0, Keep::Off)
    }

    /// Keeps one record of `process` (when on).
    pub fn push(
        &mut self,
        time: &[u8; 24],
        process: &str,
        instance: &str,
        stream: Stream,
        msg: &str,
        partial: bool,
    ) {
        match (&mut self.0, (time, process, instance, stream, msg, partial)) {
            (Keep::Off, _) => {}
            #[cfg(feature = "api")]
            (Keep::On(rings), (t, p, i, s, m, partial)) => rings.push(t, p, i, s, m, partial),
        }
    }

    /// The newest `limit` records of `process`, newest first (none when off).
    #[cfg(feature = "api")]
    pub fn newest(&self, process: &str, limit: usize) -> impl Iterator<Item = &Entry> {
        let rings = match &self.0 {
            Keep::On(rings) => Some(rings),
            Keep::Off => None,
        };
        rings
            .into_iter()
            .flat_map(move |r| r.newest(process, limit))
    }
}

#[cfg(all(test, feature = "api"))]
mod tests {
    use super::*;

    #[test]
    fn off_keeps_nothing() {
        let t = *b"2026-11-26T12:00:00.123Z";
        let mut r = Recent::new(false);
        r.push(&t, "web", "web-0", Stream::Stdout, "x", false);
        assert_eq!(r.newest("web", 10).count(), 0);
        let mut r = Recent::new(true);
        r.push(&t, "web", "web-0", Stream::Stdout, "x", false);
        assert_eq!(r.newest("web", 10).count(), 1);
    }
}
