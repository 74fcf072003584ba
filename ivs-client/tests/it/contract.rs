//! Contract tests: every endpoint of the spec, driven by one table
//! (`ivs_test_support::contract_table`, shared with the workspace's
//! `tests/it/client_contract.rs`, which runs it against the real server). For
//! each endpoint the mock server expects exactly the method, path, `x-api-key`
//! and the spec's request example, answers the spec's response example, and
//! the client's typed result must hold every value of that example.

use std::time::Duration;

use crate::common::{ARN, ARN_ENCODED, KEY, arn, client, error_body, user};
use ivs_client::model::*;
use ivs_client::{Client, Error, RetryPolicy};
use ivs_test_support::contract_table::{
    self, Ctx, SPEC_ARN, WRONG_KEY, cases, encode_segment, error_cases, fixture,
};
use wiremock::matchers::{header, method, path, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[test]
fn the_table_encodes_arns_as_the_spec_shows() {
    assert_eq!(SPEC_ARN, ARN);
    assert_eq!(encode_segment(ARN), ARN_ENCODED);
    let ctx = Ctx::example();
    assert_eq!(
        ctx.path("/api/stage/{stage}"),
        format!("/api/stage/{ARN_ENCODED}")
    );
    assert_eq!(
        ctx.request_body("viewer-heartbeat.request.json"),
        fixture("viewer-heartbeat.request.json")
    );
    let live = Ctx::live("arn:aws:ivs:us-east-1:1:stage/abc");
    assert_eq!(
        live.request_body("viewer-leave.request.json")["stageArn"],
        "arn:aws:ivs:us-east-1:1:stage/abc"
    );
}

#[tokio::test]
async fn every_endpoint_matches_the_spec_examples() {
    let cases = cases();
    // The spec's endpoint index lists 18 HTTP endpoints.
    assert_eq!(cases.len(), 18);
    let mut ctx = Ctx::example();
    for case in &cases {
        let server = MockServer::start().await;
        let response = fixture(case.response);
        contract_table::expect_request(case, &ctx, KEY)
            .respond_with(ResponseTemplate::new(200).set_body_json(&response))
            .expect(1)
            .named(case.name)
            .mount(&server)
            .await;

        let client = client(&server.uri(), RetryPolicy::none());
        let typed = case
            .run(&client, &mut ctx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        assert_eq!(
            typed,
            case.shape.payload(&response),
            "{}: typed result differs from the spec example",
            case.name
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn stage_list_without_paging_sends_no_query() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stage/list"))
        .and(query_param_is_missing("maxResults"))
        .and(query_param_is_missing("nextToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("stage-list.response.json")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    c.stages().list().send().await.expect("list");
}

#[tokio::test]
async fn user_agent_names_the_crate() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stats/publisher"))
        .and(header(
            "user-agent",
            concat!("ivs-client/", env!("CARGO_PKG_VERSION")),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stats-publisher.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    c.stats().publisher().await.expect("publisher");
}

#[tokio::test]
async fn base_url_path_prefix_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ivs/api/stats/publisher"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("stats-publisher.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&format!("{}/ivs/", server.uri()), RetryPolicy::none());
    c.stats().publisher().await.expect("publisher");
}

// ------------------------------------------------------------------ errors

#[tokio::test]
async fn documented_errors_map_to_code_and_status() {
    let cases = error_cases();
    assert_eq!(cases.len(), 11);
    let ctx = Ctx::example();
    for case in cases {
        let server = MockServer::start().await;
        let mut response = ResponseTemplate::new(case.status).set_body_json(error_body(case.code));
        if let Some(secs) = case.retry_after {
            response = response.insert_header("retry-after", secs.to_string().as_str());
        }
        let key = if case.wrong_key { WRONG_KEY } else { KEY };
        case.expect_request(&ctx, key)
            .respond_with(response)
            .expect(1)
            .named(case.code)
            .mount(&server)
            .await;
        let c = Client::builder()
            .base_url(server.uri())
            .api_key(key)
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("client");
        let err = (case.call)(&c, &ctx).await.expect_err(case.code);
        match &err {
            Error::Api(e) => {
                assert_eq!(e.status(), case.status, "{}", case.code);
                assert_eq!(e.code(), &case.expected);
                assert_eq!(e.message(), "缺少必填參數: userId");
                assert_eq!(e.details(), "userId is required");
                assert_eq!(e.retry_after(), case.retry_after.map(Duration::from_secs));
                assert!(e.is_api_body());
            }
            other => panic!("{}: expected Error::Api, got {other:?}", case.code),
        }
        assert_eq!(err.code(), Some(&case.expected));
        assert_eq!(err.status(), Some(case.status));
        server.verify().await;
    }
}

#[tokio::test]
async fn non_json_error_body_gets_code_from_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    let err = c.stats().overall().await.expect_err("502");
    assert_eq!(err.status(), Some(502));
    assert!(err.is_retryable());
    assert!(err.to_string().contains("Bad Gateway"), "{err}");
}

#[tokio::test]
async fn undecodable_success_keeps_the_raw_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/stats"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"success":true,"data":{"totalViewers":"many"}}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());
    match c.stats().overall().await {
        Err(Error::Decode { status, body, .. }) => {
            assert_eq!(status, 200);
            assert!(body.contains("\"many\""));
        }
        other => panic!("expected Decode, got {other:?}"),
    }
}

/// The client is meant to be shared by thousands of tasks: every future it
/// returns, and every handle, must be `Send`.
#[test]
fn client_futures_and_handles_are_send() {
    fn is_send<T: Send>(_: &T) {}
    fn is_send_sync<T: Send + Sync + Clone + 'static>() {}
    is_send_sync::<Client>();
    fn is_error<T: std::error::Error + Send + Sync + 'static>() {}
    is_error::<Error>();

    let c = Client::new("http://localhost:1", KEY).expect("client");
    let req = TokenRequest::new("v".parse().unwrap());
    is_send(&c.tokens().viewer(&req));
    is_send(&c.stages().list().send());
    is_send(&c.stages().list_all());
    is_send(&c.viewers().heartbeat(&user("v"), &arn()));
    is_send(&c.stats().overall());
    is_send(&c.health());
    is_send(&c.join(user("v")));
    is_send(&c.stats_stream());
    fn handle_is_send<T: Send + 'static>() {}
    handle_is_send::<ivs_client::HeartbeatHandle>();
    handle_is_send::<ivs_client::ViewerSession>();
}

/// Calls take parsed ids, so a malformed one is refused where it is parsed,
/// before any call; `?` turns the refusal into `Error::InvalidArgument`.
#[test]
fn malformed_ids_are_refused_where_they_are_parsed() {
    fn ids(user: &str, arn: &str) -> Result<(UserId, StageArn), Error> {
        Ok((user.parse()?, arn.parse()?))
    }
    assert!(ids("viewer-001", ARN).is_ok());
    for (user, arn) in [("", ARN), (&*"u".repeat(122), ARN), ("u", "arn:aws:ivs:x")] {
        let err = ids(user, arn).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }
    assert!(matches!(
        ids("", ARN),
        Err(Error::InvalidArgument(IdError::Empty { field: "userId" }))
    ));
}
