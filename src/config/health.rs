//! Validating `processes.*.health_check` and the readiness file (`global.readiness_file`,
//! `global.readiness`) of feature `health`: defaults, ranges, and the rules that make a check
//! usable (an address for tcp, an `http://` url for http, a command for exec, thresholds of at
//! least 1, a timeout no longer than the period). Every error names its key and line.

use yaml_serde::Value;

use super::duration::Duration;
use super::fields::{Section, count};
use super::model::{HealthMode, HealthSpec, ProbeKind, ReadinessMode, ReadinessSpec, defaults};
use super::raw::CommandLine;
use super::schema::Kind::*;
use super::schema::{Key, k};
use super::{ConfigError, Ctx, env};

/// A `health_check` block. `interval` and `retries` are the original tool's documentation's
/// names for `period` and `failure_threshold`; `startup_timeout` is another name for Docker's
/// `start_period`.
pub const KEYS: &[Key] = &[
    k("type", Str),
    k("address", Str),
    k("url", Str),
    k("command", Command),
    k("initial_delay", Time),
    k("start_period", Time),
    k("startup_timeout", Time),
    k("period", Time),
    k("interval", Time),
    k("timeout", Time),
    k("failure_threshold", Int),
    k("retries", Int),
    k("success_threshold", Int),
    k("expected_status", Int),
    k("expected_body", Str),
    k("mode", Str),
];

/// `global.readiness`, the original tool's readiness-file block.
pub const READINESS: &[Key] = &[
    k("enabled", Bool),
    k("path", Str),
    k("mode", Str),
    k("content", Str),
    k("processes", List),
];

/// Highest threshold accepted: far beyond any sensible value, low enough to never overflow.
const MAX_THRESHOLD: i64 = 1_000;

