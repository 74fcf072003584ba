//! The stage list: one page through the builder, every page through the stream.

use std::time::Duration;

use crate::common::*;
use ivs_client::{Error, RetryPolicy, StreamExt};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// A `GET /api/stage/list` answer with stages named `names` and `next_token`.
fn page(names: &[&str], next_token: Option<&str>) -> ResponseTemplate {
    let mut body = fixture("stage-list.response.json");
    let template = body["data"]["stages"][0].clone();
    let stages: Vec<Value> = names
        .iter()
        .map(|name| {
            let mut stage = template.clone();
            stage["name"] = json!(name);
            stage
        })
        .collect();
    body["data"]["stages"] = Value::Array(stages);
    body["data"]["totalStages"] = json!(5);
    body["data"]["nextToken"] = json!(next_token);
    ResponseTemplate::new(200).set_body_json(body)
}

/// The request for the page after `token` (`None`: the first page), 2 a page.
fn request(token: Option<&str>) -> MockBuilder {
    let mock = Mock::given(method("GET"))
        .and(path("/api/stage/list"))
        .and(query_param("maxResults", "2"));
    match token {
        Some(t) => mock.and(query_param("nextToken", t)),
        None => mock.and(query_param_is_missing("nextToken")),
    }
}

async fn drain(mut stream: ivs_client::api::StageListStream) -> Vec<Result<String, Error>> {
    let mut items = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item within 5 s")
    {
        items.push(item.map(|stage| stage.name));
    }
    items
}

#[tokio::test]
async fn list_sends_the_page_size_and_token_it_was_given() {
    let server = MockServer::start().await;
    request(Some("o2"))
        .respond_with(page(&["c", "d"], Some("o4")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let list = c
        .stages()
        .list()
        .max_results(2)
        .next_token("o2")
        .send()
        .await
        .expect("page");
    let names: Vec<&str> = list.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["c", "d"]);
    assert_eq!(list.next_token.as_deref(), Some("o4"));
}

#[tokio::test]
async fn list_all_follows_every_page_in_order() {
    let server = MockServer::start().await;
    for (token, names, next) in [
        (None, &["a", "b"][..], Some("o2")),
        (Some("o2"), &["c", "d"][..], Some("o4")),
        (Some("o4"), &["e"][..], None),
    ] {
        request(token)
            .respond_with(page(names, next))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server.uri(), RetryPolicy::none());
    let names: Vec<String> = drain(c.stages().list().max_results(2).into_stream())
        .await
        .into_iter()
        .map(|r| r.expect("no error"))
        .collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    server.verify().await;
}

#[tokio::test]
async fn list_all_uses_the_server_default_page_size_and_skips_empty_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stage/list"))
        .and(query_param_is_missing("maxResults"))
        .and(query_param_is_missing("nextToken"))
        .respond_with(page(&[], Some("o50")))
        .expect(1)
        .mount(&server)
        .await;
    // An empty token is the server's "first page": following it would loop.
    Mock::given(method("GET"))
        .and(path("/api/stage/list"))
        .and(query_param("nextToken", "o50"))
        .respond_with(page(&["a"], Some("")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let items = drain(c.stages().list_all()).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].as_deref().ok(), Some("a"));
    server.verify().await;
}

#[tokio::test]
async fn an_error_mid_way_is_an_item_and_ends_the_stream() {
    let server = MockServer::start().await;
    request(None)
        .respond_with(page(&["a", "b"], Some("o2")))
        .expect(1)
        .mount(&server)
        .await;
    // 400 is not retried: one request, then the stream ends.
    request(Some("o2"))
        .respond_with(ResponseTemplate::new(400).set_body_json(error_body("VALIDATION_ERROR")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), fast_retries());
    let mut items = drain(c.stages().list().max_results(2).into_stream())
        .await
        .into_iter();
    assert_eq!(items.next().map(Result::unwrap), Some("a".to_owned()));
    assert_eq!(items.next().map(Result::unwrap), Some("b".to_owned()));
    match items.next() {
        Some(Err(e)) => assert_eq!(e.status(), Some(400), "{e:?}"),
        other => panic!("expected the 400, got {other:?}"),
    }
    assert!(items.next().is_none());
    server.verify().await;
}

#[tokio::test]
async fn a_page_the_retry_policy_recovers_is_not_an_error() {
    let server = MockServer::start().await;
    request(None)
        .respond_with(page(&["a"], Some("o1")))
        .expect(1)
        .mount(&server)
        .await;
    // One 503, then the page: the client's retries absorb the failure.
    request(Some("o1"))
        .respond_with(ResponseTemplate::new(503).set_body_json(error_body("SERVICE_UNAVAILABLE")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    request(Some("o1"))
        .respond_with(page(&["b"], None))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), fast_retries());
    let names: Vec<String> = drain(c.stages().list().max_results(2).into_stream())
        .await
        .into_iter()
        .map(|r| r.expect("no error"))
        .collect();
    assert_eq!(names, ["a", "b"]);
    server.verify().await;
}

/// The stream is a `Stream` too: the re-exported `StreamExt` combinators work on it.
#[tokio::test]
async fn list_all_works_with_stream_combinators() {
    let server = MockServer::start().await;
    request(None)
        .respond_with(page(&["a", "b"], Some("o2")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    // `take(1)` stops before the second page is asked for.
    let first: Vec<_> = c
        .stages()
        .list()
        .max_results(2)
        .into_stream()
        .take(1)
        .collect()
        .await;
    assert_eq!(first.len(), 1);
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1, "{requests:?}");
}
