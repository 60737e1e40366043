//! The start plan in words, for `--dry-run` and `check-config`.

use crate::config::model::Config;

/// The start plan in words, for `--dry-run`.
pub fn describe_plan(config: &Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "configuration: {}",
        config
            .path
            .as_deref()
            .unwrap_or("(environment variables only)")
    );
    let _ = writeln!(s, "start order:");
    for (n, p) in config.processes.iter().enumerate() {
        let deps: Vec<&str> = p
            .depends_on
            .iter()
            .map(|&d| config.processes[d].name.as_str())
            .collect();
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!(", after {}", deps.join(", "))
        };
        let ids: Vec<String> = (0..p.scale).map(|i| format!("{}-{i}", p.name)).collect();
        let _ = writeln!(
            s,
            "  {}. {} ({}, priority {}, restart {}{}{})",
            n + 1,
            p.name,
            p.kind.as_str(),
            p.priority,
            p.restart.as_str(),
            if p.critical { ", critical" } else { "" },
            after
        );
        match &p.task {
            Some(t) => {
                let _ = writeln!(s, "     schedule: {}", t.describe());
            }
            None => {
                let _ = writeln!(s, "     instances: {}", ids.join(", "));
            }
        }
        let _ = writeln!(s, "     command: {}", p.command.join(" "));
        if p.task.is_none() {
            let _ = writeln!(s, "     signals: {}", p.signals.describe());
        }
    }
    s
}
