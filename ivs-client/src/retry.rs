//! Retry policy and the classification of what may be retried.
//!
//! # Decision: `backon` for retries
//!
//! Retries use [`backon`] 1.6 rather than the `backoff` crate: `backoff` has
//! had no release since 2021 and is flagged unmaintained by RustSec
//! (RUSTSEC-2025-0012, and it pulls `instant`, RUSTSEC-2024-0384). `backon` is
//! RustSec's recommended successor, is maintained, and its `adjust` hook lets
//! a server's `Retry-After` replace the computed delay.
//!
//! # What is retried
//!
//! | call | retried on |
//! |---|---|
//! | every `GET`, viewer heartbeat, viewer leave, `PUT /api/stage/:arn`, `DELETE /api/stage/:arn` | connection failures, timeouts and other transport errors, 429, 502, 503, 504 |
//! | `POST /api/token/*`, `POST /api/stage` | only where the server cannot have acted: the connection could not be made, or 429 |
//! | anything | never on other 4xx, never on 500, never on `STAGE_FULL` / `STAGE_LIMIT_REACHED` |
//!
//! Heartbeat and leave are idempotent in effect (a second heartbeat moves
//! the timestamp again; a second leave finds the viewer gone). Renaming a
//! stage to the same name twice gives the same result. `DELETE` is
//! idempotent by HTTP's definition; a retry after a lost answer may report
//! `NOT_FOUND` because the first attempt already deleted the stage — callers
//! should treat `NOT_FOUND` from a delete as "gone". Token requests and stage
//! creation are not idempotent: a repeat after a timeout could mint a second
//! token (counting the viewer twice) or create a second stage, so they are
//! repeated only when the request surely never reached the handler. A 503
//! from them (`STAGE_FULL`, `STAGE_LIMIT_REACHED`) reports capacity and is
//! returned at once.
//!
//! # `Retry-After`
//!
//! When a 429 or 503 carries `Retry-After: <seconds>`, that value replaces
//! the computed backoff delay, capped by [`RetryPolicy::max_delay`], and
//! jitter is added on top: a random extra of up to half the value (with
//! [`RetryPolicy::jitter`] on, the default). The wait is never shorter than
//! the server asked (unless `max_delay` is), and clients refused together —
//! a burst the server rate-limited, say — do not all come back in the same
//! instant to be refused again. If waiting would pass
//! [`RetryPolicy::max_total_time`], the error is returned instead (with
//! [`Error::retry_after`](crate::Error::retry_after) set, so the caller can
//! schedule its own retry). HTTP-date values are not used (the API
//! documents seconds); they fall back to the computed backoff.
//!
//! The statistics stream's reconnects follow the same rule when the server
//! refuses the WebSocket handshake with 429 or 503 and `Retry-After` (see
//! [`stream`](crate::stream)).
//!
//! # Request ids
//!
//! Every attempt carries an `x-request-id`: a random id for the call, then
//! `-` and the attempt number (`5f0c2a9e41d3b7a8-1`, `5f0c2a9e41d3b7a8-2`),
//! so the attempts of one call share a prefix in the server's logs and are
//! still told apart. Errors carry the id the server answered with
//! ([`Error::request_id`](crate::Error::request_id)).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use crate::Error;

/// How the client retries failed requests.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// use std::time::Duration;
/// use ivs_client::{Client, RetryPolicy};
///
/// let policy = RetryPolicy::default()
///     .with_max_attempts(5)
///     .with_min_delay(Duration::from_millis(100))
///     .with_max_delay(Duration::from_secs(2))
///     .with_max_total_time(Duration::from_secs(20));
/// assert_eq!(policy.max_attempts(), 5);
/// assert_eq!(RetryPolicy::none().max_attempts(), 1);
///
/// let client = Client::builder()
///     .base_url(base_url)
///     .api_key(api_key)
///     .retry_policy(policy)
///     .build()?;
/// // Every call of this client now retries up to 5 times in 20 s.
/// let health = client.health().await?;
/// assert_eq!(health.status, "ok");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    min_delay: Duration,
    max_delay: Duration,
    max_total_time: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// 3 attempts, delays from 250 ms doubling up to 5 s with jitter, 30 s in all.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            max_total_time: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that sends every request once.
    pub fn none() -> Self {
        RetryPolicy::default().with_max_attempts(1)
    }

    /// Attempts in all, the first included (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first retry's delay; later delays double.
    pub fn with_min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The longest single backoff delay. A server's `Retry-After` is capped
    /// to it too, before its jitter (up to half again) is added.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// No retry starts once this much time has passed since the first attempt.
    pub fn with_max_total_time(mut self, total: Duration) -> Self {
        self.max_total_time = total;
        self
    }

    /// Whether delays get random jitter (on by default, so that many clients
    /// failing together do not retry together).
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The first retry's delay.
    pub fn min_delay(&self) -> Duration {
        self.min_delay
    }

    /// The longest single delay.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The time budget for all attempts.
    pub fn max_total_time(&self) -> Duration {
        self.max_total_time
    }

    /// Whether delays get jitter.
    pub fn jitter(&self) -> bool {
        self.jitter
    }

    fn backoff(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter { b.with_jitter() } else { b }
    }

    /// The delay before reconnect number `attempt` (0-based) of a long-lived
    /// connection, which retries without an attempt limit.
    pub(crate) fn reconnect_delay(&self, attempt: u32) -> Duration {
        let base = self
            .min_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max_delay);
        if self.jitter && !base.is_zero() {
            // Half fixed, half random: spread out, but never near zero.
            let half = base / 2;
            half + half.mul_f64(rand::random::<f64>())
        } else {
            base
        }
    }

    /// The wait for a server's `Retry-After` of `ra`: capped by `max_delay`,
    /// plus up to half of that again as jitter (when jitter is on).
    pub(crate) fn retry_after_delay(&self, ra: Duration) -> Duration {
        let base = ra.min(self.max_delay);
        if self.jitter {
            base + (base / 2).mul_f64(rand::random::<f64>())
        } else {
            base
        }
    }

    /// The delay to use after `err`, or `None` to give up.
    fn next_delay(
        &self,
        started: Instant,
        err: &Error,
        computed: Option<Duration>,
    ) -> Option<Duration> {
        // `computed` is None once the attempts are used up.
        let computed = computed?;
        let delay = match err.retry_after() {
            Some(ra) => self.retry_after_delay(ra),
            None => computed,
        };
        if started.elapsed() + delay > self.max_total_time {
            return None;
        }
        Some(delay)
    }
}

