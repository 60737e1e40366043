//! The reactor's side of feature `health`: runs the probes the health component asks for (tcp
//! and http over `net.rs`, exec as an aux child), feeds their results back, passes its verdicts
//! to the supervisor (ready, not ready, restart), and keeps the container readiness file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::net::{HttpGet, NetSet};
use super::{AuxId, AuxOwner, AuxSpec, Reactor};
use crate::config::model::{Config, Level, ProbeKind, ReadinessMode, ReadinessSpec};
use crate::health::{Action, Health, ProbeId};
use crate::status::Snapshot;
use crate::supervisor::{Event, InstId, Millis, RestartReason, State, Then};
use crate::sys::{self, signals};

/// Token kind of probe connections (see `mod.rs`).
pub const KIND_NET: usize = 4;

/// Health's state in the reactor.
pub struct Glue {
    health: Health,
    net: NetSet<(InstId, ProbeId)>,
    /// Exec probes running, by instance.
    execs: Vec<(InstId, ProbeId, AuxId)>,
    readiness: Option<ReadinessSpec>,
    /// What the readiness file says now.
    file_ready: bool,
    stopped_all: bool,
}

impl Glue {
    pub fn new(config: &Config) -> Self {
        Glue {
            health: Health::new(config),
            net: NetSet::new(KIND_NET),
            execs: Vec::new(),
            readiness: config.global.readiness.clone(),
            file_ready: false,
            stopped_all: false,
        }
    }
}

