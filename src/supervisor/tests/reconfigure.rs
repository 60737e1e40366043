//! Live reconfiguration: only the difference is applied.

use super::*;

/// A reload of `w`'s configuration `old` to `new`, as the loop does it; returns the running
/// configuration after it.
fn reload(w: &mut World, old: &Config, new: &Config) -> Config {
    let plan = crate::config::diff::plan(old, &w.sup.live_processes(), new);
    let config = std::rc::Rc::new(plan.config);
    w.send(Event::Reconfigure {
        config: std::rc::Rc::clone(&config),
        changes: plan.changes,
    });
    (*config).clone()
}

#[test]
fn reload_applies_only_the_difference() {
    let mut queue = spec("queue", &[]);
    queue.scale = 1;
    let old = config(vec![
        spec("web", &[]),
        spec("fpm", &[]),
        queue.clone(),
        spec("old", &[]),
    ]);
    let mut w = World::new(&old);
    assert_eq!(w.spawned(), ["web-0", "fpm-0", "queue-0", "old-0"]);
    let mut web = spec("web", &[]);
    web.command = vec!["nginx".to_owned()];
    queue.scale = 2;
    let new = config(vec![web, spec("fpm", &[]), queue, spec("new", &[1])]);
    let running = reload(&mut w, &old, &new);
    // web (changed) and old (removed) get their stop signal; queue gets one more instance,
    // `new` starts (fpm, its dependency, runs); fpm is not touched.
    assert_eq!(
        w.signals(),
        [(100, signals::SIGTERM), (103, signals::SIGTERM)]
    );
    assert_eq!(
        w.spawned(),
        ["web-0", "fpm-0", "queue-0", "old-0", "queue-1", "new-0"]
    );
    assert_eq!(w.sup.instance(1).pid, Some(101));
    assert_eq!(w.sup.instance(2).pid, Some(102));
    w.exit(0, 0);
    w.exit(3, 0);
    // web comes back (new pid), old is gone for good and no longer listed.
    assert_eq!(w.spawned().last().map(String::as_str), Some("web-0"));
    assert_eq!(w.sup.instance(0).pid, Some(106));
    assert!(w.sup.instance(3).retired);
    assert_eq!(w.sup.live_processes(), [true, true, true, false, true]);
    let names: Vec<String> = w
        .sup
        .snapshot(w.now, 0.0)
        .processes
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(names, ["web", "fpm", "queue", "old", "new"]);
    assert_eq!(running.processes[4].name, "new");
    assert_eq!(w.exit, None);
    // A second reload of the same file changes nothing.
    let before = (w.spawned().len(), w.signals().len());
    reload(&mut w, &running, &new);
    assert_eq!((w.spawned().len(), w.signals().len()), before);
}

#[test]
fn added_processes_start_in_dependency_order() {
    let old = config(vec![spec("web", &[])]);
    let mut w = World::new(&old);
    let mut migrate = spec("migrate", &[]);
    migrate.kind = ProcessKind::Oneshot;
    migrate.restart = RestartPolicy::Never;
    let new = config(vec![spec("web", &[]), migrate, spec("worker", &[1])]);
    reload(&mut w, &old, &new);
    // The worker waits for the migration to exit 0.
    assert_eq!(w.spawned(), ["web-0", "migrate-0"]);
    w.exit(1, 0);
    assert_eq!(w.spawned(), ["web-0", "migrate-0", "worker-0"]);
}

#[test]
fn a_removed_process_comes_back_under_its_index() {
    let old = config(vec![spec("web", &[]), spec("cron", &[])]);
    let mut w = World::new(&old);
    let without = config(vec![spec("web", &[])]);
    let running = reload(&mut w, &old, &without);
    w.exit(1, 0);
    assert_eq!(w.sup.live_processes(), [true, false]);
    let again = reload(&mut w, &running, &old);
    assert_eq!(again.processes.len(), 2);
    assert_eq!(w.sup.live_processes(), [true, true]);
    assert_eq!(w.spawned(), ["web-0", "cron-0", "cron-0"]);
}

#[test]
fn no_reconfigure_during_shutdown() {
    let old = config(vec![spec("web", &[])]);
    let mut w = World::new(&old);
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    reload(
        &mut w,
        &old,
        &config(vec![spec("web", &[]), spec("new", &[])]),
    );
    assert_eq!(w.spawned(), ["web-0"]);
}
