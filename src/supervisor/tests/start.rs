//! Start order, one-shots, dependencies and readiness.

use super::*;

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
        start_period: 0,
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
