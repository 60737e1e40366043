//! The HTTP part (features `api`, `metrics`): listening sockets and server connections for
//! the API and metrics endpoints (one token kind: even slots are listeners, odd ones
//! connections): non-blocking accept, reads and writes on the loop; the HTTP logic itself is the
//! sans-IO [`crate::http::Conn`]. Requests are dispatched to the service of their listener;
//! a request that answers later (an API command) parks its connection as a [`Parked`] entry,
//! checked after every turn against the supervisor's state.
//!
//! Fairness: every connection's buffers are bounded by `http::limits`, so one client costs a
//! bounded amount of work per turn; at [`MAX_CONNECTIONS`] per listener the connection idle for
//! longest is closed for a newcomer (503 when none is idle).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::rc::Rc;

use mio::Interest;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::part::{Msg, Part, Setup};
use super::{Reactor, token};
use crate::config::model::{Config, Level};
use crate::http::limits::MAX_CONNECTIONS;
use crate::http::{self, Conn, Request, Response};
use crate::status::Snapshot;
use crate::supervisor::{Field, Millis, Supervisor};
use crate::sys;

// HTTPS connections are this part's connections (same slots, same token kind).
#[cfg(feature = "tls")]
#[path = "tls.rs"]
mod tls;

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    #[cfg(feature = "api")]
    Api,
    #[cfg(feature = "metrics")]
    Metrics,
}

enum Listen {
    Tcp(TcpListener),
    Unix(UnixListener, String),
    /// HTTPS (`api_tls`, `metrics_tls`).
    #[cfg(feature = "tls")]
    Tls(TcpListener, std::sync::Arc<rustls::ServerConfig>),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<tls::TlsStream>),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    /// Sends bytes the stream holds itself (TLS records the socket could not take yet);
    /// `WouldBlock` while some remain.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => Ok(()),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }

    /// Whether it still holds bytes for the socket.
    fn pending(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => false,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.pending(),
        }
    }

    /// Half-close: the client sees the end of our answer, we still drain what it sends.
    fn shutdown_write(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.shutdown_write();
                Ok(())
            }
        };
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.source(),
        }
    }
}

struct Listener {
    sock: Listen,
    service: Service,
    /// Its open connections.
    open: usize,
}

/// Who is on the other end of a connection (for ACLs and the audit trail).
#[derive(Clone, Copy, Debug)]
pub(super) enum Peer {
    Tcp(SocketAddr),
    /// SO_PEERCRED of a Unix-socket client.
    Unix {
        uid: u32,
        pid: i32,
    },
    Unknown,
}

impl Peer {
    /// The audit trail's `caller` fields.
    #[cfg(any(feature = "api", feature = "metrics"))]
    pub(super) fn fields(self) -> Vec<(&'static str, Field)> {
        match self {
            Peer::Tcp(a) => vec![("caller", Field::Str(a.to_string()))],
            Peer::Unix { uid, pid } => vec![
                ("caller", Field::Str("unix".into())),
                ("caller_uid", Field::Int(uid.into())),
                ("caller_pid", Field::Int(pid.into())),
            ],
            Peer::Unknown => vec![("caller", Field::Str("unknown".into()))],
        }
    }
}

struct Connection {
    stream: Stream,
    peer: Peer,
    http: Conn,
    listener: usize,
    /// Distinguishes this connection from later ones in the same slot.
    serial: u64,
    readable: bool,
    writable: bool,
}

/// A request that answers once the supervisor's state says so (API commands).
pub(super) trait Parked {
    /// The waiting connection: slot and serial.
    fn conn(&self) -> (usize, u64);
    fn deadline(&self) -> Millis;
    /// The answer, once there is one.
    fn check(&self, sup: &Supervisor, now: Millis) -> Option<Response>;
}

pub(super) fn part(_config: &Config, setup: &Setup<'_>) -> Box<dyn Part> {
    Box::new(Servers {
        kind: setup.kind,
        ..Servers::default()
    })
}

