//! What a receiver's answer asks of the sender beyond "this attempt failed",
//! as the Standard Webhooks specification suggests: `410 Gone` means the
//! receiver wants no more webhooks; `429`, `502`, `503` and `504` ask the
//! sender to slow down; and `Retry-After` says for how long.
//!
//! An instance that gets such an answer pauses the endpoint: it sends it
//! nothing until the pause is over, and the events wait in the outbox. The
//! pause is the instance's own (no shared state): in a fleet, each instance
//! pauses at its own first such answer, so a throttling receiver gets at most
//! one request per instance per pause.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How long an endpoint that answered `410 Gone` gets nothing. Not for ever:
/// a receiver that was only misconfigured would otherwise lose every event
/// until the fleet restarts. Remove the URL from `IVS_WEBHOOK_URLS` to stop
/// for good.
pub const GONE_PAUSE: Duration = Duration::from_secs(3600);

/// Why an endpoint is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// `429`, `502`, `503`, `504`, or any failure with `Retry-After`.
    Throttled,
    /// `410 Gone`.
    Gone,
}

impl PauseReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            PauseReason::Throttled => "throttled",
            PauseReason::Gone => "gone",
        }
    }
}

/// How long to send the endpoint nothing after it answered `status` (not a
/// 2xx) with `retry_after` (the header, if any), at `now`. `backoff` is the
/// pause when a throttling status names no delay; `longest` caps any pause
/// a header asks for.
pub fn pause_after(
    status: u16,
    retry_after: Option<&str>,
    now: DateTime<Utc>,
    backoff: Duration,
    longest: Duration,
) -> Option<(Duration, PauseReason)> {
    if status == 410 {
        return Some((GONE_PAUSE, PauseReason::Gone));
    }
    let asked = retry_after.and_then(|v| retry_after_delay(v, now));
    let throttling = matches!(status, 429 | 502 | 503 | 504);
    if !throttling && asked.is_none() {
        return None;
    }
    let pause = asked.unwrap_or(backoff).min(longest);
    (!pause.is_zero()).then_some((pause, PauseReason::Throttled))
}

/// `Retry-After` (RFC 9110): delay-seconds or an HTTP date. A date in the
/// past is no delay; anything else unreadable is ignored.
fn retry_after_delay(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than u64 holds is "a very long time": the cap applies.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let ms = (at.with_timezone(&Utc) - now).num_milliseconds().max(0);
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Duration = Duration::from_secs(5);
    const LONGEST: Duration = Duration::from_secs(3600);

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn pause(status: u16, retry_after: Option<&str>) -> Option<(Duration, PauseReason)> {
        pause_after(status, retry_after, now(), BACKOFF, LONGEST)
    }

    #[test]
    fn gone_pauses_for_an_hour_whatever_the_header() {
        let gone = Some((GONE_PAUSE, PauseReason::Gone));
        assert_eq!(pause(410, None), gone);
        assert_eq!(pause(410, Some("5")), gone);
    }

    #[test]
    fn throttling_statuses_pause_for_the_header_or_the_backoff() {
        for status in [429, 502, 503, 504] {
            assert_eq!(
                pause(status, None),
                Some((BACKOFF, PauseReason::Throttled)),
                "{status}"
            );
            assert_eq!(
                pause(status, Some("120")),
                Some((Duration::from_secs(120), PauseReason::Throttled)),
                "{status}"
            );
        }
    }

    #[test]
    fn other_failures_pause_only_when_asked() {
        assert_eq!(pause(500, None), None);
        assert_eq!(pause(404, None), None);
        assert_eq!(
            pause(500, Some(" 7 ")),
            Some((Duration::from_secs(7), PauseReason::Throttled))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(
            pause(429, Some("Wed, 02 Dec 2026 12:01:30 GMT")),
            Some((Duration::from_secs(90), PauseReason::Throttled))
        );
        // A date in the past, or 0: no pause asked (the status alone pauses
        // nothing then either, being asked for none).
        assert_eq!(pause(429, Some("Wed, 02 Dec 2026 11:00:00 GMT")), None);
        assert_eq!(pause(503, Some("0")), None);
        // Unreadable: as if absent.
        assert_eq!(
            pause(429, Some("soon")),
            Some((BACKOFF, PauseReason::Throttled))
        );
        assert_eq!(pause(500, Some("-3")), None);
        // Capped.
        assert_eq!(
            pause(429, Some("99999999999999999999999")),
            Some((LONGEST, PauseReason::Throttled))
        );
    }
}
