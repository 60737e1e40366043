//! The event loop: one thread, one `mio::Poll`, and the only place that performs IO.
//!
//! Each turn: wait until a source is ready or the earliest deadline → drain ready sources
//! (signalfd, child pipes, stdout) → feed the supervisor → run its actions → write
//! output. With nothing due the wait has no timeout: an idle manager does not wake up.

#[cfg(feature = "api")]
mod api;
mod children;
#[cfg(any(feature = "api", feature = "metrics"))]
mod fpm;
#[cfg(feature = "health")]
mod health;
#[cfg(feature = "hooks")]
mod hooks;
#[cfg(any(feature = "api", feature = "metrics"))]
mod http;
#[cfg(feature = "log-processing")]
mod logs;
#[cfg(feature = "health")]
mod net;
mod part;
#[cfg(feature = "heartbeat")]
mod pings;
mod pipes;
mod registry;
mod reload;
#[cfg(any(feature = "api", feature = "metrics"))]
mod resources;
#[cfg(feature = "scheduler")]
mod tasks;
mod watch;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::config::model::{Config, Level};
use crate::output::{Flush, Output, ShaperFor, Stream};
use crate::supervisor::{Action, Event, Field, InstId, Note, Supervisor};
use crate::sys::{self, signals, spawn};
use children::{AuxDone, AuxId, AuxSet, Tail};
use part::{Msg, Part};
use pipes::{Pipe, READ_CHUNK};

// Tokens are `(slot << KIND_BITS) | kind`. The loop's own kinds come first; every part owns
// one kind after them (`FIRST_PART_KIND + its place in the list`) and numbers its slots itself.
const KIND_BITS: usize = 5;
const SIGNAL: Token = Token(0);
const STDOUT: Token = Token(1 << KIND_BITS);
const KIND_PIPE: usize = 1;
const FIRST_PART_KIND: usize = 2;

/// While a process group is watched for emptiness, how often it is checked. Its members are
/// not necessarily our children (no SIGCHLD tells us when the last one goes, e.g. when we could
/// not become a subreaper), so this is polled — only in that state, never when idle.
const GROUP_CHECK_MS: u64 = 100;
/// How long the final sweep waits for killed processes to be reaped.
const FINAL_REAP_MS: u64 = 3_000;

/// The manager's environment with the configuration's `child_env` on top.
fn base_env(config: &Config) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for (k, v) in &config.child_env {
        env.retain(|(ek, _)| ek != k.as_str());
        env.push((k.into(), v.into()));
    }
    env
}

fn token(slot: usize, kind: usize) -> Token {
    Token((slot << KIND_BITS) | kind)
}

/// Whose child a pid or pipe belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Child {
    /// A supervisor instance (a managed process).
    Inst(InstId),
    /// A child with a deadline, owned by a feature.
    Aux(AuxId),
}

pub struct Reactor<'a> {
    poll: Poll,
    sigfd: OwnedFd,
    out: Output<'a>,
    /// Stdout is a pipe or socket registered for writability.
    out_pollable: bool,
    out_writable: bool,
    pipes: Vec<Option<Pipe>>,
    /// Pipes of managed processes finished during the shutdown, with their slots. Freeing a
    /// pipe is kernel work (about 2 to 3 µs each here), and what is still open when the last
    /// process has gone is freed by the exit, on the path to it: so these are closed after
    /// each reaping round while other processes are still stopping (their exits keep the other
    /// CPU busy meanwhile), and only the last round's are left to the exit, which closes them
    /// after the epoll instance (a lower descriptor) instead of one `close` each. Measured over
    /// the shutdown of 50 children: the exit's own share fell from 0.36 to 0.10-0.19 ms.
    /// A kept pipe is still in the epoll set under its slot's token, so its slot is not reused
    /// (`free_slot`). An instance is spawned at most once after the shutdown began (one whose
    /// pre-start hook was still running), so what is held stays within what the processes had
    /// open; the pipes of hooks and probes, which may run many times, are closed as ever.
    close_at_exit: Vec<(usize, OwnedFd)>,
    pids: HashMap<i32, Child>,
    aux: AuxSet,
    /// Aux children that ended (or never started), to hand to their owners this turn.
    aux_done: Vec<AuxDone>,
    sup: Supervisor,
    /// The features on the loop (see `part.rs`); a slot is empty while its part runs.
    parts: registry::Parts,
    /// The running configuration, swapped by a live reload (`reload.rs`); process indices
    /// into it are the supervisor's and never move.
    config: Rc<Config>,
    base_env: Vec<(OsString, OsString)>,
    pid1: bool,
    buf: Vec<u8>,
    /// Where the next round-robin pass over the pipes starts.
    rr: usize,
    exit: Option<u8>,
    /// Unix time the manager started, in seconds.
    started_unix: f64,
    /// Our pid (asked once: musl does not cache getpid).
    pid: i32,
    /// What every child gets alike (its stdin, whether it starts a session), set up once.
    child_base: spawn::ChildBase,
}

