//! Validation of the HTTP listeners' keys: `api_*` (feature `api`) and `metrics_*` (feature
//! `metrics`), with their `*_tls` and `*_acl` blocks (tables below). The key table already
//! refuses `api_enabled: true` / `metrics_enabled: true` in a build without the feature, so here
//! they are only checked for meaning. An ACL entry that is not an address or network is an
//! error: an ACL is never switched off by a typo.

use std::net::{IpAddr, SocketAddr};

use super::fields::Section;
use super::model::{Acl, ApiSettings, Cidr, ClientAuth, MetricsSettings, TlsSettings, defaults};
use super::schema::Kind::*;
use super::schema::{Key, k};
use super::{ConfigError, Ctx};
use crate::features::Feature;

/// `api_tls` / `metrics_tls` (the Go tool's `TLSConfig`).
pub const TLS: &[Key] = &[
    k("enabled", Bool),
    k("cert_file", Str),
    k("key_file", Str),
    k("ca_file", Str),
    k("client_auth", Str),
    k("min_version", Str),
    k("cipher_suites", List),
    k("auto_reload", Bool),
    k("auto_reload_interval", Time),
];

/// `api_acl` / `metrics_acl` (the Go tool's `ACLConfig`).
pub const ACL: &[Key] = &[
    k("enabled", Bool),
    k("mode", Str),
    k("allow_list", List),
    k("deny_list", List),
    k("trust_proxy", Bool),
];

/// Default `auto_reload_interval` (the Go tool's).
const TLS_RELOAD_MS: u64 = 300_000;

/// The API and metrics settings, each `None` unless switched on.
pub(super) fn settings(
    ctx: &Ctx<'_>,
    g: &Section<'_>,
) -> Result<(Option<ApiSettings>, Option<MetricsSettings>), ConfigError> {
    let host = |key: &str, default: &str| -> Result<IpAddr, ConfigError> {
        let value: Option<String> = g.get(key)?;
        let v = value.as_deref().unwrap_or(default);
        let v = if v == "localhost" { "127.0.0.1" } else { v };
        v.trim_matches(['[', ']']).parse::<IpAddr>().map_err(|_| {
            g.err(
                Some(key),
                format!("{key} must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1, not {v:?}"),
            )
        })
    };
    let port = |key: &str, default: u16| -> Result<u16, ConfigError> {
        match g.get::<i64>(key)? {
            None => Ok(default),
            Some(p) => u16::try_from(p).map_err(|_| {
                g.err(
                    Some(key),
                    format!("{key} must be between 0 and 65535 (0 = any free port), not {p}"),
                )
            }),
        }
    };
    // The security blocks are checked whether or not their listener is on: a mistake in
    // them is a mistake waiting for the day it is switched on.
    let api_tls = ctx.keep(tls(g, "api_tls")).flatten();
    let api_acl = ctx.keep(acl(g, "api_acl")).flatten();
    let metrics_tls = ctx.keep(tls(g, "metrics_tls")).flatten();
    let metrics_acl = ctx.keep(acl(g, "metrics_acl")).flatten();
    let api = if g.get::<bool>("api_enabled")? == Some(true) {
        // "" is unset, as the Go tool's config save writes it.
        let socket = g.get::<String>("api_socket")?.filter(|s| !s.is_empty());
        // With a Unix socket, TCP is on only when asked for explicitly.
        let tcp_wanted = socket.is_none() || g.has("api_port") || g.has("api_host");
        let tcp = if tcp_wanted {
            Some(SocketAddr::new(
                host("api_host", defaults::API_HOST)?,
                port("api_port", defaults::API_PORT)?,
            ))
        } else {
            None
        };
        Some(ApiSettings {
            tcp,
            socket,
            auth: g.get::<String>("api_auth")?.filter(|a| !a.is_empty()),
            tls: api_tls,
            acl: api_acl,
        })
    } else {
        None
    };
    let metrics = if g.get::<bool>("metrics_enabled")? == Some(true) {
        let p = g
            .get::<String>("metrics_path")?
            .unwrap_or_else(|| defaults::METRICS_PATH.to_owned());
        if !p.starts_with('/') || p.contains(['?', '#', ' ']) {
            return Err(g.err(
                Some("metrics_path"),
                format!(
                    "metrics_path must be a path starting with '/', such as /metrics, not {p:?}"
                ),
            ));
        }
        Some(MetricsSettings {
            addr: SocketAddr::new(
                host("metrics_host", defaults::METRICS_HOST)?,
                port("metrics_port", defaults::METRICS_PORT)?,
            ),
            path: p,
            tls: metrics_tls,
            acl: metrics_acl,
        })
    } else {
        None
    };
    // Two listeners on one address would fail to bind at start-up: say so now, with the line.
    if let (Some(a), Some(m)) = (api.as_ref().and_then(|a| a.tcp), &metrics) {
        let overlap =
            a.ip() == m.addr.ip() || a.ip().is_unspecified() || m.addr.ip().is_unspecified();
        if a.port() != 0 && a.port() == m.addr.port() && overlap {
            let key = if g.has("metrics_port") {
                "metrics_port"
            } else {
                "api_port"
            };
            return Err(g.err(
                Some(key),
                format!(
                    "metrics_port {} is also the API's port (api_port): give them different ports",
                    a.port()
                ),
            ));
        }
    }
    Ok((api, metrics))
}

