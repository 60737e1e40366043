//! Bad input (issue #2, item 7): each broken configuration gives one clear error on stderr,
//! with `file:line` pointing at the offending line where there is one (or the environment
//! variable that caused it), and exit code 2 — with `check-config` and with `serve`, which
//! must start nothing (another process of the same file would create a marker file).

mod support;

use support::*;

struct Case {
    name: &'static str,
    yaml: &'static str,
    /// The line the error must point at, if the problem has one.
    line: Option<usize>,
    /// Words the message must contain.
    words: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// Append a valid process that would create the marker file (the `processes:` section
    /// is last in every such case, so the lines above do not move).
    marker: bool,
}

const fn case(
    name: &'static str,
    yaml: &'static str,
    line: Option<usize>,
    words: &'static [&'static str],
) -> Case {
    Case {
        name,
        yaml,
        line,
        words,
        env: &[],
        marker: true,
    }
}

const WEB: &str = "processes:\n  web:\n    command: [sleep, '1']\n";

fn cases() -> Vec<Case> {
    let mut v = core_cases();
    // Keys of features this build lacks (a build with the feature accepts them).
    if !cfg!(feature = "health") {
        v.push(case(
            "feature-key-health-check",
            "processes:\n  web:\n    command: [sh]\n    health_check:\n      type: tcp\n      address: 127.0.0.1:9000\n",
            Some(4),
            &["health_check", "requires", "\"health\""],
        ));
        v.push(Case {
            env: &[("PHPEEK_PM_PROCESS_WEB_HEALTH_CHECK_TYPE", "http")],
            ..case(
                "env-feature-key",
                WEB,
                None,
                &[
                    "PHPEEK_PM_PROCESS_WEB_HEALTH_CHECK_TYPE",
                    "requires",
                    "\"health\"",
                ],
            )
        });
    }
    if !cfg!(feature = "metrics") {
        v.push(case(
            "feature-key-metrics",
            "global:\n  metrics_enabled: true\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["metrics_enabled", "requires", "\"metrics\""],
        ));
    }
    if !cfg!(feature = "scheduler") {
        v.push(case(
            "feature-key-schedule",
            "processes:\n  backup:\n    command: [sh]\n    schedule: \"0 3 * * *\"\n",
            Some(4),
            &["schedule", "requires", "\"scheduler\""],
        ));
        v.push(case(
            "feature-key-schedule-timezone",
            "processes:\n  backup:\n    command: [sh]\n    schedule_timezone: Europe/Berlin\n",
            Some(4),
            &["schedule_timezone", "requires", "\"scheduler\""],
        ));
    }
    if !cfg!(feature = "heartbeat") {
        v.push(case(
            "feature-key-heartbeat",
            "processes:\n  backup:\n    command: [sh]\n    heartbeat:\n      url: http://x\n",
            Some(4),
            &["heartbeat", "requires", "\"heartbeat\""],
        ));
    }
    if !cfg!(feature = "log-processing") {
        v.push(case(
            "feature-key-logging",
            "processes:\n  web:\n    command: [sh]\n    logging:\n      multiline: {enabled: true}\n",
            Some(4),
            &["logging", "requires", "\"log-processing\""],
        ));
        v.push(case(
            "feature-key-log-redaction",
            "global:\n  log_redaction_enabled: true\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["log_redaction_enabled", "requires", "\"log-processing\""],
        ));
    }
    if !cfg!(feature = "autotune") {
        v.push(case(
            "feature-key-autotune-threshold",
            "global:\n  autotune_memory_threshold: 0.6\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["autotune_memory_threshold", "requires", "\"autotune\""],
        ));
    } else {
        v.push(case(
            "autotune-threshold-range",
            "global:\n  log_level: info\n  autotune_memory_threshold: 1.5\nprocesses:\n  web:\n    command: [sh]\n",
            Some(3),
            &["autotune_memory_threshold", "1.0", "1.5"],
        ));
    }
    if !cfg!(feature = "detect") {
        v.push(case(
            "feature-key-framework-setup",
            "global:\n  framework_setup: true\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["framework_setup", "requires", "\"detect\""],
        ));
    }
    if !cfg!(feature = "hooks") {
        v.push(case(
            "feature-key-hooks",
            "hooks:\n  pre-start:\n    - name: warm\n      command: [sh]\nprocesses:\n  web:\n    command: [sh]\n",
            Some(1),
            &["hooks", "requires", "\"hooks\""],
        ));
    }
    v
}

