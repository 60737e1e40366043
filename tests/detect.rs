//! Framework detection with the real binary (issue 12): each framework's fixture directory as
//! the manager's working directory is named in the log and by `--dry-run`; for Laravel the
//! missing `storage/…` and `bootstrap/cache` directories exist, owned by the php-fpm process's
//! `user:`, before the first process starts; on a read-only filesystem only a warning.
#![cfg(feature = "detect")]

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use support::*;

const LIMIT: Duration = Duration::from_secs(30);
const LARAVEL_DIRS: [&str; 6] = [
    "storage/app/public",
    "storage/framework/cache/data",
    "storage/framework/sessions",
    "storage/framework/views",
    "storage/logs",
    "bootstrap/cache",
];

fn records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn touch(dir: &Path, rel: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, "").unwrap();
}

#[test]
fn each_framework_is_detected_logged_and_shown_by_dry_run() {
    let cases: [(&str, &[&str], &[&str]); 4] = [
        ("laravel", &["artisan", "composer.json"], &[]),
        ("symfony", &["bin/console"], &["var"]),
        ("wordpress", &["wp-config.php"], &[]),
        ("generic", &["index.php", "bin/console"], &[]),
    ];
    for (name, files, dirs) in cases {
        let app = TestDir::new(&format!("det-{name}"));
        for f in files {
            touch(&app.path, f);
        }
        for d in dirs {
            std::fs::create_dir_all(app.path.join(d)).unwrap();
        }
        let cfg = app.write(
            "c.yaml",
            "processes:\n  one:\n    type: oneshot\n    command: [true]\n",
        );
        let c = cfg.to_string_lossy().into_owned();
        let out = run_cmd(&["-c", &c], &[], Some(app.path.as_path()), LIMIT);
        assert_eq!(out.code, Some(0), "{name}: {}\n{}", out.stdout, out.stderr);
        let recs = records(&out.stdout);
        let det = recs
            .iter()
            .find(|r| r["event"] == "framework_detected")
            .unwrap_or_else(|| panic!("{name}: no framework_detected event:\n{}", out.stdout));
        assert_eq!(det["framework"], name, "{det}");
        let pos = |e: &str| recs.iter().position(|r| r["event"] == e);
        assert!(pos("framework_detected") < pos("started"), "{}", out.stdout);
        let out = run_cmd(
            &["-c", &c, "--dry-run"],
            &[],
            Some(app.path.as_path()),
            LIMIT,
        );
        assert_eq!(out.code, Some(0));
        assert!(
            out.stdout.contains(&format!("framework: {name} (in ")),
            "{name}: {}",
            out.stdout
        );
    }
}

#[test]
fn laravel_directories_are_created_for_the_php_fpm_user_before_processes_start() {
    let app = TestDir::new("det-setup");
    touch(&app.path, "artisan");
    std::fs::create_dir_all(app.path.join("storage/logs")).unwrap();
    // `nobody` (65534 on Debian) stands in for www-data: any user that is not root proves the
    // owner comes from the config. The probe lists the owners as the first process sees them.
    let probe = sh("stat -c '%n %u:%g %a' storage/framework/views bootstrap/cache storage/logs");
    let cfg = app.write(
        "c.yaml",
        &format!(
            "processes:\n  php-fpm:\n    type: oneshot\n    user: nobody\n    command: [true]\n  \
             probe:\n    type: oneshot\n    command: {probe}\n"
        ),
    );
    let c = cfg.to_string_lossy().into_owned();
    // A dry run changes nothing, and says what it would do.
    let out = run_cmd(
        &["-c", &c, "--dry-run"],
        &[],
        Some(app.path.as_path()),
        LIMIT,
    );
    assert!(
        out.stdout.contains("set-up: would create"),
        "{}",
        out.stdout
    );
    assert!(
        !app.path.join("bootstrap").exists(),
        "--dry-run created directories"
    );

    let out = run_cmd(&["-c", &c], &[], Some(app.path.as_path()), LIMIT);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let nobody = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| {
            Some((
                l.split(':').nth(2)?.parse::<u32>().ok()?,
                l.split(':').nth(3)?.parse::<u32>().ok()?,
            ))
        })
        .expect("a nobody user in /etc/passwd");
    for rel in LARAVEL_DIRS {
        let m = std::fs::metadata(app.path.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        // storage/logs existed, owned by root: it is given to the workers' user too.
        assert_eq!((m.uid(), m.gid()), nobody, "{rel}");
        assert_eq!(m.mode() & 0o777, 0o775, "{rel}");
    }
    let storage = std::fs::metadata(app.path.join("storage")).unwrap();
    assert_eq!(storage.uid(), 0, "an existing parent keeps its owner");
    let recs = records(&out.stdout);
    let setup = recs
        .iter()
        .find(|r| r["event"] == "framework_setup" && r["fixed"].is_null())
        .unwrap_or_else(|| panic!("no framework_setup event:\n{}", out.stdout));
    assert!(
        setup["msg"]
            .as_str()
            .unwrap_or("")
            .contains("owned by nobody"),
        "{setup}"
    );
    // The first process already saw them.
    let seen: Vec<String> = recs
        .iter()
        .filter(|r| r["process"] == "probe" && r["stream"] == "stdout")
        .filter_map(|r| r["msg"].as_str().map(str::to_owned))
        .collect();
    let want = format!("storage/framework/views {}:{} 775", nobody.0, nobody.1);
    assert!(seen.contains(&want), "{seen:?}");
}

