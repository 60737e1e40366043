//! The command line outside of serving: `version` (and its flags), `--help`, and the example
//! configurations shipped in `configs/examples/`: each passes `check-config` and `--dry-run`,
//! or fails only because it needs a feature this (default, minimal) build does not have.

mod support;

use support::*;

/// Features of Cargo.toml and whether this build has them (the test crate is compiled with
/// the same feature set as the binary).
fn features() -> Vec<(&'static str, bool)> {
    vec![
        ("health", cfg!(feature = "health")),
        ("hooks", cfg!(feature = "hooks")),
        ("api", cfg!(feature = "api")),
        ("metrics", cfg!(feature = "metrics")),
        ("scheduler", cfg!(feature = "scheduler")),
        ("heartbeat", cfg!(feature = "heartbeat")),
        ("log-processing", cfg!(feature = "log-processing")),
        ("autotune", cfg!(feature = "autotune")),
        ("detect", cfg!(feature = "detect")),
    ]
}

#[test]
fn version_prints_version_commit_target_and_features() {
    let out = run_cmd(&["version"], &[], None, secs(10.0));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = out.stdout.clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("phpeek-pm {}", env!("CARGO_PKG_VERSION")),
        "{text}"
    );
    let field = |k: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("no {k}: line in\n{text}"))
            .to_owned()
    };
    let commit = field("commit");
    assert!(!commit.trim().is_empty(), "empty commit");
    let target = field("target");
    assert!(
        target.contains(std::env::consts::ARCH) && target.contains("linux"),
        "target {target:?}"
    );
    let feats = field("features");
    let on: Vec<&str> = features()
        .into_iter()
        .filter(|f| f.1)
        .map(|f| f.0)
        .collect();
    if on.is_empty() {
        assert!(feats.contains("none"), "minimal build: features {feats:?}");
    } else {
        for f in on {
            assert!(feats.contains(f), "feature {f} missing from {feats:?}");
        }
    }
    for flag in ["--version", "-V"] {
        let o = run_cmd(&[flag], &[], None, secs(10.0));
        assert_eq!(o.code, Some(0));
        assert_eq!(o.stdout, text, "{flag} differs from `version`");
    }
    assert!(out.stderr.is_empty());
}

#[test]
fn help_lists_the_commands() {
    for flag in ["--help", "-h", "help"] {
        let out = run_cmd(&[flag], &[], None, secs(10.0));
        assert_eq!(out.code, Some(0), "{flag}");
        for w in ["check-config", "version", "--config", "--dry-run"] {
            assert!(
                out.stdout.contains(w),
                "{flag}: {w} missing:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn example_configurations_pass_check_config_or_need_a_feature() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("configs/examples")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    let mut c = Soft::default();
    let (mut ok, mut needs) = (0, 0);
    for f in &files {
        let p = f.to_string_lossy().into_owned();
        let out = run_cmd(&["check-config", "-c", &p], &[], None, secs(10.0));
        match out.code {
            Some(0) => {
                ok += 1;
                c.check(out.stdout.contains("configuration OK"), || {
                    format!("{p}: check-config said {:?}", out.stdout)
                });
                let dry = run_cmd(&["--dry-run", "-c", &p], &[], None, secs(10.0));
                c.eq(
                    dry.code,
                    Some(0),
                    &format!("{p}: --dry-run exit code ({})", dry.stderr),
                );
                c.check(dry.stdout.contains("start order"), || {
                    format!("{p}: --dry-run output")
                });
            }
            Some(2) if out.stderr.contains("requires") => {
                needs += 1;
                println!("{}: {}", f.display(), out.stderr.trim_end());
            }
            other => {
                c.0.push(format!("{p}: exit {other:?}: {}", out.stderr.trim_end()))
            }
        }
    }
    println!("{ok} example(s) pass, {needs} need features this build lacks");
    c.finish("");
}

/// Complete configurations shown in README.md and docs/*.md (```yaml blocks with a top-level
/// `processes:` key; schematic blocks with `...` or `<placeholders>` are skipped) pass
/// `check-config` or fail only for a feature this build lacks.
#[test]
fn documented_configurations_pass_check_config_or_need_a_feature() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md")];
    if let Ok(d) = std::fs::read_dir(root.join("docs")) {
        docs.extend(
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    docs.sort();
    let tmp = TestDir::new("docyaml");
    let mut c = Soft::default();
    let mut checked = 0;
    for doc in docs.iter().filter(|d| d.exists()) {
        let text = std::fs::read_to_string(doc).unwrap();
        let mut block: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start().starts_with("```yaml") => {
                    block = Some((n + 2, String::new()))
                }
                Some((start, body)) if line.trim_start().starts_with("```") => {
                    let schematic = body.lines().any(|l| {
                        let t = l.split('#').next().unwrap_or("").trim();
                        t == "..." || t.contains('<')
                    });
                    if !schematic && body.lines().any(|l| l.starts_with("processes:")) {
                        checked += 1;
                        let name = format!(
                            "{}-{start}.yaml",
                            doc.file_stem().unwrap().to_string_lossy()
                        );
                        let p = tmp.write(&name, body);
                        let out = run_cmd(
                            &["check-config", "-c", &p.to_string_lossy()],
                            &[],
                            None,
                            secs(10.0),
                        );
                        let ok = out.code == Some(0)
                            || (out.code == Some(2) && out.stderr.contains("requires"));
                        c.check(ok, || {
                            format!(
                                "{}:{start}: exit {:?}: {}",
                                doc.display(),
                                out.code,
                                out.stderr.trim_end()
                            )
                        });
                    }
                    block = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => {}
            }
        }
    }
    println!("{checked} documented configuration(s) checked");
    c.finish("");
}
