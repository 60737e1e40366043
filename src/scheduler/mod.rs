//! Scheduled tasks (feature `scheduler`).

pub mod cron;
pub mod tz;
