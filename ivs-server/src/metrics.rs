//! Prometheus metrics on `prometheus-client`, encoded in the Prometheus text
//! format (0.0.4) that every scraper reads.
//!
//! Request counts and latency are recorded once per request by the access
//! wrapper in `http`, through the [`Route`] handle each route was built with
//! (its label is its template, written once, beside the route's filter).
//! The service counts joins, expirations and scale events. What the store or
//! IVS knows (stages, viewers per stage, whether the publisher is live) is
//! read at scrape time, so those are the fleet's numbers, not this
//! instance's; process metrics are read from `/proc` at scrape time too.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use warp::http::Method;

use crate::store::StageLoad;

pub mod connections;
pub mod process;
pub mod refusals;
pub mod sampled;
pub mod webhooks;

pub use connections::ConnectionStats;
pub use refusals::Refusals;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The label of requests no route answered (unknown paths and everything
/// warp rejected): a fixed value, so the label set stays bounded whatever
/// paths clients send.
pub const OTHER_ROUTE: &str = "other";

/// Methods as labelled; anything else is `OTHER` (bounded label set).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "OTHER"];

/// Statuses the server answers with, each with a cached counter per route
/// and method; any other status takes the family's hashed lookup.
const STATUSES: [u16; 16] = [
    101, 200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 500, 502, 503, 504,
];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        _ => 4,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
    auto_scaled: bool,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// One route's metric handles, resolved when the route is built, so that
/// recording a request is a few atomic operations and never a hashed lookup
/// in a family (the heartbeat route serves ~20k requests/s).
#[derive(Clone)]
pub struct Route(Arc<RouteMetrics>);

struct RouteMetrics {
    label: &'static str,
    duration: Histogram,
    requests: Family<RequestLabels, Counter>,
    /// The request counter of each (method, status) pair, taken from the
    /// family on first use: created up front, every pair would show as a
    /// zero series.
    counters: [[OnceLock<Counter>; STATUSES.len()]; METHODS.len()],
}

impl Route {
    /// The route's label: its template, never a raw path.
    pub fn label(&self) -> &'static str {
        self.0.label
    }

    fn observe(&self, method: &Method, status: u16, elapsed: Duration) {
        let m = &*self.0;
        let method = method_index(method);
        let labels = || RequestLabels {
            route: m.label,
            method: METHODS[method],
            status,
        };
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => m.counters[method][i]
                .get_or_init(|| m.requests.get_or_create_owned(&labels()))
                .inc(),
            None => m.requests.get_or_create(&labels()).inc(),
        };
        m.duration.observe(elapsed.as_secs_f64());
    }
}

/// What the fleet looks like at scrape time (read from the store and IVS).
pub struct FleetView<'a> {
    /// The managed stages and their viewers.
    pub stages: &'a [StageLoad],
    /// Whether the publisher is live on the master stage; `None` if IVS did
    /// not say in time (the gauge is then left out).
    pub publisher_live: Option<bool>,
}

/// Counts one open `/ws` session in `ivs_ws_connections` while it lives.
pub struct WsSession(Gauge);