/// The HTTP side of the reactor.
#[derive(Default)]
pub(super) struct Servers {
    /// This part's token kind.
    kind: usize,
    listeners: Vec<Listener>,
    conns: Vec<Option<Connection>>,
    serial: u64,
    /// Requests waiting for their answer, with the process each acts on (one command per
    /// process at a time).
    pub(super) parked: Vec<(usize, Box<dyn Parked>)>,
    /// Connections with work to do this turn.
    dirty: Vec<usize>,
    /// The status snapshot and documents rendered from it during this turn. Within one turn
    /// the supervisor's state changes only through our own commands (which clear it), so every
    /// request of the turn would render the same: under load, dozens of requests share one.
    turn_snapshot: Option<Rc<Snapshot>>,
    /// A request handed the supervisor work this turn: its actions must run, and parked
    /// requests be checked again, before the loop may sleep.
    pub(super) commands_issued: bool,
    /// Accepting failed (descriptor limit?) and was logged.
    accept_failing: bool,
    turn_bodies: [Option<Vec<u8>>; BODY_KINDS],
    /// Audit records waiting for their parked command's answer: (connection, action, target,
    /// caller).
    pub(super) audits: Vec<((usize, u64), String, String, Peer)>,
    /// Requests waiting for the PHP-FPM part's round of status pages.
    fpm_waiting: Vec<FpmWaiting>,
}

/// A request waiting for PHP-FPM status pages (see `fpm.rs`).
struct FpmWaiting {
    conn: (usize, u64),
    service: Service,
    req: Request,
    peer: Peer,
}

/// Documents cached per turn.
#[derive(Clone, Copy)]
pub(super) enum Body {
    /// The API's process list.
    #[cfg(feature = "api")]
    Processes = 0,
    /// The Prometheus exposition.
    #[cfg(feature = "metrics")]
    Metrics = 1,
}
const BODY_KINDS: usize = 2;

/// Reads at most this much from one connection per turn, so one client cannot hold the loop.
const READ_PER_TURN: usize = 64 * 1024;

impl Part for Servers {
    fn open(&mut self, r: &mut Reactor<'_>) -> Result<(), (&'static str, String)> {
        // Recent output is kept for the API's logs route only when the API is on.
        r.out.recent = crate::output::recent::Recent::new(r.config.global.api.is_some());
        self.http_start(r).map_err(|e| ("listen_failed", e))
    }

    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        self.http_deadline()
    }

    fn busy(&self) -> bool {
        !self.dirty.is_empty()
    }

    fn ready(&mut self, r: &mut Reactor<'_>, slot: usize, ev: &mio::event::Event) {
        self.http_event(r, slot, ev);
    }

    fn turn(&mut self, r: &mut Reactor<'_>) {
        self.http_turn(r);
    }

    fn close(&mut self, r: &mut Reactor<'_>) {
        self.http_stop(r);
    }
}

impl Servers {
    /// Binds every configured listener; called before any process starts, so the API answers
    /// while dependencies are still starting. An error stops the start-up.
    fn http_start(&mut self, r: &mut Reactor<'_>) -> Result<(), String> {
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

    /// A readiness event for a listener or a connection.
    fn http_event(&mut self, r: &mut Reactor<'_>, slot: usize, ev: &mio::event::Event) {
        let (slot, conn) = (slot >> 1, slot & 1 == 1);
        if !conn {
            self.accept(r, slot);
            return;
        }
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            c.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
            c.writable |= ev.is_writable() || ev.is_write_closed() || ev.is_error();
            self.dirty.push(slot);
        }
    }

    fn accept(&mut self, r: &mut Reactor<'_>, l: usize) {
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
                    let s = tls::TlsStream::new(s, config)?;
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

    fn close_conn(&mut self, r: &Reactor<'_>, slot: usize) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = r.poll.registry().deregister(c.stream.source());
            self.listeners[c.listener].open -= 1;
        }
    }

