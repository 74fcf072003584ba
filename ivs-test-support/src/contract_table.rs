//! The contract table: every HTTP endpoint of the spec, and every documented
//! error, as one list of cases that any target runs.
//!
//! Two targets use it:
//! * `ivs-client/tests/it/contract.rs`: a wiremock server per case that expects
//!   exactly the request of the table and answers the spec's example;
//! * `tests/it/client_contract.rs` (workspace root): the real `ivs-server`, reached
//!   through a recording wiremock proxy that expects the same request, so the
//!   raw JSON the client received can be compared with the spec's example.
//!
//! A case never names a stage itself: paths, queries, bodies and calls take
//! the stage ARNs from a [`Ctx`], so each target supplies its own. The order of
//! [`cases`] is one a real server can run in: the publisher token first (the
//! master goes live and gets an `activeSessionId`), the viewer token before
//! heartbeat / list / duration / leave, and the stage create before the
//! update and delete of *that* stage (a server refuses to delete the master).

use std::future::Future;
use std::pin::Pin;

use ivs_client::model::*;
use ivs_client::{Client, Error};
use serde_json::Value;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, Request};

/// The stage ARN the spec's examples use.
pub const SPEC_ARN: &str = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8";
/// A key no server accepts.
pub const WRONG_KEY: &str = "not-the-api-key";

/// The spec's JSON examples, which the cases name.
pub use crate::shape::fixture;

/// Percent-encodes a path segment the way the spec shows ARNs in paths:
/// everything but RFC 3986's unreserved characters.
pub fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ------------------------------------------------------------------ context

/// What a target supplies to the table.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The target answers the spec's examples verbatim (wiremock), so calls
    /// may also check the example's values, not only their types.
    pub example: bool,
    /// The stage every stage-scoped call uses (a real server's master stage).
    pub stage: String,
    /// The stage `stage update` and `stage delete` act on: the one `stage
    /// create` made (see [`Ctx::learn`]).
    pub created: String,
    /// A well-formed ARN of no stage.
    pub unknown: String,
    /// The `nextToken` of `stage list` (`None`: not sent).
    pub next_token: Option<String>,
}

impl Ctx {
    /// The spec's examples: every ARN is the example's.
    pub fn example() -> Ctx {
        Ctx {
            example: true,
            stage: SPEC_ARN.into(),
            created: SPEC_ARN.into(),
            unknown: SPEC_ARN.into(),
            next_token: Some("page-2".into()),
        }
    }

    /// A real server whose master stage is `master`. `created` is filled in
    /// when `stage create` has run.
    pub fn live(master: impl Into<String>) -> Ctx {
        Ctx {
            example: false,
            stage: master.into(),
            created: String::new(),
            unknown: "arn:aws:ivs:ap-northeast-1:123456789012:stage/unknownStage1".into(),
            next_token: None,
        }
    }

