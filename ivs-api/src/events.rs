//! Fleet events: what webhooks deliver and the `/ws` `events` channel carries.
//!
//! Every event is `{"id", "type", "timestamp", "data"}`, where `data` uses
//! the API's own field names (`userId`, `stageArn`, `watchDuration`, …).
//! The server records an event in the same store step as the change it
//! describes, so no event describes something that did not happen.
//!
//! ```
//! use ivs_api::{Event, EventKind};
//! let body = r#"{"id":"evt_0f3a9c21d4b7e85a","type":"viewer.left","timestamp":"2025-10-19T12:00:00.000Z",
//!   "data":{"userId":"viewer-001","stageArn":"arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGH1234",
//!           "watchDuration":95}}"#;
//! let event: Event = serde_json::from_str(body).unwrap();
//! assert_eq!(event.event_type(), "viewer.left");
//! match event.kind {
//!     EventKind::ViewerLeft(left) => assert_eq!(left.watch_duration, 95),
//!     _ => unreachable!(),
//! }
//! ```

use serde::{Deserialize, Serialize};

use crate::{StageArn, Timestamp, UserId};

/// One fleet event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct Event {
    /// Unique per event (`evt_…`); a webhook carries it as `webhook-id`, the
    /// same on every retry, so receivers can de-duplicate.
    pub id: String,
    /// When the change happened.
    pub timestamp: Timestamp,
    /// What happened (`type`) and its details (`data`).
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The event's `type`, e.g. `"viewer.left"`.
    pub fn event_type(&self) -> &str {
        self.kind.event_type()
    }
}

/// What happened: the event's `type` and `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "data")]
#[non_exhaustive]
pub enum EventKind {
    /// `viewer.joined`: a viewer is counted on a stage (not sent again when
    /// it asks for a new token while counted).
    #[serde(rename = "viewer.joined")]
    ViewerJoined(ViewerJoined),
    /// `viewer.left`: a viewer left (`DELETE /api/viewer/:userId`).
    #[serde(rename = "viewer.left")]
    ViewerLeft(ViewerGone),
    /// `viewer.expired`: a viewer stopped sending heartbeats and was removed.
    #[serde(rename = "viewer.expired")]
    ViewerExpired(ViewerGone),
    /// `stage.created`: a stage was created and registered.
    #[serde(rename = "stage.created")]
    StageCreated(StageCreated),
    /// `stage.draining`: scale-down takes no more viewers to this stage.
    #[serde(rename = "stage.draining")]
    StageDraining(StageRef),
    /// `stage.revived`: a draining stage takes viewers again.
    #[serde(rename = "stage.revived")]
    StageRevived(StageRef),
    /// `stage.removed`: a stage left the registry.
    #[serde(rename = "stage.removed")]
    StageRemoved(StageRemoved),
    /// `publisher.live`: the publisher is live on the master stage.
    #[serde(rename = "publisher.live")]
    PublisherLive(StageRef),
    /// `publisher.offline`: the publisher stopped publishing.
    #[serde(rename = "publisher.offline")]
    PublisherOffline(StageRef),
    /// `fleet.stage_limit_reached`: a new stage was wanted but the stage
    /// limit is reached (sent at most once a minute).
    #[serde(rename = "fleet.stage_limit_reached")]
    FleetStageLimitReached(StageLimitReached),
    /// A type this version does not know (a newer server's); its `data` is
    /// not kept.
    #[serde(untagged)]
    Unknown {
        /// The event's `type`.
        #[serde(rename = "type")]
        event_type: String,
    },
}

impl EventKind {
    /// Every type this version knows, as written in `type`.
    pub const TYPES: [&'static str; 10] = [
        "viewer.joined",
        "viewer.left",
        "viewer.expired",
        "stage.created",
        "stage.draining",
        "stage.revived",
        "stage.removed",
        "publisher.live",
        "publisher.offline",
        "fleet.stage_limit_reached",
    ];

    /// The `type`, e.g. `"stage.created"`.
    pub fn event_type(&self) -> &str {
        match self {
            EventKind::ViewerJoined(_) => "viewer.joined",
            EventKind::ViewerLeft(_) => "viewer.left",
            EventKind::ViewerExpired(_) => "viewer.expired",
            EventKind::StageCreated(_) => "stage.created",
            EventKind::StageDraining(_) => "stage.draining",
            EventKind::StageRevived(_) => "stage.revived",
            EventKind::StageRemoved(_) => "stage.removed",
            EventKind::PublisherLive(_) => "publisher.live",
            EventKind::PublisherOffline(_) => "publisher.offline",
            EventKind::FleetStageLimitReached(_) => "fleet.stage_limit_reached",
            EventKind::Unknown { event_type } => event_type,
        }
    }
}

/// `data` of `viewer.joined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct ViewerJoined {
    /// The viewer.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub user_id: UserId,
    /// Its stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage_arn: StageArn,
    /// The IVS participant id of its token.
    pub participant_id: String,
}

