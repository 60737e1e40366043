//! Builds without feature `tls`: plain HTTP only. `ca_file` and https:// URLs are refused
//! when the configuration is loaded, so no ping ever needs TLS here.

use super::stream::{Stream, Timed};

pub struct Client;

pub fn client(_ca_pem: Option<&[u8]>) -> Result<Client, String> {
    Ok(Client)
}

impl Client {
    pub fn connect(&self, _host: &str, _sock: Timed) -> Result<Box<dyn Stream>, String> {
        Err("https needs a build with feature \"tls\"".to_owned())
    }
}
