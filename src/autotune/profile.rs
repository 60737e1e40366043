//! The pool arithmetic: a profile and the container's memory and CPU limits in, php-fpm's
//! `pm.*` settings out. Pure: no IO, no floating point (ratios are integers in thousandths,
//! the memory share in millionths), so the same limits always give the same pool.
//!
//! ```text
//!   memory MiB ─► × share ─► − reserved − OPcache ─► ÷ per worker ─► max_children
//!                                                       │ cap: 4 workers per CPU
//!                                                       │ cap: profile maximum (dev: 2)
//!                                                       │ floor: profile minimum, 1
//!   max_children ─► × start / min spare / max spare ratios (rounded up) ─► ordered:
//!                   1 ≤ min_spare ≤ start ≤ max_spare ≤ max_children
//!   safety: max_children × per worker + OPcache + reserved ≤ memory, else refuse
//! ```

/// Bytes in a MiB: the unit every profile figure is written in.
pub const MIB: u64 = 1024 * 1024;
/// Workers allowed per CPU: beyond this they only queue for the CPU (the reference's rule).
pub const WORKERS_PER_CPU: u64 = 4;
/// Denominator of the memory share (`share_ppm`).
pub const PPM: u64 = 1_000_000;
/// Denominator of the spare-server ratios.
pub const PERMILLE: u64 = 1_000;
/// A memory share below this wastes most of the container (a warning, not an error).
pub const CONSERVATIVE_SHARE_PPM: u64 = 300_000;
/// Largest memory searched for a profile's minimum (1 TiB): bounds `minimum_memory_mib`.
const SEARCH_LIMIT_MIB: u64 = 1 << 20;

/// php-fpm's process manager style (`pm = ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pm {
    Static,
    Dynamic,
}

impl Pm {
    pub const fn as_str(self) -> &'static str {
        match self {
            Pm::Static => "static",
            Pm::Dynamic => "dynamic",
        }
    }
}

/// The assumptions of one application profile (reference §3.15, MiB values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub pm: Pm,
    /// Average resident memory of one worker.
    pub worker_mib: u64,
    /// OPcache: one shared segment, counted once.
    pub opcache_mib: u64,
    /// Left for nginx, queue workers and everything else in the container.
    pub reserved_mib: u64,
    pub min_children: u64,
    /// `None`: as many as memory and CPU allow.
    pub max_children: Option<u64>,
    pub start_permille: u64,
    pub min_spare_permille: u64,
    pub max_spare_permille: u64,
    pub max_requests: u64,
    /// Share of the memory limit the pool may plan with, in millionths.
    pub share_ppm: u64,
}

const fn profile(
    name: &'static str,
    pm: Pm,
    (worker_mib, opcache_mib, reserved_mib): (u64, u64, u64),
    (min_children, max_children): (u64, Option<u64>),
    (min_spare_permille, max_spare_permille, start_permille): (u64, u64, u64),
    max_requests: u64,
    share_ppm: u64,
) -> Profile {
    Profile {
        name,
        pm,
        worker_mib,
        opcache_mib,
        reserved_mib,
        min_children,
        max_children,
        start_permille,
        min_spare_permille,
        max_spare_permille,
        max_requests,
        share_ppm,
    }
}

/// The five profiles of the README, with the Go tool's constants.
pub const PROFILES: [Profile; 5] = [
    profile(
        "dev",
        Pm::Static,
        (32, 64, 64),
        (2, Some(2)),
        (0, 0, 1000),
        100,
        500_000,
    ),
    profile(
        "light",
        Pm::Dynamic,
        (36, 96, 128),
        (2, None),
        (250, 500, 250),
        500,
        700_000,
    ),
    profile(
        "medium",
        Pm::Dynamic,
        (42, 128, 192),
        (4, None),
        (250, 500, 330),
        1000,
        750_000,
    ),
    profile(
        "heavy",
        Pm::Dynamic,
        (52, 256, 384),
        (8, None),
        (200, 400, 500),
        2000,
        800_000,
    ),
    profile(
        "bursty",
        Pm::Dynamic,
        (44, 128, 192),
        (4, None),
        (400, 700, 500),
        1000,
        750_000,
    ),
];

