//! The event loop: one thread, one `mio::Poll`, and the only place that performs IO.
//!
//! Each turn: wait until a source is ready or the earliest deadline → drain ready sources
//! (signalfd, child pipes, pidfds, stdout) → feed the supervisor → run its actions → write
//! output. With nothing due the wait has no timeout: an idle manager does not wake up.

#[cfg(feature = "api")]
mod api;
mod children;
#[cfg(any(feature = "api", feature = "metrics"))]
mod http;
#[cfg(not(any(feature = "api", feature = "metrics")))]
#[path = "http_off.rs"]
mod http;
#[cfg(feature = "heartbeat")]
mod pings;
#[cfg(all(feature = "scheduler", not(feature = "heartbeat")))]
#[path = "no_pings.rs"]
mod pings;
#[cfg(feature = "scheduler")]
mod tasks;
#[cfg(not(feature = "scheduler"))]
#[path = "no_tasks.rs"]
mod tasks;
// Feature glue: the real module when the feature is built, else a stub with the same methods
// (no-ops, or straight on to the core), so the loop below has no feature conditions.
#[cfg(feature = "health")]
mod health;
#[cfg(not(feature = "health"))]
#[path = "health_off.rs"]
mod health;
#[cfg(feature = "hooks")]
mod hooks;
#[cfg(not(feature = "hooks"))]
#[path = "hooks_off.rs"]
mod hooks;
#[cfg(feature = "log-processing")]
mod logs;
#[cfg(not(feature = "log-processing"))]
#[path = "logs_off.rs"]
mod logs;
#[cfg(feature = "health")]
mod net;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::config::model::Config;
use crate::config::model::{Level, LogRules};
use crate::output::{self, Flush, Output, Shaper, ShaperFor, Stream, lines::Lines};
use crate::supervisor::{Action, Event, Field, InstId, Supervisor};
use crate::sys::{self, signals, spawn};
#[allow(unused_imports)] // used by the features that run aux children
pub use children::{AuxDone, AuxId, AuxOwner, AuxSpec};
use children::{AuxSet, Tail};

// Tokens are `(slot << 3) | kind`. Kind 0 holds the fixed sources; features take the others:
// 4 outgoing connections (health probes), 5 listeners and 6 server connections (api, metrics),
// 7 a waker (heartbeat).
const SIGNAL: Token = Token(0);
const STDOUT: Token = Token(1 << 3);
const KIND_PIPE: usize = 1;
const KIND_PIDFD: usize = 2;
const KIND_AUX_PIDFD: usize = 3;
// Kind 7: scheduled tasks' heartbeat waker and clock watch (see `tasks.rs`).
use tasks::KIND_TASKS;
const KIND_LISTENER: usize = 5;
const KIND_CONN: usize = 6;

/// Bytes read from all pipes together per loop turn, so floods cannot starve signals.
const READ_BUDGET: usize = 1024 * 1024;
/// Most bytes read from one pipe when its child exits, past the queue limit: a full pipe
/// buffer (64 KiB by default, at most 1 MiB), but not the endless output of a grandchild that
/// keeps writing to the same pipe.
const DRAIN_LIMIT: usize = 1024 * 1024;
/// Size of the read buffer shared by all pipes.
const READ_CHUNK: usize = 64 * 1024;
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
    Token((slot << 3) | kind)
}

/// Whose child a pid, pipe or pidfd belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Child {
    /// A supervisor instance (a managed process).
    Inst(InstId),
    /// A child with a deadline, owned by a feature.
    Aux(AuxId),
}

struct Pipe {
    fd: OwnedFd,
    owner: Child,
    instance: String,
    process: String,
    stream: Stream,
    lines: Lines,
    shaper: Shaper,
    readable: bool,
    /// Last lines, kept for aux children (their owners quote them in error messages).
    tail: Option<Tail>,
}

impl Pipe {
    /// Cuts `data` into records of this pipe's instance and stream: the one place where child
    /// lines become records.
    fn feed(&mut self, data: &[u8], out: &mut Output<'_>) {
        // One clock read stamps every line of this read.
        out.tick();
        let (i, pr, s, tail) = (&self.instance, &self.process, self.stream, &mut self.tail);
        match &mut self.shaper {
            Shaper::Plain => self.lines.feed(data, &mut |line, partial| {
                out.child_line(i, pr, s, line, partial);
                if let Some(t) = tail.as_mut() {
                    t.push(line);
                }
            }),
            #[cfg(feature = "log-processing")]
            Shaper::Processed(stage) => {
                let (now, before) = (sys::monotonic_ms(), stage.held());
                self.lines.feed(data, &mut |line, partial| {
                    stage.push(line, partial, now, &mut |r| {
                        logs::emit(out, i, pr, s, tail, r)
                    })
                });
                out.held_changed(before, stage.held());
            }
        }
    }

