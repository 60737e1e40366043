//! Listening sockets and server connections (token kinds 5 and 6) for the API and metrics
//! endpoints: non-blocking accept, reads and writes on the loop; the HTTP logic itself is the
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

use super::{KIND_CONN, KIND_LISTENER, Reactor, token};
use crate::config::model::Level;
use crate::http::limits::MAX_CONNECTIONS;
use crate::http::{self, Conn, Request, Response};
use crate::status::Snapshot;
use crate::supervisor::{Field, Millis, Supervisor};
use crate::sys;

#[path = "fpm.rs"]
mod fpm;
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
    #[cfg_attr(not(feature = "api"), allow(dead_code))]
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
#[cfg_attr(not(feature = "api"), allow(dead_code))]
pub(super) trait Parked {
    /// The waiting connection: slot and serial.
    fn conn(&self) -> (usize, u64);
    /// The process it acts on (one command per process at a time).
    fn process(&self) -> usize;
    fn deadline(&self) -> Millis;
    /// The answer, once there is one.
    fn check(&self, sup: &Supervisor, now: Millis) -> Option<Response>;
}

/// The HTTP side of the reactor.
#[derive(Default)]
pub(super) struct Servers {
    listeners: Vec<Listener>,
    conns: Vec<Option<Connection>>,
    serial: u64,
    pub(super) parked: Vec<Box<dyn Parked>>,
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
    /// Reads CPU and memory per process group for snapshots (made on first use).
    usage: Option<crate::resources::Scanner>,
    /// PHP-FPM status pages being asked, and the requests waiting for them.
    fpm: fpm::Pools,
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

impl Reactor<'_> {
    /// Binds every configured listener; called before any process starts, so the API answers
    /// while dependencies are still starting. An error stops the start-up.
    pub(super) fn http_start(&mut self) -> Result<(), String> {
        for (service, addr, socket, tls) in self.http_wanted() {
            if let Some(addr) = addr {
                let l = TcpListener::bind(addr).map_err(|e| {
                    format!("cannot listen on {addr} for the {}: {e}", name(service))
                })?;
                let bound = l.local_addr().map_or(addr, |a| a);
                let (listen, at) = secure(l, tls, bound)
                    .map_err(|e| format!("cannot serve the {} over HTTPS: {e}", name(service)))?;
                self.add_listener(listen, service, &at)?;
            }
            if let Some(path) = socket {
                let l = bind_unix(&path).map_err(|e| {
                    format!("cannot listen on {path} for the {}: {e}", name(service))
                })?;
                self.add_listener(Listen::Unix(l, path.clone()), service, &path)?;
            }
        }
        Ok(())
    }