fn core_cases() -> Vec<Case> {
    vec![
        case(
            "yaml-mapping-in-scalar",
            "processes:\n  web:\n    command: sleep: 1\n",
            Some(3),
            &["mapping values"],
        ),
        case(
            "yaml-bad-indentation",
            "processes:\n  web:\n    command: [sh]\n   restart: never\n",
            Some(4),
            &[],
        ),
        case(
            "yaml-tab-indentation",
            "processes:\n  web:\n\tcommand: [sh]\n",
            Some(3),
            &[],
        ),
        case(
            "yaml-duplicate-key",
            "processes:\n  web:\n    command: [sh]\n    command: [ls]\n",
            Some(4),
            &["duplicate", "command"],
        ),
        case(
            "wrong-type-scale",
            "processes:\n  web:\n    command: [sh]\n    scale: \"two\"\n",
            Some(4),
            &["scale", "two"],
        ),
        case(
            "wrong-type-enabled",
            "processes:\n  web:\n    command: [sh]\n    enabled: maybe\n",
            Some(4),
            &["enabled", "maybe"],
        ),
        case(
            "wrong-type-priority",
            "processes:\n  web:\n    command: [sh]\n    priority: high\n",
            Some(4),
            &["priority"],
        ),
        case(
            "wrong-type-env",
            "processes:\n  web:\n    command: [sh]\n    env: [A, B]\n",
            Some(4),
            &["env"],
        ),
        case(
            "wrong-type-global",
            "global:\n  max_restart_attempts: lots\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["max_restart_attempts"],
        ),
        case(
            "unknown-key-typo",
            "processes:\n  web:\n    comand: [sh]\n",
            Some(3),
            &["comand", "did you mean", "command"],
        ),
        case(
            "unknown-global-key-typo",
            "global:\n  log_levle: info\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["log_levle", "log_level"],
        ),
        case(
            "unknown-nested-key",
            "processes:\n  web:\n    command: [sh]\n    shutdown:\n      timeout: 5\n      sigal: SIGTERM\n",
            Some(6),
            &["sigal", "signal"],
        ),
        case(
            "unknown-top-level-key",
            "version: \"1.0\"\nprocess:\n  web:\n    command: [sh]\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["process", "processes"],
        ),
        case(
            "empty-command-list",
            "processes:\n  web:\n    restart: never\n    priority: 3\n    command: []\n",
            Some(5),
            &["command", "empty"],
        ),
        case(
            "empty-command-string",
            "processes:\n  web:\n    restart: never\n    command: \"\"\n",
            Some(4),
            &["command", "empty"],
        ),
        case(
            "no-command",
            "processes:\n  web:\n    restart: never\n",
            Some(2),
            &["web", "command"],
        ),
        case(
            "bad-duration-global",
            "global:\n  log_level: info\n  shutdown_timeout: 5x\nprocesses:\n  web:\n    command: [sh]\n",
            Some(3),
            &["duration", "5x"],
        ),
        case(
            "bad-duration-negative",
            "processes:\n  web:\n    command: [sh]\n    shutdown:\n      signal: SIGTERM\n      timeout: -3\n",
            Some(6),
            &["duration", "-3"],
        ),
        case(
            "bad-duration-unit",
            "global:\n  log_format: json\n  restart_backoff_initial: 2 fortnights\nprocesses:\n  web:\n    command: [sh]\n",
            Some(3),
            &["duration", "fortnights"],
        ),
        case(
            "bad-user",
            "processes:\n  web:\n    command: [sh]\n    user: nosuchuser_phpeek\n",
            Some(4),
            &["nosuchuser_phpeek"],
        ),
        case(
            "bad-group",
            "processes:\n  web:\n    command: [sh]\n    group: nosuchgroup_phpeek\n",
            Some(4),
            &["nosuchgroup_phpeek"],
        ),
        case(
            "unknown-signal",
            "processes:\n  web:\n    command: [sh]\n    shutdown:\n      signal: SIGFOO\n",
            Some(5),
            &["SIGFOO"],
        ),
        case(
            "bad-restart",
            "processes:\n  web:\n    command: [sh]\n    restart: sometimes\n",
            Some(4),
            &["restart", "sometimes"],
        ),
        case(
            "bad-global-restart-policy",
            "global:\n  restart_policy: sometimes\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["restart_policy", "sometimes"],
        ),
        case(
            "bad-type",
            "processes:\n  web:\n    command: [sh]\n    type: daemon\n",
            Some(4),
            &["type", "daemon"],
        ),
        case(
            "oneshot-restart-always",
            "processes:\n  migrate:\n    command: [sh]\n    type: oneshot\n    restart: always\n",
            Some(5),
            &["oneshot", "always"],
        ),
        case(
            "oneshot-scaled",
            "processes:\n  migrate:\n    command: [sh]\n    type: oneshot\n    scale: 2\n",
            Some(5),
            &["oneshot", "scale"],
        ),
        case(
            "scale-zero",
            "processes:\n  web:\n    command: [sh]\n    scale: 0\n",
            Some(4),
            &["scale", "0"],
        ),
        case(
            "scale-too-big",
            "processes:\n  web:\n    command: [sh]\n    scale: 100000\n",
            Some(4),
            &["scale", "100000"],
        ),
        case(
            "depends-on-unknown",
            "processes:\n  web:\n    command: [sh]\n    depends_on: [db]\n",
            Some(4),
            &["web", "db"],
        ),
        case(
            "depends-on-disabled",
            "processes:\n  db:\n    enabled: false\n    command: [sh]\n  web:\n    command: [sh]\n    depends_on: [db]\n",
            Some(7),
            &["web", "db"],
        ),
        case(
            "cycle",
            "processes:\n  a:\n    command: [sh]\n    depends_on: [b]\n  b:\n    command: [sh]\n    depends_on: [a]\n",
            Some(4),
            &["cycle", "a", "b"],
        ),
        case(
            "self-dependency",
            "processes:\n  web:\n    command: [sh]\n    depends_on: [web]\n",
            Some(4),
            &["cycle", "web"],
        ),
        case(
            "bad-log-format",
            "global:\n  log_format: xml\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["log_format", "xml"],
        ),
        case(
            "bad-log-level",
            "global:\n  log_level: loud\nprocesses:\n  web:\n    command: [sh]\n",
            Some(2),
            &["log_level", "loud"],
        ),
        case(
            "bad-process-name",
            "processes:\n  \"my web\":\n    command: [sh]\n",
            Some(2),
            &["my web"],
        ),
        Case {
            env: &[("PHPEEK_TEST_SCALE", "abc")],
            ..case(
                "expanded-variable-wrong-type",
                "processes:\n  web:\n    command: [sh]\n    scale: ${PHPEEK_TEST_SCALE}\n",
                Some(4),
                &["scale", "abc"],
            )
        },
        Case {
            marker: false,
            ..case(
                "no-processes",
                "global:\n  log_level: info\n",
                None,
                &["no processes"],
            )
        },
        Case {
            marker: false,
            ..case(
                "empty-processes",
                "processes: {}\n",
                None,
                &["no processes"],
            )
        },
        Case {
            marker: false,
            ..case(
                "all-disabled",
                "processes:\n  web:\n    enabled: false\n    command: [sh]\n",
                None,
                &["no processes"],
            )
        },
        Case {
            marker: false,
            ..case("not-a-mapping", "- web\n- db\n", None, &["mapping"])
        },
        // Environment overrides: the message names the variable (no file line).
        Case {
            env: &[("PHPEEK_PM_GLOBAL_LOG_LEVL", "debug")],
            ..case(
                "env-unknown-global",
                WEB,
                None,
                &["PHPEEK_PM_GLOBAL_LOG_LEVL", "PHPEEK_PM_GLOBAL_LOG_LEVEL"],
            )
        },
        Case {
            env: &[("PHPEEK_PM_PROCESS_WEB_COMANDO", "sleep 1")],
            ..case(
                "env-unknown-process-key",
                WEB,
                None,
                &["PHPEEK_PM_PROCESS_WEB_COMANDO"],
            )
        },
        Case {
            env: &[("PHPEEK_PM_PROCESS_WEB_SCALE", "abc")],
            ..case(
                "env-wrong-type",
                WEB,
                None,
                &["PHPEEK_PM_PROCESS_WEB_SCALE", "abc"],
            )
        },
        Case {
            env: &[("PHPEEK_PM_GLOBAL_LOG_LEVEL", "loud")],
            ..case(
                "env-bad-value",
                WEB,
                None,
                &["PHPEEK_PM_GLOBAL_LOG_LEVEL", "loud"],
            )
        },
        Case {
            env: &[("PHPEEK_PM_GLOBAL_SHUTDOWN_TIMEOUT", "soon")],
            ..case(
                "env-bad-duration",
                WEB,
                None,
                &["PHPEEK_PM_GLOBAL_SHUTDOWN_TIMEOUT", "soon"],
            )
        },
        Case {
            env: &[("PHPEEK_PM_PROCESS_WEB_RESTART", "sometimes")],
            ..case(
                "env-bad-restart",
                WEB,
                None,
                &["PHPEEK_PM_PROCESS_WEB_RESTART", "sometimes"],
            )
        },
    ]
}

