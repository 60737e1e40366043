//! What a signal sent to the manager means for each process: the signal policy.
//!
//! The manager never passes a signal on blindly. SIGTERM, SIGINT and SIGQUIT shut the stack
//! down (the supervisor's business, not this module's). Every other signal is a request about
//! the stack, answered per process by its [`SignalPolicy`]:
//!
//! - SIGHUP = "reload the stack": each process gets its *reload* — a signal the program
//!   understands as a graceful reload (nginx: SIGHUP; php-fpm: SIGUSR2, same master pid), a
//!   graceful restart, or nothing at all (queue workers, Horizon, the scheduler, and any
//!   program we know no reload for). `phpeek-pm reload [NAME]` and
//!   `POST /api/v1/processes/{name}/reload` ask for the same reload.
//! - SIGUSR1 = "reopen your logs", only for programs that have it (nginx, php-fpm: SIGUSR1).
//! - Anything else (SIGUSR2, SIGWINCH, ...) reaches nobody.
//!
//! A process's `forward_signals` list overrides all of that for the signals it names: those are
//! passed on as they are (tini-style). `reload_signal` overrides the program's default reload.
//! Defaults come from the program, recognised from its argv ([`Program::classify`]); the
//! reasons are in docs/signals.md. This module is pure: no IO, tested on its own.

use crate::sys::signals;

/// The programs whose signals we know, recognised from a command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Program {
    Nginx,
    /// `php-fpm`, `php-fpm8.2`, `php-fpm82`, ...
    PhpFpm,
    /// `artisan queue:work` / `queue:listen`: Laravel treats SIGUSR2 as "pause for good" and
    /// dies on SIGHUP and SIGUSR1 (their default action), losing the job it holds.
    QueueWorker,
    /// `artisan horizon` (and `horizon:*`): the same signal meanings as a queue worker.
    Horizon,
    /// `artisan schedule:work` / `schedule:run`.
    Scheduler,
    /// Caddy v2 ignores SIGHUP and SIGUSR1; it reloads through its admin API only.
    Caddy,
    /// FrankenPHP is Caddy with PHP inside: the same.
    FrankenPhp,
    #[default]
    Other,
}

impl Program {
    pub const fn as_str(self) -> &'static str {
        match self {
            Program::Nginx => "nginx",
            Program::PhpFpm => "php-fpm",
            Program::QueueWorker => "queue-worker",
            Program::Horizon => "horizon",
            Program::Scheduler => "scheduler",
            Program::Caddy => "caddy",
            Program::FrankenPhp => "frankenphp",
            Program::Other => "other",
        }
    }

    /// Recognises the program of a command line. A shell's `-c` script is looked into (its
    /// first command, after `exec`), so `sh -c "exec php artisan queue:work"` is a worker too.
    pub fn classify(argv: &[String]) -> Program {
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        Self::of_words(&words, 0)
    }

    fn of_words(words: &[&str], depth: u8) -> Program {
        // `env VAR=1 prog`, `exec prog`: look past the wrappers.
        let mut rest = words;
        while let Some((first, tail)) = rest.split_first() {
            if matches!(basename(first), "env" | "exec" | "nohup" | "setsid") || first.contains('=')
            {
                rest = tail;
            } else {
                break;
            }
        }
        let Some((first, args)) = rest.split_first() else {
            return Program::Other;
        };
        let b = basename(first);
        if is_shell(b) && depth == 0 {
            // `sh -c SCRIPT ...`: the script's first command decides.
            if let Some(pos) = args.iter().position(|a| *a == "-c") {
                if let Some(script) = args.get(pos + 1) {
                    let first_cmd = script.split([';', '&', '|', '\n']).next().unwrap_or("");
                    let inner: Vec<&str> = first_cmd.split_whitespace().collect();
                    return Self::of_words(&inner, depth + 1);
                }
            }
            return Program::Other;
        }
        match b {
            "nginx" | "openresty" => return Program::Nginx,
            "caddy" => return Program::Caddy,
            "frankenphp" => return Program::FrankenPhp,
            _ => {}
        }
        if b.starts_with("php-fpm") {
            return Program::PhpFpm;
        }
        // `artisan CMD` directly, or `php [-d x=y ...] path/artisan CMD`.
        let artisan_cmd = if b == "artisan" {
            args.iter().find(|a| !a.starts_with('-')).copied()
        } else if b.starts_with("php") {
            args.iter()
                .position(|a| basename(a) == "artisan")
                .and_then(|i| args[i + 1..].iter().find(|a| !a.starts_with('-')).copied())
        } else {
            None
        };
        match artisan_cmd {
            Some("queue:work" | "queue:listen") => Program::QueueWorker,
            Some(c) if c == "horizon" || c.starts_with("horizon:") => Program::Horizon,
            Some(c) if c.starts_with("schedule:") => Program::Scheduler,
            _ => Program::Other,
        }
    }

    /// The program's own graceful reload, if it has one.
    pub const fn default_reload(self) -> Reload {
        match self {
            Program::Nginx => Reload::Signal(signals::SIGHUP),
            // SIGUSR2: php-fpm re-reads its configuration and replaces its workers gracefully,
            // keeping the master (and its pid).
            Program::PhpFpm => Reload::Signal(signals::SIGUSR2),
            _ => Reload::None,
        }
    }

    /// The signal that makes the program reopen its log files, if it has one.
    pub const fn reopen_signal(self) -> Option<i32> {
        match self {
            Program::Nginx | Program::PhpFpm => Some(signals::SIGUSR1),
            _ => None,
        }
    }
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn is_shell(b: &str) -> bool {
    matches!(b, "sh" | "bash" | "dash" | "ash" | "zsh" | "busybox")
}

