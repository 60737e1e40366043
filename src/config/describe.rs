//! What `check-config` says about a valid configuration beyond the start plan: where the API
//! and metrics listen and how they are guarded (TLS, ACL, token, audit), resource sampling,
//! and the per-process settings that change what a runtime command may do.

use std::fmt::Write;

use super::model::{Acl, Config, TlsSettings};

pub fn listeners(c: &Config) -> String {
    let mut s = String::new();
    let g = &c.global;
    if let Some(a) = &g.api {
        let mut at: Vec<String> = a.tcp.iter().map(ToString::to_string).collect();
        at.extend(a.socket.iter().map(|p| format!("unix:{p}")));
        let _ = writeln!(
            s,
            "api: {}{}{}{}{}",
            at.join(" and "),
            if a.auth.is_some() {
                ", bearer token"
            } else {
                ", no token"
            },
            tls(a.tls.as_ref()),
            acl(a.acl.as_ref()),
            if g.audit { ", audit log" } else { "" },
        );
    }
    if let Some(m) = &g.metrics {
        let _ = writeln!(
            s,
            "metrics: {}{}{}{}",
            m.addr,
            m.path,
            tls(m.tls.as_ref()),
            acl(m.acl.as_ref())
        );
    }
    let r = &g.resource_metrics;
    if r.enabled {
        let _ = writeln!(
            s,
            "resource metrics: every {} ms, {} samples kept per instance",
            r.interval_ms, r.max_samples
        );
    }
    for p in &c.processes {
        let mut notes = Vec::new();
        if p.start_stopped {
            notes.push("starts stopped (initial_state: stopped)".to_owned());
        }
        if p.scale_locked {
            notes.push("scale locked".to_owned());
        } else if p.kind.supervised() && p.max_scale < g.max_process_scale {
            notes.push(format!("at most {} instances", p.max_scale));
        }
        if !p.labels.is_empty() {
            let l: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            notes.push(format!("labels {}", l.join(",")));
        }
        if !notes.is_empty() {
            let _ = writeln!(s, "{}: {}", p.name, notes.join("; "));
        }
    }
    s
}

fn tls(t: Option<&TlsSettings>) -> String {
    match t {
        None => String::new(),
        Some(t) => format!(
            ", TLS 1.{}+ ({}, key {}; client certificates: {}{})",
            t.min_version - 10,
            t.cert_file,
            t.key_file,
            t.client_auth.as_str(),
            t.ca_file
                .as_ref()
                .map(|c| format!(" from {c}"))
                .unwrap_or_default()
        ),
    }
}

fn acl(a: Option<&Acl>) -> String {
    match a {
        None => String::new(),
        Some(a) => {
            let list = |v: &[super::model::Cidr]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut s = if a.allow_only {
                format!(", ACL: only {}", list(&a.allow))
            } else {
                ", ACL: everyone".to_owned()
            };
            if !a.deny.is_empty() {
                s.push_str(&format!(" except {}", list(&a.deny)));
            }
            if a.trust_proxy {
                s.push_str(" (by X-Forwarded-For)");
            }
            s
        }
    }
}
