//! The pure modules of phpeek-pm, compiled from `../src` for the fuzz targets.
//!
//! phpeek-pm is a binary crate, and a fuzz target must link a library. Rather than split the
//! main crate into a library and a binary (a change every module, test and feature helper
//! would feel), this crate includes the source files themselves with `#[path]`: the main crate
//! stays exactly as it is, and these modules keep their `crate::...` paths because this file
//! declares them at its own root, under the same names as `src/main.rs` does.
//!
//! To fuzz a new module: declare it here (with its `cfg(feature)` if it has one, and whatever
//! modules it uses), add a target in `fuzz_targets/` and a `[[bin]]` in `Cargo.toml`, and seed
//! files in `seeds/<target>/` (see README.md).
// Most of what is included is not reached from any target; the main crate's lints apply there.
#![allow(dead_code, unused_imports, unused_macros, unexpected_cfgs, clippy::all)]

#[cfg(feature = "api")]
#[path = "../../src/api/mod.rs"]
pub mod api;
// `api::client` uses the command-line types.
#[cfg(feature = "api")]
#[path = "../../src/cli.rs"]
pub mod cli;
#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/dag.rs"]
pub mod dag;
#[path = "../../src/exit.rs"]
pub mod exit;
#[cfg(any(feature = "api", feature = "metrics"))]
#[path = "../../src/http/mod.rs"]
pub mod http;
#[path = "../../src/features.rs"]
pub mod features;
#[cfg(feature = "log-processing")]
#[path = "../../src/logproc/mod.rs"]
pub mod logproc;
#[path = "../../src/output/mod.rs"]
pub mod output;
// `api::client` answers `phpeek-pm health` (src/probe.rs).
#[cfg(feature = "api")]
#[path = "../../src/probe.rs"]
pub mod probe;
#[cfg(feature = "scheduler")]
#[path = "../../src/scheduler/mod.rs"]
pub mod scheduler;
// `api::json` writes the resource history.
#[cfg(any(feature = "api", feature = "metrics"))]
#[path = "../../src/resources/mod.rs"]
pub mod resources;
#[path = "../../src/signal_policy.rs"]
pub mod signal_policy;
#[path = "../../src/status.rs"]
pub mod status;
#[path = "../../src/supervisor/mod.rs"]
pub mod supervisor;
#[path = "../../src/sys/mod.rs"]
pub mod sys;

/// Splits fuzz input into text fields at NUL bytes (`None` if it is not UTF-8): the targets'
/// inputs are plain text so that seeds are ordinary files (a YAML config, then optionally a
/// NUL and `NAME=value` lines).
pub fn fields(data: &[u8]) -> Option<Vec<&str>> {
    let text = std::str::from_utf8(data).ok()?;
    Some(text.split('\0').collect())
}

/// `NAME=value` lines as environment pairs (lines without `=` are skipped).
pub fn env_lines(text: &str, prefix: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("{prefix}{k}"), v.to_owned()))
        .collect()
}
