//! The heartbeat part (feature `heartbeat`): queues the pings the scheduler part sends
//! ([`Msg::Ping`]) in the sans-IO [`Pinger`], starts a helper thread per ping
//! ([`crate::heartbeat::send`]), and collects the results when a helper wakes the loop through
//! the `mio::Waker` (slot 0 of its token kind).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use super::Reactor;
use super::part::{Msg, Part, Reply, Setup};
use crate::config::model::{Config, Level};
use crate::heartbeat::{Done, Job, Pinger, send};
use crate::scheduler::TaskId;
use crate::supervisor::Field;

pub(super) fn part(config: &Config, setup: &Setup<'_>) -> Box<dyn Part> {
    // Task ids index the scheduler's tasks, which are some of the processes: enough room.
    let tasks = config.processes.len();
    let any = config
        .processes
        .iter()
        .any(|p| p.task.as_ref().is_some_and(|t| t.heartbeat.is_some()));
    let (waker, waker_error) = if any {
        match mio::Waker::new(setup.registry, super::token(0, setup.kind)) {
            Ok(w) => (Some(Arc::new(w)), None),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, None)
    };
    let (tx, rx) = channel();
    Box::new(Pings {
        pinger: Pinger::new(tasks),
        names: vec![String::new(); tasks],
        waker,
        tx,
        rx,
        waker_error,
    })
}

struct Pings {
    pinger: Pinger,
    /// Each task's name, for the log (learnt with its first ping).
    names: Vec<String>,
    /// `None` when the loop could not create a waker: pings are then not sent (said once).
    waker: Option<Arc<mio::Waker>>,
    tx: Sender<Done>,
    rx: Receiver<Done>,
    waker_error: Option<String>,
}

impl Part for Pings {
    /// A ping of a run: queued, and sent when its turn comes.
    fn on(&mut self, r: &mut Reactor<'_>, m: &Msg<'_>) -> Option<Reply> {
        let Msg::Ping {
            task,
            run,
            ping,
            name,
            heartbeat,
        } = *m
        else {
            return None;
        };
        if let Some(n) = self.names.get_mut(task) {
            if n.is_empty() {
                name.clone_into(n);
            }
        }
        // A heartbeat with only a failure URL sends no start or success ping.
        let Some(job) = Job::new(task, run, ping, heartbeat) else {
            return Some(Reply::Done);
        };
        if !self.pinger.queue(job) {
            let dropped = self.pinger.stats(task).dropped;
            self.ping_note(
                r,
                (task, run),
                Level::Warn,
                "heartbeat_dropped",
                format!(
                    "heartbeat {} ping dropped: {} pings already waiting",
                    ping.as_str(),
                    crate::heartbeat::MAX_PENDING
                ),
                vec![("dropped", Field::Int(dropped as i64))],
            );
        }
        self.send_pings(r);
        Some(Reply::Done)
    }

    /// A helper woke the loop: collects the results of finished pings.
    fn ready(&mut self, r: &mut Reactor<'_>, _slot: usize, _ev: &mio::event::Event) {
        while let Ok(d) = self.rx.try_recv() {
            self.ping_result(r, d);
        }
        self.send_pings(r);
    }
}

impl Pings {
    /// Starts a helper thread for every ping that may go now.
    fn send_pings(&mut self, r: &mut Reactor<'_>) {
        if let Some(e) = self.waker_error.take() {
            r.out.event(
                Level::Error,
                None,
                "heartbeat_failed",
                &format!("cannot create the loop's waker ({e}): heartbeat pings are not sent"),
                &[],
            );
        }
        let Some(waker) = self.waker.clone() else {
            return;
        };
        while let Some(job) = self.pinger.next_job() {
            let (task, run, ping, url) = (job.task, job.run, job.ping, job.url.clone());
            if let Err(e) = send::spawn(job, self.tx.clone(), waker.clone()) {
                self.ping_result(
                    r,
                    Done {
                        task,
                        run,
                        ping,
                        url,
                        result: Err(format!("cannot start a helper thread: {e}")),
                        attempts: 0,
                        elapsed_ms: 0,
                    },
                );
            }
        }
    }

    fn ping_result(&mut self, r: &mut Reactor<'_>, d: Done) {
        self.pinger.done(&d);
        let stats = self.pinger.stats(d.task);
        let mut fields = vec![
            ("ping", Field::Str(d.ping.as_str().to_owned())),
            ("url", Field::Str(d.url.clone())),
            ("attempts", Field::Int(d.attempts.into())),
            ("duration_ms", Field::Int(d.elapsed_ms as i64)),
        ];
        match d.result {
            Ok(status) => {
                fields.push(("status", Field::Int(status.into())));
                self.ping_note(
                    r,
                    (d.task, d.run),
                    Level::Debug,
                    "heartbeat_sent",
                    format!("heartbeat {} ping sent", d.ping.as_str()),
                    fields,
                );
            }
            Err(e) => {
                fields.push(("failures", Field::Int(stats.failed as i64)));
                self.ping_note(
                    r,
                    (d.task, d.run),
                    Level::Warn,
                    "heartbeat_failed",
                    format!("heartbeat {} ping failed: {e}", d.ping.as_str()),
                    fields,
                );
            }
        }
    }

    fn ping_note(
        &self,
        r: &mut Reactor<'_>,
        (task, run): (TaskId, u64),
        level: Level,
        event: &str,
        msg: String,
        fields: Vec<(&'static str, Field)>,
    ) {
        let name = self.names.get(task).map_or("", String::as_str);
        let instance = format!("{name}-run-{run}");
        r.out
            .event(level, Some((instance.as_str(), name)), event, &msg, &fields);
    }
}
