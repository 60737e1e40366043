//! HTTPS with a private CA (feature `tls`): the certificates of `heartbeat.ca_file` replace the
//! bundled roots for that task's pings.

use ureq::config::ConfigBuilder;
use ureq::tls::{PemItem, RootCerts, TlsConfig, parse_pem};
use ureq::typestate::AgentScope;

pub fn with_ca(
    config: ConfigBuilder<AgentScope>,
    pem: &[u8],
) -> Result<ConfigBuilder<AgentScope>, String> {
    let mut certs = Vec::new();
    for item in parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("ca_file: {e}")),
        }
    }
    if certs.is_empty() {
        return Err("ca_file holds no certificate".to_owned());
    }
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&certs))
        .build();
    Ok(config.tls_config(tls))
}
