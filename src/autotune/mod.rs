//! PHP-FPM pool sizing from the container's limits (feature `autotune`).
//!
//! At start-up, before any process or hook: pick the profile (`--php-fpm-profile`, else
//! `PHP_FPM_AUTOTUNE_PROFILE`) and the memory share (`--autotune-memory-threshold`, else
//! `PHP_FPM_AUTOTUNE_MEMORY_THRESHOLD`, else `global.autotune_memory_threshold`, else the
//! profile's), read the limits (`cgroup`), size the pool (`profile`), and hand every child
//! `PHP_FPM_PM`, `PHP_FPM_MAX_CHILDREN`, `PHP_FPM_START_SERVERS`, `PHP_FPM_MIN_SPARE`,
//! `PHP_FPM_MAX_SPARE`, `PHP_FPM_MAX_REQUESTS` for php-fpm's pool file to expand.
//!
//! A variable the user already set in the manager's environment wins over the computed
//! value, each one on its own; the other values are then derived around it (spares from a
//! user-set `max_children`), checked against php-fpm's ordering rules, and the log says which
//! value won and why. Too little memory for the profile stops start-up with exit code 1.

pub mod cgroup;
pub mod profile;

use std::fmt::Write as _;
use std::path::Path;

use crate::config::model::Level;
use crate::startup::step::{Failure, PoolReport, Prepared, Request};
use crate::supervisor::{Field, Note};
use profile::{MIB, Pm, Pool, Profile};

pub const PROFILE_ENV: &str = "PHP_FPM_AUTOTUNE_PROFILE";
pub const THRESHOLD_ENV: &str = "PHP_FPM_AUTOTUNE_MEMORY_THRESHOLD";

/// Exit code when the limits cannot hold the profile: a start-up failure (INTERFACE.md).
use crate::exit::STARTUP as EXIT_TOO_LITTLE_MEMORY;
/// Exit code for a bad profile name, threshold or user-set `PHP_FPM_*` value.
use crate::exit::USAGE as EXIT_USAGE;

/// Where `/proc` and `/sys/fs/cgroup` are read from (tests read fixture trees instead, through
/// `cgroup::read`).
const SYSTEM_ROOT: &str = "/";

/// The exported variables, in the order the README's pool file lists them.
pub const VARS: [&str; 6] = [
    "PHP_FPM_PM",
    "PHP_FPM_MAX_CHILDREN",
    "PHP_FPM_START_SERVERS",
    "PHP_FPM_MIN_SPARE",
    "PHP_FPM_MAX_SPARE",
    "PHP_FPM_MAX_REQUESTS",
];

/// The start-up step (see `startup`): size the pool and export it.
pub fn step(req: &Request<'_>, out: &mut Prepared) -> Result<(), Failure> {
    let Some(choice) = choose(req)? else {
        if let Some(t) = req.memory_threshold {
            out.notes.push(Note::global(
                Level::Warn,
                "autotune_off",
                format!(
                    "--autotune-memory-threshold {t} has no effect: no PHP-FPM profile was \
                     chosen (--php-fpm-profile or {PROFILE_ENV})"
                ),
                vec![],
            ));
        }
        return Ok(());
    };
    let limits = cgroup::read(Path::new(SYSTEM_ROOT));
    let host_cpus = rustix::thread::sched_getaffinity(None).map_or(1, |s| s.count().max(1));
    let r = plan(&choice, &limits, u64::from(host_cpus), req);
    out.text.push_str(&r.text);
    out.notes.extend(r.notes);
    match r.outcome {
        Ok((env, report)) => {
            out.env.extend(env);
            out.report.autotune = Some(report);
            Ok(())
        }
        Err(f) => Err(f),
    }
}

/// The chosen profile and memory share, with where each came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub profile: &'static Profile,
    pub profile_from: &'static str,
    /// Millionths of the memory limit, and where that came from; `None` = the profile's.
    pub share: Option<(u64, &'static str)>,
}

fn usage(msg: String) -> Failure {
    Failure {
        code: EXIT_USAGE,
        msg,
    }
}

