//! Without the `api` feature there is no API to talk to: the client subcommands say so.

use crate::cli::Client;
use crate::config::model::Config;
use crate::features::Feature;

pub fn run(_c: &Client, _config: Option<&Config>) -> u8 {
    eprintln!(
        "phpeek-pm: {}",
        Feature::Api.unavailable("the client commands (status, start, stop, ...)")
    );
    crate::exit::USAGE
}

/// `health` over the API: this build has none (`src/probe.rs` uses the readiness file instead
/// when the configuration has one).
pub fn health(
    _h: &crate::cli::Health,
    _settings: Option<&crate::config::model::ApiSettings>,
) -> u8 {
    eprintln!(
        "phpeek-pm: {}",
        Feature::Api.unavailable("health over the API (--api, $PHPEEK_PM_API, api_enabled)")
    );
    crate::probe::exit::USAGE
}
