//! The OpenAPI 3.1 document of the whole API, generated: the paths from the
//! route table ([`super::route_table`]), the schemas from the `ivs-api`
//! types (their `utoipa::ToSchema`, feature `openapi`), with utoipa's
//! builders. Built once when the routes are, and served at
//! `GET /openapi.json` without an API key.
//!
//! `docs/openapi.json` is a snapshot of [`document_json`]: `tests/it/openapi.rs`
//! fails when they differ (`UPDATE_DOCS=1 cargo test --test it openapi::` rewrites
//! it), and checks the document against the running routes.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use ivs_api::{ClientMessage, ErrorBody, ServerMessage, StageArn, UserId};
use serde_json::{json, Value};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::info::{InfoBuilder, LicenseBuilder};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::tag::Tag;
use utoipa::openapi::{
    Components, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required, Schema,
};
use utoipa::{PartialSchema, ToSchema};
use warp::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::route_table::{Auth, Failure, Link, Method, Param, Route, Success, ROUTES, TAGS};

mod webhooks;

/// The component schemas collected while the document is built, by name.
pub type Schemas = BTreeMap<String, RefOr<Schema>>;
/// A schema, or a reference to a component.
pub type SchemaRef = RefOr<Schema>;

/// Registers `T` (and every type it names) as components; returns a reference to it.
pub fn named<T: ToSchema>(schemas: &mut Schemas) -> SchemaRef {
    let mut deps = Vec::new();
    T::schemas(&mut deps);
    schemas.extend(deps);
    schemas.insert(T::name().into_owned(), T::schema());
    Ref::from_schema_name(T::name()).into()
}

const API_KEY_HEADER: &str = "ApiKeyHeader";
const API_KEY_QUERY: &str = "ApiKeyQuery";

const INFO_DESCRIPTION: &str = "Hands out AWS IVS Real-time participant tokens, spreads viewers \
over stages and counts them.\n\n\
Every request but `/health` and `/openapi.json` (and `/metrics` when the server runs with \
`IVS_METRICS_PUBLIC=true`) carries an API key in the `x-api-key` header. Request bodies are JSON \
(`Content-Type: application/json`; a missing Content-Type is accepted, any other is refused with \
400), at most 16 KiB (413 beyond). Success bodies are `{\"success\": true, \"data\": {...}}` \
(`DELETE /api/stage/{stageArn}` and `/health` excepted); every error is \
`{\"error\", \"message\", \"details\"}` (`ErrorBody`). Authenticated responses carry \
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; 429 and 503 responses carry \
`Retry-After`. Every response carries `X-Request-Id`: the request's own `x-request-id` when it \
sent one of 1 to 64 visible ASCII characters, else a generated one (12 letters and digits); \
the server's request log lines carry the same id. Every header a response documents is always \
sent. An unknown path answers 404 \
`NOT_FOUND`, a wrong method 405 `VALIDATION_ERROR`. Response bodies have no property beyond \
those documented (`additionalProperties: false`); request bodies may (unknown fields are \
ignored).\n\n\
See docs/api.md and docs/decisions.md for the behaviour where the specification is silent.";

