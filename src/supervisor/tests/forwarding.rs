//! Signals the manager receives: forwarding and the reload policy.

use super::*;

#[test]
fn forward_signals_reach_every_running_group_of_the_processes_that_ask() {
    let mut c = config(vec![spec("a", &[]), spec("b", &[])]);
    c.processes[0].scale = 3;
    c.processes[0].signals.forward = vec![signals::SIGHUP, signals::SIGWINCH];
    let mut w = World::new(&c);
    assert_eq!(w.spawned(), ["a-0", "a-1", "a-2", "b-0"]);
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
    // Nobody asked for SIGUSR2: nobody gets it.
    w.send(Event::Forward {
        signal: signals::SIGUSR2,
    });
    assert_eq!(w.signals().len(), 3);
}

/// The stack of the issue: nginx, php-fpm, a queue worker, Horizon, the scheduler, something
/// unknown. Pids: nginx 100, fpm 101, queue 102, horizon 103, schedule 104, other 105.
fn php_stack() -> Config {
    config(vec![
        program("nginx", &["nginx", "-g", "daemon off;"]),
        program("fpm", &["php-fpm8.2", "-F"]),
        program("queue", &["php", "artisan", "queue:work"]),
        program("horizon", &["php", "artisan", "horizon"]),
        program("schedule", &["php", "artisan", "schedule:work"]),
        program("other", &["python3", "app.py"]),
    ])
}

#[test]
fn sighup_reloads_nginx_and_php_fpm_and_leaves_workers_alone() {
    let mut w = World::new(&php_stack());
    w.send(Event::Forward {
        signal: signals::SIGHUP,
    });
    assert_eq!(
        w.signals(),
        [(100, signals::SIGHUP), (101, signals::SIGUSR2)]
    );
    let n = w.notes.iter().rev().find(|n| n.event == "signal").unwrap();
    assert_eq!(n.level, Level::Info);
    assert_eq!(
        n.msg,
        "SIGHUP: nginx (SIGHUP), fpm (SIGUSR2); left alone: queue, horizon, schedule, other"
    );
    // Nothing restarted.
    assert_eq!(w.spawned().len(), 6);
}

#[test]
fn sigusr1_reopens_logs_where_the_program_has_it_and_usr2_winch_reach_nobody() {
    let mut w = World::new(&php_stack());
    w.send(Event::Forward {
        signal: signals::SIGUSR1,
    });
    assert_eq!(
        w.signals(),
        [(100, signals::SIGUSR1), (101, signals::SIGUSR1)]
    );
    for sig in [signals::SIGUSR2, signals::SIGWINCH] {
        w.send(Event::Forward { signal: sig });
    }
    assert_eq!(w.signals().len(), 2);
    assert_eq!(w.spawned().len(), 6);
}

#[test]
fn reload_restart_stops_gracefully_and_starts_again() {
    let mut c = php_stack();
    c.processes[2].signals.reload = Reload::Restart;
    let mut w = World::new(&c);
    w.send(Event::Forward {
        signal: signals::SIGHUP,
    });
    // The queue worker gets its stop signal (SIGTERM: finish the job), not SIGHUP.
    assert_eq!(
        w.signals(),
        [
            (100, signals::SIGHUP),
            (101, signals::SIGUSR2),
            (102, signals::SIGTERM)
        ]
    );
    assert_eq!(w.state(2), State::Stopping);
    w.exit(2, 0);
    assert_eq!(w.spawned().last().map(String::as_str), Some("queue-0"));
    assert_eq!(w.sup.instance(2).pid, Some(106));
    assert_eq!(w.sup.instance(2).restarts, 1);
}

#[test]
fn reload_request_of_one_process_and_of_all() {
    let mut w = World::new(&php_stack());
    assert_eq!(w.sup.signal_request(SignalRequest::Reload(Some(1)), 0), 1);
    w.pump();
    assert_eq!(w.signals(), [(101, signals::SIGUSR2)]);
    // A worker with no reload: nothing, and said so.
    assert_eq!(w.sup.signal_request(SignalRequest::Reload(Some(2)), 0), 0);
    w.pump();
    assert_eq!(w.signals().len(), 1);
    let n = w.notes.iter().rev().find(|n| n.event == "reload").unwrap();
    assert!(n.msg.contains("no process"), "{}", n.msg);
    assert_eq!(w.sup.signal_request(SignalRequest::Reload(None), 0), 2);
    w.pump();
    assert_eq!(w.signals().len(), 3);
}

#[test]
fn no_reload_during_shutdown() {
    let mut w = World::new(&php_stack());
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    let before = w.signals().len();
    w.send(Event::Forward {
        signal: signals::SIGHUP,
    });
    assert_eq!(w.signals().len(), before);
}
