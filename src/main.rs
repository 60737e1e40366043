//! phpeek-pm: PID 1 and process manager for PHP containers.
//!
//! `main` reads as a table of contents: block signals → parse the command line → load the
//! configuration → become a subreaper (unless PID 1) → run the event loop → exit with its code.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "api")]
mod api;
#[cfg(feature = "autotune")]
mod autotune;
mod cli;
mod config;
mod dag;
#[cfg(feature = "detect")]
mod detect;
mod exit;
mod features;
#[cfg(any(feature = "api", feature = "metrics"))]
mod fpm;
#[cfg(feature = "health")]
mod health;
#[cfg(feature = "heartbeat")]
mod heartbeat;
#[cfg(feature = "hooks")]
mod hooks;
#[cfg(any(feature = "api", feature = "metrics"))]
mod http;
#[cfg(feature = "log-processing")]
mod logproc;
#[cfg(feature = "metrics")]
mod metrics;
mod output;
mod probe;
mod reactor;
#[cfg(any(feature = "api", feature = "metrics"))]
mod resources;
mod scaffold;
#[cfg(feature = "scheduler")]
mod scheduler;
mod signal_policy;
mod single;
mod startup;
mod status;
mod supervisor;
mod sys;

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::process::ExitCode;

#[cfg(feature = "api")]
use api::client;
use config::model::Level;

const DEFAULT_PATHS: [&str; 2] = ["phpeek-pm.yaml", "/etc/phpeek-pm/phpeek-pm.yaml"];

fn main() -> ExitCode {
    ExitCode::from(run())
}

fn run() -> u8 {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // `phpeek-pm [tini options] -- CMD ...`: the tini-compatible single-command mode.
    if single::requested(&args) {
        return single::main(&args);
    }
    let cmd = match cli::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("phpeek-pm: {e}\n\n{}", cli::USAGE);
            return exit::USAGE;
        }
    };
    match cmd {
        cli::Command::Help => {
            say(cli::USAGE);
            exit::OK
        }
        cli::Command::Version => {
            say(&version_text());
            exit::OK
        }
        cli::Command::CheckConfig { config } => check_config(config),
        cli::Command::Scaffold { preset, output } => scaffold::run(&preset, output.as_deref()),
        #[cfg(feature = "api")]
        cli::Command::Client(c) => {
            // The configuration only tells where the API is and its token: without --api,
            // read it if there is one (its absence or problems are not the client's concern).
            let config = if c.api.is_none() {
                load_config(c.config.clone()).ok()
            } else {
                None
            };
            client::run(&c, config.as_ref())
        }
        // Without the API there is nothing to talk to: the client subcommands say so.
        #[cfg(not(feature = "api"))]
        cli::Command::Client(_) => {
            let what = "the client commands (status, start, stop, ...)";
            eprintln!("phpeek-pm: {}", features::Feature::Api.unavailable(what));
            exit::USAGE
        }
        cli::Command::Health(h) => {
            let config = load_config(h.config.clone());
            probe::run(&h, config.as_ref().map_err(String::as_str))
        }
        cli::Command::Serve {
            config,
            dry_run,
            php_fpm_profile,
            memory_threshold,
            watch,
        } => {
            for (given, flag) in [
                (php_fpm_profile.is_some(), "--php-fpm-profile"),
                (memory_threshold.is_some(), "--autotune-memory-threshold"),
            ] {
                if given && !features::Feature::Autotune.available() {
                    eprintln!(
                        "phpeek-pm: {}",
                        features::Feature::Autotune.unavailable(flag)
                    );
                    return exit::USAGE;
                }
            }
            let (mut c, warnings) = match load_checked(config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("phpeek-pm: {e}");
                    return exit::USAGE;
                }
            };
            // Start-up work of optional features (framework set-up, PHP-FPM auto-tuning):
            // before any process or hook exists, and described by --dry-run.
            let env = env_strings();
            let request = startup::step::Request {
                config: &c,
                php_fpm_profile: php_fpm_profile.as_deref(),
                memory_threshold: memory_threshold.as_deref(),
                env: &env,
                dry_run,
            };
            let prepared = match startup::prepare(&request) {
                Ok(p) => p,
                Err(stopped) => {
                    if dry_run {
                        say(&supervisor::describe_plan(&c));
                        say(&stopped.partial.text);
                    }
                    eprintln!("phpeek-pm: {}", stopped.failure.msg);
                    return stopped.failure.code;
                }
            };
            if dry_run {
                say(&supervisor::describe_plan(&c));
                say(&prepared.text);
                return exit::OK;
            }
            c.child_env = prepared.env;
            c.watch = watch;
            let mut notes = warnings
                .iter()
                .map(|w| supervisor::Note {
                    level: Level::Warn,
                    inst: None,
                    event: "config_warning",
                    msg: w.to_string(),
                    fields: Vec::new(),
                })
                .collect::<Vec<_>>();
            notes.extend(prepared.notes);
            // PID 1 rule: every asynchronous signal is blocked before anything is started, and
            // read from a signalfd in the loop. Children get an empty mask back before exec.
            // (Nothing before this point runs children or threads, and a signal meanwhile
            // simply acts by default, as for any command-line tool.)
            match sys::signals::block_all() {
                Ok(blocked) => serve(c, blocked, &notes),
                Err(e) => {
                    eprintln!("phpeek-pm: cannot block signals: {e}");
                    exit::STARTUP
                }
            }
        }
    }
}

