//! The supervisor driven by a fake clock: every test is a script of events and the actions
//! and states they must produce.

use super::*;
use crate::config::model::{Global, LogFormat, ProcessSpec};

fn spec(name: &str, deps: &[usize]) -> ProcessSpec {
    ProcessSpec {
        name: name.to_owned(),
        command: vec!["true".to_owned()],
        kind: ProcessKind::Longrun,
        priority: 0,
        depends_on: deps.to_vec(),
        scale: 1,
        restart: RestartPolicy::Always,
        env: Vec::new(),
        working_dir: None,
        credentials: None,
        critical: false,
        stop_signal: signals::SIGTERM,
        stop_timeout: 1_000,
        task: None,
        logging: Default::default(),
        health: None,
        hooks: Default::default(),
        start_stopped: false,
        max_scale: 1000,
        scale_locked: false,
        labels: Vec::new(),
    }
}

fn config(processes: Vec<ProcessSpec>) -> Config {
    Config {
        path: None,
        global: Global {
            shutdown_timeout: 10_000,
            log_format: LogFormat::Json,
            log_level: Level::Info,
            backoff_initial: 100,
            backoff_max: 1_000,
            stable_after: 5_000,
            max_restart_attempts: None,
            dependency_timeout: None,
            api: None,
            metrics: None,
            readiness: None,
            autotune_memory_threshold: None,
            framework_setup: true,
            logging: Default::default(),
            audit: false,
            resource_metrics: Default::default(),
            max_process_scale: 100,
        },
        processes,
        hooks: Default::default(),
        child_env: Vec::new(),
    }
}

/// A supervisor plus a fake world: spawned pids are handed out in order.
struct World {
    sup: Supervisor,
    now: Millis,
    next_pid: i32,
    /// Non-log actions seen, in order.
    seen: Vec<Action>,
    notes: Vec<Note>,
    exit: Option<u8>,
    /// Every action in order, as text (logs only for the events named in `TRACED`).
    trace: Vec<String>,
    /// Hook requests not answered yet, oldest first.
    hooks: VecDeque<(HookPhase, Option<InstId>)>,
}

/// Log events that show in `World::trace`.
const TRACED: [&str; 4] = [
    "startup_failed",
    "startup_aborted",
    "hooks_killed",
    "spawn_failed",
];

impl World {
    fn new(c: &Config) -> Self {
        let mut w = World {
            sup: Supervisor::new(c, 42),
            now: 0,
            next_pid: 100,
            seen: Vec::new(),
            notes: Vec::new(),
            exit: None,
            trace: Vec::new(),
            hooks: VecDeque::new(),
        };
        w.sup.start(0);
        w.pump();
        w
    }

    /// Runs queued actions; spawns succeed at once unless `fail_spawn` names the instance.
    fn pump(&mut self) {
        while let Some(a) = self.sup.poll_action() {
            let line = match &a {
                Action::Spawn(i) => Some(format!("spawn {}", self.sup.instance(*i).id)),
                Action::SignalGroup { pgid, signal } => {
                    Some(format!("signal {pgid} {}", signals::name(*signal)))
                }
                Action::Log(n) => TRACED
                    .contains(&n.event)
                    .then(|| format!("note {}", n.event)),
                Action::RunHooks { phase, inst } => {
                    self.hooks.push_back((*phase, *inst));
                    Some(match inst {
                        Some(i) => format!("run {} {}", phase.as_str(), self.sup.instance(*i).id),
                        None => format!("run {}", phase.as_str()),
                    })
                }
                Action::CancelHooks(c) => Some(format!("cancel {c:?}")),
                Action::Exit(c) => Some(format!("exit {c}")),
            };
            self.trace.extend(line);
            match &a {
                Action::Spawn(i) => {
                    let pid = self.next_pid;
                    self.next_pid += 1;
                    self.seen.push(a.clone());
                    self.sup.handle(Event::Spawned { inst: *i, pid }, self.now);
                }
                Action::Log(n) => self.notes.push(n.clone()),
                Action::Exit(c) => self.exit = Some(*c),
                Action::SignalGroup { .. } | Action::RunHooks { .. } | Action::CancelHooks(_) => {
                    self.seen.push(a.clone())
                }
            }
        }
    }

    fn at(&mut self, t: Millis) {
        self.now = t;
        self.sup.handle_timeout(t);
        self.pump();
    }

    fn send(&mut self, ev: Event) {
        self.sup.handle(ev, self.now);
        self.pump();
    }

