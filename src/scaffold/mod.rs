//! `phpeek-pm scaffold PRESET [--output FILE]`: writes a commented configuration for a stack
//! (laravel, symfony, generic, production, minimal) that passes `check-config` and runs. The
//! templates are YAML files beside this module, compiled in; a preset that uses features this
//! build lacks is refused with their names rather than written half-working.

use std::ffi::OsStr;
use std::io::Write;

use crate::exit;
use crate::features::Feature;

/// A preset: its name, what it is for, the features its keys need, and the template.
struct Preset {
    name: &'static str,
    about: &'static str,
    needs: &'static [Feature],
    text: &'static str,
}

const PRESETS: &[Preset] = &[
    Preset {
        name: "laravel",
        about: "PHP-FPM, nginx, Horizon, queue workers, the scheduler",
        needs: &[
            Feature::Health,
            Feature::Hooks,
            Feature::Scheduler,
            Feature::Api,
            Feature::Metrics,
        ],
        text: include_str!("laravel.yaml"),
    },
    Preset {
        name: "symfony",
        about: "PHP-FPM, nginx, Messenger workers",
        needs: &[Feature::Health, Feature::Hooks, Feature::Api],
        text: include_str!("symfony.yaml"),
    },
    Preset {
        name: "generic",
        about: "PHP-FPM behind nginx",
        needs: &[Feature::Health],
        text: include_str!("generic.yaml"),
    },
    Preset {
        name: "production",
        about: "the laravel stack with restart limits, redaction, a socket-only API, readiness file",
        needs: &[
            Feature::Health,
            Feature::Hooks,
            Feature::Scheduler,
            Feature::Api,
            Feature::Metrics,
            Feature::LogProcessing,
        ],
        text: include_str!("production.yaml"),
    },
    Preset {
        name: "minimal",
        about: "one PHP-FPM pool (any build)",
        needs: &[],
        text: include_str!("minimal.yaml"),
    },
];

/// Writes preset `name` to `output` (stdout without one); returns the exit code.
pub fn run(name: &str, output: Option<&OsStr>) -> u8 {
    let Some(p) = PRESETS.iter().find(|p| p.name == name) else {
        let list: Vec<String> = PRESETS
            .iter()
            .map(|p| format!("  {:<11} {}", p.name, p.about))
            .collect();
        eprintln!(
            "phpeek-pm: unknown preset {name:?}; presets:\n{}",
            list.join("\n")
        );
        return exit::USAGE;
    };
    let missing: Vec<&str> = p
        .needs
        .iter()
        .filter(|f| !f.available())
        .map(|f| f.name())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "phpeek-pm: the {} preset uses features this build lacks: {} (use the full build, \
             or `scaffold minimal`)",
            p.name,
            missing.join(", ")
        );
        return exit::USAGE;
    }
    let written = match output {
        None => std::io::stdout().write_all(p.text.as_bytes()),
        Some(path) => {
            // Never overwrite a configuration someone wrote.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut f| f.write_all(p.text.as_bytes()))
        }
    };
    match (written, output) {
        (Ok(()), Some(path)) => {
            eprintln!(
                "phpeek-pm: wrote the {} preset to {}; check it with `phpeek-pm check-config -c {}`",
                p.name,
                path.to_string_lossy(),
                path.to_string_lossy()
            );
            exit::OK
        }
        (Ok(()), None) => exit::OK,
        (Err(e), path) => {
            eprintln!(
                "phpeek-pm: cannot write {}: {e}",
                path.map_or("stdout".into(), |p| p.to_string_lossy())
            );
            exit::STARTUP
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every preset the build can write passes the configuration check (with the variables of
    /// a Debian machine, where the binary is php-fpm8.2).
    #[test]
    fn presets_load() {
        for p in PRESETS
            .iter()
            .filter(|p| p.needs.iter().all(|f| f.available()))
        {
            let c = crate::config::check(&crate::config::Inputs {
                file: Some((p.name, p.text)),
                env: &[],
                passwd: &|| (String::new(), String::new()),
            });
            assert!(c.errors.is_empty(), "{}: {:?}", p.name, c.errors);
            assert!(c.warnings.is_empty(), "{}: {:?}", p.name, c.warnings);
        }
    }
}
