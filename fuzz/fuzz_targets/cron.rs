//! Cron expressions (5-field standard cron, 6-field with seconds, descriptors) and their next
//! fire times, in UTC and in a zone with daylight saving time.
//!
//! Input: line 1 the expression; optional line 2 a Unix time in seconds to start from; optional
//! line 3 the zone: a number picks one of a few real zones (UTC, Berlin, New York, Sydney, Lord
//! Howe with its 30-minute change, Santiago), anything else is read as a POSIX TZ string.
//! Checks: no panic; a fire time lies strictly after its start; in the real zones, the next fire
//! after (fire − 1 ms) is that same fire (nothing is skipped or invented between). Arbitrary TZ
//! strings only get the first two checks: they include rules no place has (summer time that
//! starts and ends on the same day), where "the same fire" has no clear meaning.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::scheduler::cron::CronExpr;
use phpeek_pm_fuzz::scheduler::tz::Zone;

/// Real zones as POSIX TZ strings (what a TZif file's footer holds).
const REAL: [&str; 6] = [
    "UTC0",
    "CET-1CEST,M3.5.0,M10.5.0/3",
    "EST5EDT,M3.2.0,M11.1.0",
    "AEST-10AEDT,M10.1.0,M4.1.0/3",
    "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
    "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
];

/// Start times are kept between 1970 and 2090 (the crate's horizon is 2100).
const MAX_START_S: i64 = 3_786_912_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.lines();
    let Some(expr) = lines.next() else { return };
    let start_s = lines
        .next()
        .and_then(|l| l.trim().parse::<i64>().ok())
        .map_or(1_767_225_600, |s| s.rem_euclid(MAX_START_S));
    let (zone, real) = match lines.next() {
        None => (Zone::utc(), true),
        Some(l) => match l.trim().parse::<usize>() {
            Ok(k) => (Zone::from_posix(REAL[k % REAL.len()]).unwrap_or_else(Zone::utc), true),
            Err(_) => (Zone::from_posix(l).unwrap_or_else(Zone::utc), false),
        },
    };
    let Ok(c) = CronExpr::parse(expr) else { return };
    let _ = c.source();
    let mut after = start_s * 1000;
    for _ in 0..4 {
        let Some(next) = c.next_after(after, &zone) else { return };
        assert!(next > after, "{expr:?}: {next} is not after {after}");
        if real {
            assert_eq!(
                c.next_after(next - 1, &zone),
                Some(next),
                "{expr:?}: the fire after {} is not {next}",
                next - 1
            );
        }
        after = next;
    }
});
