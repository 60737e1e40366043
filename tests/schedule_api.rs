//! Scheduled tasks through the management API and `/metrics` (issue 10, features `scheduler`,
//! `api`, `metrics`): `GET …/schedule` shows the statistics the log reports and the next run
//! time the log announced; `/pause` stops runs on schedule, `/trigger` starts one at once (even
//! while paused), `/resume` brings the schedule back; the five `phpeek_pm_scheduled_task_*`
//! series agree with the runs that happened; process commands on a task are refused.
#![cfg(all(feature = "scheduler", feature = "api", feature = "metrics"))]

mod http_support;
mod support;

use http_support::*;
use support::*;

fn count(m: &mut Manager, event: &str, process: &str) -> usize {
    m.find(|r| r.event() == Some(event) && r.process() == Some(process))
        .len()
}

/// The value of a metric sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
}

#[test]
fn schedule_routes_and_metrics_agree_with_the_runs() {
    let dir = TestDir::new("sched-api");
    let cfg = format!(
        r#"global:
  api_enabled: true
  api_port: 0
  metrics_enabled: true
  metrics_port: 0
processes:
  web:
    command: ["sleep", "600"]
  tick:
    command: {tick}
    schedule: "*/2 * * * * *"
  report:
    command: ["true"]
    schedule: "0 8 * * 1"
"#,
        tick = sh("n=${PHPEEK_PM_INSTANCE_ID##*-}; exit $((n % 2))"),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let api = listen_addr(&mut m, "API");
    let metrics = listen_addr(&mut m, "metrics endpoint");
    let url = |p: &str| format!("http://{api}/api/v1/processes/{p}");
    m.wait_count(3, secs(15.0), "three finished runs", |r| {
        r.event() == Some("task_finished") && r.process() == Some("tick")
    });

    // Pause, and let the run going (if any) end.
    let r = curl(&["-X", "POST", &url("tick/schedule/pause")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "paused");
    let api_doc = openapi();
    conforms(
        &api_doc,
        "post",
        "/api/v1/processes/{name}/schedule/pause",
        200,
        &r.json(),
    );
    let doc = poll_until(secs(5.0), "no run going", || {
        let d = curl(&[&url("tick/schedule")]).json();
        (d["schedule"]["running"] == 0).then_some(d)
    });
    conforms(
        &api_doc,
        "get",
        "/api/v1/processes/{name}/schedule",
        200,
        &doc,
    );
    let s = &doc["schedule"];
    assert_eq!(s["paused"], true);
    assert_eq!(s["expression"], "*/2 * * * * *");
    let started = count(&mut m, "task_started", "tick");
    let finished = m.find(|r| r.event() == Some("task_finished") && r.process() == Some("tick"));
    assert_eq!(s["runs"].as_u64(), Some(started as u64));
    assert_eq!(s["runs"].as_u64(), Some(finished.len() as u64));
    let ok = finished
        .iter()
        .filter(|r| r.s("success") == Some("true"))
        .count() as u64;
    assert_eq!(s["successes"].as_u64(), Some(ok));
    assert_eq!(s["failures"].as_u64(), Some(finished.len() as u64 - ok));
    let last = finished.last().unwrap();
    assert_eq!(
        s["last_exit_code"].as_i64(),
        last.get("exit_code").and_then(|v| v.as_i64())
    );
    // The same numbers in /metrics.
    let text = curl(&[&format!("http://{metrics}/metrics")]).body;
    let name = "{name=\"tick\"";
    assert_eq!(
        sample(
            &text,
            &format!("phpeek_pm_scheduled_task_total{name},status=\"success\"}}")
        ),
        ok as f64
    );
    assert_eq!(
        sample(
            &text,
            &format!("phpeek_pm_scheduled_task_total{name},status=\"failure\"}}")
        ),
        (finished.len() as u64 - ok) as f64
    );
    assert_eq!(
        sample(
            &text,
            &format!("phpeek_pm_scheduled_task_last_exit_code{name}}}")
        ),
        s["last_exit_code"].as_f64().unwrap()
    );
    let last_run = sample(
        &text,
        &format!("phpeek_pm_scheduled_task_last_run_timestamp{name}}}"),
    );
    assert!((last_run - s["last_run"].as_f64().unwrap()).abs() < 0.01);
    sample(
        &text,
        &format!("phpeek_pm_scheduled_task_next_run_timestamp{name}}}"),
    );
    sample(
        &text,
        &format!("phpeek_pm_scheduled_task_duration_seconds{name}}}"),
    );

    // Paused: two fire times pass without a run.
    let t0 = std::time::Instant::now();
    while t0.elapsed() < secs(4.2) {
        assert_eq!(
            count(&mut m, "task_started", "tick"),
            started,
            "a run while paused"
        );
        std::thread::sleep(secs(0.1));
    }
    // A manual trigger runs even while paused.
    let r = curl(&["-X", "POST", &url("tick/schedule/trigger")]);
    assert_eq!(r.status, 202, "{}", r.body);
    conforms(
        &api_doc,
        "post",
        "/api/v1/processes/{name}/schedule/trigger",
        202,
        &r.json(),
    );
    let run = r.json()["run"].as_u64().unwrap();
    assert_eq!(run, started as u64 + 1);
    let manual = m.wait_for(secs(5.0), "the triggered run", |r| {
        r.event() == Some("task_started") && r.s("trigger") == Some("manual")
    });
    assert_eq!(manual.instance(), Some(format!("tick-run-{run}").as_str()));
    // Resumed: runs on schedule again.
    let r = curl(&["-X", "POST", &url("tick/schedule/resume")]);
    assert_eq!(r.json()["status"], "resumed");
    conforms(
        &api_doc,
        "post",
        "/api/v1/processes/{name}/schedule/resume",
        200,
        &r.json(),
    );
    m.wait_for(secs(5.0), "a scheduled run after resume", |r| {
        r.event() == Some("task_started")
            && r.s("trigger") == Some("schedule")
            && r.instance() == Some(format!("tick-run-{}", run + 1).as_str())
    });

    // The weekly task's next run, as the API shows it, is what the log announced: Monday 08:00.
    let announced = m.wait_for(secs(1.0), "report scheduled", |r| {
        r.event() == Some("task_scheduled") && r.process() == Some("report")
    });
    let next = curl(&[&url("report/schedule")]).json()["schedule"]["next_run"]
        .as_f64()
        .unwrap() as i64;
    assert_eq!(
        Some(next),
        announced.get("next_run_unix").and_then(|v| v.as_i64())
    );
    assert_eq!(next % 86_400, 8 * 3600);
    assert_eq!((next / 86_400 + 3) % 7, 0, "a Monday");

    // A task in the process list, and what does not apply to it.
    let list = curl(&[&format!("http://{api}/api/v1/processes")]).json();
    let tick = list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tick")
        .cloned()
        .unwrap();
    assert_eq!(tick["type"], "scheduled", "{tick}");
    conforms(&api_doc, "get", "/api/v1/processes", 200, &list);
    let r = curl(&["-X", "POST", &url("tick/restart")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("scheduled task")
    );
    assert_eq!(curl(&[&url("web/schedule")]).status, 404);
    assert_eq!(curl(&[&url("nope/schedule")]).status, 404);

    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}