/// Looks a profile up by name (case-insensitive).
pub fn by_name(name: &str) -> Option<&'static Profile> {
    PROFILES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

/// The names, for messages: `dev, light, medium, heavy, bursty`.
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the arithmetic works from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Input {
    pub memory_bytes: u64,
    /// CPUs in thousandths (`1500` = one and a half CPUs of quota).
    pub cpu_millis: u64,
    /// The memory share to plan with, in millionths; `None` = the profile's.
    pub share_ppm: Option<u64>,
}

/// The computed pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub pm: Pm,
    pub max_children: u64,
    pub start_servers: u64,
    pub min_spare: u64,
    pub max_spare: u64,
    pub max_requests: u64,
}

/// The pool and how it came about (for the log and `--dry-run`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizing {
    pub pool: Pool,
    pub memory_mib: u64,
    pub share_ppm: u64,
    /// `memory × share`.
    pub usable_mib: u64,
    /// `usable − reserved − OPcache`: what the workers share.
    pub worker_pool_mib: u64,
    /// Workers the memory alone would allow.
    pub by_memory: u64,
    /// The CPU cap (`4 × CPUs`, at least 1).
    pub cpu_cap: u64,
    /// `max_children × per worker + OPcache + reserved`.
    pub planned_mib: u64,
    /// Adjustments worth a warning (CPU cap, profile bounds, conservative share).
    pub warnings: Vec<String>,
}

/// Why a profile does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizingError {
    /// Not even one worker fits next to the reserve and OPcache.
    TooLittleMemory {
        memory_mib: u64,
        /// The smallest memory limit with which this profile (and share) works.
        needed_mib: u64,
        detail: String,
    },
}

impl std::fmt::Display for SizingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizingError::TooLittleMemory {
                memory_mib,
                needed_mib,
                detail,
            } => write!(
                f,
                "insufficient memory: {memory_mib} MiB, this profile needs at least \
                 {needed_mib} MiB ({detail})"
            ),
        }
    }
}

/// `ceil(n × permille / 1000)`.
fn ratio_up(n: u64, permille: u64) -> u64 {
    (n * permille).div_ceil(PERMILLE)
}

