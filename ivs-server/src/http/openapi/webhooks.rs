//! The document's `webhooks` (OpenAPI 3.1): one POST per event type, as
//! `ivs-server` sends it to every `IVS_WEBHOOK_URLS` endpoint
//! (docs/webhooks.md).

use ivs_api::{StageCreated, StageLimitReached, StageRef, StageRemoved, ViewerGone, ViewerJoined};
use serde_json::{json, Value};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
use utoipa::openapi::{Paths, PathsBuilder, Required};

use super::{named, SchemaRef, Schemas};

const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGH1234";

/// One event type: its name, its `data` schema, when it is sent, and an
/// example `data`.
type EventDoc = (
    &'static str,
    fn(&mut Schemas) -> SchemaRef,
    &'static str,
    Value,
);

/// Every type this version sends.
fn types() -> [EventDoc; 10] {
    let stage = json!({"stageArn": ARN});
    let gone = json!({"userId": "viewer-001", "stageArn": ARN, "watchDuration": 95});
    [
        (
            "viewer.joined",
            named::<ViewerJoined>,
            "A viewer is counted on a stage (a rejoin of a counted viewer sends none).",
            json!({"userId": "viewer-001", "stageArn": ARN, "participantId": "aBcD1234eFgH"}),
        ),
        (
            "viewer.left",
            named::<ViewerGone>,
            "A viewer left; `watchDuration` in seconds.",
            gone.clone(),
        ),
        (
            "viewer.expired",
            named::<ViewerGone>,
            "A viewer stopped sending heartbeats and was removed.",
            gone,
        ),
        (
            "stage.created",
            named::<StageCreated>,
            "A stage was created and registered.",
            json!({"stageArn": ARN, "name": "auto-stage-1760875200000", "autoScaled": true, "isMaster": false}),
        ),
        (
            "stage.draining",
            named::<StageRef>,
            "Scale-down takes no more viewers to this stage.",
            stage.clone(),
        ),
        (
            "stage.revived",
            named::<StageRef>,
            "A draining stage takes viewers again.",
            stage.clone(),
        ),
        (
            "stage.removed",
            named::<StageRemoved>,
            "A stage left the registry.",
            json!({"stageArn": ARN, "reason": "scaled_down"}),
        ),
        (
            "publisher.live",
            named::<StageRef>,
            "The publisher is live on the master stage.",
            stage.clone(),
        ),
        (
            "publisher.offline",
            named::<StageRef>,
            "The publisher stopped publishing.",
            stage,
        ),
        (
            "fleet.stage_limit_reached",
            named::<StageLimitReached>,
            "A new stage was wanted but the stage limit is reached (at most once a minute).",
            json!({"activeStages": 20, "maxStages": 20}),
        ),
    ]
}

const HEADERS: [(&str, &str); 3] = [
    ("webhook-id", "The event's `id`: the same on every attempt, so receivers can de-duplicate."),
    ("webhook-timestamp", "Unix time (seconds) of this attempt."),
    (
        "webhook-signature",
        "`v1,` + base64 of HMAC-SHA256 keyed with the base64-decoded part of `IVS_WEBHOOK_SECRET` after `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}` (Standard Webhooks).",
    ),
];

/// The `webhooks` of the document.
pub fn webhooks(schemas: &mut Schemas) -> Paths {
    let timestamp = named::<ivs_api::Timestamp>(schemas);
    let mut paths = PathsBuilder::new();
    for (event_type, data, when, data_example) in types() {
        let body = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("id", ObjectBuilder::new().schema_type(Type::String))
            .required("id")
            .property("timestamp", timestamp.clone())
            .required("timestamp")
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([event_type])),
            )
            .required("type")
            .property("data", data(schemas))
            .required("data")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let example = json!({
            "id": "evt_0f3a9c21d4b7e85a",
            "type": event_type,
            "timestamp": "2025-10-19T12:00:00.000Z",
            "data": data_example,
        });
        let mut op = OperationBuilder::new()
            .operation_id(Some(format!("webhook_{}", event_type.replace('.', "_"))))
            .summary(Some(format!("`{event_type}`")))
            .description(Some(format!(
                "{when} Sent to every `IVS_WEBHOOK_URLS` endpoint whose `IVS_WEBHOOK_EVENTS` filter \
                 matches, at least once, in no guaranteed order."
            )))
            .tag("Webhooks")
            .securities(Some([]))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(body))
                            .example(Some(example))
                            .build(),
                    )
                    .build(),
            ))
            .response(
                "2XX",
                ResponseBuilder::new().description(
                    "Acknowledged. Anything else (or no answer within `IVS_WEBHOOK_TIMEOUT_MS`) \
                     is retried with backoff, with the same `webhook-id`, until \
                     `IVS_WEBHOOK_RETRY_WINDOW_SECS` has passed.",
                ),
            );
        for (name, description) in HEADERS {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::True)
                    .description(Some(description))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        paths = paths.path(event_type, PathItem::new(HttpMethod::Post, op.build()));
    }
    paths.build()
}
