//! The probe schedule and thresholds, driven with a fake clock.

use super::*;
use crate::config::model::{HealthMode, ProbeKind};

fn spec(mode: HealthMode, failure_threshold: u32, success_threshold: u32) -> HealthSpec {
    HealthSpec {
        probe: ProbeKind::Tcp {
            host: "127.0.0.1".into(),
            port: 9000,
        },
        initial_delay: 1_000,
        start_period: 0,
        period: 1_000,
        timeout: 500,
        failure_threshold,
        success_threshold,
        mode,
    }
}

/// Drains the actions, returning the probes started and everything else.
fn drain(h: &mut Health) -> (Vec<ProbeId>, Vec<Action>) {
    let (mut probes, mut other) = (Vec::new(), Vec::new());
    while let Some(a) = h.poll_action() {
        match a {
            Action::Probe { probe, .. } => probes.push(probe),
            a => other.push(a),
        }
    }
    (probes, other)
}

fn non_log(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Log(_)))
        .cloned()
        .collect()
}

/// Runs one probe at `t` with `outcome`; returns the non-probe actions.
fn probe_at(h: &mut Health, t: Millis, outcome: Result<(), String>) -> Vec<Action> {
    assert_eq!(h.next_deadline(), Some(t), "next probe time");
    h.handle_timeout(t);
    let (probes, mut other) = drain(h);
    assert_eq!(probes.len(), 1, "one probe at {t}");
    h.result(0, probes[0], outcome, t + 10);
    other.extend(drain(h).1);
    other
}

fn fail() -> Result<(), String> {
    Err("connection refused".into())
}

#[test]
fn first_probe_after_initial_delay_then_every_period() {
    let mut h = Health::from_specs(vec![Some(spec(HealthMode::Both, 3, 1))]);
    h.started(0, 0, 0);
    h.handle_timeout(999);
    assert!(drain(&mut h).0.is_empty(), "no probe before initial_delay");
    let a = probe_at(&mut h, 1_000, Ok(()));
    assert_eq!(non_log(&a), [Action::Ready(0)]);
    // Start to start: the next one a period after the first started.
    let a = probe_at(&mut h, 2_000, Ok(()));
    assert!(a.is_empty(), "no log or report without a transition: {a:?}");
}

#[test]
fn failures_below_the_threshold_are_not_ready_and_do_not_restart() {
    let mut h = Health::from_specs(vec![Some(spec(HealthMode::Both, 3, 1))]);
    h.started(0, 0, 0);
    assert!(probe_at(&mut h, 1_000, fail()).is_empty());
    assert!(probe_at(&mut h, 2_000, fail()).is_empty());
    assert!(!h.is_ready(0));
    assert_eq!(h.view(0).unwrap().status, "unknown");
    assert_eq!(h.view(0).unwrap().consecutive_failures, 2);
    let a = probe_at(&mut h, 3_000, Ok(()));
    assert_eq!(non_log(&a), [Action::Ready(0)]);
    assert_eq!(h.view(0).unwrap().status, "healthy");
    assert_eq!(h.view(0).unwrap().consecutive_failures, 0);
}

#[test]
fn liveness_failures_restart_once_and_pause_probing() {
    let mut h = Health::from_specs(vec![Some(spec(HealthMode::Both, 3, 1))]);
    h.started(0, 0, 0);
    probe_at(&mut h, 1_000, Ok(()));
    probe_at(&mut h, 2_000, fail());
    probe_at(&mut h, 3_000, fail());
    let a = probe_at(&mut h, 4_000, fail());
    assert_eq!(non_log(&a), [Action::NotReady(0), Action::Restart(0)]);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Log(n) if n.event == "health" && n.level == Level::Warn))
    );
    assert_eq!(
        h.next_deadline(),
        None,
        "probing paused until it runs again"
    );
    h.stopped(0);
    h.started(0, 0, 10_000);
    assert_eq!(h.view(0).unwrap().status, "unknown");
    assert_eq!(h.next_deadline(), Some(11_000));
}

#[test]
fn readiness_only_never_restarts_and_recovers() {
    let mut h = Health::from_specs(vec![Some(spec(HealthMode::Readiness, 2, 2))]);
    h.started(0, 0, 0);
    probe_at(&mut h, 1_000, Ok(()));
    let a = probe_at(&mut h, 2_000, Ok(()));
    assert_eq!(
        non_log(&a),
        [Action::Ready(0)],
        "after success_threshold passes"
    );
    probe_at(&mut h, 3_000, fail());
    let a = probe_at(&mut h, 4_000, fail());
    assert_eq!(non_log(&a), [Action::NotReady(0)]);
    // Still probed; recovers after two passes.
    assert!(probe_at(&mut h, 5_000, Ok(())).is_empty());
    let a = probe_at(&mut h, 6_000, Ok(()));
    assert_eq!(non_log(&a), [Action::Ready(0)]);
}