/// Parses one process's `health_check` block (`path` is its key path).
pub(super) fn parse(
    ctx: &Ctx<'_>,
    ov: &[env::Applied],
    path: Vec<String>,
    v: Option<&Value>,
) -> Result<Option<HealthSpec>, ConfigError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = Section::new(ctx, ov, path, None, v)?.with_keys(KEYS);
    // A required key that is missing next to an unknown one was misspelt: the unknown key's
    // error (with its suggestion) says it all.
    let typo = ctx.has_unknown_in(&s.path);
    let d = s.dotted();
    let kind: Option<String> = s.get("type")?;
    let probe = match kind.as_deref() {
        None => {
            return Err(s.err(None, format!("{d}.type is required: tcp, http or exec")));
        }
        Some("tcp") => {
            let Some(a) = s.get::<String>("address")? else {
                if typo {
                    return Ok(None);
                }
                return Err(s.err(
                    Some("type"),
                    format!("{d}: a tcp check needs address (host:port, e.g. \"127.0.0.1:9000\")"),
                ));
            };
            let (host, port) =
                host_port(&a).map_err(|m| s.err(Some("address"), format!("{d}.address: {m}")))?;
            ProbeKind::Tcp { host, port }
        }
        Some("http") => {
            let Some(u) = s.get::<String>("url")? else {
                if typo {
                    return Ok(None);
                }
                let hint = if s.has("address") {
                    " (address is for tcp checks)"
                } else {
                    ""
                };
                return Err(s.err(
                    Some("type"),
                    format!("{d}: an http check needs url (e.g. \"http://127.0.0.1/up\"){hint}"),
                ));
            };
            let (host, port, path) =
                parse_url(&u).map_err(|m| s.err(Some("url"), format!("{d}.url: {m}")))?;
            let expected_status = match s.get::<i64>("expected_status")? {
                None => None,
                Some(n) if (100..=599).contains(&n) => Some(n as u16),
                Some(n) => {
                    return Err(s.err(
                        Some("expected_status"),
                        format!("{d}.expected_status must be an HTTP status (100-599), not {n}"),
                    ));
                }
            };
            ProbeKind::Http {
                host,
                port,
                path,
                expected_status,
                expected_body: s.get("expected_body")?,
            }
        }
        Some("exec") => {
            let Some(c) = s.get::<CommandLine>("command")? else {
                if typo {
                    return Ok(None);
                }
                return Err(s.err(
                    Some("type"),
                    format!(
                        "{d}: an exec check needs command (a list, e.g. [\"php-fpm-healthcheck\"])"
                    ),
                ));
            };
            ProbeKind::Exec { argv: c.0 }
        }
        Some(other) => {
            return Err(s.err(
                Some("type"),
                format!("{d}.type must be tcp, http or exec, not {other:?}"),
            ));
        }
    };
    let ms = |key: &[&'static str], default: u64| -> Result<(u64, &'static str), ConfigError> {
        Ok(s.get_any::<Duration>(key)?
            .map_or((default, key[0]), |(v, k)| (v.ms(), k)))
    };
    let (initial_delay, _) = ms(&["initial_delay"], defaults::HEALTH_INITIAL_DELAY_MS)?;
    let (start_period, _) = ms(
        &["start_period", "startup_timeout"],
        defaults::HEALTH_START_PERIOD_MS,
    )?;
    let (period, period_key) = ms(&["period", "interval"], defaults::HEALTH_PERIOD_MS)?;
    // An unset timeout fits itself into a short period (`period: 1` alone must be usable);
    // only a timeout the user wrote is held to the rule below.
    let (timeout, timeout_key) = ms(&["timeout"], defaults::HEALTH_TIMEOUT_MS.min(period))?;
    if period == 0 {
        return Err(s.err(
            Some(period_key),
            format!("{d}.{period_key} must be more than 0"),
        ));
    }
    if timeout == 0 {
        return Err(s.err(Some("timeout"), format!("{d}.timeout must be more than 0")));
    }
    if timeout > period {
        return Err(s.err(
            Some(timeout_key),
            format!(
                "{d}.timeout ({timeout} ms) is longer than its period ({period} ms): probes of one \
                 instance never overlap, so the timeout must fit in the period"
            ),
        ));
    }
    let failure_threshold = match count(&s, "failure_threshold", 1, MAX_THRESHOLD)? {
        Some(n) => n,
        None => {
            count(&s, "retries", 1, MAX_THRESHOLD)?.unwrap_or(defaults::HEALTH_FAILURE_THRESHOLD)
        }
    };
    let success_threshold = count(&s, "success_threshold", 1, MAX_THRESHOLD)?
        .unwrap_or(defaults::HEALTH_SUCCESS_THRESHOLD);
    let mode = match s.get::<String>("mode")?.as_deref() {
        None | Some("both") => HealthMode::Both,
        Some("liveness") => HealthMode::Liveness,
        Some("readiness") => HealthMode::Readiness,
        Some(other) => {
            return Err(s.err(
                Some("mode"),
                format!("{d}.mode must be liveness, readiness or both, not {other:?}"),
            ));
        }
    };
    Ok(Some(HealthSpec {
        probe,
        initial_delay,
        start_period,
        period,
        timeout,
        failure_threshold,
        success_threshold,
        mode,
    }))
}

/// `host:port`; `:port` means loopback. The host must be an IP address or `localhost`: a probe
/// never waits for a DNS answer on the event loop.
pub fn host_port(a: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest
            .split_once(']')
            .ok_or_else(|| format!("{a:?} is not host:port"))?;
        (
            h,
            p.strip_prefix(':')
                .ok_or_else(|| format!("{a:?} has no port"))?,
        )
    } else {
        a.rsplit_once(':')
            .ok_or_else(|| format!("{a:?} is not host:port (e.g. \"127.0.0.1:9000\")"))?
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{a:?}: port must be 1-65535"))?;
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    check_host(host)?;
    Ok((host.to_owned(), port))
}

fn check_host(host: &str) -> Result<(), String> {
    if host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "host {host:?} must be an IP address or localhost (probes do not wait for DNS)"
        ))
    }
}

