//! `phpeek-pm health [NAME] [--live]`: the probe an orchestrator runs inside the container —
//! Docker's `HEALTHCHECK CMD ["/phpeek-pm","health"]`, Swarm's health-gated rolling updates,
//! Kubernetes `exec` startup/readiness/liveness probes. A `FROM scratch` image has no shell or
//! curl to run a probe with; the manager's own binary is always there.
//!
//! Semantics (docs/orchestrators.md): exit 0 when the stack is ready — every longrun instance,
//! or with NAME every instance of that process, passed its readiness check — 1 when it is not
//! (starting, restarting, shutting down), 3 when the manager cannot be reached, 5 for an
//! unknown NAME, 2 for a usage or configuration problem. `--live` asks only whether the
//! manager answers (0 or 3), for a liveness probe that must not restart a container merely
//! because a process is restarting inside it.
//!
//! Where the answer comes from: the API (`--api`, `$PHPEEK_PM_API`, or `api_enabled` in the
//! configuration; `GET /api/v1/ready` needs no token), else the configuration's readiness file
//! (feature `health`: present = ready). The probe is a short-lived process, so its blocking
//! IO is bounded by short timeouts instead of a loop: it answers in well under a second.

#[cfg(feature = "api")]
use crate::api::client::health as api_health;
use crate::cli::Health;
use crate::config::model::Config;
use crate::exit::health as exit;
use crate::features::Feature;

/// Runs the probe; `config` is the configuration found the usual way (`-c`,
/// `$PHPEEK_PM_CONFIG`, the default paths), or why it could not be loaded.
pub fn run(h: &Health, config: Result<&Config, &str>) -> u8 {
    let cfg = config.ok();
    let settings = cfg.and_then(|c| c.global.api.as_ref());
    let api_given =
        h.api.is_some() || std::env::var_os("PHPEEK_PM_API").is_some_and(|v| !v.is_empty());
    if api_given || settings.is_some() {
        return api_health(h, settings);
    }
    if let Some(spec) = cfg.and_then(|c| c.global.readiness.as_ref()) {
        if h.live || h.name.is_some() {
            eprintln!(
                "phpeek-pm: health {}: needs the API (api_enabled: true); the readiness file \
                 {} only says whether the whole stack is ready",
                if h.live { "--live" } else { "NAME" },
                spec.path
            );
            return exit::USAGE;
        }
        return file(&spec.path);
    }
    if let Err(e) = config {
        eprintln!("phpeek-pm: health: {e}");
    }
    if Feature::Api.compiled() {
        // No configuration to say otherwise: the API's default address, like the other
        // client commands.
        return api_health(h, None);
    }
    if config.is_ok() {
        eprintln!(
            "phpeek-pm: health: the configuration has no readiness file \
             (global.readiness_file, feature \"health\") and this build has no API: nothing \
             can tell whether the stack is ready"
        );
    }
    exit::USAGE
}

/// `health` over the API: this build has none (the readiness file is used instead when the
/// configuration has one).
#[cfg(not(feature = "api"))]
fn api_health(_h: &Health, _settings: Option<&crate::config::model::ApiSettings>) -> u8 {
    eprintln!(
        "phpeek-pm: {}",
        Feature::Api.unavailable("health over the API (--api, $PHPEEK_PM_API, api_enabled)")
    );
    exit::USAGE
}

/// The readiness file exists while every tracked longrun is ready (the manager removes it
/// when one is not and when it shuts down).
fn file(path: &str) -> u8 {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            println!("ready: {path} exists");
            exit::READY
        }
        Ok(_) => {
            println!("not ready: {path} is not a regular file");
            exit::NOT_READY
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("not ready: {path} does not exist");
            exit::NOT_READY
        }
        Err(e) => {
            println!("unreachable: cannot check {path}: {e}");
            exit::UNREACHABLE
        }
    }
}
