//! Time zones for schedules, read from the image's own zone database (`/usr/share/zoneinfo`,
//! TZif files, RFC 8536) instead of a zone database compiled into the binary.
//!
//! A [`Zone`] answers one question — the UTC offset in force at an instant — from the file's
//! transition table, and past its last transition from the POSIX TZ rule in the file's footer
//! (`CET-1CEST,M3.5.0,M10.5.0/3`); "slim" TZif files hold only that rule for recent years.
//! It implements chrono's `TimeZone` so the `cron` crate can walk local calendar fields in it.
//! UTC needs no file, so a `FROM scratch` image without zone data still schedules in UTC.

use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Offset, TimeZone};

/// Where zone files live unless `TZDIR` says otherwise (glibc's default).
pub const DEFAULT_TZDIR: &str = "/usr/share/zoneinfo";
/// Largest zone file we read; real ones are a few KiB.
pub const MAX_TZIF_BYTES: usize = 256 * 1024;
/// Longest zone name accepted (`America/Argentina/ComodRivadavia` is 32).
const MAX_NAME: usize = 128;
const SECS_PER_DAY: i64 = 86_400;

/// A time zone: its name and how to find the offset at any instant.
#[derive(Clone, PartialEq, Eq)]
pub struct Zone(Arc<ZoneData>);

#[derive(Debug, PartialEq, Eq)]
struct ZoneData {
    name: String,
    /// Transition instants (Unix seconds), ascending.
    at: Vec<i64>,
    /// For each transition, the UTC offset (seconds east) from then on.
    offset_after: Vec<i32>,
    /// Offset before the first transition (local time type 0).
    initial: i32,
    /// Rule for instants after the last transition.
    rule: Option<Rule>,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.0.name)
    }
}

impl Zone {
    pub fn utc() -> Zone {
        Zone(Arc::new(ZoneData {
            name: "UTC".to_owned(),
            at: Vec::new(),
            offset_after: Vec::new(),
            initial: 0,
            rule: None,
        }))
    }

