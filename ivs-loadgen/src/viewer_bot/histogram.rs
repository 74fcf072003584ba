//! Latencies of thousands of bots without a vector per sample.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A fixed-size, lock-free latency histogram over microseconds:
/// exact below 128 µs, then 64 buckets per power of two (≤ 1.6 % error).
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max_us: AtomicU64,
}

const SUB_BUCKETS: u64 = 64;
const LINEAR_LIMIT: u64 = 2 * SUB_BUCKETS;
/// Up to 2^40 µs (12 days): far beyond any request timeout.
const MAX_EXPONENT: u64 = 40;

impl Histogram {
    pub(crate) fn new() -> Self {
        let len = LINEAR_LIMIT + (MAX_EXPONENT - 7 + 1) * SUB_BUCKETS;
        Histogram {
            buckets: (0..len).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    fn index(us: u64) -> usize {
        let us = us.min((1 << (MAX_EXPONENT + 1)) - 1);
        if us < LINEAR_LIMIT {
            return us as usize;
        }
        let exponent = 63 - u64::from(us.leading_zeros()); // ≥ 7
        let top = us >> (exponent - 6); // in [64, 128)
        (LINEAR_LIMIT + (exponent - 7) * SUB_BUCKETS + (top - SUB_BUCKETS)) as usize
    }

    /// The middle of bucket `index`, in microseconds.
    fn value(index: usize) -> f64 {
        let index = index as u64;
        if index < LINEAR_LIMIT {
            return index as f64;
        }
        let exponent = (index - LINEAR_LIMIT) / SUB_BUCKETS + 7;
        let top = (index - LINEAR_LIMIT) % SUB_BUCKETS + SUB_BUCKETS;
        let width = 1u64 << (exponent - 6);
        (top * width) as f64 + (width as f64 - 1.0) / 2.0
    }

    pub(crate) fn record(&self, latency: Duration) {
        let us = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        self.buckets[Self::index(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The `q` quantile (0..=1) in milliseconds, never above the exact maximum.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        let count = self.count();
        if count == 0 {
            return 0.0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        let max = self.max_us.load(Relaxed) as f64;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return Self::value(i).min(max) / 1000.0;
            }
        }
        max / 1000.0
    }

    pub(crate) fn max_ms(&self) -> f64 {
        self.max_us.load(Relaxed) as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;
    use std::time::Duration;

    #[test]
    fn histogram_quantiles_are_close() {
        let h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        for (q, want) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = h.quantile_ms(q);
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max_ms(), 1000.0);
        for us in [0, 1, 127, 128, 129, 1 << 20, u64::MAX] {
            let i = Histogram::index(us);
            assert!(i < h.buckets.len());
        }
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.count(), 0);
        assert_eq!(h.quantile_ms(0.99), 0.0);
        assert_eq!(h.max_ms(), 0.0);
    }
}