    /// Emits the unfinished last line, if any, and any record still held.
    fn finish(&mut self, out: &mut Output<'_>) {
        out.tick();
        let (i, pr, s, tail) = (&self.instance, &self.process, self.stream, &mut self.tail);
        match &mut self.shaper {
            Shaper::Plain => self.lines.finish(&mut |line, partial| {
                out.child_line(i, pr, s, line, partial);
                if let Some(t) = tail.as_mut() {
                    t.push(line);
                }
            }),
            #[cfg(feature = "log-processing")]
            Shaper::Processed(stage) => {
                let (now, before) = (sys::monotonic_ms(), stage.held());
                self.lines.finish(&mut |line, partial| {
                    stage.push(line, partial, now, &mut |r| {
                        logs::emit(out, i, pr, s, tail, r)
                    })
                });
                stage.finish(&mut |r| logs::emit(out, i, pr, s, tail, r));
                out.held_changed(before, 0);
            }
        }
    }
}

pub struct Reactor<'a> {
    poll: Poll,
    sigfd: OwnedFd,
    out: Output<'a>,
    /// Stdout is a pipe or socket registered for writability.
    out_pollable: bool,
    out_writable: bool,
    pipes: Vec<Option<Pipe>>,
    pidfds: HashMap<InstId, OwnedFd>,
    pids: HashMap<i32, Child>,
    aux: AuxSet,
    /// Aux children that ended (or never started), to hand to their owners this turn.
    aux_done: Vec<AuxDone>,
    sup: Supervisor,
    /// Scheduled tasks (a no-op without feature `scheduler`).
    tasks: tasks::Tasks,
    config: &'a Config,
    base_env: Vec<(OsString, OsString)>,
    pid1: bool,
    buf: Vec<u8>,
    /// Where the next round-robin pass over the pipes starts.
    rr: usize,
    exit: Option<u8>,
    pidfd_missing_noted: bool,
    /// Listeners and connections of the API and metrics endpoints (empty without them).
    #[cfg_attr(not(any(feature = "api", feature = "metrics")), allow(dead_code))]
    http: http::Servers,
    /// Unix time the manager started, in seconds.
    started_unix: f64,
    /// Our pid (asked once: musl does not cache getpid).
    pid: i32,
    #[cfg_attr(not(feature = "health"), allow(dead_code))]
    health: health::Glue,
    #[cfg_attr(not(feature = "hooks"), allow(dead_code))]
    hooks: hooks::Glue,
    /// What children read as stdin, opened once (no file is opened per spawn).
    stdin: spawn::ChildStdin,
    /// Watch children through pidfds (false: `PHPEEK_PM_NO_PIDFD`, or a kernel without them).
    use_pidfd: bool,
}

/// Set to `1` in the manager's environment, makes it behave as on a kernel without pidfd
/// (reaping driven by SIGCHLD alone): a test and diagnostic switch, read once at start-up.
pub const NO_PIDFD_VAR: &str = "PHPEEK_PM_NO_PIDFD";

impl<'a> Reactor<'a> {
    /// Sets up the poll over an already created signalfd and our stdout.
    pub fn new(
        config: &'a Config,
        sigfd: OwnedFd,
        out: Output<'a>,
        pid1: bool,
    ) -> io::Result<Self> {
        let mut out = out;
        // Recent output is kept for the API's logs route only when the API is on.
        out.recent = output::recent::Recent::new(config.global.api.is_some());
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
        let stdin = spawn::ChildStdin::open()?;
        let use_pidfd = std::env::var_os(NO_PIDFD_VAR).is_none_or(|v| v.is_empty() || v == "0");
        let tasks = tasks::Tasks::new(config, poll.registry());
        let mut r = Reactor {
            tasks,
            poll,
            sigfd,
            out,
            out_pollable,
            out_writable: true,
            pipes: Vec::new(),
            pidfds: HashMap::new(),
            pids: HashMap::new(),
            aux: AuxSet::default(),
            aux_done: Vec::new(),
            sup: Supervisor::new(config, sys::seed()),
            config,
            base_env: base_env(config),
            pid1,
            buf: vec![0u8; READ_CHUNK],
            rr: 0,
            exit: None,
            pidfd_missing_noted: false,
            http: http::Servers::default(),
            pid: sys::pid(),
            started_unix: {
                let (s, ms) = sys::realtime();
                s as f64 + f64::from(ms) / 1000.0
            },
            health: health::Glue::new(config),
            hooks: hooks::Glue::new(config),
            stdin,
            use_pidfd,
        };
        if let Some(e) = &r.stdin.fallback {
            let msg = format!("no /dev/null ({e}): children read stdin from an empty pipe");
            r.log(Level::Debug, "stdin_pipe", &msg);
        }
        if !r.use_pidfd {
            r.pidfd_missing_noted = true;
            r.log(
                Level::Warn,
                "no_pidfd",
                &format!("{NO_PIDFD_VAR} is set: not using pidfds, relying on SIGCHLD alone"),
            );
        }
        Ok(r)
    }