    fn exit(&mut self, inst: InstId, code: i32) {
        self.send(Event::Exited {
            inst,
            status: ExitStatus::Code(code),
            group_alive: false,
        });
    }

    fn state(&self, inst: InstId) -> State {
        self.sup.instance(inst).state
    }

    fn spawned(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|a| match a {
                Action::Spawn(i) => Some(self.sup.instance(*i).id.clone()),
                _ => None,
            })
            .collect()
    }

    fn signals(&self) -> Vec<(i32, i32)> {
        self.seen
            .iter()
            .filter_map(|a| match a {
                Action::SignalGroup { pgid, signal } => Some((*pgid, *signal)),
                _ => None,
            })
            .collect()
    }

    fn events(&self, name: &str) -> usize {
        self.notes.iter().filter(|n| n.event == name).count()
    }
}

#[test]
fn transition_table() {
    use State::*;
    // (state before, input, state after) for one longrun with restart: always.
    let rows: &[(State, &str, State)] = &[
        (Waiting, "deadline", Failed),
        (Ready, "exit0", Backoff),
        (Ready, "exit1", Backoff),
        (Backoff, "deadline", Ready),
        (Stopping, "exit0", Stopped),
        (Stopping, "exit0-group-alive", Draining),
        (Draining, "group-empty", Stopped),
        (Stopping, "deadline", Stopping),
        (Draining, "deadline", Stopped),
        (Stopped, "deadline", Stopped),
        (Exited, "group-empty", Exited),
    ];
    for (before, input, after) in rows {
        let mut w = World::new(&config(vec![spec("a", &[])]));
        w.sup.insts[0].state = *before;
        w.sup.insts[0].pgid = Some(100);
        if matches!(before, Stopping | Draining) {
            w.sup.phase = Phase::ShuttingDown {
                reason: Reason::Signal(signals::SIGTERM),
                deadline: 1_000_000,
                forced: false,
            };
        }
        match *input {
            "deadline" => {
                w.sup.insts[0].deadline = Some(0);
                w.at(1);
            }
            "exit0" => w.exit(0, 0),
            "exit1" => w.exit(0, 1),
            "exit0-group-alive" => w.send(Event::Exited {
                inst: 0,
                status: ExitStatus::Code(0),
                group_alive: true,
            }),
            "group-empty" => w.send(Event::GroupEmpty { inst: 0 }),
            _ => unreachable!(),
        }
        assert_eq!(w.state(0), *after, "{before:?} + {input}");
    }
}

#[test]
fn diamond_starts_in_topological_order_and_independents_together() {
    // a; b, c after a; d after b and c; e independent.
    let c = config(vec![
        spec("a", &[]),
        spec("e", &[]),
        spec("b", &[0]),
        spec("c", &[0]),
        spec("d", &[2, 3]),
    ]);
    let w = World::new(&c);
    // Longruns are ready as soon as they run, so the whole chain starts in one turn, in order.
    assert_eq!(w.spawned(), ["a-0", "e-0", "b-0", "c-0", "d-0"]);
}

#[test]
fn oneshot_gates_dependents_until_it_exits_zero() {
    let mut once = spec("migrate", &[]);
    once.kind = ProcessKind::Oneshot;
    once.restart = RestartPolicy::Never;
    let c = config(vec![once, spec("web", &[0])]);
    let mut w = World::new(&c);
    assert_eq!(w.spawned(), ["migrate-0"]);
    assert_eq!(w.state(1), State::Waiting);
    w.exit(0, 0);
    assert_eq!(w.state(0), State::Exited);
    assert_eq!(w.spawned(), ["migrate-0", "web-0"]);
}

#[test]
fn failed_oneshot_fails_its_dependents() {
    let mut once = spec("migrate", &[]);
    once.kind = ProcessKind::Oneshot;
    once.restart = RestartPolicy::Never;
    let c = config(vec![once, spec("web", &[0]), spec("other", &[])]);
    let mut w = World::new(&c);
    w.exit(0, 3);
    assert_eq!(w.state(0), State::Failed);
    assert_eq!(w.state(1), State::Failed);
    assert_eq!(w.events("dependency_failed"), 1);
    assert_eq!(w.state(2), State::Ready, "unrelated processes keep running");
}

