//! Durations as users write them: a bare integer means seconds (`30`), a string may carry
//! units and combine them (`500ms`, `30s`, `5m`, `1h`, `1m30s`).

use serde::{Deserialize, Deserializer};

/// A non-negative duration in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub u64);

impl Duration {
    pub const fn ms(self) -> u64 {
        self.0
    }
}

/// Parses `"30"`, `"500ms"`, `"1m30s"`; the error says what is accepted.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "invalid duration {s:?}: use seconds (30) or a number with a unit (500ms, 30s, 5m, 1h)"
        )
    };
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = t.parse::<u64>() {
        return n.checked_mul(1000).map(Duration).ok_or_else(bad);
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if digits == 0 {
            return Err(bad());
        }
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let (unit, tail) = tail.split_at(unit_len);
        let scale: f64 = match unit {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return Err(bad()),
        };
        let n: f64 = num.parse().map_err(|_| bad())?;
        let ms = n * scale;
        if !ms.is_finite() || ms > 1e15 {
            return Err(bad());
        }
        total = total.checked_add(ms.round() as u64).ok_or_else(bad)?;
        rest = tail;
    }
    Ok(Duration(total))
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor that fails inside `visit_*`, so the YAML error points at the value itself.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a duration: seconds (30) or a string with a unit (\"500ms\", \"30s\", \"5m\")",
                )
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                v.checked_mul(1000)
                    .map(Duration)
                    .ok_or_else(|| E::custom("duration too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!(
                        "invalid duration {v}: durations cannot be negative"
                    ))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: write fractions with a unit, such as \"1500ms\""
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("30"), Ok(Duration(30_000)));
        assert_eq!(parse("500ms"), Ok(Duration(500)));
        assert_eq!(parse("30s"), Ok(Duration(30_000)));
        assert_eq!(parse("5m"), Ok(Duration(300_000)));
        assert_eq!(parse("1h"), Ok(Duration(3_600_000)));
        assert_eq!(parse("1m30s"), Ok(Duration(90_000)));
        assert_eq!(parse("1.5s"), Ok(Duration(1_500)));
        assert_eq!(parse("0"), Ok(Duration(0)));
    }

    #[test]
    fn rejects_nonsense() {
        for s in ["", "abc", "5 minutes", "-1", "10x", "ms", "1s2"] {
            assert!(parse(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn yaml_forms() {
        let d: Duration = yaml_serde::from_str("45").unwrap();
        assert_eq!(d, Duration(45_000));
        let d: Duration = yaml_serde::from_str("\"250ms\"").unwrap();
        assert_eq!(d, Duration(250));
        assert!(yaml_serde::from_str::<Duration>("-3").is_err());
        assert!(yaml_serde::from_str::<Duration>("[1]").is_err());
    }
}