/// The manager's environment as text (a variable that is not UTF-8 is nobody's setting).
fn env_strings() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Prints command output; a closed stdout (`| head`) is not an error worth a panic.
fn say(s: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(s.as_bytes());
}

fn version_text() -> String {
    let compiled: Vec<&str> = features::ALL
        .iter()
        .filter(|f| f.compiled())
        .map(|f| f.name())
        .collect();
    format!(
        "phpeek-pm {}\ncommit: {}\ntarget: {}\nfeatures: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("PHPEEK_PM_COMMIT"),
        env!("PHPEEK_PM_TARGET"),
        if compiled.is_empty() {
            "none (minimal build)".to_owned()
        } else {
            compiled.join(", ")
        }
    )
}

/// `check-config`: every error (sorted by line, exit 2), the warnings, and where the Go tool
/// would run the file differently; with no error, the start plan.
fn check_config(flag: Option<OsString>) -> u8 {
    let checked = match check_file(flag) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("phpeek-pm: {e}");
            return exit::USAGE;
        }
    };
    for w in &checked.warnings {
        eprintln!("phpeek-pm: warning: {w}");
    }
    let Some(c) = checked.config else {
        for e in &checked.errors {
            eprintln!("phpeek-pm: {e}");
        }
        return exit::USAGE;
    };
    let tasks = c.processes.iter().filter(|p| !p.kind.supervised()).count();
    say(&format!(
        "configuration OK: {} process(es), {} instance(s){}\n{}{}",
        c.processes.len(),
        c.processes
            .iter()
            .filter(|p| p.kind.supervised())
            .map(|p| p.scale as u64)
            .sum::<u64>(),
        if tasks > 0 {
            format!(", {tasks} scheduled task(s)")
        } else {
            String::new()
        },
        supervisor::describe_plan(&c),
        config::describe::listeners(&c),
    ));
    if !checked.differences.is_empty() {
        let mut text =
            String::from("differences from the Go phpeek-pm (see docs/migrating-from-go.md):\n");
        for d in &checked.differences {
            text.push_str(&format!("  note: {d}\n"));
        }
        say(&text);
    }
    exit::OK
}

