//! Counters for events a client can cause at will — refused requests, slow
//! headers, a full connection table — with a sampled log: every event is
//! counted (and shown in `/metrics`), but a kind of event writes at most one
//! log line per [`WINDOW`], carrying how many happened since the previous
//! line. A flood of 401s thus costs one line per 10 s instead of one per
//! request, which would otherwise let a client fill the disk and drown the
//! lines that matter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// At most one log line per kind of event in this period.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Milliseconds since the first call, plus one: 0 stands for "never".
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed().as_millis();
    u64::try_from(elapsed).unwrap_or(u64::MAX - 1) + 1
}

/// One kind of event: its total, and what is still to be logged.
#[derive(Debug, Default)]
pub struct Sampled {
    total: AtomicU64,
    /// Events not yet reported by a log line.
    pending: AtomicU64,
    /// When the last line was written ([`now_ms`]), 0 if never.
    last_line: AtomicU64,
}

impl Sampled {
    /// Every event so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts one event. `Some(n)` means a line is due now, reporting `n`
    /// events (this one included); the first event after a quiet window is
    /// logged at once, so a lone refusal still shows up where it happened.
    pub fn hit(&self) -> Option<u64> {
        self.hit_at(now_ms())
    }

    /// The events not yet logged, if a line is due (called periodically, so
    /// the tail of a flood is reported even if no further event comes).
    pub fn flush(&self) -> Option<u64> {
        self.flush_at(now_ms())
    }

    /// The events not yet logged, whether or not a line is due (at shutdown).
    pub fn drain(&self) -> Option<u64> {
        let n = self.pending.swap(0, Ordering::AcqRel);
        (n > 0).then_some(n)
    }

    fn hit_at(&self, now: u64) -> Option<u64> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.take_if_due(now)
    }

    fn flush_at(&self, now: u64) -> Option<u64> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.take_if_due(now)
    }

    fn take_if_due(&self, now: u64) -> Option<u64> {
        let last = self.last_line.load(Ordering::Acquire);
        let window = u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < window {
            return None;
        }
        // Of several threads finding a line due, one writes it.
        self.last_line
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let n = self.pending.swap(0, Ordering::AcqRel);
        (n > 0).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = WINDOW.as_millis() as u64;

    #[test]
    fn one_line_per_window_carrying_the_count_since_the_last() {
        let s = Sampled::default();
        // The first event is logged at once.
        assert_eq!(s.hit_at(1), Some(1));
        // A flood within the window: counted, not logged.
        for t in 2..500 {
            assert_eq!(s.hit_at(t), None);
        }
        assert_eq!(s.flush_at(W), None, "still inside the window");
        // The periodic flush reports the flood's tail once the window is over...
        assert_eq!(s.flush_at(W + 1), Some(498));
        // ...and nothing twice.
        assert_eq!(s.flush_at(3 * W), None);
        assert_eq!(s.total(), 499);
        // The next event, a window later, is logged at once again.
        assert_eq!(s.hit_at(3 * W), Some(1));
        assert_eq!(s.hit_at(3 * W + 1), None);
        assert_eq!(s.drain(), Some(1));
        assert_eq!(s.drain(), None);
        assert_eq!(s.total(), 501);
    }
}
