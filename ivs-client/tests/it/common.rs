//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use ivs_client::{Client, RetryPolicy, StageArn, UserId};
use serde_json::Value;

/// The stage ARN the spec's examples use.
pub const ARN: &str = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8";
/// The same, percent-encoded as a path segment.
pub const ARN_ENCODED: &str =
    "arn%3Aaws%3Aivs%3Aap-northeast-1%3A125371974421%3Astage%2FsWyAydfRqqF8";
pub const KEY: &str = "test-api-key";

/// [`ARN`], typed.
pub fn arn() -> StageArn {
    ARN.parse().expect("the spec's ARN")
}

/// A user id, typed.
pub fn user(id: &str) -> UserId {
    id.parse().expect("a valid user id")
}

/// The spec's JSON examples, from the test support crate.
pub use ivs_test_support::shape::fixture;

/// The spec's error example with another code.
pub fn error_body(code: &str) -> Value {
    let mut body = fixture("error.response.json");
    body["error"] = Value::String(code.to_owned());
    body
}

/// A client for `uri` with fast retries, so tests do not wait long.
pub fn client(uri: &str, policy: RetryPolicy) -> Client {
    Client::builder()
        .base_url(uri)
        .api_key(KEY)
        .request_timeout(Duration::from_secs(5))
        .retry_policy(policy)
        .build()
        .expect("test client")
}

/// Fast retries: 3 attempts, 10–50 ms apart.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_min_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(50))
}

/// A viewer token answer (the spec's example) with another token, stage and expiry.
pub fn viewer_token_response(token: &str, stage_arn: &str, expires_in: chrono::Duration) -> Value {
    let mut body = fixture("token-viewer.response.json");
    let expires =
        (chrono::Utc::now() + expires_in).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    body["data"]["token"] = Value::String(token.to_owned());
    body["data"]["stageArn"] = Value::String(stage_arn.to_owned());
    body["data"]["expiresAt"] = Value::String(expires);
    body
}

/// A 404 page from something in front of the server (a proxy, a load
/// balancer), not the API's error body.
pub fn proxy_html_404() -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(404)
        .set_body_raw("<html><body>404 Not Found</body></html>", "text/html")
}
