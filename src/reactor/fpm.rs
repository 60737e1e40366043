//! PHP-FPM pool status on the loop: when a scrape of `/metrics` or an API process list comes
//! in and a running instance is php-fpm with `pm.status_path` set ([`crate::fpm::targets`]),
//! the request is parked, every pool's status page is asked over FastCGI with non-blocking
//! sockets ([`crate::fpm::fastcgi`]), and the request is answered once every page answered or
//! [`TIMEOUT_MS`] passed — a pool that did not answer shows `up: false`, it never holds the
//! scrape longer. Requests arriving while a round is out wait for that round; nothing is asked
//! when nobody asks (an idle manager stays idle).
//!
//! Sockets use the listener token kind with slots from [`SLOT_BASE`] (listeners are few), so
//! the loop's token layout is unchanged.

use std::io::{self, Read, Write};

use mio::Interest;
use mio::net::{TcpStream, UnixStream};

use super::{Peer, Service};
use crate::fpm::fastcgi::Decoder;
use crate::fpm::{self, Addr, PoolStatus, Target};
use crate::http::Request;
use crate::reactor::{KIND_LISTENER, Reactor, token};
use crate::status::Snapshot;
use crate::supervisor::Millis;
use crate::sys;

/// First listener-kind slot used by status-page sockets.
pub(super) const SLOT_BASE: usize = 1 << 20;
/// How long a round may take: well inside a Prometheus scrape timeout, and the `/metrics`
/// answer of a busy pool still comes within a second.
const TIMEOUT_MS: u64 = 500;
/// Most status pages asked in one round.
const MAX_QUERIES: usize = 32;

enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Sock {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Sock::Tcp(s) => s,
            Sock::Unix(s) => s,
        }
    }

    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(b),
            Sock::Unix(s) => s.read(b),
        }
    }

    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(b),
            Sock::Unix(s) => s.write(b),
        }
    }
}

/// One status page being asked.
struct Query {
    instance: String,
    pool: String,
    sock: Option<Sock>,
    request: Vec<u8>,
    written: usize,
    answer: Decoder,
    result: Option<PoolStatus>,
}

/// A request waiting for the round's answers.
pub(super) struct Waiting {
    conn: (usize, u64),
    service: Service,
    req: Request,
    peer: Peer,
}

/// The PHP-FPM side of the HTTP servers.
#[derive(Default)]
pub(super) struct Pools {
    /// Status pages per configured process, found on first use (`None`: not looked yet).
    targets: Vec<Option<Vec<Target>>>,
    queries: Vec<Query>,
    deadline: Option<Millis>,
    /// Pages of the round that just ended: (instance, page), for this pass's snapshots.
    fresh: Option<Vec<(String, PoolStatus)>>,
    waiting: Vec<Waiting>,
}

impl Pools {
    pub(super) fn deadline(&self) -> Option<Millis> {
        self.deadline
    }
}

