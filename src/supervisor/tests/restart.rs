//! Restarts: backoff, policies, attempts, failed spawns, a crashed group's leftovers.

use super::*;

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
