//! Commands (stop, restart, scale) and scheduled tasks.

use super::*;

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
