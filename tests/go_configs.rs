//! Drop-in for the Go tool's configurations (issue 19): fixtures in the Go tool's shapes pass
//! `check-config`; a file with five mistakes gives five `file:line` errors in one run; an
//! invalid ACL entry is exit 2; the keys the Go tool has do what they say (`initial_state`,
//! `max_scale`, `scale_locked`, the `stdout`/`stderr` shorthand); every `scaffold` preset
//! passes `check-config`, and the laravel preset runs the stack with real php-fpm and nginx.

#[cfg(feature = "api")]
mod http_support;
mod support;

use std::path::Path;

#[cfg(feature = "api")]
use http_support::*;
use support::*;

fn check(path: &Path, env: &[(&str, &str)]) -> Output {
    run_cmd(
        &["check-config", "-c", path.to_str().unwrap()],
        env,
        None,
        secs(20.0),
    )
}

/// Every fixture uses keys of the full build (TLS, health checks, hooks, tasks, logging).
#[cfg(all(
    feature = "health",
    feature = "hooks",
    feature = "api",
    feature = "metrics",
    feature = "scheduler",
    feature = "heartbeat",
    feature = "tls",
    feature = "log-processing",
    feature = "autotune"
))]
#[test]
fn go_shaped_configurations_pass_check_config() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    let mut failed = Vec::new();
    for path in &names {
        let out = check(path, &[]);
        if out.code != Some(0) || !out.stdout.starts_with("configuration OK") {
            failed.push(format!(
                "{}: {:?}\n{}",
                path.display(),
                out.code,
                out.stderr
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // The keys we do not implement say so once, at their line; the Go defaults that differ
    // are named.
    let out = check(&dir.join("every-global-key.yaml"), &[]);
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.contains("OpenTelemetry tracing is not part of phpeek-pm"))
            .count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("every-global-key.yaml:40: "),
        "{}",
        out.stderr
    );
    let out = check(&dir.join("multi-document.yaml"), &[]);
    assert!(
        out.stderr
            .contains("multi-document.yaml:10: a second YAML document"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("php-fpm-1"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("nginx"),
        "second document read:\n{}",
        out.stdout
    );
    let out = check(&dir.join("configmap.yaml"), &[]);
    assert!(
        out.stdout.contains("differences from the Go phpeek-pm"),
        "{}",
        out.stdout
    );
}

/// Five mistakes, five errors, each with its `file:line`, sorted by line, exit 2, in one run.
#[test]
fn five_mistakes_give_five_errors_in_one_run() {
    let dir = TestDir::new("five");
    let path = dir.write(
        "c.yaml",
        "global:\n  log_levl: info\nprocesses:\n  web:\n    command: [sleep, '1']\n    scale: two\n    restart: sometimes\n    depends_on: [db]\n    shutdown:\n      signal: SIGFOO\n",
    );
    let out = check(&path, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let p = path.to_str().unwrap();
    let lines: Vec<&str> = out.stderr.lines().collect();
    let want = [
        (
            2,
            "unknown key global.log_levl (did you mean \"log_level\"?)",
        ),
        (6, "processes.web.scale must be a whole number, not \"two\""),
        (7, "restart must be always, on-failure or never"),
        (8, "depends on \"db\", which is not defined or not enabled"),
        (10, "unknown signal \"SIGFOO\""),
    ];
    assert_eq!(lines.len(), want.len(), "{}", out.stderr);
    for (line, (n, words)) in lines.iter().zip(want) {
        assert!(
            line.starts_with(&format!("phpeek-pm: {p}:{n}: ")) && line.contains(words),
            "{line:?} should be at line {n} and say {words:?}"
        );
    }
    assert_eq!(out.stdout, "");
    // serve reports the same errors and starts nothing.
    let out = run_cmd(&["-c", p], &[], None, secs(20.0));
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr.lines().count(), 5, "{}", out.stderr);
}

/// An ACL entry that is not an address is an error, never an ACL switched off.
#[test]
fn an_invalid_acl_entry_is_a_config_error() {
    let dir = TestDir::new("acl");
    let path = dir.write(
        "c.yaml",
        "global:\n  api_acl:\n    enabled: true\n    allow_list:\n      - 10.0.0.0/8\n      - 10.0.0.300\nprocesses:\n  web: {command: [sleep, '1']}\n",
    );
    let out = check(&path, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("c.yaml:4: ") && out.stderr.contains("\"10.0.0.300\" is not an IP"),
        "{}",
        out.stderr
    );
    // Keys the Go docs show but are not keys name the real one.
    let path = dir.write(
        "d.yaml",
        "processes:\n  web:\n    command: [sleep, '1']\n    max_restarts: 5\n    shutdown:\n      post_stop_hook: {command: [x]}\n",
    );
    let out = check(&path, &[]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("d.yaml:4: ") && out.stderr.contains("use global.max_restart_attempts"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("d.yaml:6: ") && out.stderr.contains("processes.<name>.post_stop_hook"),
        "{}",
        out.stderr
    );
    // No suggestion that is merely another key of similar length.
    let path = dir.write(
        "e.yaml",
        "global:\n  tracing_enabld: true\nprocesses:\n  web: {command: [sleep, '1']}\n",
    );
    let out = check(&path, &[]);
    assert!(
        out.stderr.contains("did you mean \"tracing_enabled\""),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("api_enabled"), "{}", out.stderr);
}

/// `stdout: false` switches the stream off (the child writes it to `/dev/null`); stderr stays.
#[test]
fn stdout_shorthand_switches_a_stream_off() {
    let dir = TestDir::new("streams");
    let cfg = format!(
        "processes:\n  quiet:\n    type: oneshot\n    stdout: false\n    command: {}\n  sentinel:\n    command: {}\n",
        sh("echo out-line; echo err-line >&2"),
        sh("exec sleep 1000"),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    m.wait_for(secs(15.0), "quiet's exit", |r| {
        r.instance() == Some("quiet-0") && r.event() == Some("exited")
    });
    let recs = m.records().to_vec();
    assert!(recs.iter().any(|r| r.is_output() && r.msg() == "err-line"));
    assert!(
        !recs.iter().any(|r| r.is_output() && r.msg() == "out-line"),
        "stdout: false still printed"
    );
    m.signal(libc_sigterm());
    assert_eq!(m.wait_code(secs(15.0)), 0);
}

fn libc_sigterm() -> i32 {
    15
}

/// `initial_state: stopped` waits for a start request; `scale_locked` and `max_scale` bound
/// runtime scaling (409).
#[cfg(feature = "api")]
#[test]
fn initial_state_and_scale_bounds() {
    let dir = TestDir::new("initial");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\nprocesses:\n  later:\n    initial_state: stopped\n    command: {sleep}\n  after-later:\n    depends_on: [later]\n    command: {sleep}\n  locked:\n    scale_locked: true\n    command: {sleep}\n  capped:\n    max_scale: 2\n    command: {sleep}\n",
        sleep = sh("exec sleep 1000"),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let url = |p: &str| format!("http://{addr}/api/v1/processes{p}");
    // Everything else started (a stopped process holds back no dependent) ...
    for i in ["after-later-0", "locked-0", "capped-0"] {
        m.wait_for(secs(15.0), i, |r| r.is("started", i));
    }
    // ... and `later` did not: it is listed as stopped.
    assert!(m.events("started", "later-0").is_empty());
    let show = curl(&[&url("/later")]).json();
    assert_eq!(show["instances"][0]["state"], "stopped", "{show}");
    let r = curl(&["-X", "POST", &url("/later/start")]);
    assert_eq!(r.status, 200, "{}", r.body);
    m.wait_for(secs(15.0), "later started", |r| r.is("started", "later-0"));
    // Bounds.
    let scale = |name: &str, n: u32| {
        curl(&[
            "-X",
            "POST",
            "-d",
            &format!("{{\"desired\":{n}}}"),
            &url(&format!("/{name}/scale")),
        ])
    };
    let r = scale("locked", 2);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("scale_locked"), "{}", r.body);
    let r = scale("capped", 3);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("at most 2"), "{}", r.body);
    let r = scale("capped", 2);
    assert_eq!(r.status, 200, "{}", r.body);
    m.wait_for(secs(15.0), "capped-1", |r| r.is("started", "capped-1"));
    m.signal(libc_sigterm());
    assert_eq!(m.wait_code(secs(30.0)), 0);
}

/// Every preset this build can write passes check-config; the others are refused by name.
#[test]
fn scaffold_presets_pass_check_config() {
    let dir = TestDir::new("scaffold");
    for preset in ["laravel", "symfony", "generic", "production", "minimal"] {
        let path = dir.file(&format!("{preset}.yaml"));
        let out = run_cmd(
            &["scaffold", preset, "--output", path.to_str().unwrap()],
            &[],
            None,
            secs(10.0),
        );
        if out.code == Some(2) {
            assert!(
                out.stderr.contains("features this build lacks"),
                "{}",
                out.stderr
            );
            assert!(preset != "minimal", "minimal needs no feature");
            continue;
        }
        assert_eq!(out.code, Some(0), "{preset}: {}", out.stderr);
        let out = check(&path, &[]);
        assert_eq!(out.code, Some(0), "{preset}: {}", out.stderr);
        assert_eq!(out.stderr, "", "{preset}: warnings");
        // Never overwrites.
        let again = run_cmd(
            &["scaffold", preset, "-o", path.to_str().unwrap()],
            &[],
            None,
            secs(10.0),
        );
        assert_ne!(again.code, Some(0));
    }
    let out = run_cmd(&["scaffold", "rails"], &[], None, secs(10.0));
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("laravel"), "{}", out.stderr);
}

/// The laravel preset, unchanged, runs the stack as PID 1: real php-fpm serves a PHP page
/// through real nginx; Horizon, the queue workers and the scheduler run a stand-in `artisan`
/// (there is no Laravel application here), through the real php binary.
#[cfg(all(
    feature = "health",
    feature = "hooks",
    feature = "api",
    feature = "metrics",
    feature = "scheduler"
))]
#[test]
fn laravel_preset_runs_the_stack() {
    let fpm_bin = [
        "/usr/sbin/php-fpm8.2",
        "/usr/sbin/php-fpm",
        "/usr/local/sbin/php-fpm",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("php-fpm (scripts/ensure-deps.sh php)");
    assert!(
        Path::new("/usr/sbin/nginx").exists(),
        "nginx (scripts/ensure-deps.sh php)"
    );
    let dir = TestDir::new("laravel");
    let app = dir.file("app");
    std::fs::create_dir_all(app.join("public")).unwrap();
    std::fs::write(
        app.join("public/index.php"),
        "<?php echo 'hello from php-fpm ', PHP_VERSION;\n",
    )
    .unwrap();
    std::fs::write(
        app.join("artisan"),
        r#"<?php
// Stand-in for Laravel's artisan: long-running commands run until SIGTERM; like the real
// one, horizon:terminate asks the running Horizon master to finish and exit.
$cmd = $argv[1] ?? '';
echo "artisan $cmd\n";
if ($cmd === 'horizon') {
    file_put_contents(__DIR__ . '/horizon.pid', getmypid());
}
if ($cmd === 'horizon:terminate') {
    posix_kill((int) file_get_contents(__DIR__ . '/horizon.pid'), SIGTERM);
}
if (in_array($cmd, ['horizon', 'queue:work'], true)) {
    pcntl_async_signals(true);
    pcntl_signal(SIGTERM, function () use ($cmd) { echo "artisan $cmd stopping\n"; exit(0); });
    while (true) { sleep(1); }
}
"#,
    )
    .unwrap();
    let (http, fpm) = (free_port(), free_port());
    let d = dir.s("");
    std::fs::write(
        dir.file("php-fpm.conf"),
        format!(
            "[global]\npid = {d}/fpm.pid\nerror_log = /proc/self/fd/2\ndaemonize = no\n[www]\nuser = root\ngroup = root\nlisten = 127.0.0.1:{fpm}\npm = static\npm.max_children = 2\nclear_env = no\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.file("nginx.conf"),
        format!(
            "user root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log /dev/stderr;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/nb;\n  fastcgi_temp_path {d}/nf;\n  proxy_temp_path {d}/np;\n  uwsgi_temp_path {d}/nu;\n  scgi_temp_path {d}/ns;\n  server {{\n    listen 127.0.0.1:{http};\n    root {app}/public;\n    location = /health {{ return 200 'ok'; }}\n    location ~ \\.php$ {{\n      include /etc/nginx/fastcgi_params;\n      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\n      fastcgi_pass 127.0.0.1:{fpm};\n    }}\n  }}\n}}\n",
            app = app.display()
        ),
    )
    .unwrap();
    let path = dir.file("phpeek-pm.yaml");
    let out = run_cmd(
        &["scaffold", "laravel", "-o", path.to_str().unwrap()],
        &[],
        None,
        secs(10.0),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (http_s, fpm_s) = (http.to_string(), fpm.to_string());
    let mut m = Launch::new(Mode::Pid1)
        .config(&path)
        .env("PHP_FPM_BIN", fpm_bin)
        .env("PHP_FPM_CONF", &dir.s("php-fpm.conf"))
        .env("PHP_FPM_PORT", &fpm_s)
        .env("NGINX_CONF", &dir.s("nginx.conf"))
        .env("HTTP_PORT", &http_s)
        .env("APP_DIR", app.to_str().unwrap())
        .env("PHPEEK_PM_GLOBAL_API_PORT", "0")
        .env("PHPEEK_PM_GLOBAL_METRICS_PORT", "0")
        .spawn();
    // nginx starts only after php-fpm passed its check; everything else runs beside it.
    for i in [
        "php-fpm-0",
        "nginx-0",
        "horizon-0",
        "queue-default-0",
        "queue-default-1",
    ] {
        m.wait_for(secs(30.0), i, |r| r.is("started", i));
    }
    let page = poll_until(secs(30.0), "the PHP page through nginx", || {
        try_curl(&[&format!("http://127.0.0.1:{http}/index.php")])
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(
        page.body.starts_with("hello from php-fpm 8"),
        "{}",
        page.body
    );
    m.wait_for(secs(15.0), "horizon runs", |r| {
        r.is_output() && r.msg() == "artisan horizon"
    });
    m.signal(libc_sigterm());
    assert_eq!(m.wait_code(secs(60.0)), 0);
    // Horizon got its pre-stop hook, then stopped on its own terms.
    let recs = m.records().to_vec();
    assert!(
        recs.iter()
            .any(|r| r.is_output() && r.msg() == "artisan horizon:terminate")
    );
}
