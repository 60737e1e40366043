//! What a configuration reload changes: the running configuration against a newly loaded and
//! fully validated one, process by process (matched by name), plus the global settings that
//! cannot change while the manager runs. Pure: the supervisor applies the result.
//!
//! A process is
//! - *added* / *removed* when only one side has its name;
//! - *scaled* when nothing but `scale` differs: instances are added or retired, the others
//!   keep running (and keep their pids);
//! - *changed* when anything that shapes its processes differs (command, env, user, working
//!   directory, health check, hooks, logging, stop settings, signal policy, ...): its
//!   instances restart with the new definition;
//! - *unchanged* otherwise — including when only its place in the start order moved
//!   (`depends_on` of others, `priority`), which matters only when it starts.

// Applied by the live reload (`phpeek-pm reload-config`, `--watch`), wired into the loop as a
// part of the registry; until then only its tests call it.
#![allow(dead_code)]

use super::model::{Config, ProcessSpec};

/// The difference between the running configuration and a new one. Indices are into
/// `old.processes` and `new.processes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// In the new configuration only (new indices, in the new start order).
    pub added: Vec<usize>,
    /// In the old configuration only (old indices).
    pub removed: Vec<usize>,
    /// Both, with a different definition: restart (old, new).
    pub changed: Vec<(usize, usize)>,
    /// Both, only `scale` differs (old, new).
    pub scaled: Vec<(usize, usize)>,
    /// Both, the same (old, new).
    pub unchanged: Vec<(usize, usize)>,
    /// Global settings that differ but apply only at the next start of the manager.
    pub needs_restart: Vec<&'static str>,
}

impl ConfigDiff {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.scaled.is_empty()
    }
}

/// Compares two configurations.
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let mut d = ConfigDiff::default();
    for (oi, o) in old.processes.iter().enumerate() {
        match new.processes.iter().position(|n| n.name == o.name) {
            None => d.removed.push(oi),
            Some(ni) => {
                let n = &new.processes[ni];
                if !same_definition(o, n) {
                    d.changed.push((oi, ni));
                } else if o.scale != n.scale {
                    d.scaled.push((oi, ni));
                } else {
                    d.unchanged.push((oi, ni));
                }
            }
        }
    }
    for (ni, n) in new.processes.iter().enumerate() {
        if !old.processes.iter().any(|o| o.name == n.name) {
            d.added.push(ni);
        }
    }
    d.needs_restart = global_changes(old, new);
    d
}

/// Whether two definitions run the same processes: everything but `scale`, the start order
/// (`priority`) and which processes it waits for.
fn same_definition(o: &ProcessSpec, n: &ProcessSpec) -> bool {
    // A process that now waits for something else keeps running: dependencies gate starts.
    let mut a = o.clone();
    a.scale = n.scale;
    a.priority = n.priority;
    a.depends_on.clone_from(&n.depends_on);
    // Compiled log rules compare by identity (two loads of the same file never match), so
    // they are left out here. TODO(live reload): compare the `logging` settings as written.
    a.logging = n.logging.clone();
    a == *n
}

