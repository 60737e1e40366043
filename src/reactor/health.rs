//! The health part (feature `health`): runs the probes the health component asks for (tcp
//! and http over `net.rs`, exec as an aux child), feeds their results back, passes its verdicts
//! to the supervisor (ready, not ready, restart), and keeps the container readiness file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::Reactor;
use super::children::{AuxDone, AuxId, AuxSpec};
use super::net::{HttpGet, NetSet};
use super::part::{AuxOwner, AuxTag, Msg, Part, PartId, Reply, Setup, Spawner};
use crate::config::model::{Config, Level, ProbeKind, ReadinessMode, ReadinessSpec};
use crate::health::{Action, Health, ProbeId};
use crate::status::Snapshot;
use crate::supervisor::{Command, Event, InstId, Millis, State};
use crate::sys::{self, signals};

pub(super) fn part(config: &Config, setup: &Setup<'_>) -> Box<dyn Part> {
    Box::new(Probes {
        id: setup.id,
        health: Health::new(config),
        net: NetSet::new(setup.kind),
        execs: Vec::new(),
        readiness: config.global.readiness.clone(),
        file_ready: false,
        stopped_all: false,
    })
}

/// Health's state on the loop.
struct Probes {
    id: PartId,
    health: Health,
    /// Probe connections (tcp, http), on this part's token kind.
    net: NetSet<(InstId, ProbeId)>,
    /// Exec probes running, by instance.
    execs: Vec<(InstId, ProbeId, AuxId)>,
    readiness: Option<ReadinessSpec>,
    /// What the readiness file says now.
    file_ready: bool,
    stopped_all: bool,
}

impl Part for Probes {
    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        self.health.next_deadline()
    }

    /// Due probes and overdue ones, then the readiness file.
    fn turn(&mut self, r: &mut Reactor<'_>) {
        if r.sup.shutting_down() && !self.stopped_all {
            self.stopped_all = true;
            self.health.stop_all();
        }
        self.health.handle_timeout(sys::monotonic_ms());
        self.actions(r);
        self.update_readiness_file(r);
    }

    /// A probe connection's socket is ready.
    fn ready(&mut self, r: &mut Reactor<'_>, slot: usize, _ev: &mio::event::Event) {
        if let Some(((inst, probe), verdict)) = self.net.ready(r.poll.registry(), slot) {
            self.health
                .result(inst, probe, verdict, sys::monotonic_ms());
            self.actions(r);
        }
    }

    /// An instance's process started (its probes begin after `initial_delay`) or ended.
    fn on(&mut self, r: &mut Reactor<'_>, m: &Msg<'_>) -> Option<Reply> {
        match *m {
            Msg::Started(inst) => {
                let p = r.sup.instance(inst).process;
                self.health.started(inst, p, sys::monotonic_ms());
            }
            Msg::Exited(inst) => self.health.stopped(inst),
            Msg::Reconfigured => {
                let specs = r.config.processes.iter().map(|p| p.health.clone());
                self.health.set_specs(specs.collect());
                return None;
            }
            _ => return None,
        }
        self.actions(r);
        None
    }

    /// An exec probe ended.
    fn aux_done(&mut self, r: &mut Reactor<'_>, tag: AuxTag, done: AuxDone) {
        let (inst, probe) = (tag.0 as InstId, ProbeId(tag.1));
        self.execs.retain(|(i, p, _)| !(*i == inst && *p == probe));
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
            .result(inst, probe, verdict, sys::monotonic_ms());
        self.actions(r);
    }

    /// Fills the health of every instance in a status snapshot.
    fn snapshot(&self, r: &Reactor<'_>, snap: &mut Snapshot) {
        for (p, view) in snap.processes.iter_mut().enumerate() {
            for (k, iv) in view.instances.iter_mut().enumerate() {
                if let Some(&inst) = r.sup.instances_of(p).get(k) {
                    iv.health = self.health.view(inst);
                }
            }
        }
    }
}

impl Probes {
    fn actions(&mut self, r: &mut Reactor<'_>) {
        while let Some(a) = self.health.poll_action() {
            let now = sys::monotonic_ms();
            match a {
                Action::Probe { inst, probe } => self.start_probe(r, inst, probe),
                Action::Abort { inst, probe } => {
                    self.net.abort(r.poll.registry(), (inst, probe));
                    if let Some(k) = self
                        .execs
                        .iter()
                        .position(|(i, p, _)| *i == inst && *p == probe)
                    {
                        let (_, _, id) = self.execs.swap_remove(k);
                        r.stop_aux(id);
                    }
                }
                Action::Ready(inst) => r.sup.handle(Event::Ready { inst }, now),
                Action::NotReady(inst) => r.sup.handle(Event::NotReady { inst }, now),
                // The supervisor restarts only a running instance; one already on its way
                // down (a stop, a scale-down, shutdown) keeps what was asked of it.
                Action::Restart(inst) => {
                    r.sup.handle(Event::Command(Command::Recover(inst)), now);
                }
                Action::Log(n) => r.note(&n),
            }
        }
    }

    fn start_probe(&mut self, r: &mut Reactor<'_>, inst: InstId, probe: ProbeId) {
        let p = r.sup.instance(inst).process;
        let Some(spec) = self.health.spec(p) else {
            return;
        };
        let now = sys::monotonic_ms();
        let result = match &spec.probe {
            ProbeKind::Tcp { host, port } => {
                let addr = SocketAddr::new(ip(host), *port);
                self.net
                    .connect(r.poll.registry(), addr, None, (inst, probe))
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
                self.net
                    .connect(r.poll.registry(), addr, Some(get), (inst, probe))
            }
            ProbeKind::Exec { argv } => {
                let ps = &r.config.processes[p];
                let id = r.sup.instance(inst).id.clone();
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
                let owner = AuxOwner {
                    part: self.id,
                    tag: AuxTag(inst as u64, probe.0),
                    by: Spawner::Part,
                };
                if let Some(aux) = r.spawn_aux(spec, owner) {
                    self.execs.push((inst, probe, aux));
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            self.health.result(inst, probe, Err(e), now);
        }
    }

    /// Creates the readiness file when every tracked longrun is ready, removes it when one is
    /// not (and at shutdown).
    fn update_readiness_file(&mut self, r: &mut Reactor<'_>) {
        let Some(spec) = &self.readiness else {
            return;
        };
        let ready = !r.sup.shutting_down() && tracked_ready(r, spec);
        if ready == self.file_ready {
            return;
        }
        self.file_ready = ready;
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
        r.out.event(level, None, "readiness", &msg, &[]);
    }
}

/// Every tracked longrun instance is ready (or runs, as the mode says).
fn tracked_ready(r: &Reactor<'_>, spec: &ReadinessSpec) -> bool {
    let all: Vec<usize>;
    let procs: &[usize] = if spec.processes.is_empty() {
        all = (0..r.config.processes.len())
            .filter(|&p| r.config.processes[p].kind == crate::config::model::ProcessKind::Longrun)
            .collect();
        &all
    } else {
        &spec.processes
    };
    procs.iter().all(|&p| {
        r.sup.instances_of(p).iter().all(|&i| {
            let st = r.sup.instance(i).state;
            match spec.mode {
                ReadinessMode::AllHealthy => st == State::Ready,
                ReadinessMode::AllRunning => matches!(st, State::Running | State::Ready),
            }
        })
    })
}

/// The address of a validated host (an IP literal or `localhost`).
fn ip(host: &str) -> IpAddr {
    host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