    /// Takes what later cases need from a case's typed result.
    pub fn learn(&mut self, case: &Case, typed: &Value) {
        if case.creates_stage && !self.example {
            self.created = typed["stage"]["arn"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no stage.arn in {typed}", case.name))
                .to_owned();
        }
    }

    fn arn(&self, placeholder: &str) -> &str {
        match placeholder {
            "{stage}" => &self.stage,
            "{created}" => &self.created,
            "{unknown}" => &self.unknown,
            other => panic!("unknown placeholder {other}"),
        }
    }

    /// A path template with its `{stage}` / `{created}` / `{unknown}` as
    /// percent-encoded ARNs.
    pub fn path(&self, template: &str) -> String {
        let mut out = template.to_owned();
        for p in ["{stage}", "{created}", "{unknown}"] {
            if out.contains(p) {
                out = out.replace(p, &encode_segment(self.arn(p)));
            }
        }
        out
    }

    /// A query value template: an ARN placeholder is the (unencoded) ARN,
    /// `{next_token}` the context's token (`None`: the parameter is absent).
    pub fn query_value(&self, template: &str) -> Option<String> {
        match template {
            "{next_token}" => self.next_token.clone(),
            "{stage}" | "{created}" | "{unknown}" => Some(self.arn(template).to_owned()),
            plain => Some(plain.to_owned()),
        }
    }

    /// The spec's request example, its example ARN standing for `stage`.
    pub fn request_body(&self, example: &str) -> Value {
        fn swap(v: &mut Value, stage: &str) {
            match v {
                Value::String(s) if s == SPEC_ARN => *s = stage.to_owned(),
                Value::Array(items) => items.iter_mut().for_each(|i| swap(i, stage)),
                Value::Object(map) => map.values_mut().for_each(|i| swap(i, stage)),
                _ => {}
            }
        }
        let mut body = fixture(example);
        swap(&mut body, &self.stage);
        body
    }
}

// ------------------------------------------------------------------ cases

/// A call through the client, its typed result turned back into JSON.
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send + 'a>>;
/// A table entry's call.
pub type CallFn = for<'a> fn(&'a Client, &'a Ctx) -> CallFuture<'a>;

/// Where the example's payload sits in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `{"success": true, "data": ...}`: the typed result is `data`.
    Envelope,
    /// The typed result is the whole body (`/health`, `DELETE` stage).
    Bare,
}

impl Shape {
    /// The part of a response body the typed result stands for.
    pub fn payload(self, body: &Value) -> Value {
        match self {
            Shape::Envelope => {
                assert_eq!(body["success"], Value::Bool(true), "not a success: {body}");
                body["data"].clone()
            }
            Shape::Bare => body.clone(),
        }
    }
}

/// One endpoint.
pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    /// Path template (see [`Ctx::path`]).
    pub path: &'static str,
    /// Query parameters; values are templates (see [`Ctx::query_value`]).
    pub query: &'static [(&'static str, &'static str)],
    /// The spec's request example (see [`Ctx::request_body`]).
    pub request: Option<&'static str>,
    /// The spec's response example.
    pub response: &'static str,
    pub shape: Shape,
    pub authenticated: bool,
    /// Paths of the response example that may also be `null` (for
    /// [`crate::shape::assert_shape`]).
    pub nullable: &'static [&'static str],
    /// The call makes the stage later cases use as `created`.
    pub creates_stage: bool,
    pub call: CallFn,
}

impl Case {
    /// Runs the call and lets the context learn from its result.
    pub async fn run(&self, client: &Client, ctx: &mut Ctx) -> Result<Value, Error> {
        let typed = (self.call)(client, ctx).await?;
        ctx.learn(self, &typed);
        Ok(typed)
    }
}

/// A mock that matches exactly the request the table expects for `case`:
/// method, path (encoded ARN), query, `x-api-key` (none on `/health`) and the
/// JSON body. Each target adds its own answer.
pub fn expect_request(case: &Case, ctx: &Ctx, key: &str) -> MockBuilder {
    let mut mock = Mock::given(method(case.method)).and(path(ctx.path(case.path).as_str()));
    if case.authenticated {
        mock = mock.and(header("x-api-key", key));
    } else {
        mock = mock.and(|req: &Request| !req.headers.contains_key("x-api-key"));
    }
    for (name, value) in case.query {
        mock = match ctx.query_value(value) {
            Some(v) => mock.and(query_param(*name, v.as_str())),
            None => mock.and(query_param_is_missing(*name)),
        };
    }
    if let Some(request) = case.request {
        mock = mock
            .and(body_json(ctx.request_body(request)))
            .and(header("content-type", "application/json"));
    }
    mock
}

/// Runs a call and turns its typed result back into JSON, so that the
/// comparison with the example covers every field and its type.
macro_rules! call {
    (|$c:ident, $x:tt| $body:expr) => {{
        fn f<'a>($c: &'a Client, $x: &'a Ctx) -> CallFuture<'a> {
            Box::pin(async move {
                let typed = $body.await?;
                Ok(serde_json::to_value(&typed).expect("serialise"))
            })
        }
        f as CallFn
    }};
}