/// The configuration and its warnings, or every error as one text (a line each).
fn load_checked(
    flag: Option<OsString>,
) -> Result<(config::model::Config, Vec<config::ConfigError>), String> {
    let checked = check_file(flag)?;
    match checked.config {
        Some(c) => Ok((c, checked.warnings)),
        None => Err(checked
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\nphpeek-pm: ")),
    }
}

/// The configuration alone (for the client commands, which only need the API's address).
fn load_config(flag: Option<OsString>) -> Result<config::model::Config, String> {
    load_checked(flag).map(|(c, _)| c)
}

/// Errors of finding and reading the configuration, before its content is checked.
fn check_file(flag: Option<OsString>) -> Result<config::Checked, String> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let from_env = std::env::var_os("PHPEEK_PM_CONFIG").filter(|v| !v.is_empty());
    let path: Option<String> = match flag.or(from_env) {
        Some(p) => Some(
            p.into_string()
                .map_err(|_| "config path is not UTF-8".to_owned())?,
        ),
        None => DEFAULT_PATHS
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(|p| (*p).to_owned()),
    };
    let text = match &path {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read configuration {p}: {e}"))?,
        ),
        None => {
            if !env
                .iter()
                .any(|(k, _)| k.starts_with(config::env::PROCESS_PREFIX))
            {
                return Err(format!(
                    "no configuration found: pass -c FILE, set PHPEEK_PM_CONFIG, create {} or {}, \
                     or define processes with PHPEEK_PM_PROCESS_<NAME>_COMMAND",
                    DEFAULT_PATHS[0], DEFAULT_PATHS[1]
                ));
            }
            None
        }
    };
    let passwd = || {
        (
            std::fs::read_to_string(config::users::PASSWD).unwrap_or_default(),
            std::fs::read_to_string(config::users::GROUP).unwrap_or_default(),
        )
    };
    let file = path.as_deref().zip(text.as_deref());
    Ok(config::check(&config::Inputs {
        file,
        env: &env,
        passwd: &passwd,
    }))
}

fn serve(
    c: config::model::Config,
    blocked: sys::signals::BlockedSet,
    startup_notes: &[supervisor::Note],
) -> u8 {
    let pid1 = sys::pid() == 1;
    sys::cloexec_inherited_fds();
    let subreaper = if pid1 {
        Ok(())
    } else {
        sys::become_subreaper()
    };
    let sigfd = match sys::signals::signalfd(&blocked) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("phpeek-pm: cannot create signalfd: {e}");
            return exit::STARTUP;
        }
    };
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    // Our stdout is non-blocking while we run (only if it is a pipe or socket, which we can
    // poll), so a slow log reader never freezes the loop; the old flags come back at exit.
    let restore = (sys::fd_kind(fd) == sys::FdKind::Stream)
        .then(|| sys::status_flags(fd).ok())
        .flatten();
    if restore.is_some() {
        let _ = sys::set_nonblocking(fd);
    }
    let mut out = output::Output::new(fd, c.global.log_format, c.global.log_level);
    out.event(
        Level::Info,
        None,
        "starting",
        &format!("phpeek-pm {} starting", env!("CARGO_PKG_VERSION")),
        &[
            ("pid", supervisor::Field::Int(sys::pid().into())),
            (
                "processes",
                supervisor::Field::Int(c.processes.len() as i64),
            ),
            (
                "config",
                supervisor::Field::Str(c.path.clone().unwrap_or_else(|| "(environment)".into())),
            ),
        ],
    );
    for n in startup_notes {
        out.event(n.level, None, n.event, &n.msg, &n.fields);
    }
    if let Err(e) = subreaper {
        out.event(
            Level::Warn,
            None,
            "no_subreaper",
            &format!("cannot become child subreaper: {e}; orphans go to the real init"),
            &[],
        );
    }
    if std::env::var_os("PHP_FPM_AUTOTUNE_PROFILE").is_some()
        && !features::Feature::Autotune.available()
    {
        out.event(
            Level::Warn,
            None,
            "autotune_unavailable",
            "PHP_FPM_AUTOTUNE_PROFILE is set but this build has no \"autotune\" feature: ignored",
            &[],
        );
    }
    let code = match reactor::Reactor::new(std::rc::Rc::new(c), sigfd, out, pid1) {
        Ok(r) => r.run(),
        Err(e) => {
            eprintln!("phpeek-pm: cannot set up the event loop: {e}");
            exit::STARTUP
        }
    };
    if let Some(flags) = restore {
        let _ = sys::set_status_flags(fd, flags);
    }
    // The process ends here. Returning would free the configuration and the rest one by one
    // and tear down std's runtime (four system calls) — work the kernel does at exit anyway,
    // on the last stretch of every shutdown, which nothing runs beside. Our output is flushed.
    sys::exit_now(code)
}
