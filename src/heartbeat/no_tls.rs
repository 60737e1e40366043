//! Builds without feature `tls`: plain HTTP only. `ca_file` and https:// URLs are refused
//! when the configuration is loaded, so no ping ever needs TLS settings here.

use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

pub fn configure(
    config: ConfigBuilder<AgentScope>,
    _ca_pem: Option<&[u8]>,
) -> Result<ConfigBuilder<AgentScope>, String> {
    Ok(config)
}
