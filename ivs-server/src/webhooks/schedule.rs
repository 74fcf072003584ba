//! When a failed event is tried again, and when it is given up.
//!
//! The delay grows exponentially with the event's delivery count, with
//! jitter. The jitter is derived from the event's position and delivery
//! count instead of drawn at random: every instance (and every 200 ms poll)
//! computes the same due time for an event, so polling often does not pull
//! retries towards the low end of the jitter range.

use std::time::Duration;

use aws_lc_rs::digest;

use crate::config::WebhookSettings;

/// What is added to the request timeout before another instance may take an
/// unacknowledged event over: an attempt still in flight is never claimed.
pub const CLAIM_MARGIN: Duration = Duration::from_secs(2);

/// The retry schedule of one endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// First retry delay.
    pub backoff: Duration,
    /// Longest delay.
    pub backoff_max: Duration,
    /// Events older than this are given up.
    pub retry_window: Duration,
    /// Least idle time of an event taken over (request timeout + margin).
    pub min_idle: Duration,
}

impl Schedule {
    /// The schedule the settings give.
    pub fn new(w: &WebhookSettings) -> Self {
        Schedule {
            backoff: w.backoff,
            backoff_max: w.backoff_max,
            retry_window: w.retry_window,
            min_idle: w.timeout + CLAIM_MARGIN,
        }
    }

    /// How long an event handed out `deliveries` times (the first read
    /// counts) waits after its last hand-out before the next attempt: the
    /// backoff doubled per earlier retry, capped, ×0.8–1.2, and never less
    /// than `min_idle`.
    pub fn delay(&self, position: &str, deliveries: u32) -> Duration {
        let doublings = deliveries.saturating_sub(1).min(30);
        let base = self
            .backoff
            .saturating_mul(1u32 << doublings)
            .min(self.backoff_max);
        base.mul_f64(0.8 + 0.4 * unit(position, deliveries))
            .max(self.min_idle)
    }

    /// Whether an event recorded at `recorded_ms` is past the retry window at `now_ms`.
    pub fn expired(&self, recorded_ms: i64, now_ms: i64) -> bool {
        let window = i64::try_from(self.retry_window.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(recorded_ms) > window
    }
}

/// A number in [0, 1) fixed by the event and its delivery count.
fn unit(position: &str, deliveries: u32) -> f64 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(position.as_bytes());
    ctx.update(&deliveries.to_be_bytes());
    let d = ctx.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_ref()[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            retry_window: Duration::from_secs(86400),
            min_idle: Duration::from_secs(17),
        }
    }

    #[test]
    fn delays_double_within_jitter_and_are_capped() {
        let s = schedule();
        for d in 3..=12u32 {
            let want = (5.0 * f64::from(1u32 << (d - 1))).min(3600.0);
            let got = s.delay("1700000000000-0", d).as_secs_f64();
            assert!(
                got >= (want * 0.8).max(17.0) - 1e-9 && got <= want * 1.2 + 1e-9,
                "delivery {d}: {got}"
            );
        }
        // Never below the claim floor, even for the first retry.
        assert_eq!(
            s.delay("1-0", 1),
            Duration::from_secs(17).max(s.delay("1-0", 1))
        );
        assert!(s.delay("1-0", 1) >= Duration::from_secs(17));
        // Huge counts do not overflow.
        assert!(s.delay("1-0", u32::MAX) <= Duration::from_secs(4320));
    }

    #[test]
    fn jitter_is_the_same_for_everyone_and_differs_between_events() {
        let s = schedule();
        assert_eq!(s.delay("5-0", 9), s.delay("5-0", 9));
        let spread: std::collections::BTreeSet<_> =
            (0..50).map(|i| s.delay(&format!("5-{i}"), 9)).collect();
        assert!(spread.len() > 40, "{spread:?}");
    }

    #[test]
    fn events_expire_after_the_window() {
        let s = schedule();
        assert!(!s.expired(0, 86_400_000));
        assert!(s.expired(0, 86_400_001));
    }
}