/// The document, built from the route table and the wire types.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::new();
    let error_body = named::<ErrorBody>(&mut schemas);
    // The /ws messages: no HTTP body names them, the /ws description does.
    named::<ClientMessage>(&mut schemas);
    named::<ServerMessage>(&mut schemas);

    let mut paths = PathsBuilder::new();
    let mut failures = BTreeSet::new();
    let mut response_schemas = vec![error_body.clone()];
    for route in ROUTES {
        let (item, response) = operation(route, &mut schemas);
        paths = paths.path(route.path, item);
        response_schemas.extend(response);
        failures.extend(route.failures.iter().copied());
    }
    close_response_objects(&mut schemas, &response_schemas);
    let webhooks = webhooks::webhooks(&mut schemas);

    let mut components = Components::new();
    components.schemas = schemas;
    for failure in failures {
        let (name, response) = failure_response(failure, &error_body);
        components.responses.insert(name.into(), response.into());
    }
    let request_id = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::http::MAX_REQUEST_ID_LEN))
                .pattern(Some("^[!-~]+$")),
        ))
        .description(Some(
            "The request's id: the client's `x-request-id` if it sent a valid one (1 to 64 \
             visible ASCII characters), else a generated one. Quote it when reporting a problem.",
        ));
    components
        .headers
        .insert(REQUEST_ID.into(), request_id.build().into());
    for (name, description, minimum) in HEADERS {
        let mut schema = ObjectBuilder::new().schema_type(Type::Integer);
        if let Some(min) = minimum {
            schema = schema.minimum(Some(min));
        }
        let header = HeaderBuilder::new()
            .schema(Some(schema))
            .description(Some(description));
        components
            .headers
            .insert(name.into(), header.build().into());
    }
    components.add_security_scheme(
        API_KEY_HEADER,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
    );
    components.add_security_scheme(
        API_KEY_QUERY,
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "apiKey",
            "Only on `/ws`.",
        ))),
    );

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("IVS Real-time API")
                .version("1.0.0")
                .description(Some(INFO_DESCRIPTION))
                .license(Some(
                    LicenseBuilder::new().name("MIT OR Apache-2.0").build(),
                )),
        )
        .servers(Some([ServerBuilder::new()
            .url("http://localhost:3000")
            .description(Some("development"))
            .build()]))
        .security(Some([SecurityRequirement::new::<_, [&str; 0], &str>(
            API_KEY_HEADER,
            [],
        )]))
        .tags(Some(
            TAGS.map(Tag::new).into_iter().chain([Tag::new("Webhooks")]),
        ))
        .paths(paths.build())
        .webhooks(Some(webhooks))
        .components(Some(components))
        .build()
}

/// The document as served and committed: pretty JSON, ending in a newline.
pub fn document_json() -> String {
    // Serialising plain data with string keys cannot fail.
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

/// The `GET /openapi.json` route, with the document built once, here.
pub fn route() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let doc = Bytes::from(document_json());
    warp::path!("openapi.json").and(warp::get()).map(move || {
        let mut res = Response::new(doc.clone().into());
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        res
    })
}

/// One row of the table as a path item, and the schema of its success body.
fn operation(route: &Route, schemas: &mut Schemas) -> (PathItem, Option<SchemaRef>) {
    let mut op = OperationBuilder::new()
        .operation_id(Some(route.operation_id))
        .summary(Some(route.summary))
        .tag(route.tag)
        .description(description(route));
    match route.auth {
        Auth::Public => op = op.securities(Some([])),
        Auth::KeyOrQuery => {
            op = op.securities(Some([
                SecurityRequirement::new::<_, [&str; 0], &str>(API_KEY_HEADER, []),
                SecurityRequirement::new::<_, [&str; 0], &str>(API_KEY_QUERY, []),
            ]))
        }
        Auth::Key | Auth::KeyUncounted => {}
    }
    for param in route.params {
        op = op.parameter(parameter(*param, schemas));
    }
    if let Some(body) = route.body {
        let content = ContentBuilder::new()
            .schema(Some((body.schema)(schemas)))
            .example(body.example.map(example));
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", content.build())
                .build(),
        ));
    }
    let (status, success, schema) = success(route, schemas);
    op = op.response(status, success);
    for failure in route.failures {
        op = op.response(
            failure.status().to_string(),
            Ref::from_response_name(failure.name()),
        );
    }
    let method = match route.method {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Delete => HttpMethod::Delete,
    };
    (PathItem::new(method, op.build()), schema)
}

fn description(route: &Route) -> Option<String> {
    let text = route.description?;
    if route.auth != Auth::KeyOrQuery {
        return Some(text.to_owned());
    }
    // The spec's /ws examples, compact, after the text.
    let mut text = text.to_owned();
    for (what, raw) in super::route_table::WS_EXAMPLES {
        if let Some(raw) = raw {
            text.push_str(&format!("\n\n{what} (spec example): `{}`", example(raw)));
        }
    }
    Some(text)
}

