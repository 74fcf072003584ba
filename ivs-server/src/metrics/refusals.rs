//! Refused requests (4xx) by reason: counted for `/metrics`, logged sampled.
//!
//! Before, warp's request logger wrote one WARN line per 4xx, so a client
//! sending wrong keys or unknown paths in a loop wrote to the log as fast as
//! it could send. No line names the key or the raw path: the reason, the
//! route template and a count are enough to see what is going on, and the
//! exact numbers are in `ivs_requests_refused_total`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use super::sampled::{Sampled, WINDOW};

/// Why a request was refused, from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// 400: malformed or invalid.
    BadRequest,
    /// 401: no or wrong API key.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404: no such route, stage or viewer.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 408: the body came too slowly.
    Timeout,
    /// 413.
    TooLarge,
    /// 429: rate limit or `/ws` connection limit.
    RateLimited,
    /// Any other 4xx.
    Other,
}

const ALL: [Refusal; 9] = [
    Refusal::BadRequest,
    Refusal::Unauthorized,
    Refusal::Forbidden,
    Refusal::NotFound,
    Refusal::MethodNotAllowed,
    Refusal::Timeout,
    Refusal::TooLarge,
    Refusal::RateLimited,
    Refusal::Other,
];

impl Refusal {
    /// The reason of a response status; `None` unless it is a 4xx.
    pub fn of(status: u16) -> Option<Refusal> {
        if !(400..500).contains(&status) {
            return None;
        }
        Some(match status {
            400 => Refusal::BadRequest,
            401 => Refusal::Unauthorized,
            403 => Refusal::Forbidden,
            404 => Refusal::NotFound,
            405 => Refusal::MethodNotAllowed,
            408 => Refusal::Timeout,
            413 => Refusal::TooLarge,
            429 => Refusal::RateLimited,
            _ => Refusal::Other,
        })
    }

    /// The `reason` label and log field.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::Unauthorized => "unauthorized",
            Refusal::Forbidden => "forbidden",
            Refusal::NotFound => "not_found",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::Timeout => "timeout",
            Refusal::TooLarge => "too_large",
            Refusal::RateLimited => "rate_limited",
            Refusal::Other => "other",
        }
    }

    fn index(self) -> usize {
        ALL.iter().position(|r| *r == self).unwrap_or(ALL.len() - 1)
    }
}

/// Refused requests per reason.
#[derive(Debug, Default)]
pub struct Refusals {
    by_reason: [Sampled; ALL.len()],
}

impl Refusals {
    /// Counts a response if it is a 4xx, and logs when a line is due.
    pub fn record(&self, status: u16, route: &'static str) {
        let Some(reason) = Refusal::of(status) else {
            return;
        };
        if let Some(count) = self.by_reason[reason.index()].hit() {
            log(reason, count, Some(route));
        }
    }

    /// Logs the refusals not yet reported, where a line is due.
    pub fn flush(&self) {
        for reason in ALL {
            if let Some(count) = self.by_reason[reason.index()].flush() {
                log(reason, count, None);
            }
        }
    }

    /// Logs every refusal not yet reported (at shutdown).
    pub fn drain(&self) {
        for reason in ALL {
            if let Some(count) = self.by_reason[reason.index()].drain() {
                log(reason, count, None);
            }
        }
    }

    /// Refusals of this reason so far.
    pub fn total(&self, reason: Refusal) -> u64 {
        self.by_reason[reason.index()].total()
    }
}

/// `ivs_requests_refused_total`, every reason (zeros included, so a rate
/// over it never starts from a missing series).
impl Collector for Refusals {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "ivs_requests_refused",
            "Requests answered with a 4xx, by reason.",
            None,
            MetricType::Counter,
        )?;
        for reason in ALL {
            let labels = [("reason", reason.label())];
            ConstCounter::new(self.total(reason)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn log(reason: Refusal, count: u64, route: Option<&'static str>) {
    tracing::warn!(
        reason = reason.label(),
        count,
        route,
        "requests refused (one line per reason every {} s at most; exact counts in /metrics)",
        WINDOW.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_reasons_and_are_rendered() {
        assert_eq!(Refusal::of(401), Some(Refusal::Unauthorized));
        assert_eq!(Refusal::of(404), Some(Refusal::NotFound));
        assert_eq!(Refusal::of(429), Some(Refusal::RateLimited));
        assert_eq!(Refusal::of(418), Some(Refusal::Other));
        assert_eq!(Refusal::of(200), None);
        assert_eq!(Refusal::of(503), None);
        let r = Refusals::default();
        for _ in 0..3 {
            r.record(401, "/api/stats");
        }
        r.record(200, "/health");
        r.record(429, "/api/viewer/heartbeat");
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(std::sync::Arc::new(r)));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("ivs_requests_refused_total{reason=\"unauthorized\"} 3\n"));
        assert!(out.contains("ivs_requests_refused_total{reason=\"rate_limited\"} 1\n"));
        assert!(out.contains("ivs_requests_refused_total{reason=\"not_found\"} 0\n"));
    }
}
