//! Sending one ping, off the event loop: a short-lived helper thread per ping runs the blocking
//! HTTP client with a timeout per attempt, retries after a pause, and hands the result back
//! through a channel, waking the loop with its `mio::Waker`. The loop never waits for it.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::{Done, Job};

/// Stack of a helper thread: the client and rustls need little; the default 2 MiB is waste.
const STACK_BYTES: usize = 256 * 1024;

/// Starts a helper thread that sends `job` and reports on `done`. Signals stay blocked in it
/// (threads inherit the mask), so they keep arriving at the loop's signalfd.
pub fn spawn(job: Job, done: Sender<Done>, waker: Arc<mio::Waker>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("phpeek-ping".to_owned())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let started = Instant::now();
            let (result, attempts) = send(&job);
            let _ = done.send(Done {
                task: job.task,
                run: job.run,
                ping: job.ping,
                url: job.url,
                result,
                attempts,
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            let _ = waker.wake();
        })
        .map(|_| ())
}

/// Sends with retries; a 2xx answer is success. Returns the result and the attempts made.
fn send(job: &Job) -> (Result<u16, String>, u32) {
    let tls = match super::tls::client(job.ca_pem.as_deref()) {
        Ok(c) => c,
        Err(e) => return (Err(e), 0),
    };
    let mut last = Err(String::new());
    for attempt in 1..=job.attempts {
        last = super::client::request(job, &tls);
        if last.is_ok() {
            return (last, attempt);
        }
        if attempt < job.attempts {
            std::thread::sleep(Duration::from_millis(job.retry_delay_ms));
        }
    }
    (last, job.attempts)
}