/// A spec example file's JSON. The files are compiled in and checked by
/// `tests/it/openapi.rs`; one that is not JSON is shown as the text it is.
fn example(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// The success response of a route: (status, response, its JSON body schema).
fn success(
    route: &Route,
    schemas: &mut Schemas,
) -> (&'static str, utoipa::openapi::Response, Option<SchemaRef>) {
    let json = |schema: SchemaRef, ex: Option<&str>| {
        ContentBuilder::new()
            .schema(Some(schema))
            .example(ex.map(example))
            .build()
    };
    let (status, mut response, schema) = match route.success {
        Success::Envelope(data, ex) => {
            let schema = envelope(data(schemas), schemas);
            let response = ResponseBuilder::new()
                .description("Success.")
                .content("application/json", json(schema.clone(), ex));
            ("200", response, Some(schema))
        }
        Success::Plain(body, ex) => {
            let schema = body(schemas);
            let description = if route.failures.contains(&Failure::Degraded) {
                "Every dependency answers (`status: ok`)."
            } else {
                "Success."
            };
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", json(schema.clone(), ex));
            ("200", response, Some(schema))
        }
        Success::Document => {
            let response = ResponseBuilder::new()
                .description("This OpenAPI document (`docs/openapi.json`).")
                .content(
                    "application/json",
                    json(ObjectBuilder::new().schema_type(Type::Object).into(), None),
                );
            ("200", response, None)
        }
        Success::Metrics => {
            let response = ResponseBuilder::new()
                .description("Prometheus text exposition format (version 0.0.4).")
                .content(
                    "text/plain",
                    ContentBuilder::new().schema(Some(String::schema())).build(),
                );
            ("200", response, None)
        }
        Success::Upgrade => {
            let response =
                ResponseBuilder::new().description("Switching Protocols: the WebSocket is open.");
            ("101", response, None)
        }
    };
    response = response.header_ref(REQUEST_ID, header_ref(REQUEST_ID));
    if route.auth == Auth::Key {
        response = rate_headers(response);
    }
    for link in route.links {
        response = response.link(link.name, build_link(link));
    }
    (status, response.build(), schema)
}

fn build_link(link: &Link) -> utoipa::openapi::link::Link {
    let mut builder = LinkBuilder::new().operation_id(link.operation_id);
    for (name, expr) in link.parameters {
        builder = builder.parameter(*name, *expr);
    }
    if !link.body.is_empty() {
        let body: serde_json::Map<String, Value> = link
            .body
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        builder = builder.request_body(Some(body));
    }
    builder.build()
}

/// `{"success": true, "data": T}` as a component named `<T>Response`.
fn envelope(data: SchemaRef, schemas: &mut Schemas) -> SchemaRef {
    let RefOr::Ref(data_ref) = &data else {
        return data;
    };
    let inner = data_ref
        .ref_location
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let name = format!("{inner}Response");
    let schema = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!("`{{\"success\": true, \"data\": {inner}}}`")))
        .property(
            "success",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([true])),
        )
        .required("success")
        .property("data", data)
        .required("data");
    schemas.insert(name.clone(), schema.into());
    Ref::from_schema_name(name).into()
}

/// The request id header, on every response.
const REQUEST_ID: &str = "X-Request-Id";

/// The rate-limit headers, all sent together.
const RATE_HEADERS: [&str; 3] = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];

/// The reusable headers: (name, description, minimum).
const HEADERS: [(&str, &str, Option<f64>); 4] = [
    (
        "RateLimit-Limit",
        "Requests per minute this API key may make.",
        None,
    ),
    (
        "RateLimit-Remaining",
        "Requests left in the current burst.",
        None,
    ),
    (
        "RateLimit-Reset",
        "Seconds until the allowance is full again.",
        None,
    ),
    (
        "Retry-After",
        "Seconds to wait before retrying (at least 1).",
        Some(1.0),
    ),
];

fn header_ref(name: &str) -> Ref {
    Ref::new(format!("#/components/headers/{name}"))
}