#[test]
fn crash_loop_backs_off_exponentially_with_cap_and_jitter() {
    let mut w = World::new(&config(vec![spec("crash", &[])]));
    let mut delays = Vec::new();
    for _ in 0..7 {
        w.exit(0, 1);
        assert_eq!(w.state(0), State::Backoff);
        let d = w.sup.next_deadline().unwrap() - w.now;
        delays.push(d);
        w.at(w.now + d);
        assert_eq!(w.state(0), State::Ready);
    }
    let expected = [100u64, 200, 400, 800, 1000, 1000, 1000];
    for (d, e) in delays.iter().zip(expected) {
        assert!(
            *d >= e * 9 / 10 && *d <= e * 11 / 10,
            "delay {d} not within 10% of {e}: {delays:?}"
        );
    }
    assert_eq!(w.sup.instance(0).restarts, 7);
}

#[test]
fn stable_run_resets_backoff() {
    let mut w = World::new(&config(vec![spec("p", &[])]));
    for _ in 0..3 {
        w.exit(0, 1);
        let d = w.sup.next_deadline().unwrap();
        w.at(d);
    }
    // Now at attempt 3; run for longer than stable_after, then crash.
    let t = w.now + 6_000;
    w.at(t);
    w.exit(0, 1);
    let d = w.sup.next_deadline().unwrap() - w.now;
    assert!(
        (90..=110).contains(&d),
        "backoff should restart at initial, got {d}"
    );
    assert_eq!(w.sup.instance(0).attempts, 1);
}

#[test]
fn never_and_on_failure_with_success_do_not_restart() {
    let mut never = spec("never", &[]);
    never.restart = RestartPolicy::Never;
    let mut onf = spec("onf", &[]);
    onf.restart = RestartPolicy::OnFailure;
    let mut onf_fail = spec("onf-fail", &[]);
    onf_fail.restart = RestartPolicy::OnFailure;
    let keep = spec("keep", &[]);
    let mut w = World::new(&config(vec![never, onf, onf_fail, keep]));
    w.exit(0, 1);
    w.exit(1, 0);
    w.exit(2, 1);
    assert_eq!(w.state(0), State::Failed);
    assert_eq!(w.state(1), State::Exited);
    assert_eq!(w.state(2), State::Backoff);
    assert_eq!(w.exit, None, "keep is still running");
}

#[test]
fn max_restart_attempts_gives_up() {
    let mut c = config(vec![spec("p", &[]), spec("q", &[])]);
    c.global.max_restart_attempts = Some(2);
    let mut w = World::new(&c);
    for _ in 0..2 {
        w.exit(0, 1);
        let d = w.sup.next_deadline().unwrap();
        w.at(d);
    }
    w.exit(0, 1);
    assert_eq!(w.state(0), State::Failed);
    assert_eq!(w.events("gave_up"), 1);
    let mut zero = config(vec![spec("p", &[]), spec("q", &[])]);
    zero.global.max_restart_attempts = Some(0);
    let mut w = World::new(&zero);
    w.exit(0, 1);
    assert_eq!(w.state(0), State::Failed);
}

#[test]
fn critical_failure_stops_everything_with_exit_1() {
    let mut crit = spec("crit", &[]);
    crit.critical = true;
    crit.restart = RestartPolicy::Never;
    let mut w = World::new(&config(vec![crit, spec("web", &[])]));
    w.exit(0, 2);
    assert_eq!(w.state(1), State::Stopping);
    assert_eq!(w.signals(), [(101, signals::SIGTERM)]);
    w.exit(1, 0);
    assert_eq!(w.exit, Some(1));
}

#[test]
fn shutdown_stops_dependents_first_then_kills_after_timeout() {
    let c = config(vec![spec("db", &[]), spec("web", &[0]), spec("free", &[])]);
    let mut w = World::new(&c);
    let pid = |w: &World, i: InstId| w.sup.instance(i).pgid.unwrap();
    let (db, web, free) = (pid(&w, 0), pid(&w, 1), pid(&w, 2));
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    // web and free (no dependents) first; db waits for web.
    assert_eq!(
        w.signals(),
        [(free, signals::SIGTERM), (web, signals::SIGTERM)]
    );
    assert_eq!(w.state(0), State::Ready);
    // web ignores SIGTERM: after its stop timeout its group gets SIGKILL.
    w.exit(2, 0);
    w.at(1_000);
    assert!(w.signals().contains(&(web, signals::SIGKILL)));
    w.send(Event::Exited {
        inst: 1,
        status: ExitStatus::Signal(signals::SIGKILL),
        group_alive: false,
    });
    assert_eq!(w.signals().last(), Some(&(db, signals::SIGTERM)));
    w.exit(0, 0);
    assert_eq!(w.exit, Some(0));
}

