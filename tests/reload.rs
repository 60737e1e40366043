//! The live configuration reload (issue 19) with the real binary as PID 1: change one
//! process's command, add one, remove one, change another's `scale` — only the changed one
//! gets a new pid, the added one starts, the removed one runs its TERM handler, the others
//! keep their pids; an invalid edit changes nothing and every error is reported.
//!
//! Through the API (`phpeek-pm reload-config`, `POST /api/v1/config/reload`), and through
//! `serve --watch` (inotify; the minimal build too).

mod support;

use std::path::Path;

use support::*;

/// A process that says `<tag>-ready`, and `<tag>-term` when SIGTERM reaches it (then exits).
fn worker(tag: &str) -> String {
    sh(&format!(
        "trap 'echo {tag}-term; exit 0' TERM; echo {tag}-ready; while :; do sleep 0.05; done"
    ))
}

/// The pids the manager reported for an instance's spawns, in order.
fn pids(m: &mut Manager, inst: &str) -> Vec<i64> {
    m.events("started", inst)
        .iter()
        .filter_map(|r| r.i("pid"))
        .collect()
}

/// Writes `content` the way editors save: a new file renamed over the old one.
fn save(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).expect("write the new configuration");
    std::fs::rename(&tmp, path).expect("rename it into place");
}

fn processes(web_tag: &str, queue_scale: u32, gone: bool, fresh: bool) -> String {
    let mut s = format!(
        "processes:\n  keep:\n    command: {}\n  web:\n    command: {}\n  queue:\n    command: {}\n    scale: {queue_scale}\n",
        worker("keep"),
        worker(web_tag),
        worker("queue"),
    );
    if gone {
        s.push_str(&format!("  gone:\n    command: {}\n", worker("gone")));
    }
    if fresh {
        s.push_str(&format!(
            "  fresh:\n    command: {}\n    depends_on: [keep]\n",
            worker("fresh")
        ));
    }
    s
}

/// Everything before the reload is up: one spawn each, and their ready lines.
fn wait_up(m: &mut Manager) {
    for (inst, text) in [
        ("keep-0", "keep-ready"),
        ("web-0", "web-ready"),
        ("queue-0", "queue-ready"),
        ("gone-0", "gone-ready"),
    ] {
        m.wait_for(secs(10.0), text, |r| r.says(inst, text));
    }
}

/// After the good reload: the difference applied, and only it.
fn check_applied(m: &mut Manager, before: &[(&str, i64)]) {
    m.wait_for(secs(10.0), "the removed one's TERM handler", |r| {
        r.says("gone-0", "gone-term")
    });
    m.wait_for(secs(10.0), "web with its new command", |r| {
        r.says("web-0", "web2-ready")
    });
    m.wait_for(secs(10.0), "the added process", |r| {
        r.says("fresh-0", "fresh-ready")
    });
    m.wait_count(3, secs(10.0), "three queue instances", |r| {
        r.is_output() && r.msg() == "queue-ready"
    });
    // The changed one has a new pid; the unchanged and the scaled ones kept theirs.
    for &(inst, pid) in before {
        let now = pids(m, inst);
        if inst == "web-0" {
            assert_eq!(now.len(), 2, "{inst}: {now:?}");
            assert_ne!(now[1], pid);
        } else {
            assert_eq!(now, [pid], "{inst} was restarted");
        }
    }
    assert_eq!(m.events("started", "queue-1").len(), 1);
    assert_eq!(m.events("started", "queue-2").len(), 1);
    // Nobody else got a stop signal.
    for tag in ["keep", "queue"] {
        assert!(
            m.find(|r| r.is_output() && r.msg() == format!("{tag}-term"))
                .is_empty(),
            "{tag} was stopped"
        );
    }
}

