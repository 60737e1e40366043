//! The glue on fixture cgroup trees: limits → profile → exported variables, user overrides,
//! precedence of the threshold sources, failures and their exit codes.

use super::cgroup::fixture::{Tree, v1, v2};
use super::*;
use crate::config::model::Config;

const GIB: u64 = 1 << 30;

fn config(yaml: &str) -> Config {
    let passwd = || {
        (
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n".to_owned(),
            "root:x:0:\nwww-data:x:33:\n".to_owned(),
        )
    };
    crate::config::load(&crate::config::Inputs {
        file: Some(("t.yaml", yaml)),
        env: &[],
        passwd: &passwd,
    })
    .unwrap()
}

const FPM: &str = "processes:\n  php-fpm:\n    command: [php-fpm8.2, -F]\n";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Runs choose + plan on a fixture tree with `host_cpus` CPUs.
fn tune(
    tree: &Tree,
    c: &Config,
    profile: Option<&str>,
    threshold: Option<&str>,
    e: &[(String, String)],
    host_cpus: u64,
) -> Result<Planned, Failure> {
    let req = Request {
        config: c,
        php_fpm_profile: profile,
        memory_threshold: threshold,
        env: e,
        dry_run: true,
    };
    let choice = choose(&req)?.expect("a profile");
    Ok(plan(&choice, &cgroup::read(tree.root()), host_cpus, &req))
}

fn exported(p: &Planned) -> Vec<(String, String)> {
    p.outcome.as_ref().unwrap().0.clone()
}

fn var<'a>(vars: &'a [(String, String)], k: &str) -> Option<&'a str> {
    vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn medium_at_2gib_4cpus_on_cgroup_v1() {
    let t = v1("g-v1", "/docker/x", "/docker/x");
    t.file(
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        &(2 * GIB).to_string(),
    )
    .file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "400000")
    .file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000");
    let c = config(FPM);
    let p = tune(&t, &c, Some("medium"), None, &[], 8).unwrap();
    let e = exported(&p);
    assert_eq!(
        e,
        env(&[
            ("PHP_FPM_PM", "dynamic"),
            ("PHP_FPM_MAX_CHILDREN", "16"),
            ("PHP_FPM_START_SERVERS", "6"),
            ("PHP_FPM_MIN_SPARE", "4"),
            ("PHP_FPM_MAX_SPARE", "8"),
            ("PHP_FPM_MAX_REQUESTS", "1000"),
        ])
    );
    assert!(
        p.text
            .contains("memory limit: 2048 MiB — /sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "{}",
        p.text
    );
    assert!(
        p.text
            .contains("CPU limit:    4 CPUs — /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"),
        "{}",
        p.text
    );
    assert!(p.text.contains("28 workers; CPU cap 16"), "{}", p.text);
    assert_eq!(p.notes[0].event, "autotune");
}

#[test]
fn medium_at_2gib_2cpus_on_cgroup_v2() {
    let t = v2("g-v2", "/", "/");
    t.file("/sys/fs/cgroup/memory.max", &(2 * GIB).to_string())
        .file("/sys/fs/cgroup/cpu.max", "200000 100000");
    let p = tune(&t, &config(FPM), Some("medium"), None, &[], 8).unwrap();
    let e = exported(&p);
    assert_eq!(var(&e, "PHP_FPM_MAX_CHILDREN"), Some("8"));
    assert_eq!(var(&e, "PHP_FPM_START_SERVERS"), Some("3"));
    assert_eq!(var(&e, "PHP_FPM_MIN_SPARE"), Some("2"));
    assert_eq!(var(&e, "PHP_FPM_MAX_SPARE"), Some("4"));
}

