//! Load generators for `ivs-server`, in one place.
//!
//! - [`viewer_bot`]: the engine of the `viewer-bot` example — many simulated
//!   viewers, each a real SDK viewer session, from one process, and the
//!   report of their run.
//! - `paced_load` (binary): open-loop HTTP load at a fixed rate, latency
//!   measured from the scheduled start (`scripts/bench.sh`,
//!   `scripts/capacity.sh`).
//! - `ws_fanout` (binary): N `/ws` subscribers and the spread of each
//!   broadcast's arrival over them, with the server's memory.
//! - `bare_warp` (binary): a warp server with nothing behind it, the ceiling
//!   of the HTTP stack that the heartbeat is compared with.
//!
//! The binaries print a last line `RESULT name=value ...` that the scripts
//! parse; their flags and that line are what makes runs comparable over time,
//! so they change only together with the scripts and `docs/performance.md`.

pub mod process;
pub mod viewer_bot;

use std::time::Duration;

/// Parses a duration flag the way wrk, k6 and vegeta take one: a number with
/// a unit (`500ms`, `30s`, `2m`, `1h`), several of them in a row (`1m30s`),
/// or a bare number of seconds (`10`, `0.5`), which the tools took before
/// they took units.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("a duration is required (e.g. 30s, 2m, 1h)".into());
    }
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("not a duration: {s:?} (a negative or too large number)"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{s:?}: {rest:?} has no unit (ms, s, m or h)"))?;
        let (number, after) = rest.split_at(digits);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{s:?}: expected a number before {unit:?}"))?;
        let unit_secs = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("{s:?}: unknown unit {other:?} (use ms, s, m or h)")),
        };
        let part = Duration::try_from_secs_f64(value * unit_secs)
            .map_err(|_| format!("{s:?}: {number}{unit} is too large"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("{s:?} is too large"))?;
        rest = next;
    }
    Ok(total)
}

/// The nearest-rank `p` percentile (0–100) of `sorted`, `None` when empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    let rank = ((p / 100.0) * last as f64).round() as usize;
    sorted.get(rank.min(last)).copied()
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, percentile};
    use std::time::Duration;

    #[test]
    fn durations_are_parsed_like_wrk_and_k6() {
        let ok = [
            ("10", Duration::from_secs(10)),
            ("0.25", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("500ms", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s", Duration::from_secs(3723)),
            (" 45s ", Duration::from_secs(45)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text:?}");
        }
        let refused = [
            ("", "required"),
            ("-1", "negative"),
            ("ten", "expected a number"),
            ("10x", "unknown unit \"x\""),
            ("5 s", "unknown unit \" s\""),
            ("s", "expected a number"),
            ("1m30", "no unit"),
            ("1e400", "too large"),
        ];
        for (text, why) in refused {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn percentile_takes_the_nearest_rank() {
        let v: Vec<u64> = (1..=101).collect();
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&v, 50.0), Some(51));
        assert_eq!(percentile(&v, 99.0), Some(100));
        assert_eq!(percentile(&v, 100.0), Some(101));
        assert_eq!(percentile(&v, 250.0), Some(101));
        assert_eq!(percentile::<u64>(&[], 50.0), None);
    }
}