impl<'a> Reactor<'a> {
    /// Sets up the poll over an already created signalfd and our stdout.
    pub fn new(
        config: Rc<Config>,
        sigfd: OwnedFd,
        out: Output<'a>,
        pid1: bool,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&sigfd.as_raw_fd()),
            SIGNAL,
            Interest::READABLE,
        )?;
        let out_pollable = sys::fd_kind(out.fd()) == sys::FdKind::Stream
            && poll
                .registry()
                .register(
                    &mut SourceFd(&out.fd().as_raw_fd()),
                    STDOUT,
                    Interest::WRITABLE,
                )
                .is_ok();
        let child_base = spawn::ChildBase::open()?;
        let parts = registry::build(&config, poll.registry(), FIRST_PART_KIND);
        let mut r = Reactor {
            parts,
            poll,
            sigfd,
            out,
            out_pollable,
            out_writable: true,
            pipes: Vec::new(),
            close_at_exit: Vec::new(),
            pids: HashMap::new(),
            aux: AuxSet::default(),
            aux_done: Vec::new(),
            sup: Supervisor::new(&config, sys::seed()),
            base_env: base_env(&config),
            config,
            pid1,
            buf: vec![0u8; READ_CHUNK],
            rr: 0,
            exit: None,
            pid: sys::pid(),
            started_unix: {
                let (s, ms) = sys::realtime();
                s as f64 + f64::from(ms) / 1000.0
            },
            child_base,
        };
        if let Some(e) = &r.child_base.stdin.fallback {
            let msg = format!("no /dev/null ({e}): children read stdin from an empty pipe");
            r.log(Level::Debug, "stdin_pipe", &msg);
        }
        Ok(r)
    }

    /// Runs until every process is down; returns the exit code.
    pub fn run(mut self) -> u8 {
        let mut events = Events::with_capacity(256);
        // Parts open before anything starts (listeners bind, so a stuck start-up can be
        // inspected); one that cannot ends the start-up.
        if let Err((event, e)) = self.open_parts() {
            self.log(Level::Error, event, &e);
            self.close_parts();
            self.out.flush_blocking();
            return crate::exit::STARTUP;
        }
        self.sup.start(sys::monotonic_ms());
        self.run_actions();
        self.turn_parts();
        self.flush();
        loop {
            if let Some(code) = self.exit.filter(|_| self.aux.is_empty()) {
                self.close_parts();
                self.final_sweep();
                self.out.flush_blocking();
                // The process ends next: freeing the loop's buffers and closing its
                // descriptors one by one is work the kernel does at exit anyway (with musl,
                // each freed buffer was an `munmap`). Parts were closed above; nothing of ours
                // has a `Drop` that does more than free.
                std::mem::forget(self);
                std::mem::forget(events);
                return code;
            }
            let timeout = self.wait_time();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.log(
                        Level::Error,
                        "poll_failed",
                        &format!("event loop wait failed: {e}"),
                    );
                }
                continue;
            }
            let mut reap = false;
            for ev in events.iter() {
                let t = ev.token();
                match (t.0 & ((1 << KIND_BITS) - 1), t.0 >> KIND_BITS) {
                    _ if t == SIGNAL => reap |= self.read_signals(),
                    _ if t == STDOUT => self.out_writable = true,
                    (KIND_PIPE, slot) => {
                        if let Some(Some(p)) = self.pipes.get_mut(slot) {
                            p.ready(ev);
                        }
                    }
                    (kind, slot) => self.part_ready(kind - FIRST_PART_KIND, slot, ev),
                }
            }
            self.read_pipes();
            if reap {
                self.reap();
            }
            self.check_draining();
            self.aux_deadlines();
            self.sup.handle_timeout(sys::monotonic_ms());
            self.run_actions();
            self.turn_parts();
            self.flush();
        }
    }

    /// How long the next wait may last: not at all while there is work queued, else until
    /// the earliest deadline of the supervisor, the aux children and the parts.
    fn wait_time(&self) -> Option<std::time::Duration> {
        let now = sys::monotonic_ms();
        if self.more_to_read() || self.parts.iter().flatten().any(|p| p.busy()) {
            return Some(std::time::Duration::ZERO);
        }
        let parts = self
            .parts
            .iter()
            .flatten()
            .filter_map(|p| p.next_deadline(self));
        let next = [self.sup.next_deadline(), self.aux.next_deadline()]
            .into_iter()
            .flatten()
            .chain(parts)
            .chain(self.pipes_due())
            .min();
        let mut wait = next.map(|d| d.saturating_sub(now));
        if self.sup.watched_groups().next().is_some() {
            wait = Some(wait.map_or(GROUP_CHECK_MS, |w| w.min(GROUP_CHECK_MS)));
        }
        wait.map(std::time::Duration::from_millis)
    }

    /// Runs `f` on part `id`, taken out of the list meanwhile (so it may borrow the reactor).
    fn with_part<T>(
        &mut self,
        id: usize,
        f: impl FnOnce(&mut dyn Part, &mut Self) -> T,
    ) -> Option<T> {
        let mut p = self.parts.get_mut(id)?.take()?;
        let out = f(&mut *p, self);
        self.parts[id] = Some(p);
        Some(out)
    }

    fn open_parts(&mut self) -> Result<(), (&'static str, String)> {
        for id in 0..self.parts.len() {
            self.with_part(id, |p, r| p.open(r)).unwrap_or(Ok(()))?;
        }
        Ok(())
    }

    /// Every part's turn, in order; the supervisor's actions and finished aux children are
    /// handled after each (a part's work may start supervisor work, and the next part sees it).
    fn turn_parts(&mut self) {
        for id in 0..self.parts.len() {
            self.with_part(id, |p, r| p.turn(r));
            self.run_actions();
            self.deliver_aux();
        }
        self.deliver_aux();
    }

    fn part_ready(&mut self, id: usize, slot: usize, ev: &mio::event::Event) {
        self.with_part(id, |p, r| p.ready(r, slot, ev));
    }

    fn close_parts(&mut self) {
        for id in 0..self.parts.len() {
            self.with_part(id, |p, r| p.close(r));
        }
    }

    /// Tells the parts, in order, until one answers.
    fn tell(&mut self, m: &Msg<'_>) -> Option<part::Reply> {
        (0..self.parts.len()).find_map(|id| self.with_part(id, |p, r| p.on(r, m)).flatten())
    }

    /// The status snapshot: the supervisor's view plus the manager's own facts and what each
    /// part adds. Rendered as JSON and as Prometheus text by the part that serves them.
    // Only that part renders a snapshot. This is the root of everything the status types hold,
    // so builds without that part keep it instead of one allowance per field.
    #[cfg_attr(not(any(feature = "api", feature = "metrics")), allow(dead_code))]
    fn snapshot(&self) -> crate::status::Snapshot {
        let now = sys::monotonic_ms();
        let (s, ms) = sys::realtime();
        let mut snap = self.sup.snapshot(now, s as f64 + f64::from(ms) / 1000.0);
        snap.manager.version = env!("CARGO_PKG_VERSION");
        snap.manager.pid = self.pid;
        snap.manager.start_time_unix = self.started_unix;
        crate::startup::fill(&mut snap.manager);
        for p in self.parts.iter().flatten() {
            p.snapshot(self, &mut snap);
        }
        // Processes removed by a reload keep their index (the parts above rely on it) but
        // are nobody's business any more.
        let live = self.sup.live_processes();
        let mut index = 0;
        snap.processes.retain(|_| {
            index += 1;
            live.get(index - 1).copied().unwrap_or(true)
        });
        snap
    }

    /// Reads every pending signal; returns whether children may have exited.
    fn read_signals(&mut self) -> bool {
        let mut reap = false;
        let mut batch = [0; signals::BATCH];
        loop {
            let got = signals::read_signals(&self.sigfd, &mut batch);
            for &sig in &batch[..got] {
                reap |= self.on_signal(sig);
            }
            // A short batch emptied the queue: no second read just to see EAGAIN.
            if got < signals::BATCH {
                return reap;
            }
        }
    }

    /// Hands one signal to the supervisor; returns whether children may have exited.
    fn on_signal(&mut self, sig: i32) -> bool {
        let now = sys::monotonic_ms();
        match sig {
            signals::SIGCHLD => return true,
            signals::SIGTERM | signals::SIGINT | signals::SIGQUIT => {
                let again = self.sup.shutting_down();
                self.sup.handle(Event::ShutdownSignal { signal: sig }, now);
                if again {
                    self.kill_all_aux();
                }
            }
            signals::SIGHUP | signals::SIGUSR1 | signals::SIGUSR2 | signals::SIGWINCH => {
                self.sup.handle(Event::Forward { signal: sig }, now);
            }
            _ => {}
        }
        false
    }

    /// Reaps every ended child: managed ones are reported (after their pipes are drained),
    /// orphans are just collected.
    fn reap(&mut self) {
        while let Some((pid, status)) = sys::reap_one() {
            let inst = match self.pids.remove(&pid) {
                Some(Child::Inst(i)) => i,
                Some(Child::Aux(a)) => {
                    self.reaped_aux(a, pid, status);
                    continue;
                }
                None => continue,
            };
            // Everything the child wrote before it exited is in its pipes now.
            self.drain(Child::Inst(inst));
            let group_alive = sys::group_alive(pid);
            self.sup.handle(
                Event::Exited {
                    inst,
                    status,
                    group_alive,
                },
                sys::monotonic_ms(),
            );
            self.tell(&Msg::Exited(inst));
        }
        // Others still stopping: this round's finished pipes are freed now, beside their exits.
        if !self.close_at_exit.is_empty() && self.pids.values().any(|c| matches!(c, Child::Inst(_)))
        {
            self.close_at_exit.clear();
        }
    }

    fn check_draining(&mut self) {
        let empty: Vec<InstId> = self
            .sup
            .watched_groups()
            .filter(|(_, g)| !sys::group_alive(*g))
            .map(|(i, _)| i)
            .collect();
        for inst in empty {
            self.sup
                .handle(Event::GroupEmpty { inst }, sys::monotonic_ms());
        }
    }

    /// Carries out the supervisor's actions, in order; those the loop does not do itself go
    /// to the parts (one that no part takes gets the supervisor's default answer).
    fn run_actions(&mut self) {
        while let Some(a) = self.sup.poll_action() {
            match a {
                Action::Spawn(inst) => self.spawn(inst),
                Action::SignalGroup { pgid, signal } => {
                    if let Err(e) = sys::signal_group(pgid, signal) {
                        if e.raw_os_error() != Some(3) {
                            self.log(
                                Level::Warn,
                                "signal_failed",
                                &format!(
                                    "could not send {} to group {pgid}: {e}",
                                    signals::name(signal)
                                ),
                            );
                        }
                    }
                }
                Action::Log(n) => self.note(&n),
                // Aux children without a deadline would hold the exit forever: the exit stops
                // them.
                Action::Exit(code) => {
                    self.exit = Some(code);
                    self.stop_open_ended_aux();
                }
                other => {
                    if self.tell(&Msg::Action(&other)).is_none() {
                        if let Some(answer) = other.unanswered() {
                            self.sup.handle(answer, sys::monotonic_ms());
                        }
                    }
                }
            }
        }
    }

    /// A child's environment: ours, then the identity of the user it runs as (like su(1)),
    /// then `env` in order (later pairs win).
    fn child_env<'e>(
        &'e self,
        credentials: Option<&'e spawn::Credentials>,
        env: impl IntoIterator<Item = (&'e str, &'e str)>,
    ) -> Vec<(&'e OsStr, &'e OsStr)> {
        let mut out: Vec<(&OsStr, &OsStr)> = Vec::with_capacity(self.base_env.len() + 8);
        out.extend(
            self.base_env
                .iter()
                .map(|(k, v)| (k.as_os_str(), v.as_os_str())),
        );
        let mut set = |k: &'e str, v: &'e str| {
            out.retain(|(ek, _)| *ek != k);
            out.push((OsStr::new(k), OsStr::new(v)));
        };
        if let Some(c) = credentials {
            if let Some(n) = &c.name {
                set("USER", n);
                set("LOGNAME", n);
            }
            if let Some(h) = &c.home {
                set("HOME", h);
            }
        }
        for (k, v) in env {
            set(k, v);
        }
        out
    }

    fn spawn(&mut self, inst: InstId) {
        let now = sys::monotonic_ms();
        let spec = &self.config.processes[self.sup.instance(inst).process];
        let id = self.sup.instance(inst).id.clone();
        let env = self.child_env(
            spec.credentials.as_ref(),
            spec.env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([
                    ("PHPEEK_PM_PROCESS_NAME", spec.name.as_str()),
                    ("PHPEEK_PM_INSTANCE_ID", id.as_str()),
                ]),
        );
        let result = spawn::spawn(&spawn::SpawnSpec {
            argv: &spec.command,
            env: &env,
            cwd: spec.working_dir.as_deref(),
            credentials: spec.credentials.as_ref(),
            base: &self.child_base,
            capture: spawn::Capture {
                stdout: spec.logging.wanted(Stream::Stdout),
                stderr: spec.logging.wanted(Stream::Stderr),
            },
        });
        let child = match result {
            Ok(c) => c,
            Err(e) => {
                let error = e.to_string();
                self.sup.handle(Event::SpawnFailed { inst, error }, now);
                return;
            }
        };
        let process = spec.name.clone();
        let config = Rc::clone(&self.config);
        let logging = &config.processes[self.sup.instance(inst).process].logging;
        self.watch_pipes(
            child.stdout,
            child.stderr,
            Child::Inst(inst),
            &id,
            &process,
            logging,
        );
        self.pids.insert(child.pid, Child::Inst(inst));
        self.sup.handle(
            Event::Spawned {
                inst,
                pid: child.pid,
            },
            now,
        );
        self.tell(&Msg::Started(inst));
    }

    fn flush(&mut self) {
        if self.out.pending() == 0 || (self.out_pollable && !self.out_writable) {
            return;
        }
        if self.out.flush() == Flush::WouldBlock {
            self.out_writable = false;
        }
    }

    /// Logs a component's note, naming its instance (if it has one).
    fn note(&mut self, n: &Note) {
        let who = n
            .inst
            .map(|i| (self.sup.instance(i).id.as_str(), self.sup.process_name(i)));
        self.out.event(n.level, who, n.event, &n.msg, &n.fields);
    }

    fn log(&mut self, level: Level, event: &str, msg: &str) {
        self.out.event(level, None, event, msg, &[]);
    }

    /// Makes sure nothing we started outlives us, then reaps it. As PID 1 that is everything
    /// in the namespace. As a subreaper it is our remaining children — every process left from
    /// our groups has been re-parented to us by now — signalled by pid, never by a group id the
    /// kernel may have handed to a stranger.
    fn final_sweep(&mut self) {
        let deadline = sys::monotonic_ms() + FINAL_REAP_MS;
        let mut reaped = 0u64;
        // Asked first, because the usual answer is "none": as PID 1, no child left means no
        // process of ours left in the namespace (every one descends from us, and orphans come
        // back to us; what `nsenter`/`docker exec` put in from outside the kernel kills when we
        // exit), and as a subreaper, nothing re-parented to us. Then the sweep has nothing to
        // kill — and `kill(-1)` would walk every task on the host to find that out.
        loop {
            if !sys::children_remain() {
                break;
            }
            if self.pid1 {
                sys::kill_everything();
            } else {
                for c in sys::direct_children() {
                    let _ = sys::signal_process(c, signals::SIGKILL);
                }
            }
            while sys::reap_one().is_some() {
                reaped += 1;
            }
            if !sys::children_remain() || sys::monotonic_ms() >= deadline {
                break;
            }
            let mut fds = [rustix::event::PollFd::new(
                &self.sigfd,
                rustix::event::PollFlags::IN,
            )];
            let t = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            };
            let _ = rustix::event::poll(&mut fds, Some(&t));
            while signals::read_signal(&self.sigfd).is_some() {}
        }
        if reaped > 0 {
            self.out.event(
                Level::Debug,
                None,
                "final_sweep",
                "reaped remaining processes",
                &[("count", Field::Int(reaped as i64))],
            );
        }
    }
}
