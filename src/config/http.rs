//! Validation of the HTTP listeners' keys: `api_*` (feature `api`) and `metrics_*` (feature
//! `metrics`). The key table already refuses `api_enabled: true` / `metrics_enabled: true` in a
//! build without the feature, so here they are only checked for meaning.

use std::net::{IpAddr, SocketAddr};

use super::model::{ApiSettings, MetricsSettings, defaults};
use super::raw::RawGlobal;
use super::security::{acl, history, tls};
use super::{ConfigError, Ctx, env, path};

/// The API and metrics settings, each `None` unless switched on.
pub(super) fn settings(
    ctx: &Ctx<'_>,
    g: &RawGlobal,
    ov: &[env::Applied],
) -> Result<(Option<ApiSettings>, Option<MetricsSettings>), ConfigError> {
    let gp = |k: &str| path(&["global", k]);
    let host = |key: &str, value: Option<&str>, default: &str| -> Result<IpAddr, ConfigError> {
        let v = value.unwrap_or(default);
        let v = if v == "localhost" { "127.0.0.1" } else { v };
        v.trim_matches(['[', ']']).parse::<IpAddr>().map_err(|_| {
            ctx.at(
                &gp(key),
                ov,
                format!("{key} must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1, not {v:?}"),
            )
        })
    };
    let port = |key: &str, value: Option<i64>, default: u16| -> Result<u16, ConfigError> {
        match value {
            None => Ok(default),
            Some(p) => u16::try_from(p).map_err(|_| {
                ctx.at(
                    &gp(key),
                    ov,
                    format!("{key} must be between 0 and 65535 (0 = any free port), not {p}"),
                )
            }),
        }
    };
    let api = if g.api_enabled == Some(true) {
        let socket = match g.api_socket.as_deref() {
            None => None,
            Some("") => {
                return Err(ctx.at(&gp("api_socket"), ov, "api_socket must not be empty".into()));
            }
            Some(s) => Some(s.to_owned()),
        };
        // With a Unix socket, TCP is on only when asked for explicitly.
        let tcp_wanted = socket.is_none() || g.api_port.is_some() || g.api_host.is_some();
        let tcp = if tcp_wanted {
            Some(SocketAddr::new(
                host("api_host", g.api_host.as_deref(), defaults::API_HOST)?,
                port("api_port", g.api_port, defaults::API_PORT)?,
            ))
        } else {
            None
        };
        Some(ApiSettings {
            tcp,
            socket,
            auth: g.api_auth.clone().filter(|a| !a.is_empty()),
            acl: acl(ctx, ov, "api_acl", g.api_acl.as_ref())?,
            tls: tls(ctx, ov, "api_tls", g.api_tls.as_ref())?,
            audit: g.audit_enabled == Some(true),
            resources: g.resource_metrics_enabled != Some(false),
            history: history(ctx, ov, g)?,
        })
    } else {
        None
    };
    let metrics = if g.metrics_enabled == Some(true) {
        let p = g.metrics_path.as_deref().unwrap_or(defaults::METRICS_PATH);
        if !p.starts_with('/') || p.contains(['?', '#', ' ']) {
            return Err(ctx.at(
                &gp("metrics_path"),
                ov,
                format!(
                    "metrics_path must be a path starting with '/', such as /metrics, not {p:?}"
                ),
            ));
        }
        Some(MetricsSettings {
            addr: SocketAddr::new(
                host(
                    "metrics_host",
                    g.metrics_host.as_deref(),
                    defaults::METRICS_HOST,
                )?,
                port("metrics_port", g.metrics_port, defaults::METRICS_PORT)?,
            ),
            path: p.to_owned(),
            acl: acl(ctx, ov, "metrics_acl", g.metrics_acl.as_ref())?,
            tls: tls(ctx, ov, "metrics_tls", g.metrics_tls.as_ref())?,
            resources: g.resource_metrics_enabled != Some(false),
        })
    } else {
        None
    };
    // Two listeners on one address would fail to bind at start-up: say so now, with the line.
    if let (Some(a), Some(m)) = (api.as_ref().and_then(|a| a.tcp), &metrics) {
        let overlap =
            a.ip() == m.addr.ip() || a.ip().is_unspecified() || m.addr.ip().is_unspecified();
        if a.port() != 0 && a.port() == m.addr.port() && overlap {
            let key = if g.metrics_port.is_some() {
                "metrics_port"
            } else {
                "api_port"
            };
            return Err(ctx.at(
                &gp(key),
                ov,
                format!(
                    "metrics_port {} is also the API's port (api_port): give them different ports",
                    a.port()
                ),
            ));
        }
    }
    Ok((api, metrics))
}

// The keys are refused in builds without the features, so the tests need both.
#[cfg(all(test, feature = "api", feature = "metrics"))]
mod tests {
    use super::super::{Inputs, Origin, load};

    fn load_text(text: &str) -> Result<super::super::model::Config, super::super::ConfigError> {
        load(&Inputs {
            file: Some(("t.yaml", text)),
            env: &[],
            passwd: &|| (String::new(), String::new()),
        })
    }

    const PROCS: &str = "processes:\n  a: {command: [x]}\n";

