//! The management API's side of the HTTP part: answers routes from the status snapshot and the
//! recent-output rings, and hands commands to the supervisor, parking the connection until
//! [`crate::api::ops::Pending`] says the command is done.

use super::Reactor;
use super::http::{Body, Parked, Peer, Servers, Service};
use super::part::{Msg, Reply};
use super::reload::Refused;
use crate::api::ops::{self, Pending};
use crate::api::{self, Op, Route, json};
use crate::config::model::Level;
use crate::http::{Request, Response};
use crate::output::recent;
use crate::signal_policy::Response as PolicyResponse;
use crate::supervisor::{Command, Event, Field, Millis, Refusal, Supervisor};
use crate::sys::{self, signals};

impl Parked for Pending {
    fn conn(&self) -> (usize, u64) {
        self.conn
    }
    fn deadline(&self) -> Millis {
        self.deadline
    }
    fn check(&self, sup: &Supervisor, now: Millis) -> Option<Response> {
        Pending::check(self, sup, now)
    }
}

fn unknown(name: &str) -> Response {
    Response::error(
        404,
        &format!("unknown process {name:?} (GET /api/v1/processes lists them)"),
    )
}

impl Servers {
    /// Answers an API request now, or parks it (`None`) until its command is done.
    pub(super) fn api_request(
        &mut self,
        r: &mut Reactor<'_>,
        req: &Request,
        conn: (usize, u64),
        peer: Peer,
    ) -> Option<Response> {
        let token = r.config.global.api.as_ref().and_then(|a| a.auth.as_deref());
        let route = match api::route(req, token) {
            Ok(route) => route,
            Err(resp) => {
                if matches!(resp.status, 401 | 403) {
                    self.audit_refusal(r, peer, req, &resp);
                }
                return Some(resp);
            }
        };
        Some(match route {
            Route::Health => Response::json(200, b"{\"status\":\"healthy\"}".to_vec()),
            Route::Ready => {
                let (ok, body) = json::ready(&self.turn_snapshot(r));
                Response::json(if ok { 200 } else { 503 }, body)
            }
            Route::ReadyOf(name) => {
                let snap = self.turn_snapshot(r);
                match snap.processes.iter().find(|p| p.name == name) {
                    Some(p) => {
                        let (ok, body) = json::ready_of([p], snap.manager.shutting_down);
                        Response::json(if ok { 200 } else { 503 }, body)
                    }
                    None => unknown(name),
                }
            }
            // With PHP-FPM pools to ask, the list waits (briefly) for their status pages.
            Route::List if self.fpm_park(r, Service::Api, req, conn, peer) => return None,
            Route::List => Response::json(200, self.turn_body(r, Body::Processes, json::processes)),
            Route::Show(name) => {
                let snap = self.turn_snapshot(r);
                match snap.processes.iter().find(|p| p.name == name) {
                    Some(p) => Response::json(200, json::process(p)),
                    None => unknown(name),
                }
            }
            Route::Logs(name, limit) => {
                if r.sup.process_index(name).is_none() {
                    return Some(unknown(name));
                }
                let limit = limit.min(recent::MAX_LINES);
                Response::json(
                    200,
                    json::logs(name, limit, r.out.recent.newest(name, limit)),
                )
            }
            Route::Schedule(name, action) => {
                let resp = self.schedule_request(r, name, action);
                if !action.is_empty() {
                    let what = ["schedule.", action].concat();
                    self.audit(r, &what, name, resp.status, peer);
                }
                return Some(resp);
            }
            Route::History(q) => {
                if r.sup.process_index(q.process).is_none() {
                    return Some(unknown(q.process));
                }
                match r.tell(&Msg::History(&q)) {
                    Some(Reply::Json(body)) => Response::json(200, body),
                    _ => Response::error(
                        503,
                        "resource history is off (resource_metrics_enabled: true turns it on)",
                    ),
                }
            }
            Route::Act(name, op) => {
                let action = ["process.", op.verb()].concat();
                let answer = self.api_command(r, name, op, conn);
                match &answer {
                    Some(resp) => self.audit(r, &action, name, resp.status, peer),
                    None => self.audits.push((conn, action, name.to_owned(), peer)),
                }
                return answer;
            }
            Route::Reload(name) => {
                let target = name.unwrap_or("*");
                let answer = self.api_reload(r, name, conn);
                match &answer {
                    Some(resp) => self.audit(r, "process.reload", target, resp.status, peer),
                    None => {
                        let action = "process.reload".to_owned();
                        self.audits.push((conn, action, target.to_owned(), peer));
                    }
                }
                return answer;
            }
            Route::ConfigReload => {
                let resp = self.api_config_reload(r);
                self.audit(r, "config.reload", "", resp.status, peer);
                return Some(resp);
            }
        })
    }

