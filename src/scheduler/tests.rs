//! The scheduler driven by a fake clock: a monotonic `now` and a wall clock that tests move
//! together, or apart to simulate the wall clock being set.

use super::*;
use crate::config::{Inputs, load};

/// 2026-11-30T08:00:00Z, a Monday.
const MONDAY_8: i64 = 1_796_025_600_000;

struct World {
    s: Scheduler,
    now: Millis,
    wall: i64,
}

impl World {
    fn new(yaml: &str, wall: i64) -> World {
        let c = load(&Inputs {
            file: Some(("t.yaml", yaml)),
            env: &[],
            passwd: &|| (String::new(), String::new()),
        })
        .unwrap();
        World {
            s: Scheduler::new(&c),
            now: 1_000,
            wall,
        }
    }

    /// Moves both clocks by `ms` and handles the deadlines passed.
    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.wall += ms as i64;
        self.s.handle_timeout(self.now, self.wall);
    }

    /// Advances to each deadline in turn until `until` ms have passed.
    fn run_for(&mut self, until: u64) {
        let end = self.now + until;
        while let Some(d) = self.s.next_deadline().filter(|&d| d <= end) {
            let step = d.saturating_sub(self.now);
            self.advance(step);
        }
        let rest = end - self.now;
        self.advance(rest);
    }

    fn handle(&mut self, ev: Event) {
        self.s.handle(ev, self.now, self.wall);
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.s.poll_action()).collect()
    }

    /// Run starts queued so far: `(run, start_unix)`.
    fn starts(&mut self) -> Vec<(u64, i64)> {
        self.actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Start {
                    run, start_unix, ..
                } => Some((run, start_unix)),
                _ => None,
            })
            .collect()
    }

    fn finish(&mut self, run: u64, code: i32) {
        self.handle(Event::Finished {
            task: 0,
            run,
            outcome: Outcome::Exited {
                status: ExitStatus::Code(code),
                timed_out: false,
            },
            duration_ms: 10,
        });
    }
}

const EVERY_2S: &str = "processes:\n  tick:\n    command: [true]\n    schedule: '*/2 * * * * *'\n";

#[test]
fn waits_for_dependencies_then_fires_on_time() {
    let mut w = World::new(EVERY_2S, MONDAY_8 + 500);
    assert_eq!(w.s.waiting().collect::<Vec<_>>(), [(0, 0)]);
    assert_eq!(
        w.s.next_deadline(),
        None,
        "nothing runs before the deps are ready"
    );
    w.handle(Event::DepsReady(0));
    // 08:00:00.500 → 08:00:02: a deadline 1.5 s away on the monotonic clock.
    assert_eq!(w.s.next_deadline(), Some(w.now + 1_500));
    let logged = w.actions();
    assert!(
        matches!(&logged[0], Action::Log(n) if n.event == "task_scheduled"
        && n.msg.contains("next run at 2026-11-30T08:00:02Z"))
    );
    w.advance(1_499);
    assert!(w.starts().is_empty());
    w.advance(1);
    assert_eq!(w.starts(), [(1, MONDAY_8 / 1000 + 2)]);
    w.finish(1, 0);
    w.run_for(6_000);
    let runs: Vec<u64> = w.starts().iter().map(|(r, _)| *r).collect();
    // Run 2 started at :04, before run 1's successor could overlap (run 1 finished).
    assert_eq!(runs, [2]);
    assert_eq!(
        w.s.stats(0).skips,
        2,
        "runs at :06 and :08 found run 2 still going"
    );
    let v = w.s.view(0);
    assert_eq!((v.runs, v.successes, v.running), (2, 1, 1));
    assert_eq!(v.next_run_unix, Some((MONDAY_8 + 10_000) as f64 / 1000.0));
}

