//! What the HTTP server's connection limits did (`crate::conn`): counted for
//! `/metrics`, logged sampled — a slow-header flood or a full connection
//! table must not write one line per connection.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::sampled::{Sampled, WINDOW};

/// Connection counters.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Open connections, upgraded `/ws` ones included.
    pub open: AtomicU64,
    /// Keep-alive connections closed for idleness (routine: not logged).
    pub idle_closed: AtomicU64,
    header_timeouts: Sampled,
    at_capacity: Sampled,
}

impl ConnectionStats {
    /// Counts a connection closed because its request headers did not
    /// arrive within the header-read timeout.
    pub fn header_timed_out(&self) {
        if let Some(count) = self.header_timeouts.hit() {
            log_header_timeouts(count);
        }
    }

    /// Counts a time the server stopped accepting at the connection cap.
    pub fn reached_capacity(&self) {
        if let Some(count) = self.at_capacity.hit() {
            log_at_capacity(count);
        }
    }

    /// Connections closed by the header-read timeout so far.
    pub fn header_timeouts(&self) -> u64 {
        self.header_timeouts.total()
    }

    /// Times the cap was reached so far.
    pub fn capacity_reached(&self) -> u64 {
        self.at_capacity.total()
    }

    /// Logs what is not yet reported, where a line is due; with `all`,
    /// whether due or not (at shutdown).
    pub fn flush(&self, all: bool) {
        let take = |s: &Sampled| if all { s.drain() } else { s.flush() };
        if let Some(count) = take(&self.header_timeouts) {
            log_header_timeouts(count);
        }
        if let Some(count) = take(&self.at_capacity) {
            log_at_capacity(count);
        }
    }
}

/// `ivs_http_connections`, `ivs_http_connections_closed_total{reason}` and
/// `ivs_http_connection_limit_reached_total`, read at scrape time.
impl Collector for ConnectionStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        ConstGauge::new(self.open.load(Ordering::Relaxed)).encode(encoder.encode_descriptor(
            "ivs_http_connections",
            "Open HTTP connections, /ws sessions included.",
            None,
            MetricType::Gauge,
        )?)?;
        let mut closed = encoder.encode_descriptor(
            "ivs_http_connections_closed",
            "Connections closed by the server's timeouts.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in [
            ("header_timeout", self.header_timeouts()),
            ("idle_timeout", self.idle_closed.load(Ordering::Relaxed)),
        ] {
            ConstCounter::new(n).encode(closed.encode_family(&[("reason", reason)])?)?;
        }
        ConstCounter::new(self.capacity_reached()).encode(encoder.encode_descriptor(
            "ivs_http_connection_limit_reached",
            "Times new connections had to wait because IVS_MAX_CONNECTIONS were open.",
            None,
            MetricType::Counter,
        )?)
    }
}

fn log_header_timeouts(count: u64) {
    tracing::warn!(
        count,
        "closed connections whose request headers did not arrive within IVS_HEADER_READ_TIMEOUT_MS (one line every {} s at most)",
        WINDOW.as_secs()
    );
}

fn log_at_capacity(count: u64) {
    tracing::warn!(
        count,
        "connection limit IVS_MAX_CONNECTIONS reached: new connections wait until one closes (one line every {} s at most)",
        WINDOW.as_secs()
    );
}
