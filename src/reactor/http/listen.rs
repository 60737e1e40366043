//! Opening the listeners at start-up (every configured endpoint of every service this build
//! has, with a warning for an API open to the network without a token) and closing them at exit.

use std::net::SocketAddr;

use mio::Interest;
use mio::net::TcpListener;

use super::stream::{Listen, Tls, bind_unix, secure};
use super::{Listener, Servers, Service};
use crate::config::model::Level;
use crate::reactor::{Reactor, token};
use crate::supervisor::Field;

impl Servers {
    /// Binds every configured listener; called before any process starts, so the API answers
    /// while dependencies are still starting. An error stops the start-up.
    pub(super) fn http_start(&mut self, r: &mut Reactor<'_>) -> Result<(), String> {
        for (service, addr, socket, tls) in Self::http_wanted(r) {
            if let Some(addr) = addr {
                let l = TcpListener::bind(addr).map_err(|e| {
                    format!("cannot listen on {addr} for the {}: {e}", name(service))
                })?;
                let bound = l.local_addr().map_or(addr, |a| a);
                let (listen, at) = secure(l, tls, bound)
                    .map_err(|e| format!("cannot serve the {} over HTTPS: {e}", name(service)))?;
                self.add_listener(r, listen, service, &at)?;
            }
            if let Some(path) = socket {
                let l = bind_unix(&path).map_err(|e| {
                    format!("cannot listen on {path} for the {}: {e}", name(service))
                })?;
                self.add_listener(r, Listen::Unix(l, path.clone()), service, &path)?;
            }
        }
        Ok(())
    }

    /// (service, TCP address, Unix socket path, TLS on the TCP address) of each configured
    /// endpoint.
    fn http_wanted(r: &Reactor<'_>) -> Vec<Endpoint> {
        let g = &r.config.global;
        let mut v = Vec::new();
        for s in services() {
            match s {
                #[cfg(feature = "api")]
                Service::Api => {
                    if let Some(a) = &g.api {
                        let tls = a.tls.clone().map(|t| ("api_tls", t));
                        v.push((s, a.tcp, a.socket.clone(), tls));
                    }
                }
                #[cfg(feature = "metrics")]
                Service::Metrics => {
                    if let Some(m) = &g.metrics {
                        let tls = m.tls.clone().map(|t| ("metrics_tls", t));
                        v.push((s, Some(m.addr), None, tls));
                    }
                }
            }
        }
        v
    }

    fn add_listener(
        &mut self,
        r: &mut Reactor<'_>,
        mut sock: Listen,
        service: Service,
        at: &str,
    ) -> Result<(), String> {
        let n = self.listeners.len();
        let t = token(n << 1, self.kind);
        let registered = match &mut sock {
            Listen::Tcp(l) => r.poll.registry().register(l, t, Interest::READABLE),
            Listen::Unix(l, _) => r.poll.registry().register(l, t, Interest::READABLE),
            #[cfg(feature = "tls")]
            Listen::Tls(l, _) => r.poll.registry().register(l, t, Interest::READABLE),
        };
        registered.map_err(|e| format!("cannot watch the {} listener: {e}", name(service)))?;
        self.listeners.push(Listener {
            sock,
            service,
            open: 0,
        });
        let mut msg = format!("{} listening on {at}", name(service));
        let mut level = Level::Info;
        if let Some(note) = Self::exposure_note(r, service, at) {
            msg.push_str(&note);
            level = Level::Warn;
        }
        r.out.event(
            level,
            None,
            "listening",
            &msg,
            &[
                ("service", Field::Str(name(service).to_owned())),
                ("address", Field::Str(at.to_owned())),
            ],
        );
        Ok(())
    }

    /// A warning for an API reachable from outside the container without a token.
    fn exposure_note(r: &Reactor<'_>, service: Service, at: &str) -> Option<String> {
        let unix = at.starts_with('/');
        match service {
            #[cfg(feature = "api")]
            Service::Api => {
                let api = r.config.global.api.as_ref()?;
                let open =
                    api.auth.is_none() && api.tcp.is_some_and(|a| !a.ip().is_loopback()) && !unix;
                open.then(|| {
                    " without api_auth: anyone who can reach this address can stop and start \
                     processes (set api_auth, or api_host: 127.0.0.1)"
                        .to_owned()
                })
            }
            #[cfg(feature = "metrics")]
            Service::Metrics => {
                let _ = (r, unix);
                None
            }
        }
    }

    /// Closes every listener and connection; removes Unix sockets we created.
    pub(super) fn http_stop(&mut self, r: &Reactor<'_>) {
        for slot in 0..self.conns.len() {
            self.close_conn(r, slot);
        }
        for l in self.listeners.drain(..) {
            if let Listen::Unix(_, path) = l.sock {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// A configured endpoint: service, TCP address, Unix socket path, TLS on the TCP address.
type Endpoint = (Service, Option<SocketAddr>, Option<String>, Option<Tls>);

/// Every service this build has.
fn services() -> Vec<Service> {
    vec![
        #[cfg(feature = "api")]
        Service::Api,
        #[cfg(feature = "metrics")]
        Service::Metrics,
    ]
}

fn name(s: Service) -> &'static str {
    match s {
        #[cfg(feature = "api")]
        Service::Api => "API",
        #[cfg(feature = "metrics")]
        Service::Metrics => "metrics endpoint",
    }
}