/// Global settings a running manager cannot take over: the listening sockets, the log format
/// of a stream already written, the environment computed at start-up.
fn global_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.global, &new.global);
    let mut v = Vec::new();
    if o.api != n.api {
        v.push("api (api_enabled, api_host, api_port, api_socket, api_auth)");
    }
    if o.metrics != n.metrics {
        v.push("metrics (metrics_enabled, metrics_host, metrics_port, metrics_path)");
    }
    if o.log_format != n.log_format {
        v.push("log_format");
    }
    if o.log_level != n.log_level {
        v.push("log_level");
    }
    if o.readiness != n.readiness {
        v.push("readiness");
    }
    if (
        o.backoff_initial,
        o.backoff_max,
        o.stable_after,
        o.max_restart_attempts,
    ) != (
        n.backoff_initial,
        n.backoff_max,
        n.stable_after,
        n.max_restart_attempts,
    ) || (o.dependency_timeout, o.shutdown_timeout) != (n.dependency_timeout, n.shutdown_timeout)
    {
        v.push("restart and shutdown timing (restart_backoff_*, max_restart_attempts, ...)");
    }
    if o.autotune_memory_threshold != n.autotune_memory_threshold
        || o.framework_setup != n.framework_setup
    {
        v.push("start-up work (autotune, framework setup)");
    }
    if old.hooks != new.hooks {
        v.push("global hooks");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Inputs, load};

    fn cfg(yaml: &str) -> Config {
        let none = || (String::new(), String::new());
        load(&Inputs {
            file: Some(("test.yaml", yaml)),
            env: &[],
            passwd: &none,
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const BASE: &str = r#"
processes:
  web:
    command: ["nginx", "-g", "daemon off;"]
  fpm:
    command: ["php-fpm", "-F"]
  queue:
    command: ["php", "artisan", "queue:work"]
    scale: 2
  old:
    command: ["sleep", "1000"]
"#;

    fn names(c: &Config, idx: &[usize]) -> Vec<String> {
        idx.iter().map(|&i| c.processes[i].name.clone()).collect()
    }

    #[test]
    fn same_file_is_no_change() {
        let (a, b) = (cfg(BASE), cfg(BASE));
        let d = diff(&a, &b);
        assert!(d.is_empty());
        assert_eq!(d.unchanged.len(), 4);
        assert!(d.needs_restart.is_empty());
    }

    #[test]
    fn command_add_remove_and_scale() {
        let a = cfg(BASE);
        let b = cfg(r#"
processes:
  web:
    command: ["nginx", "-g", "daemon off;", "-q"]
  fpm:
    command: ["php-fpm", "-F"]
  queue:
    command: ["php", "artisan", "queue:work"]
    scale: 4
  new:
    command: ["sleep", "2000"]
    depends_on: [fpm]
"#);
        let d = diff(&a, &b);
        let changed: Vec<&str> = d
            .changed
            .iter()
            .map(|&(o, _)| a.processes[o].name.as_str())
            .collect();
        assert_eq!(changed, ["web"]);
        let scaled: Vec<(u32, u32)> = d
            .scaled
            .iter()
            .map(|&(o, n)| (a.processes[o].scale, b.processes[n].scale))
            .collect();
        assert_eq!(scaled, [(2, 4)]);
        assert_eq!(names(&b, &d.added), ["new"]);
        assert_eq!(names(&a, &d.removed), ["old"]);
        let unchanged: Vec<&str> = d
            .unchanged
            .iter()
            .map(|&(o, _)| a.processes[o].name.as_str())
            .collect();
        assert_eq!(unchanged, ["fpm"]);
    }

    #[test]
    fn definitions_that_restart_and_order_that_does_not() {
        let a = cfg(BASE);
        // env, stop settings and the signal policy all change what runs or how it is
        // handled; priority and depends_on only the start order.
        let b = cfg(r#"
processes:
  web:
    command: ["nginx", "-g", "daemon off;"]
    env: {A: "1"}
  fpm:
    command: ["php-fpm", "-F"]
    reload_signal: restart
  queue:
    command: ["php", "artisan", "queue:work"]
    scale: 2
    shutdown: {timeout: 90}
  old:
    command: ["sleep", "1000"]
    priority: 5
    depends_on: [web]
"#);
        let d = diff(&a, &b);
        let mut changed: Vec<&str> = d
            .changed
            .iter()
            .map(|&(o, _)| a.processes[o].name.as_str())
            .collect();
        changed.sort_unstable();
        assert_eq!(changed, ["fpm", "queue", "web"]);
        assert_eq!(d.unchanged.len(), 1);
        assert!(d.scaled.is_empty() && d.added.is_empty() && d.removed.is_empty());
    }

    #[test]
    fn global_settings_that_need_a_restart_are_named() {
        let a = cfg(BASE);
        let b = cfg(&format!(
            "global:\n  log_format: text\n  shutdown_timeout: 5\n{BASE}"
        ));
        let d = diff(&a, &b);
        assert!(d.is_empty());
        assert_eq!(d.needs_restart.len(), 2, "{:?}", d.needs_restart);
        assert!(d.needs_restart.contains(&"log_format"));
    }
}
