//! The PHP-FPM part (features `api`, `metrics`): pool status pages asked on the loop. When a
//! scrape of `/metrics` or an API process list comes in, the servers part tells this part
//! ([`Msg::FpmAsk`]); if a running instance is php-fpm with `pm.status_path` set
//! ([`crate::fpm::targets`]), every pool's status page is asked over FastCGI with non-blocking
//! sockets ([`crate::fpm::fastcgi`]) and the request waits. The round ends once every page
//! answered or [`TIMEOUT_MS`] passed — a pool that did not answer shows `up: false`, it never
//! holds the scrape longer. The pages of a round that just ended go into the snapshot of that
//! turn (this part's turn comes before the servers'), then are forgotten: nothing is asked when
//! nobody asks, so an idle manager stays idle.
//!
//! The status-page sockets are this part's tokens (slot = query number in the round).

use std::io::{self, Read, Write};

use mio::Interest;
use mio::net::{TcpStream, UnixStream};

use super::part::{Msg, Part, Reply, Setup};
use super::{Reactor, token};
use crate::config::model::Config;
use crate::fpm::fastcgi::Decoder;
use crate::fpm::{self, Addr, PoolStatus, Target};
use crate::status::Snapshot;
use crate::supervisor::{InstId, Millis};
use crate::sys;

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

pub(super) fn part(config: &Config, setup: &Setup<'_>) -> Box<dyn Part> {
    Box::new(Pools {
        kind: setup.kind,
        targets: vec![None; config.processes.len()],
        running: Vec::new(),
        queries: Vec::new(),
        deadline: None,
        fresh: None,
    })
}

/// The pools' status pages.
struct Pools {
    kind: usize,
    /// Status pages per configured process, found on first use (`None`: not looked yet).
    targets: Vec<Option<Vec<Target>>>,
    /// Running instances of php-fpm processes.
    running: Vec<InstId>,
    queries: Vec<Query>,
    /// The round's end, while one is out.
    deadline: Option<Millis>,
    /// Pages of the round that ended this turn: (instance, page).
    fresh: Option<Vec<(String, PoolStatus)>>,
}

impl Part for Pools {
    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        self.deadline
    }

    fn ready(&mut self, r: &mut Reactor<'_>, slot: usize, _ev: &mio::event::Event) {
        self.event(r, slot);
    }

    /// Ends the round when every page answered or its time is up.
    fn turn(&mut self, r: &mut Reactor<'_>) {
        self.fresh = None;
        let Some(deadline) = self.deadline else {
            return;
        };
        let unanswered = self.queries.iter().any(|q| q.result.is_none());
        if sys::monotonic_ms() < deadline && unanswered {
            return;
        }
        let mut fresh = Vec::new();
        for mut q in std::mem::take(&mut self.queries) {
            if let Some(mut s) = q.sock.take() {
                let _ = r.poll.registry().deregister(s.source());
            }
            let page = q.result.unwrap_or_else(|| down(&q.pool));
            fresh.push((q.instance, page));
        }
        self.deadline = None;
        self.fresh = Some(fresh);
    }

    fn on(&mut self, r: &mut Reactor<'_>, m: &Msg<'_>) -> Option<Reply> {
        match *m {
            Msg::Started(inst) => {
                let p = r.sup.instance(inst).process;
                if fpm::is_fpm(&r.config.processes[p].command) {
                    self.running.push(inst);
                }
                None
            }
            Msg::Exited(inst) => {
                self.running.retain(|i| *i != inst);
                None
            }
            // A request wants pages: wait for this round, or for a new one (none when this
            // turn's are fresh or there is no pool to ask).
            Msg::FpmAsk => {
                if self.fresh.is_some() {
                    return None;
                }
                if self.deadline.is_none() && !self.ask(r) {
                    return None;
                }
                Some(Reply::Done)
            }
            Msg::FpmPending => self.deadline.map(|_| Reply::Done),
            _ => None,
        }
    }

    fn snapshot(&self, _r: &Reactor<'_>, snap: &mut Snapshot) {
        let Some(fresh) = &self.fresh else {
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

    fn close(&mut self, r: &mut Reactor<'_>) {
        for q in &mut self.queries {
            if let Some(mut s) = q.sock.take() {
                let _ = r.poll.registry().deregister(s.source());
            }
        }
    }
}

impl Pools {
    /// Starts a round: one non-blocking connection per page; false when there is none to ask.
    fn ask(&mut self, r: &mut Reactor<'_>) -> bool {
        let mut wanted: Vec<(String, Target)> = Vec::new();
        for &inst in &self.running {
            let i = r.sup.instance(inst);
            if i.pid.is_none() {
                continue;
            }
            let spec = &r.config.processes[i.process];
            let targets = self.targets[i.process].get_or_insert_with(|| {
                fpm::targets(&spec.command, &|p| std::fs::read_to_string(p).ok())
            });
            wanted.extend(targets.iter().map(|t| (i.id.clone(), t.clone())));
        }
        wanted.truncate(MAX_QUERIES);
        if wanted.is_empty() {
            return false;
        }
        self.deadline = Some(sys::monotonic_ms() + TIMEOUT_MS);
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
                    let registered = r.poll.registry().register(
                        s.source(),
                        token(n, self.kind),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    if registered.is_ok() {
                        q.sock = Some(s);
                    } else {
                        q.result = Some(down(&q.pool));
                    }
                }
                Err(_) => q.result = Some(down(&q.pool)),
            }
            self.queries.push(q);
        }
        true
    }

    /// A status-page socket is ready: send what is left of the request, read the answer.
    fn event(&mut self, r: &mut Reactor<'_>, n: usize) {
        let Some(q) = self.queries.get_mut(n) else {
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
        let buf = &mut r.buf[..];
        while !failed && q.written == q.request.len() && q.result.is_none() {
            match sock.read(buf) {
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
                let _ = r.poll.registry().deregister(s.source());
            }
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
