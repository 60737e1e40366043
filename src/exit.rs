//! Exit codes, in one place (INTERFACE.md: 0, 1, 2; `128+n` nowhere yet). The client
//! subcommands (feature `api`) and the `health` probe add their own after these.

/// Clean shutdown (a signal), or every process finished successfully.
pub const OK: u8 = 0;
/// Start-up failure (a global pre-start hook failed, a listener could not be bound, the memory
/// limit cannot hold the PHP-FPM profile), or a critical process failed for good, or every
/// process finished and one failed.
pub const STARTUP: u8 = 1;
/// Usage or configuration error: nothing was started.
pub const USAGE: u8 = 2;

/// The codes of `phpeek-pm health` (`src/probe.rs`, and `src/api/client.rs` when it asks the
/// API; docs/orchestrators.md).
pub mod health {
    pub const READY: u8 = 0;
    pub const NOT_READY: u8 = 1;
    pub const USAGE: u8 = 2;
    /// Nothing answers at the API's address.
    pub const UNREACHABLE: u8 = 3;
    /// Only the API knows process names.
    #[cfg(feature = "api")]
    pub const UNKNOWN_PROCESS: u8 = 5;
}

/// The client subcommands' codes (documented in `--help` and docs/observability/api.md).
#[cfg(feature = "api")]
pub mod client {
    pub use super::{OK, USAGE};
    /// The manager answered with an error (the action failed, a conflict, a bad request).
    pub const FAILED: u8 = 1;
    /// Nothing answers at the address.
    pub const UNREACHABLE: u8 = 3;
    /// Missing or wrong token.
    pub const UNAUTHORIZED: u8 = 4;
    pub const UNKNOWN_PROCESS: u8 = 5;
}
