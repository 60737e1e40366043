//! Start order (issue #2, item 4): a diamond of dependencies starts in topological order,
//! priorities order processes that are ready together, a oneshot dependency gates its
//! dependents until it exits 0 and its failure fails them (`dependency_failed`), a dependency
//! that never gets ready times out; a cycle and an unknown dependency are rejected before
//! anything starts; `--dry-run` prints the order and starts nothing.

mod support;

use support::*;

fn line_of(m: &mut Manager, event: &str, inst: &str) -> i64 {
    let v = m.events(event, inst);
    assert_eq!(v.len(), 1, "expected one {event} of {inst}\n{}", m.dump());
    v[0].line_no()
}

/// a; b and c depend on a; d depends on b and c. Longruns: order of `started` records.
#[test]
fn diamond_of_longruns_starts_in_topological_order() {
    let dir = TestDir::new("diamond");
    let idle = sh("sleep 1000 & wait");
    // Names and priorities chosen so that neither alphabetical nor priority order alone
    // would give a topological order.
    let cfg = format!(
        r#"processes:
  d:
    command: {idle}
    depends_on: [b, c]
    priority: -10
  c:
    command: {idle}
    depends_on: [a]
    priority: -5
  b:
    command: {idle}
    depends_on: [a]
  a:
    command: {idle}
    priority: 100
"#
    );
    let path = dir.write("c.yaml", &cfg);
    for mode in [Mode::Pid1, Mode::Subreaper] {
        let mut m = Manager::start(mode, &path);
        m.wait_count(4, secs(10.0), "4 started records", |r| {
            r.event() == Some("started")
        });
        let a = line_of(&mut m, "started", "a-0");
        let b = line_of(&mut m, "started", "b-0");
        let c = line_of(&mut m, "started", "c-0");
        let d = line_of(&mut m, "started", "d-0");
        assert!(a < b && a < c, "b or c started before a ({mode:?})");
        assert!(b < d && c < d, "d started before b or c ({mode:?})");
        // Ready together, c (priority -5) is spawned before b (priority 0).
        assert!(c < b, "priority not respected between b and c ({mode:?})");
        m.signal(libc::SIGTERM);
        assert_eq!(m.wait_code(secs(10.0)), 0);
        // Reverse order on the way down: d first, a last.
        let sd = line_of(&mut m, "stopping", "d-0");
        let sb = line_of(&mut m, "stopping", "b-0");
        let sc = line_of(&mut m, "stopping", "c-0");
        let sa = line_of(&mut m, "stopping", "a-0");
        let ed = line_of(&mut m, "exited", "d-0");
        assert!(
            ed < sb && ed < sc,
            "b/c signalled before d exited ({mode:?})"
        );
        assert!(sd < sb && sb < sa && sc < sa, "stop order ({mode:?})");
    }
}

