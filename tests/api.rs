//! The management API over real sockets with real clients (issue 9, feature `api`): every
//! route's happy path and errors with `curl` (404, 400, 401, 413, 405), responses checked
//! against the OpenAPI document, scale 1 → 3 → 1 keeping instance names and stopping the
//! highest ones gracefully, stop/start/restart answering when done, 20 concurrent restarts
//! ending with one instance, the Unix socket (0600, removed at exit), and the API answering
//! while a dependency is still starting.
#![cfg(feature = "api")]

mod http_support;
mod support;

use std::os::unix::fs::PermissionsExt;

use http_support::*;
use support::*;

const TOKEN: &str = "s3cret-token";

/// A longrun whose TERM handler appends `term <instance>` to `termlog`.
fn trapper(termlog: &str, marker: &str) -> String {
    sh(&format!(
        "trap 'echo term $PHPEEK_PM_INSTANCE_ID >> {termlog}; exit 0' TERM; \
         echo hello from $PHPEEK_PM_INSTANCE_ID; echo warn $PHPEEK_PM_INSTANCE_ID >&2; \
         while :; do sleep 0.05; done; : {marker}"
    ))
}

#[test]
fn routes_auth_errors_and_scaling() {
    let dir = TestDir::new("api");
    let termlog = dir.s("termlog");
    let sock = dir.s("api.sock");
    let cfg = format!(
        r#"global:
  api_enabled: true
  api_port: 0
  api_auth: "{TOKEN}"
  api_socket: {sock}
  shutdown_timeout: 10
processes:
  web:
    command: {web}
    shutdown:
      timeout: 5
  once:
    type: oneshot
    command: {once}
"#,
        web = trapper(&termlog, "web"),
        once = sh("echo done"),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let url = |p: &str| format!("http://{addr}/api/v1{p}");
    let api = openapi();

    // Liveness and readiness need no token.
    let r = curl(&[&url("/health")]);
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"status":"healthy"}))
    );
    conforms(&api, "get", "/api/v1/health", 200, &r.json());
    poll_until(secs(10.0), "ready", || {
        (curl(&[&url("/ready")]).status == 200).then_some(())
    });
    conforms(
        &api,
        "get",
        "/api/v1/ready",
        200,
        &curl(&[&url("/ready")]).json(),
    );

    // Everything else does.
    for r in [
        curl(&[&url("/processes")]),
        curl(&["-H", "Authorization: Bearer wrong", &url("/processes")]),
        curl(&[
            "-H",
            &format!("Authorization: Basic {TOKEN}"),
            &url("/processes"),
        ]),
        curl(&[&url("/nope")]),
    ] {
        assert_eq!(r.status, 401, "{r:?}");
        assert!(r.json()["error"].as_str().unwrap().contains("unauthorized"));
        assert!(r.headers.contains("WWW-Authenticate: Bearer"), "{r:?}");
    }
    let list = curl_auth(TOKEN, &[&url("/processes")]);
    assert_eq!(list.status, 200, "{list:?}");
    conforms(&api, "get", "/api/v1/processes", 200, &list.json());
    let web0 = instances(&list.json(), "web");
    assert_eq!(web0.len(), 1);
    assert_eq!(web0[0]["id"], "web-0");
    assert_eq!(web0[0]["state"], "ready");
    let pid0 = web0[0]["pid"].as_i64().unwrap();
    let one = curl_auth(TOKEN, &[&url("/processes/once")]);
    assert_eq!(one.status, 200);
    conforms(&api, "get", "/api/v1/processes/{name}", 200, &one.json());
    assert_eq!(one.json()["instances"][0]["state"], "exited");
    assert_eq!(one.json()["instances"][0]["last_exit_code"], 0);

    // Logs: newest first, both streams, bounded by limit.
    let logs = poll_until(secs(5.0), "web's output in /logs", || {
        let r = curl_auth(TOKEN, &[&url("/processes/web/logs?limit=1")]);
        (r.json()["count"] == 1).then_some(r)
    });
    conforms(
        &api,
        "get",
        "/api/v1/processes/{name}/logs",
        200,
        &logs.json(),
    );
    assert_eq!(logs.json()["logs"][0]["msg"], "warn web-0");
    assert_eq!(logs.json()["logs"][0]["stream"], "stderr");
    let all = curl_auth(TOKEN, &[&url("/processes/web/logs")]).json();
    assert_eq!(all["limit"], 100);
    assert_eq!(all["logs"][1]["msg"], "hello from web-0");

    // Errors, each with {"error": ...} and Connection: close.
    let big = dir.write(
        "big.json",
        &format!("{{\"desired\":{}}}", " ".repeat(100_000)),
    );
    let big_arg = format!("@{}", big.display());
    for (args, status, route) in [
        (
            vec![url("/processes/nope")],
            404,
            ("get", "/api/v1/processes/{name}"),
        ),
        (
            vec![url("/processes/nope/logs")],
            404,
            ("get", "/api/v1/processes/{name}/logs"),
        ),
        (
            vec!["-X".into(), "POST".into(), url("/processes/nope/restart")],
            404,
            ("post", "/api/v1/processes/{name}/restart"),
        ),
        (
            vec![url("/processes/web/logs?limit=zero")],
            400,
            ("get", "/api/v1/processes/{name}/logs"),
        ),
        (
            vec![
                "-d".into(),
                "{\"desired\":".into(),
                url("/processes/web/scale"),
            ],
            400,
            ("post", "/api/v1/processes/{name}/scale"),
        ),
        (
            vec![
                "-d".into(),
                "{\"desired\":0}".into(),
                url("/processes/web/scale"),
            ],
            400,
            ("post", "/api/v1/processes/{name}/scale"),
        ),
        (
            vec![
                "-d".into(),
                "{\"desired\":2}".into(),
                url("/processes/once/scale"),
            ],
            400,
            ("post", "/api/v1/processes/{name}/scale"),
        ),
        (
            vec![
                "--data-binary".into(),
                big_arg.clone(),
                url("/processes/web/scale"),
            ],
            413,
            ("post", "/api/v1/processes/{name}/scale"),
        ),
        (
            vec!["-X".into(), "PUT".into(), url("/processes")],
            405,
            ("get", "/api/v1/processes"),
        ),
        (
            vec![url("/processes/web/restart")],
            405,
            ("post", "/api/v1/processes/{name}/restart"),
        ),
        (
            vec!["-X".into(), "DELETE".into(), url("/processes/web")],
            405,
            ("get", "/api/v1/processes/{name}"),
        ),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = curl_auth(TOKEN, &a);
        assert_eq!(r.status, status, "{args:?} → {r:?}");
        assert!(r.headers.contains("Connection: close"), "{r:?}");
        conforms(&api, route.0, route.1, status, &r.json());
    }

    // Scale 1 → 3: new instances continue the numbering and are running when it answers.
    let r = curl_auth(
        TOKEN,
        &["-d", r#"{"desired":3}"#, &url("/processes/web/scale")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    conforms(
        &api,
        "post",
        "/api/v1/processes/{name}/scale",
        200,
        &r.json(),
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"status":"scaled","process":"web","desired":3})
    );
    let now = instances(&curl_auth(TOKEN, &[&url("/processes")]).json(), "web");
    let ids: Vec<&str> = now.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["web-0", "web-1", "web-2"]);
    assert!(
        now.iter()
            .all(|i| i["state"] == "ready" && i["pid"].is_i64()),
        "{now:?}"
    );
    assert_eq!(now[0]["pid"], pid0);
    // "Ready" means spawned: a new shell sets its TERM trap just before it says hello, and a
    // stop sent earlier would find no handler (a race of the test, seen under load).
    for id in ["web-1", "web-2"] {
        let hello = format!("hello from {id}");
        m.wait_for(secs(10.0), &hello, |r| r.says(id, &hello));
    }

    // 3 → 1 with a delta: the highest ones stop gracefully (their TERM handlers ran).
    let r = curl_auth(
        TOKEN,
        &["-d", r#"{"delta":-2}"#, &url("/processes/web/scale")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let now = instances(&curl_auth(TOKEN, &[&url("/processes")]).json(), "web");
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(
        (now[0]["id"].as_str(), now[0]["pid"].as_i64()),
        (Some("web-0"), Some(pid0))
    );
    let terms = std::fs::read_to_string(&termlog).unwrap_or_default();
    let mut t: Vec<&str> = terms.lines().collect();
    t.sort_unstable();
    assert_eq!(
        t,
        ["term web-1", "term web-2"],
        "TERM handlers of the removed instances"
    );
    m.wait_for(secs(5.0), "web-2 retired", |r| r.is("retired", "web-2"));

    // Stop answers when stopped (gracefully); start when running again; restart with a new pid.
    let r = curl_auth(TOKEN, &["-X", "POST", &url("/processes/web/stop")]);
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("stopped")),
        "{r:?}"
    );
    conforms(
        &api,
        "post",
        "/api/v1/processes/{name}/stop",
        200,
        &r.json(),
    );
    assert!(
        std::fs::read_to_string(&termlog)
            .unwrap()
            .contains("term web-0")
    );
    let w = instances(&curl_auth(TOKEN, &[&url("/processes")]).json(), "web");
    assert_eq!(
        (w[0]["state"].as_str(), w[0]["pid"].is_null()),
        (Some("stopped"), true)
    );
    // A held process does not make the manager exit, and /ready says so.
    let r = curl(&[&url("/ready")]);
    assert_eq!(r.status, 503);
    conforms(&api, "get", "/api/v1/ready", 503, &r.json());
    assert_eq!(r.json()["not_ready"][0]["instance"], "web-0");
    let r = curl_auth(TOKEN, &["-X", "POST", &url("/processes/web/start")]);
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("started")),
        "{r:?}"
    );
    let w = instances(&curl_auth(TOKEN, &[&url("/processes")]).json(), "web");
    assert_eq!(w[0]["state"], "ready");
    let pid1 = w[0]["pid"].as_i64().unwrap();
    assert_ne!(pid1, pid0);
    let r = curl_auth(TOKEN, &["-X", "POST", &url("/processes/web/restart")]);
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("restarted")),
        "{r:?}"
    );
    let w = instances(&curl_auth(TOKEN, &[&url("/processes")]).json(), "web");
    assert!(
        w[0]["pid"].as_i64().unwrap() != pid1 && w[0]["state"] == "ready",
        "{w:?}"
    );
    assert_eq!(w[0]["restart_count"], 1);

    // The Unix socket: owner-only, same API, removed at exit.
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");
    let r = curl_auth(
        TOKEN,
        &["--unix-socket", &sock, "http://x/api/v1/processes/web"],
    );
    assert_eq!((r.status, r.json()["name"].as_str()), (200, Some("web")));
    assert_eq!(
        curl(&["--unix-socket", &sock, "http://x/api/v1/processes"]).status,
        401
    );

    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
    assert!(!std::path::Path::new(&sock).exists(), "socket left behind");
}