impl Drop for WsSession {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    ws_sessions: Gauge,
    /// Viewers counted by a join (rejoins excluded).
    pub joins: Counter,
    /// Viewers removed by the expiry sweep.
    pub expirations: Counter,
    /// Stages created or revived for capacity.
    pub scale_ups: Counter,
    /// Stages deleted by scale-down.
    pub scale_downs: Counter,
    /// Requests that failed because the store failed.
    pub store_errors: Counter,
    /// Requests that failed because IVS failed.
    pub ivs_errors: Counter,
    /// Requests refused by the rate limit.
    pub rate_limited: Counter,
    /// 4xx responses by reason, logged sampled.
    pub refusals: Arc<Refusals>,
    /// The HTTP server's connections.
    pub connections: Arc<ConnectionStats>,
    /// Webhook delivery.
    pub webhooks: webhooks::WebhookMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let ws_sessions = Gauge::default();
        // Registered without `_total`: the encoder adds it to counters.
        registry.register(
            "ivs_http_requests",
            "Requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "ivs_http_request_duration_seconds",
            "Request latency by route",
            durations.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let joins = counter(
            &mut registry,
            "ivs_viewer_joins",
            "Viewers counted by a join",
        );
        let expirations = counter(
            &mut registry,
            "ivs_viewer_expirations",
            "Viewers removed for missing heartbeats",
        );
        let scale_ups = counter(
            &mut registry,
            "ivs_scale_ups",
            "Stages created or revived for capacity",
        );
        let scale_downs = counter(
            &mut registry,
            "ivs_scale_downs",
            "Stages deleted by scale-down",
        );
        let store_errors = counter(
            &mut registry,
            "ivs_store_errors",
            "Requests failed by the viewer store (Redis)",
        );
        let ivs_errors = counter(&mut registry, "ivs_ivs_errors", "Requests failed by IVS");
        let rate_limited = counter(
            &mut registry,
            "ivs_rate_limited",
            "Requests refused by the rate limit",
        );
        registry.register(
            "ivs_ws_connections",
            "Open /ws sessions on this instance",
            ws_sessions.clone(),
        );
        registry.register(
            "ivs_server_build",
            "The server's version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        let webhooks = webhooks::WebhookMetrics::register(&mut registry);
        let refusals = Arc::new(Refusals::default());
        let connections = Arc::new(ConnectionStats::default());
        registry.register_collector(Box::new(refusals.clone()));
        registry.register_collector(Box::new(connections.clone()));
        registry.register_collector(Box::new(process::ProcessCollector));
        Metrics {
            registry,
            requests,
            durations,
            ws_sessions,
            joins,
            expirations,
            scale_ups,
            scale_downs,
            store_errors,
            ivs_errors,
            rate_limited,
            refusals,
            connections,
            webhooks,
        }
    }
}

impl Metrics {
    /// The metric handles of the route labelled `label` (its template).
    pub fn route(&self, label: &'static str) -> Route {
        Route(Arc::new(RouteMetrics {
            label,
            duration: self
                .durations
                .get_or_create_owned(&RouteLabels { route: label }),
            requests: self.requests.clone(),
            counters: Default::default(),
        }))
    }

    /// Records one finished request of `route`, and counts it as a refusal
    /// if it is a 4xx.
    pub fn observe(&self, route: &Route, method: &Method, status: u16, elapsed: Duration) {
        route.observe(method, status, elapsed);
        // Counted and logged sampled, never one line per request: a client
        // can make as many 4xx as it likes.
        self.refusals.record(status, route.label());
    }

    /// Adds one to a counter.
    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    /// Counts a `/ws` session as open until the returned guard is dropped.
    pub fn ws_session(&self) -> WsSession {
        self.ws_sessions.inc();
        WsSession(self.ws_sessions.clone())
    }

