//! `phpeek-pm health [NAME] [--live]`, the probe for Docker `HEALTHCHECK` and Kubernetes exec
//! probes (issue 22), against a real manager (PID 1 of a namespace, or a subreaper): exit 0
//! ready, 1 not ready (starting with a slow readiness check, shutting down), 3 unreachable
//! (not started yet, stopped, a peer that never answers), 5 unknown process — over TCP, over
//! the Unix socket (both found from the configuration too), and through the readiness file in
//! a configuration without the API. The probe commands are exactly the ones the Docker and
//! Kubernetes documents use (`health`, `health NAME`, `health --live`).
//!
//! A process is held "starting" by an exec readiness check that passes only once the test
//! creates a flag file, so every state is reached on purpose, never by timing.
// The helpers serve tests of different feature sets; a build runs only some of them.
#![allow(dead_code)]

mod support;

use std::time::Instant;

use support::*;

/// Runs `phpeek-pm health ARGS…` in `dir` (so no stray ./phpeek-pm.yaml is found) and returns
/// its exit code and stdout. The 10 s limit only catches a probe that hangs.
fn probe(dir: &TestDir, args: &[&str]) -> (i32, String) {
    let mut all = vec!["health"];
    all.extend_from_slice(args);
    let t0 = Instant::now();
    let out = run_cmd(&all, &[], Some(&dir.path), secs(10.0));
    // Printed, never asserted (timing belongs to `make bench`): the report quotes them.
    eprintln!(
        "probe {args:?}: exit {:?} in {} ms: {}{}",
        out.code,
        t0.elapsed().as_millis(),
        out.stdout.trim(),
        out.stderr.trim()
    );
    (out.code.unwrap_or(-1), out.stdout)
}

fn expect(dir: &TestDir, args: &[&str], code: i32) -> String {
    let (got, out) = probe(dir, args);
    assert_eq!(got, code, "phpeek-pm health {args:?}: {out}");
    out
}

/// Polls the probe until it exits with `code` (states change asynchronously).
fn reach(dir: &TestDir, args: &[&str], code: i32, what: &str) {
    poll_until(secs(15.0), what, || {
        (probe(dir, args).0 == code).then_some(())
    });
}

/// `web` is ready once `flag` exists; its TERM handler waits for `release` (so the test can
/// probe a manager that is shutting down); `worker` has no check (ready when it runs).
fn stack(dir: &TestDir, global: &str) -> String {
    format!(
        r#"global:
{global}
  shutdown_timeout: 20
processes:
  web:
    command: {web}
    health_check:
      type: exec
      command: ["test", "-f", {flag}]
      initial_delay: 0
      period: 200ms
      timeout: 200ms
      mode: readiness
    shutdown:
      timeout: 15
  worker:
    command: ["sleep", "1000"]
"#,
        flag = q(&dir.s("flag")),
        web = sh(&format!(
            "trap 'while [ ! -f {release} ]; do sleep 0.05; done; exit 0' TERM; \
             while :; do sleep 0.05; done",
            release = dir.s("release")
        )),
    )
}