/// A context's ARN, typed: a malformed one fails the call with
/// `Error::InvalidArgument`, before anything is sent.
fn arn(text: &str) -> Result<StageArn, Error> {
    Ok(text.parse()?)
}

/// The user id of the spec's viewer examples.
fn viewer_001() -> UserId {
    UserId::new("viewer-001").expect("a valid user id")
}

fn strings(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The spec's 18 HTTP endpoints, in an order a real server can run.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "health",
            method: "GET",
            path: "/health",
            query: &[],
            request: None,
            response: "health.response.json",
            shape: Shape::Bare,
            authenticated: false,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let h: Health = c.health().await?;
                if x.example {
                    assert_eq!(h.uptime, 3600);
                    assert_eq!(h.services.redis, "connected");
                }
                Ok::<_, Error>(h)
            }),
        },
        Case {
            name: "token publisher",
            method: "POST",
            path: "/api/token/publisher",
            query: &[],
            request: Some("token-publisher.request.json"),
            response: "token-publisher.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let req: TokenRequest =
                    serde_json::from_value(fixture("token-publisher.request.json")).unwrap();
                let t: PublisherToken = c.tokens().publisher(&req).await?;
                assert_eq!(t.capabilities, vec![Capability::Publish]);
                assert_eq!(t.user_id, "broadcaster-broadcaster-001");
                assert_eq!(t.stage_arn, x.stage);
                assert_eq!(t.attributes, req.attributes.clone().unwrap_or_default());
                if x.example {
                    assert_eq!(t.expires_at.to_string(), "2025-10-19T16:00:00.000Z");
                }
                Ok::<_, Error>(t)
            }),
        },
        Case {
            name: "token viewer",
            method: "POST",
            path: "/api/token/viewer",
            query: &[],
            request: Some("token-viewer.request.json"),
            response: "token-viewer.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let req = TokenRequest::new("viewer-001".parse().unwrap())
                    .with_attributes(strings(&[("displayName", "觀眾小華"), ("level", "VIP")]));
                let t: ViewerToken = c.tokens().viewer(&req).await?;
                assert_eq!(t.capabilities, vec![Capability::Subscribe]);
                assert_eq!(t.user_id, "viewer-viewer-001");
                // A single viewer lands on the master stage.
                assert_eq!(t.stage_arn, x.stage);
                if x.example {
                    assert_eq!(t.viewer_count, 42);
                    assert_eq!(t.participant_id, "obT9s4Qwhy5u");
                } else {
                    assert_eq!(t.viewer_count, 1);
                }
                Ok::<_, Error>(t)
            }),
        },
        Case {
            name: "stage create",
            method: "POST",
            path: "/api/stage",
            query: &[],
            request: Some("stage-create.request.json"),
            response: "stage-create.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: true,
            call: call!(|c, _| async move {
                let req = CreateStageRequest::new("my-custom-stage").with_tags(strings(&[
                    ("Purpose", "special-event"),
                    ("Owner", "marketing-team"),
                ]));
                let s: CreatedStage = c.stages().create(&req).await?;
                assert_eq!(s.stage.name, "my-custom-stage");
                assert_eq!(
                    s.stage.tags.get("ManagedBy").map(String::as_str),
                    Some("api-server")
                );
                assert_eq!(
                    s.stage.tags.get("Purpose").map(String::as_str),
                    Some("special-event")
                );
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stage list",
            method: "GET",
            path: "/api/stage/list",
            query: &[("maxResults", "10"), ("nextToken", "{next_token}")],
            request: None,
            response: "stage-list.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &["data.nextToken"],
            creates_stage: false,
            call: call!(|c, x| async move {
                let mut list = c.stages().list().max_results(10);
                if let Some(token) = &x.next_token {
                    list = list.next_token(token.clone());
                }
                let l: StageList = list.send().await?;
                assert_eq!(l.stages.len(), 2);
                assert_eq!(l.next_token, None);
                if x.example {
                    assert!(l.stages[1].auto_scaled);
                } else {
                    let arns: Vec<&str> = l.stages.iter().map(|s| s.arn.as_str()).collect();
                    assert!(arns.contains(&x.stage.as_str()), "{arns:?}");
                    assert!(arns.contains(&x.created.as_str()), "{arns:?}");
                }
                Ok::<_, Error>(l)
            }),
        },
        Case {
            name: "stage master info",
            method: "GET",
            path: "/api/stage/master/info",
            query: &[],
            request: None,
            response: "stage-master-info.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let m: MasterStageInfo = c.stages().master().await?;
                assert!(m.is_master);
                assert_eq!(m.stage.arn, x.stage);
                if x.example {
                    assert_eq!(m.stage.active_session_id.as_deref(), Some("st-abc123..."));
                } else {
                    // The publisher token made the master live.
                    assert!(m.stage.active_session_id.is_some());
                }
                Ok::<_, Error>(m)
            }),
        },
        Case {
            name: "stage get",
            method: "GET",
            path: "/api/stage/{stage}",
            query: &[],
            request: None,
            response: "stage-get.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let s: StageInfo = c.stages().get(&arn(&x.stage)?).await?;
                assert_eq!(s.stage.arn, x.stage);
                if x.example {
                    assert_eq!(s.viewer_count, 45);
                } else {
                    assert_eq!(s.viewer_count, 1);
                }
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stage update",
            method: "PUT",
            path: "/api/stage/{created}",
            query: &[],
            request: Some("stage-update.request.json"),
            response: "stage-update.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let req = UpdateStageRequest::new("updated-stage-name");
                let s: UpdatedStage = c.stages().update(&arn(&x.created)?, &req).await?;
                assert_eq!(s.stage.arn, x.created);
                assert_eq!(s.stage.name, "updated-stage-name");
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "viewer heartbeat",
            method: "POST",
            path: "/api/viewer/heartbeat",
            query: &[],
            request: Some("viewer-heartbeat.request.json"),
            response: "viewer-heartbeat.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let h: Heartbeat = c
                    .viewers()
                    .heartbeat(&viewer_001(), &arn(&x.stage)?)
                    .await?;
                assert_eq!(h.user_id, "viewer-001");
                assert_eq!(h.stage_arn, x.stage);
                if x.example {
                    assert_eq!(h.last_heartbeat.to_string(), "2025-10-19T12:00:00.000Z");
                }
                Ok::<_, Error>(h)
            }),
        },
        Case {
            name: "viewer list",
            method: "GET",
            path: "/api/viewer/list/{stage}",
            query: &[],
            request: None,
            response: "viewer-list.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let l: ViewerList = c.viewers().list(&arn(&x.stage)?).await?;
                assert_eq!(l.stage_arn, x.stage);
                assert_eq!(l.viewers[0].user_id, "viewer-001");
                if x.example {
                    assert_eq!(l.viewer_count, 2);
                    assert_eq!(l.viewers[1].participant_id, "Ek1rlumBEnKp");
                } else {
                    assert_eq!(l.viewer_count, 1);
                }
                Ok::<_, Error>(l)
            }),
        },
        Case {
            name: "viewer duration",
            method: "GET",
            path: "/api/viewer/duration",
            query: &[("userId", "viewer-001"), ("stageArn", "{stage}")],
            request: None,
            response: "viewer-duration.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let d: WatchDuration = c.viewers().duration(&viewer_001(), &arn(&x.stage)?).await?;
                assert_eq!(d.user_id, "viewer-001");
                assert_eq!(d.stage_arn, x.stage);
                if x.example {
                    assert_eq!(d.watch_duration_formatted, "30分 50秒");
                }
                Ok::<_, Error>(d)
            }),
        },
        Case {
            name: "stats",
            method: "GET",
            path: "/api/stats",
            query: &[],
            request: None,
            response: "stats.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let s: Stats = c.stats().overall().await?;
                assert!(s.is_publisher_live);
                if x.example {
                    assert_eq!(s.total_viewers, 55);
                    assert_eq!(s.stages[0].tags, None);
                } else {
                    assert_eq!(s.total_viewers, 1);
                    assert_eq!(s.total_stages, 2);
                }
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats viewers",
            method: "GET",
            path: "/api/stats/viewers",
            query: &[],
            request: None,
            response: "stats-viewers.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, _| async move {
                let s: ViewerStats = c.stats().viewers().await?;
                assert_eq!(s.calculated_from, "real-time sum");
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats stages",
            method: "GET",
            path: "/api/stats/stages",
            query: &[],
            request: None,
            response: "stats-stages.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let s: StageStatsList = c.stats().stages().await?;
                if x.example {
                    assert_eq!(s.stages[0].tags, Some(Tags::new()));
                } else {
                    assert_eq!(s.total_stages, 2);
                }
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats stage",
            method: "GET",
            path: "/api/stats/stages/{stage}",
            query: &[],
            request: None,
            response: "stats-stage.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let s: StageStatsDetail = c.stats().stage(&arn(&x.stage)?).await?;
                assert_eq!(s.arn, x.stage);
                assert!(!s.auto_scaled);
                if x.example {
                    assert_eq!(s.name, "master-stage");
                }
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "stats publisher",
            method: "GET",
            path: "/api/stats/publisher",
            query: &[],
            request: None,
            response: "stats-publisher.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, _| async move {
                let s: PublisherStatus = c.stats().publisher().await?;
                assert!(s.is_live);
                Ok::<_, Error>(s)
            }),
        },
        Case {
            name: "viewer leave",
            method: "POST",
            path: "/api/viewer/leave",
            query: &[],
            request: Some("viewer-leave.request.json"),
            response: "viewer-leave.response.json",
            shape: Shape::Envelope,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let d: WatchDuration = c.viewers().leave(&viewer_001(), &arn(&x.stage)?).await?;
                assert_eq!(d.user_id, "viewer-001");
                assert_eq!(d.stage_arn, x.stage);
                if x.example {
                    assert_eq!(d.watch_duration, 1850);
                }
                Ok::<_, Error>(d)
            }),
        },
        Case {
            name: "stage delete",
            method: "DELETE",
            path: "/api/stage/{created}",
            query: &[],
            request: None,
            response: "stage-delete.response.json",
            shape: Shape::Bare,
            authenticated: true,
            nullable: &[],
            creates_stage: false,
            call: call!(|c, x| async move {
                let d: DeletedStage = c.stages().delete(&arn(&x.created)?).await?;
                assert!(d.success);
                assert_eq!(d.message, "Stage 已刪除");
                Ok::<_, Error>(d)
            }),
        },
    ]
}