impl Reactor<'_> {
    /// The status pages of every running php-fpm instance.
    fn fpm_wanted(&mut self, snap: &Snapshot) -> Vec<(String, Target)> {
        let specs = &self.config.processes;
        let pools = &mut self.http.fpm;
        pools.targets.resize(specs.len(), None);
        let mut out = Vec::new();
        for (n, spec) in specs.iter().enumerate() {
            if !fpm::is_fpm(&spec.command) {
                continue;
            }
            let targets = pools.targets[n].get_or_insert_with(|| {
                fpm::targets(&spec.command, &|p| std::fs::read_to_string(p).ok())
            });
            let Some(view) = snap.processes.iter().find(|p| p.name == spec.name) else {
                continue;
            };
            for i in view.instances.iter().filter(|i| i.pid.is_some()) {
                for t in targets.iter() {
                    out.push((i.id.clone(), t.clone()));
                }
            }
        }
        out.truncate(MAX_QUERIES);
        out
    }

    /// Parks `req` until the pools have answered, when there are pools to ask and this pass
    /// has no fresh answers; false: answer now.
    pub(in crate::reactor) fn fpm_park(
        &mut self,
        service: Service,
        req: &Request,
        conn: (usize, u64),
        peer: Peer,
    ) -> bool {
        if self.http.fpm.fresh.is_some() {
            return false;
        }
        if self.http.fpm.deadline.is_none() {
            let snap = self.snapshot();
            let wanted = self.fpm_wanted(&snap);
            if wanted.is_empty() {
                return false;
            }
            self.fpm_ask(wanted);
        }
        self.http.fpm.waiting.push(Waiting {
            conn,
            service,
            req: req.clone(),
            peer,
        });
        true
    }

    /// Starts a round: one non-blocking connection per page.
    fn fpm_ask(&mut self, wanted: Vec<(String, Target)>) {
        let now = sys::monotonic_ms();
        self.http.fpm.deadline = Some(now + TIMEOUT_MS);
        for (n, (instance, t)) in wanted.into_iter().enumerate() {
            let sock = match &t.addr {
                Addr::Tcp(a) => TcpStream::connect(*a).map(Sock::Tcp),
                Addr::Unix(p) => UnixStream::connect(p).map(Sock::Unix),
            };
            let mut q = Query {
                instance,
                pool: t.pool.clone(),
                sock: None,
                request: fpm::fastcgi::request(&t.path, "json"),
                written: 0,
                answer: Decoder::default(),
                result: None,
            };
            match sock {
                Ok(mut s) => {
                    let t = token(SLOT_BASE + n, KIND_LISTENER);
                    let r = self.poll.registry().register(
                        s.source(),
                        t,
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    if r.is_ok() {
                        q.sock = Some(s);
                    } else {
                        q.result = Some(down(&q.pool));
                    }
                }
                Err(_) => q.result = Some(down(&q.pool)),
            }
            self.http.fpm.queries.push(q);
        }
    }

    /// A status-page socket is ready: send what is left of the request, read the answer.
    pub(super) fn fpm_event(&mut self, n: usize) {
        let Some(q) = self.http.fpm.queries.get_mut(n) else {
            return;
        };
        let Some(sock) = q.sock.as_mut() else { return };
        let mut failed = false;
        while q.written < q.request.len() {
            match sock.write(&q.request[q.written..]) {
                Ok(0) => failed = true,
                Ok(k) => q.written += k,
                // Still connecting, or the socket is full: the next event continues.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => failed = true,
            }
            break;
        }
        let mut buf = [0u8; 8192];
        while !failed && q.written == q.request.len() && q.result.is_none() {
            match sock.read(&mut buf) {
                Ok(0) => failed = true,
                Ok(k) => match q.answer.push(&buf[..k]) {
                    Ok(true) => {
                        q.result = Some(
                            q.answer
                                .body()
                                .and_then(fpm::parse_status)
                                .unwrap_or_else(|| down(&q.pool)),
                        );
                    }
                    Ok(false) => {}
                    Err(_) => failed = true,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => failed = true,
            }
        }
        if failed && q.result.is_none() {
            q.result = Some(down(&q.pool));
        }
        if q.result.is_some() {
            if let Some(mut s) = q.sock.take() {
                let _ = self.poll.registry().deregister(s.source());
            }
        }
    }

    /// Ends the round when every page answered or its time is up, then answers the requests
    /// that waited for it. Called at the start of every HTTP pass.
    pub(super) fn fpm_turn(&mut self, now: Millis) {
        let pools = &mut self.http.fpm;
        pools.fresh = None;
        let Some(deadline) = pools.deadline else {
            return;
        };
        if now < deadline && pools.queries.iter().any(|q| q.result.is_none()) {
            return;
        }
        let mut fresh = Vec::new();
        for mut q in std::mem::take(&mut pools.queries) {
            if let Some(mut s) = q.sock.take() {
                let _ = self.poll.registry().deregister(s.source());
            }
            let page = q.result.unwrap_or_else(|| down(&q.pool));
            fresh.push((q.instance, page));
        }
        pools.deadline = None;
        pools.fresh = Some(fresh);
        self.forget_turn_cache();
        for w in std::mem::take(&mut self.http.fpm.waiting) {
            let Some(resp) = self.dispatch(w.service, &w.req, w.conn, w.peer) else {
                continue;
            };
            let (slot, serial) = w.conn;
            if let Some(Some(c)) = self.http.conns.get_mut(slot) {
                if c.serial == serial {
                    c.http.respond(&resp, now);
                    self.http.dirty.push(slot);
                }
            }
        }
    }

    /// Adds the pages of the round that just ended to a snapshot.
    pub(super) fn fill_pools(&self, snap: &mut Snapshot) {
        let Some(fresh) = &self.http.fpm.fresh else {
            return;
        };
        for i in snap
            .processes
            .iter_mut()
            .flat_map(|p| p.instances.iter_mut())
        {
            i.pools = fresh
                .iter()
                .filter(|(id, _)| *id == i.id)
                .map(|(_, p)| p.clone())
                .collect();
        }
    }
}

/// A page that did not answer.
fn down(pool: &str) -> PoolStatus {
    PoolStatus {
        pool: pool.to_owned(),
        ..Default::default()
    }
}
