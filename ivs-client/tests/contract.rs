//! Contract tests: every endpoint of the spec, driven by one table. For each
//! endpoint the mock server expects exactly the method, path, `x-api-key` and
//! the spec's request example, answers the spec's response example, and the
//! client's typed result must hold every value of that example.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use common::*;
use ivs_client::model::*;
use ivs_client::{Client, Error, RetryPolicy};
use serde_json::Value;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

type CallFuture = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;

/// Where the example's payload sits in the body.
#[derive(Clone, Copy)]
enum Shape {
    /// `{"success": true, "data": ...}`: the typed result is `data`.
    Envelope,
    /// The typed result is the whole body (`/health`, `DELETE` stage).
    Bare,
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    query: &'static [(&'static str, &'static str)],
    request: Option<&'static str>,
    response: &'static str,
    shape: Shape,
    authenticated: bool,
    call: fn(Client) -> CallFuture,
}

/// Runs a call and turns its typed result back into JSON, so that the
/// comparison with the example covers every field and its type.
macro_rules! call {
    (|$c:ident| $body:expr) => {{
        fn f($c: Client) -> CallFuture {
            Box::pin(async move {
                let typed = $body.await?;
                Ok(serde_json::to_value(&typed).expect("serialise"))
            })
        }
        f
    }};
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "health",
            method: "GET",
            path: "/health".into(),
            query: &[],
            request: None,
            response: "health.response.json",
            shape: Shape::Bare,
            authenticated: false,
            call: call!(|c| async move {
                let h: Health = c.health().await?;
                assert_eq!(h.uptime, 3600);
                assert_eq!(h.services.redis, "connected");
                Ok::<_, Error>(h)
            }),
        },
        Case {
            name: "token publisher",
            method: "POST",
            path: "/api/token/publisher".into(),
            query: &[],
            request: Some("token-publisher.request.json"),
            response: "token-publisher.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let req: TokenRequest =
                    serde_json::from_value(fixture("token-publisher.request.json")).unwrap();
                let t: PublisherToken = c.tokens().publisher(&req).await?;
                assert_eq!(t.capabilities, vec![Capability::Publish]);
                assert_eq!(t.user_id, "broadcaster-broadcaster-001");
                assert_eq!(t.expires_at.to_string(), "2025-10-19T16:00:00.000Z");
                Ok::<_, Error>(t)
            }),
        },
        Case {
            name: "token viewer",
            method: "POST",
            path: "/api/token/viewer".into(),
            query: &[],
            request: Some("token-viewer.request.json"),
            response: "token-viewer.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let req = TokenRequest::new("viewer-001").with_attributes(
                    [("displayName", "觀眾小華"), ("level", "VIP")]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                );
                let t: ViewerToken = c.tokens().viewer(&req).await?;
                assert_eq!(t.capabilities, vec![Capability::Subscribe]);
                assert_eq!(t.current_viewers, 42);
                assert_eq!(t.participant_id, "obT9s4Qwhy5u");
                Ok::<_, Error>(t)
            }),
        },
        Case {
            name: "stage list",
            method: "GET",
            path: "/api/stage/list".into(),
            query: &[("maxResults", "10"), ("nextToken", "page-2")],
            request: None,
            response: "stage-list.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let l: StageList = c.stages().list(Some(10), Some("page-2")).await?;
                assert_eq!(l.stages.len(), 2);
                assert!(l.stages[1].auto_scaled);
                assert_eq!(l.next_token, None);
                Ok::<_, Error>(l)
            }),
        },
        Case {
            name: "stage master info",
            method: "GET",
            path: "/api/stage/master/info".into(),
            query: &[],
            request: None,
            response: "stage-master-info.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let m: MasterStageInfo = c.stages().master().await?;
                assert!(m.is_master);
                assert_eq!(m.stage.active_session_id.as_deref(), Some("st-abc123..."));
                Ok::<_, Error>(m)
            }),
        },
        Case {
            name: "stage get",
            method: "GET",
            path: format!("/api/stage/{ARN_ENCODED}"),
            query: &[],
            request: None,
            response: "stage-get.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let s: StageInfo = c.stages().get(ARN).await?;
                assert_eq!(s.stage.arn, ARN);
                assert_eq!(s.viewer_count, 45);
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stage create",
            method: "POST",
            path: "/api/stage".into(),
            query: &[],
            request: Some("stage-create.request.json"),
            response: "stage-create.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let req = CreateStageRequest {
                    name: "my-custom-stage".into(),
                    tags: Some(
                        [("Purpose", "special-event"), ("Owner", "marketing-team")]
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect(),
                    ),
                };
                let s: CreatedStage = c.stages().create(&req).await?;
                assert_eq!(
                    s.stage.tags.get("ManagedBy").map(String::as_str),
                    Some("api-server")
                );
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stage update",
            method: "PUT",
            path: format!("/api/stage/{ARN_ENCODED}"),
            query: &[],
            request: Some("stage-update.request.json"),
            response: "stage-update.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let req = UpdateStageRequest {
                    name: "updated-stage-name".into(),
                };
                let s: UpdatedStage = c.stages().update(ARN, &req).await?;
                assert_eq!(s.stage.name, "updated-stage-name");
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stage delete",
            method: "DELETE",
            path: format!("/api/stage/{ARN_ENCODED}"),
            query: &[],
            request: None,
            response: "stage-delete.response.json",
            shape: Shape::Bare,
            authenticated: true,
            call: call!(|c| async move {
                let d: DeletedStage = c.stages().delete(ARN).await?;
                assert!(d.success);
                assert_eq!(d.message, "Stage 已刪除");
                Ok::<_, Error>(d)
            }),
        },
        Case {
            name: "viewer heartbeat",
            method: "POST",
            path: "/api/viewer/heartbeat".into(),
            query: &[],
            request: Some("viewer-heartbeat.request.json"),
            response: "viewer-heartbeat.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let h: Heartbeat = c.viewers().heartbeat("viewer-001", ARN).await?;
                assert_eq!(h.last_heartbeat.to_string(), "2025-10-19T12:00:00.000Z");
                Ok::<_, Error>(h)
            }),
        },
        Case {
            name: "viewer leave",
            method: "POST",
            path: "/api/viewer/leave".into(),
            query: &[],
            request: Some("viewer-leave.request.json"),
            response: "viewer-leave.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let d: WatchDuration = c.viewers().leave("viewer-001", ARN).await?;
                assert_eq!(d.watch_duration, 1850);
                Ok::<_, Error>(d)
            }),
        },
        Case {
            name: "viewer list",
            method: "GET",
            path: format!("/api/viewer/list/{ARN_ENCODED}"),
            query: &[],
            request: None,
            response: "viewer-list.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let l: ViewerList = c.viewers().list(ARN).await?;
                assert_eq!(l.total_viewers, 2);
                assert_eq!(l.viewers[1].participant_id, "Ek1rlumBEnKp");
                Ok::<_, Error>(l)
            }),
        },
        Case {
            name: "viewer duration",
            method: "GET",
            path: "/api/viewer/duration".into(),
            query: &[("userId", "viewer-001"), ("stageArn", ARN)],
            request: None,
            response: "viewer-duration.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let d: WatchDuration = c.viewers().duration("viewer-001", ARN).await?;
                assert_eq!(d.watch_duration_formatted, "30分 50秒");
                Ok::<_, Error>(d)
            }),
        },
        Case {
            name: "stats",
            method: "GET",
            path: "/api/stats".into(),
            query: &[],
            request: None,
            response: "stats.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let s: Stats = c.stats().overall().await?;
                assert_eq!(s.total_viewers, 55);
                assert!(s.is_publisher_live);
                assert_eq!(s.stages[0].tags, None);
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats viewers",
            method: "GET",
            path: "/api/stats/viewers".into(),
            query: &[],
            request: None,
            response: "stats-viewers.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let s: ViewerStats = c.stats().viewers().await?;
                assert_eq!(s.calculated_from, "real-time sum");
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats stages",
            method: "GET",
            path: "/api/stats/stages".into(),
            query: &[],
            request: None,
            response: "stats-stages.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let s: StageStatsList = c.stats().stages().await?;
                assert_eq!(s.stages[0].tags, Some(Tags::new()));
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats stage",
            method: "GET",
            path: format!("/api/stats/stages/{ARN_ENCODED}"),
            query: &[],
            request: None,
            response: "stats-stage.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let s: StageStatsDetail = c.stats().stage(ARN).await?;
                assert_eq!(s.info.name, "master-stage");
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats publisher",
            method: "GET",
            path: "/api/stats/publisher".into(),
            query: &[],
            request: None,
            response: "stats-publisher.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            call: call!(|c| async move {
                let s: PublisherStatus = c.stats().publisher().await?;
                assert!(s.is_live);
                Ok::<_, Error>(s)
            }),
        },
    ]
}