#[test]
fn draining_group_is_waited_for() {
    let mut w = World::new(&config(vec![spec("sh", &[])]));
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    w.send(Event::Exited {
        inst: 0,
        status: ExitStatus::Code(0),
        group_alive: true,
    });
    assert_eq!(w.state(0), State::Draining);
    assert_eq!(w.sup.watched_groups().collect::<Vec<_>>(), [(0, 100)]);
    assert_eq!(w.exit, None);
    w.send(Event::GroupEmpty { inst: 0 });
    assert_eq!(w.exit, Some(0));
}

#[test]
fn second_signal_and_global_timeout_force_kill() {
    let mut w = World::new(&config(vec![spec("a", &[]), spec("b", &[0])]));
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    assert_eq!(w.signals(), [(101, signals::SIGTERM)]);
    w.send(Event::ShutdownSignal {
        signal: signals::SIGINT,
    });
    let kills: Vec<_> = w
        .signals()
        .into_iter()
        .filter(|s| s.1 == signals::SIGKILL)
        .collect();
    assert_eq!(kills, [(100, signals::SIGKILL), (101, signals::SIGKILL)]);
    assert_eq!(w.events("shutdown_forced"), 1);

    let mut w = World::new(&config(vec![spec("a", &[])]));
    w.sup.procs[0].stop_timeout = 60_000;
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    w.at(10_000);
    assert!(w.signals().contains(&(100, signals::SIGKILL)));
    // Processes that cannot be killed do not hold the manager forever.
    w.at(10_000 + KILL_GRACE_MS);
    assert_eq!(w.exit, Some(0));
}

#[test]
fn everything_finished_exits_by_itself() {
    let mut a = spec("a", &[]);
    a.kind = ProcessKind::Oneshot;
    a.restart = RestartPolicy::Never;
    let mut b = spec("b", &[]);
    b.restart = RestartPolicy::Never;
    let mut w = World::new(&config(vec![a.clone(), b.clone()]));
    w.exit(0, 0);
    assert_eq!(w.exit, None);
    w.exit(1, 0);
    assert_eq!(w.exit, Some(0));
    let mut w = World::new(&config(vec![a, b]));
    w.exit(0, 0);
    w.exit(1, 4);
    assert_eq!(w.exit, Some(1));
}

#[test]
fn spawn_failure_counts_as_a_failed_run() {
    let mut w = World::new(&config(vec![spec("p", &[])]));
    w.exit(0, 1);
    let d = w.sup.next_deadline().unwrap();
    w.now = d;
    w.sup.handle_timeout(d);
    // Intercept the spawn and fail it.
    let a = w.sup.poll_action();
    assert_eq!(a, Some(Action::Spawn(0)));
    w.send(Event::SpawnFailed {
        inst: 0,
        error: "nope: No such file or directory".into(),
    });
    assert_eq!(w.state(0), State::Backoff);
    assert_eq!(w.events("spawn_failed"), 1);
}

#[test]
fn dependency_timeout_fails_waiting_instances() {
    let mut once = spec("slow", &[]);
    once.kind = ProcessKind::Oneshot;
    once.restart = RestartPolicy::Never;
    let mut c = config(vec![once, spec("web", &[0])]);
    c.global.dependency_timeout = Some(500);
    let mut w = World::new(&c);
    w.at(500);
    assert_eq!(w.state(1), State::Failed);
    assert_eq!(w.events("dependency_timeout"), 1);
    assert_eq!(w.state(0), State::Running);
}

#[test]
fn forwarded_signals_reach_every_live_group() {
    let mut c = config(vec![spec("a", &[])]);
    c.processes[0].scale = 3;
    let mut w = World::new(&c);
    w.send(Event::Forward {
        signal: signals::SIGHUP,
    });
    assert_eq!(
        w.signals(),
        [
            (100, signals::SIGHUP),
            (101, signals::SIGHUP),
            (102, signals::SIGHUP)
        ]
    );
    assert_eq!(w.spawned(), ["a-0", "a-1", "a-2"]);
}

