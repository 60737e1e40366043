//! Health checks (feature `health`): when to probe each instance, what the results mean.
//!
//! A sans-IO component like the supervisor: the reactor tells it when an instance starts and
//! stops and what each probe found (`started`, `stopped`, `result`), drains its [`Action`]s and
//! sleeps until [`Health::next_deadline`]. It never touches a socket, a child or the clock; the
//! probes themselves run in the reactor (`reactor/net.rs` for tcp and http, an aux child for
//! exec). Instance state stays the supervisor's: this component only *asks* (ready, not
//! ready, restart).
//!
//! Per instance:
//!
//! ```text
//! started ──initial_delay──► probe ──result or timeout──► wait until start + period ──► probe …
//!
//! status:  unknown ──success_threshold passes──► healthy ──failure_threshold failures──► unhealthy
//!             └──────────failure_threshold failures─────────────────────────────────────┘   │
//!                              healthy ◄──success_threshold passes──────────────────────────┘
//! ```
//!
//! Start period (`start_period`, Docker's name): until the instance first passes, failures within
//! `start_period` of its start are not counted at all — the instance is simply not ready yet, so
//! a slow boot is neither restarted (liveness) nor reported unhealthy. The first pass ends the
//! grace early; after it, or once the period has elapsed, every failure counts.
//!
//! Becoming healthy reports `Ready` (mode `readiness`/`both`); becoming unhealthy reports
//! `NotReady` (readiness) and `Restart` (liveness: then probing pauses until the instance runs
//! again). Failures below the threshold never count as ready (unlike the original tool), and a
//! failed probe never kills anything by itself. At most one probe per instance is in flight: a
//! probe that outlives its timeout is aborted and counted as failed before the next one starts.

use std::collections::VecDeque;

use crate::config::model::{Config, HealthSpec, Level};
use crate::status::HealthView;
use crate::supervisor::{Field, InstId, Millis, Note};

/// Longest `last_error` kept (a probe's error text may quote a response).
const MAX_ERROR_LEN: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Unknown,
    Healthy,
    Unhealthy,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// A probe in flight; `id` tells its result from a stale one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeId(pub u64);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run the instance's probe (its spec: [`Health::spec`]) and answer with `result`.
    Probe {
        inst: InstId,
        probe: ProbeId,
    },
    /// Give up on a probe: close its socket or kill its child. Its result is not wanted.
    Abort {
        inst: InstId,
        probe: ProbeId,
    },
    /// The instance passed its readiness check.
    Ready(InstId),
    /// The instance failed its readiness check after having passed it.
    NotReady(InstId),
    /// The liveness check failed `failure_threshold` times in a row: restart the instance.
    Restart(InstId),
    Log(Note),
}

#[derive(Debug)]
struct Slot {
    process: usize,
    /// Probing while the instance runs.
    active: bool,
    /// Failures before this instant do not count unless a probe has passed since the start.
    grace_until: Millis,
    /// A probe has passed since the instance (re)started.
    passed: bool,
    next: Option<Millis>,
    /// (probe, started at, deadline).
    inflight: Option<(ProbeId, Millis, Millis)>,
    status: Status,
    successes: u32,
    failures: u32,
    last_error: Option<String>,
    last_duration: Option<Millis>,
    ready: bool,
}

pub struct Health {
    /// Per process (index in `Config::processes`).
    specs: Vec<Option<HealthSpec>>,
    /// Per instance; grows with runtime scale-up.
    slots: Vec<Option<Slot>>,
    actions: VecDeque<Action>,
    next_probe: u64,
}

impl Health {
    pub fn new(config: &Config) -> Self {
        Self::from_specs(config.processes.iter().map(|p| p.health.clone()).collect())
    }

    /// One optional check per process, in process order.
    pub fn from_specs(specs: Vec<Option<HealthSpec>>) -> Self {
        Health {
            specs,
            slots: Vec::new(),
            actions: VecDeque::new(),
            next_probe: 1,
        }
    }