fn rate_headers(mut response: ResponseBuilder) -> ResponseBuilder {
    for name in RATE_HEADERS {
        response = response.header_ref(name, header_ref(name));
    }
    response
}

fn parameter(param: Param, schemas: &mut Schemas) -> utoipa::openapi::path::Parameter {
    let arn_example = Some(Value::from(
        "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8",
    ));
    let arn = named::<StageArn>(schemas);
    let builder = ParameterBuilder::new();
    let builder = match param {
        Param::StageArnPath => builder
            .name("stageArn")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(
                "The stage ARN, URL-encoded (`arn%3Aaws%3Aivs%3A...%3Astage%2FID`) or raw \
                 (`arn:aws:ivs:...:stage/ID`); both work.",
            ))
            .schema(Some(arn))
            .example(arn_example),
        Param::MaxResults => builder
            .name("maxResults")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some("Page size, 1-100 (default 50)."))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(100))
                    .default(Some(json!(50))),
            )),
        Param::NextToken => builder
            .name("nextToken")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some("The `nextToken` of the previous page (opaque)."))
            .schema(Some(String::schema())),
        Param::UserIdQuery => builder
            .name("userId")
            .parameter_in(ParameterIn::Query)
            .required(Required::True)
            .schema(Some(named::<UserId>(schemas)))
            .example(Some(Value::from("viewer-001"))),
        Param::StageArnQuery => builder
            .name("stageArn")
            .parameter_in(ParameterIn::Query)
            .required(Required::True)
            .schema(Some(arn))
            .example(arn_example),
        Param::ApiKeyQuery => builder
            .name("apiKey")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(
                "The API key, for clients that cannot set headers. Ignored when the \
                 `x-api-key` header is present.",
            ))
            .schema(Some(String::schema())),
    };
    builder.build()
}

impl Failure {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Failure::BadRequest | Failure::NotAnUpgrade => 400,
            Failure::Unauthorized => 401,
            Failure::Forbidden => 403,
            Failure::NotFound => 404,
            Failure::RequestTimeout => 408,
            Failure::Conflict => 409,
            Failure::PayloadTooLarge => 413,
            Failure::TooManyRequests | Failure::TooManyConnections => 429,
            Failure::InternalError | Failure::TokenServerError => 500,
            Failure::Degraded
            | Failure::ServiceUnavailable
            | Failure::ViewerTokenUnavailable
            | Failure::CreateStageUnavailable => 503,
        }
    }

    /// Its name under `components/responses`.
    pub fn name(self) -> &'static str {
        match self {
            Failure::BadRequest => "BadRequest",
            Failure::NotAnUpgrade => "NotAnUpgrade",
            Failure::Unauthorized => "Unauthorized",
            Failure::Forbidden => "Forbidden",
            Failure::NotFound => "NotFound",
            Failure::RequestTimeout => "RequestTimeout",
            Failure::Conflict => "Conflict",
            Failure::PayloadTooLarge => "PayloadTooLarge",
            Failure::TooManyRequests => "TooManyRequests",
            Failure::TooManyConnections => "TooManyConnections",
            Failure::InternalError => "InternalError",
            Failure::TokenServerError => "TokenServerError",
            Failure::Degraded => "Degraded",
            Failure::ServiceUnavailable => "ServiceUnavailable",
            Failure::ViewerTokenUnavailable => "ViewerTokenUnavailable",
            Failure::CreateStageUnavailable => "CreateStageUnavailable",
        }
    }
}

/// An example error body.
fn error(code: &str, message: &str, details: &str) -> Value {
    json!({"error": code, "message": message, "details": details})
}

const UNAVAILABLE: (&str, &str, &str) = (
    "SERVICE_UNAVAILABLE",
    "服務暫時無法使用",
    "viewer store unavailable",
);
const INTERNAL: (&str, &str, &str) = ("INTERNAL_ERROR", "伺服器內部錯誤", "internal server error");
const LIMITED: (&str, &str, &str) = (
    "TOO_MANY_REQUESTS",
    "請求過於頻繁",
    "rate limit of 100 requests per minute exceeded for this API key",
);