    /// After the supervisor's turn: answers parked requests that are done, acts on connection
    /// deadlines, and serves every connection with work.
    fn http_turn(&mut self, r: &mut Reactor<'_>) {
        loop {
            self.http_pass(r);
            if !std::mem::take(&mut self.commands_issued) {
                return;
            }
            // The supervisor's actions for those commands (spawns, signals) may settle a
            // parked request at once (a start whose process is ready as soon as it spawns).
            r.run_actions();
        }
    }

    fn http_pass(&mut self, r: &mut Reactor<'_>) {
        let now = sys::monotonic_ms();
        self.forget_turn_cache();
        self.fpm_answer(r, now);
        let mut n = 0;
        while n < self.parked.len() {
            match self.parked[n].1.check(&r.sup, now) {
                Some(resp) => {
                    let p = self.parked.swap_remove(n);
                    let (slot, serial) = p.1.conn();
                    if let Some(k) = self.audits.iter().position(|a| a.0 == (slot, serial)) {
                        let (_, action, target, peer) = self.audits.swap_remove(k);
                        self.audit(r, &action, &target, resp.status, peer);
                    }
                    if let Some(Some(c)) = self.conns.get_mut(slot) {
                        if c.serial == serial {
                            c.http.respond(&resp, now);
                            self.dirty.push(slot);
                        }
                    }
                }
                None => n += 1,
            }
        }
        for slot in 0..self.conns.len() {
            if let Some(c) = self.conns[slot].as_mut() {
                if c.http.next_deadline().is_some_and(|d| d <= now) {
                    if c.http.handle_timeout(now) == http::Outcome::Close {
                        self.close_conn(r, slot);
                    } else {
                        self.dirty.push(slot);
                    }
                }
            }
        }
        // Connections that run out of budget put themselves back for the next turn.
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty {
            self.serve(r, slot);
        }
    }

    /// The status snapshot of this turn (made once per turn, on first use).
    pub(super) fn turn_snapshot(&mut self, r: &Reactor<'_>) -> Rc<Snapshot> {
        if let Some(s) = &self.turn_snapshot {
            return s.clone();
        }
        let s = Rc::new(r.snapshot());
        self.turn_snapshot = Some(s.clone());
        s
    }

    /// A document of this turn, rendered once by `render`.
    pub(super) fn turn_body(
        &mut self,
        r: &Reactor<'_>,
        kind: Body,
        render: fn(&Snapshot) -> Vec<u8>,
    ) -> Vec<u8> {
        let k = kind as usize;
        if let Some(b) = &self.turn_bodies[k] {
            return b.clone();
        }
        let b = render(&self.turn_snapshot(r));
        self.turn_bodies[k] = Some(b.clone());
        b
    }

    /// The supervisor's state may have changed: snapshots must be made again.
    pub(super) fn forget_turn_cache(&mut self) {
        self.turn_snapshot = None;
        self.turn_bodies = Default::default();
    }

    /// The earliest connection or parked-request deadline.
    fn http_deadline(&self) -> Option<Millis> {
        let conns = self
            .conns
            .iter()
            .flatten()
            .filter_map(|c| c.http.next_deadline());
        let parked = self.parked.iter().map(|(_, p)| p.deadline());
        conns.chain(parked).min()
    }