/// The same diamond of oneshots: each appends its name to a file when it runs, so the
/// children's own record shows the order.
#[test]
fn diamond_of_oneshots_runs_in_order_and_exits_0() {
    let dir = TestDir::new("diamond1");
    let order = dir.s("order");
    let step = |n: &str| {
        sh(&format!(
            "echo {n}-begin >> {order}; sleep 0.2; echo {n}-end >> {order}; echo {n}-done"
        ))
    };
    let cfg = format!(
        r#"processes:
  d:
    type: oneshot
    command: {d}
    depends_on: [b, c]
  c:
    type: oneshot
    command: {c}
    depends_on: [a]
  b:
    type: oneshot
    command: {b}
    depends_on: [a]
  a:
    type: oneshot
    command: {a}
"#,
        a = step("a"),
        b = step("b"),
        c = step("c"),
        d = step("d"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    // Every process finished successfully: the manager exits 0 on its own.
    assert_eq!(m.wait_code(secs(15.0)), 0, "{}", m.dump());
    let text = std::fs::read_to_string(&order).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let pos = |s: &str| {
        lines
            .iter()
            .position(|l| *l == s)
            .unwrap_or_else(|| panic!("{s} missing from {lines:?}"))
    };
    assert!(
        pos("a-end") < pos("b-begin") && pos("a-end") < pos("c-begin"),
        "{lines:?}"
    );
    assert!(
        pos("b-end") < pos("d-begin") && pos("c-end") < pos("d-begin"),
        "{lines:?}"
    );
    // b and c do not wait for each other: both began before either ended.
    assert!(
        pos("b-begin") < pos("c-end") && pos("c-begin") < pos("b-end"),
        "b and c ran one after the other: {lines:?}"
    );
    for n in ["a", "b", "c", "d"] {
        assert_eq!(m.events("completed", &format!("{n}-0")).len(), 1);
    }
    let exit = m.find(|r| r.event() == Some("exit"));
    assert_eq!(exit[0].i("exit_code"), Some(0));
}

#[test]
fn oneshot_dependency_gates_dependents() {
    let dir = TestDir::new("gate");
    let cfg = format!(
        r#"processes:
  migrate:
    type: oneshot
    command: {migrate}
  web:
    command: {web}
    depends_on: [migrate]
  worker:
    command: {web}
    scale: 2
    depends_on: [migrate, web]
"#,
        migrate = sh("sleep 0.5; echo migrated"),
        web = sh("sleep 1000 & wait"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    m.wait_count(2, secs(10.0), "worker starts", |r| {
        r.event() == Some("started") && r.process() == Some("worker")
    });
    let migrate_start = m.events("started", "migrate-0")[0].time_ms();
    let completed = line_of(&mut m, "completed", "migrate-0");
    let said = m.find(|r| r.says("migrate-0", "migrated"));
    assert_eq!(said.len(), 1);
    let web = m.events("started", "web-0")[0].clone();
    assert!(said[0].line_no() < completed && completed < web.line_no());
    assert!(
        web.time_ms() - migrate_start >= 450,
        "web started {} ms after migrate began; migrate takes 500 ms",
        web.time_ms() - migrate_start
    );
    for w in ["worker-0", "worker-1"] {
        assert!(line_of(&mut m, "started", w) > web.line_no());
    }
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn failing_oneshot_dependency_fails_its_dependents() {
    let dir = TestDir::new("depfail");
    let marker = dir.file("web-ran");
    let cfg = format!(
        r#"processes:
  migrate:
    type: oneshot
    command: {migrate}
  web:
    command: {web}
    depends_on: [migrate]
  edge:
    command: {web}
    depends_on: [web]
  other:
    restart: never
    command: {other}
"#,
        migrate = sh("echo migration failed >&2; exit 3"),
        web = sh(&format!("touch {}; sleep 1000", marker.display())),
        other = sh("sleep 0.3"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Pid1, &path);
    // migrate failed, web and edge can never start, other finished: done, with code 1.
    assert_eq!(m.wait_code(secs(10.0)), 1, "{}", m.dump());
    let ex = m.events("exited", "migrate-0");
    assert_eq!(ex[0].i("exit_code"), Some(3));
    assert!(m.events("completed", "migrate-0").is_empty());
    for inst in ["web-0", "edge-0"] {
        assert_eq!(
            m.events("dependency_failed", inst).len(),
            1,
            "{inst}\n{}",
            m.dump()
        );
        assert!(m.events("started", inst).is_empty(), "{inst} started");
    }
    let df = &m.events("dependency_failed", "web-0")[0];
    assert!(df.msg().contains("migrate"), "names the dependency: {df}");
    assert!(!marker.exists(), "web ran although its dependency failed");
    let err = m.find(|r| r.says("migrate-0", "migration failed"));
    assert_eq!(err[0].s("stream"), Some("stderr"));
}

#[test]
fn dependency_timeout_fails_the_waiting_process() {
    let dir = TestDir::new("deptimeout");
    let cfg = format!(
        r#"global:
  dependency_timeout: 500ms
processes:
  slow:
    type: oneshot
    command: {slow}
  web:
    command: {web}
    depends_on: [slow]
"#,
        slow = sh("sleep 1000 & wait"),
        web = sh("sleep 1000"),
    );
    let path = dir.write("c.yaml", &cfg);
    let mut m = Manager::start(Mode::Subreaper, &path);
    let t = m.wait_for(secs(10.0), "dependency_timeout", |r| {
        r.is("dependency_timeout", "web-0")
    });
    let began = m.wait_started().time_ms();
    let waited = t.time_ms() - began;
    assert!(
        (450..3000).contains(&waited),
        "timed out after {waited} ms, limit 500 ms"
    );
    assert!(m.events("started", "web-0").is_empty());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(10.0)), 0);
}

#[test]
fn cycle_and_unknown_dependency_are_rejected_before_anything_starts() {
    let dir = TestDir::new("cycle");
    let marker = dir.file("started");
    let touch = format!("[\"touch\", {}]", q(&marker.to_string_lossy()));
    let cases = [
        (
            "cycle",
            format!(
                "processes:\n  first:\n    command: {touch}\n  api:\n    command: [sleep, '1']\n    depends_on: [queue]\n  queue:\n    command: [sleep, '1']\n    depends_on: [cache]\n  cache:\n    command: [sleep, '1']\n    depends_on: [api]\n"
            ),
            vec!["cycle", "api", "queue", "cache"],
        ),
        (
            "unknown",
            format!(
                "processes:\n  first:\n    command: {touch}\n  web:\n    command: [sleep, '1']\n    depends_on: [databse]\n"
            ),
            vec!["web", "databse"],
        ),
    ];
    for (name, cfg, words) in cases {
        let path = dir.write(&format!("{name}.yaml"), &cfg);
        let p = path.to_string_lossy().into_owned();
        for args in [
            vec!["check-config", "-c", &p],
            vec!["-c", &p],
            vec!["serve", "-c", &p],
        ] {
            let out = run_cmd(&args, &[], None, secs(10.0));
            assert_eq!(out.code, Some(2), "{name} {args:?}: {}", out.stderr);
            for w in &words {
                assert!(
                    out.stderr.contains(w),
                    "{name}: stderr lacks {w:?}: {}",
                    out.stderr
                );
            }
            assert!(
                out.stderr.contains(&p),
                "{name}: stderr lacks the file: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{name}: stdout: {}", out.stdout);
            assert!(!marker.exists(), "{name}: a process was started");
        }
        // As PID 1 too.
        let mut m = Manager::start(Mode::Pid1, &path);
        assert_eq!(m.wait_code(secs(10.0)), 2);
        assert!(
            m.records().is_empty(),
            "records on stdout: {:?}",
            m.records()
        );
        assert!(!marker.exists(), "{name}: a process was started as PID 1");
    }
}

#[test]
fn dry_run_prints_the_start_order_and_starts_nothing() {
    let dir = TestDir::new("dryrun");
    let marker = dir.file("ran");
    let touch = format!("[\"touch\", {}]", q(&marker.to_string_lossy()));
    let cfg = format!(
        "processes:\n  d:\n    command: {touch}\n    depends_on: [b, c]\n  c:\n    command: {touch}\n    depends_on: [a]\n    scale: 2\n  b:\n    command: {touch}\n    depends_on: [a]\n  a:\n    command: {touch}\n    priority: 50\n"
    );
    let path = dir.write("c.yaml", &cfg);
    let p = path.to_string_lossy().into_owned();
    let out = run_cmd(&["--dry-run", "-c", &p], &[], None, secs(10.0));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!marker.exists(), "--dry-run started a process");
    let s = &out.stdout;
    assert!(s.contains("start order"), "{s}");
    let at = |needle: &str| {
        s.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in dry-run output:\n{s}"))
    };
    let (a, b, c, d) = (at(". a ("), at(". b ("), at(". c ("), at(". d ("));
    assert!(a < b && a < c && b < d && c < d, "order in:\n{s}");
    assert!(
        s.contains("c-0") && s.contains("c-1"),
        "instances listed:\n{s}"
    );
    // check-config prints the same plan.
    let out2 = run_cmd(&["check-config", "-c", &p], &[], None, secs(10.0));
    assert_eq!(out2.code, Some(0));
    assert!(out2.stdout.contains(". a (") && out2.stdout.contains("start order"));
}
