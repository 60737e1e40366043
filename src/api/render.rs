//! The API's JSON for a terminal, in the client process: the process list as a table
//! (`status`), a logs answer as lines oldest first, what a configuration reload did, and the
//! uptimes and byte counts that `top` shows too.

use serde_json::Value;

/// What a configuration reload did, in a few lines.
pub(super) fn reload_summary(doc: &Value) -> String {
    let list = |k: &str| -> String {
        let v: Vec<&str> = doc[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    let mut text = format!(
        "configuration reloaded: added {}; removed {}; restarted {}; scaled {}; {} unchanged\n",
        list("added"),
        list("removed"),
        list("restarted"),
        list("scaled"),
        doc["unchanged"].as_i64().unwrap_or(0)
    );
    if doc["needs_restart"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        text.push_str(&format!(
            "not applied until phpeek-pm restarts: {}\n",
            list("needs_restart")
        ));
    }
    text
}

pub(super) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `H:MM:SS`, or `Nd H:MM:SS` past a day.
pub(super) fn uptime(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}:{m:02}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

/// A byte count for people: `812K`, `94.6M`, `1.2G` (powers of 1024).
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    match n {
        0..1_048_576 => format!("{}K", n / 1024),
        1_048_576..1_073_741_824 => format!("{:.1}M", f / 1_048_576.0),
        _ => format!("{:.1}G", f / 1_073_741_824.0),
    }
}

/// The process list as a table, one row per instance (like `supervisorctl status`).
pub fn status_table(doc: &Value, now: i64) -> String {
    let mut rows: Vec<[String; 8]> = vec![[
        "INSTANCE".into(),
        "STATE".into(),
        "PID".into(),
        "UPTIME".into(),
        "RESTARTS".into(),
        "CPU".into(),
        "MEMORY".into(),
        "DETAIL".into(),
    ]];
    for p in doc["processes"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("?");
        let instances = p["instances"].as_array().cloned().unwrap_or_default();
        if instances.is_empty() {
            rows.push([
                name.into(),
                p["state"].as_str().unwrap_or("?").into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "no instances".into(),
            ]);
        }
        for i in instances {
            let pid = i["pid"].as_i64();
            let mut detail = Vec::new();
            if let Some(h) = i["health"]["status"].as_str() {
                detail.push(format!("health {h}"));
            }
            if let (None, Some(c)) = (pid, i["last_exit_code"].as_i64()) {
                detail.push(format!("last exit {c}"));
            }
            if p["type"] == "oneshot" {
                detail.push("oneshot".into());
            }
            rows.push([
                i["id"].as_str().unwrap_or("?").into(),
                i["state"].as_str().unwrap_or("?").into(),
                pid.map_or("-".into(), |p| p.to_string()),
                match (pid, i["started_at"].as_i64()) {
                    (Some(_), Some(t)) => uptime(now - t),
                    _ => "-".into(),
                },
                i["restart_count"].as_i64().unwrap_or(0).to_string(),
                // CPU seconds used by the whole process group, and its resident memory.
                i["cpu_seconds"]
                    .as_f64()
                    .map_or("-".into(), |c| format!("{c:.1}s")),
                i["memory_rss_bytes"].as_u64().map_or("-".into(), bytes),
                detail.join(", "),
            ]);
        }
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (n, (cell, w)) in r.iter().zip(widths).enumerate() {
            if n + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A logs answer (newest first) as lines, oldest first: `TIME [instance] msg`.
pub fn log_lines(doc: &Value) -> String {
    let mut out = String::new();
    let entries = doc["logs"].as_array().cloned().unwrap_or_default();
    for e in entries.iter().rev() {
        let stream = if e["stream"] == "stderr" {
            " (stderr)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{} [{}]{stream} {}\n",
            e["time"].as_str().unwrap_or(""),
            e["instance"].as_str().unwrap_or(""),
            e["msg"].as_str().unwrap_or("")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let doc: Value = serde_json::from_str(
            r#"{"processes":[{"name":"web","type":"longrun","state":"ready","instances":[
              {"id":"web-0","state":"ready","pid":42,"started_at":1000,"restart_count":2,
               "last_exit_code":null,"ready":true,"health":{"status":"healthy"},
               "cpu_seconds":12.5,"memory_rss_bytes":83886080},
              {"id":"web-1","state":"backoff","pid":null,"started_at":null,"restart_count":5,
               "last_exit_code":3,"ready":false,"health":null}]},
              {"name":"migrate","type":"oneshot","state":"exited","instances":[
              {"id":"migrate-0","state":"exited","pid":null,"started_at":null,"restart_count":0,
               "last_exit_code":0,"ready":true,"health":null}]}]}"#,
        )
        .unwrap();
        let t = status_table(&doc, 1000 + 3723);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("INSTANCE   STATE"), "{t}");
        assert!(
            lines[1].starts_with(
                "web-0      ready    42   1:02:03  2         12.5s  80.0M   health healthy"
            ),
            "{t}"
        );
        assert!(
            lines[2].contains("backoff") && lines[2].ends_with("last exit 3"),
            "{t}"
        );
        assert!(lines[3].ends_with("last exit 0, oneshot"), "{t}");
        assert_eq!(uptime(90_061), "1d 1:01:01");
        assert_eq!((bytes(4096), bytes(1 << 30)), ("4K".into(), "1.0G".into()));
    }

    #[test]
    fn logs_oldest_first() {
        let doc: Value = serde_json::from_str(
            r#"{"logs":[{"time":"T2","instance":"w-0","stream":"stderr","msg":"b"},
                        {"time":"T1","instance":"w-0","stream":"stdout","msg":"a"}]}"#,
        )
        .unwrap();
        assert_eq!(log_lines(&doc), "T1 [w-0] a\nT2 [w-0] (stderr) b\n");
    }
}