#[test]
fn liveness_only_does_not_gate_readiness() {
    let mut h = Health::from_specs(vec![Some(spec(HealthMode::Liveness, 1, 1))]);
    h.started(0, 0, 0);
    assert!(non_log(&probe_at(&mut h, 1_000, Ok(()))).is_empty());
    assert_eq!(
        non_log(&probe_at(&mut h, 2_000, fail())),
        [Action::Restart(0)]
    );
}

#[test]
fn a_probe_past_its_timeout_is_aborted_and_counted_and_never_overlaps() {
    let mut h = Health::from_specs(vec![Some(spec(HealthMode::Both, 1, 1)), None]);
    h.started(0, 0, 0);
    h.started(1, 1, 0); // no check: ignored
    h.handle_timeout(1_000);
    let (probes, _) = drain(&mut h);
    assert_eq!(probes.len(), 1);
    // Nothing new while it is in flight.
    h.handle_timeout(1_200);
    assert!(drain(&mut h).0.is_empty());
    assert_eq!(h.next_deadline(), Some(1_500));
    h.handle_timeout(1_500);
    let (_, a) = drain(&mut h);
    assert_eq!(
        non_log(&a),
        [
            Action::Abort {
                inst: 0,
                probe: probes[0]
            },
            Action::Restart(0)
        ]
    );
    assert_eq!(
        h.view(0).unwrap().last_error.as_deref(),
        Some("timed out after 500 ms")
    );
    // The late result of the aborted probe changes nothing.
    h.result(0, probes[0], Ok(()), 1_600);
    assert_eq!(h.view(0).unwrap().status, "unhealthy");
    assert!(drain(&mut h).1.is_empty());
}

#[test]
fn stopping_aborts_the_probe_in_flight() {
    let mut h = Health::from_specs(vec![Some(spec(HealthMode::Both, 3, 1))]);
    h.started(0, 0, 0);
    h.handle_timeout(1_000);
    let (probes, _) = drain(&mut h);
    h.stopped(0);
    assert_eq!(
        drain(&mut h).1,
        [Action::Abort {
            inst: 0,
            probe: probes[0]
        }]
    );
    assert_eq!(h.next_deadline(), None);
}

#[test]
fn failures_within_the_start_period_do_not_count_until_the_first_pass() {
    // The case: the port opens after 8 s; period 1 s, 2 failures allowed.
    let mut s = spec(HealthMode::Both, 2, 1);
    s.initial_delay = 5_000;
    s.start_period = 30_000;
    let mut h = Health::from_specs(vec![Some(s)]);
    h.started(0, 0, 0);
    for t in [5_000, 6_000, 7_000] {
        assert!(probe_at(&mut h, t, fail()).is_empty(), "no report at {t}");
        assert!(!h.is_ready(0), "not ready while booting");
        assert_eq!(h.view(0).unwrap().status, "unknown");
        assert_eq!(h.view(0).unwrap().consecutive_failures, 0);
    }
    assert_eq!(
        h.view(0).unwrap().last_error.as_deref(),
        Some("connection refused")
    );
    let a = probe_at(&mut h, 8_000, Ok(()));
    assert_eq!(non_log(&a), [Action::Ready(0)]);
    // After the first pass the grace is over, even inside the period.
    assert!(probe_at(&mut h, 9_000, fail()).is_empty());
    let a = probe_at(&mut h, 10_000, fail());
    assert_eq!(non_log(&a), [Action::NotReady(0), Action::Restart(0)]);
}

#[test]
fn failures_after_the_start_period_count_without_a_pass() {
    let mut s = spec(HealthMode::Both, 2, 1);
    s.start_period = 2_500;
    let mut h = Health::from_specs(vec![Some(s)]);
    h.started(0, 0, 0);
    assert!(probe_at(&mut h, 1_000, fail()).is_empty());
    assert!(probe_at(&mut h, 2_000, fail()).is_empty());
    assert!(
        probe_at(&mut h, 3_000, fail()).is_empty(),
        "first that counts"
    );
    let a = probe_at(&mut h, 4_000, fail());
    assert_eq!(non_log(&a), [Action::Restart(0)]);
    // A restart starts a new grace period.
    h.stopped(0);
    h.started(0, 0, 10_000);
    for t in [11_000, 12_000] {
        assert!(probe_at(&mut h, t, fail()).is_empty(), "grace again at {t}");
    }
}
