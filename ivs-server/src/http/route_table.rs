//! The API's operations as data: one row per method and path, saying what
//! the OpenAPI document says about it (operation id, summary, key, request
//! body type, success type, the error statuses it documents, parameters,
//! links). [`super::openapi`] builds the document from this table and the
//! `ivs-api` types; `tests/openapi.rs` provokes every status each row lists
//! against the real filters, so a row the routes do not serve fails there.
//!
//! The filters stay warp closures in `http/mod.rs`: warp has no notion of
//! a route as a value to attach documentation to.

use ivs_api::{
    CreateStageRequest, CreatedStage, DeletedStage, Health, Heartbeat, MasterStageInfo,
    PublisherStatus, PublisherToken, StageInfo, StageList, StageStatsDetail, StageStatsList, Stats,
    TokenRequest, UpdateStageRequest, UpdatedStage, ViewerList, ViewerRef, ViewerStats,
    ViewerToken, WatchDuration, WsTicket,
};

use super::openapi::{named, SchemaRef, Schemas};
use Failure::*;

/// One spec example, compiled in from `ivs-test-support/fixtures/spec/` (the spec's
/// `examples/`), so the document's examples are the spec's files.
macro_rules! spec {
    ($name:literal) => {
        Some(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../ivs-test-support/fixtures/spec/",
            $name
        )))
    };
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No key (`/health`, `/openapi.json`).
    Public,
    /// An `x-api-key`, counted against its rate limit: successes carry the
    /// `RateLimit-*` headers.
    Key,
    /// An `x-api-key`, not counted (`/metrics`; none with `IVS_METRICS_PUBLIC`).
    KeyUncounted,
    /// The key in the header, a ticket or the `apiKey` query parameter (`/ws`).
    KeyOrQuery,
}

/// Builds a schema (registering the components it names) and returns it.
pub type SchemaFn = fn(&mut Schemas) -> SchemaRef;

/// A request body: its schema and the spec's example.
#[derive(Debug, Clone, Copy)]
pub struct Body {
    /// The body's schema.
    pub schema: SchemaFn,
    /// The spec's example (JSON text).
    pub example: Option<&'static str>,
}

/// What a successful call answers.
#[derive(Debug, Clone, Copy)]
pub enum Success {
    /// 200, `{"success": true, "data": T}`: the schema of `T`.
    Envelope(SchemaFn, Option<&'static str>),
    /// 200 with this JSON body, not in an envelope.
    Plain(SchemaFn, Option<&'static str>),
    /// 200, this document.
    Document,
    /// 200, Prometheus text.
    Metrics,
    /// 101, a WebSocket.
    Upgrade,
}

/// A documented error answer: a reusable response of the document
/// (`components/responses`), see [`super::openapi`] for each one's body,
/// headers and examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// 400 `VALIDATION_ERROR`.
    BadRequest,
    /// 400 on `/ws`: not an upgrade, or a malformed header.
    NotAnUpgrade,
    /// 401 `UNAUTHORIZED`.
    Unauthorized,
    /// 403 `FORBIDDEN`.
    Forbidden,
    /// 404 `NOT_FOUND`.
    NotFound,
    /// 408: the body did not arrive in time.
    RequestTimeout,
    /// 409: IVS's `ConflictException`.
    Conflict,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 429 `TOO_MANY_REQUESTS`.
    TooManyRequests,
    /// 429 on `/ws`: the rate limit, or too many connections for the key.
    TooManyConnections,
    /// 500 `INTERNAL_ERROR`.
    InternalError,
    /// 500 `TOKEN_GENERATION_FAILED` or `INTERNAL_ERROR`.
    TokenServerError,
    /// 503 from `/health`: a dependency does not answer.
    Degraded,
    /// 503 `SERVICE_UNAVAILABLE`.
    ServiceUnavailable,
    /// 503 from the viewer token: `STAGE_FULL`, `STAGE_LIMIT_REACHED` or `SERVICE_UNAVAILABLE`.
    ViewerTokenUnavailable,
    /// 503 from stage creation: `STAGE_LIMIT_REACHED` or `SERVICE_UNAVAILABLE`.
    CreateStageUnavailable,
}

/// A parameter of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `{stageArn}` in the path.
    StageArnPath,
    /// `maxResults` in the query (list pages).
    MaxResults,
    /// `nextToken` in the query (list pages).
    NextToken,
    /// `userId` in the query.
    UserIdQuery,
    /// `stageArn` in the query.
    StageArnQuery,
    /// `apiKey` in the query (`/ws`).
    ApiKeyQuery,
    /// `ticket` in the query (`/ws`).
    TicketQuery,
}