    /// The zone's name as the user wrote it (`Europe/Berlin`, `UTC`).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Parses a TZif file (versions 1 to 4).
    pub fn from_tzif(name: &str, data: &[u8]) -> Result<Zone, String> {
        let bad = |why: &str| format!("{name}: not a usable zone file ({why})");
        let header = Header::parse(data).ok_or_else(|| bad("no TZif header"))?;
        let (hdr, body, time_size) = if header.version >= b'2' {
            // Skip the 32-bit block; the 64-bit one follows with its own header.
            let second = data
                .get(HEADER_LEN + header.block_len(4)..)
                .ok_or_else(|| bad("truncated"))?;
            let h2 = Header::parse(second).ok_or_else(|| bad("no second header"))?;
            (h2, &second[HEADER_LEN..], 8)
        } else {
            (header, &data[HEADER_LEN..], 4)
        };
        let block = hdr.block_len(time_size);
        if body.len() < block || hdr.typecnt == 0 {
            return Err(bad("truncated"));
        }
        let mut r = Reader(body);
        let mut at = Vec::with_capacity(hdr.timecnt);
        for _ in 0..hdr.timecnt {
            at.push(if time_size == 8 {
                r.i64().ok_or_else(|| bad("truncated"))?
            } else {
                i64::from(r.i32().ok_or_else(|| bad("truncated"))?)
            });
        }
        let idx = r
            .take(hdr.timecnt)
            .ok_or_else(|| bad("truncated"))?
            .to_vec();
        let mut offsets = Vec::with_capacity(hdr.typecnt);
        for _ in 0..hdr.typecnt {
            let off = r.i32().ok_or_else(|| bad("truncated"))?;
            let _isdst_abbr = r.take(2).ok_or_else(|| bad("truncated"))?;
            if off.unsigned_abs() >= SECS_PER_DAY as u32 {
                return Err(bad("offset out of range"));
            }
            offsets.push(off);
        }
        let mut offset_after = Vec::with_capacity(idx.len());
        for i in idx {
            offset_after.push(
                *offsets
                    .get(usize::from(i))
                    .ok_or_else(|| bad("bad type index"))?,
            );
        }
        if at.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("transitions out of order"));
        }
        let rule = if time_size == 8 {
            let footer = body.get(block..).unwrap_or_default();
            let text = footer
                .strip_prefix(b"\n")
                .and_then(|f| f.split(|b| *b == b'\n').next())
                .and_then(|t| std::str::from_utf8(t).ok())
                .unwrap_or("");
            if text.is_empty() {
                None
            } else {
                Some(Rule::parse(text).ok_or_else(|| bad("unreadable footer rule"))?)
            }
        } else {
            None
        };
        Ok(Zone(Arc::new(ZoneData {
            name: name.to_owned(),
            at,
            offset_after,
            initial: offsets[0],
            rule,
        })))
    }

    /// A zone given by a POSIX TZ rule alone (`TZ=CET-1CEST,M3.5.0,M10.5.0/3`).
    pub fn from_posix(text: &str) -> Option<Zone> {
        let rule = Rule::parse(text)?;
        Some(Zone(Arc::new(ZoneData {
            name: text.to_owned(),
            at: Vec::new(),
            offset_after: Vec::new(),
            initial: rule.std,
            rule: Some(rule),
        })))
    }

    /// UTC offset (seconds east) in force at the Unix instant `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        let z = &self.0;
        match z.at.partition_point(|&x| x <= t) {
            0 if z.at.is_empty() => z.rule.as_ref().map_or(z.initial, |r| r.offset_at(t)),
            0 => z.initial,
            n if n == z.at.len() => match &z.rule {
                Some(r) => r.offset_at(t),
                None => z.offset_after[n - 1],
            },
            n => z.offset_after[n - 1],
        }
    }

    /// The offsets that turn the local wall time `local` (seconds since the epoch, as if UTC)
    /// into an instant: two in a fall-back overlap (earlier first). A time skipped by a
    /// spring-forward change is read with the offset from before the change, so it lands as
    /// far after the change as it was into the gap (02:30 → 03:30), the way `mktime(3)` reads
    /// it — a schedule set for a skipped time runs late that day instead of not at all.
    fn offsets_for_local(&self, local: i64) -> MappedLocalTime<i32> {
        // Offsets in force a day either side cover any single transition near `local`.
        let a = self.offset_at(local - SECS_PER_DAY);
        let b = self.offset_at(local + SECS_PER_DAY);
        let fits = |o: i32| self.offset_at(local - i64::from(o)) == o;
        match (fits(a), a != b && fits(b)) {
            (true, true) => {
                // The earlier instant has the larger offset.
                let (early, late) = if a > b { (a, b) } else { (b, a) };
                MappedLocalTime::Ambiguous(early, late)
            }
            (true, false) => MappedLocalTime::Single(a),
            (false, true) => MappedLocalTime::Single(b),
            (false, false) => {
                // Zones with two transitions within two days: ask around the instant itself.
                let c = self.offset_at(local);
                MappedLocalTime::Single(if fits(c) { c } else { a })
            }
        }
    }
}

