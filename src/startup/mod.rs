//! Start-up work of optional features: what runs after the configuration is loaded and before
//! the event loop starts any process or hook (framework detection and setup, PHP-FPM
//! auto-tuning), and what `--dry-run` shows of it.
//!
//! Each feature contributes one step to `STEPS`; a build without the feature has no step and
//! links none of its code. A step may add environment for every child (`Prepared::env`), log
//! events to emit once the log is open (`Prepared::notes`), text for `--dry-run`, and facts for
//! the status snapshot (`Report`), or fail start-up with an exit code.
//!
//! This file holds the list and runs it; what a step takes and gives is in `step.rs`, which
//! the features' steps import, so the list imports them and they never import the list.

pub mod step;

use std::sync::OnceLock;

use step::{Failure, Prepared, Report, Request};

type Step = fn(&Request<'_>, &mut Prepared) -> Result<(), Failure>;

/// The steps of the features built in, in order: detection first (its log line helps read
/// what follows), then auto-tuning.
const STEPS: &[Step] = &[
    #[cfg(feature = "detect")]
    crate::detect::step,
    #[cfg(feature = "autotune")]
    crate::autotune::step,
];

static REPORT: OnceLock<Report> = OnceLock::new();

/// Start-up stopped: the failure, and what the steps before it produced (for `--dry-run`).
#[derive(Debug)]
pub struct Stopped {
    pub failure: Failure,
    pub partial: Prepared,
}

/// Runs every step; on success the report becomes readable through `report()`.
pub fn prepare(req: &Request<'_>) -> Result<Prepared, Box<Stopped>> {
    let mut p = Prepared::default();
    for step in STEPS {
        if let Err(failure) = step(req, &mut p) {
            return Err(Box::new(Stopped {
                failure,
                partial: p,
            }));
        }
    }
    let _ = REPORT.set(p.report.clone());
    Ok(p)
}

/// What start-up found (empty before `prepare` ran, or when no step is built).
pub fn report() -> &'static Report {
    static EMPTY: Report = Report {
        framework: None,
        autotune: None,
    };
    REPORT.get().unwrap_or(&EMPTY)
}

/// Puts what start-up found into the status snapshot's manager part (the API and `/metrics`
/// call this when they build a snapshot).
pub fn fill(view: &mut crate::status::ManagerView) {
    let r = report();
    view.framework = r.framework.map(str::to_owned);
    view.autotune = r.autotune.as_ref().map(|a| {
        a.vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    });
}

#[cfg(test)]
mod tests {
    use super::step::PoolReport;
    use super::*;

    #[test]
    fn report_fills_the_snapshot() {
        let mut view = crate::status::ManagerView::default();
        fill(&mut view);
        // Nothing prepared in this test process: the snapshot says so.
        assert_eq!((view.framework, view.autotune), (None, None));
        let _ = REPORT.set(Report {
            framework: Some("laravel"),
            autotune: Some(PoolReport {
                profile: "medium",
                vars: vec![("PHP_FPM_MAX_CHILDREN", "16".to_owned())],
                ..PoolReport::default()
            }),
        });
        let mut view = crate::status::ManagerView::default();
        fill(&mut view);
        assert_eq!(view.framework.as_deref(), Some("laravel"));
        assert_eq!(
            view.autotune,
            Some(vec![("PHP_FPM_MAX_CHILDREN".to_owned(), "16".to_owned())])
        );
    }
}