#[test]
fn leftovers_of_a_crash_are_stopped_and_killed_before_the_restart() {
    let mut w = World::new(&config(vec![spec("sh", &[])]));
    w.send(Event::Exited {
        inst: 0,
        status: ExitStatus::Code(1),
        group_alive: true,
    });
    assert_eq!(w.signals(), [(100, signals::SIGTERM)]);
    assert_eq!(w.sup.watched_groups().collect::<Vec<_>>(), [(0, 100)]);
    assert_eq!(w.events("leftover_processes"), 1);
    let d = w.sup.next_deadline().unwrap();
    w.at(d);
    assert_eq!(
        w.signals(),
        [(100, signals::SIGTERM), (100, signals::SIGKILL)]
    );
    assert_eq!(w.state(0), State::Ready);
    // A group that empties in time is not killed.
    w.send(Event::Exited {
        inst: 0,
        status: ExitStatus::Code(1),
        group_alive: true,
    });
    w.send(Event::GroupEmpty { inst: 0 });
    let d = w.sup.next_deadline().unwrap();
    w.at(d);
    assert_eq!(
        w.signals()
            .iter()
            .filter(|s| s.1 == signals::SIGKILL)
            .count(),
        1
    );
}

#[cfg(feature = "api")]
#[test]
fn stop_command_holds_it_without_ending_the_manager() {
    let mut w = World::new(&config(vec![spec("a", &[])]));
    assert_eq!(w.state(0), State::Ready);
    w.send(Event::Command(Command::Stop(0)));
    assert_eq!(w.state(0), State::Stopping);
    assert_eq!(w.signals(), vec![(100, signals::SIGTERM)]);
    w.exit(0, 0);
    assert_eq!(w.state(0), State::Stopped);
    assert!(w.sup.instance(0).held);
    // The only process is down on request: the manager keeps running.
    assert_eq!(w.exit, None);
    w.send(Event::Command(Command::Start(0)));
    assert_eq!(w.spawned(), vec!["a-0", "a-0"]);
    assert_eq!(w.state(0), State::Ready);
    assert!(!w.sup.instance(0).held);
}

#[cfg(all(feature = "api", feature = "health"))]
#[test]
fn manual_restart_is_immediate_health_restart_backs_off() {
    let mut w = World::new(&config(vec![spec("a", &[])]));
    w.send(Event::Command(Command::Restart(0)));
    w.exit(0, 0);
    assert_eq!(w.spawned().len(), 2, "manual restart spawns at once");
    assert_eq!(w.sup.instance(0).restarts_by_reason, [0, 0, 1]);

    w.send(Event::Command(Command::Recover(0)));
    w.exit(0, 143);
    assert_eq!(w.state(0), State::Backoff);
    assert_eq!(w.spawned().len(), 2);
    w.at(w.now + 2_000);
    assert_eq!(w.spawned().len(), 3, "restarted after the backoff delay");
    assert_eq!(w.sup.instance(0).restarts_by_reason, [0, 1, 1]);
    assert_eq!(w.sup.instance(0).restarts, 2);
}

#[cfg(feature = "api")]
fn scale(w: &mut World, process: usize, desired: u32) {
    w.send(Event::Command(Command::Scale { process, desired }));
}

#[cfg(feature = "api")]
#[test]
fn scale_up_and_down_keeps_names_and_stops_the_highest() {
    let mut w = World::new(&config(vec![spec("a", &[])]));
    scale(&mut w, 0, 3);
    assert_eq!(w.spawned(), vec!["a-0", "a-1", "a-2"]);
    scale(&mut w, 0, 1);
    // a-2 (pid 102) then a-1 (pid 101) get their stop signal; a-0 is left alone.
    assert_eq!(
        w.signals(),
        vec![(102, signals::SIGTERM), (101, signals::SIGTERM)]
    );
    w.exit(2, 0);
    w.exit(1, 0);
    let ids: Vec<&str> = w
        .sup
        .instances_of(0)
        .iter()
        .map(|&i| w.sup.instance(i).id.as_str())
        .collect();
    assert_eq!(ids, vec!["a-0"]);
    assert_eq!(w.sup.desired_scale(0), 1);
    assert_eq!(w.exit, None);
    // Scaling up again reuses the retired slot and its name.
    scale(&mut w, 0, 2);
    assert_eq!(w.sup.instances_of(0), [0, 1]);
    assert_eq!(w.sup.instance(1).id, "a-1");
    assert_eq!(w.state(1), State::Ready);
    let snap = w.sup.snapshot(w.now, 1_000.0);
    assert_eq!(snap.processes[0].instances.len(), 2);
    assert_eq!(snap.processes[0].state, "ready");
}