    /// (service, TCP address, Unix socket path, TLS on the TCP address) of each configured
    /// endpoint.
    fn http_wanted(&self) -> Vec<Endpoint> {
        let g = &self.config.global;
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

    fn add_listener(&mut self, mut sock: Listen, service: Service, at: &str) -> Result<(), String> {
        let n = self.http.listeners.len();
        let t = token(n, KIND_LISTENER);
        let r = match &mut sock {
            Listen::Tcp(l) => self.poll.registry().register(l, t, Interest::READABLE),
            Listen::Unix(l, _) => self.poll.registry().register(l, t, Interest::READABLE),
            #[cfg(feature = "tls")]
            Listen::Tls(l, _) => self.poll.registry().register(l, t, Interest::READABLE),
        };
        r.map_err(|e| format!("cannot watch the {} listener: {e}", name(service)))?;
        self.http.listeners.push(Listener {
            sock,
            service,
            open: 0,
        });
        let mut msg = format!("{} listening on {at}", name(service));
        let mut level = Level::Info;
        if let Some(note) = self.exposure_note(service, at) {
            msg.push_str(&note);
            level = Level::Warn;
        }
        self.out.event(
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
    fn exposure_note(&self, service: Service, at: &str) -> Option<String> {
        let unix = at.starts_with('/');
        match service {
            #[cfg(feature = "api")]
            Service::Api => {
                let api = self.config.global.api.as_ref()?;
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
                let _ = unix;
                None
            }
        }
    }

    /// A readiness event for a listener or a connection.
    pub(super) fn http_event(&mut self, kind: usize, slot: usize, ev: &mio::event::Event) {
        if kind == KIND_LISTENER && slot >= fpm::SLOT_BASE {
            self.fpm_event(slot - fpm::SLOT_BASE);
            return;
        }
        if kind == KIND_LISTENER {
            self.accept(slot);
            return;
        }
        if let Some(Some(c)) = self.http.conns.get_mut(slot) {
            c.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
            c.writable |= ev.is_writable() || ev.is_write_closed() || ev.is_error();
            self.http.dirty.push(slot);
        }
    }

    fn accept(&mut self, l: usize) {
        loop {
            let now = sys::monotonic_ms();
            let accepted = match &self.http.listeners[l].sock {
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
                    if !self.http.accept_failing {
                        self.http.accept_failing = true;
                        self.log(
                            Level::Warn,
                            "accept_failed",
                            &format!("cannot accept a connection: {e}"),
                        );
                    }
                    return;
                }
            };
            self.http.accept_failing = false;
            if self.http.listeners[l].open >= MAX_CONNECTIONS && !self.evict_idle(l) {
                // Every slot is serving a request: tell the newcomer, best effort.
                let _ = stream.write(&http::overloaded());
                continue;
            }
            let slot = match self.http.conns.iter().position(Option::is_none) {
                Some(s) => s,
                None => {
                    self.http.conns.push(None);
                    self.http.conns.len() - 1
                }
            };
            if self
                .poll
                .registry()
                .register(
                    stream.source(),
                    token(slot, KIND_CONN),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            self.http.serial += 1;
            self.http.conns[slot] = Some(Connection {
                stream,
                peer,
                http: Conn::new(now),
                listener: l,
                serial: self.http.serial,
                readable: true,
                writable: true,
            });
            self.http.listeners[l].open += 1;
            self.http.dirty.push(slot);
        }
    }

    /// Closes the connection of listener `l` that has been idle longest; false if none is.
    fn evict_idle(&mut self, l: usize) -> bool {
        let victim = self
            .http
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
                self.close_conn(n);
                true
            }
            None => false,
        }
    }

    fn close_conn(&mut self, slot: usize) {
        if let Some(mut c) = self.http.conns[slot].take() {
            let _ = self.poll.registry().deregister(c.stream.source());
            self.http.listeners[c.listener].open -= 1;
        }
    }

    /// After the supervisor's turn: answers parked requests that are done, acts on connection
    /// deadlines, and serves every connection with work.
    pub(super) fn http_turn(&mut self) {
        loop {
            self.http_pass();
            if !std::mem::take(&mut self.http.commands_issued) {
                return;
            }
            // The supervisor's actions for those commands (spawns, signals) may settle a
            // parked request at once (a start whose process is ready as soon as it spawns).
            self.run_actions();
        }
    }

    fn http_pass(&mut self) {
        let now = sys::monotonic_ms();
        self.forget_turn_cache();
        self.fpm_turn(now);
        let mut n = 0;
        while n < self.http.parked.len() {
            match self.http.parked[n].check(&self.sup, now) {
                Some(resp) => {
                    let p = self.http.parked.swap_remove(n);
                    let (slot, serial) = p.conn();
                    if let Some(k) = self.http.audits.iter().position(|a| a.0 == (slot, serial)) {
                        let (_, action, target, peer) = self.http.audits.swap_remove(k);
                        self.audit(&action, &target, resp.status, peer);
                    }
                    if let Some(Some(c)) = self.http.conns.get_mut(slot) {
                        if c.serial == serial {
                            c.http.respond(&resp, now);
                            self.http.dirty.push(slot);
                        }
                    }
                }
                None => n += 1,
            }
        }
        for slot in 0..self.http.conns.len() {
            if let Some(c) = self.http.conns[slot].as_mut() {
                if c.http.next_deadline().is_some_and(|d| d <= now) {
                    if c.http.handle_timeout(now) == http::Outcome::Close {
                        self.close_conn(slot);
                    } else {
                        self.http.dirty.push(slot);
                    }
                }
            }
        }
        // Connections that run out of budget put themselves back for the next turn.
        let mut dirty = std::mem::take(&mut self.http.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty {
            self.serve(slot);
        }
    }

    /// The status snapshot of this turn (made once per turn, on first use).
    pub(super) fn turn_snapshot(&mut self) -> Rc<Snapshot> {
        if let Some(s) = &self.http.turn_snapshot {
            return s.clone();
        }
        let mut snap = self.snapshot();
        self.fill_usage(&mut snap);
        self.fill_pools(&mut snap);
        let s = Rc::new(snap);
        self.http.turn_snapshot = Some(s.clone());
        s
    }

    /// Adds CPU and memory of every running instance's process group, and the manager's own,
    /// read from `/proc` now (within the scanner's bounds), unless `resource_metrics_enabled`
    /// is false.
    fn fill_usage(&mut self, snap: &mut Snapshot) {
        let g = &self.config.global;
        let wanted = g.api.as_ref().is_some_and(|a| a.resources)
            || g.metrics.as_ref().is_some_and(|m| m.resources);
        if !wanted {
            return;
        }
        let scanner = self.http.usage.get_or_insert_with(|| {
            crate::resources::Scanner::new(crate::resources::ProcFs::system())
        });
        snap.manager.own = scanner.fs().own().map(|o| crate::status::OwnView {
            cpu_seconds: o.cpu_seconds,
            rss_bytes: o.rss_bytes,
            vsize_bytes: o.vsize_bytes,
            open_fds: o.open_fds,
            max_fds: o.max_fds,
            threads: o.threads,
        });
        // Each instance runs in its own group, whose id is its leader's pid.
        let groups: Vec<i32> = snap
            .processes
            .iter()
            .flat_map(|p| p.instances.iter().filter_map(|i| i.pid))
            .collect();
        let usage = scanner.usage(&groups, sys::monotonic_ms());
        for i in snap
            .processes
            .iter_mut()
            .flat_map(|p| p.instances.iter_mut())
        {
            i.usage = i
                .pid
                .and_then(|g| usage.get(&g))
                .map(|u| crate::status::UsageView {
                    cpu_seconds: u.cpu_seconds,
                    rss_bytes: u.rss_bytes,
                    processes: u.processes,
                });
        }
    }

    /// A document of this turn, rendered once by `render`.
    pub(super) fn turn_body(&mut self, kind: Body, render: fn(&Snapshot) -> Vec<u8>) -> Vec<u8> {
        let k = kind as usize;
        if let Some(b) = &self.http.turn_bodies[k] {
            return b.clone();
        }
        let b = render(&self.turn_snapshot());
        self.http.turn_bodies[k] = Some(b.clone());
        b
    }

    /// The supervisor's state may have changed: snapshots must be made again.
    pub(super) fn forget_turn_cache(&mut self) {
        self.http.turn_snapshot = None;
        self.http.turn_bodies = Default::default();
    }

    /// The earliest connection or parked-request deadline.
    pub(super) fn http_deadline(&self) -> Option<Millis> {
        let conns = self
            .http
            .conns
            .iter()
            .flatten()
            .filter_map(|c| c.http.next_deadline());
        let parked = self.http.parked.iter().map(|p| p.deadline());
        conns.chain(parked).chain(self.http.fpm.deadline()).min()
    }

    /// Whether connections still have work queued (so the loop must not sleep).
    pub(super) fn http_busy(&self) -> bool {
        !self.http.dirty.is_empty()
    }

    /// Reads, handles and writes one connection until it would block.
    fn serve(&mut self, slot: usize) {
        let mut read_total = 0;
        loop {
            let now = sys::monotonic_ms();
            // 1. Answer what is buffered.
            let mut progress = false;
            loop {
                let Some(c) = self.http.conns.get_mut(slot).and_then(Option::as_mut) else {
                    return;
                };
                let Some(req) = c.http.poll_request(now) else {
                    break;
                };
                let (l, serial, peer) = (c.listener, c.serial, c.peer);
                let service = self.http.listeners[l].service;
                progress = true;
                let resp = match self.acl_refusal(service, peer, &req) {
                    Some(r) => Some(r),
                    None => self.dispatch(service, &req, (slot, serial), peer),
                };
                let Some(resp) = resp else {
                    break;
                };
                match self.http.conns.get_mut(slot).and_then(Option::as_mut) {
                    Some(c) => c.http.respond(&resp, now),
                    None => return,
                }
            }
            let Some(c) = self.http.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            // 2. Write what is queued.
            while c.writable && !c.http.output().is_empty() {
                match c.stream.write(c.http.output()) {
                    Ok(0) => {
                        self.close_conn(slot);
                        return;
                    }
                    Ok(n) => {
                        c.http.wrote(n, now);
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.close_conn(slot);
                        return;
                    }
                }
            }
            if c.writable {
                match c.stream.flush() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(_) => {
                        self.close_conn(slot);
                        return;
                    }
                }
            }
            // The end of the answer, once every byte of it has left.
            if !c.stream.pending() && c.http.take_shutdown() {
                c.stream.shutdown_write();
            }
            if c.http.is_closed() && !c.stream.pending() {
                self.close_conn(slot);
                return;
            }
            // 3. Read more, if it has room.
            if c.readable && c.http.wants_read() && read_total < READ_PER_TURN {
                match c.stream.read(&mut self.buf[..http::limits::MAX_HEAD_BYTES]) {
                    Ok(0) => c.http.peer_closed(),
                    Ok(n) => {
                        read_total += n;
                        c.http.received(&self.buf[..n], now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.close_conn(slot);
                        return;
                    }
                }
                progress = true;
                if c.http.is_closed() {
                    self.close_conn(slot);
                    return;
                }
            } else if c.readable && c.http.wants_read() {
                // Budget spent: continue next turn.
                self.http.dirty.push(slot);
                return;
            }
            if !progress {
                return;
            }
        }
    }

    /// Answers a request now, or parks it (`None`).
    pub(super) fn dispatch(
        &mut self,
        service: Service,
        req: &Request,
        conn: (usize, u64),
        peer: Peer,
    ) -> Option<Response> {
        let _ = (conn, peer);
        match service {
            #[cfg(feature = "api")]
            Service::Api => self.api_request(req, conn, peer),
            #[cfg(feature = "metrics")]
            Service::Metrics => {
                let path = self
                    .config
                    .global
                    .metrics
                    .as_ref()
                    .map_or("/metrics", |m| m.path.as_str());
                let path = path.to_owned();
                // A scrape waits (briefly) for the PHP-FPM pools' status pages.
                let scrape = req.path == path && matches!(req.method, http::Method::Get);
                if scrape && self.fpm_park(service, req, conn, peer) {
                    return None;
                }
                Some(crate::metrics::handle(req, &path, || {
                    self.turn_body(Body::Metrics, |s| {
                        let mut out = Vec::with_capacity(16 * 1024);
                        crate::metrics::render(s, &mut out);
                        out
                    })
                }))
            }
        }
    }

    /// One audit record (`audit_enabled`): `"audit":true`, the action, its target, the HTTP
    /// status it ended with, and the caller.
    pub(super) fn audit(&mut self, action: &str, target: &str, result: u16, peer: Peer) {
        if !self.config.global.api.as_ref().is_some_and(|a| a.audit) {
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
        self.out.event(
            level,
            None,
            "audit",
            &format!("{action} {target}: {result}"),
            &fields,
        );
    }

    /// The audit record of a refused request (401, 403).
    pub(super) fn audit_refusal(
        &mut self,
        service: Service,
        peer: Peer,
        req: &Request,
        resp: &Response,
    ) {
        let _ = service;
        let action = if resp.status == 401 {
            "auth.failure"
        } else {
            "acl.deny"
        };
        self.audit(action, &req.path, resp.status, peer);
    }

    /// 403 for a TCP client that the listener's ACL (`api_acl`, `metrics_acl`) keeps out.
    fn acl_refusal(&mut self, service: Service, peer: Peer, req: &Request) -> Option<Response> {
        let Peer::Tcp(addr) = peer else { return None };
        let g = &self.config.global;
        let acl = match service {
            #[cfg(feature = "api")]
            Service::Api => g.api.as_ref().and_then(|a| a.acl.as_ref()),
            #[cfg(feature = "metrics")]
            Service::Metrics => g.metrics.as_ref().and_then(|m| m.acl.as_ref()),
        }?;
        if acl.permits(addr.ip(), req.forwarded_for.as_deref()) {
            return None;
        }
        let resp = Response::error(403, "access denied: this address is not allowed (ACL)");
        self.audit_refusal(service, peer, req, &resp);
        Some(resp)
    }

    /// Closes every listener and connection; removes Unix sockets we created.
    pub(super) fn http_stop(&mut self) {
        for slot in 0..self.http.conns.len() {
            self.close_conn(slot);
        }
        for l in self.http.listeners.drain(..) {
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
            format!("https://{bound}"),
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
