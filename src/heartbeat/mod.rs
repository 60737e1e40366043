//! Heartbeat pings (feature `heartbeat`): a dead-man's switch for scheduled tasks, in the
//! protocol healthchecks.io documents and Cronitor and Better Uptime accept — `<url>/start`
//! when a run starts, `<url>` when it succeeds, `<url>/fail` (exit code in the body) when it
//! fails.
//!
//! [`Pinger`] is the sans-IO part: a bounded queue of pings, at most one ping in flight per
//! task (so `/start` always reaches the receiver before the run's result), at most
//! [`MAX_IN_FLIGHT`] in flight overall, and counters. The HTTP client ([`client`]) blocks, so it
//! never runs on the event loop: [`send::spawn`] runs each ping on a short-lived helper thread
//! — the one place in phpeek-pm where a thread is allowed — which hands its result back through
//! a channel and wakes the loop with a `mio::Waker`. A receiver that hangs or refuses costs a
//! logged, counted failure and nothing else.

pub mod client;
pub mod send;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "no_tls.rs"]
mod tls;

use std::collections::VecDeque;

use crate::config::task::HeartbeatSpec;
use crate::scheduler::{Ping, TaskId};

/// Pings waiting to be sent, across all tasks; beyond it new pings are dropped (and counted).
pub const MAX_PENDING: usize = 64;
/// Helper threads at once: receivers that hang tie up at most this many.
pub const MAX_IN_FLIGHT: usize = 4;

/// One ping to send, with everything the helper thread needs (it shares nothing).
#[derive(Clone, Debug)]
pub struct Job {
    pub task: TaskId,
    pub run: u64,
    pub ping: Ping,
    pub url: String,
    pub method: &'static str,
    /// `exit_code=<n>` for a failure ping sent with POST or PUT.
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u64,
    pub attempts: u32,
    pub retry_delay_ms: u64,
    pub ca_pem: Option<Vec<u8>>,
}

impl Job {
    /// The ping, or `None` when the configuration gives no URL for it (only a failure URL).
    pub fn new(task: TaskId, run: u64, ping: Ping, h: &HeartbeatSpec) -> Option<Job> {
        let (url, body) = match ping {
            Ping::Start => (h.start_url.clone()?, None),
            Ping::Success => (h.success_url.clone()?, None),
            Ping::Fail(code) => (
                h.fail_url.clone(),
                Some(match code {
                    Some(c) => format!("exit_code={c}"),
                    None => "exit_code=-1 (the command could not be started)".to_owned(),
                }),
            ),
        };
        Some(Job {
            task,
            run,
            ping,
            url,
            method: h.method,
            body: body.filter(|_| matches!(h.method, "POST" | "PUT")),
            headers: h.headers.clone(),
            timeout_ms: h.timeout_ms,
            attempts: h.attempts.max(1),
            retry_delay_ms: h.retry_delay_ms,
            ca_pem: h.ca.as_ref().map(|(_, pem)| pem.clone()),
        })
    }
}

/// What a helper thread reports.
#[derive(Clone, Debug)]
pub struct Done {
    pub task: TaskId,
    pub run: u64,
    pub ping: Ping,
    pub url: String,
    /// The HTTP status of a 2xx answer, or why the last attempt failed.
    pub result: Result<u16, String>,
    pub attempts: u32,
    pub elapsed_ms: u64,
}

/// Counters of one task's pings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PingStats {
    pub sent: u64,
    pub failed: u64,
    /// Dropped because [`MAX_PENDING`] pings were waiting.
    pub dropped: u64,
}

pub struct Pinger {
    queues: Vec<VecDeque<Job>>,
    busy: Vec<bool>,
    in_flight: usize,
    pending: usize,
    stats: Vec<PingStats>,
}

impl Pinger {
    pub fn new(tasks: usize) -> Pinger {
        Pinger {
            queues: (0..tasks).map(|_| VecDeque::new()).collect(),
            busy: vec![false; tasks],
            in_flight: 0,
            pending: 0,
            stats: vec![PingStats::default(); tasks],
        }
    }

    /// Queues a ping; `false` when the queue is full and it was dropped.
    pub fn queue(&mut self, job: Job) -> bool {
        if self.pending >= MAX_PENDING {
            self.stats[job.task].dropped += 1;
            return false;
        }
        self.pending += 1;
        self.queues[job.task].push_back(job);
        true
    }

