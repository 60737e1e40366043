//! Command line: `phpeek-pm [serve] [-c FILE] [--php-fpm-profile P]
//! [--autotune-memory-threshold T] [--dry-run]`,
//! `check-config [-c FILE]`, `version`, `--help`.

use std::ffi::OsString;

pub const USAGE: &str = "\
phpeek-pm — PID 1 and process manager for PHP containers

Usage:
  phpeek-pm [serve] [-c|--config FILE] [--php-fpm-profile PROFILE]
            [--autotune-memory-threshold SHARE] [--dry-run]
  phpeek-pm check-config [-c|--config FILE]
  phpeek-pm version | --version | -V
  phpeek-pm --help | -h

Commands:
  serve          run every configured process (the default)
  check-config   validate the configuration, print problems with file:line, exit 0 or 2
  version        print version, commit, target and built-in features

Options:
  -c, --config FILE        configuration file (default: $PHPEEK_PM_CONFIG, ./phpeek-pm.yaml,
                           /etc/phpeek-pm/phpeek-pm.yaml)
      --dry-run            print the resolved start plan (and the auto-tuning and framework
                           detection results) and exit
      --php-fpm-profile P  PHP-FPM auto-tuning profile: dev, light, medium, heavy, bursty
                           (default: $PHP_FPM_AUTOTUNE_PROFILE; needs feature \"autotune\")
      --autotune-memory-threshold SHARE
                           share of the memory limit PHP-FPM may plan with, 0 to 1.0
                           (default: $PHP_FPM_AUTOTUNE_MEMORY_THRESHOLD,
                           global.autotune_memory_threshold, the profile's)

Exit codes: 0 clean shutdown, 1 start-up failure or a critical process failed,
2 usage or configuration error.
";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve {
        config: Option<OsString>,
        dry_run: bool,
        php_fpm_profile: Option<String>,
        memory_threshold: Option<String>,
    },
    CheckConfig {
        config: Option<OsString>,
    },
    Version,
    Help,
}

/// Parses the arguments (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut sub: Option<String> = None;
    let mut config = None;
    let mut dry_run = false;
    let mut profile = None;
    let mut threshold = None;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('c') | Long("config") => {
                config = Some(p.value().map_err(|e| e.to_string())?);
            }
            Long("dry-run") => dry_run = true,
            Long("php-fpm-profile") => {
                let v = p.value().map_err(|e| e.to_string())?;
                profile = Some(
                    v.into_string()
                        .map_err(|_| "profile must be UTF-8".to_owned())?,
                );
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
                    "serve" | "check-config" | "version" | "help" => sub = Some(v),
                    other => {
                        return Err(format!(
                            "unknown command {other:?} (commands: serve, check-config, version)"
                        ));
                    }
                }
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(match sub.as_deref() {
        None | Some("serve") => Command::Serve {
            config,
            dry_run,
            php_fpm_profile: profile,
            memory_threshold: threshold,
        },
        Some("check-config") => {
            if dry_run || profile.is_some() || threshold.is_some() {
                return Err("check-config takes only -c/--config".to_owned());
            }
            Command::CheckConfig { config }
        }
        Some("version") => Command::Version,
        _ => Command::Help,
    })
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
                memory_threshold: None
            }
        );
        assert_eq!(
            p(&["-c", "x.yaml", "--dry-run"]).unwrap(),
            Command::Serve {
                config: Some("x.yaml".into()),
                dry_run: true,
                php_fpm_profile: None,
                memory_threshold: None
            }
        );
        assert_eq!(
            p(&["serve", "--php-fpm-profile=medium"]).unwrap(),
            Command::Serve {
                config: None,
                dry_run: false,
                php_fpm_profile: Some("medium".into()),
                memory_threshold: None
            }
        );
        assert_eq!(
            p(&["--autotune-memory-threshold", "0.6", "--dry-run"]).unwrap(),
            Command::Serve {
                config: None,
                dry_run: true,
                php_fpm_profile: None,
                memory_threshold: Some("0.6".into())
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
}
