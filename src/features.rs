//! The one place that knows which optional Cargo features this binary was built with.
//!
//! Every other module asks here (`features::HEALTH`) instead of writing `cfg(feature = ...)`
//! inside function bodies, so a config key that needs a compiled-out feature can be reported
//! by name at load time, and `phpeek-pm version` can list what is inside.

/// An optional subsystem, as named in `Cargo.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Health,
    Hooks,
    Api,
    Metrics,
    Scheduler,
    Heartbeat,
    Tls,
    LogProcessing,
    Autotune,
    Detect,
}

impl Feature {
    /// The Cargo feature name, as a user passes it to `--features`.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::Health => "health",
            Feature::Hooks => "hooks",
            Feature::Api => "api",
            Feature::Metrics => "metrics",
            Feature::Scheduler => "scheduler",
            Feature::Heartbeat => "heartbeat",
            Feature::Tls => "tls",
            Feature::LogProcessing => "log-processing",
            Feature::Autotune => "autotune",
            Feature::Detect => "detect",
        }
    }

    /// Why `what` cannot be used in this binary (call when `!self.available()`).
    pub fn unavailable(self, what: &str) -> String {
        if self.compiled() {
            format!(
                "{what} requires feature {:?}, which phpeek-pm {} does not implement yet",
                self.name(),
                env!("CARGO_PKG_VERSION")
            )
        } else {
            format!(
                "{what} requires a build with feature {:?} (this binary was built without it)",
                self.name()
            )
        }
    }

    /// Whether this binary can use the feature: compiled in, and implemented by this version.
    pub const fn available(self) -> bool {
        self.compiled() && self.implemented()
    }

    /// Whether this version of phpeek-pm implements the feature at all (all of them do now; a
    /// feature declared in `Cargo.toml` ahead of its module would say no here).
    pub const fn implemented(self) -> bool {
        match self {
            Feature::Api
            | Feature::Metrics
            | Feature::Health
            | Feature::Hooks
            | Feature::Scheduler
            | Feature::Heartbeat
            | Feature::Tls
            | Feature::LogProcessing
            | Feature::Autotune
            | Feature::Detect => true,
        }
    }

    /// Whether this binary was built with the feature.
    pub const fn compiled(self) -> bool {
        match self {
            Feature::Health => cfg!(feature = "health"),
            Feature::Hooks => cfg!(feature = "hooks"),
            Feature::Api => cfg!(feature = "api"),
            Feature::Metrics => cfg!(feature = "metrics"),
            Feature::Scheduler => cfg!(feature = "scheduler"),
            Feature::Heartbeat => cfg!(feature = "heartbeat"),
            Feature::Tls => cfg!(feature = "tls"),
            Feature::LogProcessing => cfg!(feature = "log-processing"),
            Feature::Autotune => cfg!(feature = "autotune"),
            Feature::Detect => cfg!(feature = "detect"),
        }
    }
}

/// Every optional feature, in the order `version` prints them.
pub const ALL: [Feature; 10] = [
    Feature::Health,
    Feature::Hooks,
    Feature::Api,
    Feature::Metrics,
    Feature::Scheduler,
    Feature::Heartbeat,
    Feature::Tls,
    Feature::LogProcessing,
    Feature::Autotune,
    Feature::Detect,
];