    /// `POST /api/v1/config/reload`: 200 with what changed, 400 with every error of the file
    /// (nothing changed), 503 while shutting down.
    fn api_config_reload(&mut self, r: &mut Reactor<'_>) -> Response {
        r.out.event(
            Level::Info,
            None,
            "api_command",
            "reload-config requested through the API",
            &[("action", Field::Str("reload-config".to_owned()))],
        );
        match r.reload_config("api") {
            Ok(o) => {
                // Processes start and stop: the supervisor's actions run this turn, and
                // later requests of this turn see the new state.
                self.forget_turn_cache();
                self.commands_issued = true;
                let lists = [&o.added[..], &o.removed, &o.restarted, &o.scaled];
                Response::json(
                    200,
                    json::config_reloaded(lists, o.unchanged, &o.needs_restart),
                )
            }
            Err(Refused::ShuttingDown) => Response::error(503, "the manager is shutting down"),
            Err(Refused::Invalid(errors)) => Response::json(400, json::config_errors(&errors)),
        }
    }

    /// A reload through the API: the same as SIGHUP to the manager, for one process or all.
    /// A process whose reload is a restart answers when it is back, like `restart`; one with
    /// no reload is refused (409), so `phpeek-pm reload queue` never looks like it did
    /// something.
    fn api_reload(
        &mut self,
        r: &mut Reactor<'_>,
        name: Option<&str>,
        conn: (usize, u64),
    ) -> Option<Response> {
        let now = sys::monotonic_ms();
        if r.sup.shutting_down() {
            return Some(Response::error(503, "the manager is shutting down"));
        }
        let Some(name) = name else {
            let n = r
                .config
                .processes
                .iter()
                .filter(|p| p.kind.supervised() && p.signals.on_reload() != PolicyResponse::Ignore)
                .count();
            self.forget_turn_cache();
            // Its signals and log records are supervisor actions: run this turn.
            self.commands_issued = true;
            r.sup.handle(Event::Command(Command::Reload(None)), now);
            let msg = format!("reloaded {n} process(es)");
            return Some(Response::json(200, json::message("reloaded", &msg)));
        };
        let Some(p) = r.sup.process_index(name) else {
            return Some(unknown(name));
        };
        match r.config.processes[p].signals.on_reload() {
            PolicyResponse::Restart => self.api_command(r, name, Op::Restart, conn),
            PolicyResponse::Ignore => Some(Response::error(
                409,
                &format!(
                    "{name} has no reload (its program has no known reload signal, or \
                     reload_signal: none); set reload_signal to a signal or restart"
                ),
            )),
            PolicyResponse::Signal(s) => {
                self.forget_turn_cache();
                self.commands_issued = true;
                r.sup.handle(Event::Command(Command::Reload(Some(p))), now);
                let msg = format!("{name}: sent {}", signals::name(s));
                Some(Response::json(200, json::message("reloaded", &msg)))
            }
        }
    }