fn env_get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// Which profile and share apply; `None` when auto-tuning is not asked for.
pub fn choose(req: &Request<'_>) -> Result<Option<Choice>, Failure> {
    let (name, from) = match (req.php_fpm_profile, env_get(req.env, PROFILE_ENV)) {
        (Some(p), _) => (p, "--php-fpm-profile"),
        (None, Some(p)) => (p, PROFILE_ENV),
        (None, None) => return Ok(None),
    };
    let Some(profile) = profile::by_name(name) else {
        return Err(usage(format!(
            "{from}: unknown PHP-FPM profile {name:?}: choose one of {}",
            profile::names()
        )));
    };
    let parsed = |text: &str, from: &'static str| {
        profile::parse_share(text)
            .map(|v| v.map(|v| (v, from)))
            .map_err(|e| usage(format!("{from}: {e}")))
    };
    let share = match (req.memory_threshold, env_get(req.env, THRESHOLD_ENV)) {
        (Some(t), _) => parsed(t, "--autotune-memory-threshold")?,
        (None, Some(t)) => parsed(t, THRESHOLD_ENV)?,
        (None, None) => req
            .config
            .global
            .autotune_memory_threshold
            .map(|v| (v, "global.autotune_memory_threshold")),
    };
    Ok(Some(Choice {
        profile,
        profile_from: from,
        share,
    }))
}

/// Everything `plan` decided: text for `--dry-run`, log events, and the exported variables
/// with the status report — or the failure.
pub struct Planned {
    pub text: String,
    pub notes: Vec<Note>,
    pub outcome: Result<(Vec<(String, String)>, PoolReport), Failure>,
}

fn mib(bytes: u64) -> u64 {
    bytes / MIB
}

/// The resources to size for: the most restrictive of the cgroup limits and the host.
struct Resources {
    memory: u64,
    memory_from: String,
    cpu_millis: u64,
    cpu_from: String,
    warnings: Vec<String>,
}

fn resources(l: &cgroup::Limits, host_cpus: u64) -> Result<Resources, String> {
    let mut warnings = Vec::new();
    let (memory, memory_from) = match (&l.memory.limit, l.host_memory) {
        (Some(c), Some(h)) if c.value > h => (
            h,
            format!(
                "host memory (MemTotal of /proc/meminfo), below the cgroup limit of {} MiB in {}",
                mib(c.value),
                c.source
            ),
        ),
        (Some(c), _) => (c.value, c.source.clone()),
        (None, Some(h)) => {
            warnings.push(format!(
                "no memory limit found ({}): sizing from the host's {} MiB; set a container \
                 memory limit (docker run --memory, Compose deploy.resources.limits.memory, \
                 Kubernetes resources.limits.memory) for a pool that fits",
                l.memory
                    .cgroup
                    .as_deref()
                    .map_or("no cgroup memory controller".to_owned(), |c| format!(
                        "{c} and its parents are unlimited"
                    )),
                mib(h)
            ));
            (h, "host memory (MemTotal of /proc/meminfo)".to_owned())
        }
        (None, None) => {
            return Err(
                "cannot tell how much memory there is: no cgroup memory limit and no \
                        readable /proc/meminfo"
                    .to_owned(),
            );
        }
    };
    let host_millis = host_cpus.max(1) * profile::PERMILLE;
    let (cpu_millis, cpu_from) = match &l.cpu.limit {
        Some(c) if c.value < host_millis => (c.value, c.source.clone()),
        Some(c) => (
            host_millis,
            format!(
                "CPUs this process may run on (sched_getaffinity), fewer than the quota in {}",
                c.source
            ),
        ),
        None => (
            host_millis,
            "CPUs this process may run on (sched_getaffinity); no CPU quota".to_owned(),
        ),
    };
    Ok(Resources {
        memory,
        memory_from,
        cpu_millis,
        cpu_from,
        warnings,
    })
}

/// Values of the six variables for a pool.
fn values(p: &Pool) -> [String; 6] {
    [
        p.pm.as_str().to_owned(),
        p.max_children.to_string(),
        p.start_servers.to_string(),
        p.min_spare.to_string(),
        p.max_spare.to_string(),
        p.max_requests.to_string(),
    ]
}

