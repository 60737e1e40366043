//! Lifecycle hooks (feature `hooks`): running lists of hooks in order, with retries, delays
//! and `continue_on_error`, and counting every run for the status snapshot.
//!
//! A sans-IO component like the supervisor. The reactor starts a *sequence* (the hooks of one
//! phase, global or of one instance) with [`Hooks::start`], runs each [`Action::Run`] as a
//! child with a deadline (`reactor/children.rs`), reports its end with [`Hooks::finished`],
//! and learns the sequence's outcome from [`Action::Done`]. Retry delays are deadlines
//! ([`Hooks::next_deadline`]); nothing here blocks or reads the clock.
//!
//! ```text
//! hook i, attempt a ──exit 0──────────────────────────────► hook i+1 … ──► Done(Ok)
//!        │ failed / timed out
//!        ├─ a ≤ retry ──retry_delay──► hook i, attempt a+1
//!        ├─ continue_on_error (or a phase other than pre-start) ──► hook i+1 (warning)
//!        └─ otherwise ──► Done(Failed)            cancel ──► stop the running hook ──► Done(Cancelled)
//! ```

use std::collections::VecDeque;

use crate::config::model::{HookPhase, HookSpec, Level};
use crate::status::HookView;
use crate::supervisor::{Field, InstId, Millis, Note};
use crate::sys::ExitStatus;
use crate::sys::signals;

/// Upper bounds (seconds) of the hook duration histogram, as in the original tool.
pub const DURATION_BUCKETS: [f64; 8] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0];
/// Output lines of a failed hook quoted in its error record.
const TAIL_LINES: usize = 5;

/// Whose hooks a sequence runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Global(HookPhase),
    Instance {
        inst: InstId,
        process: usize,
        phase: HookPhase,
    },
}

impl Owner {
    pub const fn phase(self) -> HookPhase {
        match self {
            Owner::Global(p) | Owner::Instance { phase: p, .. } => p,
        }
    }
}

/// A sequence, as handed out by [`Hooks::start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeqId(pub usize);

/// One attempt of one hook, as handed to the reactor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RunId(pub u64);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A hook failed for good and the sequence stopped (pre-start without
    /// `continue_on_error`); `reason` is already in the log.
    Failed {
        hook: String,
        reason: String,
    },
    /// Cancelled (shutdown during the sequence).
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run this attempt of `hook` as a child with `hook.timeout`; answer with `finished`.
    Run {
        run: RunId,
        seq: SeqId,
        owner: Owner,
        hook: HookSpec,
        attempt: u32,
    },
    /// Stop a running attempt gracefully (cancelled); `finished` still follows.
    Stop(RunId),
    /// The sequence ended.
    Done {
        seq: SeqId,
        owner: Owner,
        outcome: Outcome,
    },
    Log(Note),
}

/// How one attempt ended, as the reactor saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunResult {
    /// `None` when it could not be started.
    pub status: Option<ExitStatus>,
    pub spawn_error: Option<String>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Its last output lines.
    pub tail: Vec<String>,
}

#[derive(Debug)]
enum Step {
    Running(RunId),
    /// Waiting for `retry_delay` before the next attempt.
    Delay(Millis),
}

#[derive(Debug)]
struct Seq {
    owner: Owner,
    hooks: Vec<HookSpec>,
    /// Names of the process and instance, for logs and the snapshot (None: global).
    process: Option<String>,
    index: usize,
    attempt: u32,
    step: Step,
    cancelled: bool,
    first_failure: Option<(String, String)>,
}

/// Counters of one hook (by name, phase and process).
#[derive(Clone, Debug, Default)]
struct Stat {
    name: String,
    phase: Option<HookPhase>,
    process: Option<String>,
    success: u64,
    failure: u64,
    timeout: u64,
    duration_sum_s: f64,
    buckets: [u64; DURATION_BUCKETS.len()],
}

#[derive(Default)]
pub struct Hooks {
    seqs: Vec<Option<Seq>>,
    stats: Vec<Stat>,
    actions: VecDeque<Action>,
    next_run: u64,
}

impl Hooks {
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Starts running `hooks` in order for `owner`; `process` names a per-instance sequence's
    /// process (for its counters). An empty list is done at once.
    pub fn start(
        &mut self,
        owner: Owner,
        hooks: &[HookSpec],
        process: Option<&str>,
        now: Millis,
    ) -> SeqId {
        let slot = match self.seqs.iter().position(Option::is_none) {
            Some(s) => s,
            None => {
                self.seqs.push(None);
                self.seqs.len() - 1
            }
        };
        self.seqs[slot] = Some(Seq {
            owner,
            hooks: hooks.to_vec(),
            process: process.map(str::to_owned),
            index: 0,
            attempt: 1,
            step: Step::Delay(now),
            cancelled: false,
            first_failure: None,
        });
        self.advance(SeqId(slot), now);
        SeqId(slot)
    }

