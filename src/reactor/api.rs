//! The management API's side of the reactor: answers routes from the status snapshot and the
//! recent-output rings, and starts commands through the supervisor, parking the connection
//! until [`crate::api::ops::Pending`] says the command is done.

use super::Reactor;
use super::http::{Body, Parked, Peer, Service};
use crate::api::ops::Pending;
use crate::api::{self, Op, Route, json};
use crate::config::model::{Level, ProcessKind};
use crate::http::{Request, Response};
use crate::output::recent;
use crate::supervisor::{Field, Millis, Supervisor};
use crate::sys;

impl Parked for Pending {
    fn conn(&self) -> (usize, u64) {
        self.conn
    }
    fn process(&self) -> usize {
        self.process
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

impl Reactor<'_> {
    /// Answers an API request now, or parks it (`None`) until its command is done.
    pub(super) fn api_request(
        &mut self,
        req: &Request,
        conn: (usize, u64),
        peer: Peer,
    ) -> Option<Response> {
        let token = self
            .config
            .global
            .api
            .as_ref()
            .and_then(|a| a.auth.as_deref());
        let route = match api::route(req, token) {
            Ok(r) => r,
            Err(resp) => {
                if matches!(resp.status, 401 | 403) {
                    self.audit_refusal(Service::Api, peer, req, &resp);
                }
                return Some(resp);
            }
        };
        Some(match route {
            Route::Health => Response::json(200, b"{\"status\":\"healthy\"}".to_vec()),
            Route::Ready => {
                let (ok, body) = json::ready(&self.turn_snapshot());
                Response::json(if ok { 200 } else { 503 }, body)
            }
            Route::ReadyOf(name) => {
                let snap = self.turn_snapshot();
                match snap.processes.iter().find(|p| p.name == name) {
                    Some(p) => {
                        let (ok, body) = json::ready_of([p], snap.manager.shutting_down);
                        Response::json(if ok { 200 } else { 503 }, body)
                    }
                    None => unknown(name),
                }
            }
            // With PHP-FPM pools to ask, the list waits (briefly) for their status pages.
            Route::List if self.fpm_park(Service::Api, req, conn, peer) => return None,
            Route::List => Response::json(200, self.turn_body(Body::Processes, json::processes)),
            Route::Show(name) => {
                let snap = self.turn_snapshot();
                match snap.processes.iter().find(|p| p.name == name) {
                    Some(p) => Response::json(200, json::process(p)),
                    None => unknown(name),
                }
            }
            Route::Logs(name, limit) => {
                if self.sup.process_index(name).is_none() {
                    return Some(unknown(name));
                }
                let limit = limit.min(recent::MAX_LINES);
                Response::json(
                    200,
                    json::logs(name, limit, self.out.recent.newest(name, limit)),
                )
            }
            Route::Schedule(name, action) => {
                let resp = self.schedule_request(name, action);
                if !action.is_empty() {
                    self.audit(&format!("schedule.{action}"), name, resp.status, peer);
                }
                return Some(resp);
            }
            Route::Act(name, op) => {
                let action = format!("process.{}", op.verb());
                let answer = self.api_command(name, op, conn);
                match &answer {
                    Some(resp) => self.audit(&action, name, resp.status, peer),
                    None => self.http.audits.push((conn, action, name.to_owned(), peer)),
                }
                return answer;
            }
        })
    }

    /// `GET …/schedule`, `POST …/schedule/trigger`, `/pause`, `/resume` of a scheduled task.
    fn schedule_request(&mut self, name: &str, action: &str) -> Response {
        if self.sup.process_index(name).is_none() {
            return unknown(name);
        }
        let not_task = || Response::error(404, &format!("{name} is not a scheduled task"));
        let answer = match action {
            "trigger" => self.task_trigger(name).map(|r| match r {
                Ok(run) => {
                    Response::json(202, json::status("triggered", name, &[("run", run as i64)]))
                }
                Err((status, why)) => Response::error(status, why),
            }),
            "pause" | "resume" => {
                let pause = action == "pause";
                self.task_pause(name, pause).map(|_| {
                    let word = if pause { "paused" } else { "resumed" };
                    Response::json(200, json::status(word, name, &[]))
                })
            }
            _ => {
                return self
                    .task_view(name)
                    .map_or_else(not_task, |v| Response::json(200, json::task(&v)));
            }
        };
        if answer.is_some() {
            // The task's state changed: later requests of this turn must see it.
            self.forget_turn_cache();
        }
        answer.unwrap_or_else(not_task)
    }

    fn api_command(&mut self, name: &str, op: Op, conn: (usize, u64)) -> Option<Response> {
        let now = sys::monotonic_ms();
        let Some(p) = self.sup.process_index(name) else {
            return Some(unknown(name));
        };
        if self.sup.shutting_down() {
            return Some(Response::error(503, "the manager is shutting down"));
        }
        if self.http.parked.iter().any(|w| w.process() == p) {
            return Some(Response::error(
                409,
                &format!("another command on {name} is in progress: retry when it is done"),
            ));
        }
        let spec = &self.config.processes[p];
        if !spec.kind.supervised() {
            return Some(Response::error(
                400,
                &format!(
                    "{name} is a scheduled task: use POST /api/v1/processes/{name}/schedule/trigger, \
                     /pause or /resume"
                ),
            ));
        }
        let oneshot = spec.kind == ProcessKind::Oneshot;
        let current = self.sup.desired_scale(p);
        let target = match op {
            Op::Scale(_) if oneshot => {
                return Some(Response::error(
                    400,
                    &format!("{name} is a oneshot: it runs once and cannot be scaled"),
                ));
            }
            Op::Scale(s) => match s.target(current) {
                Ok(t) => t,
                Err(e) => return Some(Response::error(400, &e)),
            },
            _ => current,
        };
        let mut fields = vec![("action", Field::Str(op.verb().to_owned()))];
        if let Op::Scale(_) = op {
            fields.push(("from", Field::Int(current.into())));
            fields.push(("to", Field::Int(target.into())));
        }
        self.out.event(
            Level::Info,
            None,
            "api_command",
            &format!("{} {name} requested through the API", op.verb()),
            &[&[("process", Field::Str(name.to_owned()))][..], &fields].concat(),
        );
        // The command changes the supervisor's state: later requests of this turn see it.
        self.forget_turn_cache();
        self.http.commands_issued = true;
        let pending = Pending::begin(
            &mut self.sup,
            p,
            name,
            op,
            target,
            oneshot,
            spec.stop_timeout,
            conn,
            now,
        );
        match pending.check(&self.sup, now) {
            Some(resp) => Some(resp),
            None => {
                self.http.parked.push(Box::new(pending));
                None
            }
        }
    }
}
