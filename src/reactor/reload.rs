//! The live configuration reload on the loop (`phpeek-pm reload-config`,
//! `POST /api/v1/config/reload`, `--watch`): re-read the file the manager started with,
//! validate it completely, and only when it has no error hand the difference to the
//! supervisor (`Event::Reconfigure`) and swap the running configuration. An invalid file
//! changes nothing: every error is logged and returned.
//!
//! The reading is IO, so it lives here; what changes is worked out by the pure
//! `config::diff::plan`, and what that means for processes by the supervisor. Start-up work
//! (auto-tuning, framework set-up) is not redone: the running configuration keeps the
//! environment it computed.

use std::rc::Rc;

use super::Reactor;
use super::part::Msg;
use crate::config::diff::{self, Change};
use crate::config::model::Level;
use crate::config::{self, Inputs};
use crate::supervisor::{Event, Field};
use crate::sys;

/// What a reload did, by process name.
#[derive(Debug, Default)]
pub struct Outcome {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
    pub scaled: Vec<String>,
    pub unchanged: usize,
    /// Differences that apply only at the next start of the manager.
    pub needs_restart: Vec<String>,
}

/// Why a reload changed nothing.
pub enum Refused {
    /// The manager is going down.
    ShuttingDown,
    /// The file cannot be read or has errors: every one of them.
    Invalid(Vec<String>),
}

impl Reactor<'_> {
    /// Logs why a reload (asked by `origin`) changed nothing, and hands the reason on.
    fn refuse(&mut self, origin: &str, refused: Refused) -> Refused {
        if let Refused::Invalid(errors) = &refused {
            self.out.event(
                Level::Error,
                None,
                "config_reload_failed",
                &format!(
                    "configuration reload ({origin}) refused, nothing changed: {}",
                    errors.join("; ")
                ),
                &[("errors", Field::Int(errors.len() as i64))],
            );
        }
        refused
    }

    /// Re-reads and applies the configuration; `origin` says who asked (for the log).
    pub(super) fn reload_config(&mut self, origin: &str) -> Result<Outcome, Refused> {
        if self.sup.shutting_down() {
            return Err(Refused::ShuttingDown);
        }
        let new = match self.read_config() {
            Ok(c) => c,
            // Logged from the refusal itself: the API answers with the same errors.
            Err(errors) => return Err(self.refuse(origin, Refused::Invalid(errors))),
        };
        let plan = diff::plan(&self.config, &self.sup.live_processes(), &new);
        let names =
            |c: Change| -> Vec<String> { plan.names(c).into_iter().map(str::to_owned).collect() };
        let outcome = Outcome {
            added: names(Change::Add),
            removed: names(Change::Remove),
            restarted: names(Change::Restart),
            scaled: names(Change::Scale),
            unchanged: plan
                .changes
                .iter()
                .zip(self.sup.live_processes())
                .filter(|(c, live)| **c == Change::Keep && *live)
                .count(),
            needs_restart: plan.needs_restart.clone(),
        };
        let plan_was_empty = plan.is_empty();
        let config = Rc::new(plan.config);
        self.sup.handle(
            Event::Reconfigure {
                config: Rc::clone(&config),
                changes: plan.changes,
            },
            sys::monotonic_ms(),
        );
        self.config = config;
        // Every part hears it (nobody answers, so nobody stops the telling).
        self.tell(&Msg::Reconfigured);
        let nothing = if plan_was_empty {
            " (no process changed)"
        } else {
            ""
        };
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(",")
            }
        };
        self.out.event(
            Level::Info,
            None,
            "config_reloaded",
            &format!(
                "configuration reloaded ({origin}){nothing}: added {}, removed {}, restarted {}, \
                 scaled {}, {} unchanged",
                list(&outcome.added),
                list(&outcome.removed),
                list(&outcome.restarted),
                list(&outcome.scaled),
                outcome.unchanged
            ),
            &[
                ("origin", Field::Str(origin.to_owned())),
                ("added", Field::Str(list(&outcome.added))),
                ("removed", Field::Str(list(&outcome.removed))),
                ("restarted", Field::Str(list(&outcome.restarted))),
                ("scaled", Field::Str(list(&outcome.scaled))),
            ],
        );
        if !outcome.needs_restart.is_empty() {
            self.out.event(
                Level::Warn,
                None,
                "config_needs_restart",
                &format!(
                    "not applied until phpeek-pm restarts: {}",
                    outcome.needs_restart.join("; ")
                ),
                &[],
            );
        }
        // Hook point for the audit log (feature `audit`, not in this build): a reload is one
        // audited action with its origin and outcome.
        Ok(outcome)
    }

    /// The configuration file as it is now, validated, with the start-up environment of
    /// the running one; or every error.
    fn read_config(&self) -> Result<crate::config::model::Config, Vec<String>> {
        let path = self.config.path.clone();
        let text = match &path {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| vec![format!("cannot read configuration {p}: {e}")])?,
            ),
            None => None,
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        let passwd = || {
            (
                std::fs::read_to_string(config::users::PASSWD).unwrap_or_default(),
                std::fs::read_to_string(config::users::GROUP).unwrap_or_default(),
            )
        };
        let checked = config::check(&Inputs {
            file: path.as_deref().zip(text.as_deref()),
            env: &env,
            passwd: &passwd,
        });
        match checked.config {
            Some(mut c) => {
                c.child_env.clone_from(&self.config.child_env);
                Ok(c)
            }
            None => Err(checked.errors.iter().map(ToString::to_string).collect()),
        }
    }
}