/// `http://host[:port][/path]` → (host, port, path).
pub fn parse_url(u: &str) -> Result<(String, u16, String), String> {
    if u.starts_with("https://") {
        return Err(format!(
            "{u:?}: https is not supported by health probes (no TLS on the event loop); probe the \
             plain-http port on loopback, or use an exec check running curl"
        ));
    }
    let rest = u
        .strip_prefix("http://")
        .ok_or_else(|| format!("{u:?} must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "{u:?}: the path contains spaces or control characters"
        ));
    }
    let (host, port) = if authority.starts_with('[') || authority.contains(':') {
        host_port(authority)?
    } else {
        if authority.is_empty() {
            return Err(format!("{u:?} has no host"));
        }
        check_host(authority)?;
        (authority.to_owned(), 80)
    };
    Ok((host, port, path.to_owned()))
}

/// `global.readiness_file` or `global.readiness`; `names` are the processes in start order
/// (and whether each is a longrun).
pub(super) fn readiness(
    g: &Section<'_>,
    names: &[(String, bool)],
) -> Result<Option<ReadinessSpec>, ConfigError> {
    let file = g.get::<String>("readiness_file")?;
    let block = g.child("readiness")?;
    if let (Some(_), Some(_)) = (&file, &block) {
        return Err(g.err(
            Some("readiness_file"),
            "use either readiness_file or the readiness block, not both".to_owned(),
        ));
    }
    if let Some(p) = file {
        if p.is_empty() {
            return Err(g.err(Some("readiness_file"), "readiness_file is empty".to_owned()));
        }
        return Ok(Some(ReadinessSpec {
            path: p,
            mode: ReadinessMode::AllHealthy,
            content: None,
            processes: Vec::new(),
        }));
    }
    let Some(s) = block else { return Ok(None) };
    if !s.get::<bool>("enabled")?.unwrap_or(false) {
        return Ok(None);
    }
    let mode = match s.get::<String>("mode")?.as_deref() {
        None | Some("all_healthy") => ReadinessMode::AllHealthy,
        Some("all_running") => ReadinessMode::AllRunning,
        Some(other) => {
            return Err(s.err(
                Some("mode"),
                format!("global.readiness.mode must be all_healthy or all_running, not {other:?}"),
            ));
        }
    };
    let mut processes = Vec::new();
    for n in s.get::<Vec<String>>("processes")?.unwrap_or_default() {
        match names.iter().position(|(p, _)| *p == n) {
            Some(i) if names[i].1 => processes.push(i),
            Some(_) => {
                return Err(s.err(
                    Some("processes"),
                    format!("global.readiness.processes: {n:?} is a oneshot; list longruns"),
                ));
            }
            None => {
                return Err(s.err(
                    Some("processes"),
                    format!("global.readiness.processes: {n:?} is not an enabled process"),
                ));
            }
        }
    }
    Ok(Some(ReadinessSpec {
        path: s
            .get::<String>("path")?
            .unwrap_or_else(|| defaults::READINESS_PATH.to_owned()),
        mode,
        content: s.get("content")?,
        processes,
    }))
}

// The key is refused in builds without the feature, so the tests need it.
#[cfg(all(test, feature = "health"))]
mod tests {
    use super::*;
    use crate::config::{Config, Inputs, Origin, load};