/// One line on stderr, prefixed, no panic or backtrace.
fn one_clear_line(stderr: &str) -> Result<&str, String> {
    let t = stderr.trim_end();
    if t.lines().count() != 1 {
        return Err(format!("expected one line on stderr, got:\n{stderr}"));
    }
    if !t.starts_with("phpeek-pm: ") {
        return Err(format!("stderr does not start with \"phpeek-pm: \": {t}"));
    }
    if t.contains("panicked") || t.contains("RUST_BACKTRACE") {
        return Err(format!("a panic: {t}"));
    }
    Ok(t)
}

/// Writes the case's file (with the marker process) and returns (path, marker path).
fn write_case(dir: &TestDir, k: &Case) -> (String, std::path::PathBuf) {
    let marker = dir.file(&format!("{}.started", k.name));
    let mut yaml = k.yaml.to_owned();
    if k.marker {
        yaml.push_str(&format!(
            "  zz-marker:\n    command: [\"touch\", {}]\n",
            q(&marker.to_string_lossy())
        ));
    }
    let path = dir.write(&format!("{}.yaml", k.name), &yaml);
    (path.to_string_lossy().into_owned(), marker)
}

/// Exit 2, one clear line naming the file (or the variable) and the problem, the same with
/// `check-config`, `serve` and no subcommand, and nothing started.
#[test]
fn broken_configurations_are_rejected_and_start_nothing() {
    let dir = TestDir::new("badcfg");
    let all = cases();
    assert!(all.len() >= 40);
    let mut c = Soft::default();
    for k in &all {
        let (p, marker) = write_case(&dir, k);
        let mut first: Option<String> = None;
        for args in [
            vec!["check-config", "-c", &p],
            vec!["serve", "-c", &p],
            vec!["-c", &p],
        ] {
            let what = format!("{} ({})", k.name, args[0]);
            let out = run_cmd(&args, k.env, None, secs(10.0));
            c.eq(
                out.code,
                Some(2),
                &format!("{what}: exit code; stderr {:?}", out.stderr),
            );
            c.check(out.stdout.is_empty(), || {
                format!("{what}: stdout {:?}", out.stdout)
            });
            match one_clear_line(&out.stderr) {
                Err(e) => c.0.push(format!("{what}: {e}")),
                Ok(msg) => {
                    if k.env.iter().any(|(v, _)| v.starts_with("PHPEEK_PM_")) {
                        c.check(msg.contains("environment variable"), || {
                            format!("{what}: the variable is not named as such in {msg:?}")
                        });
                    } else {
                        c.check(msg.contains(&p), || {
                            format!("{what}: no file name in {msg:?}")
                        });
                        if k.line.is_some() {
                            let has_line = msg
                                .strip_prefix(&format!("phpeek-pm: {p}:"))
                                .and_then(|r| r.split(':').next())
                                .is_some_and(|n| n.parse::<usize>().is_ok());
                            c.check(has_line, || format!("{what}: no file:line in {msg:?}"));
                        }
                    }
                    for w in k.words {
                        c.check(msg.contains(w), || {
                            format!("{what}: {w:?} missing from {msg:?}")
                        });
                    }
                    match &first {
                        None => first = Some(msg.to_owned()),
                        Some(f) => c.eq(
                            msg,
                            f.as_str(),
                            &format!("{what}: same message as check-config"),
                        ),
                    }
                }
            }
            c.check(!marker.exists(), || {
                format!("{what}: a process was started")
            });
        }
        if let Some(f) = &first {
            println!(
                "{:<32} {}",
                k.name,
                f.replace(&p, &format!("{}.yaml", k.name))
            );
        }
    }
    c.finish("");
}