const HEADER_LEN: usize = 44;

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn parse(d: &[u8]) -> Option<Header> {
        if d.len() < HEADER_LEN || &d[..4] != b"TZif" {
            return None;
        }
        let n = |i: usize| -> usize {
            u32::from_be_bytes([d[20 + 4 * i], d[21 + 4 * i], d[22 + 4 * i], d[23 + 4 * i]])
                as usize
        };
        let h = Header {
            version: if d[4] == 0 { b'1' } else { d[4] },
            isutcnt: n(0),
            isstdcnt: n(1),
            leapcnt: n(2),
            timecnt: n(3),
            typecnt: n(4),
            charcnt: n(5),
        };
        // Real files have a few hundred transitions; refuse absurd counts before multiplying.
        let limit = MAX_TZIF_BYTES;
        [
            h.isutcnt, h.isstdcnt, h.leapcnt, h.timecnt, h.typecnt, h.charcnt,
        ]
        .iter()
        .all(|&c| c <= limit)
        .then_some(h)
    }

    /// Bytes of the data block after this header, for times of `time_size` bytes.
    fn block_len(&self, time_size: usize) -> usize {
        self.timecnt * time_size
            + self.timecnt
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (time_size + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn i32(&mut self) -> Option<i32> {
        let b = self.take(4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Option<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(i64::from_be_bytes(a))
    }
}

/// A POSIX TZ rule: standard offset, and optionally a daylight offset with its start and end.
/// Offsets are stored east of UTC (the POSIX text writes them west: `CET-1` is UTC+1).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    std: i32,
    dst: Option<Dst>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Dst {
    offset: i32,
    start: (Day, i32),
    end: (Day, i32),
}

/// The day part of a POSIX transition rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Day {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(u16),
    /// `n`: day 0..=365, February 29 counted in leap years.
    Julian0(u16),
    /// `Mm.w.d`: weekday d (0 = Sunday) of week w (5 = last) of month m.
    Month { m: u8, w: u8, d: u8 },
}

impl Rule {
    fn parse(text: &str) -> Option<Rule> {
        let mut p = Posix { s: text.as_bytes() };
        p.name()?;
        let std = -p.offset()?;
        if p.s.is_empty() {
            return Some(Rule { std, dst: None });
        }
        p.name()?;
        let offset = if p.s.first().is_some_and(|c| *c != b',') {
            -p.offset()?
        } else {
            std + 3600
        };
        let (start, end) = if p.s.is_empty() {
            // No rule given: POSIX leaves it to the implementation; glibc uses the US rule.
            (
                (Day::Month { m: 3, w: 2, d: 0 }, 7200),
                (Day::Month { m: 11, w: 1, d: 0 }, 7200),
            )
        } else {
            p.eat(b',')?;
            let start = p.transition()?;
            p.eat(b',')?;
            let end = p.transition()?;
            (start, end)
        };
        if !p.s.is_empty() {
            return None;
        }
        Some(Rule {
            std,
            dst: Some(Dst { offset, start, end }),
        })
    }

    fn offset_at(&self, t: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std;
        };
        let year = year_of(t + i64::from(self.std));
        // Transition times are local: the start in standard time, the end in daylight time.
        let start = day_start(year, dst.start.0) + i64::from(dst.start.1) - i64::from(self.std);
        let end = day_start(year, dst.end.0) + i64::from(dst.end.1) - i64::from(dst.offset);
        let in_dst = if start <= end {
            start <= t && t < end
        } else {
            // Southern hemisphere: daylight time spans the new year.
            !(end <= t && t < start)
        };
        if in_dst { dst.offset } else { self.std }
    }
}

fn year_of(t: i64) -> i32 {
    chrono::DateTime::from_timestamp(t, 0).map_or(1970, |d| d.year())
}

/// Midnight (as seconds since the epoch, local = UTC arithmetic) of the rule day in `year`.
fn day_start(year: i32, day: Day) -> i64 {
    let jan1 = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    let base = jan1
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp();
    let leap = NaiveDate::from_ymd_opt(year, 2, 29).is_some();
    match day {
        Day::Julian0(n) => base + i64::from(n) * SECS_PER_DAY,
        Day::Julian1(n) => {
            let n = i64::from(n);
            // Day 60 is March 1 in every year: February 29 is skipped.
            let skip = i64::from(leap && n >= 60);
            base + (n - 1 + skip) * SECS_PER_DAY
        }
        Day::Month { m, w, d } => {
            let first = NaiveDate::from_ymd_opt(year, u32::from(m), 1).unwrap_or(jan1);
            let first_wd = first.weekday().num_days_from_sunday() as u8;
            let mut mday = 1 + (7 + d - first_wd) % 7 + 7 * (w - 1);
            let days = days_in_month(year, u32::from(m));
            while u32::from(mday) > days {
                mday -= 7;
            }
            let date = first.with_day(u32::from(mday)).unwrap_or(first);
            date.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp()
        }
    }
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// A cursor over POSIX TZ text.
struct Posix<'a> {
    s: &'a [u8],
}

