//! Hook sequences driven with a fake clock: order, retries with delays, continue_on_error,
//! cancellation, counters.

use super::*;

fn hook(name: &str, retry: u32, retry_delay: u64, continue_on_error: bool) -> HookSpec {
    HookSpec {
        name: name.to_owned(),
        command: vec!["true".to_owned()],
        timeout: 1_000,
        retry,
        retry_delay,
        continue_on_error,
        env: Vec::new(),
        working_dir: None,
        credentials: None,
    }
}

fn exit(code: i32) -> RunResult {
    RunResult {
        status: Some(ExitStatus::Code(code)),
        duration_ms: 200,
        tail: vec!["line one".into(), "last line".into()],
        ..RunResult::default()
    }
}

/// Drains the actions: the runs started (hook name, run), and the outcomes.
fn drain(h: &mut Hooks) -> (Vec<(String, RunId)>, Vec<Outcome>, Vec<Note>) {
    let (mut runs, mut done, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(a) = h.poll_action() {
        match a {
            Action::Run { hook, run, .. } => runs.push((hook.name, run)),
            Action::Done { outcome, .. } => done.push(outcome),
            Action::Log(n) => notes.push(n),
            Action::Stop(_) => {}
        }
    }
    (runs, done, notes)
}

const PRE: Owner = Owner::Global(HookPhase::PreStart);

#[test]
fn hooks_run_in_order_one_at_a_time() {
    let mut h = Hooks::default();
    h.start(
        PRE,
        &[hook("a", 0, 0, false), hook("b", 0, 0, false)],
        None,
        0,
    );
    let (runs, done, _) = drain(&mut h);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, "a");
    assert!(done.is_empty());
    h.finished(runs[0].1, &exit(0), 10);
    let (runs, _, _) = drain(&mut h);
    assert_eq!(runs[0].0, "b");
    h.finished(runs[0].1, &exit(0), 20);
    assert_eq!(drain(&mut h).1, [Outcome::Ok]);
    assert!(!h.busy());
    let v = h.views();
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].success, v[0].phase), (1, "pre_start"));
    // 0.2 s lands in the 0.5 s bucket and every one above it.
    assert_eq!(v[0].duration_buckets[0], (0.1, 0));
    assert_eq!(v[0].duration_buckets[1], (0.5, 1));
    assert_eq!(v[0].duration_buckets[7], (120.0, 1));
}

#[test]
fn retries_wait_retry_delay_then_pass() {
    let mut h = Hooks::default();
    h.start(PRE, &[hook("flaky", 2, 500, false)], None, 0);
    for attempt in 0..2 {
        let (runs, _, notes) = drain(&mut h);
        assert_eq!(runs.len(), 1, "attempt {attempt}");
        let t = 1_000 * (attempt + 1);
        h.finished(runs[0].1, &exit(1), t);
        let (runs, done, notes2) = drain(&mut h);
        assert!(runs.is_empty() && done.is_empty());
        assert!(notes.iter().chain(&notes2).any(|n| n.event == "hook_retry"));
        assert_eq!(h.next_deadline(), Some(t + 500));
        h.handle_timeout(t + 499);
        assert!(drain(&mut h).0.is_empty(), "not before retry_delay");
        h.handle_timeout(t + 500);
    }
    let (runs, _, _) = drain(&mut h);
    h.finished(runs[0].1, &exit(0), 5_000);
    assert_eq!(drain(&mut h).1, [Outcome::Ok]);
    let v = h.views();
    assert_eq!((v[0].success, v[0].failure), (1, 2));
}

#[test]
fn a_pre_start_failure_stops_the_sequence_and_names_the_hook() {
    let mut h = Hooks::default();
    h.start(
        PRE,
        &[hook("migrate", 1, 0, false), hook("never", 0, 0, false)],
        None,
        0,
    );
    for _ in 0..2 {
        let (runs, _, _) = drain(&mut h);
        h.finished(runs[0].1, &exit(3), 0);
    }
    let (runs, done, notes) = drain(&mut h);
    assert!(runs.is_empty(), "the next hook does not run");
    assert_eq!(
        done,
        [Outcome::Failed {
            hook: "migrate".into(),
            reason: "exit code 3".into()
        }]
    );
    let failed = notes.iter().find(|n| n.event == "hook_failed").unwrap();
    assert_eq!(failed.level, Level::Error);
    assert!(failed.msg.contains("migrate") && failed.msg.contains("exit code 3"));
    assert!(
        failed
            .fields
            .iter()
            .any(|(k, v)| *k == "output" && *v == Field::Str("line one\nlast line".into()))
    );
}

#[test]
fn continue_on_error_and_other_phases_go_on() {
    let mut h = Hooks::default();
    h.start(
        PRE,
        &[hook("optional", 0, 0, true), hook("next", 0, 0, false)],
        None,
        0,
    );
    let (runs, _, _) = drain(&mut h);
    h.finished(runs[0].1, &exit(1), 0);
    let (runs, done, _) = drain(&mut h);
    assert_eq!(runs[0].0, "next");
    assert!(done.is_empty());
    h.finished(runs[0].1, &exit(0), 0);
    assert_eq!(drain(&mut h).1, [Outcome::Ok]);

    // A pre-stop failure is a warning; the following hook still runs.
    let owner = Owner::Global(HookPhase::PreStop);
    h.start(
        owner,
        &[hook("x", 0, 0, false), hook("y", 0, 0, false)],
        None,
        0,
    );
    let (runs, _, _) = drain(&mut h);
    h.finished(runs[0].1, &exit(1), 0);
    let (runs, _, notes) = drain(&mut h);
    assert_eq!(runs[0].0, "y");
    assert!(
        notes
            .iter()
            .any(|n| n.event == "hook_failed" && n.level == Level::Warn)
    );
}

#[test]
fn timeouts_are_counted_apart_and_cancel_stops_the_running_hook() {
    let mut h = Hooks::default();
    let seq = h.start(PRE, &[hook("slow", 3, 0, false)], None, 0);
    let (runs, _, _) = drain(&mut h);
    let timed_out = RunResult {
        status: Some(ExitStatus::Signal(9)),
        timed_out: true,
        duration_ms: 1_000,
        ..RunResult::default()
    };
    h.finished(runs[0].1, &timed_out, 1_000);
    let (runs, _, _) = drain(&mut h);
    assert_eq!(runs.len(), 1, "retried at once");
    h.cancel(seq);
    let mut stopped = Vec::new();
    while let Some(a) = h.poll_action() {
        if let Action::Stop(r) = a {
            stopped.push(r);
        }
    }
    assert_eq!(stopped, [runs[0].1]);
    h.finished(runs[0].1, &exit(143), 1_500);
    assert_eq!(drain(&mut h).1, [Outcome::Cancelled]);
    assert_eq!(h.views()[0].timeout, 1);
    assert!(!h.busy());
}

#[test]
fn an_empty_list_is_done_at_once() {
    let mut h = Hooks::default();
    h.start(Owner::Global(HookPhase::PostStop), &[], None, 0);
    assert_eq!(drain(&mut h).1, [Outcome::Ok]);
}
