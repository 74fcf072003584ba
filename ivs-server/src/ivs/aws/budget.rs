//! Client-side call budgets, so the server stays under IVS's per-account
//! request rates (CreateParticipantToken 50 TPS, the stage operations 5 TPS)
//! and a burst of joins waits briefly in line instead of being throttled.
//!
//! IVS counts a call when it arrives, which is some time after the server
//! decides to make it and before the answer comes back. A budget of `limit`
//! per second therefore counts a call from the moment it is granted until
//! one second after its answer: a new call is granted only while fewer than
//! `limit` calls are in flight or answered within the last second. Then no
//! one-second window on IVS's side can hold more than `limit` arrivals,
//! however the network or a busy scheduler delays the requests (a plain
//! token bucket counting grant times cannot promise that, and one that
//! starts full even lets a burst and a refill add up to twice the rate).
//!
//! Waiters are served in arrival order (a fair tokio mutex is the line), and
//! the line is bounded: a caller that would wait more than about
//! [`MAX_QUEUE_SECS`] is refused at once, so a request never hangs behind
//! thousands of others.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long an answered call still counts.
const WINDOW: Duration = Duration::from_millis(1_010);
/// A caller that would wait longer than this for its turn is refused.
pub const MAX_QUEUE_SECS: usize = 15;

/// The budget is used up for longer than a caller may wait.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the client-side budget of {limit} {operation} calls per second is used up for the next {MAX_QUEUE_SECS} s")]
pub struct BudgetExhausted {
    /// The operation.
    pub operation: &'static str,
    /// Its calls per second.
    pub limit: usize,
}

#[derive(Debug, Default)]
struct Counts {
    in_flight: usize,
    /// When recent calls were answered, oldest first.
    answered: VecDeque<Instant>,
}

/// At most `limit` calls per second for one operation.
#[derive(Debug)]
pub struct CallBudget {
    operation: &'static str,
    limit: usize,
    max_waiting: usize,
    waiting: AtomicUsize,
    /// The line: held by the caller whose turn is next.
    line: tokio::sync::Mutex<()>,
    counts: Mutex<Counts>,
    answered: Notify,
}

/// A granted call; dropping it (when the answer is in) starts its last second.
#[derive(Debug)]
pub struct Permit<'a> {
    budget: &'a CallBudget,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut c = self.budget.counts();
        c.in_flight = c.in_flight.saturating_sub(1);
        c.answered.push_back(Instant::now());
        drop(c);
        self.budget.answered.notify_waiters();
    }
}

/// Decrements the waiting count however `acquire` ends (also when cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallBudget {
    /// A budget of `per_second` calls per second (at least one).
    pub fn per_second(operation: &'static str, per_second: u32) -> Self {
        let limit = per_second.max(1) as usize;
        CallBudget {
            operation,
            limit,
            max_waiting: limit * MAX_QUEUE_SECS,
            waiting: AtomicUsize::new(0),
            line: tokio::sync::Mutex::new(()),
            counts: Mutex::new(Counts::default()),
            answered: Notify::new(),
        }
    }

    /// Calls per second.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Two integers' worth of state, each update complete: poisoning is ignored.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a turn to make one call; hold the permit until the answer is in.
    pub async fn acquire(&self) -> Result<Permit<'_>, BudgetExhausted> {
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        if ahead >= self.max_waiting {
            return Err(BudgetExhausted {
                operation: self.operation,
                limit: self.limit,
            });
        }
        // Held while waiting: the callers behind this one queue on the lock,
        // in order, rather than all waking up to race for the next slot.
        let _turn = self.line.lock().await;
        loop {
            // Registered before looking, so an answer in between is not missed.
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let next_free = {
                let mut c = self.counts();
                let now = Instant::now();
                while c
                    .answered
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    c.answered.pop_front();
                }
                if c.in_flight + c.answered.len() < self.limit {
                    c.in_flight += 1;
                    return Ok(Permit { budget: self });
                }
                c.answered.front().map(|t| *t + WINDOW)
            };
            match next_free {
                Some(at) => tokio::time::sleep_until(at).await,
                // Every slot is in flight: the first answer starts the clock.
                None => answered.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Calls that take `latency` each: no `limit + 1` of them can fall in
    /// one second on the server's side.
    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_a_window() {
        let budget = Arc::new(CallBudget::per_second("Test", 5));
        let latency = Duration::from_millis(50);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..23 {
            let b = budget.clone();
            tasks.push(tokio::spawn(async move {
                let permit = b.acquire().await?;
                let granted = Instant::now() - start;
                tokio::time::sleep(latency).await;
                drop(permit);
                Ok::<_, BudgetExhausted>(granted)
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap().unwrap());
        }
        times.sort();
        // The first five go at once, then five more a second after their answers.
        assert!(times[4] < Duration::from_millis(1));
        assert!(times[5] >= latency + WINDOW);
        for w in times.windows(6) {
            assert!(w[5] - w[0] >= latency + WINDOW, "{w:?}");
        }
        assert!(times[22] <= (latency + WINDOW) * 4 + Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_in_flight_holds_its_slot() {
        let budget = CallBudget::per_second("Test", 1);
        let first = budget.acquire().await.unwrap();
        let second = tokio::time::timeout(Duration::from_secs(5), budget.acquire()).await;
        assert!(second.is_err(), "granted while the first is unanswered");
        drop(first);
        let before = Instant::now();
        let _second = budget.acquire().await.unwrap();
        assert!(Instant::now() - before >= WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_line_is_refused() {
        let budget = Arc::new(CallBudget::per_second("Test", 1));
        let mut tasks = Vec::new();
        // One is granted at once; the others fill the line.
        for _ in 0..=MAX_QUEUE_SECS {
            let b = budget.clone();
            tasks.push(tokio::spawn(async move { b.acquire().await.map(drop) }));
        }
        // Let every task register as waiting.
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(budget.acquire().await.is_err());
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        // The line has drained: a new caller gets a turn again.
        assert!(budget.acquire().await.is_ok());
    }
}
