//! Webhook delivery metrics (docs/webhooks.md, "Metrics"). The endpoint
//! label is the endpoint's id (a hash of its URL, as in the logs), never the
//! URL, which may hold a token.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the attempt latency buckets, seconds (a receiver may take
/// up to the request timeout, 15 s by default).
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 15.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
    endpoint: String,
}

type Latency = Family<EndpointLabels, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Why an event was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not delivered within the retry window.
    Expired,
    /// Trimmed from the log by its length bound before it was delivered.
    Backlog,
}

impl DropReason {
    fn label(self) -> &'static str {
        match self {
            DropReason::Expired => "expired",
            DropReason::Backlog => "backlog",
        }
    }
}

/// The webhook metrics, registered once in the server's registry.
#[derive(Clone)]
pub struct WebhookMetrics {
    delivered: Family<EndpointLabels, Counter>,
    failed: Family<ReasonLabels, Counter>,
    dropped: Family<ReasonLabels, Counter>,
    filtered: Family<EndpointLabels, Counter>,
    latency: Latency,
    in_flight: Family<EndpointLabels, Gauge>,
    oldest_pending: Family<EndpointLabels, Gauge>,
    outbox: Gauge,
    paused: Family<EndpointLabels, Gauge>,
    pauses: Family<ReasonLabels, Counter>,
}

impl WebhookMetrics {
    /// Creates the metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = WebhookMetrics {
            delivered: Family::default(),
            failed: Family::default(),
            dropped: Family::default(),
            filtered: Family::default(),
            latency: Family::new_with_constructor(latency),
            in_flight: Family::default(),
            oldest_pending: Family::default(),
            outbox: Gauge::default(),
            paused: Family::default(),
            pauses: Family::default(),
        };
        registry.register(
            "ivs_webhook_delivered",
            "Events delivered (answered 2xx), by endpoint",
            m.delivered.clone(),
        );
        registry.register(
            "ivs_webhook_failed_attempts",
            "Delivery attempts that failed (non-2xx, timeout, connection), by reason and endpoint",
            m.failed.clone(),
        );
        registry.register(
            "ivs_webhook_dropped",
            "Events given up: expired (retry window over) or backlog (trimmed from the log)",
            m.dropped.clone(),
        );
        registry.register(
            "ivs_webhook_filtered",
            "Events not sent because IVS_WEBHOOK_EVENTS excludes their type",
            m.filtered.clone(),
        );
        registry.register(
            "ivs_webhook_attempt_duration_seconds",
            "Latency of delivery attempts, by endpoint",
            m.latency.clone(),
        );
        registry.register(
            "ivs_webhook_in_flight",
            "Delivery requests in flight on this instance, by endpoint",
            m.in_flight.clone(),
        );
        registry.register(
            "ivs_webhook_oldest_pending_seconds",
            "Age of the oldest event handed out and not yet acknowledged (fleet-wide), by endpoint",
            m.oldest_pending.clone(),
        );
        registry.register(
            "ivs_webhook_outbox_events",
            "Events the event log holds (fleet-wide; bounded by the store)",
            m.outbox.clone(),
        );
        registry.register(
            "ivs_webhook_paused",
            "1 while this instance sends the endpoint nothing: it answered 410, 429, 502-504 or Retry-After",
            m.paused.clone(),
        );
        registry.register(
            "ivs_webhook_pauses",
            "Pauses started by the endpoint's answers: throttled (429, 502-504, Retry-After) or gone (410)",
            m.pauses.clone(),
        );
        m
    }

    /// The handles of one endpoint.
    pub fn endpoint(&self, endpoint: &str) -> EndpointMetrics {
        let labels = EndpointLabels {
            endpoint: endpoint.to_string(),
        };
        EndpointMetrics {
            endpoint: endpoint.to_string(),
            delivered: self.delivered.get_or_create_owned(&labels),
            filtered: self.filtered.get_or_create_owned(&labels),
            latency: self.latency.get_or_create_owned(&labels),
            in_flight: self.in_flight.get_or_create_owned(&labels),
            oldest_pending: self.oldest_pending.get_or_create_owned(&labels),
            outbox: self.outbox.clone(),
            paused: self.paused.get_or_create_owned(&labels),
            pauses: self.pauses.clone(),
            failed: self.failed.clone(),
            dropped: self.dropped.clone(),
        }
    }
}

/// One endpoint's metric handles.
#[derive(Clone)]
pub struct EndpointMetrics {
    endpoint: String,
    /// Delivered events.
    pub delivered: Counter,
    /// Events the type filter excluded.
    pub filtered: Counter,
    /// Attempt latency.
    pub latency: Histogram,
    /// Requests in flight.
    pub in_flight: Gauge,
    /// Age of the oldest pending event, seconds.
    pub oldest_pending: Gauge,
    /// Events in the log.
    pub outbox: Gauge,
    /// 1 while deliveries to the endpoint are paused on this instance.
    pub paused: Gauge,
    pauses: Family<ReasonLabels, Counter>,
    failed: Family<ReasonLabels, Counter>,
    dropped: Family<ReasonLabels, Counter>,
}

impl EndpointMetrics {
    /// Counts a failed attempt (`reason`: a fixed label, see `deliver`).
    pub fn failed(&self, reason: &'static str) {
        self.failed
            .get_or_create(&ReasonLabels {
                reason,
                endpoint: self.endpoint.clone(),
            })
            .inc();
    }

    /// Counts a pause that starts (`reason`: `throttled` or `gone`).
    pub fn pause_started(&self, reason: &'static str) {
        self.pauses
            .get_or_create(&ReasonLabels {
                reason,
                endpoint: self.endpoint.clone(),
            })
            .inc();
    }

    /// Counts `n` dropped events.
    pub fn dropped(&self, reason: DropReason, n: u64) {
        self.dropped
            .get_or_create(&ReasonLabels {
                reason: reason.label(),
                endpoint: self.endpoint.clone(),
            })
            .inc_by(n);
    }
}