impl Posix<'_> {
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.s.first() == Some(&c)).then(|| self.s = &self.s[1..])
    }

    /// `CET` or `<+03>`: at least three characters.
    fn name(&mut self) -> Option<()> {
        let n = if self.s.first() == Some(&b'<') {
            let end = self.s.iter().position(|c| *c == b'>')?;
            let n = end + 1;
            (end >= 4).then_some(n)?
        } else {
            let n = self
                .s
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            (n >= 3).then_some(n)?
        };
        self.s = &self.s[n..];
        Some(())
    }

    fn number(&mut self) -> Option<i32> {
        let n = self.s.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 3 {
            return None;
        }
        let v = std::str::from_utf8(&self.s[..n]).ok()?.parse().ok()?;
        self.s = &self.s[n..];
        Some(v)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds (sign as written).
    fn offset(&mut self) -> Option<i32> {
        let sign = match self.s.first() {
            Some(b'-') => {
                self.s = &self.s[1..];
                -1
            }
            Some(b'+') => {
                self.s = &self.s[1..];
                1
            }
            _ => 1,
        };
        let mut secs = self.number()? * 3600;
        for scale in [60, 1] {
            if self.eat(b':').is_none() {
                break;
            }
            secs += self.number()? * scale;
        }
        (secs <= 167 * 3600).then_some(sign * secs)
    }

    /// `Mm.w.d[/time]`, `Jn[/time]` or `n[/time]`; the time defaults to 02:00.
    fn transition(&mut self) -> Option<(Day, i32)> {
        let day = match self.s.first()? {
            b'M' => {
                self.s = &self.s[1..];
                let m = self.number()?;
                self.eat(b'.')?;
                let w = self.number()?;
                self.eat(b'.')?;
                let d = self.number()?;
                if !(1..=12).contains(&m) || !(1..=5).contains(&w) || !(0..=6).contains(&d) {
                    return None;
                }
                Day::Month {
                    m: m as u8,
                    w: w as u8,
                    d: d as u8,
                }
            }
            b'J' => {
                self.s = &self.s[1..];
                let n = self.number()?;
                (1..=365).contains(&n).then_some(Day::Julian1(n as u16))?
            }
            _ => {
                let n = self.number()?;
                (0..=365).contains(&n).then_some(Day::Julian0(n as u16))?
            }
        };
        let time = if self.eat(b'/').is_some() {
            self.offset()?
        } else {
            7200
        };
        Some((day, time))
    }
}

/// Loads the zone `name` as `TZ` or `schedule_timezone` names it: `UTC` (built in),
/// `Europe/Berlin` or `:Europe/Berlin` (a file under `tzdir`), an absolute path to a TZif
/// file, or a POSIX rule (`CET-1CEST,M3.5.0,M10.5.0/3`). `read` reads a file (tests fake it).
pub fn load(
    name: &str,
    tzdir: &str,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Zone, String> {
    let n = name.strip_prefix(':').unwrap_or(name).trim();
    if matches!(
        n,
        "" | "UTC" | "UTC0" | "Etc/UTC" | "GMT" | "GMT0" | "Etc/GMT" | "Universal" | "Zulu" | "Z"
    ) {
        return Ok(Zone::utc());
    }
    if n.len() > MAX_NAME || n.split('/').any(|part| part == "..") {
        return Err(format!("invalid time zone name {name:?}"));
    }
    let path = if n.starts_with('/') {
        n.to_owned()
    } else {
        format!("{}/{n}", tzdir.trim_end_matches('/'))
    };
    if let Some(data) = read(&path) {
        return Zone::from_tzif(n, &data);
    }
    // A POSIX rule needs an offset, so a misspelt zone name is never taken for one.
    let head = n.split(',').next().unwrap_or(n);
    if head.bytes().any(|b| b.is_ascii_digit()) && !head.contains('/') {
        if let Some(z) = Zone::from_posix(n) {
            return Ok(z);
        }
    }
    Err(format!(
        "time zone {name:?} not found in {path} (the image's zone database: install tzdata, \
         or use UTC)"
    ))
}

/// An offset in force, tied to its zone (chrono rebuilds the zone from an offset).
#[derive(Clone, Debug)]
pub struct ZoneOffset {
    secs: i32,
    zone: Zone,
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        // Offsets are checked to be under a day when a zone is loaded, so this always fits.
        FixedOffset::east_opt(self.secs).unwrap_or_else(|| chrono::Utc.fix())
    }
}

impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fix(), f)
    }
}