/// An OpenAPI link: a value of this response that feeds another operation.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The link's name.
    pub name: &'static str,
    /// The operation it leads to.
    pub operation_id: &'static str,
    /// Its parameters: (name, runtime expression).
    pub parameters: &'static [(&'static str, &'static str)],
    /// Its request body's fields: (name, runtime expression).
    pub body: &'static [(&'static str, &'static str)],
}

/// The documentation groups (OpenAPI tags), in the document's order.
pub const TAGS: [&str; 5] = ["health", "tokens", "stages", "viewers", "stats"];

/// One operation of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path template, `{name}` for path parameters.
    pub path: &'static str,
    /// Its OpenAPI `operationId`.
    pub operation_id: &'static str,
    /// One line.
    pub summary: &'static str,
    /// More, when one line is not enough.
    pub description: Option<&'static str>,
    /// Its group, one of [`TAGS`].
    pub tag: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// Its parameters.
    pub params: &'static [Param],
    /// Its request body, if it takes one.
    pub body: Option<Body>,
    /// What it answers on success.
    pub success: Success,
    /// The errors it documents (each provoked by `tests/openapi.rs`).
    pub failures: &'static [Failure],
    /// Links from its success response.
    pub links: &'static [Link],
}

fn token_request(s: &mut Schemas) -> SchemaRef {
    named::<TokenRequest>(s)
}

/// The errors of every operation behind a counted key that reads no body and
/// names no stage.
const READ: &[Failure] = &[
    BadRequest,
    Unauthorized,
    TooManyRequests,
    InternalError,
    ServiceUnavailable,
];
/// The same, for an operation on one stage (404 when it is not managed).
const READ_STAGE: &[Failure] = &[
    BadRequest,
    Unauthorized,
    NotFound,
    TooManyRequests,
    InternalError,
    ServiceUnavailable,
];
/// An operation with a body on one viewer or stage.
const WRITE_STAGE: &[Failure] = &[
    BadRequest,
    Unauthorized,
    NotFound,
    RequestTimeout,
    PayloadTooLarge,
    TooManyRequests,
    InternalError,
    ServiceUnavailable,
];

/// The links from a response naming a stage at `$response.body#/data/...`.
macro_rules! stage_links {
    ($at:literal; $($name:literal => $op:literal),*) => {
        &[$(Link {
            name: $name,
            operation_id: $op,
            parameters: &[("stageArn", concat!("$response.body#/data/", $at))],
            body: &[],
        }),*]
    };
}

/// The viewer operations a viewer token leads to.
const VIEWER_LINKS: &[Link] = &[
    Link {
        name: "Heartbeat",
        operation_id: "viewerHeartbeat",
        parameters: &[],
        body: &[
            ("userId", "$request.body#/userId"),
            ("stageArn", "$response.body#/data/stageArn"),
        ],
    },
    Link {
        name: "Leave",
        operation_id: "viewerLeave",
        parameters: &[],
        body: &[
            ("userId", "$request.body#/userId"),
            ("stageArn", "$response.body#/data/stageArn"),
        ],
    },
    Link {
        name: "Duration",
        operation_id: "viewerDuration",
        parameters: &[
            ("userId", "$request.body#/userId"),
            ("stageArn", "$response.body#/data/stageArn"),
        ],
        body: &[],
    },
    Link {
        name: "ListStageViewers",
        operation_id: "listViewers",
        parameters: &[("stageArn", "$response.body#/data/stageArn")],
        body: &[],
    },
    Link {
        name: "GetStage",
        operation_id: "getStage",
        parameters: &[("stageArn", "$response.body#/data/stageArn")],
        body: &[],
    },
];

/// What most rows share: a `GET` behind a counted key with the errors of
/// [`READ`], no parameters, body, description or links.
const API: Route = Route {
    method: Method::Get,
    path: "",
    operation_id: "",
    summary: "",
    description: None,
    tag: "",
    auth: Auth::Key,
    params: &[],
    body: None,
    success: Success::Document,
    failures: READ,
    links: &[],
};