#[test]
fn overlapping_runs_are_skipped_and_counted_unless_allowed() {
    let mut w = World::new(EVERY_2S, MONDAY_8);
    w.handle(Event::DepsReady(0));
    w.run_for(10_000); // fire times :02 :04 :06 :08 :10
    assert_eq!(w.starts().len(), 1);
    assert_eq!(w.s.stats(0).skips, 4);
    assert_eq!(w.s.trigger(0, w.wall), Err(TriggerError::Busy));
    let yaml = "processes:\n  tick:\n    command: [true]\n    schedule: '*/2 * * * * *'\n    schedule_max_concurrent: 2\n";
    let mut w = World::new(yaml, MONDAY_8);
    w.handle(Event::DepsReady(0));
    w.run_for(10_000);
    assert_eq!(w.starts().len(), 2);
    assert_eq!(w.s.stats(0).skips, 3);
}

#[test]
fn a_clock_set_forward_runs_once_not_once_per_missed_time() {
    let mut w = World::new(
        "processes:\n  m:\n    command: [true]\n    schedule: '* * * * *'\n",
        MONDAY_8 + 30_000,
    );
    w.handle(Event::DepsReady(0));
    w.actions();
    // The wall clock jumps a day ahead; the monotonic clock barely moves.
    w.now += 5;
    w.wall += 86_400_000;
    w.handle(Event::ClockChanged);
    assert_eq!(w.starts().len(), 1, "1440 missed minutes make one run");
    // The next run is the next minute of the new time, not a minute after the old one.
    let v = w.s.view(0);
    assert_eq!(
        v.next_run_unix,
        Some((MONDAY_8 + 86_400_000 + 60_000) as f64 / 1000.0)
    );
    assert_eq!(w.s.next_deadline(), Some(w.now + 30_000));
}

#[test]
fn a_clock_set_back_moves_the_next_run_back() {
    let mut w = World::new(
        "processes:\n  m:\n    command: [true]\n    schedule: '*/5 * * * *'\n",
        MONDAY_8 + 60_000,
    );
    w.handle(Event::DepsReady(0));
    assert_eq!(w.s.next_deadline(), Some(w.now + 240_000)); // 08:05
    w.now += 1_000;
    w.wall += 1_000 - 3_600_000; // 07:01:01
    w.handle(Event::ClockChanged);
    assert!(w.starts().is_empty());
    // 07:05, four minutes away: no hour-long stall until 08:05 comes round again.
    assert_eq!(w.s.next_deadline(), Some(w.now + 239_000));
    // Without a clock notification the deadline itself finds the wall clock behind.
    let mut w = World::new(
        "processes:\n  m:\n    command: [true]\n    schedule: '*/5 * * * *'\n",
        MONDAY_8 + 60_000,
    );
    w.handle(Event::DepsReady(0));
    w.now += 240_000;
    w.wall += 240_000 - 3_600_000;
    w.s.handle_timeout(w.now, w.wall);
    assert!(
        w.starts().is_empty(),
        "08:05 has not come on the wall clock"
    );
    assert!(w.s.next_deadline().unwrap() - w.now <= 300_000);
}

#[test]
fn shutdown_stops_runs_and_starts_nothing() {
    let mut w = World::new(EVERY_2S, MONDAY_8);
    w.handle(Event::DepsReady(0));
    w.advance(2_000);
    assert_eq!(w.starts().len(), 1);
    w.handle(Event::Shutdown);
    let stops: Vec<Action> = w
        .actions()
        .into_iter()
        .filter(|a| !matches!(a, Action::Log(_)))
        .collect();
    assert_eq!(stops, [Action::Stop { task: 0, run: 1 }]);
    assert_eq!(w.s.next_deadline(), None);
    w.run_for(10_000);
    assert!(w.starts().is_empty());
    assert_eq!(w.s.trigger(0, w.wall), Err(TriggerError::ShuttingDown));
    w.finish(1, 143);
    assert_eq!(w.s.running(), 0);
    assert_eq!(w.s.state(0), "stopped");
}