    /// Whether any sequence is running.
    #[cfg(test)]
    pub fn busy(&self) -> bool {
        self.seqs.iter().any(Option::is_some)
    }

    /// Cancels a sequence: its running hook is stopped (its end is still awaited), a pending
    /// retry is dropped. `Done(Cancelled)` follows.
    pub fn cancel(&mut self, seq: SeqId) {
        let Some(Some(s)) = self.seqs.get_mut(seq.0) else {
            return;
        };
        if s.cancelled {
            return;
        }
        s.cancelled = true;
        match s.step {
            Step::Running(run) => self.actions.push_back(Action::Stop(run)),
            Step::Delay(_) => self.finish(seq, Outcome::Cancelled),
        }
    }

    /// Cancels every sequence whose owner matches.
    pub fn cancel_where(&mut self, matches: impl Fn(Owner) -> bool) {
        let ids: Vec<usize> = (0..self.seqs.len())
            .filter(|&i| self.seqs[i].as_ref().is_some_and(|s| matches(s.owner)))
            .collect();
        for i in ids {
            self.cancel(SeqId(i));
        }
    }

    pub fn next_deadline(&self) -> Option<Millis> {
        self.seqs
            .iter()
            .flatten()
            .filter_map(|s| match s.step {
                Step::Delay(t) => Some(t),
                Step::Running(_) => None,
            })
            .min()
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        for i in 0..self.seqs.len() {
            let due = self.seqs[i]
                .as_ref()
                .is_some_and(|s| matches!(s.step, Step::Delay(t) if t <= now));
            if due {
                self.advance(SeqId(i), now);
            }
        }
    }

    /// An attempt ended.
    pub fn finished(&mut self, run: RunId, r: &RunResult, now: Millis) {
        let Some(i) = (0..self.seqs.len()).find(|&i| {
            self.seqs[i]
                .as_ref()
                .is_some_and(|s| matches!(s.step, Step::Running(x) if x == run))
        }) else {
            return;
        };
        let seq = SeqId(i);
        let Some(s) = self.seqs[i].as_mut() else {
            return;
        };
        let hook = s.hooks[s.index].clone();
        let (owner, attempt, cancelled) = (s.owner, s.attempt, s.cancelled);
        let process = s.process.clone();
        let ok = r.status == Some(ExitStatus::Code(0)) && !r.timed_out;
        self.count(&hook, owner.phase(), process.as_deref(), r, ok);
        let secs = r.duration_ms as f64 / 1000.0;
        if ok {
            self.log(
                owner,
                Level::Info,
                "hook_finished",
                format!("hook {} succeeded in {secs:.3} s", hook.name),
                fields(&hook, owner, attempt, r),
            );
            self.next_hook(seq, now);
            return;
        }
        let reason = describe(r, &hook);
        let mut f = fields(&hook, owner, attempt, r);
        if !r.tail.is_empty() {
            let from = r.tail.len().saturating_sub(TAIL_LINES);
            f.push(("output", Field::Str(r.tail[from..].join("\n"))));
        }
        if cancelled {
            self.log(
                owner,
                Level::Warn,
                "hook_cancelled",
                format!("hook {} stopped: {reason}", hook.name),
                f,
            );
            self.finish(seq, Outcome::Cancelled);
            return;
        }
        if attempt <= hook.retry {
            let Some(s) = self.seqs[i].as_mut() else {
                return;
            };
            s.attempt += 1;
            s.step = Step::Delay(now + hook.retry_delay);
            self.log(
                owner,
                Level::Warn,
                "hook_retry",
                format!(
                    "hook {} failed ({reason}): retrying in {} ms (attempt {} of {})",
                    hook.name,
                    hook.retry_delay,
                    attempt + 1,
                    hook.retry + 1
                ),
                f,
            );
            if hook.retry_delay == 0 {
                self.advance(seq, now);
            }
            return;
        }
        let fatal = owner.phase() == HookPhase::PreStart && !hook.continue_on_error;
        let msg = format!(
            "hook {} failed after {attempt} attempt(s): {reason}{}",
            hook.name,
            if fatal { "" } else { " (continuing)" }
        );
        self.log(
            owner,
            if fatal { Level::Error } else { Level::Warn },
            "hook_failed",
            msg,
            f,
        );
        if fatal {
            self.finish(
                seq,
                Outcome::Failed {
                    hook: hook.name.clone(),
                    reason,
                },
            );
            return;
        }
        if let Some(s) = self.seqs[i].as_mut() {
            s.first_failure.get_or_insert((hook.name.clone(), reason));
        }
        self.next_hook(seq, now);
    }

