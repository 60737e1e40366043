//! The management API (feature `api`): routes of INTERFACE.md over the shared HTTP server.
//!
//! This module is pure: [`route`] turns a request into a [`Route`] (or an error answer:
//! 401, 404, 405, 400), [`json`] renders the status snapshot, and [`ops`] follows a command
//! (start, stop, restart, scale) through the supervisor's state until it is done, so that the
//! answer is sent when the work is finished without ever blocking the loop. The reactor
//! (`src/reactor/http/`) glues them to sockets and the supervisor.
//!
//! Authentication: with `api_auth` set, every route except `/api/v1/health` and
//! `/api/v1/ready` needs `Authorization: Bearer <token>`, compared in constant time. Unknown
//! paths need it too, so an unauthenticated client learns nothing about the routes.

pub mod client;
pub mod json;
pub mod ops;
mod render;
pub mod top;
mod wire;

use crate::config::model::defaults::MAX_SCALE;
use crate::http::{Method, Request, Response};

/// Log lines returned when `?limit=` is not given.
pub const DEFAULT_LOG_LIMIT: usize = 100;

const PREFIX: &str = "/api/v1/";

/// A command on one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
    Restart,
    Scale(Scale),
}

impl Op {
    pub const fn verb(self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Restart => "restart",
            Op::Scale(_) => "scale",
        }
    }
}

/// The body of a scale request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// `{"desired":N}` or `{"scale":N}`.
    To(i64),
    /// `{"delta":±N}`.
    By(i64),
}

impl Scale {
    /// The instance count asked for, given the current one; an error text when out of range.
    pub fn target(self, current: u32) -> Result<u32, String> {
        let t = match self {
            Scale::To(n) => n,
            Scale::By(d) => i64::from(current).saturating_add(d),
        };
        if (1..=MAX_SCALE).contains(&t) {
            Ok(t as u32)
        } else {
            Err(format!(
                "the instance count must stay between 1 and {MAX_SCALE} (asked for {t}); \
                 use POST .../stop to stop every instance"
            ))
        }
    }
}

/// Whether process `p` may be scaled to `target` instances at run time (`scale_locked`,
/// `max_scale`, `max_process_scale`); the refusal says why.
pub fn scale_allowed(p: &crate::config::model::ProcessSpec, target: u32) -> Result<(), String> {
    if p.scale_locked && target != p.scale {
        return Err(format!(
            "{} has scale_locked: true: its instance count stays {} (change the configuration \
             to scale it)",
            p.name, p.scale
        ));
    }
    if target > p.max_scale {
        return Err(format!(
            "{} may have at most {} instances (max_scale), asked for {target}",
            p.name, p.max_scale
        ));
    }
    Ok(())
}

/// What a request asks for, once it passed authentication and validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    Ready,
    /// `/api/v1/ready?process=NAME`: readiness of one process's instances (the `health NAME`
    /// probe); like `/ready`, no token needed.
    ReadyOf(&'a str),
    List,
    Show(&'a str),
    Logs(&'a str, usize),
    Act(&'a str, Op),
    /// `POST /api/v1/processes/{name}/reload`, or `POST /api/v1/reload` (every process): what
    /// SIGHUP to the manager does (the signal policy).
    Reload(Option<&'a str>),
    /// `POST /api/v1/config/reload`: re-read the configuration file, apply the difference.
    ConfigReload,
    /// `.../{name}/schedule[/action]` (feature `scheduler`); `action` is empty for the GET.
    Schedule(&'a str, &'a str),
    /// `/metrics/history?process=&instance=&since=&limit=`: sampled CPU and memory.
    History(HistoryQuery<'a>),
}

/// What `GET /api/v1/metrics/history` asks for (the Go tool's parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryQuery<'a> {
    pub process: &'a str,
    /// One instance (`web-0`), or every instance of the process.
    pub instance: Option<&'a str>,
    /// Unix time in milliseconds; `None` = the last hour.
    pub since: Option<u64>,
    pub limit: usize,
}

/// `limit` of the history route: default and largest (the Go tool's).
pub const HISTORY_LIMIT: (usize, usize) = (100, 10_000);

/// Checks the token and decodes the path, method and body.
pub fn route<'r>(req: &'r Request, token: Option<&str>) -> Result<Route<'r>, Response> {
    let Some(rest) = req.path.strip_prefix(PREFIX) else {
        return Err(authorized(req, token).map_or_else(|e| e, |()| not_found(&req.path)));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let get = |r: Route<'r>| method(req, Method::Get, r);
    let post = |r: Route<'r>| method(req, Method::Post, r);
    match parts.as_slice() {
        ["health"] => return get(Route::Health),
        ["ready"] => {
            return get(match query_param(&req.query, "process") {
                Some(name) if valid_name(name) => Route::ReadyOf(name),
                _ => Route::Ready,
            });
        }
        _ => {}
    }
    authorized(req, token)?;
    match parts.as_slice() {
        ["reload"] => post(Route::Reload(None)),
        ["config", "reload"] => post(Route::ConfigReload),
        ["processes", name, "reload"] if valid_name(name) => post(Route::Reload(Some(name))),
        ["processes"] => get(Route::List),
        ["processes", name] if valid_name(name) => get(Route::Show(name)),
        ["processes", name, "logs"] if valid_name(name) => {
            let limit = match query_param(&req.query, "limit") {
                None | Some("") => DEFAULT_LOG_LIMIT,
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(Response::error(
                            400,
                            &format!("limit must be a positive number, not {v:?}"),
                        ));
                    }
                },
            };
            get(Route::Logs(name, limit))
        }
        ["processes", name, action @ ("start" | "stop" | "restart")] if valid_name(name) => {
            let op = match *action {
                "start" => Op::Start,
                "stop" => Op::Stop,
                _ => Op::Restart,
            };
            post(Route::Act(name, op))
        }
        ["processes", name, "scale"] if valid_name(name) => {
            post(Route::Act(name, Op::Scale(Scale::To(0))))?;
            Ok(Route::Act(name, Op::Scale(scale_body(&req.body)?)))
        }
        ["processes", name, "schedule"] if valid_name(name) => get(Route::Schedule(name, "")),
        [
            "processes",
            name,
            "schedule",
            action @ ("trigger" | "pause" | "resume"),
        ] if valid_name(name) => post(Route::Schedule(name, action)),
        ["metrics", "history"] => get(Route::History(history_query(&req.query)?)),
        _ => Err(not_found(&req.path)),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
}

fn method<'r>(req: &Request, want: Method, r: Route<'r>) -> Result<Route<'r>, Response> {
    let head_ok = want == Method::Get && req.method == Method::Head;
    if req.method == want || head_ok {
        return Ok(r);
    }
    let allow = if want == Method::Get {
        "GET, HEAD"
    } else {
        "POST"
    };
    Err(Response::error(
        405,
        &format!(
            "method not allowed: {} {} takes {allow}",
            method_name(req.method),
            req.path
        ),
    )
    .header("Allow", allow.to_owned()))
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Other => "this method on",
    }
}