/// Sizes the pool and merges what the user set. Pure apart from its inputs.
pub fn plan(
    choice: &Choice,
    limits: &cgroup::Limits,
    host_cpus: u64,
    req: &Request<'_>,
) -> Planned {
    let p = choice.profile;
    let mut text = String::new();
    let mut notes = Vec::new();
    let _ = writeln!(
        text,
        "PHP-FPM auto-tuning: profile {} (from {})",
        p.name, choice.profile_from
    );
    let fail = |text: String, notes, code, msg| Planned {
        text,
        notes,
        outcome: Err(Failure { code, msg }),
    };
    let res = match resources(limits, host_cpus) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                text,
                notes,
                EXIT_TOO_LITTLE_MEMORY,
                format!("PHP-FPM auto-tuning: {e}"),
            );
        }
    };
    let _ = writeln!(
        text,
        "  memory limit: {} MiB — {}",
        mib(res.memory),
        res.memory_from
    );
    let _ = writeln!(
        text,
        "  CPU limit:    {} CPUs — {}",
        profile::cpu_text(res.cpu_millis),
        res.cpu_from
    );
    for (what, probe) in [("memory", &limits.memory), ("cpu", &limits.cpu)] {
        if let Some(c) = &probe.cgroup {
            let _ = writeln!(text, "  {what} cgroup: {c}");
        }
    }
    for w in &res.warnings {
        let _ = writeln!(text, "  warning: {w}");
        notes.push(Note::global(
            Level::Warn,
            "autotune_no_limit",
            w.clone(),
            vec![],
        ));
    }
    let share_from = choice.share.map_or("profile", |(_, f)| f);
    let input = profile::Input {
        memory_bytes: res.memory,
        cpu_millis: res.cpu_millis,
        share_ppm: choice.share.map(|(v, _)| v),
    };
    let sizing = match profile::size(p, input) {
        Ok(s) => s,
        Err(e) => {
            let profile::SizingError::TooLittleMemory { needed_mib, .. } = &e;
            let msg = format!(
                "PHP-FPM auto-tuning: {e}. The memory limit comes from {}. Raise the container's \
                 memory limit to at least {needed_mib} MiB (docker run --memory), or choose a \
                 lighter profile ({})",
                res.memory_from,
                lighter(p, input.share_ppm)
            );
            let _ = writeln!(text, "  error: {msg}");
            return fail(text, notes, EXIT_TOO_LITTLE_MEMORY, msg);
        }
    };
    describe_sizing(&mut text, &mut notes, p, &sizing, share_from);
    let computed = values(&sizing.pool);
    // The user's values win, one by one.
    let user: Vec<Option<&str>> = VARS.iter().map(|v| env_get(req.env, v)).collect();
    let merged = match merge(p, &sizing.pool, &user) {
        Ok(m) => m,
        Err(msg) => {
            let _ = writeln!(text, "  error: {msg}");
            return fail(text, notes, EXIT_USAGE, msg);
        }
    };
    let finals = values(&merged);
    // What php-fpm will see: the user's text where set, else ours.
    let in_effect: Vec<String> = (0..VARS.len())
        .map(|i| user[i].map_or_else(|| finals[i].clone(), str::to_owned))
        .collect();
    let (env, user_set, vars) = user_values(&mut text, &mut notes, &user, &computed, &finals);
    let planned = merged.max_children * p.worker_mib + p.reserved_mib + p.opcache_mib;
    if planned > sizing.memory_mib {
        let msg = format!(
            "the pool in effect plans {planned} MiB ({} workers × {} MiB + {} MiB OPcache + {} \
             MiB reserved), more than the {} MiB limit: expect the OOM killer under load",
            merged.max_children, p.worker_mib, p.opcache_mib, p.reserved_mib, sizing.memory_mib
        );
        let _ = writeln!(text, "  warning: {msg}");
        notes.push(Note::global(
            Level::Warn,
            "autotune_oversubscribed",
            msg,
            vec![],
        ));
    }
    process_overrides(&mut text, &mut notes, req);
    let summary = summarize(
        &mut text,
        p,
        &res,
        &in_effect,
        &env,
        planned,
        sizing.memory_mib,
    );
    notes.insert(0, summary);
    let report = PoolReport {
        profile: p.name,
        vars,
        user_set,
        memory_bytes: res.memory,
        memory_source: res.memory_from,
        cpu_millis: res.cpu_millis,
        cpu_source: res.cpu_from,
    };
    Planned {
        text,
        notes,
        outcome: Ok((env, report)),
    }
}