impl TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Zone {
        offset.zone.clone()
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        match local.and_hms_opt(0, 0, 0) {
            Some(dt) => self.offset_from_local_datetime(&dt),
            None => MappedLocalTime::None,
        }
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let wrap = |secs| ZoneOffset {
            secs,
            zone: self.clone(),
        };
        self.offsets_for_local(local.and_utc().timestamp())
            .map(wrap)
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        let t = utc.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        self.offset_from_utc_datetime(&t.naive_utc())
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        ZoneOffset {
            secs: self.offset_at(utc.and_utc().timestamp()),
            zone: self.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> Option<Zone> {
        let data = std::fs::read(format!("{DEFAULT_TZDIR}/{name}")).ok()?;
        Some(Zone::from_tzif(name, &data).unwrap())
    }

    fn ts(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn posix_rules_follow_eu_and_southern_dst() {
        let berlin = Zone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(berlin.offset_at(ts("2026-01-15T12:00:00Z")), 3600);
        assert_eq!(berlin.offset_at(ts("2026-07-15T12:00:00Z")), 7200);
        // 2026-03-29 01:00 UTC is 02:00 CET: the switch.
        assert_eq!(berlin.offset_at(ts("2026-03-29T00:59:59Z")), 3600);
        assert_eq!(berlin.offset_at(ts("2026-03-29T01:00:00Z")), 7200);
        // 2026-10-25 01:00 UTC is 03:00 CEST: back.
        assert_eq!(berlin.offset_at(ts("2026-10-25T00:59:59Z")), 7200);
        assert_eq!(berlin.offset_at(ts("2026-10-25T01:00:00Z")), 3600);
        let sydney = Zone::from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.offset_at(ts("2026-01-15T00:00:00Z")), 11 * 3600);
        assert_eq!(sydney.offset_at(ts("2026-07-15T00:00:00Z")), 10 * 3600);
        let ny = Zone::from_posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(ny.offset_at(ts("2026-07-04T12:00:00Z")), -4 * 3600);
        assert_eq!(ny.offset_at(ts("2026-12-25T12:00:00Z")), -5 * 3600);
        let fixed = Zone::from_posix("<+0530>-5:30").unwrap();
        assert_eq!(fixed.offset_at(0), 5 * 3600 + 1800);
        assert!(Zone::from_posix("Europe/Berlin").is_none());
        assert!(Zone::from_posix("CET").is_none());
    }

    #[test]
    fn tzif_files_agree_with_the_rules_and_beyond_their_table() {
        let Some(berlin) = file("Europe/Berlin") else {
            panic!("tzdata is needed for this test (scripts/ensure-deps.sh test)");
        };
        assert_eq!(berlin.name(), "Europe/Berlin");
        assert_eq!(berlin.offset_at(ts("2026-07-15T12:00:00Z")), 7200);
        assert_eq!(berlin.offset_at(ts("2026-12-15T12:00:00Z")), 3600);
        // Past the table of a fat file (2037): the footer rule takes over.
        assert_eq!(berlin.offset_at(ts("2090-07-15T12:00:00Z")), 7200);
        assert_eq!(berlin.offset_at(ts("2090-12-15T12:00:00Z")), 3600);
        // History: Berlin had no DST in 1975.
        assert_eq!(berlin.offset_at(ts("1975-07-15T12:00:00Z")), 3600);
        let kolkata = file("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset_at(ts("2026-07-15T12:00:00Z")), 19800);
        let utc = file("Etc/UTC").unwrap();
        assert_eq!(utc.offset_at(ts("2026-07-15T12:00:00Z")), 0);
    }

    #[test]
    fn local_times_in_gaps_and_overlaps() {
        let berlin = Zone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let local = |s: &str| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp()
        };
        // In the spring-forward gap: read with the winter offset, i.e. 03:30 CEST.
        assert_eq!(
            berlin.offsets_for_local(local("2026-03-29 02:30:00")),
            MappedLocalTime::Single(3600)
        );
        assert_eq!(
            berlin.offsets_for_local(local("2026-10-25 02:30:00")),
            MappedLocalTime::Ambiguous(7200, 3600)
        );
        assert_eq!(
            berlin.offsets_for_local(local("2026-06-01 08:00:00")),
            MappedLocalTime::Single(7200)
        );
        let dt = berlin
            .with_ymd_and_hms(2026, 6, 1, 8, 0, 0)
            .single()
            .unwrap();
        assert_eq!(dt.timestamp(), ts("2026-06-01T06:00:00Z"));
    }

    #[test]
    fn names_resolve_or_fail_clearly() {
        let read = |p: &str| std::fs::read(p).ok();
        assert_eq!(load("UTC", DEFAULT_TZDIR, &read).unwrap().name(), "UTC");
        assert_eq!(load(":Etc/UTC", "/nowhere", &read).unwrap().name(), "UTC");
        let e = load("Mars/Olympus_Mons", "/nowhere", &read).unwrap_err();
        assert!(e.contains("not found in /nowhere/Mars/Olympus_Mons"), "{e}");
        assert!(load("../etc/passwd", DEFAULT_TZDIR, &read).is_err());
        let z = load("CET-1CEST,M3.5.0,M10.5.0/3", "/nowhere", &read).unwrap();
        assert_eq!(z.offset_at(ts("2026-07-15T12:00:00Z")), 7200);
        let fake = |_: &str| Some(b"not a zone".to_vec());
        assert!(
            load("Europe/Berlin", "/x", &fake)
                .unwrap_err()
                .contains("not a usable")
        );
    }
}
