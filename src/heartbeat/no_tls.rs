//! Builds without feature `tls`: plain HTTP only. `ca_file` and https:// URLs are refused
//! when the configuration is loaded, so no ping ever carries a CA here.

use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

pub fn with_ca(
    config: ConfigBuilder<AgentScope>,
    _pem: &[u8],
) -> Result<ConfigBuilder<AgentScope>, String> {
    Ok(config)
}