/// Every operation, in the document's order.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/health",
        operation_id: "getHealth",
        summary: "Service health",
        description: Some(
            "No API key. `services.redis` is `embedded`, `connected` or `disconnected`; \
             `services.ivs` is `local`, `ready` or `unreachable`.",
        ),
        tag: "health",
        auth: Auth::Public,
        success: Success::Plain(named::<Health>, spec!("health.response.json")),
        failures: &[Degraded],
        ..API
    },
    Route {
        path: "/openapi.json",
        operation_id: "getOpenApi",
        summary: "This OpenAPI document",
        description: Some("No API key."),
        tag: "health",
        auth: Auth::Public,
        success: Success::Document,
        failures: &[],
        ..API
    },
    Route {
        method: Method::Post,
        path: "/api/token/publisher",
        operation_id: "createPublisherToken",
        summary: "Create a publisher (broadcaster) token",
        description: Some(
            "A 4-hour token with `[\"PUBLISH\"]` for the master stage, or for the managed stage \
             named by `stageArn` (404 when it is not a stage this server manages). IVS's \
             `userId` is `\"broadcaster-\" + userId`, so a publisher's `userId` has at most 116 \
             bytes. Publishing makes the stage live.",
        ),
        tag: "tokens",
        body: Some(Body {
            schema: token_request,
            example: spec!("token-publisher.request.json"),
        }),
        success: Success::Envelope(
            named::<PublisherToken>,
            spec!("token-publisher.response.json"),
        ),
        failures: &[
            BadRequest,
            Unauthorized,
            NotFound,
            RequestTimeout,
            PayloadTooLarge,
            TooManyRequests,
            TokenServerError,
            ServiceUnavailable,
        ],
        ..API
    },
    Route {
        method: Method::Post,
        path: "/api/token/viewer",
        operation_id: "createViewerToken",
        summary: "Create a viewer token",
        description: Some(
            "Counts the viewer on the least-loaded stage with room (creating a stage when every \
             stage reaches 45 viewers) and returns a 1-hour token with `[\"SUBSCRIBE\"]`. The \
             same `userId` asking again while counted stays on its stage and is counted once. \
             IVS's `userId` is `\"viewer-\" + userId`. Viewers are assigned a stage by the \
             server: a body with `stageArn` is refused (400).",
        ),
        tag: "tokens",
        body: Some(Body {
            schema: token_request,
            example: spec!("token-viewer.request.json"),
        }),
        success: Success::Envelope(named::<ViewerToken>, spec!("token-viewer.response.json")),
        failures: &[
            BadRequest,
            Unauthorized,
            RequestTimeout,
            PayloadTooLarge,
            TooManyRequests,
            TokenServerError,
            ViewerTokenUnavailable,
        ],
        links: VIEWER_LINKS,
        ..API
    },
    Route {
        path: "/api/stage/list",
        operation_id: "listStages",
        summary: "List the managed stages",
        description: Some(
            "The stages this server manages (the master, auto-scaled and created ones), oldest \
             first, paginated.",
        ),
        tag: "stages",
        params: &[Param::MaxResults, Param::NextToken],
        success: Success::Envelope(named::<StageList>, spec!("stage-list.response.json")),
        ..API
    },
    Route {
        path: "/api/stage/master/info",
        operation_id: "getMasterStage",
        summary: "The master stage",
        tag: "stages",
        success: Success::Envelope(
            named::<MasterStageInfo>,
            spec!("stage-master-info.response.json"),
        ),
        ..API
    },
    Route {
        method: Method::Post,
        path: "/api/stage",
        operation_id: "createStage",
        summary: "Create a stage",
        description: Some(
            "A managed stage that counts toward the stage limit (20 by default, the master \
             included) but gets no automatically assigned viewers. The server adds the tags \
             `Environment` and `ManagedBy: api-server`.",
        ),
        tag: "stages",
        body: Some(Body {
            schema: named::<CreateStageRequest>,
            example: spec!("stage-create.request.json"),
        }),
        success: Success::Envelope(named::<CreatedStage>, spec!("stage-create.response.json")),
        failures: &[
            BadRequest,
            Unauthorized,
            RequestTimeout,
            PayloadTooLarge,
            TooManyRequests,
            InternalError,
            CreateStageUnavailable,
        ],
        links: stage_links!["stage/arn";
            "GetStage" => "getStage",
            "UpdateStage" => "updateStage",
            "DeleteStage" => "deleteStage",
            "GetStageStats" => "getStageStats",
            "ListStageViewers" => "listViewers"],
        ..API
    },
    Route {
        path: "/api/stage/{stageArn}",
        operation_id: "getStage",
        summary: "One stage",
        tag: "stages",
        params: &[Param::StageArnPath],
        success: Success::Envelope(named::<StageInfo>, spec!("stage-get.response.json")),
        failures: READ_STAGE,
        ..API
    },
    Route {
        method: Method::Put,
        path: "/api/stage/{stageArn}",
        operation_id: "updateStage",
        summary: "Rename a stage",
        tag: "stages",
        params: &[Param::StageArnPath],
        body: Some(Body {
            schema: named::<UpdateStageRequest>,
            example: spec!("stage-update.request.json"),
        }),
        success: Success::Envelope(named::<UpdatedStage>, spec!("stage-update.response.json")),
        failures: &[
            BadRequest,
            Unauthorized,
            NotFound,
            RequestTimeout,
            Conflict,
            PayloadTooLarge,
            TooManyRequests,
            InternalError,
            ServiceUnavailable,
        ],
        ..API
    },
    Route {
        method: Method::Delete,
        path: "/api/stage/{stageArn}",
        operation_id: "deleteStage",
        summary: "Delete a stage",
        description: Some(
            "Refused with 400 while the stage has viewers, and with 403 for the master stage.",
        ),
        tag: "stages",
        params: &[Param::StageArnPath],
        success: Success::Plain(named::<DeletedStage>, spec!("stage-delete.response.json")),
        failures: &[
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            TooManyRequests,
            InternalError,
            ServiceUnavailable,
        ],
        ..API
    },
    Route {
        method: Method::Post,
        path: "/api/viewer/heartbeat",
        operation_id: "viewerHeartbeat",
        summary: "Viewer heartbeat",
        description: Some(
            "Keeps a viewer counted; send one every 30 s (a viewer silent for more than 60 s is \
             removed). Only a viewer counted on that stage is refreshed: anyone else gets 404 \
             and must ask for a new token.",
        ),
        tag: "viewers",
        body: Some(Body {
            schema: named::<ViewerRef>,
            example: spec!("viewer-heartbeat.request.json"),
        }),
        success: Success::Envelope(named::<Heartbeat>, spec!("viewer-heartbeat.response.json")),
        failures: WRITE_STAGE,
        ..API
    },
    Route {
        method: Method::Post,
        path: "/api/viewer/leave",
        operation_id: "viewerLeave",
        summary: "A viewer leaves",
        description: Some(
            "Removes the viewer and answers its watch time. Idempotent: a second leave answers \
             the recorded time; a viewer never counted there gets 404.",
        ),
        tag: "viewers",
        body: Some(Body {
            schema: named::<ViewerRef>,
            example: spec!("viewer-leave.request.json"),
        }),
        success: Success::Envelope(named::<WatchDuration>, spec!("viewer-leave.response.json")),
        failures: WRITE_STAGE,
        ..API
    },
    Route {
        path: "/api/viewer/list/{stageArn}",
        operation_id: "listViewers",
        summary: "The viewers of a stage",
        tag: "viewers",
        params: &[Param::StageArnPath],
        success: Success::Envelope(named::<ViewerList>, spec!("viewer-list.response.json")),
        failures: READ_STAGE,
        ..API
    },
    Route {
        path: "/api/viewer/duration",
        operation_id: "viewerDuration",
        summary: "A viewer's watch time",
        description: Some(
            "So far for a counted viewer; as recorded (kept 24 h) for one that left or expired.",
        ),
        tag: "viewers",
        params: &[Param::UserIdQuery, Param::StageArnQuery],
        success: Success::Envelope(
            named::<WatchDuration>,
            spec!("viewer-duration.response.json"),
        ),
        failures: READ_STAGE,
        ..API
    },
    Route {
        path: "/api/stats",
        operation_id: "getStats",
        summary: "Overall statistics",
        description: Some("`totalViewers` is summed over every stage at the time of the request."),
        tag: "stats",
        success: Success::Envelope(named::<Stats>, spec!("stats.response.json")),
        ..API
    },
    Route {
        path: "/api/stats/viewers",
        operation_id: "getViewerStats",
        summary: "Viewer statistics",
        tag: "stats",
        success: Success::Envelope(named::<ViewerStats>, spec!("stats-viewers.response.json")),
        ..API
    },
    Route {
        path: "/api/stats/stages",
        operation_id: "getStagesStats",
        summary: "Stage statistics (with tags)",
        tag: "stats",
        success: Success::Envelope(named::<StageStatsList>, spec!("stats-stages.response.json")),
        ..API
    },
    Route {
        path: "/api/stats/stages/{stageArn}",
        operation_id: "getStageStats",
        summary: "One stage's statistics",
        tag: "stats",
        params: &[Param::StageArnPath],
        success: Success::Envelope(
            named::<StageStatsDetail>,
            spec!("stats-stage.response.json"),
        ),
        failures: READ_STAGE,
        ..API
    },
    Route {
        path: "/api/stats/publisher",
        operation_id: "getPublisherStatus",
        summary: "Publisher status",
        tag: "stats",
        success: Success::Envelope(
            named::<PublisherStatus>,
            spec!("stats-publisher.response.json"),
        ),
        ..API
    },
    Route {
        path: "/metrics",
        operation_id: "getMetrics",
        summary: "Prometheus metrics",
        description: Some(
            "Request, error and viewer/stage gauges in Prometheus' text format. Needs an API key \
             (not counted against its rate limit) unless the server runs with \
             `IVS_METRICS_PUBLIC`.",
        ),
        tag: "health",
        auth: Auth::KeyUncounted,
        success: Success::Metrics,
        failures: &[BadRequest, Unauthorized, InternalError, ServiceUnavailable],
        ..API
    },
    Route {
        method: Method::Post,
        path: "/api/ws-ticket",
        operation_id: "createWsTicket",
        summary: "A single-use ticket for /ws",
        description: Some(
            "A credential for one `/ws` connection, for clients that must not put the API key \
             in a URL (browsers cannot set headers on a WebSocket): open `/ws?ticket=…` within \
             `expiresIn` seconds. A ticket works once, on any instance configured with the same \
             key; the request takes no body.",
        ),
        tag: "stats",
        success: Success::Envelope(named::<WsTicket>, None),
        ..API
    },
    Route {
        path: "/ws",
        operation_id: "statsStream",
        summary: "Live statistics (WebSocket)",
        description: Some(WS_DESCRIPTION),
        tag: "stats",
        auth: Auth::KeyOrQuery,
        params: &[Param::TicketQuery, Param::ApiKeyQuery],
        success: Success::Upgrade,
        failures: &[
            NotAnUpgrade,
            Unauthorized,
            TooManyConnections,
            InternalError,
            ServiceUnavailable,
        ],
        ..API
    },
];