#[cfg(feature = "api")]
#[test]
fn stop_request_during_spawn_stops_after_spawned() {
    let mut w = World::new(&config(vec![spec("a", &[])]));
    w.sup.insts[0].state = State::Starting;
    w.send(Event::Command(Command::Stop(0)));
    w.send(Event::Spawned { inst: 0, pid: 200 });
    assert_eq!(w.state(0), State::Stopping);
    assert_eq!(w.signals(), vec![(200, signals::SIGTERM)]);
}

/// A scheduled task is not the supervisor's: no instance, nobody waits for it, and an idle
/// task keeps the manager running after everything else has finished.
#[cfg(feature = "scheduler")]
#[test]
fn scheduled_tasks_have_no_instances_and_hold_nothing_back() {
    let mut db = spec("db", &[]);
    db.kind = ProcessKind::Oneshot;
    db.restart = RestartPolicy::Never;
    let mut task = spec("backup", &[0]);
    task.kind = ProcessKind::Task;
    let web = spec("web", &[1]);
    let c = config(vec![db, task, web]);
    // Before the start (global pre-start hooks still running), a task waits even for nothing.
    assert_eq!(Supervisor::new(&c, 1).dependencies_ready(1), Some(false));
    let mut w = World::new(&c);
    // The task gets no instance; web depends on the task but does not wait for it.
    assert_eq!(w.spawned(), ["db-0", "web-0"]);
    assert_eq!(
        w.sup.dependencies_ready(1),
        Some(false),
        "the task waits for db"
    );
    w.exit(0, 0);
    assert_eq!(w.sup.dependencies_ready(1), Some(true));
    assert_eq!(
        w.sup.dependencies_ready(2),
        Some(true),
        "a task is always 'ready'"
    );
    // Once every instance has finished, the task still keeps the manager up.
    let mut db = spec("db", &[]);
    db.kind = ProcessKind::Oneshot;
    db.restart = RestartPolicy::Never;
    let mut task = spec("backup", &[0]);
    task.kind = ProcessKind::Task;
    let mut w = World::new(&config(vec![db, task]));
    w.exit(0, 0);
    assert_eq!(w.exit, None, "an idle task keeps the manager running");
    assert!(!w.sup.shutting_down());
    let mut failing = spec("db", &[]);
    failing.kind = ProcessKind::Oneshot;
    failing.restart = RestartPolicy::Never;
    let mut task = spec("backup", &[0]);
    task.kind = ProcessKind::Task;
    let mut w = World::new(&config(vec![failing, task]));
    w.exit(0, 1);
    assert_eq!(
        w.sup.dependencies_ready(1),
        None,
        "its dependency failed for good"
    );
}

#[cfg(feature = "health")]
#[test]
fn a_readiness_check_gates_dependents() {
    use crate::config::model::{HealthMode, HealthSpec, ProbeKind};
    let mut a = spec("fpm", &[]);
    a.health = Some(HealthSpec {
        probe: ProbeKind::Tcp {
            host: "127.0.0.1".into(),
            port: 9000,
        },
        initial_delay: 0,
        period: 1_000,
        timeout: 500,
        failure_threshold: 3,
        success_threshold: 1,
        mode: HealthMode::Both,
    });
    let mut w = World::new(&config(vec![a, spec("nginx", &[0])]));
    assert_eq!(w.state(0), State::Running);
    assert_eq!(w.spawned(), ["fpm-0"]);
    w.send(Event::Ready { inst: 0 });
    assert_eq!(w.state(0), State::Ready);
    assert_eq!(w.spawned(), ["fpm-0", "nginx-0"]);
    // Not ready again: the running dependent keeps running.
    w.send(Event::NotReady { inst: 0 });
    assert_eq!(w.state(0), State::Running);
    assert_eq!(w.state(1), State::Ready);
    assert!(w.signals().is_empty());
}

#[test]
fn nothing_starts_before_start() {
    let c = config(vec![spec("a", &[])]);
    let mut sup = Supervisor::new(&c, 1);
    sup.handle_timeout(0);
    sup.handle(
        Event::Forward {
            signal: signals::SIGUSR1,
        },
        0,
    );
    assert!(sup.poll_action().is_none());
}

/// The hook phases (a build without feature `hooks` has none: its configurations cannot
/// name a hook).
#[cfg(feature = "hooks")]
mod phases;