    #[test]
    fn defaults_and_socket_only() {
        let c = load_text(&format!(
            "global:\n  api_enabled: true\n  metrics_enabled: true\n{PROCS}"
        ))
        .unwrap();
        let api = c.global.api.unwrap();
        assert_eq!(api.tcp.unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!((api.socket, api.auth), (None, None));
        let m = c.global.metrics.unwrap();
        assert_eq!(
            (m.addr.to_string(), m.path.as_str()),
            ("0.0.0.0:9090".into(), "/metrics")
        );
        let c = load_text(&format!(
            "global:\n  api_enabled: true\n  api_socket: /run/p.sock\n  api_auth: \"\"\n{PROCS}"
        ))
        .unwrap();
        let api = c.global.api.unwrap();
        assert_eq!(
            (api.tcp, api.socket.as_deref(), api.auth),
            (None, Some("/run/p.sock"), None)
        );
        let c = load_text(&format!(
            "global:\n  api_enabled: false\n  api_port: 1\n{PROCS}"
        ))
        .unwrap();
        assert_eq!(c.global.api, None);
    }

    #[test]
    fn errors_point_at_the_key() {
        for (text, line, words) in [
            (
                "global:\n  api_enabled: true\n  api_host: nowhere\n",
                3,
                "api_host must be an IP",
            ),
            (
                "global:\n  api_enabled: true\n  api_port: 70000\n",
                3,
                "api_port must be between",
            ),
            (
                "global:\n  metrics_enabled: true\n  metrics_path: metrics\n",
                3,
                "metrics_path must be",
            ),
            (
                "global:\n  metrics_enabled: true\n  metrics_host: \"::1\"\n  metrics_port: -1\n",
                4,
                "metrics_port",
            ),
            (
                "global:\n  api_enabled: true\n  api_socket: \"\"\n",
                3,
                "api_socket must not be empty",
            ),
        ] {
            let e = load_text(&format!("{text}{PROCS}")).unwrap_err();
            assert_eq!(
                e.origin,
                Origin::File {
                    path: "t.yaml".into(),
                    line: Some(line)
                },
                "{text}: {e}"
            );
            assert!(e.msg.contains(words), "{e}");
        }
    }
}

#[cfg(all(test, feature = "api", feature = "metrics"))]
mod security_tests {
    use super::super::{Inputs, load};

    fn load_text(text: &str) -> Result<super::super::model::Config, super::super::ConfigError> {
        load(&Inputs {
            file: Some(("t.yaml", text)),
            env: &[],
            passwd: &|| (String::new(), String::new()),
        })
    }

    #[test]
    fn acl_lists_parse_and_bad_entries_are_errors() {
        let ok = load_text(
            "global:\n  api_enabled: true\n  api_acl:\n    allow_list: [127.0.0.1, 10.0.0.0/8]\n    deny_list: [\"10.9.0.0/16\"]\nprocesses:\n  a: {command: [x]}\n",
        )
        .unwrap();
        let acl = ok.global.api.unwrap().acl.unwrap();
        assert!(acl.allow_mode && acl.allow.len() == 2 && acl.deny.len() == 1);
        for (text, line, words) in [
            (
                "  api_acl:\n    allow_list: [10.0.0.0/33]\n",
                4,
                "prefix length",
            ),
            (
                "  api_acl:\n    allow_list: [my-laptop]\n",
                4,
                "not an IP address",
            ),
            ("  api_acl:\n    mode: whitelist\n", 4, "mode must be"),
            ("  api_acl:\n    enabled: true\n", 3, "empty allow_list"),
            (
                "  api_tls:\n    enabled: true\n    key_file: k.pem\n",
                3,
                "cert_file is required",
            ),
            (
                "  api_tls:\n    enabled: true\n    cert_file: c\n    key_file: k\n    min_version: TLS 1.0\n",
                7,
                "min_version",
            ),
            (
                "  api_tls:\n    enabled: true\n    cert_file: c\n    key_file: k\n    client_auth: verify\n",
                7,
                "ca_file",
            ),
            (
                "  resource_metrics_enabled: true\n  resource_metrics_interval: 0\n",
                4,
                "between 1s",
            ),
        ] {
            let e = load_text(&format!(
                "global:\n  api_enabled: true\n{text}processes:\n  a: {{command: [x]}}\n"
            ))
            .unwrap_err();
            assert!(e.msg.contains(words), "{text}: {e}");
            assert!(
                e.to_string().contains(&format!("t.yaml:{line}:")),
                "{text}: {e}"
            );
        }
        let off = load_text(
            "global:\n  api_enabled: true\n  api_acl: {enabled: false, allow_list: []}\n  api_tls: {enabled: false}\nprocesses:\n  a: {command: [x]}\n",
        )
        .unwrap();
        let api = off.global.api.unwrap();
        assert_eq!((api.acl, api.tls, api.history), (None, None, None));
        assert!(api.resources && !api.audit);
    }

    /// Without feature `tls`, TLS on a listener is refused (never served as plain HTTP).
    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_needs_the_feature() {
        let e = load_text(
            "global:\n  metrics_enabled: true\n  metrics_tls:\n    enabled: true\n    cert_file: c\n    key_file: k\nprocesses:\n  a: {command: [x]}\n",
        )
        .unwrap_err();
        assert!(e.msg.contains("feature \"tls\""), "{e}");
        assert!(e.to_string().contains("t.yaml:3:"), "{e}");
    }
}
