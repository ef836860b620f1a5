//! Durations as Go writes them (`time.ParseDuration`), the form Kubernetes users know from
//! kubectl and controller flags: a sequence of numbers, each with an optional fraction and a
//! unit (`250ms`, `1.5s`, `90s`, `1m30s`, `1h`). A bare `0` is zero; any other number needs
//! its unit, so that `30` is never silently taken as seconds or milliseconds.

use std::time::Duration;

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const EXAMPLES: &str = "e.g. 250ms, 1.5s, 90s, 1m30s, 1h";

/// Parses a Go-style duration. Negative durations are refused: every duration this program
/// takes is a timeout or an interval.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let error = |why: &str| format!("invalid duration {text:?}: {why} ({EXAMPLES})");
    let invalid = |why: &str| Err(error(why));
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return invalid("a duration cannot be negative");
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return invalid("empty");
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let whole_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(len)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return invalid("expected a number");
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return invalid("missing unit after the number");
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return invalid(&format!("unknown unit {unit:?}: use ns, us, ms, s, m or h"));
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| error("too large"))?
        };
        // Digits past the 18th are below a nanosecond even for hours.
        let fraction = &fraction[..fraction.len().min(18)];
        let fraction_nanos = if fraction.is_empty() {
            0
        } else {
            let digits: u128 = fraction.parse().expect("ASCII digits");
            digits * scale / 10u128.pow(fraction.len() as u32)
        };
        nanos = whole
            .checked_mul(scale)
            .and_then(|n| n.checked_add(fraction_nanos))
            .and_then(|n| n.checked_add(nanos))
            .filter(|n| *n <= u128::from(u64::MAX))
            .ok_or_else(|| error("too large"))?;
        rest = after;
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// `d` the way a KafkaCluster's policy spells durations, to the second: `90s` is `1m30s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (h, 0, 0) => format!("{h}h"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn go_durations_are_understood() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("1.s"), Ok(ms(1000)));
        assert_eq!(parse_duration("1h2m3.5s"), Ok(ms(3_723_500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("+5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        // A fraction finer than a nanosecond is cut, as Go does.
        assert_eq!(
            parse_duration("0.1234567891234567891s"),
            Ok(Duration::from_nanos(123_456_789))
        );
    }

    #[test]
    fn garbage_is_refused_with_the_reason_and_examples() {
        for (text, why) in [
            ("", "empty"),
            ("30", "missing unit"),
            ("1m30", "missing unit"),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("1.5.5s", "missing unit"),
            ("2d", "unknown unit \"d\""),
            ("5 s", "unknown unit \" s\""),
            ("1hour", "unknown unit \"hour\""),
            ("-1s", "cannot be negative"),
            ("abc", "expected a number"),
            ("99999999999999999999h", "too large"),
            ("9999999h", "too large"),
        ] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
            assert!(
                err.starts_with(&format!("invalid duration {text:?}: ")),
                "{err}"
            );
            assert!(err.contains("1m30s"), "{err}");
        }
    }
}
