//! The heartbeat task against a mock server, with short real intervals
//! (wiremock uses real sockets, so paused time would fire timeouts early).

use std::time::Duration;

use crate::common::*;
use ivs_client::{HeartbeatEvent, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INTERVAL: Duration = Duration::from_millis(100);

async fn heartbeats_seen(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/api/viewer/heartbeat")
        .count()
}

fn beat_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(fixture("viewer-heartbeat.response.json"))
}

async fn next(handle: &mut ivs_client::HeartbeatHandle) -> HeartbeatEvent {
    tokio::time::timeout(Duration::from_secs(5), handle.next_event())
        .await
        .expect("an event within 5 s")
        .expect("task still running")
}

#[tokio::test]
async fn beats_every_interval() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .and(header("x-api-key", KEY))
        .and(body_json(json!({"userId": "viewer-001", "stageArn": ARN})))
        .respond_with(beat_ok())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(INTERVAL)
        .jitter_start(false)
        .spawn();
    assert_eq!(handle.user_id(), &user("viewer-001"));
    assert_eq!(handle.stage_arn(), &arn());

    for _ in 0..3 {
        match next(&mut handle).await {
            HeartbeatEvent::Beat {
                last_heartbeat,
                round_trip,
            } => {
                assert_eq!(last_heartbeat.to_string(), "2025-10-19T12:00:00.000Z");
                assert!(round_trip < INTERVAL, "{round_trip:?}");
            }
            other => panic!("expected Beat, got {other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    // Beats at 0, 100, ..., about 700 ms: neither a burst nor a stall.
    let seen = heartbeats_seen(&server).await;
    assert!((5..=10).contains(&seen), "{seen} heartbeats in ~750 ms");
}

#[tokio::test]
async fn a_beat_reports_its_round_trip() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(beat_ok().set_delay(Duration::from_millis(150)))
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(Duration::from_secs(5))
        .jitter_start(false)
        .spawn();
    match next(&mut handle).await {
        HeartbeatEvent::Beat { round_trip, .. } => {
            assert!(round_trip >= Duration::from_millis(150), "{round_trip:?}");
            assert!(round_trip < Duration::from_secs(2), "{round_trip:?}");
        }
        other => panic!("expected Beat, got {other:?}"),
    }
}

#[tokio::test]
async fn failures_then_recovery_are_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(ResponseTemplate::new(503).set_body_json(error_body("SERVICE_UNAVAILABLE")))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(beat_ok())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(INTERVAL)
        .jitter_start(false)
        .spawn();

    for expected in 1..=2 {
        match next(&mut handle).await {
            HeartbeatEvent::Failed {
                error,
                consecutive_failures,
            } => {
                assert_eq!(consecutive_failures, expected);
                assert_eq!(error.status(), Some(503));
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
    assert!(matches!(
        next(&mut handle).await,
        HeartbeatEvent::Recovered { after_failures: 2 }
    ));
    assert!(matches!(
        next(&mut handle).await,
        HeartbeatEvent::Beat { .. }
    ));
    assert!(
        !handle.is_finished(),
        "transient failures never end the task"
    );
}

#[tokio::test]
async fn not_found_expires_and_stops_beating() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(ResponseTemplate::new(404).set_body_json(error_body("NOT_FOUND")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/leave"))
        .respond_with(ResponseTemplate::new(404).set_body_json(error_body("NOT_FOUND")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(Duration::from_millis(50))
        .jitter_start(false)
        .spawn();

    assert!(matches!(next(&mut handle).await, HeartbeatEvent::Expired));
    let end = tokio::time::timeout(Duration::from_secs(2), handle.next_event()).await;
    assert!(matches!(end, Ok(None)), "the task ends after Expired");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(heartbeats_seen(&server).await, 1);
    // Leave after expiry finds no viewer: not an error.
    assert_eq!(handle.stop().await.expect("stop"), None);
}

#[tokio::test]
async fn stop_sends_leave_and_returns_the_duration() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(beat_ok())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/leave"))
        .and(header("x-api-key", KEY))
        .and(body_json(fixture("viewer-leave.request.json")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("viewer-leave.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(INTERVAL)
        .jitter_start(false)
        .spawn();
    assert!(matches!(
        next(&mut handle).await,
        HeartbeatEvent::Beat { .. }
    ));

    let watched = handle.stop().await.expect("stop").expect("a duration");
    assert_eq!(watched.watch_duration, 1850);
    assert_eq!(watched.watch_duration_formatted, "30分 50秒");

    let after_stop = heartbeats_seen(&server).await;
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(
        heartbeats_seen(&server).await,
        after_stop,
        "no heartbeat after stop"
    );
    server.verify().await;
}

#[tokio::test]
async fn drop_stops_the_task_without_leave() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(beat_ok())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/leave"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("viewer-leave.response.json")),
        )
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(Duration::from_millis(50))
        .jitter_start(false)
        .spawn();
    for _ in 0..2 {
        assert!(matches!(
            next(&mut handle).await,
            HeartbeatEvent::Beat { .. }
        ));
    }
    drop(handle);
    // Let a request that was already on the wire land before counting.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let at_drop = heartbeats_seen(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        heartbeats_seen(&server).await,
        at_drop,
        "no heartbeat after drop"
    );
    server.verify().await;
}

#[tokio::test]
async fn unread_events_never_block_the_task() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(beat_ok())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(Duration::from_millis(30))
        .jitter_start(false)
        .event_capacity(1)
        .spawn();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(heartbeats_seen(&server).await >= 6, "the task kept beating");
    // The reader still gets the newest events, the oldest were dropped.
    assert!(matches!(
        next(&mut handle).await,
        HeartbeatEvent::Beat { .. }
    ));
}

#[tokio::test]
async fn events_stream_sees_events() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(beat_ok())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(Duration::from_millis(50))
        .jitter_start(false)
        .spawn();
    let mut events = handle.events();
    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("event");
    assert!(matches!(first, Some(HeartbeatEvent::Beat { .. })));
}

#[tokio::test]
async fn jittered_start_waits_before_the_first_beat() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(beat_ok())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    // The first beat comes somewhere in [0, 1 s); run many and check they spread.
    let started = std::time::Instant::now();
    let mut handles: Vec<_> = (0..20)
        .map(|i| {
            c.heartbeat_builder(user(&format!("viewer-{i}")), arn())
                .interval(Duration::from_secs(1))
                .spawn()
        })
        .collect();
    let mut firsts = Vec::new();
    for h in &mut handles {
        assert!(matches!(next(h).await, HeartbeatEvent::Beat { .. }));
        firsts.push(started.elapsed());
    }
    let spread = firsts.iter().max().copied().unwrap_or_default();
    assert!(
        spread > Duration::from_millis(300),
        "first beats all within {spread:?}: no jitter"
    );
    assert!(
        spread < Duration::from_millis(1500),
        "first beat later than one interval: {spread:?}"
    );
}

/// A proxy's or load balancer's 404 page (during a deployment, say) says
/// nothing about the viewer: the task reports failures and keeps beating.
#[tokio::test]
async fn a_proxys_html_404_is_a_failure_not_an_expiry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(proxy_html_404())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut handle = c
        .heartbeat_builder(user("viewer-001"), arn())
        .interval(Duration::from_millis(50))
        .jitter_start(false)
        .spawn();

    for expected in 1..=2 {
        match next(&mut handle).await {
            HeartbeatEvent::Failed {
                error,
                consecutive_failures,
            } => {
                assert_eq!(consecutive_failures, expected);
                assert_eq!(error.status(), Some(404));
                assert!(!error.is_not_found(), "{error}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
    assert!(!handle.is_finished(), "the task goes on beating");
}