/// Whether a request may be repeated after an ambiguous failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Repeating it has the same effect as sending it once.
    Idempotent,
    /// Repeating it may act twice; retry only where the server cannot have acted.
    Unsafe,
}

impl Idempotency {
    pub(crate) fn should_retry(self, err: &Error) -> bool {
        match self {
            Idempotency::Idempotent => err.is_retryable(),
            Idempotency::Unsafe => err.server_did_not_act(),
        }
    }
}

/// Runs `attempt` until it succeeds, fails in a way `idempotency` says not
/// to retry, or `policy` runs out.
pub(crate) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = Instant::now();
    attempt
        .retry(policy.backoff())
        .when(|e| idempotency.should_retry(e))
        .adjust(|e, computed| policy.next_delay(started, e, computed))
        .notify(|e, delay| {
            tracing::debug!(error = %e, delay_ms = delay.as_millis() as u64, "retrying request");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorCode;

    fn api(status: u16, retry_after: Option<Duration>) -> Error {
        match crate::error::api(status, crate::error::code_for_status(status)) {
            Error::Api(e) => Error::Api(e.with_retry_after(retry_after)),
            other => other,
        }
    }

    #[test]
    fn retry_after_replaces_and_is_capped() {
        let p = RetryPolicy::default()
            .with_max_delay(Duration::from_secs(2))
            .with_jitter(false);
        let now = Instant::now();
        let d = p.next_delay(
            now,
            &api(429, Some(Duration::from_secs(1))),
            Some(Duration::from_millis(10)),
        );
        assert_eq!(d, Some(Duration::from_secs(1)));
        let d = p.next_delay(
            now,
            &api(429, Some(Duration::from_secs(60))),
            Some(Duration::from_millis(10)),
        );
        assert_eq!(d, Some(Duration::from_secs(2)));
        assert_eq!(p.next_delay(now, &api(429, None), None), None);
    }

    #[test]
    fn total_time_bounds_delay() {
        let p = RetryPolicy::default()
            .with_max_delay(Duration::from_secs(60))
            .with_max_total_time(Duration::from_secs(5));
        let d = p.next_delay(
            Instant::now(),
            &api(503, Some(Duration::from_secs(10))),
            Some(Duration::ZERO),
        );
        assert_eq!(d, None);
    }

    #[test]
    fn unsafe_calls_retry_only_when_server_did_not_act() {
        assert!(Idempotency::Unsafe.should_retry(&api(429, None)));
        assert!(!Idempotency::Unsafe.should_retry(&api(503, None)));
        assert!(!Idempotency::Unsafe.should_retry(&Error::Timeout));
        assert!(Idempotency::Idempotent.should_retry(&api(503, None)));
        assert!(Idempotency::Idempotent.should_retry(&Error::Timeout));
        let full = crate::error::api(503, ErrorCode::StageFull);
        assert!(!Idempotency::Idempotent.should_retry(&full));
    }

    /// Clients refused together must not come back together: the wait after
    /// a `Retry-After` is spread above the server's value, never below it.
    #[test]
    fn retry_after_gets_jitter_above_the_servers_value() {
        let p = RetryPolicy::default().with_max_delay(Duration::from_secs(10));
        let ra = Duration::from_secs(2);
        let err = api(429, Some(ra));
        let delays: Vec<Duration> = (0..200)
            .map(|_| {
                p.next_delay(Instant::now(), &err, Some(Duration::from_millis(10)))
                    .expect("a retry")
            })
            .collect();
        for d in &delays {
            assert!(*d >= ra, "{d:?} is shorter than Retry-After");
            assert!(*d <= ra + ra / 2, "{d:?} is more than half again");
        }
        let min = delays.iter().min().copied().unwrap_or_default();
        let max = delays.iter().max().copied().unwrap_or_default();
        assert!(
            max - min > Duration::from_millis(500),
            "200 waits all within {min:?}..{max:?}: no jitter"
        );
        // Capped by max_delay first, then spread above the cap.
        let capped = RetryPolicy::default().with_max_delay(Duration::from_secs(1));
        let d = capped.retry_after_delay(Duration::from_secs(60));
        assert!(
            d >= Duration::from_secs(1) && d <= Duration::from_millis(1500),
            "{d:?}"
        );
        // Without jitter the server's value is used as is.
        let exact = p.clone().with_jitter(false);
        assert_eq!(exact.retry_after_delay(ra), ra);
    }

    #[test]
    fn reconnect_delay_grows_and_is_capped() {
        let p = RetryPolicy::default()
            .with_jitter(false)
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1));
        assert_eq!(p.reconnect_delay(0), Duration::from_millis(100));
        assert_eq!(p.reconnect_delay(1), Duration::from_millis(200));
        assert_eq!(p.reconnect_delay(10), Duration::from_secs(1));
        assert_eq!(p.reconnect_delay(u32::MAX), Duration::from_secs(1));
    }
}