/// Sizes the pool for `p` under `input`'s limits.
pub fn size(p: &Profile, input: Input) -> Result<Sizing, SizingError> {
    let memory_mib = input.memory_bytes / MIB;
    let share_ppm = input.share_ppm.unwrap_or(p.share_ppm);
    let fixed = p.reserved_mib + p.opcache_mib;
    let too_little = |detail: String| SizingError::TooLittleMemory {
        memory_mib,
        needed_mib: minimum_memory_mib(p, share_ppm),
        detail,
    };
    let mut warnings = Vec::new();
    // 1. The bare minimum: one worker next to the reserve and OPcache.
    if memory_mib < fixed + p.worker_mib {
        return Err(too_little(format!(
            "{} MiB reserved + {} MiB OPcache + {} MiB for one worker",
            p.reserved_mib, p.opcache_mib, p.worker_mib
        )));
    }
    if input.share_ppm.is_some() && share_ppm < CONSERVATIVE_SHARE_PPM {
        warnings.push(format!(
            "memory threshold {} is very conservative: most of the memory stays unused",
            share_text(share_ppm)
        ));
    }
    // 2. The budget.
    let usable_mib = memory_mib * share_ppm / PPM;
    let worker_pool_mib = usable_mib.saturating_sub(fixed);
    if worker_pool_mib < p.worker_mib {
        return Err(too_little(format!(
            "{} of {memory_mib} MiB is {usable_mib} MiB, minus {} MiB reserved and {} MiB \
             OPcache leaves {worker_pool_mib} MiB, less than one {} MiB worker",
            share_text(share_ppm),
            p.reserved_mib,
            p.opcache_mib,
            p.worker_mib
        )));
    }
    // 3. Workers: memory, then the caps, then the floors.
    let by_memory = worker_pool_mib / p.worker_mib;
    let cpu_cap = (input.cpu_millis * WORKERS_PER_CPU / PERMILLE).max(1);
    let mut mc = by_memory;
    if mc > cpu_cap {
        warnings.push(format!(
            "memory allows {mc} workers; limited to {cpu_cap} ({WORKERS_PER_CPU} per CPU, {} CPUs)",
            cpu_text(input.cpu_millis)
        ));
        mc = cpu_cap;
    }
    if let Some(max) = p.max_children.filter(|m| mc > *m) {
        warnings.push(format!(
            "{mc} workers would fit; profile {} runs at most {max}",
            p.name
        ));
        mc = max;
    }
    if mc < p.min_children {
        warnings.push(format!(
            "raised from {mc} to profile {}'s minimum of {} workers",
            p.name, p.min_children
        ));
        mc = p.min_children;
    }
    let mc = mc.max(1);
    // 4. Spares, in the order php-fpm demands.
    let (start_servers, min_spare, max_spare) = match p.pm {
        Pm::Static => (mc, mc, mc),
        Pm::Dynamic => {
            let min_spare = ratio_up(mc, p.min_spare_permille).max(1);
            let start = ratio_up(mc, p.start_permille).max(min_spare);
            let max_spare = ratio_up(mc, p.max_spare_permille).max(start).min(mc);
            (start.min(max_spare), min_spare.min(max_spare), max_spare)
        }
    };
    // 5. Safety: the planned pool must fit in the memory limit.
    let planned_mib = mc * p.worker_mib + fixed;
    if planned_mib > memory_mib {
        return Err(too_little(format!(
            "{mc} workers × {} MiB + {} MiB OPcache + {} MiB reserved = {planned_mib} MiB",
            p.worker_mib, p.opcache_mib, p.reserved_mib
        )));
    }
    Ok(Sizing {
        pool: Pool {
            pm: p.pm,
            max_children: mc,
            start_servers,
            min_spare,
            max_spare,
            max_requests: p.max_requests,
        },
        memory_mib,
        share_ppm,
        usable_mib,
        worker_pool_mib,
        by_memory,
        cpu_cap,
        planned_mib,
        warnings,
    })
}

/// The smallest memory limit (MiB) with which `p` sizes a pool at this share, with plenty of
/// CPU. Found by search: the conditions are monotonic in memory, and the answer is small.
pub fn minimum_memory_mib(p: &Profile, share_ppm: u64) -> u64 {
    let fits = |m: u64| {
        let fixed = p.reserved_mib + p.opcache_mib;
        let pool = (m * share_ppm / PPM).saturating_sub(fixed);
        m >= fixed + p.worker_mib
            && pool >= p.worker_mib
            && p.min_children.max(1) * p.worker_mib + fixed <= m
    };
    (p.reserved_mib + p.opcache_mib + p.worker_mib..SEARCH_LIMIT_MIB)
        .find(|m| fits(*m))
        .unwrap_or(SEARCH_LIMIT_MIB)
}

/// `0.75` for 750 000 ppm.
pub fn share_text(ppm: u64) -> String {
    let s = format!("{}.{:06}", ppm / PPM, ppm % PPM);
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_owned()
    }
}

/// `2`, `1.5`, `0.25` for CPU thousandths.
pub fn cpu_text(millis: u64) -> String {
    if millis % PERMILLE == 0 {
        return (millis / PERMILLE).to_string();
    }
    let s = format!("{}.{:03}", millis / PERMILLE, millis % PERMILLE);
    s.trim_end_matches('0').to_owned()
}