#[test]
fn pause_resume_and_manual_trigger() {
    let mut w = World::new(EVERY_2S, MONDAY_8);
    assert_eq!(w.s.trigger(0, w.wall), Err(TriggerError::NotReady));
    assert!(TriggerError::NotReady.as_str().contains("dependencies"));
    w.handle(Event::DepsReady(0));
    assert!(w.s.pause(0));
    assert!(!w.s.pause(0));
    w.run_for(10_000);
    assert!(w.starts().is_empty());
    assert_eq!(w.s.stats(0).skips, 0, "paused fire times are not skips");
    assert_eq!(w.s.state(0), "paused");
    // A manual trigger runs even while paused.
    assert_eq!(w.s.trigger(0, w.wall), Ok(1));
    w.finish(1, 0);
    assert!(w.s.resume(0));
    w.run_for(2_000);
    assert_eq!(w.starts().len(), 2);
}

#[test]
fn outcomes_make_the_statistics() {
    let mut w = World::new(EVERY_2S, MONDAY_8);
    w.handle(Event::DepsReady(0));
    w.advance(2_000);
    w.finish(1, 0);
    w.advance(2_000);
    w.finish(2, 3);
    w.advance(2_000);
    w.handle(Event::Finished {
        task: 0,
        run: 3,
        outcome: Outcome::Exited {
            status: ExitStatus::Signal(15),
            timed_out: true,
        },
        duration_ms: 1_500,
    });
    w.advance(2_000);
    w.handle(Event::Finished {
        task: 0,
        run: 4,
        outcome: Outcome::SpawnFailed("nope: No such file or directory".into()),
        duration_ms: 0,
    });
    let s = w.s.stats(0).clone();
    assert_eq!((s.runs, s.successes, s.failures, s.timeouts), (4, 1, 3, 1));
    assert_eq!(s.last_exit_code, None);
    assert_eq!(s.last_run_unix_ms, Some(MONDAY_8 + 8_000));
    let finished: Vec<(Level, String)> = w
        .actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Log(n) if n.event == "task_finished" => Some((n.level, n.msg)),
            _ => None,
        })
        .collect();
    assert_eq!(finished[0], (Level::Info, "run 1 succeeded".to_owned()));
    assert_eq!(
        finished[1],
        (Level::Warn, "run 2 failed with exit code 3".to_owned())
    );
    assert!(finished[2].1.contains("schedule_timeout"));
    assert_eq!(finished[3].0, Level::Error);
    // A run that is not (or no longer) going is ignored.
    w.finish(99, 0);
    assert_eq!(w.s.stats(0).runs, 4);
}

#[cfg(feature = "heartbeat")]
#[test]
fn heartbeat_pings_frame_each_run() {
    let yaml = "processes:\n  hb:\n    command: [true]\n    schedule: '*/2 * * * * *'\n    heartbeat:\n      url: http://127.0.0.1:1/p\n";
    let mut w = World::new(yaml, MONDAY_8);
    w.handle(Event::DepsReady(0));
    w.advance(2_000);
    w.finish(1, 0);
    w.advance(2_000);
    w.finish(2, 7);
    let pings: Vec<(u64, Ping)> = w
        .actions()
        .into_iter()
        .filter_map(|a| match a {
            Action::Ping { run, ping, .. } => Some((run, ping)),
            _ => None,
        })
        .collect();
    assert_eq!(
        pings,
        [
            (1, Ping::Start),
            (1, Ping::Success),
            (2, Ping::Start),
            (2, Ping::Fail(Some(7)))
        ]
    );
}

#[test]
fn weekly_task_in_a_named_zone() {
    // Mondays 08:00 in New York: 13:00 UTC in winter.
    let yaml = "processes:\n  r:\n    command: [true]\n    schedule: '0 8 * * 1'\n    schedule_timezone: America/New_York\n";
    let mut w = World::new(yaml, MONDAY_8);
    w.handle(Event::DepsReady(0));
    let next = w.s.view(0).next_run_unix.unwrap() as i64 * 1000;
    assert_eq!(next, MONDAY_8 + 5 * 3_600_000);
    assert_eq!(iso(next), "2026-11-30T13:00:00Z");
}
