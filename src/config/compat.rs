//! Where the Go phpeek-pm would run the same file differently: the defaults that differ
//! (docs/migrating-from-go.md has the whole table). `check-config` prints these notes, so a
//! team moving a Go configuration over sees what changes before it runs.

use yaml_serde::Value;

use super::{Ctx, path};

pub(super) fn differences(ctx: &Ctx<'_>, doc: &Value) {
    let global = doc.get("global");
    let has = |k: &str| global.and_then(|g| g.get(k)).is_some_and(|v| !v.is_null());
    let gp = |k: &str| path(&["global", k]);
    if !has("api_enabled") {
        ctx.differs(
            &path(&["global"]),
            "the Go tool starts its API by default, on all interfaces, port 9180; here the API \
             is off unless api_enabled: true (then on 127.0.0.1:8080)"
                .to_owned(),
        );
    } else if !has("api_port") {
        ctx.differs(
            &gp("api_enabled"),
            "the Go tool's API listens on port 9180 of all interfaces; here on 127.0.0.1:8080 \
             (set api_port and api_host to keep the Go address)"
                .to_owned(),
        );
    }
    if !has("metrics_enabled") {
        ctx.differs(
            &path(&["global"]),
            "the Go tool serves metrics by default on all interfaces, port 9090; here metrics \
             are off unless metrics_enabled: true"
                .to_owned(),
        );
    }
    match global.and_then(|g| g.get("max_restart_attempts")) {
        None | Some(Value::Null) => ctx.differs(
            &path(&["global"]),
            "the Go tool gives up on an instance after 3 restarts in its life; here restarts \
             go on without limit (a run of restart_stable_after resets the count); set \
             max_restart_attempts: 3 for the Go behaviour"
                .to_owned(),
        ),
        Some(v) if v.as_i64() == Some(0) => ctx.differs(
            &gp("max_restart_attempts"),
            "the Go tool replaced 0 by 3; here 0 means no restart at all".to_owned(),
        ),
        _ => {}
    }
    for (name, p) in doc
        .get("processes")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = super::schema::yaml_scalar_text(name);
        if p.get("enabled").is_none_or(Value::is_null) {
            ctx.differs(
                &path(&["processes", &name]),
                format!(
                    "process {name:?} has no enabled key: the Go tool skips it (enabled \
                     defaults to false there); phpeek-pm runs it"
                ),
            );
        }
    }
}