    /// The Prometheus text exposition: this instance's metrics, then the
    /// fleet's gauges from `fleet`.
    pub fn render(&self, fleet: &FleetView<'_>) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(8192);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        prometheus_client::encoding::prometheus_text::encode(&mut out, &fleet_registry(fleet))?;
        Ok(out)
    }
}

/// The gauges read at scrape time, in a registry of their own built per
/// scrape (a scrape is rare; the values come from an async read the
/// registry's synchronous collectors could not make).
fn fleet_registry(fleet: &FleetView<'_>) -> Registry {
    let mut registry = Registry::default();
    let stages = Gauge::<i64>::default();
    stages.set(i64::try_from(fleet.stages.len()).unwrap_or(i64::MAX));
    registry.register("ivs_stages", "Managed stages (fleet-wide)", stages);
    let viewers = Family::<StageLabels, Gauge>::default();
    for s in fleet.stages {
        let labels = StageLabels {
            stage: stage_label(&s.record.arn),
            auto_scaled: s.record.kind.is_auto_scaled(),
        };
        viewers.get_or_create(&labels).set(i64::from(s.viewers));
    }
    registry.register(
        "ivs_stage_viewers",
        "Viewers counted per stage (fleet-wide), by stage id",
        viewers,
    );
    if let Some(publisher_live) = fleet.publisher_live {
        let live = Gauge::<i64>::default();
        live.set(i64::from(publisher_live));
        registry.register(
            "ivs_publisher_live",
            "1 if the publisher is live on the master stage, as IVS reports it",
            live,
        );
    }
    registry
}

/// A stage's label: its id, the last part of its ARN. The whole ARN names
/// the AWS account, which has no place in a monitoring system's labels.
fn stage_label(arn: &str) -> String {
    match arn.parse::<ivs_api::StageArn>() {
        Ok(parsed) => parsed.id().to_owned(),
        // Registered stages always parse; anything else gets a fixed label
        // rather than its raw text.
        Err(_) => "unparsed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(m: &Metrics) -> String {
        let fleet = FleetView {
            stages: &[],
            publisher_live: None,
        };
        m.render(&fleet).unwrap_or_default()
    }

    #[test]
    fn requests_are_counted_under_their_route_handle() {
        let m = Metrics::default();
        let heartbeat = m.route("/api/viewer/heartbeat");
        m.observe(&heartbeat, &Method::POST, 200, Duration::from_micros(700));
        m.observe(&heartbeat, &Method::POST, 200, Duration::from_millis(3));
        m.observe(&heartbeat, &Method::POST, 404, Duration::from_millis(3));
        // A status outside the cached set takes the family's own path.
        m.observe(&heartbeat, &Method::PATCH, 418, Duration::from_millis(3));
        let text = render(&m);
        for line in [
            "ivs_http_requests_total{route=\"/api/viewer/heartbeat\",method=\"POST\",status=\"200\"} 2\n",
            "ivs_http_requests_total{route=\"/api/viewer/heartbeat\",method=\"POST\",status=\"404\"} 1\n",
            "ivs_http_requests_total{route=\"/api/viewer/heartbeat\",method=\"OTHER\",status=\"418\"} 1\n",
            "ivs_http_request_duration_seconds_bucket{route=\"/api/viewer/heartbeat\",le=\"0.001\"} 1\n",
            "ivs_http_request_duration_seconds_bucket{route=\"/api/viewer/heartbeat\",le=\"0.005\"} 4\n",
            "ivs_http_request_duration_seconds_count{route=\"/api/viewer/heartbeat\"} 4\n",
            "ivs_requests_refused_total{reason=\"not_found\"} 1\n",
            "ivs_requests_refused_total{reason=\"other\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // The same label twice shares one histogram.
        let again = m.route("/api/viewer/heartbeat");
        m.observe(&again, &Method::POST, 200, Duration::from_millis(1));
        assert!(render(&m).contains(
            "ivs_http_request_duration_seconds_count{route=\"/api/viewer/heartbeat\"} 5\n"
        ));
    }

    #[test]
    fn stages_are_labelled_by_id_never_by_arn() {
        assert_eq!(
            stage_label("arn:aws:ivs:ap-northeast-1:123456789012:stage/AbC123"),
            "AbC123"
        );
        assert_eq!(stage_label("not an arn"), "unparsed");
    }

    #[test]
    fn publisher_liveness_is_left_out_when_unknown() {
        let m = Metrics::default();
        let scrape = |publisher_live| {
            m.render(&FleetView {
                stages: &[],
                publisher_live,
            })
            .unwrap_or_default()
        };
        assert!(scrape(Some(true)).contains("\nivs_publisher_live 1\n"));
        assert!(scrape(Some(false)).contains("\nivs_publisher_live 0\n"));
        assert!(!scrape(None).contains("ivs_publisher_live"));
    }

    #[test]
    fn ws_sessions_are_counted_while_open() {
        let m = Metrics::default();
        let a = m.ws_session();
        let b = m.ws_session();
        assert!(render(&m).contains("ivs_ws_connections 2\n"));
        drop(a);
        drop(b);
        assert!(render(&m).contains("ivs_ws_connections 0\n"));
    }
}