#[test]
#[cfg(all(feature = "api", feature = "health"))]
fn over_tcp_and_the_unix_socket() {
    let dir = TestDir::new("health-cmd-api");
    let sock = dir.s("api.sock");
    let port = http_port();
    let tcp = format!("http://127.0.0.1:{port}");
    // A token is set: the probe routes must not need it (nothing in the probe's environment
    // gives one).
    let cfg = dir.write(
        "c.yaml",
        &stack(
            &dir,
            &format!(
                "  api_enabled: true\n  api_port: {port}\n  api_socket: {}\n  api_auth: probe-needs-no-token",
                q(&sock)
            ),
        ),
    );
    let c = cfg.to_str().unwrap();

    // Not started yet: nothing listens, no socket file.
    expect(&dir, &["--api", &tcp], 3);
    expect(&dir, &["--api", &sock], 3);
    expect(&dir, &["-c", c], 3);

    let mut m = Manager::start(Mode::Pid1, &cfg);
    m.wait_for(secs(10.0), "worker started", |r| {
        r.is("started", "worker-0")
    });
    poll_until(secs(10.0), "the API socket", || {
        std::path::Path::new(&sock).exists().then_some(())
    });
    reach(&dir, &["--live", "--api", &tcp], 0, "the API answers");

    // Starting: web's readiness check fails until the flag exists.
    let out = expect(&dir, &["--api", &tcp], 1);
    assert!(out.contains("web-0"), "names what is not ready: {out}");
    expect(&dir, &["--api", &sock], 1);
    expect(&dir, &["-c", c], 1); // the configuration's api_socket
    expect(&dir, &["web", "--api", &tcp], 1);
    expect(&dir, &["worker", "--api", &tcp], 0);
    expect(&dir, &["worker", "--api", &sock], 0);
    expect(&dir, &["nope", "--api", &tcp], 5);
    expect(&dir, &["--live", "--api", &sock], 0);
    expect(&dir, &["--live", "-c", c], 0);

    // Running: every longrun ready.
    dir.write("flag", "");
    reach(&dir, &["--api", &tcp], 0, "ready over TCP");
    expect(&dir, &["--api", &sock], 0);
    expect(&dir, &["-c", c], 0);
    expect(&dir, &["web", "--api", &sock], 0);
    // $PHPEEK_PM_API is the other way to point at it.
    let out = run_cmd(
        &["health"],
        &[("PHPEEK_PM_API", &tcp)],
        Some(&dir.path),
        secs(10.0),
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);

    // Shutting down: the manager still answers, and says "not ready" so no new traffic comes.
    m.signal(libc::SIGTERM);
    reach(&dir, &["--api", &tcp], 1, "not ready while shutting down");
    let out = expect(&dir, &["--api", &sock], 1);
    assert!(out.contains("shutting down"), "{out}");
    expect(&dir, &["--live", "--api", &tcp], 0);

    // Stopped.
    dir.write("release", "");
    assert_eq!(m.wait_code(secs(20.0)), 0);
    expect(&dir, &["--api", &tcp], 3);
    expect(&dir, &["--api", &sock], 3);
    expect(&dir, &["-c", c], 3);
    expect(&dir, &["--live", "--api", &tcp], 3);
}

#[test]
#[cfg(feature = "api")]
fn a_peer_that_never_answers_is_unreachable_not_a_hang() {
    let dir = TestDir::new("health-cmd-silent");
    // Accepts (the kernel completes the handshake from the backlog) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let out = expect(&dir, &["--api", &addr], 3);
    assert!(out.contains("no answer"), "{out}");
    drop(listener);
}

#[test]
#[cfg(feature = "health")]
fn through_the_readiness_file() {
    let dir = TestDir::new("health-cmd-file");
    let ready = dir.s("ready");
    let cfg = dir.write(
        "c.yaml",
        &stack(&dir, &format!("  readiness_file: {}", q(&ready))),
    );
    let c = cfg.to_str().unwrap();

    // Not started: no file.
    expect(&dir, &["-c", c], 1);
    let mut m = Manager::start(Mode::Subreaper, &cfg);
    m.wait_for(secs(10.0), "worker started", |r| {
        r.is("started", "worker-0")
    });
    // Starting: web is not ready, so there is no file.
    let out = expect(&dir, &["-c", c], 1);
    assert!(out.contains("does not exist"), "{out}");
    // NAME and --live need the API: a usage error, not a wrong answer.
    expect(&dir, &["web", "-c", c], 2);
    expect(&dir, &["--live", "-c", c], 2);

    dir.write("flag", "");
    reach(&dir, &["-c", c], 0, "ready through the file");
    // $PHPEEK_PM_CONFIG finds the same configuration.
    let out = run_cmd(
        &["health"],
        &[("PHPEEK_PM_CONFIG", c)],
        Some(&dir.path),
        secs(10.0),
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);

    // Shutting down removes the file at once; stopped leaves none.
    m.signal(libc::SIGTERM);
    reach(&dir, &["-c", c], 1, "not ready while shutting down");
    dir.write("release", "");
    assert_eq!(m.wait_code(secs(20.0)), 0);
    expect(&dir, &["-c", c], 1);
}

#[test]
#[cfg(not(any(feature = "api", feature = "health")))]
fn a_build_without_api_and_health_says_it_cannot_tell() {
    let dir = TestDir::new("health-cmd-minimal");
    let cfg = dir.write("c.yaml", "processes:\n  a:\n    command: [\"true\"]\n");
    let out = run_cmd(
        &["health", "-c", cfg.to_str().unwrap()],
        &[],
        Some(&dir.path),
        secs(10.0),
    );
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("readiness"), "{}", out.stderr);
    let out = run_cmd(
        &["health", "--api", "/nonexistent.sock"],
        &[],
        Some(&dir.path),
        secs(10.0),
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("\"api\""), "{}", out.stderr);
}

/// A free loopback port for the API (the configuration must name it so `-c` finds it).
#[cfg(feature = "api")]
fn http_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
