//! Statistics: `/api/stats/...`.

use serde::{Deserialize, Serialize};

use crate::{Tags, Timestamp};

/// One stage in the statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StageStats {
    /// The stage ARN.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::StageArn))]
    pub stage_arn: String,
    /// The stage name.
    pub stage_name: String,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Whether the server created it to absorb viewers.
    pub auto_scaled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its tags (only in `GET /api/stats/stages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Tags>))]
    pub tags: Option<Tags>,
}

/// Response data of `GET /api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Viewers on every stage, summed now.
    pub total_viewers: u32,
    /// Stages the server manages.
    pub active_stages: u32,
    /// Whether the publisher is live.
    pub is_publisher_live: bool,
    /// Every stage.
    pub stages: Vec<StageStats>,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stats/viewers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ViewerStats {
    /// Viewers on every stage, summed now.
    pub total_viewers: u32,
    /// `"real-time sum"`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::CalculatedFrom))]
    pub calculated_from: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stats/stages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StageStatsList {
    /// Stages the server manages.
    pub total_stages: u32,
    /// Every stage, with its tags.
    pub stages: Vec<StageStats>,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// The `info` part of `GET /api/stats/stages/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StageStatsInfo {
    /// The stage name.
    pub name: String,
    /// Whether the server created it to absorb viewers.
    pub auto_scaled: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Response data of `GET /api/stats/stages/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StageStatsDetail {
    /// The stage ARN.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::StageArn))]
    pub stage_arn: String,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// About the stage.
    pub info: StageStatsInfo,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stats/publisher`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublisherStatus {
    /// Whether the publisher is live.
    pub is_live: bool,
    /// When the answer was made.
    pub timestamp: Timestamp,
}