    /// `GET …/schedule`, `POST …/schedule/trigger`, `/pause`, `/resume` of a scheduled task
    /// (the scheduler part answers; without one nothing is a task).
    fn schedule_request(&mut self, r: &mut Reactor<'_>, name: &str, action: &str) -> Response {
        if r.sup.process_index(name).is_none() {
            return unknown(name);
        }
        let not_task = || Response::error(404, &format!("{name} is not a scheduled task"));
        let reply = match action {
            "trigger" => r.tell(&Msg::Trigger(name)),
            "pause" | "resume" => r.tell(&Msg::Pause(name, action == "pause")),
            _ => {
                let snap = self.turn_snapshot(r);
                return snap
                    .tasks
                    .iter()
                    .find(|t| t.name == name)
                    .map_or_else(not_task, |v| Response::json(200, json::task(v)));
            }
        };
        let answer = match reply {
            None => return not_task(),
            Some(Reply::Run(run)) => {
                Response::json(202, json::status("triggered", name, &[("run", run as i64)]))
            }
            Some(Reply::Refused(status, why)) => Response::error(status, why),
            Some(Reply::Json(body)) => Response::json(200, body),
            Some(Reply::Done) => {
                let word = if action == "pause" {
                    "paused"
                } else {
                    "resumed"
                };
                Response::json(200, json::status(word, name, &[]))
            }
        };
        // The task's state changed: later requests of this turn must see it.
        self.forget_turn_cache();
        answer
    }

    fn api_command(
        &mut self,
        r: &mut Reactor<'_>,
        name: &str,
        op: Op,
        conn: (usize, u64),
    ) -> Option<Response> {
        let now = sys::monotonic_ms();
        let Some(p) = r.sup.process_index(name) else {
            return Some(unknown(name));
        };
        // The supervisor's refusals (the target count plays no part in them), a shutdown
        // first; then one command per process at a time; then the scale's target.
        let current = r.sup.desired_scale(p);
        let refusal = r.sup.refusal(&ops::command(op, p, current));
        if let Some(why @ Refusal::ShuttingDown) = refusal {
            return Some(refused(why, name));
        }
        if self.parked.iter().any(|(w, _)| *w == p) {
            return Some(Response::error(
                409,
                &format!("another command on {name} is in progress: retry when it is done"),
            ));
        }
        if let Some(why) = refusal {
            return Some(refused(why, name));
        }
        let target = match op {
            Op::Scale(s) => match s.target(current) {
                Ok(t) => match crate::api::scale_allowed(&r.config.processes[p], t) {
                    Ok(()) => t,
                    Err(e) => return Some(Response::error(409, &e)),
                },
                Err(e) => return Some(Response::error(400, &e)),
            },
            _ => current,
        };
        let mut fields = vec![("action", Field::Str(op.verb().to_owned()))];
        if let Op::Scale(_) = op {
            fields.push(("from", Field::Int(current.into())));
            fields.push(("to", Field::Int(target.into())));
        }
        r.out.event(
            Level::Info,
            None,
            "api_command",
            &format!("{} {name} requested through the API", op.verb()),
            &[&[("process", Field::Str(name.to_owned()))][..], &fields].concat(),
        );
        // The command changes the supervisor's state: later requests of this turn see it.
        self.forget_turn_cache();
        self.commands_issued = true;
        let spec = &r.config.processes[p];
        let oneshot = spec.kind == crate::config::model::ProcessKind::Oneshot;
        let pending = Pending::begin(
            &mut r.sup,
            p,
            name,
            op,
            target,
            oneshot,
            spec.stop_timeout,
            conn,
            now,
        );
        match pending.check(&r.sup, now) {
            Some(resp) => Some(resp),
            None => {
                self.parked.push((p, Box::new(pending)));
                None
            }
        }
    }
}

/// The answer to a command the supervisor refuses.
fn refused(why: Refusal, name: &str) -> Response {
    match why {
        Refusal::ShuttingDown => Response::error(503, "the manager is shutting down"),
        Refusal::ScheduledTask => Response::error(
            400,
            &format!(
                "{name} is a scheduled task: use POST /api/v1/processes/{name}/schedule/trigger, \
                 /pause or /resume"
            ),
        ),
        Refusal::OneshotScale => Response::error(
            400,
            &format!("{name} is a oneshot: it runs once and cannot be scaled"),
        ),
    }
}
