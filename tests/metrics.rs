//! The Prometheus endpoint with real Prometheus tools (issue 9, feature `metrics`):
//! `promtool check metrics` is clean on the real output, the series follow the supervisor's
//! state, and a real Prometheus server on loopback scrapes it (`up == 1`) and sees
//! `phpeek_pm_process_up` for every instance.
#![cfg(feature = "metrics")]

mod http_support;
mod support;

use std::io::Write;
use std::process::{Child, Command, Stdio};

use http_support::*;
use support::*;

/// Kills the Prometheus server when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &TestDir) -> std::path::PathBuf {
    let cfg = format!(
        r#"global:
  metrics_enabled: true
  metrics_host: 127.0.0.1
  metrics_port: 0
  metrics_path: /prom
processes:
  web:
    scale: 2
    command: {web}
  broken:
    restart: never
    command: {broken}
"#,
        web = sh("while :; do sleep 1; done"),
        broken = sh("exit 3"),
    );
    dir.write("c.yaml", &cfg)
}

fn line_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn promtool_is_clean_and_values_follow_state() {
    let dir = TestDir::new("metrics");
    let mut m = Manager::start(Mode::Pid1, &config(&dir));
    let addr = listen_addr(&mut m, "metrics endpoint");
    m.wait_for(secs(10.0), "broken exited", |r| r.is("exited", "broken-0"));
    let r = curl(&[&format!("http://{addr}/prom")]);
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .contains("Content-Type: text/plain; version=0.0.4"),
        "{}",
        r.headers
    );
    let text = r.body;
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/ensure-deps.sh observability)");
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (series, want) in [
        ("phpeek_pm_process_up{name=\"web\",instance=\"web-0\"}", 1.0),
        ("phpeek_pm_process_up{name=\"web\",instance=\"web-1\"}", 1.0),
        (
            "phpeek_pm_process_up{name=\"broken\",instance=\"broken-0\"}",
            0.0,
        ),
        (
            "phpeek_pm_process_last_exit_code{name=\"broken\",instance=\"broken-0\"}",
            3.0,
        ),
        ("phpeek_pm_process_desired_scale{name=\"web\"}", 2.0),
        ("phpeek_pm_process_current_scale{name=\"web\"}", 2.0),
        ("phpeek_pm_process_current_scale{name=\"broken\"}", 0.0),
        (
            "phpeek_pm_process_restarts_total{name=\"web\",reason=\"exit\"}",
            0.0,
        ),
        ("phpeek_pm_manager_processes ", 2.0),
    ] {
        assert_eq!(line_value(&text, series), Some(want), "{series} in\n{text}");
    }
    let started = line_value(&text, "phpeek_pm_manager_start_time_seconds ").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - started).abs() < 60.0,
        "start time {started} vs now {now}"
    );
    // Other paths are not the endpoint; the state changes are seen at the next scrape.
    assert_eq!(curl(&[&format!("http://{addr}/metrics")]).status, 404);
    assert_eq!(
        curl(&["-X", "POST", &format!("http://{addr}/prom")]).status,
        405
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
}

#[test]
fn prometheus_scrapes_it() {
    let dir = TestDir::new("prom");
    let mut m = Manager::start(Mode::Subreaper, &config(&dir));
    let addr = listen_addr(&mut m, "metrics endpoint");
    let port = free_port();
    let prom_cfg = dir.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: phpeek-pm\n    metrics_path: /prom\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ),
    );
    let server = Command::new("prometheus")
        .arg(format!("--config.file={}", prom_cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.s("data")))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package prometheus; scripts/ensure-deps.sh observability)");
    let _server = Killed(server);
    let query = |q: &str| {
        let r = try_curl(&[
            "-G",
            "--data-urlencode",
            &format!("query={q}"),
            &format!("http://127.0.0.1:{port}/api/v1/query"),
        ])
        .ok()?;
        (r.status == 200).then(|| r.json())
    };
    let up = poll_until(secs(40.0), "Prometheus to scrape with up == 1", || {
        let v = query("up{job=\"phpeek-pm\"}")?;
        let res = v["data"]["result"].as_array()?.first()?.clone();
        (res["value"][1] == "1").then_some(res)
    });
    assert_eq!(up["metric"]["instance"], addr.as_str());
    let series = poll_until(
        secs(20.0),
        "phpeek_pm_process_up for every instance",
        || {
            let v = query("phpeek_pm_process_up")?;
            let mut got: Vec<(String, String)> = v["data"]["result"]
                .as_array()?
                .iter()
                .map(|r| {
                    // Our `instance` label clashes with the target's, so Prometheus keeps ours
                    // as `exported_instance` (unless honor_labels is set).
                    (
                        r["metric"]["exported_instance"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                        r["value"][1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            got.sort();
            (got.len() == 3).then_some(got)
        },
    );
    assert_eq!(
        series,
        [
            ("broken-0".into(), "0".into()),
            ("web-0".into(), "1".into()),
            ("web-1".into(), "1".into())
        ]
    );
    let v = query("sum by (name) (phpeek_pm_process_up)").unwrap();
    let mut by_name: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["name"].as_str().unwrap().to_owned(),
                r["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    by_name.sort();
    assert_eq!(
        by_name,
        [("broken".into(), "0".into()), ("web".into(), "2".into())]
    );
    m.signal(libc::SIGTERM);
    m.wait_exit(secs(20.0));
}

/// With the health and hooks features, their series come from the same snapshot and the
/// whole output still passes promtool.
#[cfg(all(feature = "health", feature = "hooks"))]
#[test]
fn health_and_hook_series_pass_promtool() {
    let dir = TestDir::new("metrics-hh");
    let cfg = format!(
        r#"global:
  metrics_enabled: true
  metrics_host: 127.0.0.1
  metrics_port: 0
hooks:
  pre-start:
    - name: warm
      command: {warm}
processes:
  web:
    command: {web}
    health_check:
      type: exec
      command: ["true"]
      initial_delay: 100ms
      period: 200ms
      timeout: 150ms
  sick:
    command: {web}
    health_check:
      type: exec
      command: ["false"]
      mode: readiness
      initial_delay: 100ms
      start_period: 0
      period: 200ms
      timeout: 150ms
      failure_threshold: 1
"#,
        warm = sh("echo warming"),
        web = sh("exec sleep 1000"),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "metrics endpoint");
    let text = poll_until(secs(20.0), "health results in /metrics", || {
        let t = curl(&[&format!("http://{addr}/metrics")]).body;
        (t.contains(
            "phpeek_pm_health_check_status{name=\"web\",instance=\"web-0\",type=\"exec\"} 1",
        ) && t.contains(
            "phpeek_pm_health_check_status{name=\"sick\",instance=\"sick-0\",type=\"exec\"} 0",
        ))
        .then_some(t)
    });
    for line in [
        "phpeek_pm_hook_executions_total{name=\"warm\",type=\"pre_start\",status=\"success\"} 1",
        "phpeek_pm_hook_duration_seconds_count{name=\"warm\",type=\"pre_start\"} 1",
        "# TYPE phpeek_pm_hook_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    assert!(
        text.contains(
            "phpeek_pm_health_check_consecutive_fails{name=\"sick\",instance=\"sick-0\"}"
        ),
        "{text}"
    );
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
}