/// A reusable error response: its description, headers and example bodies.
fn failure_response(failure: Failure, error_body: &SchemaRef) -> (&'static str, ResponseBuilder) {
    type Examples = Vec<(&'static str, (&'static str, &'static str, &'static str))>;
    let (description, retry_after, rate, examples): (&str, bool, bool, Examples) = match failure {
        Failure::BadRequest => (
            "`VALIDATION_ERROR`: a parameter, the body or a header failed validation.",
            false,
            false,
            vec![(
                "missing",
                ("VALIDATION_ERROR", "缺少必填參數: userId", "userId is required"),
            )],
        ),
        Failure::NotAnUpgrade => (
            "`VALIDATION_ERROR`: not a WebSocket upgrade request (or a malformed header).",
            false,
            false,
            vec![(
                "notAnUpgrade",
                (
                    "VALIDATION_ERROR",
                    "缺少標頭",
                    "header connection is required",
                ),
            )],
        ),
        Failure::Unauthorized => (
            "`UNAUTHORIZED`: the API key is missing or invalid.",
            false,
            false,
            vec![(
                "unauthorized",
                ("UNAUTHORIZED", "API key 無效", "missing x-api-key header"),
            )],
        ),
        Failure::Forbidden => (
            "`FORBIDDEN`: not allowed (the master stage cannot be deleted).",
            false,
            false,
            vec![(
                "master",
                (
                    "FORBIDDEN",
                    "無法刪除主 Stage",
                    "the master stage cannot be deleted",
                ),
            )],
        ),
        Failure::NotFound => (
            "`NOT_FOUND`: the stage (or the viewer on it) does not exist.",
            false,
            false,
            vec![(
                "stage",
                (
                    "NOT_FOUND",
                    "Stage 不存在",
                    "stage arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8 is not managed by this server",
                ),
            )],
        ),
        Failure::RequestTimeout => (
            "`VALIDATION_ERROR`: the body did not arrive within the server's body timeout \
             (10 s by default, `IVS_BODY_TIMEOUT_MS`).",
            false,
            false,
            vec![(
                "slowBody",
                (
                    "VALIDATION_ERROR",
                    "請求逾時",
                    "the request body was not received within 10 s",
                ),
            )],
        ),
        Failure::Conflict => (
            "`VALIDATION_ERROR` with 409: IVS refused the change because of a conflicting \
             operation on the stage (its `ConflictException`); retry later.",
            false,
            false,
            vec![(
                "conflict",
                (
                    "VALIDATION_ERROR",
                    "IVS 資源衝突",
                    "DeleteStage: Conflicting operation",
                ),
            )],
        ),
        Failure::PayloadTooLarge => (
            "`VALIDATION_ERROR`: the body is larger than the server's limit (16 KiB by default).",
            false,
            false,
            vec![(
                "tooLarge",
                (
                    "VALIDATION_ERROR",
                    "請求內容過大",
                    "the request body must be at most 16384 bytes",
                ),
            )],
        ),
        Failure::TooManyRequests => (
            "`TOO_MANY_REQUESTS`: this API key's rate limit is exhausted.",
            true,
            true,
            vec![("limited", LIMITED)],
        ),
        Failure::TooManyConnections => (
            "`TOO_MANY_REQUESTS`: this API key's rate limit is exhausted (with `RateLimit-*` \
             headers), or it already holds the most WebSocket connections allowed per key on \
             this instance.",
            true,
            false,
            vec![
                ("limited", LIMITED),
                (
                    "connections",
                    (
                        "TOO_MANY_REQUESTS",
                        "WebSocket 連線過多",
                        "at most 10000 WebSocket connections per API key",
                    ),
                ),
            ],
        ),
        Failure::InternalError => (
            "`INTERNAL_ERROR`: an unexpected server error.",
            false,
            false,
            vec![("internal", INTERNAL)],
        ),
        Failure::TokenServerError => (
            "`TOKEN_GENERATION_FAILED` (the token could not be created) or `INTERNAL_ERROR`.",
            false,
            false,
            vec![
                (
                    "tokenFailed",
                    (
                        "TOKEN_GENERATION_FAILED",
                        "Token 生成失敗",
                        "token generation failed",
                    ),
                ),
                ("internal", INTERNAL),
            ],
        ),
        Failure::Degraded => {
            let response = ResponseBuilder::new()
                .description(
                    "A dependency does not answer (`status: degraded`); answered within about a \
                     second.",
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(ivs_api::Health::name())))
                        .build(),
                );
            return (failure.name(), response);
        }
        Failure::ServiceUnavailable => (
            "`SERVICE_UNAVAILABLE`: the viewer store or IVS is unavailable; retry after \
             `Retry-After`.",
            true,
            false,
            vec![("unavailable", UNAVAILABLE)],
        ),
        Failure::ViewerTokenUnavailable => (
            "`STAGE_FULL` (every stage is full; `Retry-After: 2`), `STAGE_LIMIT_REACHED` (every \
             stage is full and the stage limit is reached; `Retry-After: 30`) or \
             `SERVICE_UNAVAILABLE`.",
            true,
            false,
            vec![
                (
                    "full",
                    (
                        "STAGE_FULL",
                        "所有 Stage 已滿",
                        "every stage is full and a new one cannot be made right now; retry shortly",
                    ),
                ),
                (
                    "limit",
                    (
                        "STAGE_LIMIT_REACHED",
                        "已達 Stage 數量上限",
                        "every stage is full and the limit of 20 stages is reached",
                    ),
                ),
                ("unavailable", UNAVAILABLE),
            ],
        ),
        Failure::CreateStageUnavailable => (
            "`STAGE_LIMIT_REACHED` (the stage limit is reached) or `SERVICE_UNAVAILABLE`.",
            true,
            false,
            vec![
                (
                    "limit",
                    (
                        "STAGE_LIMIT_REACHED",
                        "已達 Stage 數量上限",
                        "the limit of 20 stages is reached",
                    ),
                ),
                ("unavailable", UNAVAILABLE),
            ],
        ),
    };
    let mut response = ResponseBuilder::new()
        .description(description)
        .header_ref(REQUEST_ID, header_ref(REQUEST_ID));
    if rate {
        response = rate_headers(response);
    }
    if retry_after {
        response = response.header_ref("Retry-After", header_ref("Retry-After"));
    }
    let content = ContentBuilder::new()
        .schema(Some(error_body.clone()))
        .examples_from_iter(
            examples
                .into_iter()
                .map(|(name, (code, message, details))| {
                    (
                        name,
                        ExampleBuilder::new()
                            .value(Some(error(code, message, details)))
                            .build(),
                    )
                }),
        );
    response = response.content("application/json", content.build());
    (failure.name(), response)
}