    /// Reads, handles and writes one connection until it would block.
    fn serve(&mut self, r: &mut Reactor<'_>, slot: usize) {
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
                    self.turn_body(r, Body::Metrics, |s| {
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
    pub(super) fn fpm_park(
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
    fn fpm_answer(&mut self, r: &mut Reactor<'_>, now: Millis) {
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

    /// One audit record (`audit_enabled`): `"audit":true`, the action, its target, the HTTP
    /// status it ended with, and the caller.
    pub(super) fn audit(
        &mut self,
        r: &mut Reactor<'_>,
        action: &str,
        target: &str,
        result: u16,
        peer: Peer,
    ) {
        if !r.config.global.audit {
            return;
        }
        let mut fields = vec![
            ("audit", Field::Bool(true)),
            ("action", Field::Str(action.to_owned())),
            ("target", Field::Str(target.to_owned())),
            ("result", Field::Int(result.into())),
        ];
        fields.extend(peer.fields());
        let level = if result < 400 {
            Level::Info
        } else {
            Level::Warn
        };
        let msg = [action, " ", target, ": ", result.to_string().as_str()].concat();
        r.out.event(level, None, "audit", &msg, &fields);
    }

    /// The audit record of a refused request (401, 403).
    pub(super) fn audit_refusal(
        &mut self,
        r: &mut Reactor<'_>,
        peer: Peer,
        req: &Request,
        resp: &Response,
    ) {
        let action = if resp.status == 401 {
            "auth.failure"
        } else {
            "acl.deny"
        };
        self.audit(r, action, &req.path, resp.status, peer);
    }

    /// 403 for a TCP client that the listener's ACL (`api_acl`, `metrics_acl`) keeps out.
    fn acl_refusal(
        &mut self,
        r: &mut Reactor<'_>,
        service: Service,
        peer: Peer,
        req: &Request,
    ) -> Option<Response> {
        let Peer::Tcp(addr) = peer else { return None };
        let g = &r.config.global;
        let acl = match service {
            #[cfg(feature = "api")]
            Service::Api => g.api.as_ref().and_then(|a| a.acl.as_ref()),
            #[cfg(feature = "metrics")]
            Service::Metrics => g.metrics.as_ref().and_then(|m| m.acl.as_ref()),
        }?;
        // Behind a trusted proxy the client is the first X-Forwarded-For address.
        let forwarded = req
            .forwarded_for
            .as_deref()
            .filter(|_| acl.trust_proxy)
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.split(',').next())
            .and_then(|a| a.trim().parse().ok());
        if acl.allows(forwarded.unwrap_or(addr.ip())) {
            return None;
        }
        let resp = Response::error(403, "access denied: this address is not allowed (ACL)");
        self.audit_refusal(r, peer, req, &resp);
        Some(resp)
    }

    /// Closes every listener and connection; removes Unix sockets we created.
    fn http_stop(&mut self, r: &Reactor<'_>) {
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

/// The TLS settings of a TCP listener and their key's name (`api_tls`, `metrics_tls`).
type Tls = (&'static str, crate::config::model::TlsSettings);
/// A configured endpoint: service, TCP address, Unix socket path, TLS on the TCP address.
type Endpoint = (Service, Option<SocketAddr>, Option<String>, Option<Tls>);

/// The listener for a bound TCP socket: plain, or HTTPS with its certificate loaded now (an
/// unreadable or mismatched file stops the start-up); with the address to log.
fn secure(l: TcpListener, tls: Option<Tls>, bound: SocketAddr) -> Result<(Listen, String), String> {
    match tls {
        None => Ok((Listen::Tcp(l), bound.to_string())),
        #[cfg(feature = "tls")]
        Some((key, t)) => Ok((
            Listen::Tls(l, tls::server_config(&t, key)?),
            ["https://", &bound.to_string()].concat(),
        )),
        // Refused when the configuration loads; said again rather than served in plain text.
        #[cfg(not(feature = "tls"))]
        Some((key, _)) => Err(crate::features::Feature::Tls.unavailable(key)),
    }
}

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

/// Binds a Unix socket that is never, even for an instant, open to other users: the umask
/// makes the kernel create it 0600. A stale socket left by a previous run is removed first;
/// any other file at the path is an error.
fn bind_unix(path: &str) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        Err(_) => {}
    }
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let r = UnixListener::bind(path);
    rustix::process::umask(old);
    r
}
