//! Validating the lifecycle hooks of feature `hooks`: the global `hooks` block (phases spelled
//! `pre-start` as in the original tool, or `pre_start`), and per process `hooks`,
//! `pre_start_hook`, `post_start_hook`, `post_stop_hook`, `shutdown.pre_stop_hook` and
//! `shutdown.wait_for_exit`. Every error names its key and the line of the hook it is in.

use std::collections::BTreeMap;

use yaml_serde::Value;

use super::duration::Duration;
use super::fields::{Section, count};
use super::model::{HookPhase, HookSet, HookSpec, ProcessHooks, defaults};
use super::raw::{CommandLine, Scalar};
use super::schema::Kind::*;
use super::schema::{Key, f, k};
use super::{ConfigError, Ctx, env, users};
use crate::features::Feature;

/// The phases of a `hooks` block; the original tool spells them with hyphens, we accept both.
pub const PHASES: &[Key] = &[
    k("pre-start", SectionList(HOOK)),
    k("post-start", SectionList(HOOK)),
    k("pre-stop", SectionList(HOOK)),
    k("post-stop", SectionList(HOOK)),
    k("pre_start", SectionList(HOOK)),
    k("post_start", SectionList(HOOK)),
    k("pre_stop", SectionList(HOOK)),
    k("post_stop", SectionList(HOOK)),
];

/// One hook.
pub const HOOK: &[Key] = &[
    k("name", Str),
    k("command", Command),
    k("timeout", Time),
    k("retry", Int),
    k("retry_delay", Time),
    k("continue_on_error", Bool),
    k("env", StrMap),
    k("working_dir", Str),
    k("user", Str),
    k("group", Str),
];

/// A process's `shutdown:` section. Its table sits here, beside the hook table, because the
/// pre-stop hook is read from it (here, and refused for scheduled tasks in `task.rs`).
pub const SHUTDOWN: &[Key] = &[
    k("signal", Str),
    k("timeout", Time),
    k("kill_signal", Str),
    k("graceful", Bool),
    f("pre_stop_hook", Section(HOOK), Feature::Hooks),
    k("wait_for_exit", Bool),
    k(
        "post_stop_hook",
        Moved("post_stop_hook on the process itself (processes.<name>.post_stop_hook)"),
    ),
];
use crate::sys::spawn::Credentials;

/// Most extra attempts a hook may ask for.
const MAX_RETRY: i64 = 100;

/// The spellings of each phase in a `hooks` block.
const PHASE_KEYS: [(HookPhase, [&str; 2]); 4] = [
    (HookPhase::PreStart, ["pre-start", "pre_start"]),
    (HookPhase::PostStart, ["post-start", "post_start"]),
    (HookPhase::PreStop, ["pre-stop", "pre_stop"]),
    (HookPhase::PostStop, ["post-stop", "post_stop"]),
];

/// The top-level `hooks` block.
pub(super) fn global(
    ctx: &Ctx<'_>,
    ov: &[env::Applied],
    v: Option<&Value>,
) -> Result<HookSet, ConfigError> {
    block(ctx, ov, vec!["hooks".to_owned()], v, None)
}

/// A process's hooks; `creds` are the process's own (its hooks run as its user by default).
pub(super) fn process(
    ctx: &Ctx<'_>,
    name: &str,
    p: &Section<'_>,
    creds: Option<&Credentials>,
) -> Result<ProcessHooks, ConfigError> {
    let ov = p.ov;
    let base = |k: &[&str]| {
        let mut v = vec!["processes".to_owned(), name.to_owned()];
        v.extend(k.iter().map(|s| (*s).to_owned()));
        v
    };
    let mut set = block(ctx, ov, base(&["hooks"]), p.value("hooks"), creds)?;
    let shutdown = p.child("shutdown")?;
    let single = [
        (
            HookPhase::PreStart,
            p.value("pre_start_hook"),
            base(&["pre_start_hook"]),
        ),
        (
            HookPhase::PostStart,
            p.value("post_start_hook"),
            base(&["post_start_hook"]),
        ),
        (
            HookPhase::PreStop,
            shutdown.as_ref().and_then(|s| s.value("pre_stop_hook")),
            base(&["shutdown", "pre_stop_hook"]),
        ),
        (
            HookPhase::PostStop,
            p.value("post_stop_hook"),
            base(&["post_stop_hook"]),
        ),
    ];
    for (phase, v, path) in single {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            continue;
        };
        let default_name = format!("{name}-{}", phase.as_str().replace('_', "-"));
        let s = Section::new(ctx, ov, path, None, v)?.with_keys(HOOK);
        let h = hook(&s, default_name, creds)?;
        // The single-hook key runs after any listed in the process's `hooks` block.
        set.get_mut(phase).push(h);
    }
    let wait_for_exit = match &shutdown {
        Some(s) => s.get::<bool>("wait_for_exit")?,
        None => None,
    };
    Ok(ProcessHooks {
        set,
        wait_for_exit: wait_for_exit.unwrap_or(true),
    })
}

fn block(
    ctx: &Ctx<'_>,
    ov: &[env::Applied],
    path: Vec<String>,
    v: Option<&Value>,
    creds: Option<&Credentials>,
) -> Result<HookSet, ConfigError> {
    let mut set = HookSet::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(set);
    };
    let s = Section::new(ctx, ov, path.clone(), None, v)?.with_keys(PHASES);
    for (phase, keys) in PHASE_KEYS {
        for key in keys {
            let Some(list) = s.get::<Vec<Value>>(key)? else {
                continue;
            };
            let mut lp = path.clone();
            lp.push(key.to_owned());
            for (i, item) in list.iter().enumerate() {
                let hs = Section::new(ctx, ov, lp.clone(), Some(i), item)?.with_keys(HOOK);
                let default_name = format!("{}-{}", key, i + 1);
                let h = hook(&hs, default_name, creds)?;
                set.get_mut(phase).push(h);
            }
        }
    }
    Ok(set)
}