#[tokio::test]
async fn every_endpoint_matches_the_spec_examples() {
    let cases = cases();
    // The spec's endpoint index lists 18 HTTP endpoints.
    assert_eq!(cases.len(), 18);
    for case in cases {
        let server = MockServer::start().await;
        let response = fixture(case.response);
        let mut mock = Mock::given(method(case.method)).and(path(case.path.as_str()));
        if case.authenticated {
            mock = mock.and(header("x-api-key", KEY));
        } else {
            mock = mock.and(|req: &Request| !req.headers.contains_key("x-api-key"));
        }
        for (name, value) in case.query {
            mock = mock.and(query_param(*name, *value));
        }
        if let Some(request) = case.request {
            mock = mock
                .and(body_json(fixture(request)))
                .and(header("content-type", "application/json"));
        }
        mock.respond_with(ResponseTemplate::new(200).set_body_json(&response))
            .expect(1)
            .named(case.name)
            .mount(&server)
            .await;

        let client = client(&server.uri(), RetryPolicy::none());
        let typed = (case.call)(client)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        let expected = match case.shape {
            Shape::Envelope => {
                assert_eq!(response["success"], Value::Bool(true), "{}", case.name);
                response["data"].clone()
            }
            Shape::Bare => response.clone(),
        };
        assert_eq!(
            typed, expected,
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
    c.stages().list(None, None).await.expect("list");
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

struct ErrorCase {
    status: u16,
    code: &'static str,
    expected: ErrorCode,
    retry_after: Option<u64>,
    method: &'static str,
    path: String,
    call: fn(Client) -> CallFuture,
}

#[tokio::test]
async fn documented_errors_map_to_code_and_status() {
    let cases = vec![
        ErrorCase {
            status: 400,
            code: "VALIDATION_ERROR",
            expected: ErrorCode::ValidationError,
            retry_after: None,
            method: "POST",
            path: "/api/token/viewer".into(),
            call: call!(|c| c.tokens().viewer(&TokenRequest::new(""))),
        },
        ErrorCase {
            status: 401,
            code: "UNAUTHORIZED",
            expected: ErrorCode::Unauthorized,
            retry_after: None,
            method: "GET",
            path: "/api/stats".into(),
            call: call!(|c| c.stats().overall()),
        },
        ErrorCase {
            status: 403,
            code: "FORBIDDEN",
            expected: ErrorCode::Forbidden,
            retry_after: None,
            method: "DELETE",
            path: format!("/api/stage/{ARN_ENCODED}"),
            call: call!(|c| c.stages().delete(ARN)),
        },
        ErrorCase {
            status: 404,
            code: "NOT_FOUND",
            expected: ErrorCode::NotFound,
            retry_after: None,
            method: "GET",
            path: format!("/api/stage/{ARN_ENCODED}"),
            call: call!(|c| c.stages().get(ARN)),
        },
        ErrorCase {
            status: 429,
            code: "TOO_MANY_REQUESTS",
            expected: ErrorCode::TooManyRequests,
            retry_after: Some(7),
            method: "GET",
            path: "/api/stats/viewers".into(),
            call: call!(|c| c.stats().viewers()),
        },
        ErrorCase {
            status: 503,
            code: "STAGE_FULL",
            expected: ErrorCode::StageFull,
            retry_after: None,
            method: "POST",
            path: "/api/token/viewer".into(),
            call: call!(|c| c.tokens().viewer(&TokenRequest::new("viewer-001"))),
        },
        ErrorCase {
            status: 503,
            code: "STAGE_LIMIT_REACHED",
            expected: ErrorCode::StageLimitReached,
            retry_after: None,
            method: "POST",
            path: "/api/stage".into(),
            call: call!(|c| c.stages().create(&CreateStageRequest {
                name: "x".into(),
                tags: None
            })),
        },
        ErrorCase {
            status: 500,
            code: "TOKEN_GENERATION_FAILED",
            expected: ErrorCode::TokenGenerationFailed,
            retry_after: None,
            method: "POST",
            path: "/api/token/publisher".into(),
            call: call!(|c| c.tokens().publisher(&TokenRequest::new("b"))),
        },
        ErrorCase {
            status: 500,
            code: "INTERNAL_ERROR",
            expected: ErrorCode::InternalError,
            retry_after: None,
            method: "GET",
            path: "/api/stats/publisher".into(),
            call: call!(|c| c.stats().publisher()),
        },
        ErrorCase {
            status: 503,
            code: "SERVICE_UNAVAILABLE",
            expected: ErrorCode::ServiceUnavailable,
            retry_after: Some(2),
            method: "POST",
            path: "/api/viewer/heartbeat".into(),
            call: call!(|c| c.viewers().heartbeat("viewer-001", ARN)),
        },
        ErrorCase {
            status: 409,
            code: "SOMETHING_NEW",
            expected: ErrorCode::Other("SOMETHING_NEW".into()),
            retry_after: None,
            method: "PUT",
            path: format!("/api/stage/{ARN_ENCODED}"),
            call: call!(|c| c
                .stages()
                .update(ARN, &UpdateStageRequest { name: "n".into() })),
        },
    ];
    for case in cases {
        let server = MockServer::start().await;
        let mut response = ResponseTemplate::new(case.status).set_body_json(error_body(case.code));
        if let Some(secs) = case.retry_after {
            response = response.insert_header("retry-after", secs.to_string().as_str());
        }
        Mock::given(method(case.method))
            .and(path(case.path.as_str()))
            .and(header("x-api-key", KEY))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server.uri(), RetryPolicy::none());
        let err = (case.call)(c).await.expect_err(case.code);
        match &err {
            Error::Api {
                status,
                code,
                message,
                details,
                retry_after,
            } => {
                assert_eq!(*status, case.status, "{}", case.code);
                assert_eq!(code, &case.expected);
                assert_eq!(message, "缺少必填參數: userId");
                assert_eq!(details, "userId is required");
                assert_eq!(*retry_after, case.retry_after.map(Duration::from_secs));
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
    let req = TokenRequest::new("v");
    is_send(&c.tokens().viewer(&req));
    is_send(&c.stages().list(None, None));
    is_send(&c.viewers().heartbeat("v", ARN));
    is_send(&c.stats().overall());
    is_send(&c.health());
    is_send(&c.join("v"));
    is_send(&c.stats_stream());
    fn handle_is_send<T: Send + 'static>() {}
    handle_is_send::<ivs_client::HeartbeatHandle>();
    handle_is_send::<ivs_client::ViewerSession>();
}
