//! Connections in and out: accepting on a ready listener (at [`MAX_CONNECTIONS`] the connection
//! idle for longest makes room, or the newcomer gets a 503), and closing a connection.

use std::io;

use mio::Interest;

use super::stream::{Listen, Stream};
use super::{Connection, Peer, Servers};
use crate::config::model::Level;
use crate::http::limits::MAX_CONNECTIONS;
use crate::http::{self, Conn};
use crate::reactor::{Reactor, token};
use crate::sys;

impl Servers {
    pub(super) fn accept(&mut self, r: &mut Reactor<'_>, l: usize) {
        loop {
            let now = sys::monotonic_ms();
            let accepted = match &self.listeners[l].sock {
                Listen::Tcp(s) => s.accept().map(|(s, a)| {
                    let _ = s.set_nodelay(true);
                    (Stream::Tcp(s), Peer::Tcp(a))
                }),
                Listen::Unix(s, _) => s.accept().map(|(s, _)| {
                    use std::os::fd::AsFd;
                    let peer = sys::peer_credentials(s.as_fd())
                        .map_or(Peer::Unknown, |(uid, pid)| Peer::Unix { uid, pid });
                    (Stream::Unix(s), peer)
                }),
                #[cfg(feature = "tls")]
                Listen::Tls(s, config) => s.accept().and_then(|(s, a)| {
                    let _ = s.set_nodelay(true);
                    let s = super::tls::TlsStream::new(s, config)?;
                    Ok((Stream::Tls(Box::new(s)), Peer::Tcp(a)))
                }),
            };
            let (mut stream, peer) = match accepted {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE and friends: the client waits in the backlog; try on the next event.
                    // Said once until an accept works again, so a flood cannot flood the log.
                    if !self.accept_failing {
                        self.accept_failing = true;
                        r.log(
                            Level::Warn,
                            "accept_failed",
                            &format!("cannot accept a connection: {e}"),
                        );
                    }
                    return;
                }
            };
            self.accept_failing = false;
            if self.listeners[l].open >= MAX_CONNECTIONS && !self.evict_idle(r, l) {
                // Every slot is serving a request: tell the newcomer, best effort.
                let _ = stream.write(&http::overloaded());
                continue;
            }
            let slot = match self.conns.iter().position(Option::is_none) {
                Some(s) => s,
                None => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
            };
            if r.poll
                .registry()
                .register(
                    stream.source(),
                    token((slot << 1) | 1, self.kind),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            self.serial += 1;
            self.conns[slot] = Some(Connection {
                stream,
                peer,
                http: Conn::new(now),
                listener: l,
                serial: self.serial,
                readable: true,
                writable: true,
            });
            self.listeners[l].open += 1;
            self.dirty.push(slot);
        }
    }

    /// Closes the connection of listener `l` that has been idle longest; false if none is.
    fn evict_idle(&mut self, r: &Reactor<'_>, l: usize) -> bool {
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(n, c)| {
                let c = c.as_ref()?;
                (c.listener == l).then_some((n, c.http.idle_since()?))
            })
            .min_by_key(|(_, since)| *since)
            .map(|(n, _)| n);
        match victim {
            Some(n) => {
                self.close_conn(r, n);
                true
            }
            None => false,
        }
    }

    pub(super) fn close_conn(&mut self, r: &Reactor<'_>, slot: usize) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = r.poll.registry().deregister(c.stream.source());
            self.listeners[c.listener].open -= 1;
        }
    }
}
