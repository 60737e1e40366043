//! Cron expressions as users write them, translated for the `cron` crate.
//!
//! Users write standard cron: five fields (minute hour day-of-month month day-of-week), with
//! lists, ranges, steps, month and day names, 0 or 7 for Sunday, and the `@hourly` … `@yearly`
//! descriptors; a sixth field in front (seconds) is our documented extension. The crate differs
//! in three ways, each handled here rather than left to surprise a user:
//!
//! 1. it wants a seconds field first — we add `0`;
//! 2. it numbers weekdays 1 = Sunday … 7 = Saturday — we parse the field ourselves with cron's
//!    numbering and hand the crate an explicit list in its numbering (so `0 8 * * 1` stays
//!    Monday);
//! 3. it requires day-of-month *and* day-of-week to match, while cron runs a job when *either*
//!    matches if both are restricted (`0 0 1 * 1` = the 1st of the month and every Monday) —
//!    we split such an expression in two and take the earlier next time. As in Vixie cron, a
//!    field that starts with `*` (`*/2`) counts as unrestricted for this rule.
//!
//! Every field is parsed and range-checked here first, so errors name the field and the value
//! (`minute 61 is out of range 0-59`) instead of the crate's parser state.

use std::str::FromStr;

use chrono::TimeZone;

use super::tz::Zone;

/// How many successive fire times we look at to find one strictly after an instant (a local
/// time that occurs twice yields two candidates, the earlier of which may be in the past).
const MAX_CANDIDATES: usize = 4;
const SECS_PER_DAY: i64 = 86_400;
/// How far back a search looks for a time skipped by a spring-forward jump (real jumps are at
/// most an hour; two hours covers the historical double summer time).
const GAP_LOOKBACK_S: i64 = 2 * 3_600;

/// A parsed schedule: what the user wrote and the crate schedules that implement it.
#[derive(Clone, Debug)]
pub struct CronExpr {
    source: String,
    /// The crate's 6-field expressions (one, or two for day-of-month OR day-of-week).
    crate_exprs: Vec<String>,
    schedules: Vec<cron::Schedule>,
    /// The hour field starts with `*`: the job repeats within the day, and keeps doing so
    /// through an hour that a fall-back change repeats (a fixed-time job runs once).
    hour_star: bool,
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.crate_exprs == other.crate_exprs
    }
}

impl Eq for CronExpr {}

/// One field of a cron expression: its name, range and names.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// 0-7: both 0 and 7 are Sunday; names map to 0-6.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// The values a field allows, and whether it was written with a leading `*` (or `?`).
struct Parsed {
    bits: u64,
    star: bool,
}

