//! What a configuration reload changes: the running configuration against a newly loaded and
//! fully validated one, process by process (matched by name), plus the global settings that
//! cannot change while the manager runs. Pure: the supervisor applies the result
//! (`Event::Reconfigure`), the loop swaps its configuration for the one made here.
//!
//! A process is
//! - *added* / *removed* when only one side has its name;
//! - *scaled* when nothing but `scale` differs: instances are added or retired, the others
//!   keep running (and keep their pids);
//! - *changed* when anything that shapes its processes differs (command, env, user, working
//!   directory, health check, hooks, stop settings, signal policy, ...): its instances restart
//!   with the new definition;
//! - *unchanged* otherwise — including when only its place in the start order moved
//!   (`depends_on` of others, `priority`), which matters only when it starts.
//!
//! Process indices are how the supervisor, the loop's parts and the status snapshot refer to
//! a process, so they never move while the manager runs: the running configuration keeps
//! every process it ever had at its index (a removed one stays as a tombstone, which the
//! supervisor knows as removed and a later reload of the same name revives), and added
//! processes are appended. Scheduled tasks and the global settings are fixed at start-up:
//! their changes are reported as needing a restart of the manager and left as they were.

use super::model::{Config, ProcessSpec};

/// What a reload does to one process of the running configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing (also: a removed process that stays removed).
    Keep,
    /// Its definition changed: its instances restart with the new one.
    Restart,
    /// Only `scale` changed.
    Scale,
    /// New (or removed before and back now): it starts when its dependencies are ready.
    Add,
    /// Gone from the file: its instances stop gracefully and it becomes a tombstone.
    Remove,
}

/// A reload worked out: the running configuration to switch to and what changes in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reload {
    /// The running configuration after the reload: the old process indices, added processes
    /// appended, the global settings of the running one.
    pub config: Config,
    /// Per process of `config`, by index.
    pub changes: Vec<Change>,
    /// Differences that apply only at the next start of the manager.
    pub needs_restart: Vec<String>,
}

impl Reload {
    /// The names of the processes with this change, in index order.
    pub fn names(&self, c: Change) -> Vec<&str> {
        self.changes
            .iter()
            .zip(&self.config.processes)
            .filter(|(x, _)| **x == c)
            .map(|(_, p)| p.name.as_str())
            .collect()
    }

    /// Nothing to do to any process.
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| *c == Change::Keep)
    }
}