#[test]
fn every_worked_result_through_fixture_trees() {
    // (profile, MiB, CPUs) → (max_children, start, min spare, max spare), reference §3.15.
    let cases = [
        ("dev", 512, 2, (2, 2, 2, 2)),
        ("light", 1024, 2, (8, 2, 2, 4)),
        ("medium", 2048, 2, (8, 3, 2, 4)),
        ("medium", 2048, 4, (16, 6, 4, 8)),
        ("bursty", 4096, 4, (16, 8, 7, 12)),
        ("heavy", 8192, 8, (32, 16, 7, 16)),
    ];
    for (i, (name, mib, cpus, want)) in cases.into_iter().enumerate() {
        let t = v2(&format!("g-all{i}"), "/", "/");
        t.file("/sys/fs/cgroup/memory.max", &(mib * MIB).to_string())
            .file(
                "/sys/fs/cgroup/cpu.max",
                &format!("{} 100000", cpus * 100_000),
            );
        let p = tune(&t, &config(FPM), Some(name), None, &[], 64).unwrap();
        let e = exported(&p);
        let n = |k| var(&e, k).unwrap().parse::<u64>().unwrap();
        assert_eq!(
            (
                n("PHP_FPM_MAX_CHILDREN"),
                n("PHP_FPM_START_SERVERS"),
                n("PHP_FPM_MIN_SPARE"),
                n("PHP_FPM_MAX_SPARE")
            ),
            want,
            "{name} {mib} {cpus}"
        );
    }
}

#[test]
fn unlimited_falls_back_to_the_host_with_a_warning() {
    // cgroup v1 "unlimited" memory and no CPU quota: the host's 16 GiB and 2 CPUs.
    let t = v1("g-unl", "/", "/");
    let p = tune(&t, &config(FPM), Some("light"), None, &[], 2).unwrap();
    let e = exported(&p);
    assert_eq!(var(&e, "PHP_FPM_MAX_CHILDREN"), Some("8"));
    assert!(
        p.notes
            .iter()
            .any(|n| n.event == "autotune_no_limit" && n.level == Level::Warn)
    );
    assert!(p.text.contains("host memory"), "{}", p.text);
    assert!(p.text.contains("no CPU quota"), "{}", p.text);
}

#[test]
fn quota_below_one_cpu_in_a_nested_cgroup() {
    let t = v1("g-half", "/outer/inner", "/");
    t.file(
        "/sys/fs/cgroup/memory/outer/memory.limit_in_bytes",
        &GIB.to_string(),
    )
    .file(
        "/sys/fs/cgroup/memory/outer/inner/memory.limit_in_bytes",
        "9223372036854771712",
    )
    .file(
        "/sys/fs/cgroup/cpu,cpuacct/outer/inner/cpu.cfs_quota_us",
        "50000",
    )
    .file(
        "/sys/fs/cgroup/cpu,cpuacct/outer/inner/cpu.cfs_period_us",
        "100000",
    );
    let p = tune(&t, &config(FPM), Some("light"), None, &[], 2).unwrap();
    let e = exported(&p);
    // light at 1 GiB allows 13 by memory; half a CPU caps at 2 (= light's minimum).
    assert_eq!(var(&e, "PHP_FPM_MAX_CHILDREN"), Some("2"));
    assert!(p.text.contains("0.5 CPUs"), "{}", p.text);
    assert!(
        p.text
            .contains("/sys/fs/cgroup/memory/outer/memory.limit_in_bytes"),
        "{}",
        p.text
    );
}

#[test]
fn cgroup_limit_above_host_memory_uses_the_host() {
    let t = v2("g-big", "/", "/");
    t.meminfo(1024 * 1024) // 1 GiB host
        .file("/sys/fs/cgroup/memory.max", &(8 * GIB).to_string());
    let p = tune(&t, &config(FPM), Some("light"), None, &[], 4).unwrap();
    assert!(
        p.text.contains("memory limit: 1024 MiB — host memory"),
        "{}",
        p.text
    );
}

