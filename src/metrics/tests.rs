use super::*;
use crate::status::{
    HealthView, InstanceView, ManagerView, OwnView, ProcessView, TaskView, UsageView,
};

fn snap() -> Snapshot {
    Snapshot {
        manager: ManagerView {
            version: "0.1.0",
            pid: 1,
            start_time_unix: 1_795_694_400.5,
            shutting_down: false,
            framework: None,
            autotune: None,
            own: Some(OwnView {
                cpu_seconds: 0.25,
                rss_bytes: 4_194_304,
                vsize_bytes: 8_388_608,
                open_fds: 9,
                max_fds: 1024,
                threads: 1,
            }),
        },
        processes: vec![ProcessView {
            name: "queue \"default\"\\\n".into(),
            kind: "longrun",
            state: "ready",
            desired_scale: 2,
            restarts_by_reason: vec![("exit", 3), ("health_check", 1), ("manual", 0)],
            instances: vec![
                InstanceView {
                    id: "q-0".into(),
                    state: "ready",
                    pid: Some(42),
                    started_at_unix: Some(1_795_694_401.25),
                    restart_count: 4,
                    last_exit_code: Some(137),
                    ready: true,
                    health: Some(HealthView {
                        status: "healthy",
                        kind: "tcp",
                        consecutive_successes: 5,
                        consecutive_failures: 0,
                        last_error: None,
                        last_duration_ms: Some(3),
                    }),
                    usage: Some(UsageView {
                        cpu_seconds: 1.5,
                        rss_bytes: 83_886_080,
                        processes: 2,
                    }),
                    pools: vec![crate::status::PoolView {
                        pool: "www".into(),
                        up: true,
                        active_processes: 2,
                        total_processes: 2,
                        listen_queue: 1,
                        ..Default::default()
                    }],
                },
                InstanceView {
                    id: "q-1".into(),
                    state: "backoff",
                    pid: None,
                    started_at_unix: None,
                    restart_count: 0,
                    last_exit_code: None,
                    ready: false,
                    health: None,
                    usage: None,
                    pools: Vec::new(),
                },
            ],
        }],
        hooks: vec![HookView {
            name: "migrate".into(),
            phase: "pre-start",
            process: None,
            success: 2,
            failure: 1,
            timeout: 0,
            duration_sum_s: 3.5,
            duration_buckets: vec![(0.1, 0), (1.0, 1), (5.0, 3)],
        }],
        tasks: vec![TaskView {
            name: "backup".into(),
            schedule: "0 2 * * *".into(),
            paused: false,
            running: 1,
            runs: 5,
            successes: 3,
            failures: 1,
            skips: 1,
            last_exit_code: Some(1),
            last_run_unix: Some(1_795_694_000.0),
            next_run_unix: Some(1_795_780_800.0),
            last_duration_s: Some(12.25),
        }],
    }
}

fn text(s: &Snapshot) -> String {
    let mut out = Vec::new();
    render(s, &mut out);
    String::from_utf8(out).unwrap()
}

/// A small checker of the text format rules promtool enforces: every sample belongs to the
/// family announced by the preceding HELP/TYPE lines, families appear once, counters end in
/// `_total`, histogram buckets are cumulative and end at `+Inf` = `_count`.
fn check_format(t: &str) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut current: Option<(String, String)> = None;
    let mut families = Vec::new();
    let mut help_for = None;
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            assert!(seen.insert(name.clone()), "family {name} twice");
            help_for = Some(name);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert_eq!(help_for.as_deref(), Some(name), "TYPE without HELP: {line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name}");
            }
            current = Some((name.to_owned(), kind.to_owned()));
            families.push((name.to_owned(), kind.to_owned()));
        } else {
            let (fam, kind) = current.clone().expect("sample before TYPE");
            let metric = line.split(['{', ' ']).next().unwrap();
            let ok = if kind == "histogram" {
                [
                    format!("{fam}_bucket"),
                    format!("{fam}_sum"),
                    format!("{fam}_count"),
                ]
                .contains(&metric.to_owned())
            } else {
                metric == fam
            };
            assert!(ok, "sample {line} outside its family {fam}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(
                value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
                "bad value in {line}"
            );
        }
    }
    families
}