    /// The checks after a configuration reload (process indices stay; added processes are
    /// appended). Running probes go on with the check they started with until their instance
    /// starts again — a changed check restarts its process anyway.
    pub fn set_specs(&mut self, specs: Vec<Option<HealthSpec>>) {
        self.specs = specs;
    }

    /// The check of process `p`.
    pub fn spec(&self, p: usize) -> Option<&HealthSpec> {
        self.specs.get(p).and_then(Option::as_ref)
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The instance's process runs (again): counts start over, the first probe after
    /// `initial_delay`.
    pub fn started(&mut self, inst: InstId, process: usize, now: Millis) {
        let Some(spec) = self.spec(process) else {
            return;
        };
        let first = now + spec.initial_delay;
        let grace_until = now + spec.start_period;
        if self.slots.len() <= inst {
            self.slots.resize_with(inst + 1, || None);
        }
        if let Some((probe, _, _)) = self.slots[inst].as_ref().and_then(|s| s.inflight) {
            self.actions.push_back(Action::Abort { inst, probe });
        }
        self.slots[inst] = Some(Slot {
            process,
            active: true,
            grace_until,
            passed: false,
            next: Some(first),
            inflight: None,
            status: Status::Unknown,
            successes: 0,
            failures: 0,
            last_error: None,
            last_duration: None,
            ready: false,
        });
    }

    /// The instance's process is gone (or going): no more probes until it starts again.
    pub fn stopped(&mut self, inst: InstId) {
        let Some(Some(s)) = self.slots.get_mut(inst) else {
            return;
        };
        s.active = false;
        s.next = None;
        s.ready = false;
        if let Some((probe, _, _)) = s.inflight.take() {
            self.actions.push_back(Action::Abort { inst, probe });
        }
    }

    /// Stops every probe (shutdown).
    pub fn stop_all(&mut self) {
        for i in 0..self.slots.len() {
            self.stopped(i);
        }
    }

    /// A probe's outcome: `Ok` or why it failed.
    pub fn result(
        &mut self,
        inst: InstId,
        probe: ProbeId,
        outcome: Result<(), String>,
        now: Millis,
    ) {
        let Some(Some(s)) = self.slots.get_mut(inst) else {
            return;
        };
        match s.inflight {
            Some((p, started, _)) if p == probe => {
                s.inflight = None;
                s.last_duration = Some(now.saturating_sub(started));
                self.count(inst, started, outcome, now);
            }
            // Aborted or from an earlier run of the instance.
            _ => {}
        }
    }

    /// Starts due probes and gives up on overdue ones.
    pub fn handle_timeout(&mut self, now: Millis) {
        for inst in 0..self.slots.len() {
            let Some(s) = self.slots[inst].as_mut() else {
                continue;
            };
            if let Some((probe, started, deadline)) = s.inflight {
                if now >= deadline {
                    s.inflight = None;
                    s.last_duration = Some(now.saturating_sub(started));
                    self.actions.push_back(Action::Abort { inst, probe });
                    let t = deadline.saturating_sub(started);
                    self.count(inst, started, Err(format!("timed out after {t} ms")), now);
                }
                continue;
            }
            let Some(s) = self.slots[inst].as_mut() else {
                continue;
            };
            if s.active && s.next.is_some_and(|n| n <= now) {
                let Some(timeout) = self.specs[s.process].as_ref().map(|h| h.timeout) else {
                    continue;
                };
                let probe = ProbeId(self.next_probe);
                self.next_probe += 1;
                s.next = None;
                s.inflight = Some((probe, now, now + timeout));
                self.actions.push_back(Action::Probe { inst, probe });
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Millis> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| match s.inflight {
                Some((_, _, deadline)) => Some(deadline),
                None if s.active => s.next,
                None => None,
            })
            .min()
    }

    /// The instance's health for the status snapshot.
    pub fn view(&self, inst: InstId) -> Option<HealthView> {
        let s = self.slots.get(inst)?.as_ref()?;
        let spec = self.spec(s.process)?;
        Some(HealthView {
            status: s.status.as_str(),
            kind: spec.probe.as_str(),
            consecutive_successes: s.successes,
            consecutive_failures: s.failures,
            last_error: s.last_error.clone(),
            last_duration_ms: s.last_duration,
        })
    }

    /// Whether the instance currently passes its readiness check.
    #[cfg(test)]
    pub fn is_ready(&self, inst: InstId) -> bool {
        self.slots
            .get(inst)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.ready)
    }

    /// Applies one result to the thresholds; reports and logs transitions only.
    fn count(&mut self, inst: InstId, started: Millis, outcome: Result<(), String>, now: Millis) {
        let Some(Some(s)) = self.slots.get_mut(inst) else {
            return;
        };
        let Some(spec) = self.specs[s.process].as_ref() else {
            return;
        };
        let before = s.status;
        match outcome {
            Ok(()) => {
                s.passed = true;
                s.successes = s.successes.saturating_add(1);
                s.failures = 0;
                if s.status != Status::Healthy && s.successes >= spec.success_threshold {
                    s.status = Status::Healthy;
                }
            }
            Err(e) => {
                // Still booting: not ready yet, but not failing either.
                let booting = !s.passed && now < s.grace_until;
                if !booting {
                    s.failures = s.failures.saturating_add(1);
                }
                s.successes = 0;
                let mut e = e;
                if e.len() > MAX_ERROR_LEN {
                    let mut cut = MAX_ERROR_LEN;
                    while !e.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    e.truncate(cut);
                }
                s.last_error = Some(e);
                if s.status != Status::Unhealthy && s.failures >= spec.failure_threshold {
                    s.status = Status::Unhealthy;
                }
            }
        }
        // The next probe: one period after this one started, never in the past.
        s.next = Some((started + spec.period).max(now));
        if s.status == before {
            return;
        }
        let (mode, kind) = (spec.mode, spec.probe.as_str());
        let (successes, failures) = (s.successes, s.failures);
        let error = s.last_error.clone();
        let mut restart = false;
        match s.status {
            Status::Healthy => {
                if mode.readiness() && !s.ready {
                    s.ready = true;
                    self.actions.push_back(Action::Ready(inst));
                }
            }
            Status::Unhealthy => {
                if mode.readiness() && s.ready {
                    s.ready = false;
                    self.actions.push_back(Action::NotReady(inst));
                }
                if mode.liveness() {
                    // Probing pauses until the restarted instance runs again.
                    s.active = false;
                    s.next = None;
                    restart = true;
                }
            }
            Status::Unknown => {}
        }
        let status = s.status;
        let (level, msg) = match status {
            Status::Healthy => (Level::Info, format!("health check passed ({kind})")),
            _ if restart => (
                Level::Warn,
                format!("health check failed {failures} times in a row ({kind}): restarting"),
            ),
            _ => (
                Level::Warn,
                format!("health check failed {failures} times in a row ({kind}): not ready"),
            ),
        };
        let mut fields = vec![
            ("health", Field::Str(status.as_str().to_owned())),
            ("previous", Field::Str(before.as_str().to_owned())),
            ("check", Field::Str(kind.to_owned())),
            ("consecutive_successes", Field::Int(successes.into())),
            ("consecutive_failures", Field::Int(failures.into())),
        ];
        if let (Status::Unhealthy, Some(e)) = (status, error) {
            fields.push(("error", Field::Str(e)));
        }
        self.actions.push_back(Action::Log(Note {
            level,
            inst: Some(inst),
            event: "health",
            msg,
            fields,
        }));
        if restart {
            self.actions.push_back(Action::Restart(inst));
        }
    }
}

#[cfg(test)]
mod tests;
