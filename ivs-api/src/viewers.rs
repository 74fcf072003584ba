//! Viewers: `/api/viewer/...`.

use serde::{Deserialize, Serialize};

use crate::{StageArn, Timestamp, UserId};

/// Body of `POST /api/viewer/heartbeat` and `POST /api/viewer/leave`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ViewerRef {
    /// The viewer's id, as sent when it asked for its token.
    pub user_id: UserId,
    /// The stage it was assigned to.
    pub stage_arn: StageArn,
}

impl ViewerRef {
    /// A reference to `user_id` on `stage_arn`.
    pub fn new(user_id: UserId, stage_arn: StageArn) -> Self {
        ViewerRef { user_id, stage_arn }
    }
}

/// Response data of `POST /api/viewer/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Heartbeat {
    /// The viewer (the id it sent in its token request).
    pub user_id: UserId,
    /// Its stage.
    pub stage_arn: StageArn,
    /// When the server recorded this heartbeat.
    pub last_heartbeat: Timestamp,
}

/// Response data of `POST /api/viewer/leave` and `GET /api/viewer/duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct WatchDuration {
    /// The viewer (the id it sent in its token request).
    pub user_id: UserId,
    /// Its stage.
    pub stage_arn: StageArn,
    /// Seconds watched.
    pub watch_duration: u64,
    /// The same, as `"30分 50秒"`.
    pub watch_duration_formatted: String,
}

/// One viewer in `GET /api/viewer/list/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct Viewer {
    /// The viewer's id (the one it sent in its token request).
    pub user_id: UserId,
    /// The IVS participant id of its latest token.
    pub participant_id: String,
    /// When it joined.
    pub joined_at: Timestamp,
    /// Its latest heartbeat (the join counts as one).
    pub last_heartbeat: Timestamp,
}

/// Response data of `GET /api/viewer/list/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ViewerList {
    /// The stage.
    pub stage_arn: StageArn,
    /// Its viewers.
    #[builder(default)]
    pub viewers: Vec<Viewer>,
    /// How many.
    #[serde(rename = "totalViewers")]
    pub viewer_count: u32,
    /// When the answer was made.
    pub timestamp: Timestamp,
}