// ------------------------------------------------------------------ errors

/// A documented error: the call, the request it makes, and what the client
/// must make of the error answer.
pub struct ErrorCase {
    pub status: u16,
    pub code: &'static str,
    pub expected: ErrorCode,
    /// The `Retry-After` a mock sends (seconds).
    pub retry_after: Option<u64>,
    pub method: &'static str,
    /// Path template (see [`Ctx::path`]).
    pub path: &'static str,
    /// The client carries [`WRONG_KEY`] instead of the target's key.
    pub wrong_key: bool,
    /// A real server answers this error to this call with a live context
    /// (the others need a failing backend or a full server).
    pub on_real_server: bool,
    pub call: CallFn,
}

impl ErrorCase {
    /// A mock that matches the request this call makes.
    pub fn expect_request(&self, ctx: &Ctx, key: &str) -> MockBuilder {
        Mock::given(method(self.method))
            .and(path(ctx.path(self.path).as_str()))
            .and(header("x-api-key", key))
    }
}

/// The spec's error table.
pub fn error_cases() -> Vec<ErrorCase> {
    vec![
        ErrorCase {
            status: 400,
            code: "VALIDATION_ERROR",
            expected: ErrorCode::ValidationError,
            retry_after: None,
            method: "POST",
            path: "/api/token/viewer",
            wrong_key: false,
            on_real_server: true,
            // Ids are checked client-side; attributes past IVS's 1 KB only by the server.
            call: call!(|c, _| c.tokens().viewer(&oversized_attributes())),
        },
        ErrorCase {
            status: 401,
            code: "UNAUTHORIZED",
            expected: ErrorCode::Unauthorized,
            retry_after: None,
            method: "GET",
            path: "/api/stats",
            wrong_key: true,
            on_real_server: true,
            call: call!(|c, _| c.stats().overall()),
        },
        ErrorCase {
            status: 403,
            code: "FORBIDDEN",
            expected: ErrorCode::Forbidden,
            retry_after: None,
            method: "DELETE",
            path: "/api/stage/{stage}",
            wrong_key: false,
            on_real_server: true,
            call: call!(|c, x| c.stages().delete(&arn(&x.stage)?)),
        },
        ErrorCase {
            status: 404,
            code: "NOT_FOUND",
            expected: ErrorCode::NotFound,
            retry_after: None,
            method: "GET",
            path: "/api/stage/{unknown}",
            wrong_key: false,
            on_real_server: true,
            call: call!(|c, x| c.stages().get(&arn(&x.unknown)?)),
        },
        ErrorCase {
            status: 429,
            code: "TOO_MANY_REQUESTS",
            expected: ErrorCode::TooManyRequests,
            retry_after: Some(7),
            method: "GET",
            path: "/api/stats/viewers",
            wrong_key: false,
            on_real_server: false,
            call: call!(|c, _| c.stats().viewers()),
        },
        ErrorCase {
            status: 503,
            code: "STAGE_FULL",
            expected: ErrorCode::StageFull,
            retry_after: None,
            method: "POST",
            path: "/api/token/viewer",
            wrong_key: false,
            on_real_server: false,
            call: call!(|c, _| c
                .tokens()
                .viewer(&TokenRequest::new("viewer-001".parse().unwrap()))),
        },
        ErrorCase {
            status: 503,
            code: "STAGE_LIMIT_REACHED",
            expected: ErrorCode::StageLimitReached,
            retry_after: None,
            method: "POST",
            path: "/api/stage",
            wrong_key: false,
            on_real_server: false,
            call: call!(|c, _| c.stages().create(&CreateStageRequest::new("x"))),
        },
        ErrorCase {
            status: 500,
            code: "TOKEN_GENERATION_FAILED",
            expected: ErrorCode::TokenGenerationFailed,
            retry_after: None,
            method: "POST",
            path: "/api/token/publisher",
            wrong_key: false,
            on_real_server: false,
            call: call!(|c, _| c
                .tokens()
                .publisher(&TokenRequest::new("b".parse().unwrap()))),
        },
        ErrorCase {
            status: 500,
            code: "INTERNAL_ERROR",
            expected: ErrorCode::InternalError,
            retry_after: None,
            method: "GET",
            path: "/api/stats/publisher",
            wrong_key: false,
            on_real_server: false,
            call: call!(|c, _| c.stats().publisher()),
        },
        ErrorCase {
            status: 503,
            code: "SERVICE_UNAVAILABLE",
            expected: ErrorCode::ServiceUnavailable,
            retry_after: Some(2),
            method: "POST",
            path: "/api/viewer/heartbeat",
            wrong_key: false,
            on_real_server: false,
            call: call!(|c, x| c.viewers().heartbeat(&viewer_001(), &arn(&x.stage)?)),
        },
        ErrorCase {
            status: 409,
            code: "SOMETHING_NEW",
            expected: ErrorCode::Other("SOMETHING_NEW".into()),
            retry_after: None,
            method: "PUT",
            path: "/api/stage/{created}",
            wrong_key: false,
            on_real_server: false,
            call: call!(|c, x| c
                .stages()
                .update(&arn(&x.created)?, &UpdateStageRequest::new("n"))),
        },
    ]
}

/// A viewer token request the server refuses: attributes over IVS's 1 KB.
fn oversized_attributes() -> TokenRequest {
    let mut attributes = ivs_client::model::Attributes::new();
    attributes.insert("note".into(), "x".repeat(1100));
    TokenRequest::new("contract-viewer".parse().unwrap()).with_attributes(attributes)
}
