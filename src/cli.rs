//! Command line: `phpeek-pm [serve] [-c FILE] [--php-fpm-profile P]
//! [--autotune-memory-threshold T] [--dry-run]`, `check-config [-c FILE]`, `version`, `--help`,
//! and the client subcommands that talk to a running manager (`status`, `start`, `stop`,
//! `restart`, `scale`, `logs`, `top`; feature `api`), and `health`, the probe for Docker and Kubernetes
//! (`src/probe.rs`).

use std::ffi::OsString;

pub const USAGE: &str = "\
phpeek-pm — PID 1 and process manager for PHP containers

Usage:
  phpeek-pm [serve] [-c|--config FILE] [--php-fpm-profile PROFILE]
            [--autotune-memory-threshold SHARE] [--dry-run] [--watch]
  phpeek-pm check-config [-c|--config FILE]
  phpeek-pm scaffold laravel|symfony|generic|production|minimal [-o|--output FILE]
  phpeek-pm version | --version | -V
  phpeek-pm --help | -h
  phpeek-pm [-s] [-g] [-e CODE] [-p SIGNAL] [-v] -- CMD [ARGS...]
            run CMD as the only child, like tini (phpeek-pm -h -- x: its options)
  phpeek-pm status | start NAME | stop NAME | restart NAME | scale NAME N | logs NAME [-n N]
            | reload [NAME] | reload-config
            | top [--once]
            [--api URL|PATH] [-c FILE]
  phpeek-pm health [NAME] [--live] [--api URL|PATH] [-c FILE]

Commands:
  serve          run every configured process (the default)
  check-config   validate the configuration, print every problem with file:line, exit 0 or 2
  scaffold       write a commented configuration for a stack (to stdout, or --output FILE)
  version        print version, commit, target and built-in features