    /// Counters of every hook that has run, for the status snapshot.
    pub fn views(&self) -> Vec<HookView> {
        self.stats
            .iter()
            .map(|s| {
                let mut cumulative = 0;
                HookView {
                    name: s.name.clone(),
                    phase: s.phase.map_or("", |p| p.as_str()),
                    process: s.process.clone(),
                    success: s.success,
                    failure: s.failure,
                    timeout: s.timeout,
                    duration_sum_s: s.duration_sum_s,
                    duration_buckets: DURATION_BUCKETS
                        .iter()
                        .zip(s.buckets)
                        .map(|(b, n)| {
                            cumulative += n;
                            (*b, cumulative)
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn next_hook(&mut self, seq: SeqId, now: Millis) {
        if let Some(s) = self.seqs[seq.0].as_mut() {
            s.index += 1;
            s.attempt = 1;
            s.step = Step::Delay(now);
        }
        self.advance(seq, now);
    }

    /// Starts the current attempt, or ends the sequence after its last hook.
    fn advance(&mut self, seq: SeqId, _now: Millis) {
        let Some(s) = self.seqs[seq.0].as_mut() else {
            return;
        };
        if s.cancelled {
            self.finish(seq, Outcome::Cancelled);
            return;
        }
        let Some(hook) = s.hooks.get(s.index).cloned() else {
            self.finish(seq, Outcome::Ok);
            return;
        };
        let run = RunId(self.next_run);
        self.next_run += 1;
        s.step = Step::Running(run);
        let (owner, attempt) = (s.owner, s.attempt);
        self.log(
            owner,
            Level::Info,
            "hook_started",
            format!("running {} hook {}", owner.phase().as_str(), hook.name),
            vec![
                ("hook", Field::Str(hook.name.clone())),
                ("phase", Field::Str(owner.phase().as_str().to_owned())),
                ("attempt", Field::Int(attempt.into())),
            ],
        );
        self.actions.push_back(Action::Run {
            run,
            seq,
            owner,
            hook,
            attempt,
        });
    }

    fn finish(&mut self, seq: SeqId, outcome: Outcome) {
        if let Some(s) = self.seqs[seq.0].take() {
            self.actions.push_back(Action::Done {
                seq,
                owner: s.owner,
                outcome,
            });
        }
    }

    fn count(
        &mut self,
        hook: &HookSpec,
        phase: HookPhase,
        process: Option<&str>,
        r: &RunResult,
        ok: bool,
    ) {
        let pos = self.stats.iter().position(|s| {
            s.name == hook.name && s.phase == Some(phase) && s.process.as_deref() == process
        });
        let i = match pos {
            Some(i) => i,
            None => {
                self.stats.push(Stat {
                    name: hook.name.clone(),
                    phase: Some(phase),
                    process: process.map(str::to_owned),
                    ..Stat::default()
                });
                self.stats.len() - 1
            }
        };
        let s = &mut self.stats[i];
        if ok {
            s.success += 1;
        } else if r.timed_out {
            s.timeout += 1;
        } else {
            s.failure += 1;
        }
        let secs = r.duration_ms as f64 / 1000.0;
        s.duration_sum_s += secs;
        if let Some(b) = DURATION_BUCKETS.iter().position(|b| secs <= *b) {
            s.buckets[b] += 1;
        }
    }

    fn log(
        &mut self,
        owner: Owner,
        level: Level,
        event: &'static str,
        msg: String,
        fields: Vec<(&'static str, Field)>,
    ) {
        let inst = match owner {
            Owner::Instance { inst, .. } => Some(inst),
            Owner::Global(_) => None,
        };
        self.actions.push_back(Action::Log(Note {
            level,
            inst,
            event,
            msg,
            fields,
        }));
    }
}

fn fields(
    hook: &HookSpec,
    owner: Owner,
    attempt: u32,
    r: &RunResult,
) -> Vec<(&'static str, Field)> {
    let mut f = vec![
        ("hook", Field::Str(hook.name.clone())),
        ("phase", Field::Str(owner.phase().as_str().to_owned())),
        ("attempt", Field::Int(attempt.into())),
        ("duration_ms", Field::Int(r.duration_ms as i64)),
    ];
    match r.status {
        Some(ExitStatus::Code(c)) => f.push(("exit_code", Field::Int(c.into()))),
        Some(ExitStatus::Signal(s)) => {
            f.push(("signal", Field::Str(signals::name(s).into_owned())))
        }
        None => {}
    }
    f
}

/// Why an attempt failed, in words.
fn describe(r: &RunResult, hook: &HookSpec) -> String {
    if let Some(e) = &r.spawn_error {
        return format!("could not start {}: {e}", hook.command[0]);
    }
    if r.timed_out {
        return format!(
            "timed out after {} ms (its process group was killed)",
            hook.timeout
        );
    }
    match r.status {
        Some(ExitStatus::Code(c)) => format!("exit code {c}"),
        Some(ExitStatus::Signal(s)) => format!("killed by {}", signals::name(s)),
        None => "did not run".to_owned(),
    }
}

#[cfg(test)]
mod tests;
