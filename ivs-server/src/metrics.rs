//! Prometheus metrics, kept by hand in atomics: a handful of counters and
//! one latency histogram do not justify a metrics framework on the hot path.
//!
//! Request counts and latency are recorded once per request by the access
//! filter in `http`; the service counts joins, expirations and scale events;
//! gauges (viewers per stage, stages) are read from the store at scrape time,
//! so they are the fleet's numbers, not this instance's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::store::StageLoad;

pub mod connections;
pub mod refusals;
pub mod sampled;

pub use connections::ConnectionStats;
pub use refusals::Refusals;

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The route templates requests are counted under (never raw paths: ARNs
/// would make the label set unbounded).
pub fn route_label(path: &str) -> &'static str {
    let p = path.trim_end_matches('/');
    match p {
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/openapi.json" => "/openapi.json",
        "/ws" => "/ws",
        "/api/token/publisher" => "/api/token/publisher",
        "/api/token/viewer" => "/api/token/viewer",
        "/api/stage/list" => "/api/stage/list",
        "/api/stage/master/info" => "/api/stage/master/info",
        "/api/stage" => "/api/stage",
        "/api/viewer/heartbeat" => "/api/viewer/heartbeat",
        "/api/viewer/leave" => "/api/viewer/leave",
        "/api/viewer/duration" => "/api/viewer/duration",
        "/api/stats" => "/api/stats",
        "/api/stats/viewers" => "/api/stats/viewers",
        "/api/stats/stages" => "/api/stats/stages",
        "/api/stats/publisher" => "/api/stats/publisher",
        _ if p.starts_with("/api/stage/") => "/api/stage/:stageArn",
        _ if p.starts_with("/api/viewer/list/") => "/api/viewer/list/:stageArn",
        _ if p.starts_with("/api/stats/stages/") => "/api/stats/stages/:stageArn",
        _ => "other",
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    /// Viewers counted by a join (rejoins excluded).
    pub joins: AtomicU64,
    /// Viewers removed by the expiry sweep.
    pub expirations: AtomicU64,
    /// Stages created or revived for capacity.
    pub scale_ups: AtomicU64,
    /// Stages deleted by scale-down.
    pub scale_downs: AtomicU64,
    /// Requests that failed because the store failed.
    pub store_errors: AtomicU64,
    /// Requests that failed because IVS failed.
    pub ivs_errors: AtomicU64,
    /// Requests refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// 4xx responses by reason, logged sampled.
    pub refusals: Refusals,
    /// The HTTP server's connections.
    pub connections: ConnectionStats,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, path: &str, status: u16, elapsed: Duration) {
        let route = route_label(path);
        let method = match method {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            _ => "OTHER",
        };
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route, method, status)).or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        if let Ok(mut l) = self.latency.lock() {
            let h = l.entry(route).or_default();
            h.count += 1;
            h.sum += secs;
            for (i, le) in BUCKETS.iter().enumerate() {
                if secs <= *le {
                    h.buckets[i] += 1;
                }
            }
        }
    }

    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the fleet's stages as gauges.
    pub fn render(&self, stages: &[StageLoad]) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP ivs_http_requests_total Requests by route, method and status."
        );
        let _ = writeln!(out, "# TYPE ivs_http_requests_total counter");
        if let Ok(r) = self.requests.lock() {
            for ((route, method, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "ivs_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP ivs_http_request_duration_seconds Request latency by route."
        );
        let _ = writeln!(out, "# TYPE ivs_http_request_duration_seconds histogram");
        if let Ok(l) = self.latency.lock() {
            for (route, h) in l.iter() {
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "ivs_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {}",
                        h.buckets[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "ivs_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "ivs_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "ivs_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        for (name, help, counter) in [
            (
                "ivs_viewer_joins_total",
                "Viewers counted by a join.",
                &self.joins,
            ),
            (
                "ivs_viewer_expirations_total",
                "Viewers removed for missing heartbeats.",
                &self.expirations,
            ),
            (
                "ivs_scale_ups_total",
                "Stages created or revived for capacity.",
                &self.scale_ups,
            ),
            (
                "ivs_scale_downs_total",
                "Stages deleted by scale-down.",
                &self.scale_downs,
            ),
            (
                "ivs_store_errors_total",
                "Requests failed by the viewer store (Redis).",
                &self.store_errors,
            ),
            (
                "ivs_ivs_errors_total",
                "Requests failed by IVS.",
                &self.ivs_errors,
            ),
            (
                "ivs_rate_limited_total",
                "Requests refused by the rate limit.",
                &self.rate_limited,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        self.refusals.render(&mut out);
        let c = &self.connections;
        let _ = writeln!(
            out,
            "# HELP ivs_http_connections Open HTTP connections, /ws sessions included."
        );
        let _ = writeln!(out, "# TYPE ivs_http_connections gauge");
        let _ = writeln!(
            out,
            "ivs_http_connections {}",
            c.open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ivs_http_connections_closed_total Connections closed by the server's timeouts."
        );
        let _ = writeln!(out, "# TYPE ivs_http_connections_closed_total counter");
        let _ = writeln!(
            out,
            "ivs_http_connections_closed_total{{reason=\"header_timeout\"}} {}",
            c.header_timeouts()
        );
        let _ = writeln!(
            out,
            "ivs_http_connections_closed_total{{reason=\"idle_timeout\"}} {}",
            c.idle_closed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ivs_http_connection_limit_reached_total Times new connections had to wait because IVS_MAX_CONNECTIONS were open."
        );
        let _ = writeln!(
            out,
            "# TYPE ivs_http_connection_limit_reached_total counter"
        );
        let _ = writeln!(
            out,
            "ivs_http_connection_limit_reached_total {}",
            c.capacity_reached()
        );
        let _ = writeln!(out, "# HELP ivs_stages Managed stages.");
        let _ = writeln!(out, "# TYPE ivs_stages gauge");
        let _ = writeln!(out, "ivs_stages {}", stages.len());
        let _ = writeln!(out, "# HELP ivs_stage_viewers Viewers counted per stage.");
        let _ = writeln!(out, "# TYPE ivs_stage_viewers gauge");
        for s in stages {
            let _ = writeln!(
                out,
                "ivs_stage_viewers{{stage=\"{}\",auto_scaled=\"{}\"}} {}",
                s.record.arn, s.record.auto_scaled, s.viewers
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templated_and_counted() {
        assert_eq!(route_label("/api/stage/arn%3Aaws"), "/api/stage/:stageArn");
        assert_eq!(route_label("/api/stage/list"), "/api/stage/list");
        assert_eq!(
            route_label("/api/viewer/list/arn:aws:ivs:x:1:stage/a"),
            "/api/viewer/list/:stageArn"
        );
        assert_eq!(route_label("/nope"), "other");
        let m = Metrics::default();
        m.observe(
            "POST",
            "/api/viewer/heartbeat",
            200,
            Duration::from_micros(700),
        );
        m.observe(
            "POST",
            "/api/viewer/heartbeat",
            404,
            Duration::from_millis(3),
        );
        let text = m.render(&[]);
        assert!(text.contains(
            "ivs_http_requests_total{route=\"/api/viewer/heartbeat\",method=\"POST\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "ivs_http_request_duration_seconds_bucket{route=\"/api/viewer/heartbeat\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "ivs_http_request_duration_seconds_count{route=\"/api/viewer/heartbeat\"} 2"
        ));
    }
}
