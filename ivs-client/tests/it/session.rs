//! Viewer sessions: rejoin after NOT_FOUND, token refresh before expiry.

use std::time::Duration;

use crate::common::*;
use ivs_client::model::TokenRequest;
use ivs_client::{RetryPolicy, SessionEvent, ViewerSession};
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OTHER_ARN: &str = "arn:aws:ivs:ap-northeast-1:125371974421:stage/wTlyfr2LLy5v";

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

async fn next(session: &mut ViewerSession) -> SessionEvent {
    tokio::time::timeout(Duration::from_secs(5), session.next_event())
        .await
        .expect("an event within 5 s")
        .expect("session still running")
}

async fn mount_token(server: &MockServer, body: serde_json::Value, times: Option<u64>) {
    let mock = Mock::given(method("POST"))
        .and(path("/api/token/viewer"))
        .and(body_json(json!({"userId": "viewer-001"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(body));
    let mock = match times {
        Some(n) => mock.up_to_n_times(n).expect(n),
        None => mock,
    };
    mock.mount(server).await;
}

/// Every heartbeat succeeds.
async fn mount_heartbeat_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("viewer-heartbeat.response.json")),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn rejoins_after_not_found_with_a_new_token() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        viewer_token_response("token-A", ARN, hours(1)),
        Some(1),
    )
    .await;
    mount_token(
        &server,
        viewer_token_response("token-B", ARN, hours(1)),
        Some(1),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(ResponseTemplate::new(404).set_body_json(error_body("NOT_FOUND")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .and(body_json(json!({"userId": "viewer-001", "stageArn": ARN})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("viewer-heartbeat.response.json")),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut session = c
        .viewer_session(TokenRequest::new("viewer-001".parse().unwrap()))
        .heartbeat_interval(Duration::from_millis(100))
        .jitter_start(false)
        .spawn()
        .await
        .expect("join");
    assert_eq!(session.token().token, "token-A");

    match next(&mut session).await {
        SessionEvent::Rejoined { token } => {
            assert_eq!(token.token, "token-B");
            assert_eq!(token.stage_arn, ARN);
        }
        other => panic!("expected Rejoined, got {other:?}"),
    }
    assert_eq!(session.token().token, "token-B");
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Heartbeat { .. }
    ));
    server.verify().await;
}

#[tokio::test]
async fn failed_rejoin_is_retried_at_the_next_interval() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        viewer_token_response("token-A", ARN, hours(1)),
        Some(1),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/token/viewer"))
        .respond_with(ResponseTemplate::new(503).set_body_json(error_body("STAGE_FULL")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_token(
        &server,
        viewer_token_response("token-C", ARN, hours(1)),
        Some(1),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(ResponseTemplate::new(404).set_body_json(error_body("NOT_FOUND")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_heartbeat_ok(&server).await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut session = c
        .viewer_session(TokenRequest::new("viewer-001".parse().unwrap()))
        .heartbeat_interval(Duration::from_millis(100))
        .jitter_start(false)
        .spawn()
        .await
        .expect("join");

    match next(&mut session).await {
        SessionEvent::HeartbeatFailed {
            error,
            consecutive_failures,
        } => {
            assert_eq!(consecutive_failures, 1);
            assert_eq!(error.code(), Some(&ivs_client::model::ErrorCode::StageFull));
        }
        other => panic!("expected HeartbeatFailed, got {other:?}"),
    }
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Recovered { after_failures: 1 }
    ));
    match next(&mut session).await {
        SessionEvent::Rejoined { token } => assert_eq!(token.token, "token-C"),
        other => panic!("expected Rejoined, got {other:?}"),
    }
    server.verify().await;
}

#[tokio::test]
async fn refreshes_the_token_before_it_expires() {
    let server = MockServer::start().await;
    // Expires in 60 s, the refresh lead is 5 min: refresh at once.
    mount_token(
        &server,
        viewer_token_response("token-A", ARN, chrono::Duration::seconds(60)),
        Some(1),
    )
    .await;
    mount_token(
        &server,
        viewer_token_response("token-B", ARN, hours(1)),
        Some(1),
    )
    .await;
    mount_heartbeat_ok(&server).await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut session = c
        .viewer_session(TokenRequest::new("viewer-001".parse().unwrap()))
        .heartbeat_interval(Duration::from_millis(100))
        .refresh_lead(Duration::from_secs(300))
        .jitter_start(false)
        .spawn()
        .await
        .expect("join");
    let mut updates = session.token_updates();

    let refreshed = loop {
        match next(&mut session).await {
            SessionEvent::TokenRefreshed { token } => break token,
            SessionEvent::Heartbeat { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(refreshed.token, "token-B");
    assert_eq!(session.token().token, "token-B");
    assert_eq!(updates.current().token, "token-B");
    let seen = tokio::time::timeout(Duration::from_secs(1), updates.changed())
        .await
        .expect("the refresh is a change")
        .expect("the session runs");
    assert_eq!(seen.token, "token-B");

    // The new token is good for an hour: no further refresh.
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.verify().await;
}

#[tokio::test]
async fn short_lived_tokens_do_not_make_refresh_spin() {
    let server = MockServer::start().await;
    // Every token expires within the lead: refreshes must still be an interval apart.
    Mock::given(method("POST"))
        .and(path("/api/token/viewer"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(viewer_token_response(
                "t",
                ARN,
                chrono::Duration::seconds(10),
            )),
        )
        .mount(&server)
        .await;
    mount_heartbeat_ok(&server).await;
    let c = client(&server.uri(), RetryPolicy::none());
    let session = c
        .viewer_session(TokenRequest::new("viewer-001".parse().unwrap()))
        .heartbeat_interval(Duration::from_millis(200))
        .jitter_start(false)
        .spawn()
        .await
        .expect("join");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tokens = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/api/token/viewer")
        .count();
    // Join, immediate refresh, then at most one every 200 ms.
    assert!(
        (2..=5).contains(&tokens),
        "{tokens} token requests in 500 ms"
    );
    drop(session);
}

#[tokio::test]
async fn refresh_onto_another_stage_leaves_the_old_one() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        viewer_token_response("token-A", ARN, chrono::Duration::seconds(30)),
        Some(1),
    )
    .await;
    mount_token(
        &server,
        viewer_token_response("token-B", OTHER_ARN, hours(1)),
        Some(1),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/leave"))
        .and(body_json(json!({"userId": "viewer-001", "stageArn": ARN})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("viewer-leave.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_heartbeat_ok(&server).await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut session = c
        .viewer_session(TokenRequest::new("viewer-001".parse().unwrap()))
        .heartbeat_interval(Duration::from_secs(10))
        .jitter_start(false)
        .spawn()
        .await
        .expect("join");
    let token = loop {
        match next(&mut session).await {
            SessionEvent::TokenRefreshed { token } => break token,
            SessionEvent::Heartbeat { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(token.stage_arn, OTHER_ARN);
    server.verify().await;
}

#[tokio::test]
async fn stop_leaves_the_current_stage() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        viewer_token_response("token-A", OTHER_ARN, hours(1)),
        Some(1),
    )
    .await;
    mount_heartbeat_ok(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/leave"))
        .and(body_json(
            json!({"userId": "viewer-001", "stageArn": OTHER_ARN}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("viewer-leave.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut session = c.join(user("viewer-001")).await.expect("join");
    assert_eq!(session.user_id(), &user("viewer-001"));
    // Default start jitter: the first beat may be up to 30 s away; stop anyway.
    let _ = tokio::time::timeout(Duration::from_millis(50), session.next_event()).await;
    let watched = session.stop().await.expect("stop").expect("duration");
    assert_eq!(watched.watch_duration, 1850);
    server.verify().await;
}

#[tokio::test]
async fn join_fails_when_no_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/token/viewer"))
        .respond_with(ResponseTemplate::new(503).set_body_json(error_body("STAGE_FULL")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), fast_retries());
    let err = c.join(user("viewer-001")).await.expect_err("stage full");
    assert_eq!(err.code(), Some(&ivs_client::model::ErrorCode::StageFull));
}

/// Only the API's own `NOT_FOUND` makes a session take a new token: a
/// proxy's 404 page is a failed heartbeat.
#[tokio::test]
async fn a_proxys_html_404_does_not_make_the_session_rejoin() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        viewer_token_response("token-A", ARN, hours(1)),
        Some(1),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/viewer/heartbeat"))
        .respond_with(proxy_html_404())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let mut session = c
        .viewer_session(TokenRequest::new("viewer-001".parse().unwrap()))
        .heartbeat_interval(Duration::from_millis(50))
        .jitter_start(false)
        .spawn()
        .await
        .expect("join");

    for expected in 1..=2 {
        match next(&mut session).await {
            SessionEvent::HeartbeatFailed {
                error,
                consecutive_failures,
            } => {
                assert_eq!(consecutive_failures, expected);
                assert_eq!(error.status(), Some(404));
            }
            other => panic!("expected HeartbeatFailed, got {other:?}"),
        }
    }
    assert_eq!(session.token().token, "token-A", "no new token");
    let token_requests = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/api/token/viewer")
        .count();
    assert_eq!(token_requests, 1, "only the join asked for a token");
}

#[tokio::test]
async fn token_updates_end_with_the_session() {
    let server = MockServer::start().await;
    mount_token(
        &server,
        viewer_token_response("token-A", ARN, hours(1)),
        Some(1),
    )
    .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let session = c.join(user("viewer-001")).await.expect("join");
    let mut updates = session.token_updates();
    assert_eq!(updates.current().token, "token-A");
    // The first token is not news: nothing until the session changes it.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), updates.changed())
            .await
            .is_err()
    );
    drop(session);
    let end = tokio::time::timeout(Duration::from_secs(5), updates.changed())
        .await
        .expect("the end is seen at once");
    assert!(end.is_none(), "{end:?}");
}