/// An `*_tls` block; `None` when absent or `enabled: false`.
fn tls(g: &Section<'_>, key: &str) -> Result<Option<TlsSettings>, ConfigError> {
    let Some(s) = g.child(key)? else {
        return Ok(None);
    };
    if s.get::<bool>("enabled")? != Some(true) {
        return Ok(None);
    }
    let d = s.dotted();
    if !Feature::Tls.available() {
        return Err(s.err(Some("enabled"), Feature::Tls.unavailable(&d)));
    }
    let file = |k: &str| -> Result<String, ConfigError> {
        match s.get::<String>(k)? {
            Some(f) if !f.is_empty() => Ok(f),
            _ => Err(s.err(
                Some("enabled"),
                format!("{d} needs {k} (a PEM file path, e.g. /etc/phpeek-pm/certs/server.pem)"),
            )),
        }
    };
    let (cert_file, key_file) = (file("cert_file")?, file("key_file")?);
    let ca_file = s.get::<String>("ca_file")?.filter(|f| !f.is_empty());
    let client_auth = match s.get::<String>("client_auth")?.as_deref() {
        None | Some("" | "none") => ClientAuth::None,
        Some("request") => ClientAuth::Request,
        Some("require") => ClientAuth::Require,
        Some("verify") => ClientAuth::Verify,
        Some(other) => {
            return Err(s.err(
                Some("client_auth"),
                format!("{d}.client_auth must be none, request, require or verify, not {other:?}"),
            ));
        }
    };
    if client_auth == ClientAuth::Verify && ca_file.is_none() {
        return Err(s.err(
            Some("client_auth"),
            format!("{d}.client_auth: verify needs ca_file (the CAs client certificates chain to)"),
        ));
    }
    let min_version = match s.get::<String>("min_version")?.as_deref() {
        None | Some("" | "TLS 1.2" | "1.2" | "TLS1.2") => 12,
        Some("TLS 1.3" | "1.3" | "TLS1.3") => 13,
        Some(other) => {
            return Err(s.err(
                Some("min_version"),
                format!(
                    "{d}.min_version must be \"TLS 1.2\" or \"TLS 1.3\", not {other:?} \
                     (older versions are not offered)"
                ),
            ));
        }
    };
    if s.has("cipher_suites") {
        // rustls offers only modern AEAD suites; a list naming others cannot be honoured.
        s.ctx.warn(
            &s,
            "cipher_suites",
            "cipher_suites is ignored: the TLS library offers only its modern AEAD suites              (AES-GCM, ChaCha20-Poly1305), in its own order",
        );
        let _ = s.get::<Vec<String>>("cipher_suites")?;
    }
    let reload_every = if s.get::<bool>("auto_reload")? == Some(true) {
        Some(
            s.get::<super::duration::Duration>("auto_reload_interval")?
                .map_or(TLS_RELOAD_MS, |d| d.ms())
                .max(1_000),
        )
    } else {
        None
    };
    Ok(Some(TlsSettings {
        cert_file,
        key_file,
        ca_file,
        client_auth,
        min_version,
        reload_every,
    }))
}

/// An `*_acl` block; `None` when absent or `enabled: false`.
fn acl(g: &Section<'_>, key: &str) -> Result<Option<Acl>, ConfigError> {
    let Some(s) = g.child(key)? else {
        return Ok(None);
    };
    let d = s.dotted();
    let list = |k: &str| -> Result<Vec<Cidr>, ConfigError> {
        let mut out = Vec::new();
        for entry in s.get::<Vec<String>>(k)?.unwrap_or_default() {
            out.push(Cidr::parse(&entry).map_err(|e| s.err(Some(k), format!("{d}.{k}: {e}")))?);
        }
        Ok(out)
    };
    // Entries are checked even in a disabled block (it is one edit away from enforced).
    let (allow, deny) = (list("allow_list")?, list("deny_list")?);
    let allow_only = match s.get::<String>("mode")?.as_deref() {
        None | Some("allow") => true,
        Some("deny") => false,
        Some(other) => {
            return Err(s.err(
                Some("mode"),
                format!(
                    "{d}.mode must be allow (only allow_list is served) or deny (all but                      deny_list), not {other:?}"
                ),
            ));
        }
    };
    if s.get::<bool>("enabled")? != Some(true) {
        return Ok(None);
    }
    if allow_only && allow.is_empty() {
        return Err(s.err(
            Some("allow_list"),
            format!(
                "{d}: mode allow with an empty allow_list would refuse every client; list the                  networks to serve (e.g. [\"127.0.0.1\", \"10.0.0.0/8\"])"
            ),
        ));
    }
    Ok(Some(Acl {
        allow_only,
        allow,
        deny,
        trust_proxy: s.get::<bool>("trust_proxy")?.unwrap_or(false),
    }))
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
