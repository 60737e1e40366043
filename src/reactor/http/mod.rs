//! The HTTP part (features `api`, `metrics`): listening sockets and server connections for
//! the API and metrics endpoints (one token kind: even slots are listeners, odd ones
//! connections): non-blocking accept, reads and writes on the loop; the HTTP logic itself is the
//! sans-IO [`crate::http::Conn`]. Requests are dispatched to the service of their listener;
//! a request that answers later (an API command) parks its connection as a [`Parked`] entry,
//! checked after every turn against the supervisor's state.
//!
//! Fairness: every connection's buffers are bounded by `http::limits`, so one client costs a
//! bounded amount of work per turn; at [`MAX_CONNECTIONS`](crate::http::limits::MAX_CONNECTIONS)
//! per listener the connection idle for longest is closed for a newcomer (503 when none is idle).
//!
//! This file is the part itself: its state ([`Servers`]), `impl Part` and the turn. The rest of
//! the folder: `listen.rs` opens the listeners and closes them, `accept.rs` takes connections
//! in and closes them, `serve.rs` reads, answers and writes them, `access.rs` holds the ACLs and
//! the audit trail, `stream.rs` the socket types, `tls.rs` HTTPS (feature `tls`). The API's
//! routes are in `reactor/api.rs`.

use std::net::SocketAddr;
use std::rc::Rc;

use self::stream::{Listen, Stream};
use super::Reactor;
use super::part::{Part, Setup};
use crate::config::model::Config;
use crate::http::{self, Conn, Request, Response};
use crate::status::Snapshot;
use crate::supervisor::{Field, Millis, Supervisor};
use crate::sys;

mod accept;
mod access;
mod listen;
mod serve;
mod stream;

// HTTPS connections are this part's connections (same slots, same token kind).
#[cfg(feature = "tls")]
mod tls;

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    #[cfg(feature = "api")]
    Api,
    #[cfg(feature = "metrics")]
    Metrics,
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

/// A request waiting for PHP-FPM status pages (see `reactor/fpm.rs`).
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
}
