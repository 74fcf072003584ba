//! Statistics: `/api/stats/...`.

use serde::{Deserialize, Serialize};

use crate::{StageArn, Tags, Timestamp};

/// One stage in the statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct StageStats {
    /// The stage ARN.
    #[serde(rename = "stageArn")]
    pub arn: StageArn,
    /// The stage name.
    #[serde(rename = "stageName")]
    pub name: String,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Whether the server created it to absorb viewers.
    pub auto_scaled: bool,
    /// Scale-down takes no more viewers to it (it is removed once empty).
    /// Present only when `true`, so the spec's examples are unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    #[builder(default)]
    pub draining: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its tags (only in `GET /api/stats/stages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Tags>))]
    pub tags: Option<Tags>,
}

/// Response data of `GET /api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Stats {
    /// Viewers on every stage, summed now.
    pub total_viewers: u32,
    /// Stages the server manages.
    #[serde(rename = "activeStages")]
    pub total_stages: u32,
    /// Whether the publisher is live.
    pub is_publisher_live: bool,
    /// Every stage.
    #[builder(default)]
    pub stages: Vec<StageStats>,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stats/viewers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct ViewerStats {
    /// Viewers on every stage, summed now.
    pub total_viewers: u32,
    /// `"real-time sum"`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::CalculatedFrom))]
    #[builder(default = "real-time sum".to_owned())]
    pub calculated_from: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stats/stages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StageStatsList {
    /// Stages the server manages.
    pub total_stages: u32,
    /// Every stage, with its tags.
    #[builder(default)]
    pub stages: Vec<StageStats>,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stats/stages/:stageArn`.
///
/// Flat in Rust, like every type that describes a stage (`arn`, `name`,
/// ...); on the wire the name, `autoScaled` and `createdAt` sit in an `info`
/// object: `{stageArn, viewerCount, info: {name, autoScaled, createdAt},
/// timestamp}`.
///
/// ```
/// use ivs_api::StageStatsDetail;
/// let json = r#"{"stageArn":"arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8",
///     "viewerCount":45,
///     "info":{"name":"master-stage","autoScaled":false,"createdAt":"2025-10-19T08:00:00.000Z"},
///     "timestamp":"2025-10-19T12:00:00.000Z"}"#;
/// let stage: StageStatsDetail = serde_json::from_str(json).unwrap();
/// assert_eq!((stage.name.as_str(), stage.viewer_count), ("master-stage", 45));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[serde(from = "StageStatsDetailWire", into = "StageStatsDetailWire")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct StageStatsDetail {
    /// The stage ARN.
    pub arn: StageArn,
    /// The stage name.
    pub name: String,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Whether the server created it to absorb viewers.
    pub auto_scaled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

// The JSON of `StageStatsDetail`, as the spec nests it. Its doc comments are
// the OpenAPI descriptions (the schema is derived from these two structs).

/// Response data of `GET /api/stats/stages/:stageArn`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageStatsDetailWire {
    /// The stage ARN.
    stage_arn: StageArn,
    /// Viewers counted on it now.
    viewer_count: u32,
    /// About the stage.
    info: StageStatsInfo,
    /// When the answer was made.
    timestamp: Timestamp,
}

/// The `info` part of `GET /api/stats/stages/:stageArn`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub(crate) struct StageStatsInfo {
    /// The stage name.
    name: String,
    /// Whether the server created it to absorb viewers.
    auto_scaled: bool,
    /// When it was created.
    created_at: Timestamp,
}

impl From<StageStatsDetailWire> for StageStatsDetail {
    fn from(wire: StageStatsDetailWire) -> Self {
        StageStatsDetail {
            arn: wire.stage_arn,
            name: wire.info.name,
            viewer_count: wire.viewer_count,
            auto_scaled: wire.info.auto_scaled,
            created_at: wire.info.created_at,
            timestamp: wire.timestamp,
        }
    }
}

impl From<StageStatsDetail> for StageStatsDetailWire {
    fn from(detail: StageStatsDetail) -> Self {
        StageStatsDetailWire {
            stage_arn: detail.arn,
            viewer_count: detail.viewer_count,
            info: StageStatsInfo {
                name: detail.name,
                auto_scaled: detail.auto_scaled,
                created_at: detail.created_at,
            },
            timestamp: detail.timestamp,
        }
    }
}

/// Response data of `GET /api/stats/publisher`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PublisherStatus {
    /// Whether the publisher is live.
    pub is_live: bool,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

// serde's `skip_serializing_if` takes the field by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}