#[cfg(feature = "api")]
#[test]
fn reload_config_applies_only_the_difference_and_refuses_a_bad_file() {
    /// A raw `POST` over the API's Unix socket: (status, body).
    fn post(sock: &str, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(sock).expect("connect to the API");
        s.set_read_timeout(Some(secs(10.0))).expect("timeout");
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (status, body)
    }

    let dir = TestDir::new("reload-api");
    let sock = dir.s("api.sock");
    let head = format!(
        "global:\n  api_enabled: true\n  audit_enabled: true\n  api_socket: {}\n",
        q(&sock)
    );
    let cfg = dir.write(
        "phpeek-pm.yaml",
        &format!("{head}{}", processes("web", 1, true, false)),
    );
    let mut m = Manager::start(Mode::Pid1, &cfg);
    wait_up(&mut m);
    poll_until(secs(10.0), "the API socket", || {
        Path::new(&sock).exists().then_some(())
    });
    let before: Vec<(&str, i64)> = ["keep-0", "web-0", "queue-0"]
        .into_iter()
        .map(|i| (i, pids(&mut m, i)[0]))
        .collect();
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--api", &sock]);
        run_cmd(&all, &[], None, secs(20.0))
    };

    // An invalid edit: two mistakes, both reported, nothing changes.
    save(
        &cfg,
        &format!(
            "{head}{}  broken:\n    command: [\"true\"]\n    restart: sometimes\n    depends_on: [nobody]\n",
            processes("web2", 3, false, true)
        ),
    );
    let out = cli(&["reload-config"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("nothing changed"), "{}", out.stderr);
    assert!(out.stderr.contains("sometimes"), "{}", out.stderr);
    assert!(out.stderr.contains("nobody"), "{}", out.stderr);
    let (status, body) = post(&sock, "/api/v1/config/reload");
    assert_eq!(status, 400, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(2), "{body}");
    m.wait_for(secs(10.0), "the refusal logged", |r| {
        r.event() == Some("config_reload_failed")
    });
    for &(inst, pid) in &before {
        assert_eq!(pids(&mut m, inst), [pid], "{inst} changed after a bad file");
    }
    assert!(m.events("started", "fresh-0").is_empty());
    assert!(m.find(|r| r.says("gone-0", "gone-term")).is_empty());

    // The good edit: web's command, queue's scale, gone removed, fresh added.
    save(
        &cfg,
        &format!("{head}{}", processes("web2", 3, false, true)),
    );
    let out = cli(&["reload-config"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "configuration reloaded: added fresh; removed gone; restarted web; scaled queue; \
         1 unchanged\n"
    );
    check_applied(&mut m, &before);
    let status = cli(&["status"]);
    assert!(!status.stdout.contains("gone"), "{}", status.stdout);
    assert!(status.stdout.contains("fresh-0"), "{}", status.stdout);

    // The same file again: nothing to do.
    let (code, body) = post(&sock, "/api/v1/config/reload");
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(doc["unchanged"], 4, "{body}");
    assert_eq!(doc["restarted"].as_array().map(Vec::len), Some(0), "{body}");

    // Audit trail: every reload request, refused or applied, with its result and caller.
    let audited = |r: &serde_json::Value| {
        r.event() == Some("audit")
            && r.s("action") == Some("config.reload")
            && r.i("result") == Some(200)
    };
    let first = m.wait_for(secs(10.0), "the first applied reload audited", audited);
    let after = first.line_no();
    m.wait_for(secs(10.0), "the second applied reload audited", |r| {
        audited(r) && r.line_no() > after
    });
    let results: Vec<i64> = m
        .find(|r| r.event() == Some("audit") && r.s("action") == Some("config.reload"))
        .iter()
        .filter_map(|r| r.i("result"))
        .collect();
    assert_eq!(results, [400, 400, 200, 200], "{}", m.dump());

    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(30.0)), 0);
}

#[test]
fn watch_reloads_when_the_file_is_saved() {
    let dir = TestDir::new("reload-watch");
    let cfg = dir.write("phpeek-pm.yaml", &processes("web", 1, true, false));
    let mut m = Launch::new(Mode::Pid1).config(&cfg).arg("--watch").spawn();
    wait_up(&mut m);
    m.wait_for(secs(10.0), "the watch", |r| {
        r.event() == Some("config_watch")
    });
    let before: Vec<(&str, i64)> = ["keep-0", "web-0", "queue-0"]
        .into_iter()
        .map(|i| (i, pids(&mut m, i)[0]))
        .collect();
    // A bad save is refused with its error; a good one after it applies.
    save(&cfg, "processes:\n  web:\n    command: []\n");
    m.wait_for(secs(10.0), "the refusal", |r| {
        r.event() == Some("config_reload_failed")
    });
    assert!(m.find(|r| r.says("gone-0", "gone-term")).is_empty());
    save(&cfg, &processes("web2", 3, false, true));
    m.wait_for(secs(10.0), "the reload", |r| {
        r.event() == Some("config_reloaded")
    });
    check_applied(&mut m, &before);
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait_code(secs(30.0)), 0);
}
