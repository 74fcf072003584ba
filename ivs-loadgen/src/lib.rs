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

/// Parses a flag's seconds (`10`, `0.5`) into a duration.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("not a number: {s:?}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a duration in seconds: {s:?}"))
}

/// The nearest-rank `p` percentile (0–100) of `sorted`, `None` when empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    let rank = ((p / 100.0) * last as f64).round() as usize;
    sorted.get(rank.min(last)).copied()
}

#[cfg(test)]
mod tests {
    use super::{parse_secs, percentile};
    use std::time::Duration;

    #[test]
    fn seconds_are_parsed_as_durations() {
        assert_eq!(parse_secs("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("ten").is_err());
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