fn hook(
    s: &Section<'_>,
    default_name: String,
    creds: Option<&Credentials>,
) -> Result<HookSpec, ConfigError> {
    let d = s.dotted();
    let Some(command) = s.get::<CommandLine>("command")? else {
        return Err(s.err(None, format!("{d}: a hook needs a command")));
    };
    let name = s.get::<Scalar>("name")?.map_or(default_name, |n| n.0);
    if name.is_empty() {
        return Err(s.err(Some("name"), format!("{d}.name must not be empty")));
    }
    let retry = match s.get::<i64>("retry")? {
        Some(n) if n < 0 => {
            return Err(s.err(
                Some("retry"),
                format!("{d}.retry is the number of extra attempts: 0 or more, not {n}"),
            ));
        }
        _ => count(s, "retry", 0, MAX_RETRY)?.unwrap_or(0),
    };
    let timeout = match s.get::<Duration>("timeout")?.map(|d| d.ms()) {
        None | Some(0) => defaults::HOOK_TIMEOUT_MS,
        Some(t) => t,
    };
    let user: Option<Scalar> = s.get("user")?;
    let group: Option<Scalar> = s.get("group")?;
    let credentials = if user.is_some() || group.is_some() {
        let (pw, gr) = (s.ctx.inputs.passwd)();
        let which = if user.is_some() { "user" } else { "group" };
        Some(
            users::resolve(
                user.as_ref().map(|u| u.0.as_str()),
                group.as_ref().map(|g| g.0.as_str()),
                &pw,
                &gr,
            )
            .map_err(|e| s.err(Some(which), e))?,
        )
    } else {
        creds.cloned()
    };
    Ok(HookSpec {
        name,
        command: command.0,
        timeout,
        retry,
        retry_delay: s.get::<Duration>("retry_delay")?.map_or(0, |d| d.ms()),
        continue_on_error: s.get("continue_on_error")?.unwrap_or(false),
        env: s
            .get::<BTreeMap<String, Scalar>>("env")?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
        working_dir: s.get("working_dir")?,
        credentials,
    })
}

// The keys are refused in builds without the feature, so the tests need it.
#[cfg(all(test, feature = "hooks"))]
mod tests {
    use super::*;
    use crate::config::{Config, Inputs, Origin, load};

    fn load_with(text: &str) -> Result<Config, ConfigError> {
        load(&Inputs {
            file: Some(("t.yaml", text)),
            env: &[],
            passwd: &|| {
                (
                    "www-data:x:33:33::/var/www:/bin/sh\n".into(),
                    "www-data:x:33:\n".into(),
                )
            },
        })
    }

    fn line(e: &ConfigError) -> Option<usize> {
        match e.origin {
            Origin::File { line, .. } => line,
            _ => None,
        }
    }

    #[test]
    fn readme_hooks_load() {
        let c = load_with(
            "hooks:\n  pre-start:\n    - name: migrate\n      command: [\"php\", \"artisan\", \"migrate\", \"--force\"]\n      timeout: 300\n  post_stop:\n    - command: [echo, bye]\nprocesses:\n  horizon:\n    command: [php, artisan, horizon]\n    user: www-data\n    shutdown:\n      pre_stop_hook:\n        command: [\"php\", \"artisan\", \"horizon:terminate\"]\n        timeout: 60\n      wait_for_exit: false\n",
        )
        .unwrap();
        assert_eq!(c.hooks.pre_start[0].name, "migrate");
        assert_eq!(c.hooks.pre_start[0].timeout, 300_000);
        assert_eq!(c.hooks.post_stop[0].name, "post_stop-1");
        assert_eq!(c.hooks.post_stop[0].timeout, defaults::HOOK_TIMEOUT_MS);
        let h = &c.processes[0].hooks;
        assert!(!h.wait_for_exit);
        assert_eq!(h.set.pre_stop[0].name, "horizon-pre-stop");
        assert_eq!(h.set.pre_stop[0].timeout, 60_000);
        // Per-process hooks run as the process's user unless they say otherwise.
        assert_eq!(
            h.set.pre_stop[0].credentials.as_ref().map(|c| c.uid),
            Some(33)
        );
    }

    #[test]
    fn bad_hooks_point_at_their_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "hooks:\n  pre-start:\n    - name: a\n      command: [x]\n    - name: b\n      command: []\n",
                6,
                "must not be empty",
            ),
            (
                "hooks:\n  pre-start:\n    - name: a\n      command: [x]\n    - name: b\n      command: [y]\n      retry: -1\n",
                7,
                "0 or more",
            ),
            (
                "hooks:\n  pre-start:\n    - name: a\n      command: [x]\n      retries: 2\n",
                5,
                "unknown key",
            ),
            (
                "hooks:\n  pre-start:\n    - name: a\n",
                3,
                "needs a command",
            ),
            ("hooks:\n  pre_begin: []\n", 2, "unknown key"),
            ("hooks:\n  pre-start: {name: a}\n", 2, "must be a list"),
        ];
        for (head, want_line, want) in cases {
            let e = load_with(&format!("{head}processes:\n  a: {{command: [x]}}\n")).unwrap_err();
            assert_eq!(line(&e), Some(*want_line), "{head}: {e}");
            assert!(e.msg.contains(want), "{head}: {e}");
        }
        let e = load_with(
            "processes:\n  a:\n    command: [x]\n    shutdown:\n      pre_stop_hook:\n        command: [y]\n        timout: 5\n",
        )
        .unwrap_err();
        assert_eq!(line(&e), Some(7), "{e}");
    }
}