    /// The next ping that may be sent now: its task has none in flight, and fewer than
    /// [`MAX_IN_FLIGHT`] are in flight overall.
    pub fn next_job(&mut self) -> Option<Job> {
        if self.in_flight >= MAX_IN_FLIGHT {
            return None;
        }
        let task = (0..self.queues.len()).find(|&t| !self.busy[t] && !self.queues[t].is_empty())?;
        let job = self.queues[task].pop_front()?;
        self.pending -= 1;
        self.busy[task] = true;
        self.in_flight += 1;
        Some(job)
    }

    /// A ping ended (sent, failed, or its thread could not be started).
    pub fn done(&mut self, d: &Done) {
        if self.busy[d.task] {
            self.busy[d.task] = false;
            self.in_flight -= 1;
        }
        match d.result {
            Ok(_) => self.stats[d.task].sent += 1,
            Err(_) => self.stats[d.task].failed += 1,
        }
    }

    pub fn stats(&self, task: TaskId) -> PingStats {
        self.stats[task]
    }

    #[cfg(test)]
    pub fn idle(&self) -> bool {
        self.in_flight == 0 && self.pending == 0
    }
}

impl Ping {
    pub const fn as_str(self) -> &'static str {
        match self {
            Ping::Start => "start",
            Ping::Success => "success",
            Ping::Fail(_) => "fail",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HeartbeatSpec {
        HeartbeatSpec {
            start_url: Some("http://h/p/start".into()),
            success_url: Some("http://h/p".into()),
            fail_url: "http://h/p/fail".into(),
            method: "POST",
            headers: vec![],
            timeout_ms: 1000,
            attempts: 2,
            retry_delay_ms: 10,
            ca: None,
        }
    }

    fn done(j: &Job, ok: bool) -> Done {
        Done {
            task: j.task,
            run: j.run,
            ping: j.ping,
            url: j.url.clone(),
            result: if ok { Ok(200) } else { Err("refused".into()) },
            attempts: 1,
            elapsed_ms: 1,
        }
    }

    #[test]
    fn jobs_follow_the_protocol() {
        let h = spec();
        let j = Job::new(0, 1, Ping::Start, &h).unwrap();
        assert_eq!(
            (j.url.as_str(), j.body.as_deref()),
            ("http://h/p/start", None)
        );
        let j = Job::new(0, 1, Ping::Success, &h).unwrap();
        assert_eq!(j.url, "http://h/p");
        let j = Job::new(0, 1, Ping::Fail(Some(3)), &h).unwrap();
        assert_eq!(
            (j.url.as_str(), j.body.as_deref()),
            ("http://h/p/fail", Some("exit_code=3"))
        );
        let get = HeartbeatSpec {
            method: "GET",
            ..spec()
        };
        assert_eq!(
            Job::new(0, 1, Ping::Fail(Some(3)), &get).unwrap().body,
            None
        );
    }

    #[test]
    fn one_ping_per_task_in_flight_in_order() {
        let h = spec();
        let mut p = Pinger::new(2);
        assert!(p.queue(Job::new(0, 1, Ping::Start, &h).unwrap()));
        assert!(p.queue(Job::new(0, 1, Ping::Success, &h).unwrap()));
        assert!(p.queue(Job::new(1, 1, Ping::Start, &h).unwrap()));
        let a = p.next_job().unwrap();
        assert_eq!((a.task, a.ping), (0, Ping::Start));
        let b = p.next_job().unwrap();
        assert_eq!(
            (b.task, b.ping),
            (1, Ping::Start),
            "task 0's result waits for its start"
        );
        assert!(p.next_job().is_none());
        p.done(&done(&a, false));
        let c = p.next_job().unwrap();
        assert_eq!((c.task, c.ping), (0, Ping::Success));
        p.done(&done(&b, true));
        p.done(&done(&c, true));
        assert!(p.idle());
        assert_eq!(
            p.stats(0),
            PingStats {
                sent: 1,
                failed: 1,
                dropped: 0
            }
        );
    }

    #[test]
    fn the_queue_and_the_threads_are_bounded() {
        let h = spec();
        let mut p = Pinger::new(MAX_PENDING + 8);
        for t in 0..MAX_PENDING + 8 {
            p.queue(Job::new(t, 1, Ping::Start, &h).unwrap());
        }
        let dropped: u64 = (0..MAX_PENDING + 8).map(|t| p.stats(t).dropped).sum();
        assert_eq!(dropped, 8);
        let mut n = 0;
        while p.next_job().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_IN_FLIGHT);
    }
}