const WS_DESCRIPTION: &str = "The live statistics stream and the fleet's events, a WebSocket. \
Authenticate with a ticket from `POST /api/ws-ticket` in the `ticket` query parameter, or the API \
key in the `x-api-key` header; the `apiKey` query parameter still works for existing clients but \
is discouraged (URLs end up in logs and browser history). The upgrade counts as one request \
against the rate limit.\n\n\
Messages are JSON text (see the `ClientMessage` and `ServerMessage` schemas). After \
`{\"type\":\"subscribe\",\"channel\":\"stats\"}` the server sends \
`{\"type\":\"stats_update\",\"data\":{\"viewerCount\",\"activeStages\",\"timestamp\"}}` at once and \
then every 5 s; `{\"type\":\"unsubscribe\",\"channel\":\"stats\"}` stops them; \
`{\"type\":\"subscribe\",\"channel\":\"events\"}` starts \
`{\"type\":\"event\",\"data\":<Event>}` messages, one per fleet event from then on (a \
subscriber more than 1,024 events behind is told so and closed with 1013); \
`{\"type\":\"ping\"}` gets `{\"type\":\"pong\"}`. Anything else gets \
`{\"type\":\"error\",\"error\":\"VALIDATION_ERROR\",\"message\":...}` and the connection stays \
open. Client messages are limited to 4 KB and to a burst of 20, then 5 per second (beyond that \
the server closes with 1008); the number of open connections per API key is limited (429). A \
subscriber that does not accept a frame within 5 s is dropped.";

/// The spec's `/ws` examples, shown in the operation's description.
pub const WS_EXAMPLES: [(&str, Option<&str>); 2] = [
    ("Subscribe message", spec!("ws-subscribe.message.json")),
    ("Update message", spec!("ws-stats-update.message.json")),
];
