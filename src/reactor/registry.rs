//! The list of parts ([`PARTS`]): which features of this build take turns on the loop, in
//! which order, and how each is built. Adding a part is one line here (and its `mod` line in
//! `mod.rs`); the interface it implements is `part.rs`.

use mio::Registry;

use super::part::{Part, Setup};
use crate::config::model::Config;

type Make = fn(&Config, &Setup<'_>) -> Box<dyn Part>;

/// The parts built in, in the order they get their turns: held log records first, then the
/// features that feed the supervisor, the HTTP servers last (their answers show the turn's
/// state).
const PARTS: &[Make] = &[
    #[cfg(feature = "log-processing")]
    super::logs::part,
    super::watch::part,
    #[cfg(feature = "health")]
    super::health::part,
    #[cfg(feature = "hooks")]
    super::hooks::part,
    #[cfg(feature = "scheduler")]
    super::tasks::part,
    #[cfg(feature = "heartbeat")]
    super::pings::part,
    #[cfg(any(feature = "api", feature = "metrics"))]
    super::resources::part,
    #[cfg(any(feature = "api", feature = "metrics"))]
    super::fpm::part,
    #[cfg(any(feature = "api", feature = "metrics"))]
    super::http::part,
];

/// How many parts this build has (the minimal build: only the configuration watch).
pub const COUNT: usize = PARTS.len();

/// Every part of this build, by [`PartId`]; a slot is empty while its part runs.
pub type Parts = [Option<Box<dyn Part>>; COUNT];

/// Builds every part; `first_kind` is the first token kind parts may own.
pub fn build(config: &Config, registry: &Registry, first_kind: usize) -> Parts {
    std::array::from_fn(|id| {
        let setup = Setup {
            id,
            kind: first_kind + id,
            registry,
        };
        Some(PARTS[id](config, &setup))
    })
}
