//! Validation of the listeners' security and resource keys (features `api`, `metrics`):
//! `api_acl` / `metrics_acl`, `api_tls` / `metrics_tls` and `resource_metrics_*`. An entry
//! that does not parse is an error with its line — never a list silently switched off.

use yaml_serde::Value;

use super::acl::{Acl, Cidr};
use super::fields::Section;
use super::model::{HistorySettings, TlsSettings};
use super::raw::RawGlobal;
use super::{ConfigError, Ctx, env, path};
use crate::features::Feature;

/// `resource_metrics_interval` default and bounds (the Go tool's), in seconds.
const HISTORY_INTERVAL_S: u64 = 5;
const HISTORY_MAX_INTERVAL_S: u64 = 3600;
/// `resource_metrics_max_samples` default and bound (per instance).
const HISTORY_SAMPLES: i64 = 720;
const HISTORY_MAX_SAMPLES: i64 = 100_000;

/// `api_acl` / `metrics_acl`. On unless `enabled: false`; every entry must parse (the Go tool
/// switched the whole list off on a bad entry: fail open).
pub(super) fn acl(
    ctx: &Ctx<'_>,
    ov: &[env::Applied],
    key: &str,
    v: Option<&Value>,
) -> Result<Option<Acl>, ConfigError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = Section::new(ctx, ov, path(&["global", key]), None, v)?;
    if s.get::<bool>("enabled")? == Some(false) {
        return Ok(None);
    }
    let allow_mode = match s.get::<String>("mode")?.as_deref() {
        None | Some("allow") => true,
        Some("deny") => false,
        Some(m) => {
            return Err(s.err(
                Some("mode"),
                format!("{key}.mode must be allow (only allow_list) or deny (all but deny_list), not {m:?}"),
            ));
        }
    };
    let list = |k: &str| -> Result<Vec<Cidr>, ConfigError> {
        let mut out = Vec::new();
        for e in s.get::<Vec<String>>(k)?.unwrap_or_default() {
            out.push(Cidr::parse(&e).map_err(|m| s.err(Some(k), format!("{key}.{k}: {m}")))?);
        }
        Ok(out)
    };
    let (allow, deny) = (list("allow_list")?, list("deny_list")?);
    if allow_mode && allow.is_empty() {
        return Err(s.err(
            Some("allow_list"),
            format!(
                "{key}: mode allow with an empty allow_list would refuse every client: list the \
                 addresses (127.0.0.1, 10.0.0.0/8), or use mode: deny with a deny_list"
            ),
        ));
    }
    Ok(Some(Acl {
        allow_mode,
        allow,
        deny,
        trust_proxy: s.get::<bool>("trust_proxy")?.unwrap_or(false),
    }))
}

/// `api_tls` / `metrics_tls`. On when `enabled: true`.
pub(super) fn tls(
    ctx: &Ctx<'_>,
    ov: &[env::Applied],
    key: &str,
    v: Option<&Value>,
) -> Result<Option<TlsSettings>, ConfigError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = Section::new(ctx, ov, path(&["global", key]), None, v)?;
    if s.get::<bool>("enabled")? != Some(true) {
        return Ok(None);
    }
    let file = |k: &str| -> Result<String, ConfigError> {
        s.get::<String>(k)?
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                s.err(
                    None,
                    format!("{key}.{k} is required when {key}.enabled is true (a PEM file)"),
                )
            })
    };
    let (cert_file, key_file) = (file("cert_file")?, file("key_file")?);
    let client_ca = s.get::<String>("ca_file")?.filter(|f| !f.is_empty());
    let client_required = match s.get::<String>("client_auth")?.as_deref() {
        None | Some("none") | Some("request") => false,
        Some("require") | Some("verify") => true,
        Some(m) => {
            return Err(s.err(
                Some("client_auth"),
                format!("{key}.client_auth must be none, request, require or verify, not {m:?}"),
            ));
        }
    };
    if client_required && client_ca.is_none() {
        return Err(s.err(
            Some("client_auth"),
            format!("{key}.client_auth asks for client certificates: set {key}.ca_file to the CA that signs them"),
        ));
    }
    let tls13_only = match s.get::<String>("min_version")?.as_deref() {
        None | Some("TLS 1.2") | Some("1.2") | Some("TLS1.2") => false,
        Some("TLS 1.3") | Some("1.3") | Some("TLS1.3") => true,
        Some(m) => {
            return Err(s.err(
                Some("min_version"),
                format!("{key}.min_version must be \"TLS 1.2\" or \"TLS 1.3\" (older versions are not offered), not {m:?}"),
            ));
        }
    };
    if s.get::<Vec<String>>("cipher_suites")?
        .is_some_and(|c| !c.is_empty())
    {
        return Err(s.err(
            Some("cipher_suites"),
            format!("{key}.cipher_suites cannot be chosen: only AES-GCM suites (TLS 1.2 ECDHE and TLS 1.3) are offered; remove the key"),
        ));
    }
    // Without feature `tls` the listeners cannot speak TLS: serving plain HTTP where TLS was
    // asked for would fail open, so the key is refused.
    if !Feature::Tls.available() {
        return Err(s.err(
            Some("enabled"),
            format!(
                "{}; terminate TLS in a proxy in front of it, or remove {key}",
                Feature::Tls.unavailable(&format!("global.{key}"))
            ),
        ));
    }
    Ok(Some(TlsSettings {
        cert_file,
        key_file,
        client_ca,
        client_required,
        tls13_only,
    }))
}

/// `resource_metrics_enabled: true` (written, not the default): the sampled history.
pub(super) fn history(
    ctx: &Ctx<'_>,
    ov: &[env::Applied],
    g: &RawGlobal,
) -> Result<Option<HistorySettings>, ConfigError> {
    if g.resource_metrics_enabled != Some(true) {
        return Ok(None);
    }
    let gp = |k: &str| path(&["global", k]);
    let interval_ms = g
        .resource_metrics_interval
        .map_or(HISTORY_INTERVAL_S * 1000, |d| d.ms());
    if !(1000..=HISTORY_MAX_INTERVAL_S * 1000).contains(&interval_ms) {
        return Err(ctx.at(
            &gp("resource_metrics_interval"),
            ov,
            format!("resource_metrics_interval must be between 1s and {HISTORY_MAX_INTERVAL_S}s"),
        ));
    }
    let n = g.resource_metrics_max_samples.unwrap_or(HISTORY_SAMPLES);
    if !(1..=HISTORY_MAX_SAMPLES).contains(&n) {
        return Err(ctx.at(
            &gp("resource_metrics_max_samples"),
            ov,
            format!(
                "resource_metrics_max_samples must be between 1 and {HISTORY_MAX_SAMPLES}, not {n}"
            ),
        ));
    }
    Ok(Some(HistorySettings {
        interval_ms,
        max_samples: n as usize,
    }))
}
