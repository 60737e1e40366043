//! `reload_signal` and `forward_signals` of a process: parsed into its signal policy
//! (`crate::signal_policy`), whose defaults come from the program in `command`.

use crate::signal_policy::{Reload, SignalPolicy, parse_forward};

/// The process's policy; an error names the key it is about.
pub(super) fn parse(
    command: &[String],
    reload: Option<&str>,
    forward: Option<&[String]>,
) -> Result<SignalPolicy, (&'static str, String)> {
    let reload = reload
        .map(Reload::parse)
        .transpose()
        .map_err(|e| ("reload_signal", e))?;
    let mut list = Vec::new();
    for s in forward.unwrap_or_default() {
        let n = parse_forward(s).map_err(|e| ("forward_signals", e))?;
        if !list.contains(&n) {
            list.push(n);
        }
    }
    Ok(SignalPolicy::new(command, reload, list))
}