/// Closes every object schema a response body reaches (`additionalProperties:
/// false`), so that a field the server sends without documenting it fails
/// validation. Request schemas stay open: the server ignores unknown fields.
fn close_response_objects(schemas: &mut Schemas, roots: &[SchemaRef]) {
    let mut todo: Vec<String> = roots.iter().filter_map(ref_name).collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get_mut(&name) {
            close(schema, &mut todo);
        }
    }
}

fn ref_name(schema: &SchemaRef) -> Option<String> {
    match schema {
        RefOr::Ref(r) => r
            .ref_location
            .strip_prefix("#/components/schemas/")
            .map(str::to_owned),
        RefOr::T(_) => None,
    }
}

/// Closes `schema` and the objects inside it; queues the components it names.
fn close(schema: &mut SchemaRef, todo: &mut Vec<String>) {
    let RefOr::T(schema) = schema else {
        todo.extend(ref_name(schema));
        return;
    };
    match schema {
        Schema::Object(object) => {
            if !object.properties.is_empty() && object.additional_properties.is_none() {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
            for property in object.properties.values_mut() {
                close(property, todo);
            }
        }
        Schema::Array(array) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut array.items {
                close(items, todo);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(|s| close(s, todo)),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(|s| close(s, todo)),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(|s| close(s, todo)),
        _ => {}
    }
}