#[test]
fn renders_every_family_with_types() {
    let t = text(&snap());
    let fams = check_format(&t);
    let kind = |n: &str| fams.iter().find(|(f, _)| f == n).map(|(_, k)| k.as_str());
    for (n, k) in [
        ("phpeek_pm_build_info", "gauge"),
        ("phpeek_pm_process_up", "gauge"),
        ("phpeek_pm_process_restarts_total", "counter"),
        ("phpeek_pm_process_last_exit_code", "gauge"),
        ("phpeek_pm_process_desired_scale", "gauge"),
        ("phpeek_pm_process_current_scale", "gauge"),
        ("phpeek_pm_health_check_status", "gauge"),
        ("phpeek_pm_health_check_duration_seconds", "gauge"),
        ("phpeek_pm_hook_executions_total", "counter"),
        ("phpeek_pm_hook_duration_seconds", "histogram"),
        ("phpeek_pm_manager_processes", "gauge"),
        ("phpeek_pm_manager_start_time_seconds", "gauge"),
        ("phpeek_pm_scheduled_task_last_run_timestamp", "gauge"),
        ("phpeek_pm_scheduled_task_next_run_timestamp", "gauge"),
        ("phpeek_pm_scheduled_task_last_exit_code", "gauge"),
        ("phpeek_pm_scheduled_task_duration_seconds", "gauge"),
        ("phpeek_pm_scheduled_task_total", "counter"),
        ("phpeek_pm_process_cpu_seconds_total", "counter"),
        ("phpeek_pm_process_memory_bytes", "gauge"),
        ("phpeek_pm_process_group_processes", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_eq!(kind(n), Some(k), "{n} in\n{t}");
    }
    assert!(t.contains("phpeek_pm_process_memory_bytes{name=\"queue \\\"default\\\"\\\\\\n\",instance=\"q-0\"} 83886080\n"), "{t}");
    assert!(t.contains("\nprocess_cpu_seconds_total 0.25\n"), "{t}");
}

#[test]
fn values_follow_the_snapshot_and_labels_are_escaped() {
    let t = text(&snap());
    let name = r#"queue \"default\"\\\n"#;
    for line in [
        format!("phpeek_pm_process_up{{name=\"{name}\",instance=\"q-0\"}} 1"),
        format!("phpeek_pm_process_up{{name=\"{name}\",instance=\"q-1\"}} 0"),
        format!("phpeek_pm_process_ready{{name=\"{name}\",instance=\"q-0\"}} 1"),
        format!(
            "phpeek_pm_process_start_time_seconds{{name=\"{name}\",instance=\"q-0\"}} 1795694401.25"
        ),
        format!("phpeek_pm_process_last_exit_code{{name=\"{name}\",instance=\"q-0\"}} 137"),
        format!("phpeek_pm_process_restarts_total{{name=\"{name}\",reason=\"exit\"}} 3"),
        format!("phpeek_pm_process_restarts_total{{name=\"{name}\",reason=\"health_check\"}} 1"),
        format!("phpeek_pm_process_desired_scale{{name=\"{name}\"}} 2"),
        format!("phpeek_pm_process_current_scale{{name=\"{name}\"}} 1"),
        format!("phpeek_pm_health_check_status{{name=\"{name}\",instance=\"q-0\",type=\"tcp\"}} 1"),
        format!(
            "phpeek_pm_health_check_duration_seconds{{name=\"{name}\",instance=\"q-0\",type=\"tcp\"}} 0.003"
        ),
        "phpeek_pm_manager_start_time_seconds 1795694400.5".to_owned(),
        "phpeek_pm_manager_processes 2".to_owned(),
        "phpeek_pm_build_info{version=\"0.1.0\"} 1".to_owned(),
        "phpeek_pm_hook_executions_total{name=\"migrate\",type=\"pre-start\",status=\"failure\"} 1"
            .to_owned(),
        "phpeek_pm_hook_duration_seconds_bucket{name=\"migrate\",type=\"pre-start\",le=\"0.1\"} 0"
            .to_owned(),
        "phpeek_pm_hook_duration_seconds_bucket{name=\"migrate\",type=\"pre-start\",le=\"5\"} 3"
            .to_owned(),
        "phpeek_pm_hook_duration_seconds_bucket{name=\"migrate\",type=\"pre-start\",le=\"+Inf\"} 3"
            .to_owned(),
        "phpeek_pm_hook_duration_seconds_sum{name=\"migrate\",type=\"pre-start\"} 3.5".to_owned(),
        "phpeek_pm_hook_duration_seconds_count{name=\"migrate\",type=\"pre-start\"} 3".to_owned(),
        "phpeek_pm_scheduled_task_total{name=\"backup\",status=\"skipped\"} 1".to_owned(),
        "phpeek_pm_scheduled_task_duration_seconds{name=\"backup\"} 12.25".to_owned(),
        "phpeek_pm_scheduled_task_next_run_timestamp{name=\"backup\"} 1795780800".to_owned(),
    ] {
        assert!(t.lines().any(|l| l == line), "missing {line} in\n{t}");
    }
    // A raw newline in a label value would split the sample line.
    assert!(!t.contains("default\"\\\n\""));
}

#[test]
fn feature_series_appear_only_when_present() {
    let mut s = snap();
    s.hooks.clear();
    s.tasks.clear();
    for p in &mut s.processes {
        for i in &mut p.instances {
            i.health = None;
        }
    }
    let t = text(&s);
    check_format(&t);
    assert!(!t.contains("phpeek_pm_hook_"));
    assert!(!t.contains("phpeek_pm_scheduled_task_"));
    assert!(!t.contains("phpeek_pm_health_check_"));
    assert!(t.contains("phpeek_pm_process_up{"));
}

#[test]
fn routes_path_and_method() {
    let req = |m, p: &str| Request {
        method: m,
        path: p.into(),
        query: String::new(),
        authorization: None,
        forwarded_for: None,
        body: Vec::new(),
        keep_alive: true,
    };
    let body = || text(&snap()).into_bytes();
    let r = handle(&req(Method::Get, "/metrics"), "/metrics", body);
    assert_eq!((r.status, r.content_type), (200, PROMETHEUS));
    assert!(r.body.starts_with(b"# HELP phpeek_pm_build_info"));
    assert_eq!(
        handle(&req(Method::Get, "/nope"), "/metrics", body).status,
        404
    );
    assert_eq!(
        handle(&req(Method::Post, "/metrics"), "/metrics", body).status,
        405
    );
}

#[test]
fn values_format() {
    let v = |x: f64| {
        let mut b = Vec::new();
        push_value(&mut b, x);
        String::from_utf8(b).unwrap()
    };
    assert_eq!(v(0.0), "0");
    assert_eq!(v(-1.0), "-1");
    assert_eq!(v(0.25), "0.25");
    assert_eq!(v(f64::INFINITY), "+Inf");
    assert_eq!(v(f64::NAN), "NaN");
    assert_eq!(v(1e300), "1e300");
    assert_eq!(v(1.5e-9), "1.5e-9");
}
