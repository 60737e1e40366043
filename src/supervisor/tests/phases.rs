//! The hook phases, driven by the fake world of `tests/mod.rs`: the actions the supervisor asks
//! for, in order, for scripts of hook outcomes, exits, signals and deadlines.

use super::*;
use crate::config::model::HookSpec;

fn pre_stops(w: &World) -> usize {
    w.seen
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::RunHooks {
                    phase: HookPhase::PreStop,
                    ..
                }
            )
        })
        .count()
}

/// The hooks of `phase` (of `inst`, or global) ended with `outcome`.
fn hooks_done(w: &mut World, phase: HookPhase, inst: Option<InstId>, outcome: HookOutcome) {
    w.send(Event::HooksDone {
        phase,
        inst,
        outcome,
    });
}

fn pre_stop_done(w: &mut World, inst: InstId) {
    hooks_done(w, HookPhase::PreStop, Some(inst), HookOutcome::default());
}

#[test]
fn pre_stop_step_then_wait_for_exit_then_signal() {
    let mut a = spec("horizon", &[]);
    a.stop_timeout = 1_000;
    a.hooks.set.pre_stop.push(HookSpec {
        name: "terminate".into(),
        command: vec!["true".into()],
        timeout: 500,
        retry: 0,
        retry_delay: 0,
        continue_on_error: false,
        env: Vec::new(),
        working_dir: None,
        credentials: None,
    });
    let mut b = a.clone();
    b.name = "eager".into();
    b.hooks.wait_for_exit = false;
    let mut w = World::new(&config(vec![a, b]));
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    // Both run their pre-stop step; nobody is signalled yet.
    assert_eq!(pre_stops(&w), 2);
    assert!(w.signals().is_empty());
    w.at(100);
    pre_stop_done(&mut w, 0);
    pre_stop_done(&mut w, 1);
    // The eager one gets its signal at once; the other waits for its own exit.
    assert_eq!(w.signals(), [(101, signals::SIGTERM)]);
    w.at(999);
    assert_eq!(w.signals().len(), 1);
    // horizon-0 did not exit within shutdown.timeout: now the stop signal, SIGKILL later.
    w.at(1_000);
    assert_eq!(w.signals()[1], (100, signals::SIGTERM));
    w.at(2_000);
    assert_eq!(w.signals()[2], (100, signals::SIGKILL));
    // Exiting on its own during the wait needs no signal at all.
    let mut c = spec("c", &[]);
    c.hooks.set.pre_stop = vec![HookSpec {
        name: "t".into(),
        command: vec!["true".into()],
        timeout: 500,
        retry: 0,
        retry_delay: 0,
        continue_on_error: false,
        env: Vec::new(),
        working_dir: None,
        credentials: None,
    }];
    let mut w = World::new(&config(vec![c]));
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    pre_stop_done(&mut w, 0);
    w.exit(0, 0);
    assert_eq!(w.state(0), State::Stopped);
    assert!(w.signals().is_empty());
    assert_eq!(w.exit, Some(0));
}

#[test]
fn global_pre_stop_holds_shutdown_until_done() {
    let mut c = config(vec![spec("a", &[])]);
    c.hooks.pre_stop.push(HookSpec {
        name: "down".into(),
        command: vec!["true".into()],
        timeout: 500,
        retry: 0,
        retry_delay: 0,
        continue_on_error: false,
        env: Vec::new(),
        working_dir: None,
        credentials: None,
    });
    let mut w = World::new(&c);
    w.send(Event::ShutdownSignal {
        signal: signals::SIGTERM,
    });
    assert!(w.signals().is_empty());
    w.at(10);
    hooks_done(&mut w, HookPhase::PreStop, None, HookOutcome::default());
    assert_eq!(w.signals(), [(100, signals::SIGTERM)]);
}

fn hook(name: &str) -> HookSpec {
    HookSpec {
        name: name.into(),
        command: vec!["true".into()],
        timeout: 500,
        retry: 0,
        retry_delay: 0,
        continue_on_error: false,
        env: Vec::new(),
        working_dir: None,
        credentials: None,
    }
}

/// One step of a hook-phase script.
#[derive(Clone, Copy, Debug)]
enum Do {
    /// SIGTERM reaches the manager.
    Signal,
    /// The clock moves to this time.
    At(Millis),
    /// The oldest hook request still open ends: all hooks passed, one failed, cancelled.
    Pass,
    Fail,
    Cancelled,
    /// An instance's process exits with this code.
    Exit(InstId, i32),
}

struct PhaseCase {
    name: &'static str,
    /// Phases with a global hook, and phases with a hook of the one process, `app`.
    global: &'static [HookPhase],
    app: &'static [HookPhase],
    script: &'static [Do],
    /// Everything the supervisor asked for, in order (see `World::pump`).
    expect: &'static [&'static str],
}

use HookPhase::{PostStart, PostStop, PreStart, PreStop};

