//! `x-request-id` on every response: the caller's own when valid, else a
//! generated one; and `ivs-client`'s errors carrying it, with the server's
//! English details and its rate-limit state, end to end.

use ivs_client::model::TokenRequest;
use ivs_client::{Client, Error, RetryPolicy};
use ivs_test_support::harness::{test_settings, TestServer};
use reqwest::Method;

fn id_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no x-request-id in {headers:?}"))
        .to_owned()
}

#[tokio::test]
async fn every_response_carries_the_callers_id_or_a_generated_one() {
    let s = TestServer::start(test_settings()).await;
    let send = |path: &'static str, key: Option<&str>, id: Option<String>| {
        let mut req = s.raw(Method::GET, path);
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        async move { req.send().await.expect("answer") }
    };
    let key = Some(s.key.as_str());

    // Success, refusal, unknown route, public route: the caller's id back.
    for (path, key, status) in [
        ("/api/stats", key, 200),
        ("/api/stats", Some("wrong-key"), 401),
        ("/api/no-such-route", key, 404),
        ("/health", None, 200),
    ] {
        let r = send(path, key, Some("caller-id-42".into())).await;
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(id_of(r.headers()), "caller-id-42", "{path}");
    }

    // 64 visible ASCII characters are kept; longer, or with a space, or none: generated.
    let longest = "x".repeat(64);
    let r = send("/api/stats", key, Some(longest.clone())).await;
    assert_eq!(id_of(r.headers()), longest);
    for bad in [Some("y".repeat(65)), Some("two words".into()), None] {
        let r = send("/api/stats", key, bad.clone()).await;
        let id = id_of(r.headers());
        assert_eq!(id.len(), 12, "{bad:?} → {id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    }
    let a = id_of(send("/api/stats", key, None).await.headers());
    let b = id_of(send("/api/stats", key, None).await.headers());
    assert_ne!(a, b, "generated ids differ");
}

#[tokio::test]
async fn client_errors_carry_the_request_id_details_and_rate_limit() {
    let s = TestServer::start(test_settings()).await;
    let c = Client::builder()
        .base_url(&s.base)
        .api_key(&s.key)
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let unknown = "arn:aws:ivs:ap-northeast-1:123456789012:stage/doesNotExist1"
        .parse()
        .expect("a well-formed ARN");
    let err = c.stages().get(&unknown).await.expect_err("no such stage");
    assert!(err.is_not_found(), "{err:?}");
    let Error::Api(api) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    // The id the client sent (`<call>-<attempt>`), answered by the server.
    let id = api.request_id().expect("a request id");
    assert!(id.ends_with("-1"), "{id}");
    let shown = err.to_string();
    assert!(
        shown.starts_with("ivs-server answered 404 NOT_FOUND: "),
        "{shown}"
    );
    assert!(
        shown.contains(api.details()) && !api.details().is_empty(),
        "{shown}"
    );
    assert!(shown.contains(api.message()), "{shown}");
    assert!(shown.ends_with(&format!("[request {id}]")), "{shown}");
    let rate = api
        .rate_limit()
        .expect("authenticated answers carry RateLimit-*");
    assert!(rate.limit() > 0);
    assert_eq!(c.rate_limit(), Some(rate));

    // A success updates the client's view too.
    c.tokens()
        .viewer(&TokenRequest::new("req-id-viewer".parse().unwrap()))
        .await
        .expect("a token");
    let after = c.rate_limit().expect("rate limit");
    assert!(after.observed_at() > rate.observed_at());
}