#[test]
fn too_little_memory_fails_with_exit_1_and_nothing_exported() {
    let t = v2("g-small", "/", "/");
    t.file("/sys/fs/cgroup/memory.max", &(256 * MIB).to_string());
    let p = tune(&t, &config(FPM), Some("medium"), None, &[], 2).unwrap();
    let Err(f) = p.outcome else {
        panic!("256 MiB must not fit medium")
    };
    assert_eq!(f.code, EXIT_TOO_LITTLE_MEMORY);
    assert!(f.msg.contains("at least 488 MiB"), "{}", f.msg);
    assert!(f.msg.contains("/sys/fs/cgroup/memory.max"), "{}", f.msg);
    assert!(f.msg.contains("dev needs 320 MiB"), "{}", f.msg);
}

#[test]
fn user_set_max_children_wins_and_spares_follow_it() {
    let t = v2("g-user", "/", "/");
    t.file("/sys/fs/cgroup/memory.max", &(2 * GIB).to_string())
        .file("/sys/fs/cgroup/cpu.max", "400000 100000");
    let user = env(&[("PHP_FPM_MAX_CHILDREN", "10")]);
    let p = tune(&t, &config(FPM), Some("medium"), None, &user, 8).unwrap();
    let e = exported(&p);
    // Not exported (the manager's own environment already has it) ...
    assert_eq!(var(&e, "PHP_FPM_MAX_CHILDREN"), None);
    // ... and the spares are derived from 10: ceil(3.3)=4, ceil(2.5)=3, ceil(5)=5.
    assert_eq!(var(&e, "PHP_FPM_START_SERVERS"), Some("4"));
    assert_eq!(var(&e, "PHP_FPM_MIN_SPARE"), Some("3"));
    assert_eq!(var(&e, "PHP_FPM_MAX_SPARE"), Some("5"));
    let said = p
        .notes
        .iter()
        .find(|n| n.event == "autotune_user_value")
        .expect("a note about the user's value");
    assert!(
        said.msg.contains("PHP_FPM_MAX_CHILDREN=10")
            && said.msg.contains("wins over the computed 16"),
        "{}",
        said.msg
    );
    let report = &p.outcome.as_ref().unwrap().1;
    assert_eq!(report.user_set, ["PHP_FPM_MAX_CHILDREN"]);
    assert!(
        report
            .vars
            .contains(&("PHP_FPM_MAX_CHILDREN", "10".to_owned()))
    );
}

#[test]
fn user_values_that_break_php_fpm_rules_are_refused() {
    let t = v2("g-bad", "/", "/");
    t.file("/sys/fs/cgroup/memory.max", &(2 * GIB).to_string());
    let c = config(FPM);
    let p = tune(
        &t,
        &c,
        Some("medium"),
        None,
        &env(&[("PHP_FPM_MAX_SPARE", "1")]),
        4,
    )
    .unwrap();
    let Err(f) = p.outcome else {
        panic!("max_spare 1 < min_spare")
    };
    assert_eq!(f.code, EXIT_USAGE);
    assert!(f.msg.contains("PHP_FPM_MAX_SPARE"), "{}", f.msg);
    let p = tune(
        &t,
        &c,
        Some("medium"),
        None,
        &env(&[("PHP_FPM_MAX_CHILDREN", "lots")]),
        4,
    )
    .unwrap();
    assert!(p.outcome.is_err());
    // ondemand: the spares do not apply, anything goes.
    let p = tune(
        &t,
        &c,
        Some("medium"),
        None,
        &env(&[("PHP_FPM_PM", "ondemand"), ("PHP_FPM_MAX_SPARE", "1")]),
        4,
    )
    .unwrap();
    assert!(p.outcome.is_ok());
}

#[test]
fn oversubscribed_user_value_warns() {
    let t = v2("g-over", "/", "/");
    t.file("/sys/fs/cgroup/memory.max", &GIB.to_string());
    let p = tune(
        &t,
        &config(FPM),
        Some("medium"),
        None,
        &env(&[("PHP_FPM_MAX_CHILDREN", "100")]),
        4,
    )
    .unwrap();
    assert!(p.outcome.is_ok());
    assert!(p.notes.iter().any(|n| n.event == "autotune_oversubscribed"));
}