#[test]
fn concurrent_restarts_leave_one_instance() {
    let dir = TestDir::new("api-race");
    let marker = format!("race-{}", unique_digits());
    let _guard = MarkerGuard(marker.clone());
    let command = format!(
        "[\"/bin/sh\", \"-c\", {}, {}]",
        q("trap 'sleep 0.2; exit 0' TERM; while :; do sleep 0.05; done"),
        q(&marker)
    );
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\nprocesses:\n  web:\n    command: {command}\n"
    );
    let mut m = Manager::start(Mode::Subreaper, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let url = format!("http://{addr}/api/v1/processes/web/restart");
    poll_until(secs(10.0), "web running", || {
        (pids_with_marker(&marker).len() == 1).then_some(())
    });
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let u = url.clone();
            std::thread::spawn(move || curl(&["-X", "POST", &u]).status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    let list = curl(&[&format!("http://{addr}/api/v1/processes")]).json();
    let w = instances(&list, "web");
    assert_eq!(w.len(), 1, "{list}");
    assert_eq!(w[0]["state"], "ready", "{list}");
    let live = pids_with_marker(&marker);
    assert_eq!(live.len(), 1, "exactly one web process, found {live:?}");
    assert_eq!(Some(live[0] as i64), w[0]["pid"].as_i64());
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
}

#[test]
fn answers_while_a_dependency_is_starting() {
    let dir = TestDir::new("api-dep");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\nprocesses:\n  migrate:\n    type: oneshot\n    command: {}\n  app:\n    depends_on: [migrate]\n    command: {}\n",
        sh(&format!("touch {}; sleep 30", dir.s("migrating"))),
        sh("sleep 30"),
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    poll_until(secs(10.0), "migrate running", || {
        dir.file("migrating").exists().then_some(())
    });
    let t0 = std::time::Instant::now();
    let list = curl(&[&format!("http://{addr}/api/v1/processes")]);
    assert_eq!(list.status, 200);
    assert!(t0.elapsed() < secs(2.0));
    let doc = list.json();
    assert_eq!(instances(&doc, "app")[0]["state"], "waiting", "{doc}");
    assert_eq!(instances(&doc, "migrate")[0]["state"], "running", "{doc}");
    let ready = curl(&[&format!("http://{addr}/api/v1/ready")]);
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json()["not_ready"][0]["instance"],
        "app-0",
        "{:?}",
        ready.body
    );
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
}