impl CronExpr {
    /// Parses a 5-field expression, a 6-field one with seconds first, or a descriptor.
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        let source = text.trim();
        if source.is_empty() {
            return Err("empty schedule: write a cron expression such as \"0 2 * * *\"".into());
        }
        let body = match source.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            "@reboot" => {
                return Err(
                    "@reboot is not a schedule: use a process with type: oneshot instead".into(),
                );
            }
            d if d.starts_with('@') => {
                return Err(format!(
                    "unknown descriptor {source:?} (use @hourly, @daily, @weekly, @monthly or \
                     @yearly)"
                ));
            }
            d if d.starts_with("cron_tz=") || d.starts_with("tz=") => {
                return Err(
                    "a time zone prefix is not supported here: set schedule_timezone \
                            instead"
                        .into(),
                );
            }
            _ => source,
        };
        let fields: Vec<&str> = body.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(format!(
                    "{source:?} has {n} field(s): a schedule has 5 (minute hour day-of-month \
                     month day-of-week), or 6 with seconds first"
                ));
            }
        };
        let sec = parse_field(sec, &SECOND)?;
        let min = parse_field(rest[0], &MINUTE)?;
        let hour = parse_field(rest[1], &HOUR)?;
        let dom = parse_field(rest[2], &DAY_OF_MONTH)?;
        let mon = parse_field(rest[3], &MONTH)?;
        let mut dow = parse_field(rest[4], &DAY_OF_WEEK)?;
        // 7 is another name for Sunday.
        if dow.bits & (1 << 7) != 0 {
            dow.bits = (dow.bits & !(1 << 7)) | 1;
        }
        let head = format!(
            "{} {} {}",
            emit(sec.bits, &SECOND, 0),
            emit(min.bits, &MINUTE, 0),
            emit(hour.bits, &HOUR, 0)
        );
        let mon_s = emit(mon.bits, &MONTH, 0);
        let dom_s = emit(dom.bits, &DAY_OF_MONTH, 0);
        // The crate's weekdays are cron's plus one (1 = Sunday).
        let dow_all = FieldSpec {
            max: 6,
            ..DAY_OF_WEEK
        };
        let dow_s = emit(dow.bits, &dow_all, 1);
        let crate_exprs = if !dom.star && !dow.star {
            vec![
                format!("{head} {dom_s} {mon_s} *"),
                format!("{head} * {mon_s} {dow_s}"),
            ]
        } else {
            vec![format!("{head} {dom_s} {mon_s} {dow_s}")]
        };
        let schedules = crate_exprs
            .iter()
            .map(|e| {
                cron::Schedule::from_str(e)
                    .map_err(|err| format!("{source:?}: cannot be scheduled ({err})"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let expr = CronExpr {
            source: source.to_owned(),
            crate_exprs,
            schedules,
            hour_star: hour.star,
        };
        // February 30th and friends: valid fields, no date ever matches.
        if expr.next_after(0, &Zone::utc()).is_none() {
            return Err(format!("{source:?} never fires: no date matches it"));
        }
        Ok(expr)
    }

    /// The expression as the user wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first fire time strictly after the Unix millisecond `after_ms`, in `zone`; `None`
    /// if there is none before the crate's horizon (year 2100).
    pub fn next_after(&self, after_ms: i64, zone: &Zone) -> Option<i64> {
        let start = zone.timestamp_millis_opt(after_ms).single()?;
        let mut best = self.first_after(&start, after_ms, MAX_CANDIDATES);
        // A time skipped by a spring-forward jump fires late (02:30 → 03:30 CEST). A search
        // that starts inside that late stretch (03:10), or just before the skipped time
        // (01:59:59 CET for 02:00), walks local time past it and misses it: near a jump,
        // search again from well before it. (Found by the `cron` fuzz target: next_after(t - 1)
        // must be t.)
        let secs = after_ms.div_euclid(1000);
        let jump = i64::from(zone.offset_at(secs + GAP_LOOKBACK_S))
            - i64::from(zone.offset_at(secs - GAP_LOOKBACK_S));
        if jump > 0 {
            // Back by the size of the jump: far enough to walk into the skipped local times.
            // A frequent schedule has runs in between (every 4 minutes: seven before a 30-minute
            // jump), and all of them may lie before `after_ms`: look at as many as a schedule
            // with seconds can have there, one a second (only near a jump, twice a year).
            let early = after_ms - (jump + 1) * 1000;
            let runs_between = usize::try_from(jump + 1).unwrap_or(0);
            if let Some(e) = zone.timestamp_millis_opt(early).single() {
                if let Some(c) = self.first_after(&e, after_ms, MAX_CANDIDATES + runs_between) {
                    best = Some(best.map_or(c, |b| b.min(c)));
                }
            }
        }
        if self.hour_star {
            // Walking local time skips the hour a fall-back change repeats (02:59 CEST is
            // followed by 03:00 CET, an hour later). Near a change, also walk each side's fixed
            // offset and keep the times that offset really covers.
            let secs = after_ms.div_euclid(1000);
            let here = zone.offset_at(secs);
            let later = zone.offset_at(secs + SECS_PER_DAY);
            if here != later {
                for o in [here, later] {
                    let Some(fixed) = chrono::FixedOffset::east_opt(o) else {
                        continue;
                    };
                    let Some(s) = fixed.timestamp_millis_opt(after_ms).single() else {
                        continue;
                    };
                    let c = self.first_after(&s, after_ms, MAX_CANDIDATES);
                    if let Some(c) = c.filter(|c| zone.offset_at(c.div_euclid(1000)) == o) {
                        best = Some(best.map_or(c, |b| b.min(c)));
                    }
                }
            }
        }
        best
    }

    /// The earliest time strictly after `after_ms` that any of the crate schedules gives,
    /// walking local time in `start`'s zone and looking at `candidates` runs of each.
    fn first_after<Z: TimeZone>(
        &self,
        start: &chrono::DateTime<Z>,
        after_ms: i64,
        candidates: usize,
    ) -> Option<i64> {
        self.schedules
            .iter()
            .filter_map(|s| {
                s.after(start)
                    .take(candidates)
                    .map(|d| d.timestamp_millis())
                    .find(|&t| t > after_ms)
            })
            .min()
    }
}

/// Parses one field: `*`, `?`, `5`, `1-5`, `*/15`, `10-50/10`, `5/15`, `mon-fri`, lists of
/// those. Returns the set of allowed values as bits.
fn parse_field(text: &str, f: &FieldSpec) -> Result<Parsed, String> {
    let star = text.starts_with('*') || text.starts_with('?');
    let mut bits = 0u64;
    for item in text.split(',') {
        let bad = |why: String| format!("{} field {text:?}: {why}", f.name);
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| bad(format!("step {s:?} is not a number")))?;
                if step == 0 {
                    return Err(bad("a step must be at least 1".into()));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            if range == "?" && f.name != DAY_OF_MONTH.name && f.name != DAY_OF_WEEK.name {
                return Err(bad("? is only allowed in the day fields".into()));
            }
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, f)?, value(b, f)?);
            if a > b {
                return Err(bad(format!("range {range:?} runs backwards")));
            }
            (a, b)
        } else if range.is_empty() {
            return Err(bad("empty item".into()));
        } else {
            let v = value(range, f)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if item.contains('/') { f.max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(Parsed { bits, star })
}

/// A number or a name within the field's range.
fn value(s: &str, f: &FieldSpec) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + if f.name == MONTH.name { 1 } else { 0 });
    }
    let v: u32 = s.parse().map_err(|_| {
        if f.names.is_empty() {
            format!("{} {s:?} is not a number", f.name)
        } else {
            format!(
                "{} {s:?} is neither a number nor a name ({})",
                f.name,
                f.names.join(", ")
            )
        }
    })?;
    if v < f.min || v > f.max {
        return Err(format!(
            "{} {v} is out of range {}-{}",
            f.name, f.min, f.max
        ));
    }
    Ok(v)
}

