//! PHP-FPM pool status, asked by the manager itself: which processes are php-fpm, where their
//! status page is (read from the pool configuration), and what the page says.
//!
//! A process is php-fpm when its program's file name starts with `php-fpm`. Its main
//! configuration is the `-y`/`--fpm-config` argument, else the first of the usual paths that
//! exists; `include=` globs of the form `DIR/*.conf` are followed. A pool whose
//! `pm.status_path` is set is asked at `pm.status_listen` when set (php-fpm ≥ 8.0: a listener
//! of its own, served by the master even while every worker is busy — the recommended
//! setting), else at its `listen` address (then the answer waits for a free worker).
//!
//! The page is requested as `?json` over FastCGI ([`fastcgi`]); only the flat numbers are
//! read, so no JSON library is needed.

pub mod fastcgi;

use std::net::SocketAddr;

/// Where a pool's status page is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub pool: String,
    pub addr: Addr,
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(String),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Tcp(a) => write!(f, "{a}"),
            Addr::Unix(p) => f.write_str(p),
        }
    }
}

/// Main configuration files php-fpm reads when not given `-y` (Debian's, then the official
/// Docker image's).
const DEFAULT_CONFIGS: [&str; 5] = [
    "/etc/php/8.4/fpm/php-fpm.conf",
    "/etc/php/8.3/fpm/php-fpm.conf",
    "/etc/php/8.2/fpm/php-fpm.conf",
    "/usr/local/etc/php-fpm.conf",
    "/etc/php-fpm.conf",
];
/// Most files read through `include=` (a glob over a huge directory stays bounded).
const MAX_FILES: usize = 64;

/// Whether `argv` runs php-fpm.
pub fn is_fpm(argv: &[String]) -> bool {
    argv.first()
        .and_then(|p| p.rsplit('/').next())
        .is_some_and(|n| n.starts_with("php-fpm"))
}

/// The status pages of a php-fpm command line (empty: not php-fpm, or no pool has
/// `pm.status_path`).
pub fn targets(argv: &[String], read: &dyn Fn(&str) -> Option<String>) -> Vec<Target> {
    if !is_fpm(argv) {
        return Vec::new();
    }
    let mut conf = None;
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        if a == "-y" || a == "--fpm-config" {
            conf = args.next().cloned();
        } else if let Some(v) = a.strip_prefix("--fpm-config=") {
            conf = Some(v.to_owned());
        }
    }
    let main = match conf {
        Some(c) => c,
        None => match DEFAULT_CONFIGS.iter().find(|p| read(p).is_some()) {
            Some(p) => (*p).to_owned(),
            None => return Vec::new(),
        },
    };
    let mut pools = Pools::default();
    let mut files = vec![main];
    let mut n = 0;
    while let Some(f) = files.pop() {
        n += 1;
        if n > MAX_FILES {
            break;
        }
        let Some(text) = read(&f) else { continue };
        for inc in pools.feed(&text) {
            files.extend(expand_include(&inc, &f, read));
        }
    }
    pools.targets()
}

/// `include=` value → files. Only `DIR/*SUFFIX` globs and plain paths (what distributions
/// write); relative paths are relative to the including file's directory (php-fpm's prefix
/// rules are not needed for the usual absolute paths).
fn expand_include(pattern: &str, from: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let pattern = if pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        let dir = from.rsplit_once('/').map_or(".", |(d, _)| d);
        format!("{dir}/{pattern}")
    };
    let Some((dir, name)) = pattern.rsplit_once('/') else {
        return Vec::new();
    };
    let Some(suffix) = name.strip_prefix('*') else {
        return vec![pattern];
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(suffix))
        .map(|n| format!("{dir}/{n}"))
        .filter(|p| read(p).is_some())
        .collect();
    v.sort();
    v.reverse(); // popped from the end: read in name order
    v
}

/// A pool as read so far: name, `listen`, `pm.status_path`, `pm.status_listen`.
type Pool = (String, Option<String>, Option<String>, Option<String>);

#[derive(Default)]
struct Pools {
    pools: Vec<Pool>,
    section: Option<usize>,
}

impl Pools {
    /// Reads one file; returns its `include=` values.
    fn feed(&mut self, text: &str) -> Vec<String> {
        let mut includes = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with([';', '#']) {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                self.section =
                    (name != "global").then(|| match self.pools.iter().position(|p| p.0 == name) {
                        Some(i) => i,
                        None => {
                            self.pools.push((name.to_owned(), None, None, None));
                            self.pools.len() - 1
                        }
                    });
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches(['"', '\'']).to_owned();
            let k = k.trim();
            if k == "include" {
                includes.push(v);
                continue;
            }
            if let Some(p) = self.section.and_then(|i| self.pools.get_mut(i)) {
                match k {
                    "listen" => p.1 = Some(v.replace("$pool", &p.0)),
                    "pm.status_path" => p.2 = Some(v),
                    "pm.status_listen" => p.3 = Some(v.replace("$pool", &p.0)),
                    _ => {}
                }
            }
        }
        includes
    }

    fn targets(self) -> Vec<Target> {
        self.pools
            .into_iter()
            .filter_map(|(pool, listen, path, status_listen)| {
                let path = path.filter(|p| p.starts_with('/'))?;
                let addr = parse_listen(status_listen.as_deref().or(listen.as_deref())?)?;
                Some(Target { pool, addr, path })
            })
            .collect()
    }
}

/// A php-fpm `listen` value: a socket path, `PORT`, `IP:PORT` or `[IPv6]:PORT`.
pub fn parse_listen(v: &str) -> Option<Addr> {
    if v.starts_with('/') {
        return Some(Addr::Unix(v.to_owned()));
    }
    if let Ok(port) = v.parse::<u16>() {
        return Some(Addr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
    }
    if let Ok(a) = v.parse::<SocketAddr>() {
        // A pool listening on every interface is reached over loopback.
        let ip = match a.ip() {
            std::net::IpAddr::V4(i) if i.is_unspecified() => [127, 0, 0, 1].into(),
            std::net::IpAddr::V6(i) if i.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
            ip => ip,
        };
        return Some(Addr::Tcp(SocketAddr::new(ip, a.port())));
    }
    let (host, port) = v.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (host == "localhost").then(|| Addr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))))
}

/// What the status page says: the snapshot's type.
pub use crate::status::PoolView as PoolStatus;

/// Reads php-fpm's flat JSON status document. Unknown keys are ignored; a missing number
/// is 0; a document without `"pool"` is not a status page.
pub fn parse_status(body: &[u8]) -> Option<PoolStatus> {
    let text = std::str::from_utf8(body).ok()?;
    let value = |key: &str| -> Option<&str> {
        let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
        let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
        if let Some(s) = rest.strip_prefix('"') {
            return s.split('"').next();
        }
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        Some(&rest[..end])
    };
    let n = |key: &str| value(key).and_then(|v| v.parse().ok()).unwrap_or(0);
    Some(PoolStatus {
        pool: value("pool")?.to_owned(),
        up: true,
        accepted_conn: n("accepted conn"),
        listen_queue: n("listen queue"),
        max_listen_queue: n("max listen queue"),
        listen_queue_len: n("listen queue len"),
        idle_processes: n("idle processes"),
        active_processes: n("active processes"),
        total_processes: n("total processes"),
        max_active_processes: n("max active processes"),
        max_children_reached: n("max children reached"),
        slow_requests: n("slow requests"),
    })
}

#[cfg(test)]
mod tests;
