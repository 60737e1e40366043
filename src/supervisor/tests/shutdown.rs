//! Shutdown: order, timeouts, draining groups, second signals, the exit code.

use super::*;

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