impl Reactor<'_> {
    /// The instance's process started: its probes begin after `initial_delay`.
    pub(super) fn health_started(&mut self, inst: InstId) {
        let p = self.sup.instance(inst).process;
        self.health.health.started(inst, p, sys::monotonic_ms());
        self.health_actions();
    }

    /// The instance's process ended: no more probes.
    pub(super) fn health_stopped(&mut self, inst: InstId) {
        self.health.health.stopped(inst);
        self.health_actions();
    }

    pub(super) fn health_deadline(&self) -> Option<Millis> {
        self.health.health.next_deadline()
    }

    /// Due probes and overdue ones, then the readiness file.
    pub(super) fn health_turn(&mut self) {
        if self.sup.shutting_down() && !self.health.stopped_all {
            self.health.stopped_all = true;
            self.health.health.stop_all();
        }
        self.health.health.handle_timeout(sys::monotonic_ms());
        self.health_actions();
        self.update_readiness_file();
    }

    /// A probe connection's socket is ready.
    pub(super) fn net_ready(&mut self, slot: usize) {
        if let Some(((inst, probe), verdict)) = self.health.net.ready(self.poll.registry(), slot) {
            self.health
                .health
                .result(inst, probe, verdict, sys::monotonic_ms());
            self.health_actions();
        }
    }

    /// An exec probe ended.
    pub(super) fn probe_finished(&mut self, inst: InstId, probe: ProbeId, done: super::AuxDone) {
        self.health
            .execs
            .retain(|(i, p, _)| !(*i == inst && *p == probe));
        let verdict = match (&done.spawn_error, done.status, done.timed_out) {
            (Some(e), _, _) => Err(format!("could not run the check: {e}")),
            (_, _, true) => Err("timed out".to_owned()),
            (_, Some(sys::ExitStatus::Code(0)), _) => Ok(()),
            (_, Some(sys::ExitStatus::Code(c)), _) => Err(match done.tail.last() {
                Some(line) => format!("exit code {c}: {line}"),
                None => format!("exit code {c}"),
            }),
            (_, Some(sys::ExitStatus::Signal(s)), _) => {
                Err(format!("killed by {}", signals::name(s)))
            }
            (_, None, _) => Err("did not run".to_owned()),
        };
        self.health
            .health
            .result(inst, probe, verdict, sys::monotonic_ms());
        self.health_actions();
    }

    /// Fills the health of every instance in a status snapshot.
    pub(super) fn health_snapshot(&self, snap: &mut Snapshot) {
        for (p, view) in snap.processes.iter_mut().enumerate() {
            for (k, iv) in view.instances.iter_mut().enumerate() {
                if let Some(&inst) = self.sup.instances_of(p).get(k) {
                    iv.health = self.health.health.view(inst);
                }
            }
        }
    }

    fn health_actions(&mut self) {
        while let Some(a) = self.health.health.poll_action() {
            let now = sys::monotonic_ms();
            match a {
                Action::Probe { inst, probe } => self.start_probe(inst, probe),
                Action::Abort { inst, probe } => {
                    self.health.net.abort(self.poll.registry(), (inst, probe));
                    if let Some(k) = self
                        .health
                        .execs
                        .iter()
                        .position(|(i, p, _)| *i == inst && *p == probe)
                    {
                        let (_, _, id) = self.health.execs.swap_remove(k);
                        self.stop_aux(id);
                    }
                }
                Action::Ready(inst) => self.sup.handle(Event::Ready { inst }, now),
                Action::NotReady(inst) => self.sup.handle(Event::NotReady { inst }, now),
                Action::Restart(inst) => {
                    // Only a running instance is restarted; one already on its way down (a
                    // stop, a scale-down, shutdown) keeps what was asked of it.
                    if matches!(self.sup.instance(inst).state, State::Running | State::Ready) {
                        self.sup.stop_instance(
                            inst,
                            Then::Restart(RestartReason::HealthCheck),
                            now,
                        );
                    }
                }
                Action::Log(n) => {
                    let who = n
                        .inst
                        .map(|i| (self.sup.instance(i).id.as_str(), self.sup.process_name(i)));
                    self.out.event(n.level, who, n.event, &n.msg, &n.fields);
                }
            }
        }
    }

    fn start_probe(&mut self, inst: InstId, probe: ProbeId) {
        let p = self.sup.instance(inst).process;
        let Some(spec) = self.health.health.spec(p) else {
            return;
        };
        let now = sys::monotonic_ms();
        let result = match &spec.probe {
            ProbeKind::Tcp { host, port } => {
                let addr = SocketAddr::new(ip(host), *port);
                self.health
                    .net
                    .connect(self.poll.registry(), addr, None, (inst, probe))
            }
            ProbeKind::Http {
                host,
                port,
                path,
                expected_status,
                expected_body,
            } => {
                let addr = SocketAddr::new(ip(host), *port);
                let get = HttpGet::new(host, *port, path, *expected_status, expected_body.clone());
                self.health
                    .net
                    .connect(self.poll.registry(), addr, Some(get), (inst, probe))
            }
            ProbeKind::Exec { argv } => {
                let ps = &self.config.processes[p];
                let id = self.sup.instance(inst).id.clone();
                let mut env = ps.env.clone();
                env.push(("PHPEEK_PM_PROCESS_NAME".into(), ps.name.clone()));
                env.push(("PHPEEK_PM_INSTANCE_ID".into(), id.clone()));
                let spec = AuxSpec {
                    argv: argv.clone(),
                    env,
                    cwd: ps.working_dir.clone(),
                    credentials: ps.credentials.clone(),
                    process: ps.name.clone(),
                    instance: format!("{id}:health"),
                    timeout_ms: Some(spec.timeout),
                    // A probe that outlives its timeout is killed with its whole group.
                    stop_signal: signals::SIGKILL,
                    kill_after_ms: 0,
                    logging: ps.logging.clone(),
                };
                if let Some(aux) = self.spawn_aux(spec, AuxOwner::Probe { inst, probe }) {
                    self.health.execs.push((inst, probe, aux));
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            self.health.health.result(inst, probe, Err(e), now);
        }
    }

    /// Creates the readiness file when every tracked longrun is ready, removes it when one is
    /// not (and at shutdown).
    fn update_readiness_file(&mut self) {
        let Some(spec) = &self.health.readiness else {
            return;
        };
        let ready = !self.sup.shutting_down() && self.tracked_ready(spec);
        if ready == self.health.file_ready {
            return;
        }
        self.health.file_ready = ready;
        let path = spec.path.clone();
        let result = if ready {
            let content = spec
                .content
                .clone()
                .unwrap_or_else(|| format!("ready\ntimestamp={}\n", sys::realtime().0));
            // Written next to it and renamed, so a reader never sees half a file.
            let tmp = format!("{path}.tmp");
            std::fs::write(&tmp, content).and_then(|()| std::fs::rename(&tmp, &path))
        } else {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                r => r,
            }
        };
        let (level, msg) = match (&result, ready) {
            (Ok(()), true) => (
                Level::Info,
                format!("every process is ready: created {path}"),
            ),
            (Ok(()), false) => (Level::Info, format!("not ready: removed {path}")),
            (Err(e), _) => (Level::Warn, format!("readiness file {path}: {e}")),
        };
        self.out.event(level, None, "readiness", &msg, &[]);
    }

    fn tracked_ready(&self, spec: &ReadinessSpec) -> bool {
        let all: Vec<usize>;
        let procs: &[usize] = if spec.processes.is_empty() {
            all = (0..self.config.processes.len())
                .filter(|&p| {
                    self.config.processes[p].kind == crate::config::model::ProcessKind::Longrun
                })
                .collect();
            &all
        } else {
            &spec.processes
        };
        procs.iter().all(|&p| {
            self.sup.instances_of(p).iter().all(|&i| {
                let st = self.sup.instance(i).state;
                match spec.mode {
                    ReadinessMode::AllHealthy => st == State::Ready,
                    ReadinessMode::AllRunning => matches!(st, State::Running | State::Ready),
                }
            })
        })
    }
}

/// The address of a validated host (an IP literal or `localhost`).
fn ip(host: &str) -> IpAddr {
    host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