#[test]
fn read_only_filesystem_only_warns() {
    let app = TestDir::new("det-ro");
    touch(&app.path, "artisan");
    let cfg = app.write(
        "c.yaml",
        "processes:\n  php-fpm:\n    type: oneshot\n    user: nobody\n    command: [true]\n",
    );
    let d = app.path.to_string_lossy().into_owned();
    // A private mount namespace in which the app directory is a read-only bind mount.
    let script = format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d} && cd {d} && exec {} -c {}",
        q(bin()),
        q(&cfg.to_string_lossy())
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&stdout);
    let warn = recs
        .iter()
        .find(|r| r["event"] == "framework_setup")
        .unwrap_or_else(|| panic!("no warning:\n{stdout}"));
    assert_eq!(warn["level"], "warn", "{warn}");
    assert!(
        warn["msg"].as_str().unwrap_or("").contains("read-only"),
        "{warn}"
    );
    assert!(!app.path.join("storage").exists());
    assert!(
        recs.iter().any(|r| r["event"] == "started"),
        "the stack still starts"
    );
}

#[test]
fn framework_setup_false_turns_the_setup_off() {
    let app = TestDir::new("det-off");
    touch(&app.path, "artisan");
    let cfg = app.write(
        "c.yaml",
        "global:\n  framework_setup: false\nprocesses:\n  php-fpm:\n    type: oneshot\n    command: [true]\n",
    );
    let out = run_cmd(
        &["-c", &cfg.to_string_lossy()],
        &[],
        Some(app.path.as_path()),
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("\"framework\":\"laravel\""),
        "{}",
        out.stdout
    );
    assert!(!app.path.join("storage").exists());
}

#[test]
fn an_unprivileged_manager_creates_but_cannot_give_away_and_says_so_once() {
    // The manager runs as nobody in a directory nobody owns; php-fpm's user is root, so its
    // workers run as the pool's user (www-data here, no pool file): mkdir works, chown does
    // not (EPERM).
    let app = TestDir::new("det-unpriv");
    touch(&app.path, "artisan");
    let cfg = app.write(
        "c.yaml",
        "processes:\n  php-fpm:\n    type: oneshot\n    user: root\n    command: [true]\n",
    );
    std::os::unix::fs::chown(&app.path, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&cfg, Some(65534), Some(65534)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin(),
            "-c",
        ])
        .arg(&cfg)
        .current_dir(&app.path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let recs = records(&stdout);
    let warnings: Vec<&Value> = recs
        .iter()
        .filter(|r| r["event"] == "framework_setup" && r["level"] == "warn")
        .collect();
    assert_eq!(warnings.len(), 1, "{stdout}");
    let msg = warnings[0]["msg"].as_str().unwrap_or("");
    assert!(
        msg.contains("cannot give them to www-data (33:33)"),
        "{msg}"
    );
    let m = std::fs::metadata(app.path.join("bootstrap/cache")).unwrap();
    assert_eq!(m.uid(), 65534, "created by the manager's own user");
    // The info event does not claim root owns them.
    let info = recs
        .iter()
        .find(|r| r["event"] == "framework_setup" && r["level"] == "info")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        info["msg"]
            .as_str()
            .unwrap_or("")
            .contains("owned by uid 65534"),
        "{info}"
    );
}

/// Issue 18: no `user:` on php-fpm and the manager (PID 1) is root, as in the standard
/// image layout: php-fpm's master runs as root and its pool's workers as www-data, so the
/// `storage/app/public` the manager creates must be writable by www-data.
#[test]
fn storage_created_for_a_root_php_fpm_master_is_writable_by_www_data() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestDir::new("det-www-data");
    touch(&app.path, "artisan");
    // www-data must be able to reach the app directory at all.
    std::fs::set_permissions(&app.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The php-fpm process stands in for the master (no pool file in the usual places here);
    // the probe runs as www-data, as a pool worker would, and writes an upload.
    let probe = sh("touch storage/app/public/upload.jpg && echo writable");
    let cfg = app.write(
        "c.yaml",
        &format!(
            "processes:\n  php-fpm:\n    type: oneshot\n    command: [true]\n  \
             worker:\n    type: oneshot\n    user: www-data\n    depends_on: [php-fpm]\n    command: {probe}\n"
        ),
    );
    let mut m = Launch::new(Mode::Pid1).config(&cfg).cwd(&app.path).spawn();
    m.wait_for(LIMIT, "the worker's write", |r| {
        r.says("worker-0", "writable")
    });
    let meta = std::fs::metadata(app.path.join("storage/app/public")).unwrap();
    let www = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("www-data:"))
        .and_then(|l| l.split(':').nth(2)?.parse::<u32>().ok())
        .expect("a www-data user in /etc/passwd");
    assert_eq!(meta.uid(), www);
    assert_eq!(meta.mode() & 0o777, 0o775);
    assert!(app.path.join("storage/app/public/upload.jpg").is_file());
    assert_eq!(m.wait_code(LIMIT), 0);
}