#[test]
fn process_env_override_is_reported() {
    let t = v2("g-penv", "/", "/");
    t.file("/sys/fs/cgroup/memory.max", &(2 * GIB).to_string());
    let c = config(
        "processes:\n  php-fpm:\n    command: [php-fpm]\n    env:\n      PHP_FPM_MAX_CHILDREN: 5\n",
    );
    let p = tune(&t, &c, Some("medium"), None, &[], 4).unwrap();
    assert!(
        p.text
            .contains("process php-fpm sets PHP_FPM_MAX_CHILDREN=5"),
        "{}",
        p.text
    );
}

#[test]
fn profile_and_threshold_precedence() {
    let t = v2("g-prec", "/", "/");
    t.file("/sys/fs/cgroup/memory.max", &(2 * GIB).to_string());
    let c = config(&format!("global:\n  autotune_memory_threshold: 0.5\n{FPM}"));
    assert_eq!(c.global.autotune_memory_threshold, Some(500_000));
    let e = env(&[(PROFILE_ENV, "light"), (THRESHOLD_ENV, "0.6")]);
    let req = |p, th, e| Request {
        config: &c,
        php_fpm_profile: p,
        memory_threshold: th,
        env: e,
        dry_run: true,
    };
    let ch = choose(&req(Some("heavy"), Some("0.7"), &e))
        .unwrap()
        .unwrap();
    assert_eq!(
        (ch.profile.name, ch.share),
        ("heavy", Some((700_000, "--autotune-memory-threshold")))
    );
    let ch = choose(&req(None, None, &e)).unwrap().unwrap();
    assert_eq!(
        (ch.profile.name, ch.share),
        ("light", Some((600_000, THRESHOLD_ENV)))
    );
    let ch = choose(&req(Some("dev"), None, &[])).unwrap().unwrap();
    assert_eq!(
        ch.share,
        Some((500_000, "global.autotune_memory_threshold"))
    );
    assert_eq!(choose(&req(None, None, &[])).unwrap(), None);
    let f = choose(&req(Some("huge"), None, &[])).unwrap_err();
    assert_eq!(f.code, EXIT_USAGE);
    assert!(
        f.msg.contains("dev, light, medium, heavy, bursty"),
        "{}",
        f.msg
    );
    let f = choose(&req(Some("dev"), Some("1.5"), &[])).unwrap_err();
    assert_eq!(f.code, EXIT_USAGE);
    let f = choose(&req(
        None,
        None,
        &env(&[(PROFILE_ENV, "dev"), (THRESHOLD_ENV, "x")]),
    ))
    .unwrap_err();
    assert!(f.msg.starts_with(THRESHOLD_ENV), "{}", f.msg);
    // The threshold shows in the budget line.
    let p = tune(&t, &c, Some("medium"), None, &[], 64).unwrap();
    assert!(
        p.text
            .contains("× 0.5 (global.autotune_memory_threshold) = 1024 MiB"),
        "{}",
        p.text
    );
}

#[test]
fn config_threshold_is_validated_with_its_line() {
    let passwd = || (String::new(), String::new());
    let e = crate::config::load(&crate::config::Inputs {
        file: Some((
            "t.yaml",
            "global:\n  autotune_memory_threshold: 1.5\nprocesses:\n  a: {command: [x]}\n",
        )),
        env: &[],
        passwd: &passwd,
    })
    .unwrap_err();
    assert_eq!(e.to_string().split(": ").next(), Some("t.yaml:2"), "{e}");
    let e = crate::config::load(&crate::config::Inputs {
        file: Some(("t.yaml", "processes:\n  a: {command: [x]}\n")),
        env: &[(
            "PHPEEK_PM_GLOBAL_AUTOTUNE_MEMORY_THRESHOLD".into(),
            "-1".into(),
        )],
        passwd: &passwd,
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("PHPEEK_PM_GLOBAL_AUTOTUNE_MEMORY_THRESHOLD"),
        "{e}"
    );
}