/// What a reload does to a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reload {
    /// Send this signal to its process group.
    Signal(i32),
    /// A graceful restart: the same stop as at shutdown, then a new start.
    Restart,
    /// Leave it alone.
    #[default]
    None,
}

impl Reload {
    /// `reload_signal:` as written: a signal name or number, `restart`, or `none`.
    pub fn parse(s: &str) -> Result<Reload, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "restart" => return Ok(Reload::Restart),
            "none" | "" => return Ok(Reload::None),
            _ => {}
        }
        match signals::by_name(s) {
            Some(n) if n == signals::SIGKILL || n == signals::SIGSTOP => Err(format!(
                "{s} cannot be a reload signal (the program cannot handle it); use restart"
            )),
            Some(n) => Ok(Reload::Signal(n)),
            None => Err(format!(
                "unknown reload_signal {s:?}: use a signal name (SIGHUP, SIGUSR2, ...), \
                 restart, or none"
            )),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Reload::Signal(n) => signals::name(n).into_owned(),
            Reload::Restart => "restart".to_owned(),
            Reload::None => "none".to_owned(),
        }
    }
}

/// Signals that a process cannot ask to have forwarded: the manager's own shutdown signals
/// (shutdown sends each process its `shutdown.signal` instead), and what cannot be caught or
/// means something else to the manager.
const NOT_FORWARDABLE: [i32; 6] = [
    signals::SIGTERM,
    signals::SIGINT,
    signals::SIGQUIT,
    signals::SIGKILL,
    signals::SIGSTOP,
    signals::SIGCHLD,
];

/// Parses one `forward_signals` entry.
pub fn parse_forward(s: &str) -> Result<i32, String> {
    match signals::by_name(s) {
        Some(n) if NOT_FORWARDABLE.contains(&n) => Err(format!(
            "{s} cannot be forwarded: SIGTERM, SIGINT and SIGQUIT shut the stack down (each \
             process gets its shutdown.signal), SIGKILL, SIGSTOP and SIGCHLD are not requests"
        )),
        Some(n) => Ok(n),
        None => Err(format!("unknown signal {s:?} in forward_signals")),
    }
}

/// One process's answer to the signals the manager receives (by default: nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalPolicy {
    pub program: Program,
    /// What SIGHUP (and a reload request) does.
    pub reload: Reload,
    /// Passed on as they are when the manager receives them.
    pub forward: Vec<i32>,
}

/// What the supervisor does to one process for a signal or a reload request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Send this signal to each live instance's process group.
    Signal(i32),
    /// Restart each instance gracefully.
    Restart,
    /// Nothing.
    Ignore,
}