#[test]
fn cli_client_talks_to_the_manager() {
    let dir = TestDir::new("api-cli");
    let sock = dir.s("api.sock");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_socket: {sock}\n  api_auth: \"{TOKEN}\"\nprocesses:\n  web:\n    command: {}\n  job:\n    type: oneshot\n    command: {}\n",
        sh("echo line-one; echo line-two; while :; do sleep 0.1; done"),
        sh("exit 0"),
    );
    let path = dir.write("c.yaml", &cfg);
    let config = path.to_str().unwrap();
    let mut m = Manager::start(Mode::Pid1, &path);
    m.wait_for(secs(10.0), "API socket", |r| {
        r.event() == Some("listening") && r.s("address") == Some(sock.as_str())
    });
    m.wait_for(secs(10.0), "web output", |r| r.says("web-0", "line-two"));
    let cli = |args: &[&str], env: &[(&str, &str)]| run_cmd(args, env, None, secs(30.0));

    // Address and token from the configuration.
    let out = cli(&["status", "-c", config], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("INSTANCE"), "{}", out.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("web-0") && l.contains(" ready ")),
        "{}",
        out.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("job-0") && l.contains("exited")),
        "{}",
        out.stdout
    );

    // Explicit --api and token from the environment.
    let env = [("PHPEEK_PM_API_TOKEN", TOKEN)];
    let out = cli(&["restart", "web", "--api", &sock], &env);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "web: restarted\n"),
        "{}",
        out.stderr
    );
    let out = cli(&["scale", "web", "2", "--api", &sock], &env);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "web: scaled to 2\n"),
        "{}",
        out.stderr
    );
    let out = cli(&["status", "--api", &sock], &env);
    assert!(
        out.stdout.lines().any(|l| l.starts_with("web-1")),
        "{}",
        out.stdout
    );
    let out = cli(&["logs", "web", "-n", "2", "--api", &sock], &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let logs: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(logs.len(), 2, "{}", out.stdout);
    assert!(
        logs[0].ends_with("line-one") && logs[1].ends_with("line-two"),
        "{}",
        out.stdout
    );
    let out = cli(&["stop", "web", "--api", &sock], &env);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "web: stopped\n"),
        "{}",
        out.stderr
    );

    // Errors say what to do, with documented exit codes.
    let out = cli(&["restart", "nope", "--api", &sock], &env);
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown process \"nope\""),
        "{}",
        out.stderr
    );
    let out = cli(
        &["status", "--api", &sock],
        &[("PHPEEK_PM_API_TOKEN", "wrong")],
    );
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("PHPEEK_PM_API_TOKEN"), "{}", out.stderr);
    let out = cli(&["status", "--api", &sock], &[]);
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let out = cli(&["scale", "job", "2", "--api", &sock], &env);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("oneshot"), "{}", out.stderr);
    let down = format!("http://127.0.0.1:{}", free_port());
    let out = cli(&["status", "--api", &down], &env);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("api_enabled: true"), "{}", out.stderr);
    let out = cli(&["scale", "web"], &env);
    assert_eq!(out.code, Some(2), "{}", out.stderr);

    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
}

