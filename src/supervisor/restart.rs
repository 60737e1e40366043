//! The restart policy: what follows an unexpected end (restart after an exponential backoff
//! with jitter, give up, or fail), and the leftovers of a crashed leader's group.

use super::*;

impl Supervisor {
    /// The leader ended on its own and will be restarted, but members of its group live on: ask
    /// them to stop now, so the restart does not run next to them (they get SIGKILL right
    /// before the restart). Without a restart they are left alone: a launcher that started a
    /// background daemon and exited may mean it.
    pub(super) fn leftovers(&mut self, id: InstId, pgid: i32) {
        let g = pgid;
        let signal = self.procs[self.insts[id].process].stop_signal;
        self.insts[id].lingering = Some(g);
        self.actions
            .push_back(Action::SignalGroup { pgid: g, signal });
        self.note(
            Some(id),
            Level::Warn,
            "leftover_processes",
            format!(
                "other processes of its group outlived it: sending {}",
                signals::name(signal)
            ),
            vec![("pgid", Field::Int(g.into()))],
        );
    }

    /// Applies the restart policy after an unexpected end.
    pub(super) fn ended(&mut self, id: InstId, ending: Ending, group_alive: bool, now: Millis) {
        let p = &self.procs[self.insts[id].process];
        let (kind, policy) = (p.kind, p.restart);
        let inst = &mut self.insts[id];
        let old_group = inst.pgid.filter(|_| group_alive);
        inst.pid = None;
        // Leftover members of its group are tracked by `lingering`; `pgid` names live groups only.
        inst.pgid = None;
        inst.last_ending = Some(ending);
        let ran = now.saturating_sub(inst.started_at);
        if ending != Ending::SpawnFailed && ran >= self.limits.stable_after {
            inst.attempts = 0;
        }
        let success = ending.success();
        if kind == ProcessKind::Oneshot && success {
            inst.state = State::Exited;
            self.note(
                Some(id),
                Level::Info,
                "completed",
                "oneshot completed".to_owned(),
                vec![],
            );
            return;
        }
        let wants = match policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !success,
            RestartPolicy::Never => false,
        };
        let allowed = self.limits.max_attempts.is_none_or(|m| inst.attempts < m);
        if wants && allowed {
            let delay = self.backoff(self.insts[id].attempts);
            let inst = &mut self.insts[id];
            inst.attempts += 1;
            inst.restarts += 1;
            inst.restarts_by_reason[RestartReason::Exit.index()] += 1;
            inst.state = State::Backoff;
            inst.deadline = Some(now + delay);
            let attempt = inst.attempts;
            if let Some(g) = old_group {
                self.leftovers(id, g);
            }
            self.note(
                Some(id),
                Level::Info,
                "restart_scheduled",
                format!("restarting in {delay} ms (attempt {attempt})"),
                vec![
                    ("delay_ms", Field::Int(delay as i64)),
                    ("attempt", Field::Int(attempt.into())),
                ],
            );
            return;
        }
        if wants {
            let n = self.insts[id].attempts;
            self.note(
                Some(id),
                Level::Error,
                "gave_up",
                format!("giving up after {n} restart attempts"),
                vec![],
            );
        }
        if success {
            self.insts[id].state = State::Exited;
        } else {
            self.fail(id, now);
        }
    }

    /// `initial × 2^attempts`, capped at the maximum, with ±10 % jitter.
    pub(super) fn backoff(&mut self, attempts: u32) -> Millis {
        let base = self
            .limits
            .backoff_initial
            .saturating_mul(1u64 << attempts.min(40))
            .min(self.limits.backoff_max);
        // xorshift64*: cheap, deterministic for a given seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % 201;
        base * (900 + r) / 1000
    }
}
