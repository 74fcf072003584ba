//! What errors say: the server's English details, the root cause of a
//! transport failure, request ids both ways, and the rate-limit state.

use std::time::Duration;

use crate::common::*;
use ivs_client::model::ErrorCode;
use ivs_client::{Error, RetryPolicy};
use serde_json::json;
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn validation_error() -> serde_json::Value {
    json!({
        "error": "VALIDATION_ERROR",
        "message": "缺少必填參數: userId",
        "details": "userId is required"
    })
}

#[tokio::test]
async fn display_carries_the_english_details_and_the_servers_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stats"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(validation_error())
                .insert_header("x-request-id", "srv-id-7"),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let err = c.stats().overall().await.expect_err("400");
    assert_eq!(
        err.to_string(),
        "ivs-server answered 400 VALIDATION_ERROR: userId is required (缺少必填參數: userId) [request srv-id-7]"
    );
    assert_eq!(err.request_id(), Some("srv-id-7"));
    let Error::Api(api) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    assert_eq!(api.details(), "userId is required");
    assert_eq!(api.message(), "缺少必填參數: userId");
    assert_eq!(api.code(), &ErrorCode::ValidationError);
}

#[tokio::test]
async fn every_attempt_sends_a_request_id_and_retries_share_its_prefix() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stats"))
        .respond_with(ResponseTemplate::new(503).set_body_json(error_body("SERVICE_UNAVAILABLE")))
        .mount(&server)
        .await;
    let c = client(&server.uri(), fast_retries());
    let err = c.stats().overall().await.expect_err("503 three times");
    c.stats().overall().await.expect_err("a second call");

    let ids: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            r.headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    let (prefix, first) = ids[0].rsplit_once('-').expect("<call>-<attempt>");
    assert_eq!(first, "1");
    assert_eq!(ids[1], format!("{prefix}-2"));
    assert_eq!(ids[2], format!("{prefix}-3"));
    assert!(!ids[3].starts_with(prefix), "a new call, a new id: {ids:?}");
    // The server answered no id: the error keeps the last one sent.
    assert_eq!(err.request_id(), Some(ids[2].as_str()));
}

#[tokio::test]
async fn a_transport_error_says_its_root_cause() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let c = client(&format!("http://{addr}"), RetryPolicy::none());
    let err = c.stats().overall().await.expect_err("refused");
    let Error::Transport(transport) = &err else {
        panic!("expected Error::Transport, got {err:?}")
    };
    assert!(transport.is_connect());
    let shown = err.to_string();
    // reqwest's own text is only "error sending request"; the root cause
    // is the operating system's "Connection refused".
    assert!(
        shown.starts_with("transport error: could not connect: "),
        "{shown}"
    );
    assert!(shown.to_lowercase().contains("refused"), "{shown}");
    // The chain stays available to error reporters.
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.request_id().is_some_and(|id| id.ends_with("-1")));
}

#[tokio::test]
async fn rate_limit_state_is_kept_from_answers_and_errors() {
    let server = MockServer::start().await;
    let limited = |remaining: &str| {
        ResponseTemplate::new(200)
            .set_body_json(fixture("stats.response.json"))
            .insert_header("RateLimit-Limit", "600")
            .insert_header("RateLimit-Remaining", remaining)
            .insert_header("RateLimit-Reset", "4")
    };
    Mock::given(method("GET"))
        .and(path("/api/stats"))
        .respond_with(limited("41"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/stats"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(error_body("TOO_MANY_REQUESTS"))
                .insert_header("Retry-After", "7")
                .insert_header("RateLimit-Limit", "600")
                .insert_header("RateLimit-Remaining", "0")
                .insert_header("RateLimit-Reset", "7"),
        )
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    assert_eq!(c.rate_limit(), None, "nothing seen yet");

    let before = std::time::Instant::now();
    c.stats().overall().await.expect("200");
    let rate = c.rate_limit().expect("the 200's headers");
    assert_eq!((rate.limit(), rate.remaining()), (600, 41));
    assert_eq!(rate.reset(), Duration::from_secs(4));
    assert!(rate.observed_at() >= before);

    let err = c.stats().overall().await.expect_err("429");
    let Error::Api(api) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    let on_error = api.rate_limit().expect("the 429's headers");
    assert_eq!(on_error.remaining(), 0);
    assert_eq!(on_error.reset(), Duration::from_secs(7));
    assert_eq!(api.retry_after(), Some(Duration::from_secs(7)));
    // The client's view follows the newest answer, and its clones share it.
    assert_eq!(c.clone().rate_limit().map(|r| r.remaining()), Some(0));
}

#[tokio::test]
async fn a_foreign_error_page_is_named_as_such() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(proxy_html_404())
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let err = c.stats().overall().await.expect_err("404");
    assert!(
        !err.is_not_found(),
        "a proxy's page says nothing about the resource"
    );
    assert_eq!(err.status(), Some(404));
    let shown = err.to_string();
    assert!(
        shown.starts_with("HTTP 404 without the API's error body"),
        "{shown}"
    );
    assert!(shown.contains("404 Not Found</body>"), "{shown}");
}