/// Parses a memory threshold (`0.75`) into millionths; it must lie in [0, 1], and 0 means
/// "the profile's own" (as in the Go tool's configuration).
pub fn parse_share(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "memory threshold must be a number from 0 to 1.0 (a share of the memory limit, \
             e.g. 0.7; 0 = the profile's); got {t:?}"
        )
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    // Millionths: the first six decimals count, the rest are below the arithmetic's unit.
    let mut frac_ppm = 0u64;
    for d in frac.bytes().chain(std::iter::repeat(b'0')).take(6) {
        frac_ppm = frac_ppm * 10 + u64::from(d - b'0');
    }
    let ppm = int.checked_mul(PPM).and_then(|v| v.checked_add(frac_ppm));
    match ppm {
        Some(0) => Ok(None),
        Some(v) if v <= PPM => Ok(Some(v)),
        Some(v) if v > PPM => Err(format!(
            "memory threshold {t} is above 1.0: a pool planned for more memory than the limit \
             can never pass the safety check (workers + OPcache + reserved ≤ limit); use at most 1.0"
        )),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, mib: u64, cpus: u64) -> Result<Sizing, SizingError> {
        size(
            by_name(name).unwrap(),
            Input {
                memory_bytes: mib * MIB,
                cpu_millis: cpus * 1000,
                share_ppm: None,
            },
        )
    }

    fn pool(name: &str, mib: u64, cpus: u64) -> (u64, u64, u64, u64) {
        let p = run(name, mib, cpus).unwrap().pool;
        (p.max_children, p.start_servers, p.min_spare, p.max_spare)
    }

    /// The reference's worked results (§3.15). heavy's max spare is 16, not the table's 13:
    /// the Go code (and php-fpm) require max_spare ≥ start_servers = 16.
    #[test]
    fn worked_results_of_the_reference() {
        let dev = run("dev", 512, 2).unwrap();
        assert_eq!(dev.pool.pm, Pm::Static);
        assert_eq!(dev.pool.max_children, 2);
        assert_eq!(dev.pool.max_requests, 100);
        assert_eq!(pool("light", 1024, 2), (8, 2, 2, 4));
        assert_eq!(run("light", 1024, 2).unwrap().by_memory, 13);
        assert_eq!(pool("medium", 2048, 2), (8, 3, 2, 4));
        assert_eq!(pool("medium", 2048, 4), (16, 6, 4, 8));
        assert_eq!(run("medium", 2048, 4).unwrap().by_memory, 28);
        assert_eq!(pool("bursty", 4096, 4), (16, 8, 7, 12));
        assert_eq!(pool("heavy", 8192, 8), (32, 16, 7, 16));
        assert_eq!(run("heavy", 8192, 8).unwrap().by_memory, 113);
        assert_eq!(run("medium", 2048, 4).unwrap().pool.max_requests, 1000);
    }

    /// The extra rows of docs/PHP-FPM-AUTOTUNE.md (fractional CPUs), also checked in a real
    /// container by tests/container/autotune.sh.
    #[test]
    fn documented_fractional_cpu_rows() {
        let at = |name, mib, cpu_millis| {
            let s = size(
                by_name(name).unwrap(),
                Input {
                    memory_bytes: mib * MIB,
                    cpu_millis,
                    share_ppm: None,
                },
            )
            .unwrap();
            let p = s.pool;
            (
                s.by_memory,
                p.max_children,
                p.start_servers,
                p.min_spare,
                p.max_spare,
            )
        };
        assert_eq!(at("light", 512, 1500), (3, 3, 1, 1, 2));
        assert_eq!(at("medium", 1024, 500), (10, 4, 2, 1, 2));
        assert_eq!(at("dev", 512, 2000), (4, 2, 2, 2, 2));
    }

    #[test]
    fn smallest_memory_per_profile() {
        for (name, min) in [
            ("dev", 320),
            ("light", 372),
            ("medium", 488),
            ("bursty", 496),
            ("heavy", 1056),
        ] {
            let p = by_name(name).unwrap();
            assert_eq!(minimum_memory_mib(p, p.share_ppm), min, "{name}");
            assert!(run(name, min, 64).is_ok(), "{name} at {min}");
            let e = run(name, min - 1, 64).unwrap_err();
            let SizingError::TooLittleMemory { needed_mib, .. } = e;
            assert_eq!(needed_mib, min, "{name}");
        }
    }

    #[test]
    fn too_little_memory_says_how_much_is_needed() {
        let e = run("medium", 256, 2).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("256 MiB"), "{text}");
        assert!(text.contains("at least 488 MiB"), "{text}");
    }

    #[test]
    fn fractional_cpus_cap_at_four_per_cpu() {
        let at = |millis| {
            size(
                by_name("light").unwrap(),
                Input {
                    memory_bytes: 4096 * MIB,
                    cpu_millis: millis,
                    share_ppm: None,
                },
            )
            .unwrap()
        };
        // Half a CPU: 2 workers, which is light's minimum anyway.
        assert_eq!(at(500).cpu_cap, 2);
        assert_eq!(at(500).pool.max_children, 2);
        assert_eq!(at(1500).pool.max_children, 6);
        // A tenth of a CPU still allows one worker; the profile minimum raises it to 2.
        assert_eq!(at(100).cpu_cap, 1);
        assert_eq!(at(100).pool.max_children, 2);
        assert!(at(100).warnings.iter().any(|w| w.contains("minimum")));
    }

    #[test]
    fn spares_are_always_ordered() {
        for p in &PROFILES {
            for mib in (300..9000).step_by(37) {
                for cpus in [250, 1000, 3000, 16000] {
                    let Ok(s) = size(
                        p,
                        Input {
                            memory_bytes: mib * MIB,
                            cpu_millis: cpus,
                            share_ppm: None,
                        },
                    ) else {
                        continue;
                    };
                    let q = s.pool;
                    assert!(
                        1 <= q.min_spare
                            && q.min_spare <= q.start_servers
                            && q.start_servers <= q.max_spare
                            && q.max_spare <= q.max_children,
                        "{} {mib} {cpus}: {q:?}",
                        p.name
                    );
                    assert!(s.planned_mib <= s.memory_mib);
                }
            }
        }
    }

    #[test]
    fn threshold_override_changes_the_budget() {
        let p = by_name("medium").unwrap();
        let s = size(
            p,
            Input {
                memory_bytes: 2048 * MIB,
                cpu_millis: 64_000,
                share_ppm: Some(500_000),
            },
        )
        .unwrap();
        // 1024 − 320 = 704 MiB for 42 MiB workers.
        assert_eq!((s.usable_mib, s.pool.max_children), (1024, 16));
        let s = size(
            p,
            Input {
                memory_bytes: 2048 * MIB,
                cpu_millis: 64_000,
                share_ppm: Some(250_000),
            },
        )
        .unwrap();
        assert!(s.warnings.iter().any(|w| w.contains("conservative")));
    }

    #[test]
    fn shares_parse_strictly() {
        assert_eq!(parse_share("0.75"), Ok(Some(750_000)));
        assert_eq!(parse_share(".5"), Ok(Some(500_000)));
        assert_eq!(parse_share("1"), Ok(Some(1_000_000)));
        assert_eq!(parse_share("1.0"), Ok(Some(1_000_000)));
        assert_eq!(parse_share("0.1234567"), Ok(Some(123_456)));
        assert_eq!(parse_share("0"), Ok(None));
        assert_eq!(parse_share("0.0"), Ok(None));
        for bad in ["", ".", "abc", "-0.5", "1e-1", "0,7"] {
            assert!(parse_share(bad).is_err(), "{bad:?}");
        }
        assert!(parse_share("1.2").unwrap_err().contains("above 1.0"));
        assert_eq!(share_text(750_000), "0.75");
        assert_eq!(share_text(1_000_000), "1.0");
        assert_eq!(cpu_text(1500), "1.5");
        assert_eq!(cpu_text(2000), "2");
        assert_eq!(cpu_text(250), "0.25");
    }
}