    fn load_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        load(&Inputs {
            file: Some(("t.yaml", text)),
            env: &env,
            passwd: &|| (String::new(), String::new()),
        })
    }

    fn line(e: &ConfigError) -> Option<usize> {
        match e.origin {
            Origin::File { line, .. } => line,
            _ => None,
        }
    }

    #[test]
    fn check_config_notes_the_start_period_where_go_counts_every_failure() {
        let text = "processes:\n  a:\n    enabled: true\n    command: [x]\n    health_check:\n      type: tcp\n      address: :9000\n  b:\n    enabled: true\n    command: [x]\n    health_check:\n      type: tcp\n      address: :9000\n      startup_timeout: 0\n";
        let c = super::super::check(&Inputs {
            file: Some(("t.yaml", text)),
            env: &[],
            passwd: &|| (String::new(), String::new()),
        });
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        let notes: Vec<_> = c
            .differences
            .iter()
            .filter(|d| d.msg.contains("start_period"))
            .collect();
        assert_eq!(notes.len(), 1, "{:?}", c.differences);
        assert_eq!(line(notes[0]), Some(5), "{:?}", notes[0]);
        assert!(notes[0].msg.contains("process \"a\""), "{}", notes[0].msg);
    }

    #[test]
    fn start_period_defaults_and_alias_and_a_short_period_alone() {
        let c = load_with(
            "processes:\n  a:\n    command: [x]\n    health_check:\n      type: tcp\n      address: :9000\n      period: 1\n      failure_threshold: 2\n  b:\n    command: [x]\n    health_check:\n      type: tcp\n      address: :9000\n      startup_timeout: 2m\n  c:\n    command: [x]\n    health_check:\n      type: tcp\n      address: :9000\n      start_period: 0\n",
            &[],
        )
        .unwrap();
        let h = |n: &str| {
            let p = c.processes.iter().find(|p| p.name == n).unwrap();
            let h = p.health.as_ref().unwrap();
            (h.start_period, h.period, h.timeout)
        };
        assert_eq!(h("a"), (30_000, 1_000, 1_000), "timeout fits the period");
        assert_eq!(h("b"), (120_000, 10_000, 3_000));
        assert_eq!(h("c"), (0, 10_000, 3_000));
    }

    #[test]
    fn checks_parse_with_defaults_and_aliases() {
        let c = load_with(
            "processes:\n  fpm:\n    command: [x]\n    health_check:\n      type: tcp\n      address: 127.0.0.1:9000\n  web:\n    command: [y]\n    health_check:\n      type: http\n      url: http://127.0.0.1:8080/up\n      interval: 2s\n      retries: 5\n      timeout: 1s\n      expected_body: ok\n      mode: readiness\n",
            &[],
        )
        .unwrap();
        let fpm = c.processes.iter().find(|p| p.name == "fpm").unwrap();
        let h = fpm.health.as_ref().unwrap();
        assert_eq!(
            (
                h.initial_delay,
                h.period,
                h.timeout,
                h.failure_threshold,
                h.success_threshold,
                h.mode
            ),
            (5_000, 10_000, 3_000, 3, 1, HealthMode::Both)
        );
        let web = c.processes.iter().find(|p| p.name == "web").unwrap();
        let h = web.health.as_ref().unwrap();
        assert_eq!(
            (h.period, h.failure_threshold, h.mode),
            (2_000, 5, HealthMode::Readiness)
        );
        assert_eq!(
            h.probe,
            ProbeKind::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/up".into(),
                expected_status: None,
                expected_body: Some("ok".into())
            }
        );
    }

    #[test]
    fn bad_checks_point_at_their_line() {
        let head = "processes:\n  web:\n    command: [x]\n    health_check:\n";
        let cases: &[(&str, usize, &str)] = &[
            ("      type: tcp\n", 5, "needs address"),
            (
                "      type: http\n      address: 127.0.0.1:80\n",
                5,
                "needs url",
            ),
            (
                "      type: http\n      url: https://127.0.0.1/\n",
                6,
                "https",
            ),
            ("      type: exec\n", 5, "needs command"),
            ("      type: grpc\n", 5, "tcp, http or exec"),
            ("      address: 127.0.0.1:1\n", 4, "type is required"),
            (
                "      type: tcp\n      address: 127.0.0.1:1\n      failure_threshold: 0\n",
                7,
                "between 1",
            ),
            (
                "      type: tcp\n      address: 127.0.0.1:1\n      success_threshold: 0\n",
                7,
                "between 1",
            ),
            (
                "      type: tcp\n      address: 127.0.0.1:1\n      period: 1s\n      timeout: 2s\n",
                8,
                "longer than its period",
            ),
            (
                "      type: tcp\n      address: 127.0.0.1:1\n      mode: sometimes\n",
                7,
                "liveness",
            ),
            (
                "      type: tcp\n      adress: 127.0.0.1:1\n",
                6,
                "did you mean \"address\"",
            ),
        ];
        for (body, want_line, want) in cases {
            let e = load_with(&format!("{head}{body}"), &[]).unwrap_err();
            assert_eq!(line(&e), Some(*want_line), "{body}: {e}");
            assert!(e.msg.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn oneshots_have_no_checks() {
        let e = load_with(
            "processes:\n  m:\n    type: oneshot\n    command: [x]\n    health_check:\n      type: exec\n      command: [y]\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(line(&e), Some(5), "{e}");
        assert!(e.msg.contains("oneshot"), "{e}");
    }

    #[test]
    fn env_overrides_reach_into_the_check() {
        let text = "processes:\n  nginx:\n    command: [x]\n    health_check:\n      type: tcp\n      address: 127.0.0.1:80\n";
        let c = load_with(
            text,
            &[(
                "PHPEEK_PM_PROCESS_NGINX_HEALTH_CHECK_FAILURE_THRESHOLD",
                "7",
            )],
        )
        .unwrap();
        assert_eq!(c.processes[0].health.as_ref().unwrap().failure_threshold, 7);
        let e = load_with(
            text,
            &[(
                "PHPEEK_PM_PROCESS_NGINX_HEALTH_CHECK_FAILURE_THRESHOLD",
                "0",
            )],
        )
        .unwrap_err();
        assert_eq!(
            e.origin,
            Origin::Env("PHPEEK_PM_PROCESS_NGINX_HEALTH_CHECK_FAILURE_THRESHOLD".into())
        );
    }

    #[test]
    fn readiness_file_and_block() {
        let c = load_with(
            "global:\n  readiness_file: /tmp/r\nprocesses:\n  a: {command: [x]}\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.global.readiness.unwrap().path, "/tmp/r");
        let c = load_with(
            "global:\n  readiness:\n    enabled: true\n    mode: all_running\n    processes: [a]\nprocesses:\n  a: {command: [x]}\n  b: {command: [y]}\n",
            &[],
        )
        .unwrap();
        let r = c.global.readiness.unwrap();
        assert_eq!(
            (r.path.as_str(), r.mode),
            ("/tmp/phpeek-ready", ReadinessMode::AllRunning)
        );
        assert_eq!(r.processes.len(), 1);
        let e = load_with(
            "global:\n  readiness:\n    enabled: true\n    processes: [zz]\nprocesses:\n  a: {command: [x]}\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(line(&e), Some(4), "{e}");
    }

    #[test]
    fn urls_and_addresses() {
        assert_eq!(
            parse_url("http://127.0.0.1/up").unwrap(),
            ("127.0.0.1".into(), 80, "/up".into())
        );
        assert_eq!(
            parse_url("http://localhost:8080").unwrap(),
            ("localhost".into(), 8080, "/".into())
        );
        assert_eq!(
            parse_url("http://[::1]:81/a?b=c").unwrap(),
            ("::1".into(), 81, "/a?b=c".into())
        );
        assert!(
            parse_url("https://127.0.0.1/")
                .unwrap_err()
                .contains("https")
        );
        assert!(parse_url("ftp://x").is_err());
        assert!(
            parse_url("http://example.com/")
                .unwrap_err()
                .contains("IP address")
        );
        assert_eq!(host_port(":9000").unwrap(), ("127.0.0.1".into(), 9000));
        assert_eq!(host_port("[::1]:9000").unwrap(), ("::1".into(), 9000));
        assert!(host_port("127.0.0.1").is_err());
        assert!(host_port("127.0.0.1:0").is_err());
    }
}
