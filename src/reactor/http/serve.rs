//! Serving a connection: reads, writes, and each request it holds answered by the service of
//! its listener, or parked while the PHP-FPM part fetches the pools' status pages.

use std::io;

use super::{FpmWaiting, Peer, Servers, Service};
use crate::http::{self, Request, Response};
use crate::reactor::Reactor;
use crate::reactor::part::Msg;
use crate::supervisor::Millis;
use crate::sys;

/// Reads at most this much from one connection per turn, so one client cannot hold the loop.
const READ_PER_TURN: usize = 64 * 1024;

impl Servers {
    /// Reads, handles and writes one connection until it would block.
    pub(super) fn serve(&mut self, r: &mut Reactor<'_>, slot: usize) {
        let mut read_total = 0;
        loop {
            let now = sys::monotonic_ms();
            // 1. Answer what is buffered.
            let mut progress = false;
            loop {
                let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                    return;
                };
                let Some(req) = c.http.poll_request(now) else {
                    break;
                };
                let (l, serial, peer) = (c.listener, c.serial, c.peer);
                let service = self.listeners[l].service;
                progress = true;
                let resp = match self.acl_refusal(r, service, peer, &req) {
                    Some(resp) => Some(resp),
                    None => self.dispatch(r, service, &req, (slot, serial), peer),
                };
                let Some(resp) = resp else {
                    break;
                };
                match self.conns.get_mut(slot).and_then(Option::as_mut) {
                    Some(c) => c.http.respond(&resp, now),
                    None => return,
                }
            }
            let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            // 2. Write what is queued.
            while c.writable && !c.http.output().is_empty() {
                match c.stream.write(c.http.output()) {
                    Ok(0) => {
                        self.close_conn(r, slot);
                        return;
                    }
                    Ok(n) => {
                        c.http.wrote(n, now);
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.close_conn(r, slot);
                        return;
                    }
                }
            }
            if c.writable {
                match c.stream.flush() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(_) => {
                        self.close_conn(r, slot);
                        return;
                    }
                }
            }
            // The end of the answer, once every byte of it has left.
            if !c.stream.pending() && c.http.take_shutdown() {
                c.stream.shutdown_write();
            }
            if c.http.is_closed() && !c.stream.pending() {
                self.close_conn(r, slot);
                return;
            }
            // 3. Read more, if it has room.
            if c.readable && c.http.wants_read() && read_total < READ_PER_TURN {
                match c.stream.read(&mut r.buf[..http::limits::MAX_HEAD_BYTES]) {
                    Ok(0) => c.http.peer_closed(),
                    Ok(n) => {
                        read_total += n;
                        c.http.received(&r.buf[..n], now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.close_conn(r, slot);
                        return;
                    }
                }
                progress = true;
                if c.http.is_closed() {
                    self.close_conn(r, slot);
                    return;
                }
            } else if c.readable && c.http.wants_read() {
                // Budget spent: continue next turn.
                self.dirty.push(slot);
                return;
            }
            if !progress {
                return;
            }
        }
    }

    /// Answers a request now, or parks it (`None`).
    fn dispatch(
        &mut self,
        r: &mut Reactor<'_>,
        service: Service,
        req: &Request,
        conn: (usize, u64),
        peer: Peer,
    ) -> Option<Response> {
        let _ = (conn, peer);
        match service {
            #[cfg(feature = "api")]
            Service::Api => self.api_request(r, req, conn, peer),
            #[cfg(feature = "metrics")]
            Service::Metrics => {
                let path = r
                    .config
                    .global
                    .metrics
                    .as_ref()
                    .map_or("/metrics", |m| m.path.as_str());
                let path = path.to_owned();
                // A scrape waits (briefly) for the PHP-FPM pools' status pages.
                let scrape = req.path == path && matches!(req.method, http::Method::Get);
                if scrape && self.fpm_park(r, service, req, conn, peer) {
                    return None;
                }
                Some(crate::metrics::handle(req, &path, || {
                    self.turn_body(r, super::Body::Metrics, |s| {
                        let mut out = Vec::with_capacity(16 * 1024);
                        crate::metrics::render(s, &mut out);
                        out
                    })
                }))
            }
        }
    }

    /// Parks `req` while the PHP-FPM part asks the pools' status pages (it answers the
    /// message when it has a round out); false: answer now.
    pub(in crate::reactor) fn fpm_park(
        &mut self,
        r: &mut Reactor<'_>,
        service: Service,
        req: &Request,
        conn: (usize, u64),
        peer: Peer,
    ) -> bool {
        if r.tell(&Msg::FpmAsk).is_none() {
            return false;
        }
        self.fpm_waiting.push(FpmWaiting {
            conn,
            service,
            req: req.clone(),
            peer,
        });
        true
    }

    /// Answers the requests that waited for status pages, once the PHP-FPM part has no
    /// round out (it took its turn before ours: its pages are in this turn's snapshot).
    pub(super) fn fpm_answer(&mut self, r: &mut Reactor<'_>, now: Millis) {
        if self.fpm_waiting.is_empty() || r.tell(&Msg::FpmPending).is_some() {
            return;
        }
        for w in std::mem::take(&mut self.fpm_waiting) {
            let Some(resp) = self.dispatch(r, w.service, &w.req, w.conn, w.peer) else {
                continue;
            };
            let (slot, serial) = w.conn;
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                if c.serial == serial {
                    c.http.respond(&resp, now);
                    self.dirty.push(slot);
                }
            }
        }
    }
}