const PHASE_CASES: &[PhaseCase] = &[
    PhaseCase {
        name: "the phases in order around one process",
        global: &[PreStart, PostStart, PreStop, PostStop],
        app: &[],
        script: &[
            Do::Pass,
            Do::Pass,
            Do::Signal,
            Do::Pass,
            Do::Exit(0, 0),
            Do::Pass,
        ],
        expect: &[
            "run pre_start",
            "spawn app-0",
            "run post_start",
            "run pre_stop",
            "signal 100 SIGTERM",
            "run post_stop",
            "exit 0",
        ],
    },
    PhaseCase {
        name: "instance hooks around its spawn and its exit",
        global: &[],
        app: &[PreStart, PostStart, PostStop],
        script: &[Do::Pass, Do::Pass, Do::Signal, Do::Exit(0, 0), Do::Pass],
        expect: &[
            "run pre_start app-0",
            "spawn app-0",
            "run post_start app-0",
            "signal 100 SIGTERM",
            "run post_stop app-0",
            "exit 0",
        ],
    },
    PhaseCase {
        name: "a failed global pre-start hook: nothing starts, post-stop runs, exit 1",
        global: &[PreStart, PostStop],
        app: &[],
        script: &[Do::Fail, Do::Pass],
        expect: &[
            "run pre_start",
            "note startup_failed",
            "run post_stop",
            "exit 1",
        ],
    },
    PhaseCase {
        name: "SIGTERM during the pre-start hooks: cancel them, start nothing, exit 0",
        global: &[PreStart, PostStop],
        app: &[],
        script: &[Do::Signal, Do::Cancelled, Do::Pass],
        expect: &[
            "run pre_start",
            "note startup_aborted",
            "cancel StartUp",
            "run post_stop",
            "exit 0",
        ],
    },
    PhaseCase {
        name: "pre-stop of an instance, then waiting for its own exit: no signal",
        global: &[],
        app: &[PreStop],
        script: &[Do::Signal, Do::Pass, Do::Exit(0, 0)],
        expect: &["spawn app-0", "run pre_stop app-0", "exit 0"],
    },
    PhaseCase {
        name: "pre-stop of an instance, which does not exit: signal at its stop timeout",
        global: &[],
        app: &[PreStop],
        script: &[
            Do::Signal,
            Do::Pass,
            Do::At(999),
            Do::At(1_000),
            Do::Exit(0, 143),
        ],
        expect: &[
            "spawn app-0",
            "run pre_stop app-0",
            "signal 100 SIGTERM",
            "exit 0",
        ],
    },
    PhaseCase {
        name: "a failed instance pre-start hook is a failed start: backoff, then again",
        global: &[],
        app: &[PreStart],
        script: &[Do::Fail, Do::At(200), Do::Pass],
        expect: &[
            "run pre_start app-0",
            "note spawn_failed",
            "run pre_start app-0",
            "spawn app-0",
        ],
    },
    PhaseCase {
        name: "hooks still running at shutdown_timeout are killed; post-stop runs after",
        global: &[PostStop],
        app: &[PostStop],
        script: &[
            Do::Signal,
            Do::Exit(0, 143),
            Do::At(10_000),
            Do::Cancelled,
            Do::Pass,
        ],
        expect: &[
            "spawn app-0",
            "signal 100 SIGTERM",
            "run post_stop app-0",
            "note hooks_killed",
            "cancel Kill",
            "run post_stop",
            "exit 0",
        ],
    },
    PhaseCase {
        name: "a second signal cancels the hooks and kills",
        global: &[PreStop],
        app: &[],
        script: &[Do::Signal, Do::Signal, Do::Cancelled, Do::Exit(0, 137)],
        expect: &[
            "spawn app-0",
            "run pre_stop",
            "cancel All",
            "signal 100 SIGKILL",
            "exit 0",
        ],
    },
    PhaseCase {
        name: "shutdown before the stack is up cancels post-start and instance pre-start",
        global: &[PostStart],
        app: &[PreStart],
        script: &[Do::Signal, Do::Cancelled],
        expect: &[
            "run pre_start app-0",
            "cancel Starting",
            "note spawn_failed",
            "exit 0",
        ],
    },
];

#[test]
fn hook_phases_table() {
    for case in PHASE_CASES {
        let mut app = spec("app", &[]);
        let mut c = config(Vec::new());
        for &p in case.global {
            c.hooks.get_mut(p).push(hook("g"));
        }
        for &p in case.app {
            app.hooks.set.get_mut(p).push(hook("h"));
        }
        c.processes.push(app);
        let mut w = World::new(&c);
        for &step in case.script {
            match step {
                Do::Signal => w.send(Event::ShutdownSignal {
                    signal: signals::SIGTERM,
                }),
                Do::At(t) => w.at(t),
                Do::Exit(i, code) => w.exit(i, code),
                Do::Pass | Do::Fail | Do::Cancelled => {
                    let (phase, inst) = w.hooks.pop_front().expect(case.name);
                    let outcome = HookOutcome {
                        failed: matches!(step, Do::Fail).then(|| ("h".into(), "exit 1".into())),
                        cancelled: matches!(step, Do::Cancelled),
                    };
                    hooks_done(&mut w, phase, inst, outcome);
                }
            }
        }
        assert_eq!(w.trace, case.expect, "{}", case.name);
        assert!(w.hooks.is_empty(), "{}: hooks left open", case.name);
    }
}