/// `data` of `viewer.left` and `viewer.expired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ViewerGone {
    /// The viewer.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub user_id: UserId,
    /// The stage it was counted on.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage_arn: StageArn,
    /// Seconds from its join to its leave (`viewer.left`) or to its last
    /// heartbeat (`viewer.expired`), as `GET /api/viewer/:userId/duration`
    /// answers.
    pub watch_duration: u64,
}

/// `data` of `stage.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct StageCreated {
    /// The new stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage_arn: StageArn,
    /// Its name.
    pub name: String,
    /// Created by scale-up (not by `POST /api/stage`).
    pub auto_scaled: bool,
    /// It is the master stage.
    pub is_master: bool,
}

/// `data` of the events about one stage: `stage.draining`, `stage.revived`,
/// `publisher.live`, `publisher.offline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StageRef {
    /// The stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage_arn: StageArn,
}

/// `data` of `stage.removed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StageRemoved {
    /// The stage.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub stage_arn: StageArn,
    /// Why.
    pub reason: RemovalReason,
}

/// Why a stage left the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemovalReason {
    /// Scale-down deleted an idle, drained stage.
    ScaledDown,
    /// `DELETE /api/stage/:stageArn`.
    Deleted,
    /// IVS no longer has it (deleted out of band); its viewers were dropped.
    Gone,
    /// A reason this version does not know.
    #[serde(other)]
    Other,
}

/// `data` of `fleet.stage_limit_reached`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StageLimitReached {
    /// Stages registered or being created.
    pub active_stages: u32,
    /// The limit (`IVS_MAX_STAGES`).
    pub max_stages: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGH1234";

    fn round_trip(kind: EventKind, data: &str) {
        let event = Event::builder()
            .id("evt_1")
            .timestamp(Timestamp::from_millis(1_760_875_200_000))
            .kind(kind)
            .build();
        let json = serde_json::to_string(&event).unwrap();
        let want = format!(
            r#"{{"id":"evt_1","timestamp":"2025-10-19T12:00:00.000Z","type":"{}","data":{data}}}"#,
            event.event_type()
        );
        assert_eq!(json, want);
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }

    #[test]
    fn every_type_has_its_wire_form() {
        let arn: StageArn = ARN.parse().unwrap();
        let user = UserId::new("viewer-001").unwrap();
        let a = format!(r#""stageArn":"{ARN}""#);
        round_trip(
            EventKind::ViewerJoined(
                ViewerJoined::builder()
                    .user_id(user.clone())
                    .stage_arn(arn.clone())
                    .participant_id("p1")
                    .build(),
            ),
            &format!(r#"{{"userId":"viewer-001",{a},"participantId":"p1"}}"#),
        );
        let gone = ViewerGone::builder()
            .user_id(user)
            .stage_arn(arn.clone())
            .watch_duration(95)
            .build();
        let gone_json = format!(r#"{{"userId":"viewer-001",{a},"watchDuration":95}}"#);
        round_trip(EventKind::ViewerLeft(gone.clone()), &gone_json);
        round_trip(EventKind::ViewerExpired(gone), &gone_json);
        round_trip(
            EventKind::StageCreated(
                StageCreated::builder()
                    .stage_arn(arn.clone())
                    .name("auto-stage-1")
                    .auto_scaled(true)
                    .is_master(false)
                    .build(),
            ),
            &format!(r#"{{{a},"name":"auto-stage-1","autoScaled":true,"isMaster":false}}"#),
        );
        let one = StageRef::builder().stage_arn(arn.clone()).build();
        for kind in [
            EventKind::StageDraining(one.clone()),
            EventKind::StageRevived(one.clone()),
            EventKind::PublisherLive(one.clone()),
            EventKind::PublisherOffline(one),
        ] {
            round_trip(kind, &format!("{{{a}}}"));
        }
        round_trip(
            EventKind::StageRemoved(
                StageRemoved::builder()
                    .stage_arn(arn)
                    .reason(RemovalReason::ScaledDown)
                    .build(),
            ),
            &format!(r#"{{{a},"reason":"scaled_down"}}"#),
        );
        round_trip(
            EventKind::FleetStageLimitReached(
                StageLimitReached::builder()
                    .active_stages(20)
                    .max_stages(20)
                    .build(),
            ),
            r#"{"activeStages":20,"maxStages":20}"#,
        );
    }

    #[test]
    fn an_unknown_type_or_reason_still_reads() {
        let e: Event = serde_json::from_str(
            r#"{"id":"evt_2","timestamp":"2025-10-19T12:00:00.000Z","type":"stage.renamed","data":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(e.event_type(), "stage.renamed");
        let r: RemovalReason = serde_json::from_str(r#""merged""#).unwrap();
        assert_eq!(r, RemovalReason::Other);
    }

    #[test]
    fn the_type_list_matches_the_variants() {
        for t in EventKind::TYPES {
            let body = format!(
                r#"{{"id":"e","timestamp":"2025-10-19T12:00:00.000Z","type":"{t}","data":{{}}}}"#
            );
            // Empty data does not fit a known type: it reads as unknown, but
            // the type string survives either way.
            let e: Event = serde_json::from_str(&body).unwrap();
            assert_eq!(e.event_type(), t);
        }
    }
}
