//! Retry behaviour against a mock server and raw TCP servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use ivs_client::model::{ErrorCode, TokenRequest};
use ivs_client::{Error, RetryPolicy};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mount_status(
    server: &MockServer,
    http_method: &str,
    p: &str,
    status: u16,
    code: &str,
    times: u64,
) {
    Mock::given(method(http_method))
        .and(path(p))
        .respond_with(ResponseTemplate::new(status).set_body_json(error_body(code)))
        .up_to_n_times(times)
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn get_is_retried_after_503_twice_then_succeeds() {
    let server = MockServer::start().await;
    mount_status(&server, "GET", "/api/stats", 503, "SERVICE_UNAVAILABLE", 2).await;
    Mock::given(method("GET"))
        .and(path("/api/stats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("stats.response.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), fast_retries());
    let stats = c.stats().overall().await.expect("third attempt succeeds");
    assert_eq!(stats.total_viewers, 55);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
}

#[tokio::test]
async fn attempts_are_bounded() {
    let server = MockServer::start().await;
    mount_status(&server, "GET", "/api/stats", 503, "SERVICE_UNAVAILABLE", 3).await;
    let c = client(&server.uri(), fast_retries());
    let err = c.stats().overall().await.expect_err("all attempts fail");
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stats/viewers"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(error_body("TOO_MANY_REQUESTS"))
                .insert_header("retry-after", "1"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/stats/viewers"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stats-viewers.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    // Computed delays are 10–50 ms: only Retry-After can make the wait ≥ 1 s.
    let c = client(
        &server.uri(),
        fast_retries().with_max_delay(Duration::from_secs(5)),
    );
    let started = Instant::now();
    c.stats().viewers().await.expect("second attempt succeeds");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "waited {elapsed:?}");
}

#[tokio::test]
async fn retry_after_is_capped_by_max_delay() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stats/viewers"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(error_body("SERVICE_UNAVAILABLE"))
                .insert_header("retry-after", "60"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/stats/viewers"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stats-viewers.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(
        &server.uri(),
        fast_retries().with_max_delay(Duration::from_millis(200)),
    );
    let started = Instant::now();
    c.stats().viewers().await.expect("second attempt succeeds");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn retry_after_beyond_total_time_returns_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(error_body("TOO_MANY_REQUESTS"))
                .insert_header("retry-after", "30"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let policy = fast_retries()
        .with_max_delay(Duration::from_secs(60))
        .with_max_total_time(Duration::from_secs(2));
    let c = client(&server.uri(), policy);
    let started = Instant::now();
    let err = c
        .stats()
        .overall()
        .await
        .expect_err("no retry fits the budget");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    mount_status(
        &server,
        "GET",
        &format!("/api/stage/{ARN_ENCODED}"),
        400,
        "VALIDATION_ERROR",
        1,
    )
    .await;
    let c = client(&server.uri(), fast_retries().with_max_attempts(5));
    let err = c.stages().get(&arn()).await.expect_err("400");
    assert_eq!(err.code(), Some(&ErrorCode::ValidationError));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn token_request_is_not_retried_on_503() {
    let server = MockServer::start().await;
    mount_status(
        &server,
        "POST",
        "/api/token/viewer",
        503,
        "SERVICE_UNAVAILABLE",
        1,
    )
    .await;
    let c = client(&server.uri(), fast_retries().with_max_attempts(5));
    let err = c
        .tokens()
        .viewer(&TokenRequest::new("viewer-001".parse().unwrap()))
        .await
        .expect_err("503");
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn token_request_is_retried_on_429() {
    let server = MockServer::start().await;
    mount_status(
        &server,
        "POST",
        "/api/token/viewer",
        429,
        "TOO_MANY_REQUESTS",
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/token/viewer"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("token-viewer.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), fast_retries());
    let token = c
        .tokens()
        .viewer(&TokenRequest::new("viewer-001".parse().unwrap()))
        .await
        .expect("retried");
    assert_eq!(token.participant_id, "obT9s4Qwhy5u");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn stage_create_is_not_retried_on_503() {
    let server = MockServer::start().await;
    mount_status(&server, "POST", "/api/stage", 503, "STAGE_LIMIT_REACHED", 1).await;
    let c = client(&server.uri(), fast_retries());
    let req = ivs_client::model::CreateStageRequest::new("s");
    let err = c.stages().create(&req).await.expect_err("503");
    assert_eq!(err.code(), Some(&ErrorCode::StageLimitReached));
}

/// A server that reads each request and closes the connection without an
/// answer (the request reached it, so it may have acted), counting connections.
async fn hang_up_server(answer: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                if answer {
                    return;
                }
                // Never answer: hold the socket until the client gives up.
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(socket);
            });
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn dropped_connection_is_retried_for_get_but_not_for_token() {
    let (uri, count) = hang_up_server(true).await;
    let c = client(&uri, fast_retries());
    let err = c.stats().overall().await.expect_err("no answer");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3, "GET is retried");

    count.store(0, Ordering::SeqCst);
    let err = c
        .tokens()
        .viewer(&TokenRequest::new("v".parse().unwrap()))
        .await
        .expect_err("no answer");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "token request may have been acted on"
    );
}

#[tokio::test]
async fn timeouts_are_retried_for_get_but_not_for_token() {
    let (uri, count) = hang_up_server(false).await;
    let c = ivs_client::Client::builder()
        .base_url(uri)
        .api_key(KEY)
        .request_timeout(Duration::from_millis(200))
        .retry_policy(fast_retries())
        .build()
        .expect("client");
    let err = c.stats().overall().await.expect_err("timeout");
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    count.store(0, Ordering::SeqCst);
    let err = c
        .tokens()
        .viewer(&TokenRequest::new("v".parse().unwrap()))
        .await
        .expect_err("timeout");
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refused_connection_is_retried_even_for_token() {
    // A port with nothing listening: the request never left, so even a token
    // request is retried; the attempts show as the backoff's wait.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let policy = RetryPolicy::default()
        .with_jitter(false)
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(1));
    let c = client(&format!("http://{addr}"), policy);
    let started = Instant::now();
    let err = c
        .tokens()
        .viewer(&TokenRequest::new("v".parse().unwrap()))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, Error::Transport(e) if e.is_connect()),
        "{err:?}"
    );
    // Two retries: 200 ms + 400 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}