#[test]
fn commands_on_a_silent_process_answer_promptly() {
    // Nothing but the command itself wakes the manager: no output, no other events. The answer
    // must still come as soon as the work is done, not at the command's deadline.
    let dir = TestDir::new("api-silent");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\nprocesses:\n  quiet:\n    command: {}\n    shutdown:\n      timeout: 20\n",
        sh("exec sleep 1000")
    );
    let mut m = Manager::start(Mode::Subreaper, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    for action in ["stop", "start", "restart", "stop", "start"] {
        let t0 = std::time::Instant::now();
        let r = curl(&[
            "-X",
            "POST",
            &format!("http://{addr}/api/v1/processes/quiet/{action}"),
        ]);
        assert_eq!(r.status, 200, "{action}: {r:?}");
        assert!(t0.elapsed() < secs(5.0), "{action} took {:?}", t0.elapsed());
    }
    let r = curl(&[
        "-d",
        r#"{"desired":2}"#,
        &format!("http://{addr}/api/v1/processes/quiet/scale"),
    ]);
    assert_eq!(r.status, 200, "{r:?}");
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(30.0)).code(), Some(0));
}

/// With feature `health`, instances carry their check's state, in the documented shape.
#[cfg(feature = "health")]
#[test]
fn health_state_in_the_process_list() {
    let dir = TestDir::new("api-health");
    let cfg = format!(
        "global:\n  api_enabled: true\n  api_port: 0\nprocesses:\n  web:\n    command: {}\n    health_check:\n      type: exec\n      command: [\"true\"]\n      initial_delay: 100ms\n      period: 200ms\n      timeout: 150ms\n",
        sh("exec sleep 1000")
    );
    let mut m = Manager::start(Mode::Pid1, &dir.write("c.yaml", &cfg));
    let addr = listen_addr(&mut m, "API");
    let doc = poll_until(secs(15.0), "web healthy", || {
        let d = curl(&[&format!("http://{addr}/api/v1/processes")]).json();
        (instances(&d, "web")[0]["health"]["status"] == "healthy").then_some(d)
    });
    conforms(&openapi(), "get", "/api/v1/processes", 200, &doc);
    let h = &instances(&doc, "web")[0]["health"];
    assert_eq!(h["type"], "exec");
    assert!(h["consecutive_successes"].as_i64().unwrap() >= 1, "{h}");
    assert_eq!(curl(&[&format!("http://{addr}/api/v1/ready")]).status, 200);
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_exit(secs(20.0)).code(), Some(0));
}