Client commands (feature \"api\"; talk to a running phpeek-pm):
  status         every process and instance, like supervisorctl status
  start NAME     start a stopped process and wait until it is ready
  stop NAME      stop a process gracefully and wait until it is down
  restart NAME   restart a process and wait until it is ready again
  scale NAME N   run N instances of a process
  logs NAME      its recent output (-n/--lines N, default 100)
  reload [NAME]  reload a process the way its program understands (nginx: SIGHUP, php-fpm:
                 SIGUSR2, reload_signal), or the whole stack: what SIGHUP to the manager does
  reload-config  re-read the configuration file and apply only the difference (added
                 processes start, removed ones stop, changed ones restart); an invalid file
                 changes nothing and every error is printed
  top            live view: CPU %, memory, restarts, uptime, PHP-FPM pool per instance,
                 every second; q or Ctrl-C quits (--once: one frame, for scripts)
      --api URL|PATH       http://HOST:PORT or a Unix socket path (default: $PHPEEK_PM_API,
                           else api_socket or api_host:api_port of the configuration,
                           else http://127.0.0.1:8080); the token comes from
                           $PHPEEK_PM_API_TOKEN, else api_auth of the configuration

Probe (for HEALTHCHECK CMD [\"/phpeek-pm\",\"health\"] and Kubernetes exec probes):
  health [NAME]  exit 0 when every longrun (or every instance of NAME) is ready, 1 when not,
                 3 when the manager cannot be reached; asks the API (as above) or, with no
                 API configured, checks the readiness file of the configuration; < 1 s
      --live     liveness only: exit 0 when the manager answers at all, 3 when not

Options:
  -c, --config FILE        configuration file (default: $PHPEEK_PM_CONFIG, ./phpeek-pm.yaml,
                           /etc/phpeek-pm/phpeek-pm.yaml)
      --dry-run            print the resolved start plan (and the auto-tuning and framework
                           detection results) and exit
      --watch              re-read the configuration file whenever it changes (inotify), as
                           reload-config does
      --php-fpm-profile P  PHP-FPM auto-tuning profile: dev, light, medium, heavy, bursty
                           (default: $PHP_FPM_AUTOTUNE_PROFILE; needs feature \"autotune\")
      --autotune-memory-threshold SHARE
                           share of the memory limit PHP-FPM may plan with, 0 to 1.0
                           (default: $PHP_FPM_AUTOTUNE_MEMORY_THRESHOLD,
                           global.autotune_memory_threshold, the profile's)

Exit codes: 0 clean shutdown, 1 start-up failure or a critical process failed,
2 usage or configuration error.
Client exit codes: 0 done, 1 the manager refused or the action failed, 2 usage error,
3 the manager cannot be reached, 4 wrong or missing token, 5 unknown process.
Probe exit codes: 0 ready, 1 not ready, 2 usage error, 3 the manager cannot be reached,
5 unknown process.
";

/// What a client subcommand asks a running manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction {
    Status,
    Start(String),
    Stop(String),
    Restart(String),
    Scale(String, u32),
    Logs(String, usize),
    /// Reload one process, or the whole stack (what SIGHUP to the manager does).
    Reload(Option<String>),
    /// Re-read the configuration file and apply the difference.
    ReloadConfig,
    /// `top [--once]`: a live view (`src/api/top.rs`).
    Top {
        once: bool,
    },
}

/// A client subcommand and where to find the manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub action: ClientAction,
    /// `--api`: a URL or a Unix socket path.
    pub api: Option<String>,
    /// `-c`: the configuration to read the API's address and token from.
    pub config: Option<OsString>,
}

/// `health [NAME] [--live]`: the probe subcommand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Only this process's instances; `None` = every longrun.
    pub name: Option<String>,
    /// Liveness: does the manager answer at all.
    pub live: bool,
    /// `--api`: a URL or a Unix socket path.
    pub api: Option<String>,
    /// `-c`: the configuration that says where the API or the readiness file is.
    pub config: Option<OsString>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve {
        config: Option<OsString>,
        dry_run: bool,
        php_fpm_profile: Option<String>,
        memory_threshold: Option<String>,
        /// `--watch`: reload the configuration when its file changes.
        watch: bool,
    },
    CheckConfig {
        config: Option<OsString>,
    },
    Scaffold {
        preset: String,
        output: Option<OsString>,
    },
    Client(Client),
    Health(Health),
    Version,
    Help,
}

/// Whether `word` is one of our subcommands (anything else before a `--` is not YAML mode).
pub fn is_subcommand(word: &str) -> bool {
    matches!(
        word,
        "serve" | "check-config" | "scaffold" | "version" | "help"
    ) || is_client(Some(word))
}

fn is_client(sub: Option<&str>) -> bool {
    matches!(
        sub,
        Some(
            "status"
                | "start"
                | "stop"
                | "restart"
                | "scale"
                | "logs"
                | "health"
                | "reload"
                | "reload-config"
                | "top"
        )
    )
}

/// Parses the arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut sub: Option<String> = None;
    let mut config = None;
    let mut dry_run = false;
    let mut profile = None;
    let mut api: Option<String> = None;
    let mut lines: Option<usize> = None;
    let mut operands: Vec<String> = Vec::new();
    let mut threshold = None;
    let mut live = false;
    let mut once = false;
    let mut output: Option<OsString> = None;
    let mut watch = false;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('o') | Long("output") if sub.as_deref() == Some("scaffold") => {
                output = Some(p.value().map_err(|e| e.to_string())?);
            }
            Short('c') | Long("config") => {
                config = Some(p.value().map_err(|e| e.to_string())?);
            }
            Long("dry-run") => dry_run = true,
            Long("watch") => watch = true,
            Long("live") => live = true,
            Long("once") => once = true,
            Long("php-fpm-profile") => {
                let v = p.value().map_err(|e| e.to_string())?;
                profile = Some(
                    v.into_string()
                        .map_err(|_| "profile must be UTF-8".to_owned())?,
                );
            }
            Long("api") => {
                let v = p.value().map_err(|e| e.to_string())?;
                api = Some(
                    v.into_string()
                        .map_err(|_| "--api must be UTF-8".to_owned())?,
                );
            }
            Short('n') | Long("lines") => {
                let v = p.value().map_err(|e| e.to_string())?;
                let n = v
                    .to_str()
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|n| *n > 0);
                lines = Some(n.ok_or("--lines takes a positive number")?);
            }
            Long("autotune-memory-threshold") => {
                let v = p.value().map_err(|e| e.to_string())?;
                threshold = Some(
                    v.into_string()
                        .map_err(|_| "memory threshold must be UTF-8".to_owned())?,
                );
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Value(v) if sub.is_none() => {
                let v = v.into_string().map_err(|_| "invalid command".to_owned())?;
                match v.as_str() {
                    w if is_subcommand(w) => sub = Some(v),
                    other => {
                        return Err(format!(
                            "unknown command {other:?} (commands: serve, check-config, scaffold, \
                             version, status, start, stop, restart, scale, logs, health, top; to run a program as the \
                             only child, like tini: phpeek-pm -- {other} ...)"
                        ));
                    }
                }
            }
            Value(v) if is_client(sub.as_deref()) || sub.as_deref() == Some("scaffold") => {
                operands.push(
                    v.into_string()
                        .map_err(|_| "arguments must be UTF-8".to_owned())?,
                );
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if once && sub.as_deref() != Some("top") {
        return Err("--once is an option of top".to_owned());
    }
    if live && sub.as_deref() != Some("health") {
        return Err("--live is an option of health".to_owned());
    }
    if sub.as_deref() == Some("health") {
        let others = dry_run || profile.is_some() || threshold.is_some() || lines.is_some();
        return health_command(&operands, live, others, api, config);
    }
    if is_client(sub.as_deref()) {
        if dry_run || profile.is_some() || threshold.is_some() {
            return Err("client commands take only --api, -c and (logs) -n".to_owned());
        }
        let sub = sub.as_deref().unwrap_or_default();
        return client_command(sub, &operands, lines, once, api, config);
    }
    if api.is_some() || lines.is_some() {
        return Err(
            "--api and --lines belong to the client commands (status, logs, ...)".to_owned(),
        );
    }
    if watch && !matches!(sub.as_deref(), None | Some("serve")) {
        return Err("--watch is an option of serve".to_owned());
    }
    Ok(match sub.as_deref() {
        None | Some("serve") => Command::Serve {
            config,
            dry_run,
            php_fpm_profile: profile,
            memory_threshold: threshold,
            watch,
        },
        Some(sub @ ("check-config" | "scaffold")) => {
            let serve_opts = dry_run || profile.is_some() || threshold.is_some();
            tool_command(sub, config, serve_opts, &operands, output)?
        }
        Some("version") => Command::Version,
        _ => Command::Help,
    })
}

// The three parts of `parse` below are called once each and inlined: as functions of their
// own they cost about 300 bytes of the minimal binary (opt-level z keeps them apart).

/// `health [NAME] [--live]`; `others`: an option of another subcommand was given.
#[inline(always)]
fn health_command(
    operands: &[String],
    live: bool,
    others: bool,
    api: Option<String>,
    config: Option<OsString>,
) -> Result<Command, String> {
    if others {
        return Err("health takes only NAME, --live, --api and -c".to_owned());
    }
    let name = match operands {
        [] => None,
        [n] if !live => Some(n.clone()),
        _ => return Err("usage: phpeek-pm health [NAME] | health --live".to_owned()),
    };
    Ok(Command::Health(Health {
        name,
        live,
        api,
        config,
    }))
}

/// A client subcommand `sub` (status, start, ..., logs, top) and its operands.
#[inline(always)]
fn client_command(
    sub: &str,
    operands: &[String],
    lines: Option<usize>,
    once: bool,
    api: Option<String>,
    config: Option<OsString>,
) -> Result<Command, String> {
    let name = |what: &str| -> Result<String, String> {
        match operands {
            [n] => Ok(n.clone()),
            _ => Err(format!("usage: phpeek-pm {what} NAME")),
        }
    };
    if lines.is_some() && sub != "logs" {
        return Err("-n/--lines is an option of logs".to_owned());
    }
    let action = match sub {
        "status" if operands.is_empty() => ClientAction::Status,
        "reload-config" if operands.is_empty() => ClientAction::ReloadConfig,
        "reload-config" => return Err("usage: phpeek-pm reload-config".to_owned()),
        "status" => return Err("usage: phpeek-pm status".to_owned()),
        "top" if operands.is_empty() => ClientAction::Top { once },
        "top" => return Err("usage: phpeek-pm top [--once]".to_owned()),
        "start" => ClientAction::Start(name("start")?),
        "stop" => ClientAction::Stop(name("stop")?),
        "restart" => ClientAction::Restart(name("restart")?),
        "logs" => ClientAction::Logs(name("logs")?, lines.unwrap_or(100)),
        "reload" => match operands {
            [] => ClientAction::Reload(None),
            [n] => ClientAction::Reload(Some(n.clone())),
            _ => return Err("usage: phpeek-pm reload [NAME]".to_owned()),
        },
        _ => match operands {
            [n, count] => ClientAction::Scale(
                n.clone(),
                count
                    .parse()
                    .map_err(|_| format!("scale: {count:?} is not a number of instances"))?,
            ),
            _ => return Err("usage: phpeek-pm scale NAME N".to_owned()),
        },
    };
    Ok(Command::Client(Client {
        action,
        api,
        config,
    }))
}

/// `check-config` or `scaffold`; `serve_opts`: an option of serve was given.
#[inline(always)]
fn tool_command(
    sub: &str,
    config: Option<OsString>,
    serve_opts: bool,
    operands: &[String],
    output: Option<OsString>,
) -> Result<Command, String> {
    if sub == "check-config" {
        if serve_opts {
            return Err("check-config takes only -c/--config".to_owned());
        }
        return Ok(Command::CheckConfig { config });
    }
    match operands {
        [preset] if !serve_opts && config.is_none() => Ok(Command::Scaffold {
            preset: preset.clone(),
            output,
        }),
        _ => Err(
            "usage: phpeek-pm scaffold laravel|symfony|generic|production|minimal \
             [--output FILE]"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn forms() {
        assert_eq!(
            p(&[]).unwrap(),
            Command::Serve {
                config: None,
                dry_run: false,
                php_fpm_profile: None,
                memory_threshold: None,
                watch: false
            }
        );
        assert_eq!(
            p(&["-c", "x.yaml", "--dry-run"]).unwrap(),
            Command::Serve {
                config: Some("x.yaml".into()),
                dry_run: true,
                php_fpm_profile: None,
                memory_threshold: None,
                watch: false
            }
        );
        assert_eq!(
            p(&["serve", "--php-fpm-profile=medium"]).unwrap(),
            Command::Serve {
                config: None,
                dry_run: false,
                php_fpm_profile: Some("medium".into()),
                memory_threshold: None,
                watch: false
            }
        );
        assert_eq!(
            p(&["--autotune-memory-threshold", "0.6", "--dry-run"]).unwrap(),
            Command::Serve {
                config: None,
                dry_run: true,
                php_fpm_profile: None,
                memory_threshold: Some("0.6".into()),
                watch: false
            }
        );
        assert_eq!(
            p(&["check-config", "--config", "a"]).unwrap(),
            Command::CheckConfig {
                config: Some("a".into())
            }
        );
        assert_eq!(p(&["version"]).unwrap(), Command::Version);
        assert_eq!(p(&["-V"]).unwrap(), Command::Version);
        assert_eq!(p(&["--help"]).unwrap(), Command::Help);
        assert!(p(&["bogus"]).is_err());
        assert!(p(&["--nope"]).is_err());
        assert!(p(&["check-config", "--dry-run"]).is_err());
    }

    #[test]
    fn client_commands() {
        let c = |action, api: Option<&str>| {
            Command::Client(Client {
                action,
                api: api.map(str::to_owned),
                config: None,
            })
        };
        assert_eq!(p(&["status"]).unwrap(), c(ClientAction::Status, None));
        assert_eq!(
            p(&["restart", "web", "--api", "/run/p.sock"]).unwrap(),
            c(ClientAction::Restart("web".into()), Some("/run/p.sock"))
        );
        assert_eq!(
            p(&["--api=http://h:1", "scale", "q", "3"]).unwrap(),
            c(ClientAction::Scale("q".into(), 3), Some("http://h:1"))
        );
        assert_eq!(
            p(&["logs", "web", "-n", "5"]).unwrap(),
            c(ClientAction::Logs("web".into(), 5), None)
        );
        assert_eq!(
            p(&["logs", "web"]).unwrap(),
            c(ClientAction::Logs("web".into(), 100), None)
        );
        assert_eq!(p(&["reload"]).unwrap(), c(ClientAction::Reload(None), None));
        assert_eq!(
            p(&["reload", "php-fpm"]).unwrap(),
            c(ClientAction::Reload(Some("php-fpm".into())), None)
        );
        assert!(p(&["reload", "a", "b"]).is_err());
        let h = |name: Option<&str>, live, api: Option<&str>| {
            Command::Health(Health {
                name: name.map(str::to_owned),
                live,
                api: api.map(str::to_owned),
                config: None,
            })
        };
        assert_eq!(p(&["health"]).unwrap(), h(None, false, None));
        assert_eq!(
            p(&["health", "nginx", "--api", "/run/p.sock"]).unwrap(),
            h(Some("nginx"), false, Some("/run/p.sock"))
        );
        assert_eq!(p(&["health", "--live"]).unwrap(), h(None, true, None));
        for bad in [
            &["start"][..],
            &["stop", "a", "b"],
            &["scale", "q"],
            &["scale", "q", "many"],
            &["status", "x"],
            &["status", "-n", "3"],
            &["serve", "--api", "x"],
            &["logs", "web", "-n", "0"],
            &["restart", "web", "--dry-run"],
            &["health", "a", "b"],
            &["health", "web", "--live"],
            &["health", "-n", "3"],
            &["status", "--live"],
            &["--live"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
