//! `phpeek-pm top`: a live view of a running manager over its API, like `docker stats`: one
//! line per instance with state, health, CPU %, memory, restarts, uptime and its PHP-FPM
//! pools' busy/idle workers, redrawn every second with plain ANSI escapes (no terminal crate).
//!
//! CPU % is the difference of the instance's group CPU seconds between two frames over the
//! wall time between them (100 % = one core), so the first frame needs two answers: `--once`
//! asks twice, [`SAMPLE`] apart, and prints one frame for scripts. The live view puts the
//! terminal in raw mode (rustix termios) so that one key quits without Enter: `q`, or Ctrl-C
//! (a byte in raw mode, not a signal, so the terminal is always restored).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use rustix::termios::{self, OptionalActions, OutputModes, Termios};
use serde_json::Value;

use super::render::{bytes, now_unix, uptime};
use super::wire::{Target, request};
use crate::exit::client as exit;

/// Time between two frames (and between the two answers of `--once`).
const SAMPLE: Duration = Duration::from_secs(1);
/// Ctrl-C in raw mode.
const CTRL_C: u8 = 3;

/// Group CPU seconds per instance id, and when they were asked.
#[derive(Default)]
pub struct Sample {
    cpu: HashMap<String, f64>,
    at: Option<Instant>,
}

impl Sample {
    fn of(doc: &Value, at: Instant) -> Sample {
        let mut cpu = HashMap::new();
        for i in instances(doc) {
            if let (Some(id), Some(c)) = (i["id"].as_str(), i["cpu_seconds"].as_f64()) {
                cpu.insert(id.to_owned(), c);
            }
        }
        Sample { cpu, at: Some(at) }
    }
}

fn instances(doc: &Value) -> impl Iterator<Item = &Value> {
    doc["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["instances"].as_array().into_iter().flatten())
}

/// Runs the view; the exit codes are the client's.
pub fn run(target: &Target, token: Option<&str>, once: bool) -> u8 {
    let mut prev = Sample::default();
    if once {
        // Two answers a second apart: the frame's CPU % is over that second.
        match fetch(target, token) {
            Ok(doc) => prev = Sample::of(&doc, Instant::now()),
            Err(code) => return code,
        }
        std::thread::sleep(SAMPLE);
        return match fetch(target, token) {
            Ok(doc) => {
                let (text, _) = frame(&doc, &prev, Instant::now(), now_unix());
                let _ = std::io::stdout().write_all(text.as_bytes());
                exit::OK
            }
            Err(code) => code,
        };
    }
    let raw = RawMode::enter();
    let mut out = std::io::stdout();
    // Hide the cursor while redrawing; shown again on the way out.
    let _ = out.write_all(b"\x1b[?25l");
    let code = loop {
        let doc = match fetch(target, token) {
            Ok(d) => d,
            Err(code) => break code,
        };
        let now = Instant::now();
        let (text, next) = frame(&doc, &prev, now, now_unix());
        prev = next;
        // Home, the frame (each line clears its rest), then clear below.
        let mut screen = String::from("\x1b[H");
        for line in text.lines() {
            screen.push_str(line);
            screen.push_str("\x1b[K\r\n");
        }
        screen.push_str("\x1b[2K(q or Ctrl-C quits)\x1b[J");
        let _ = out.write_all(screen.as_bytes());
        let _ = out.flush();
        if quit_within(SAMPLE) {
            break exit::OK;
        }
    };
    let _ = out.write_all(b"\x1b[?25h\r\n");
    let _ = out.flush();
    drop(raw);
    code
}

/// The process list, or the exit code of why there is none (with the reason on stderr).
fn fetch(target: &Target, token: Option<&str>) -> Result<Value, u8> {
    match request(target, "GET", "/api/v1/processes", token, None) {
        Ok((200, body)) => Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)),
        Ok((401, _)) => {
            eprintln!(
                "\rphpeek-pm: the API needs a token: set PHPEEK_PM_API_TOKEN to its api_auth"
            );
            Err(exit::UNAUTHORIZED)
        }
        Ok((status, _)) => {
            eprintln!("\rphpeek-pm: the manager answered {status}");
            Err(exit::FAILED)
        }
        Err(super::wire::Unreachable(e)) => {
            eprintln!("\rphpeek-pm: cannot reach the manager: {e}");
            Err(exit::UNREACHABLE)
        }
    }
}

/// Waits up to `d` for a key on stdin; true for `q`, `Q` or Ctrl-C (and at the end of stdin,
/// so a closed input cannot leave a view nobody can quit).
fn quit_within(d: Duration) -> bool {
    let end = Instant::now() + d;
    let stdin = rustix::stdio::stdin();
    loop {
        let Some(left) = end.checked_duration_since(Instant::now()) else {
            return false;
        };
        let timeout = rustix::event::Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [rustix::event::PollFd::new(
            &stdin,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return false,
            Ok(_) => {
                let mut buf = [0u8; 64];
                match rustix::io::read(stdin, &mut buf) {
                    Ok(0) => return true,
                    Ok(n) => {
                        if buf[..n].iter().any(|b| matches!(*b, b'q' | b'Q' | CTRL_C)) {
                            return true;
                        }
                    }
                    Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                    Err(_) => return true,
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            // stdin is not pollable: refresh on the timer alone.
            Err(_) => {
                std::thread::sleep(left);
                return false;
            }
        }
    }
}

/// The terminal's settings before raw mode, restored on drop. Not a terminal: nothing to do.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = rustix::stdio::stdin();
        let Ok(saved) = termios::tcgetattr(stdin) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        // Keep output processing so that our text renders as written.
        raw.output_modes.insert(OutputModes::OPOST);
        if termios::tcsetattr(stdin, OptionalActions::Now, &raw).is_err() {
            return RawMode(None);
        }
        // Clear the screen once; frames then redraw in place.
        let _ = std::io::stdout().write_all(b"\x1b[2J");
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, t);
        }
    }
}