impl SignalPolicy {
    /// In words, for the start plan: `reload SIGUSR2, reopen logs SIGUSR1 (php-fpm)`.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("reload {}", self.reload.describe())];
        if let Some(s) = self.program.reopen_signal() {
            parts.push(format!("reopen logs {}", signals::name(s)));
        }
        if !self.forward.is_empty() {
            let names: Vec<String> = self
                .forward
                .iter()
                .map(|&s| signals::name(s).into_owned())
                .collect();
            parts.push(format!("forward {}", names.join(" ")));
        }
        format!("{} ({})", parts.join(", "), self.program.as_str())
    }

    /// The policy for `argv`, with the user's overrides (`reload_signal`, `forward_signals`).
    pub fn new(argv: &[String], reload: Option<Reload>, forward: Vec<i32>) -> SignalPolicy {
        let program = Program::classify(argv);
        SignalPolicy {
            program,
            reload: reload.unwrap_or(program.default_reload()),
            forward,
        }
    }

    /// What the manager receiving `sig` means for this process. (SIGTERM, SIGINT and SIGQUIT
    /// never get here: they shut down.)
    pub fn on_signal(&self, sig: i32) -> Response {
        if self.forward.contains(&sig) {
            return Response::Signal(sig);
        }
        match sig {
            signals::SIGHUP => self.on_reload(),
            signals::SIGUSR1 => match self.program.reopen_signal() {
                Some(s) => Response::Signal(s),
                None => Response::Ignore,
            },
            _ => Response::Ignore,
        }
    }

    /// What a reload request (`phpeek-pm reload`, the API, SIGHUP) does to this process.
    pub fn on_reload(&self) -> Response {
        match self.reload {
            Reload::Signal(s) => Response::Signal(s),
            Reload::Restart => Response::Restart,
            Reload::None => Response::Ignore,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn programs_are_recognised_from_argv() {
        let cases: &[(&[&str], Program)] = &[
            (&["nginx", "-g", "daemon off;"], Program::Nginx),
            (&["/usr/sbin/nginx"], Program::Nginx),
            (&["php-fpm", "-F"], Program::PhpFpm),
            (
                &["/usr/sbin/php-fpm8.2", "-F", "-y", "x.conf"],
                Program::PhpFpm,
            ),
            (&["php-fpm82"], Program::PhpFpm),
            (&["php", "artisan", "queue:work"], Program::QueueWorker),
            (
                &[
                    "php",
                    "-d",
                    "memory_limit=1G",
                    "/app/artisan",
                    "queue:work",
                    "--tries=3",
                ],
                Program::QueueWorker,
            ),
            (
                &["/usr/bin/php8.2", "artisan", "queue:listen"],
                Program::QueueWorker,
            ),
            (&["php", "artisan", "horizon"], Program::Horizon),
            (&["php", "artisan", "horizon:work"], Program::Horizon),
            (&["php", "artisan", "schedule:work"], Program::Scheduler),
            (&["php", "artisan", "schedule:run"], Program::Scheduler),
            (&["./artisan", "queue:work"], Program::QueueWorker),
            (&["caddy", "run"], Program::Caddy),
            (&["frankenphp", "run"], Program::FrankenPhp),
            (
                &["sh", "-c", "exec php artisan queue:work --sleep=1"],
                Program::QueueWorker,
            ),
            (
                &["/bin/bash", "-c", "nginx -g 'daemon off;'"],
                Program::Nginx,
            ),
            (
                &["env", "APP_ENV=prod", "php", "artisan", "horizon"],
                Program::Horizon,
            ),
            // Not ours to guess.
            (&["php", "artisan", "reverb:start"], Program::Other),
            (&["php", "artisan", "migrate", "--force"], Program::Other),
            (&["php", "worker.php", "queue:work"], Program::Other),
            (&["sleep", "100"], Program::Other),
            (&["sh", "-c", "sleep 1; nginx"], Program::Other),
            (&["sh", "script.sh"], Program::Other),
            (&[], Program::Other),
        ];
        for (a, want) in cases {
            assert_eq!(Program::classify(&argv(a)), *want, "{a:?}");
        }
    }

    #[test]
    fn defaults_per_program_and_signal() {
        use signals::*;
        let p = |a: &[&str]| SignalPolicy::new(&argv(a), None, vec![]);
        let nginx = p(&["nginx"]);
        let fpm = p(&["php-fpm8.2", "-F"]);
        let worker = p(&["php", "artisan", "queue:work"]);
        let horizon = p(&["php", "artisan", "horizon"]);
        let sched = p(&["php", "artisan", "schedule:work"]);
        let caddy = p(&["caddy", "run"]);
        let other = p(&["python3", "server.py"]);
        // Table: program × manager signal → response.
        let table: &[(&SignalPolicy, [Response; 4])] = &[
            //            SIGHUP                    SIGUSR1                  SIGUSR2          SIGWINCH
            (
                &nginx,
                [
                    Response::Signal(SIGHUP),
                    Response::Signal(SIGUSR1),
                    Response::Ignore,
                    Response::Ignore,
                ],
            ),
            (
                &fpm,
                [
                    Response::Signal(SIGUSR2),
                    Response::Signal(SIGUSR1),
                    Response::Ignore,
                    Response::Ignore,
                ],
            ),
            (&worker, [Response::Ignore; 4]),
            (&horizon, [Response::Ignore; 4]),
            (&sched, [Response::Ignore; 4]),
            (&caddy, [Response::Ignore; 4]),
            (&other, [Response::Ignore; 4]),
        ];
        for (pol, want) in table {
            for (sig, w) in [SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH].iter().zip(want) {
                assert_eq!(pol.on_signal(*sig), *w, "{:?} {}", pol.program, name(*sig));
            }
        }
        assert_eq!(nginx.on_reload(), Response::Signal(SIGHUP));
        assert_eq!(fpm.on_reload(), Response::Signal(SIGUSR2));
        assert_eq!(worker.on_reload(), Response::Ignore);
    }

    #[test]
    fn overrides_win() {
        use signals::*;
        // A worker that asks for a graceful restart on reload, and SIGUSR2 passed on.
        let w = SignalPolicy::new(
            &argv(&["php", "artisan", "queue:work"]),
            Some(Reload::Restart),
            vec![SIGUSR2],
        );
        assert_eq!(w.on_signal(SIGHUP), Response::Restart);
        assert_eq!(w.on_reload(), Response::Restart);
        assert_eq!(w.on_signal(SIGUSR2), Response::Signal(SIGUSR2));
        assert_eq!(w.on_signal(SIGUSR1), Response::Ignore);
        // nginx with reload switched off still reopens its logs.
        let n = SignalPolicy::new(&argv(&["nginx"]), Some(Reload::None), vec![]);
        assert_eq!(n.on_signal(SIGHUP), Response::Ignore);
        assert_eq!(n.on_signal(SIGUSR1), Response::Signal(SIGUSR1));
        // forward_signals: [SIGHUP] passes SIGHUP itself, whatever the reload is; a reload
        // request still uses the reload.
        let t = SignalPolicy::new(&argv(&["php-fpm"]), None, vec![SIGHUP, SIGWINCH]);
        assert_eq!(t.on_signal(SIGHUP), Response::Signal(SIGHUP));
        assert_eq!(t.on_signal(SIGWINCH), Response::Signal(SIGWINCH));
        assert_eq!(t.on_reload(), Response::Signal(SIGUSR2));
        // Any program may take a custom reload signal.
        let c = SignalPolicy::new(&argv(&["myd"]), Some(Reload::Signal(SIGUSR1)), vec![]);
        assert_eq!(c.on_signal(SIGHUP), Response::Signal(SIGUSR1));
    }

    #[test]
    fn parsing_overrides() {
        use signals::*;
        assert_eq!(Reload::parse("SIGHUP"), Ok(Reload::Signal(SIGHUP)));
        assert_eq!(Reload::parse("usr2"), Ok(Reload::Signal(SIGUSR2)));
        assert_eq!(Reload::parse("restart"), Ok(Reload::Restart));
        assert_eq!(Reload::parse("none"), Ok(Reload::None));
        assert!(Reload::parse("SIGKILL").is_err());
        assert!(Reload::parse("reboot").is_err());
        assert_eq!(parse_forward("SIGWINCH"), Ok(SIGWINCH));
        assert_eq!(parse_forward("HUP"), Ok(SIGHUP));
        for bad in ["SIGTERM", "INT", "SIGQUIT", "KILL", "SIGCHLD", "SIGNOPE"] {
            assert!(parse_forward(bad).is_err(), "{bad}");
        }
    }
}