fn not_found(path: &str) -> Response {
    Response::error(
        404,
        &format!(
            "no such route: {path} (the API lives under /api/v1/, see docs/observability/api.md)"
        ),
    )
}

/// `Authorization: Bearer <token>` when a token is configured.
fn authorized(req: &Request, token: Option<&str>) -> Result<(), Response> {
    let Some(token) = token else {
        return Ok(());
    };
    let mut want = Vec::with_capacity(token.len() + 7);
    want.extend_from_slice(b"Bearer ");
    want.extend_from_slice(token.as_bytes());
    match &req.authorization {
        Some(got) if constant_time_eq(got, &want) => Ok(()),
        Some(_) => Err(unauthorized("wrong token")),
        None => Err(unauthorized(
            "missing token: send Authorization: Bearer <api_auth>",
        )),
    }
}

fn unauthorized(msg: &str) -> Response {
    Response::error(401, &format!("unauthorized: {msg}"))
        .header("WWW-Authenticate", "Bearer realm=\"phpeek-pm\"".to_owned())
}

/// `{"desired":N}`, `{"scale":N}` or `{"delta":±N}`.
fn scale_body(body: &[u8]) -> Result<Scale, Response> {
    let bad = |m: &str| Response::error(400, m);
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        bad(&format!(
            "invalid JSON body ({e}); send {{\"desired\":N}}, {{\"delta\":N}} or {{\"scale\":N}}"
        ))
    })?;
    let Some(obj) = v.as_object() else {
        return Err(bad(
            "the body must be a JSON object such as {\"desired\":3}",
        ));
    };
    let mut found = Vec::new();
    for key in ["desired", "scale", "delta"] {
        if let Some(x) = obj.get(key) {
            let Some(n) = x.as_i64() else {
                return Err(bad(&format!("{key} must be an integer")));
            };
            found.push((key, n));
        }
    }
    if let Some(k) = obj
        .keys()
        .find(|k| !["desired", "scale", "delta"].contains(&k.as_str()))
    {
        return Err(bad(&format!(
            "unknown field {k:?}: use one of desired, delta, scale"
        )));
    }
    match found.as_slice() {
        [("delta", n)] => Ok(Scale::By(*n)),
        [(_, n)] => Ok(Scale::To(*n)),
        [] => Err(bad("give one of desired, delta or scale")),
        _ => Err(bad("give only one of desired, delta or scale")),
    }
}

/// Equality of two secrets in time that depends only on their lengths, never on where they
/// first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    // Keep the comparison from being turned into an early-exit loop.
    std::hint::black_box(diff) == 0
}

/// The value of query parameter `key`, if present (no percent-decoding: our parameters are
/// numbers).
/// The parameters of the history route; 400 names the one that is wrong.
fn history_query(q: &str) -> Result<HistoryQuery<'_>, Response> {
    let bad = |msg: &str| Response::error(400, msg);
    let process = query_param(q, "process")
        .filter(|p| valid_name(p))
        .ok_or_else(|| bad("process is required (GET /api/v1/metrics/history?process=NAME)"))?;
    let instance = query_param(q, "instance").filter(|i| !i.is_empty());
    let since = match query_param(q, "since").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            v.parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| (t * 1000.0) as u64)
                .ok_or_else(|| bad("since must be a Unix time in seconds"))?,
        ),
    };
    let (default, max) = HISTORY_LIMIT;
    let limit = match query_param(q, "limit").filter(|v| !v.is_empty()) {
        None => default,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad("limit must be from 1 to 10000"))?,
    };
    Ok(HistoryQuery {
        process,
        instance,
        since,
        limit,
    })
}

fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

#[cfg(test)]
mod tests;