/// One frame of the view from a process list, the previous sample, and the clocks; with the
/// sample for the next frame.
pub fn frame(doc: &Value, prev: &Sample, at: Instant, now: i64) -> (String, Sample) {
    let elapsed = prev
        .at
        .map(|p| at.duration_since(p).as_secs_f64())
        .filter(|e| *e > 0.0);
    let mut rows: Vec<[String; 8]> = vec![[
        "INSTANCE".into(),
        "STATE".into(),
        "HEALTH".into(),
        "CPU %".into(),
        "MEMORY".into(),
        "RESTARTS".into(),
        "UPTIME".into(),
        "POOL BUSY/IDLE".into(),
    ]];
    let (mut cpu_total, mut mem_total) = (0.0, 0u64);
    for i in instances(doc) {
        let id = i["id"].as_str().unwrap_or("?");
        let cpu = match (i["cpu_seconds"].as_f64(), prev.cpu.get(id), elapsed) {
            (Some(c), Some(p), Some(e)) => {
                let pct = ((c - p) / e * 100.0).max(0.0);
                cpu_total += pct;
                format!("{pct:.1}")
            }
            _ => "-".into(),
        };
        let mem = i["memory_rss_bytes"].as_u64();
        mem_total += mem.unwrap_or(0);
        let pools = i["php_fpm"].as_array().filter(|a| !a.is_empty());
        let pool = pools.map_or("-".into(), |pools| {
            let sum = |k: &str| pools.iter().filter_map(|p| p[k].as_u64()).sum::<u64>();
            let queue = sum("listen_queue");
            let mut s = format!("{}/{}", sum("active_processes"), sum("idle_processes"));
            if queue > 0 {
                s.push_str(&format!(" (queue {queue})"));
            }
            s
        });
        rows.push([
            id.into(),
            i["state"].as_str().unwrap_or("?").into(),
            i["health"]["status"].as_str().unwrap_or("-").into(),
            cpu,
            mem.map_or("-".into(), bytes),
            i["restart_count"].as_i64().unwrap_or(0).to_string(),
            match (i["pid"].as_i64(), i["started_at"].as_i64()) {
                (Some(_), Some(t)) => uptime(now - t),
                _ => "-".into(),
            },
            pool,
        ]);
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "phpeek-pm top  instances {}  CPU {:.1} %  memory {}\n",
        rows.len() - 1,
        cpu_total,
        bytes(mem_total),
    ));
    for r in &rows {
        let mut line = String::new();
        for (n, (cell, w)) in r.iter().zip(widths).enumerate() {
            // Numbers right-aligned, words left-aligned.
            if n + 1 == r.len() {
                line.push_str(cell);
            } else if n == 3 || n == 5 {
                line.push_str(&format!("{cell:>w$}  "));
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    (out, Sample::of(doc, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_between_frames() {
        let doc = |cpu: f64| -> Value {
            serde_json::from_str(&format!(
                r#"{{"processes":[{{"name":"fpm","instances":[
                  {{"id":"fpm-0","state":"ready","pid":7,"started_at":100,"restart_count":1,
                    "health":{{"status":"healthy"}},"cpu_seconds":{cpu},
                    "memory_rss_bytes":83886080,
                    "php_fpm":[{{"pool":"www","active_processes":2,"idle_processes":0,
                                 "listen_queue":1}}]}},
                  {{"id":"fpm-1","state":"stopped","pid":null,"restart_count":0}}]}}]}}"#
            ))
            .unwrap()
        };
        let t0 = Instant::now();
        let (first, s) = frame(&doc(10.0), &Sample::default(), t0, 161);
        let lines: Vec<&str> = first.lines().collect();
        assert_eq!(lines.len(), 4, "{first}");
        assert!(lines[1].starts_with("INSTANCE  STATE"), "{first}");
        // No previous sample: no CPU % yet.
        assert!(lines[2].contains("healthy      -"), "{first}");
        let (second, _) = frame(&doc(10.5), &s, t0 + Duration::from_millis(500), 162);
        let row = second.lines().nth(2).unwrap();
        for want in [
            "fpm-0",
            "ready",
            "healthy",
            "100.0",
            "80.0M",
            "0:01:02",
            "2/0 (queue 1)",
        ] {
            assert!(row.contains(want), "{want} in {row}");
        }
        assert!(second.lines().nth(3).unwrap().ends_with('-'), "{second}");
    }
}