/// The crate's text for a set of values: `*` for all of them, else an explicit list, each value
/// shifted by `shift` (the weekday renumbering).
fn emit(bits: u64, f: &FieldSpec, shift: u32) -> String {
    let all = (f.min..=f.max).all(|v| bits & (1 << v) != 0);
    if all {
        return "*".to_owned();
    }
    let list: Vec<String> = (f.min..=f.max)
        .filter(|v| bits & (1 << v) != 0)
        .map(|v| (v + shift).to_string())
        .collect();
    list.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn show(ms: i64) -> String {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S %a")
            .to_string()
    }

    /// The next `n` fire times after `from`, in UTC.
    fn next_n(expr: &str, from: &str, n: usize) -> Vec<String> {
        let e = CronExpr::parse(expr).unwrap();
        let mut t = at(from);
        let mut v = Vec::new();
        for _ in 0..n {
            t = e.next_after(t, &Zone::utc()).unwrap();
            v.push(show(t));
        }
        v
    }

    #[test]
    fn readme_examples_fire_when_they_say() {
        // 2026-11-29 is a Sunday.
        assert_eq!(
            next_n("0 2 * * *", "2026-11-29T03:00:00Z", 2),
            ["2026-11-30T02:00:00 Mon", "2026-12-01T02:00:00 Tue"]
        );
        assert_eq!(
            next_n("*/15 * * * *", "2026-11-29T10:07:00Z", 3),
            [
                "2026-11-29T10:15:00 Sun",
                "2026-11-29T10:30:00 Sun",
                "2026-11-29T10:45:00 Sun"
            ]
        );
        // The trap: a naive translation fires this on Sundays.
        let mondays = next_n("0 8 * * 1", "2026-11-29T09:00:00Z", 3);
        assert_eq!(
            mondays,
            [
                "2026-11-30T08:00:00 Mon",
                "2026-12-07T08:00:00 Mon",
                "2026-12-14T08:00:00 Mon"
            ]
        );
    }

    #[test]
    fn sunday_is_zero_and_seven_and_names_work() {
        for e in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "0 0 * * SUN"] {
            let t = CronExpr::parse(e)
                .unwrap()
                .next_after(at("2026-11-30T00:00:00Z"), &Zone::utc())
                .unwrap();
            let d = DateTime::<Utc>::from_timestamp_millis(t).unwrap();
            assert_eq!(d.weekday(), Weekday::Sun, "{e}");
            assert_eq!(show(t), "2026-12-06T00:00:00 Sun", "{e}");
        }
        // Ranges and lists by number and by name; a range ending in 7 wraps to Sunday.
        assert_eq!(
            next_n("0 9 * * 1-5", "2026-12-04T10:00:00Z", 2),
            ["2026-12-07T09:00:00 Mon", "2026-12-08T09:00:00 Tue"]
        );
        assert_eq!(
            next_n("0 9 * * mon-fri", "2026-12-04T10:00:00Z", 1),
            ["2026-12-07T09:00:00 Mon"]
        );
        assert_eq!(
            next_n("0 9 * * 5-7", "2026-12-03T10:00:00Z", 3),
            [
                "2026-12-04T09:00:00 Fri",
                "2026-12-05T09:00:00 Sat",
                "2026-12-06T09:00:00 Sun"
            ]
        );
        assert_eq!(
            next_n("0 9 * * sat,sun", "2026-12-01T00:00:00Z", 2),
            ["2026-12-05T09:00:00 Sat", "2026-12-06T09:00:00 Sun"]
        );
        // Steps count from Sunday = 0: Sun, Tue, Thu, Sat.
        assert_eq!(
            next_n("0 0 * * */2", "2026-11-29T12:00:00Z", 4),
            [
                "2026-12-01T00:00:00 Tue",
                "2026-12-03T00:00:00 Thu",
                "2026-12-05T00:00:00 Sat",
                "2026-12-06T00:00:00 Sun"
            ]
        );
        assert_eq!(
            next_n("0 0 * * 1-5/2", "2026-11-29T12:00:00Z", 3),
            [
                "2026-11-30T00:00:00 Mon",
                "2026-12-02T00:00:00 Wed",
                "2026-12-04T00:00:00 Fri"
            ]
        );
    }

    #[test]
    fn month_ends_and_leap_days() {
        // The 31st skips months without one.
        assert_eq!(
            next_n("0 0 31 * *", "2027-01-31T12:00:00Z", 3),
            [
                "2027-03-31T00:00:00 Wed",
                "2027-05-31T00:00:00 Mon",
                "2027-07-31T00:00:00 Sat"
            ]
        );
        // February 29th: only in leap years.
        assert_eq!(
            next_n("0 12 29 2 *", "2026-11-29T00:00:00Z", 2),
            ["2028-02-29T12:00:00 Tue", "2032-02-29T12:00:00 Sun"]
        );
        // The last minute of a year rolls into the next.
        assert_eq!(
            next_n("59 23 31 12 *", "2026-12-31T23:59:00Z", 1),
            ["2027-12-31T23:59:00 Fri"]
        );
        assert_eq!(
            next_n("0 0 1 * *", "2028-02-28T00:00:00Z", 2),
            ["2028-03-01T00:00:00 Wed", "2028-04-01T00:00:00 Sat"]
        );
    }

    #[test]
    fn steps_ranges_lists_and_names() {
        assert_eq!(
            next_n("10-50/20 * * * *", "2026-11-29T10:00:00Z", 4),
            [
                "2026-11-29T10:10:00 Sun",
                "2026-11-29T10:30:00 Sun",
                "2026-11-29T10:50:00 Sun",
                "2026-11-29T11:10:00 Sun"
            ]
        );
        assert_eq!(
            next_n("5/20 * * * *", "2026-11-29T10:00:00Z", 3),
            [
                "2026-11-29T10:05:00 Sun",
                "2026-11-29T10:25:00 Sun",
                "2026-11-29T10:45:00 Sun"
            ]
        );
        assert_eq!(
            next_n("0 6,18 * * *", "2026-11-29T10:00:00Z", 2),
            ["2026-11-29T18:00:00 Sun", "2026-11-30T06:00:00 Mon"]
        );
        assert_eq!(
            next_n("0 0 1 jan,jul *", "2026-11-29T10:00:00Z", 2),
            ["2027-01-01T00:00:00 Fri", "2027-07-01T00:00:00 Thu"]
        );
        assert_eq!(
            next_n("0 0 1 JUN-AUG *", "2026-11-29T10:00:00Z", 3),
            [
                "2027-06-01T00:00:00 Tue",
                "2027-07-01T00:00:00 Thu",
                "2027-08-01T00:00:00 Sun"
            ]
        );
    }

    #[test]
    fn descriptors() {
        let from = "2026-11-29T10:30:00Z";
        assert_eq!(next_n("@hourly", from, 1), ["2026-11-29T11:00:00 Sun"]);
        assert_eq!(next_n("@daily", from, 1), ["2026-11-30T00:00:00 Mon"]);
        assert_eq!(next_n("@midnight", from, 1), ["2026-11-30T00:00:00 Mon"]);
        assert_eq!(next_n("@weekly", from, 1), ["2026-12-06T00:00:00 Sun"]);
        assert_eq!(next_n("@monthly", from, 1), ["2026-12-01T00:00:00 Tue"]);
        assert_eq!(next_n("@yearly", from, 1), ["2027-01-01T00:00:00 Fri"]);
        assert_eq!(next_n("@annually", from, 1), ["2027-01-01T00:00:00 Fri"]);
        assert!(CronExpr::parse("@reboot").unwrap_err().contains("oneshot"));
        assert!(CronExpr::parse("@every 5m").is_err());
    }

    #[test]
    fn seconds_field_is_an_extension() {
        assert_eq!(
            next_n("*/2 * * * * *", "2026-11-29T10:00:00.500Z", 3),
            [
                "2026-11-29T10:00:02 Sun",
                "2026-11-29T10:00:04 Sun",
                "2026-11-29T10:00:06 Sun"
            ]
        );
        assert_eq!(
            next_n("30 0 12 * * *", "2026-11-29T10:00:00Z", 1),
            ["2026-11-29T12:00:30 Sun"]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // The 13th, and every Friday: cron's OR when both fields are restricted.
        assert_eq!(
            next_n("0 0 13 * 5", "2026-11-29T00:00:00Z", 4),
            [
                "2026-12-04T00:00:00 Fri",
                "2026-12-11T00:00:00 Fri",
                "2026-12-13T00:00:00 Sun",
                "2026-12-18T00:00:00 Fri"
            ]
        );
        // A day-of-month written with * (*/2) restricts together with the weekday (AND).
        let v = next_n("0 0 */10 * 1", "2026-11-29T00:00:00Z", 2);
        for d in &v {
            assert!(d.ends_with("Mon"), "{v:?}");
        }
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let e = |s: &str| CronExpr::parse(s).unwrap_err();
        assert!(e("61 * * * *").contains("minute 61 is out of range 0-59"));
        assert!(e("").contains("empty schedule"));
        assert!(e("   ").contains("empty schedule"));
        assert!(e("* * * *").contains("has 4 field(s)"));
        assert!(e("0 0 * * * * *").contains("has 7 field(s)"));
        // A typo in six fields.
        assert!(
            e("0 */5 * * x *").contains("month \"x\""),
            "{}",
            e("0 */5 * * x *")
        );
        assert!(e("0 0 * * 8").contains("day-of-week 8 is out of range 0-7"));
        assert!(e("0 24 * * *").contains("hour 24"));
        assert!(e("0 0 0 * *").contains("day-of-month 0"));
        assert!(e("0 0 * 13 *").contains("month 13"));
        assert!(e("*/0 * * * *").contains("step must be at least 1"));
        assert!(e("5-1 * * * *").contains("backwards"));
        assert!(e("1,,2 * * * *").contains("empty item"));
        assert!(e("0 0 30 2 *").contains("never fires"));
        assert!(e("? * * * *").contains("only allowed in the day fields"));
        assert!(e("CRON_TZ=UTC 0 0 * * *").contains("schedule_timezone"));
    }

    #[test]
    fn named_zones_shift_local_times() {
        let berlin = Zone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let e = CronExpr::parse("0 8 * * 1").unwrap();
        // Winter: 08:00 CET = 07:00 UTC; summer: 08:00 CEST = 06:00 UTC.
        let t = e.next_after(at("2026-11-29T00:00:00Z"), &berlin).unwrap();
        assert_eq!(show(t), "2026-11-30T07:00:00 Mon");
        let t = e.next_after(at("2026-06-01T09:00:00Z"), &berlin).unwrap();
        assert_eq!(show(t), "2026-06-08T06:00:00 Mon");
        // A local time skipped by the spring-forward jump runs as late as it was into the
        // gap: 02:30 → 03:30 CEST (01:30 UTC), then normally the next day.
        let e = CronExpr::parse("30 2 * * *").unwrap();
        let t = e.next_after(at("2026-03-28T12:00:00Z"), &berlin).unwrap();
        assert_eq!(show(t), "2026-03-29T01:30:00 Sun");
        let late = e.next_after(at("2026-03-28T12:00:00Z"), &berlin).unwrap();
        // Searching from inside the late stretch still finds that run (a manager started at
        // 03:10 CEST that night; found by fuzzing: next_after(t - 1) must be t).
        assert_eq!(e.next_after(late - 1, &berlin), Some(late));
        assert_eq!(
            e.next_after(at("2026-03-29T01:10:00Z"), &berlin),
            Some(late)
        );
        // The same for a time at the very start of the gap, searched from just before it.
        let two = CronExpr::parse("0 2 * * *").unwrap();
        let t3 = two.next_after(at("2026-03-28T23:00:00Z"), &berlin).unwrap();
        assert_eq!(show(t3), "2026-03-29T01:00:00 Sun"); // 02:00 → 03:00 CEST
        assert_eq!(two.next_after(t3 - 1, &berlin), Some(t3));
        // And for a frequent schedule over Lord Howe's 30-minute jump (02:00 → 02:30 +11).
        let howe = Zone::from_posix("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0").unwrap();
        let e2 = CronExpr::parse("2/30 2 * * * *").unwrap();
        let t4 = e2.next_after(1_728_140_405_000, &howe).unwrap();
        assert_eq!(e2.next_after(t4 - 1, &howe), Some(t4));
        // More runs between the search's early start and the gap than it used to look at
        // (found by the `cron` fuzz target): every 4 minutes, 02:00 is skipped and runs at
        // 02:30 +11, 15:30 UTC; searched from 1 ms before, walking from 01:30 passes seven runs
        // before the gap.
        let every4 = CronExpr::parse("0/04 * * * *").unwrap();
        assert_eq!(
            every4.next_after(1_728_142_199_999, &howe),
            Some(1_728_142_200_000)
        );
        // The same over Berlin's hour: 02:00 runs at 03:00 CEST (01:00 UTC), after fifteen runs
        // in the hour before.
        let e3 = CronExpr::parse("*/4 1,2 * * *").unwrap();
        let t5 = at("2026-03-29T01:00:00Z");
        assert_eq!(e3.next_after(t5 - 1, &berlin), Some(t5));
        assert_eq!(
            e3.next_after(at("2026-03-29T00:50:00Z"), &berlin).map(show),
            Some("2026-03-29T00:52:00 Sun".to_owned())
        );
        let t = e.next_after(t, &berlin).unwrap();
        assert_eq!(show(t), "2026-03-30T00:30:00 Mon");
        // A fixed time in the repeated hour of the fall-back night runs once (the first).
        let t = e.next_after(at("2026-10-24T12:00:00Z"), &berlin).unwrap();
        assert_eq!(show(t), "2026-10-25T00:30:00 Sun");
        let t = e.next_after(t, &berlin).unwrap();
        assert_eq!(show(t), "2026-10-26T01:30:00 Mon");
        // Every minute keeps firing through the repeated hour of the fall-back night.
        let e = CronExpr::parse("* * * * *").unwrap();
        let before = at("2026-10-25T00:59:00Z"); // 02:59 CEST
        let t = e.next_after(before, &berlin).unwrap();
        assert_eq!(show(t), "2026-10-25T01:00:00 Sun"); // 02:00 CET, one minute later
        let t2 = e.next_after(t, &berlin).unwrap();
        assert_eq!(t2 - t, 60_000);
        let d = DateTime::<Utc>::from_timestamp_millis(t2).unwrap();
        assert_eq!(d.minute(), 1);
    }
}
