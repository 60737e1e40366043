//! The client subcommands (`phpeek-pm status|start|stop|restart|scale|logs`, and `health` when
//! it asks the API — see `src/probe.rs`): the request each sends, and what its answer means
//! for the terminal and the exit code. The request goes through [`super::wire`] (a small
//! blocking HTTP/1.1 client over TCP or a Unix socket), answers are rendered by
//! [`super::render`], and `top` is [`super::top`]. It runs in the short-lived client process,
//! never in the manager's loop.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::render::{log_lines, now_unix, reload_summary, status_table};
use super::wire::{Unreachable, locate, request, request_within};
use crate::cli::{Client, ClientAction, Health};
use crate::config::model::{ApiSettings, Config};

use crate::exit::client as exit;

/// A probe must finish well inside the orchestrator's own probe timeout (Kubernetes: 1 s by
/// default): connecting gives up after this long...
const PROBE_CONNECT: Duration = Duration::from_millis(300);
/// ...and the whole exchange after this long.
const PROBE_TOTAL: Duration = Duration::from_millis(800);

fn valid_name(n: &str) -> bool {
    !n.is_empty() && !n.contains(['/', '?', '#', ' ', '%', '&', '='])
}

/// `phpeek-pm health [NAME] [--live]` over the API: `GET /api/v1/ready[?process=NAME]` (or
/// `/api/v1/health` for `--live`), which need no token, within [`PROBE_TOTAL`]. Exit codes
/// are [`crate::exit::health`]'s.
pub fn health(h: &Health, settings: Option<&ApiSettings>) -> u8 {
    use crate::exit::health as probe;
    let (target, token) = match locate(h.api.as_deref(), settings) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("phpeek-pm: {e}");
            return probe::USAGE;
        }
    };
    let path = match (&h.name, h.live) {
        (_, true) => "/api/v1/health".to_owned(),
        (Some(n), false) if valid_name(n) => format!("/api/v1/ready?process={n}"),
        (Some(n), false) => {
            eprintln!("phpeek-pm: {n:?} is not a process name");
            return probe::USAGE;
        }
        (None, false) => "/api/v1/ready".to_owned(),
    };
    let answer = request_within(
        &target,
        "GET",
        &path,
        token.as_deref(),
        None,
        PROBE_CONNECT,
        PROBE_TOTAL,
    );
    let (status, body) = match answer {
        Ok(a) => a,
        Err(Unreachable(e)) => {
            println!("unreachable: {}: {e}", target.describe());
            return probe::UNREACHABLE;
        }
    };
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let what = h.name.as_deref().unwrap_or("every longrun");
    match status {
        200 if h.live => {
            println!("alive");
            probe::READY
        }
        200 => {
            println!("ready: {what}");
            probe::READY
        }
        503 => {
            let waiting: Vec<String> = doc["not_ready"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    format!(
                        "{} {}",
                        i["instance"].as_str().unwrap_or("?"),
                        i["state"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let why = if doc["shutting_down"] == true {
                "shutting down".to_owned()
            } else {
                waiting.join(", ")
            };
            println!("not ready: {what}: {why}");
            probe::NOT_READY
        }
        404 if h.name.is_some()
            && doc["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("unknown process")) =>
        {
            println!("unknown process {what:?}");
            probe::UNKNOWN_PROCESS
        }
        _ => {
            println!("not ready: the manager answered {status}");
            probe::NOT_READY
        }
    }
}

/// Runs a client subcommand; `config` is the manager's configuration when one was found.
pub fn run(c: &Client, config: Option<&Config>) -> u8 {
    let settings = config.and_then(|c| c.global.api.as_ref());
    let (target, token) = match locate(c.api.as_deref(), settings) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("phpeek-pm: {e}");
            return exit::USAGE;
        }
    };
    let (method, path, body) = match &c.action {
        ClientAction::Top { once } => return super::top::run(&target, token.as_deref(), *once),
        ClientAction::Status => ("GET", "/api/v1/processes".to_owned(), None),
        ClientAction::Start(n) => ("POST", format!("/api/v1/processes/{n}/start"), None),
        ClientAction::Stop(n) => ("POST", format!("/api/v1/processes/{n}/stop"), None),
        ClientAction::Restart(n) => ("POST", format!("/api/v1/processes/{n}/restart"), None),
        ClientAction::Scale(n, k) => (
            "POST",
            format!("/api/v1/processes/{n}/scale"),
            Some(format!("{{\"desired\":{k}}}")),
        ),
        ClientAction::Logs(n, k) => ("GET", format!("/api/v1/processes/{n}/logs?limit={k}"), None),
        ClientAction::Reload(Some(n)) => ("POST", format!("/api/v1/processes/{n}/reload"), None),
        ClientAction::Reload(None) => ("POST", "/api/v1/reload".to_owned(), None),
        ClientAction::ReloadConfig => ("POST", "/api/v1/config/reload".to_owned(), None),
    };
    if let ClientAction::Start(n)
    | ClientAction::Stop(n)
    | ClientAction::Restart(n)
    | ClientAction::Scale(n, _)
    | ClientAction::Logs(n, _)
    | ClientAction::Reload(Some(n)) = &c.action
    {
        if !valid_name(n) {
            eprintln!("phpeek-pm: {n:?} is not a process name");
            return exit::USAGE;
        }
    }
    let (status, body) = match request(&target, method, &path, token.as_deref(), body.as_deref()) {
        Ok(a) => a,
        Err(Unreachable(e)) => {
            eprintln!(
                "phpeek-pm: cannot reach the manager at {}: {e}\n\
                 Is phpeek-pm running with api_enabled: true? Point at it with --api URL|PATH \
                 (or PHPEEK_PM_API).",
                target.describe()
            );
            return exit::UNREACHABLE;
        }
    };
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let error = doc["error"].as_str().unwrap_or("").to_owned();
    match status {
        200 => {}
        400 if matches!(c.action, ClientAction::ReloadConfig) => {
            eprintln!("phpeek-pm: {error}");
            for e in doc["errors"].as_array().into_iter().flatten() {
                eprintln!("phpeek-pm: {}", e.as_str().unwrap_or_default());
            }
            return exit::FAILED;
        }
        401 => {
            let hint = if token.is_some() {
                "the token was refused: set PHPEEK_PM_API_TOKEN to the manager's api_auth"
            } else {
                "the API needs a token: set PHPEEK_PM_API_TOKEN to the manager's api_auth"
            };
            eprintln!("phpeek-pm: {hint}");
            return exit::UNAUTHORIZED;
        }
        404 if error.starts_with("unknown process") => {
            let name = match &c.action {
                ClientAction::Status
                | ClientAction::Reload(None)
                | ClientAction::ReloadConfig
                | ClientAction::Top { .. } => "",
                ClientAction::Start(n)
                | ClientAction::Stop(n)
                | ClientAction::Restart(n)
                | ClientAction::Scale(n, _)
                | ClientAction::Logs(n, _)
                | ClientAction::Reload(Some(n)) => n,
            };
            eprintln!("phpeek-pm: unknown process {name:?}: `phpeek-pm status` lists them");
            return exit::UNKNOWN_PROCESS;
        }
        _ => {
            let what = if error.is_empty() {
                String::from_utf8_lossy(&body).into_owned()
            } else {
                error
            };
            eprintln!("phpeek-pm: the manager answered {status}: {what}");
            return exit::FAILED;
        }
    }
    let text = match &c.action {
        ClientAction::Status | ClientAction::Top { .. } => status_table(&doc, now_unix()),
        ClientAction::Logs(..) => log_lines(&doc),
        ClientAction::Scale(n, k) => format!("{n}: scaled to {k}\n"),
        ClientAction::Start(n) | ClientAction::Stop(n) | ClientAction::Restart(n) => {
            format!("{n}: {}\n", doc["status"].as_str().unwrap_or("done"))
        }
        ClientAction::Reload(_) => format!("{}\n", doc["message"].as_str().unwrap_or("reloaded")),
        ClientAction::ReloadConfig => reload_summary(&doc),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    exit::OK
}