    /// Runs until every process is down; returns the exit code.
    pub fn run(mut self) -> u8 {
        let mut events = Events::with_capacity(256);
        // The API listens before anything starts, so a stuck start-up can be inspected.
        if let Err(e) = self.http_start() {
            self.log(Level::Error, "listen_failed", &e);
            self.http_stop();
            self.out.flush_blocking();
            return crate::exit::STARTUP;
        }
        self.begin(sys::monotonic_ms());
        self.run_actions();
        self.tasks_turn();
        self.deliver_aux();
        self.flush();
        loop {
            if let Some(code) = self.exit.filter(|_| self.aux.is_empty()) {
                self.flush_held_logs();
                self.http_stop();
                self.final_sweep();
                self.out.flush_blocking();
                return code;
            }
            let now = sys::monotonic_ms();
            let more_to_read =
                self.out.has_room() && self.pipes.iter().flatten().any(|p| p.readable);
            let timeout = if more_to_read || self.http_busy() {
                Some(std::time::Duration::ZERO)
            } else {
                let next = [
                    self.sup.next_deadline(),
                    self.aux.next_deadline(),
                    self.log_deadline(),
                    self.tasks.next_deadline(),
                    self.http_deadline(),
                    self.health_deadline(),
                    self.hooks_deadline(),
                ]
                .into_iter()
                .flatten()
                .min();
                let mut wait = next.map(|d| d.saturating_sub(now));
                if self.sup.watched_groups().next().is_some() {
                    wait = Some(wait.map_or(GROUP_CHECK_MS, |w| w.min(GROUP_CHECK_MS)));
                }
                wait.map(std::time::Duration::from_millis)
            };
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
                match (t.0 & 7, t.0 >> 3) {
                    _ if t == SIGNAL => reap |= self.read_signals(),
                    _ if t == STDOUT => self.out_writable = true,
                    (KIND_PIPE, slot) => {
                        if let Some(Some(p)) = self.pipes.get_mut(slot) {
                            p.readable = true;
                        }
                    }
                    (KIND_PIDFD | KIND_AUX_PIDFD, _) => reap = true,
                    (KIND_TASKS, slot) => self.task_event(slot),
                    (kind @ (KIND_LISTENER | KIND_CONN), slot) => self.http_event(kind, slot, ev),
                    #[cfg(feature = "health")]
                    (health::KIND_NET, slot) => self.net_ready(slot),
                    _ => {}
                }
            }
            self.read_pipes();
            self.flush_due_logs();
            if reap {
                self.reap();
            }
            self.check_draining();
            self.aux_deadlines();
            self.sup.handle_timeout(sys::monotonic_ms());
            self.run_actions();
            self.health_turn();
            self.hooks_turn();
            self.run_actions();
            self.tasks_turn();
            self.deliver_aux();
            // Requests may start commands (their actions run inside); answers follow the state.
            self.http_turn();
            self.flush();
        }
    }

    /// The status snapshot: the supervisor's view plus the manager's own facts (and, as
    /// features fill them, health, hooks and tasks). Rendered by the API and `/metrics`.
    #[cfg_attr(not(any(feature = "api", feature = "metrics")), allow(dead_code))]
    fn snapshot(&self) -> crate::status::Snapshot {
        let now = sys::monotonic_ms();
        let (s, ms) = sys::realtime();
        let mut snap = self.sup.snapshot(now, s as f64 + f64::from(ms) / 1000.0);
        snap.manager.version = env!("CARGO_PKG_VERSION");
        snap.manager.pid = self.pid;
        snap.manager.start_time_unix = self.started_unix;
        crate::startup::fill(&mut snap.manager);
        self.health_snapshot(&mut snap);
        self.hooks_snapshot(&mut snap);
        self.tasks_snapshot(&mut snap);
        snap
    }

    /// Reads every pending signal; returns whether children may have exited.
    fn read_signals(&mut self) -> bool {
        let mut reap = false;
        while let Some(sig) = signals::read_signal(&self.sigfd) {
            let now = sys::monotonic_ms();
            match sig {
                signals::SIGCHLD => reap = true,
                signals::SIGTERM | signals::SIGINT | signals::SIGQUIT => {
                    let again = self.sup.shutting_down();
                    self.shutdown_signal(sig, now);
                    if again {
                        self.kill_all_aux();
                    }
                }
                signals::SIGHUP | signals::SIGUSR1 | signals::SIGUSR2 | signals::SIGWINCH => {
                    self.sup.handle(Event::Forward { signal: sig }, now);
                }
                _ => {}
            }
        }
        reap
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
            if let Some(fd) = self.pidfds.remove(&inst) {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&fd.as_raw_fd()));
            }
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
            self.health_stopped(inst);
            self.hooks_exited(inst);
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

    fn run_actions(&mut self) {
        while let Some(a) = self.sup.poll_action() {
            match a {
                Action::Spawn(inst) => self.spawn_requested(inst),
                Action::PreStop(inst) => self.run_pre_stop(inst),
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
                Action::Log(n) => {
                    let who = n
                        .inst
                        .map(|i| (self.sup.instance(i).id.as_str(), self.sup.process_name(i)));
                    self.out.event(n.level, who, n.event, &n.msg, &n.fields);
                }
                // Aux children without a deadline would hold the exit forever: the exit stops
                // them (after the post-stop hooks, when there are some).
                Action::Exit(code) => self.exit_requested(code),
            }
        }
    }

    /// A child's environment: ours, then the identity of the user it runs as (like su(1)),
    /// then `env` in order (later pairs win).
    fn child_env<'e>(
        &self,
        credentials: Option<&spawn::Credentials>,
        env: impl IntoIterator<Item = (&'e str, &'e str)>,
    ) -> Vec<(OsString, OsString)> {
        let mut out: Vec<(OsString, OsString)> = self.base_env.clone();
        let mut set = |k: &str, v: &str| {
            out.retain(|(ek, _)| ek != k);
            out.push((k.into(), v.into()));
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
            stdin: &self.stdin,
            pidfd: self.use_pidfd,
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
        let config = self.config;
        let logging = &config.processes[self.sup.instance(inst).process].logging;
        self.watch_pipes(
            child.stdout,
            child.stderr,
            Child::Inst(inst),
            &id,
            &process,
            logging,
        );
        match child.pidfd {
            Some(fd) => {
                self.watch_pidfd(&fd, token(inst, KIND_PIDFD));
                self.pidfds.insert(inst, fd);
            }
            None => self.note_no_pidfd(),
        }
        self.pids.insert(child.pid, Child::Inst(inst));
        self.sup.handle(
            Event::Spawned {
                inst,
                pid: child.pid,
            },
            now,
        );
        self.health_started(inst);
        self.hooks_started(inst);
    }

    /// Registers a child's stdout and stderr pipes with the poll.
    fn watch_pipes(
        &mut self,
        stdout: OwnedFd,
        stderr: OwnedFd,
        owner: Child,
        instance: &str,
        process: &str,
        logging: &LogRules,
    ) {
        for (fd, stream) in [(stdout, Stream::Stdout), (stderr, Stream::Stderr)] {
            let slot = self.free_slot();
            let raw = fd.as_raw_fd();
            if let Err(e) = self.poll.registry().register(
                &mut SourceFd(&raw),
                token(slot, KIND_PIPE),
                Interest::READABLE,
            ) {
                self.log(
                    Level::Error,
                    "register_failed",
                    &format!("cannot watch output of {instance}: {e}"),
                );
                continue;
            }
            self.pipes[slot] = Some(Pipe {
                fd,
                owner,
                instance: instance.to_owned(),
                process: process.to_owned(),
                stream,
                lines: Lines::default(),
                shaper: ShaperFor::shaper(logging, stream),
                readable: true,
                tail: matches!(owner, Child::Aux(_)).then(Tail::default),
            });
        }
    }

    /// Registers a pidfd (if the kernel gave us one; we say once when it did not).
    fn watch_pidfd(&mut self, fd: &OwnedFd, t: Token) {
        let _ =
            self.poll
                .registry()
                .register(&mut SourceFd(&fd.as_raw_fd()), t, Interest::READABLE);
    }

    fn note_no_pidfd(&mut self) {
        if !self.pidfd_missing_noted {
            self.pidfd_missing_noted = true;
            self.log(
                Level::Warn,
                "no_pidfd",
                "no pidfd for a child (a kernel before Linux 5.3, or no free descriptor): \
                 relying on SIGCHLD for it",
            );
        }
    }

    fn free_slot(&mut self) -> usize {
        match self.pipes.iter().position(Option::is_none) {
            Some(s) => s,
            None => {
                self.pipes.push(None);
                self.pipes.len() - 1
            }
        }
    }

    /// Reads readable pipes round-robin, one chunk from each in turn, while the output queue
    /// has room and the turn's budget lasts. When the queue fills, the next turn resumes at the
    /// pipe that was skipped, so a quiet child is never starved by a flooding one.
    fn read_pipes(&mut self) {
        let n = self.pipes.len();
        let mut spent = 0;
        while n > 0 && spent < READ_BUDGET {
            let mut progress = false;
            for k in 0..n {
                let slot = (self.rr + k) % n;
                if !self.pipes[slot].as_ref().is_some_and(|p| p.readable) {
                    continue;
                }
                if !self.out.has_room() {
                    self.flush();
                    if !self.out.has_room() {
                        self.rr = slot;
                        return;
                    }
                }
                let got = self.read_pipe(slot, READ_CHUNK, true);
                spent += got;
                progress |= got > 0;
            }
            if !progress {
                break;
            }
        }
        if n > 0 {
            self.rr = (self.rr + 1) % n;
        }
    }

    /// Reads one pipe until it would block, hits EOF, the budget is spent, or (when
    /// `respect_queue`) the output queue is full. Returns the bytes read.
    fn read_pipe(&mut self, slot: usize, budget: usize, respect_queue: bool) -> usize {
        let mut total = 0;
        loop {
            if total >= budget || (respect_queue && !self.out.has_room()) {
                return total;
            }
            let Some(p) = self.pipes[slot].as_mut() else {
                return total;
            };
            let r = output::read_chunk(p.fd.as_fd(), &mut self.buf);
            let out = &mut self.out;
            match r {
                Ok((output::Read::Data, n)) => {
                    total += n;
                    p.feed(&self.buf[..n], out);
                }
                Ok((output::Read::WouldBlock, _)) => {
                    p.readable = false;
                    return total;
                }
                Ok((output::Read::Eof, _)) | Err(_) => {
                    p.finish(out);
                    // No EPOLL_CTL_DEL: dropping the pipe below closes its only descriptor
                    // (children get it only until their exec: close-on-exec), which removes it
                    // from the epoll set — one system call less per stream at every exit.
                    if let (Child::Aux(a), Some(t)) = (p.owner, p.tail.take()) {
                        self.aux.absorb_tail(a, t);
                    }
                    self.pipes[slot] = None;
                    return total;
                }
            }
        }
    }

    /// Reads whatever a child's pipes hold right now, regardless of the queue limit (the
    /// excess is bounded by `DRAIN_LIMIT`), so its output is written before its exit record.
    fn drain(&mut self, owner: Child) {
        for slot in 0..self.pipes.len() {
            if self.pipes[slot].as_ref().is_some_and(|p| p.owner == owner) {
                let _ = self.read_pipe(slot, DRAIN_LIMIT, false);
                // A grandchild may keep the pipe open: the tail without newline is emitted
                // now, so the exit record follows all of it.
                if let Some(p) = self.pipes[slot].as_mut() {
                    p.finish(&mut self.out);
                    if let (Child::Aux(a), Some(t)) = (p.owner, p.tail.take()) {
                        self.aux.absorb_tail(a, t);
                    }
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.out.pending() == 0 || (self.out_pollable && !self.out_writable) {
            return;
        }
        if self.out.flush() == Flush::WouldBlock {
            self.out_writable = false;
        }
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
        loop {
            if self.pid1 {
                sys::kill_everything();
            } else {
                for c in sys::direct_children() {
                    let _ = sys::signal_process(None, c, signals::SIGKILL);
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
