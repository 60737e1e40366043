//! The reactor's side of heartbeat pings (feature `heartbeat`): queues pings in the sans-IO
//! [`Pinger`], starts a helper thread per ping ([`crate::heartbeat::send`]), and collects the
//! results when a helper wakes the loop through the `mio::Waker`.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use mio::{Registry, Token};

use crate::config::model::Level;
use crate::heartbeat::{Done, Job, Pinger, send};
use crate::scheduler::{Ping, Scheduler, TaskId};
use crate::supervisor::Field;

pub struct Pings {
    pinger: Pinger,
    /// `None` when the loop could not create a waker: pings are then not sent (said once).
    waker: Option<Arc<mio::Waker>>,
    tx: Sender<Done>,
    rx: Receiver<Done>,
    waker_error: Option<String>,
}

impl Pings {
    pub fn new(sched: &Scheduler, registry: &Registry, token: Token) -> Pings {
        let any = (0..sched.len()).any(|t| sched.spec(t).heartbeat.is_some());
        let (waker, waker_error) = if any {
            match mio::Waker::new(registry, token) {
                Ok(w) => (Some(Arc::new(w)), None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        let (tx, rx) = channel();
        Pings {
            pinger: Pinger::new(sched.len()),
            waker,
            tx,
            rx,
            waker_error,
        }
    }
}

impl super::Reactor<'_> {
    /// Queues a ping of a run and starts what may be sent now.
    pub(super) fn queue_ping(&mut self, task: TaskId, run: u64, ping: Ping) {
        let Some(h) = self.tasks.sched.spec(task).heartbeat.as_ref() else {
            return;
        };
        // A heartbeat with only a failure URL sends no start or success ping.
        let Some(job) = Job::new(task, run, ping, h) else {
            return;
        };
        if !self.tasks.pings.pinger.queue(job) {
            let dropped = self.tasks.pings.pinger.stats(task).dropped;
            self.ping_note(
                task,
                run,
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
        self.send_pings();
    }

    /// Starts a helper thread for every ping that may go now.
    fn send_pings(&mut self) {
        if let Some(e) = self.tasks.pings.waker_error.take() {
            self.out.event(
                Level::Error,
                None,
                "heartbeat_failed",
                &format!("cannot create the loop's waker ({e}): heartbeat pings are not sent"),
                &[],
            );
        }
        let Some(waker) = self.tasks.pings.waker.clone() else {
            return;
        };
        while let Some(job) = self.tasks.pings.pinger.next_job() {
            let (task, run, ping, url) = (job.task, job.run, job.ping, job.url.clone());
            if let Err(e) = send::spawn(job, self.tasks.pings.tx.clone(), waker.clone()) {
                self.ping_result(Done {
                    task,
                    run,
                    ping,
                    url,
                    result: Err(format!("cannot start a helper thread: {e}")),
                    attempts: 0,
                    elapsed_ms: 0,
                });
            }
        }
    }

    /// Collects the results of finished pings (the waker fired).
    pub(super) fn pings_done(&mut self) {
        while let Ok(d) = self.tasks.pings.rx.try_recv() {
            self.ping_result(d);
        }
        self.send_pings();
    }

    fn ping_result(&mut self, d: Done) {
        self.tasks.pings.pinger.done(&d);
        let stats = self.tasks.pings.pinger.stats(d.task);
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
                    d.task,
                    d.run,
                    Level::Debug,
                    "heartbeat_sent",
                    format!("heartbeat {} ping sent", d.ping.as_str()),
                    fields,
                );
            }
            Err(e) => {
                fields.push(("failures", Field::Int(stats.failed as i64)));
                self.ping_note(
                    d.task,
                    d.run,
                    Level::Warn,
                    "heartbeat_failed",
                    format!("heartbeat {} ping failed: {e}", d.ping.as_str()),
                    fields,
                );
            }
        }
    }

    fn ping_note(
        &mut self,
        task: TaskId,
        run: u64,
        level: Level,
        event: &str,
        msg: String,
        fields: Vec<(&'static str, Field)>,
    ) {
        let name = self.tasks.sched.name(task);
        let instance = format!("{name}-run-{run}");
        self.out
            .event(level, Some((instance.as_str(), name)), event, &msg, &fields);
    }
}