/// Splits the variables into the user's (which win, one by one: said in the log) and ours
/// (exported to every process): the environment to export, the variables the user set, and
/// every variable's value in effect.
#[allow(clippy::type_complexity)]
fn user_values(
    text: &mut String,
    notes: &mut Vec<Note>,
    user: &[Option<&str>],
    computed: &[String],
    finals: &[String],
) -> (
    Vec<(String, String)>,
    Vec<&'static str>,
    Vec<(&'static str, String)>,
) {
    let mut env = Vec::new();
    let mut user_set = Vec::new();
    let mut vars = Vec::new();
    for (i, var) in VARS.iter().enumerate() {
        match user[i] {
            Some(u) => {
                user_set.push(*var);
                let msg = format!(
                    "{var}={u} was set in the environment: it wins over the computed {}",
                    computed[i]
                );
                let _ = writeln!(text, "  override: {msg}");
                notes.push(Note::global(
                    Level::Info,
                    "autotune_user_value",
                    msg,
                    vec![
                        ("variable", Field::Str((*var).to_owned())),
                        ("value", Field::Str(u.to_owned())),
                        ("computed", Field::Str(computed[i].clone())),
                    ],
                ));
                vars.push((*var, u.to_owned()));
            }
            None => {
                if finals[i] != computed[i] {
                    let msg = format!(
                        "{var}={} derived from the user-set PHP_FPM_MAX_CHILDREN (computed alone: {})",
                        finals[i], computed[i]
                    );
                    let _ = writeln!(text, "  override: {msg}");
                    notes.push(Note::global(
                        Level::Info,
                        "autotune_user_value",
                        msg,
                        vec![],
                    ));
                }
                env.push(((*var).to_owned(), finals[i].clone()));
                vars.push((*var, finals[i].clone()));
            }
        }
    }
    (env, user_set, vars)
}

/// A process `env` that sets one of the variables wins for that process: say so.
fn process_overrides(text: &mut String, notes: &mut Vec<Note>, req: &Request<'_>) {
    for spec in &req.config.processes {
        for (k, v) in &spec.env {
            if VARS.contains(&k.as_str()) {
                let msg = format!(
                    "process {} sets {k}={v} in its env: that value wins for {} over the \
                     manager's",
                    spec.name, spec.name
                );
                let _ = writeln!(text, "  override: {msg}");
                notes.push(Note::global(
                    Level::Info,
                    "autotune_user_value",
                    msg,
                    vec![],
                ));
            }
        }
    }
}

/// The result in the `--dry-run` text, and the `autotune` record that opens the log notes.
fn summarize(
    text: &mut String,
    p: &Profile,
    res: &Resources,
    in_effect: &[String],
    env: &[(String, String)],
    planned: u64,
    memory_mib: u64,
) -> Note {
    let _ = writeln!(
        text,
        "  result: pm={} max_children={} start_servers={} min_spare={} max_spare={} max_requests={}",
        in_effect[0], in_effect[1], in_effect[2], in_effect[3], in_effect[4], in_effect[5]
    );
    let _ = writeln!(
        text,
        "  memory planned: {planned} MiB of {} MiB ({} %)",
        memory_mib,
        planned * 100 / memory_mib.max(1)
    );
    let exported: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(
        text,
        "  exported to every process: {}",
        if exported.is_empty() {
            "nothing (every variable was set by the user)".to_owned()
        } else {
            exported.join(" ")
        }
    );
    let mut fields = vec![
        ("profile", Field::Str(p.name.to_owned())),
        ("memory_bytes", Field::Int(res.memory as i64)),
        ("memory_source", Field::Str(res.memory_from.clone())),
        ("cpus", Field::Str(profile::cpu_text(res.cpu_millis))),
        ("cpu_source", Field::Str(res.cpu_from.clone())),
    ];
    let keys = [
        "pm",
        "max_children",
        "start_servers",
        "min_spare",
        "max_spare",
        "max_requests",
    ];
    for (k, v) in keys.iter().zip(in_effect) {
        fields.push((k, Field::Str(v.clone())));
    }
    Note::global(
        Level::Info,
        "autotune",
        format!(
            "PHP-FPM auto-tuned (profile {}): pm={} max_children={} start_servers={} \
                 min_spare={} max_spare={} max_requests={}; memory {} MiB ({}), {} CPUs",
            p.name,
            in_effect[0],
            in_effect[1],
            in_effect[2],
            in_effect[3],
            in_effect[4],
            in_effect[5],
            mib(res.memory),
            res.memory_from,
            profile::cpu_text(res.cpu_millis)
        ),
        fields,
    )
}

/// The budget arithmetic in the `--dry-run` text, and the adjustments it made as notes.
fn describe_sizing(
    text: &mut String,
    notes: &mut Vec<Note>,
    p: &Profile,
    sizing: &profile::Sizing,
    share_from: &str,
) {
    let _ = writeln!(
        text,
        "  budget: {} MiB × {} ({}) = {} MiB; − {} MiB reserved − {} MiB OPcache = {} MiB for \
         workers of {} MiB → {} workers; CPU cap {} ({} per CPU)",
        sizing.memory_mib,
        profile::share_text(sizing.share_ppm),
        share_from,
        sizing.usable_mib,
        p.reserved_mib,
        p.opcache_mib,
        sizing.worker_pool_mib,
        p.worker_mib,
        sizing.by_memory,
        sizing.cpu_cap,
        profile::WORKERS_PER_CPU
    );
    for w in &sizing.warnings {
        let _ = writeln!(text, "  note: {w}");
        notes.push(Note::global(
            Level::Warn,
            "autotune_adjusted",
            w.clone(),
            vec![],
        ));
    }
}

/// Profiles that need less memory than `p`, with their minimum, for the error message.
fn lighter(p: &Profile, share: Option<u64>) -> String {
    let mut v: Vec<(u64, &str)> = profile::PROFILES
        .iter()
        .filter(|q| q.name != p.name)
        .map(|q| {
            (
                profile::minimum_memory_mib(q, share.unwrap_or(q.share_ppm)),
                q.name,
            )
        })
        .filter(|(m, _)| *m < profile::minimum_memory_mib(p, share.unwrap_or(p.share_ppm)))
        .collect();
    v.sort_unstable();
    if v.is_empty() {
        return "none needs less".to_owned();
    }
    v.iter()
        .map(|(m, n)| format!("{n} needs {m} MiB"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pool in effect: user-set values where given, the rest computed — spares derived from a
/// user-set `max_children` — then checked against the rules php-fpm itself enforces, so a
/// mistake is reported here by variable name instead of by php-fpm at its start.
fn merge(p: &Profile, computed: &Pool, user: &[Option<&str>]) -> Result<Pool, String> {
    let num = |i: usize| -> Result<Option<u64>, String> {
        match user[i] {
            None => Ok(None),
            Some(s) => match s.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!(
                    "environment variable {}={s:?} must be a whole number above 0",
                    VARS[i]
                )),
            },
        }
    };
    let pm = match user[0].map(str::trim) {
        None => Some(computed.pm),
        Some("static") => Some(Pm::Static),
        Some("dynamic") => Some(Pm::Dynamic),
        // php-fpm's third style; the spares do not apply to it.
        Some("ondemand") => None,
        Some(other) => {
            return Err(format!(
                "environment variable PHP_FPM_PM={other:?} must be static, dynamic or ondemand"
            ));
        }
    };
    let user_mc = num(1)?;
    let mc = user_mc.unwrap_or(computed.max_children);
    // With the user's max_children the spares follow it; otherwise they are the computed ones.
    let derived = |permille: u64, computed_value: u64| match user_mc {
        Some(_) => (mc * permille).div_ceil(profile::PERMILLE),
        None => computed_value,
    };
    let (d_start, d_min, d_max) = match p.pm {
        Pm::Static => (mc, mc, mc),
        Pm::Dynamic => {
            let min = derived(p.min_spare_permille, computed.min_spare).max(1);
            let start = derived(p.start_permille, computed.start_servers).max(min);
            let max = derived(p.max_spare_permille, computed.max_spare)
                .max(start)
                .min(mc);
            (start.min(max), min.min(max), max)
        }
    };
    let pool = Pool {
        // `ondemand` has no `Pm` value; the variable keeps the user's text, and nothing here
        // depends on the style but the ordering check below (dynamic only).
        pm: pm.unwrap_or(Pm::Dynamic),
        max_children: mc,
        start_servers: num(2)?.unwrap_or(d_start),
        min_spare: num(3)?.unwrap_or(d_min),
        max_spare: num(4)?.unwrap_or(d_max),
        max_requests: num(5)?.unwrap_or(computed.max_requests),
    };
    if pm == Some(Pm::Dynamic) {
        let q = &pool;
        let ordered = q.min_spare <= q.start_servers
            && q.start_servers <= q.max_spare
            && q.max_spare <= q.max_children;
        if !ordered {
            let who: Vec<&str> = VARS
                .iter()
                .zip(user)
                .filter(|(_, u)| u.is_some())
                .map(|(v, _)| *v)
                .collect();
            return Err(format!(
                "the PHP-FPM values in effect break php-fpm's rule min_spare ≤ start_servers ≤ \
                 max_spare ≤ max_children (min_spare={} start_servers={} max_spare={} \
                 max_children={}); set by the user: {}",
                q.min_spare,
                q.start_servers,
                q.max_spare,
                q.max_children,
                who.join(", ")
            ));
        }
    }
    Ok(pool)
}

#[cfg(test)]
mod tests;
