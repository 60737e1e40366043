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