/// Works out a reload of the running configuration `old` (whose processes `live[i]` are not
/// removed) to the validated `new` one.
pub fn plan(old: &Config, live: &[bool], new: &Config) -> Reload {
    let mut config = old.clone();
    let mut changes = vec![Change::Keep; old.processes.len()];
    let mut needs_restart: Vec<String> = global_changes(old, new)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let is_live = |i: usize| live.get(i).copied().unwrap_or(false);
    // Where each process of `new` sits in the running configuration (None: not taken over).
    let mut at: Vec<Option<usize>> = Vec::with_capacity(new.processes.len());
    for n in &new.processes {
        let found = old.processes.iter().position(|o| o.name == n.name);
        let task_involved =
            !n.kind.supervised() || found.is_some_and(|i| !old.processes[i].kind.supervised());
        if task_involved {
            // Scheduled tasks are the scheduler's, fixed at start-up.
            let same = found.is_some_and(|i| {
                let o = &old.processes[i];
                is_live(i) && o.kind == n.kind && same_definition(o, n)
            });
            if !same {
                needs_restart.push(format!("scheduled task {}", n.name));
            }
            at.push(found.filter(|&i| is_live(i)));
            continue;
        }
        let i = match found {
            Some(i) => {
                changes[i] = if !is_live(i) {
                    Change::Add
                } else if !same_definition(&old.processes[i], n) {
                    Change::Restart
                } else if old.processes[i].scale != n.scale {
                    Change::Scale
                } else {
                    Change::Keep
                };
                i
            }
            None => {
                config.processes.push(n.clone());
                changes.push(Change::Add);
                config.processes.len() - 1
            }
        };
        at.push(Some(i));
    }
    for (i, o) in old.processes.iter().enumerate() {
        if is_live(i) && !new.processes.iter().any(|n| n.name == o.name) {
            if o.kind.supervised() {
                changes[i] = Change::Remove;
            } else {
                needs_restart.push(format!("scheduled task {} (removed)", o.name));
            }
        }
    }
    // Take over the new definitions, with `depends_on` pointing at running indices.
    for (ni, n) in new.processes.iter().enumerate() {
        let Some(i) = at[ni] else { continue };
        if !n.kind.supervised() {
            continue;
        }
        let mut spec = n.clone();
        spec.depends_on = n.depends_on.iter().filter_map(|&d| at[d]).collect();
        config.processes[i] = spec;
    }
    Reload {
        config,
        changes,
        needs_restart,
    }
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

    fn all_live(c: &Config) -> Vec<bool> {
        vec![true; c.processes.len()]
    }

    #[test]
    fn same_file_is_no_change() {
        let (a, b) = (cfg(BASE), cfg(BASE));
        let r = plan(&a, &all_live(&a), &b);
        assert!(r.is_empty());
        assert_eq!(r.config.processes.len(), a.processes.len());
        assert_eq!(r.config.global, a.global);
        assert!(r.needs_restart.is_empty());
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
        let r = plan(&a, &all_live(&a), &b);
        assert_eq!(r.names(Change::Restart), ["web"]);
        assert_eq!(r.names(Change::Scale), ["queue"]);
        assert_eq!(r.names(Change::Add), ["new"]);
        assert_eq!(r.names(Change::Remove), ["old"]);
        assert_eq!(r.names(Change::Keep), ["fpm"]);
        // Indices stay: the removed one is still at its place, the new one is appended and
        // waits for `fpm` at its running index.
        let names: Vec<&str> = r.config.processes.iter().map(|p| p.name.as_str()).collect();
        let fpm = names.iter().position(|n| *n == "fpm");
        assert_eq!(names.len(), 5);
        assert_eq!(names[4], "new");
        assert_eq!(r.config.processes[4].depends_on, [fpm.unwrap_or(99)]);
        let queue = names.iter().position(|n| *n == "queue").unwrap_or(99);
        assert_eq!(r.config.processes[queue].scale, 4);
    }

    #[test]
    fn a_removed_process_comes_back_at_its_index() {
        let a = cfg(BASE);
        let old = a
            .processes
            .iter()
            .position(|p| p.name == "old")
            .unwrap_or(99);
        let mut live = all_live(&a);
        live[old] = false;
        let r = plan(&a, &live, &cfg(BASE));
        assert_eq!(r.names(Change::Add), ["old"]);
        assert_eq!(r.config.processes.len(), 4);
        // Still removed and still absent: nothing to do.
        let r = plan(
            &a,
            &live,
            &cfg(
                "processes:\n  web:\n    command: [\"nginx\", \"-g\", \"daemon off;\"]\n  fpm:\n    command: [\"php-fpm\", \"-F\"]\n  queue:\n    command: [\"php\", \"artisan\", \"queue:work\"]\n    scale: 2\n",
            ),
        );
        assert!(r.is_empty(), "{:?}", r.changes);
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
        let r = plan(&a, &all_live(&a), &b);
        let mut changed = r.names(Change::Restart);
        changed.sort_unstable();
        assert_eq!(changed, ["fpm", "queue", "web"]);
        assert_eq!(r.names(Change::Keep), ["old"]);
        // Its new dependency is taken over for its next start.
        let old = r
            .config
            .processes
            .iter()
            .position(|p| p.name == "old")
            .unwrap_or(99);
        let web = r
            .config
            .processes
            .iter()
            .position(|p| p.name == "web")
            .unwrap_or(99);
        assert_eq!(r.config.processes[old].depends_on, [web]);
    }

    #[test]
    fn global_settings_that_need_a_restart_are_named_and_kept() {
        let a = cfg(BASE);
        let b = cfg(&format!(
            "global:\n  log_format: text\n  shutdown_timeout: 5\n{BASE}"
        ));
        let r = plan(&a, &all_live(&a), &b);
        assert!(r.is_empty());
        assert_eq!(r.needs_restart.len(), 2, "{:?}", r.needs_restart);
        assert!(r.needs_restart.iter().any(|n| n == "log_format"));
        assert_eq!(r.config.global, a.global);
    }
}