/// The `file:line` of each error is the line of the offending key or value.
#[test]
fn errors_point_at_the_offending_line() {
    let dir = TestDir::new("badline");
    let mut c = Soft::default();
    for k in cases().iter().filter(|k| k.line.is_some()) {
        let (p, _) = write_case(&dir, k);
        let l = k.line.unwrap();
        let out = run_cmd(&["check-config", "-c", &p], k.env, None, secs(10.0));
        let msg = out.stderr.trim_end().to_owned();
        c.check(msg.starts_with(&format!("phpeek-pm: {p}:{l}: ")), || {
            format!(
                "{}: want line {l}, got {:?}",
                k.name,
                msg.replace(&p, &format!("{}.yaml", k.name))
            )
        });
    }
    c.finish("");
}

#[test]
fn missing_or_unreadable_configuration_is_a_usage_error() {
    let dir = TestDir::new("missing");
    let mut c = Soft::default();
    let missing = dir.s("nope.yaml");
    let d = dir.path.to_string_lossy().into_owned();
    for (what, args, env, words) in [
        (
            "missing file",
            vec!["check-config", "-c", missing.as_str()],
            vec![],
            vec!["cannot read", missing.as_str()],
        ),
        (
            "missing file (serve)",
            vec!["-c", missing.as_str()],
            vec![],
            vec!["cannot read", missing.as_str()],
        ),
        (
            "missing file via PHPEEK_PM_CONFIG",
            vec![],
            vec![("PHPEEK_PM_CONFIG", missing.as_str())],
            vec!["cannot read", missing.as_str()],
        ),
        (
            "a directory",
            vec!["-c", d.as_str()],
            vec![],
            vec!["cannot read", d.as_str()],
        ),
        (
            "no configuration at all",
            vec![],
            vec![],
            vec!["no configuration", "PHPEEK_PM_PROCESS_"],
        ),
        (
            "no configuration (check-config)",
            vec!["check-config"],
            vec![],
            vec!["no configuration"],
        ),
    ] {
        let out = run_cmd(&args, &env, Some(&dir.path), secs(10.0));
        c.eq(
            out.code,
            Some(2),
            &format!("{what}: exit code ({:?})", out.stderr),
        );
        match one_clear_line(&out.stderr) {
            Err(e) => c.0.push(format!("{what}: {e}")),
            Ok(msg) => {
                for w in &words {
                    c.check(msg.contains(w), || {
                        format!("{what}: {w:?} missing from {msg:?}")
                    });
                }
            }
        }
    }
    c.finish("");
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let mut c = Soft::default();
    for args in [
        vec!["bogus"],
        vec!["--nope"],
        vec!["check-config", "--dry-run"],
        vec!["-c"],
        vec!["serve", "extra"],
        vec!["check-config", "--autotune-memory-threshold", "0.5"],
    ] {
        let out = run_cmd(&args, &[], None, secs(10.0));
        c.eq(
            out.code,
            Some(2),
            &format!("{args:?}: exit code (stderr {:?})", out.stderr),
        );
        c.check(out.stderr.starts_with("phpeek-pm: "), || {
            format!("{args:?}: stderr {:?}", out.stderr)
        });
        c.check(out.stdout.is_empty(), || {
            format!("{args:?}: stdout {:?}", out.stdout)
        });
    }
    c.finish("");
}

/// The auto-tuning flags need the feature; a build without it refuses them by name.
#[cfg(not(feature = "autotune"))]
#[test]
fn autotune_flags_need_the_feature() {
    for args in [
        vec!["--php-fpm-profile", "medium", "--dry-run"],
        vec!["--autotune-memory-threshold", "0.5", "--dry-run"],
    ] {
        let out = run_cmd(&args, &[], None, secs(10.0));
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("requires a build with feature \"autotune\""),
            "{args:?}: {}",
            out.stderr
        );
    }
}
