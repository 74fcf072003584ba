//! Stages: `/api/stage/...`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{StageArn, Timestamp};

/// Stage tags (IVS tag keys and values are strings).
pub type Tags = BTreeMap<String, String>;

/// One stage in `GET /api/stage/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct StageListItem {
    /// The stage ARN.
    #[serde(rename = "stageArn")]
    pub arn: StageArn,
    /// The stage name.
    pub name: String,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Whether the server created it to absorb viewers.
    pub auto_scaled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its tags.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Tags))]
    #[builder(default)]
    pub tags: Tags,
}

/// Response data of `GET /api/stage/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct StageList {
    /// The stages of this page.
    #[builder(default)]
    pub stages: Vec<StageListItem>,
    /// Stages the server manages in all.
    pub total_stages: u32,
    /// Pass as `nextToken` to get the next page; `null` on the last page.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next_token: Option<String>,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// A stage as IVS describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct StageDetail {
    /// The stage ARN.
    pub arn: StageArn,
    /// The stage name.
    pub name: String,
    /// The IVS session running on the stage (`st-...`), `null` when none.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub active_session_id: Option<String>,
    /// Its tags.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Tags))]
    #[builder(default)]
    pub tags: Tags,
}

/// Response data of `GET /api/stage/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct StageInfo {
    /// The stage.
    pub stage: StageDetail,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Present only when something needs an operator's attention, e.g. the
    /// publisher cannot be replicated into this stage (AWS backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_note: Option<String>,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stage/master/info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MasterStageInfo {
    /// The master stage.
    pub stage: StageDetail,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Always `true`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::AlwaysTrue))]
    #[builder(default = true)]
    pub is_master: bool,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Body of `POST /api/stage`.
///
/// ```
/// use ivs_api::{CreateStageRequest, Tags};
/// let request = CreateStageRequest::new("event-2025")
///     .with_tags(Tags::from([("Team".into(), "live".into())]));
/// assert_eq!(
///     serde_json::to_string(&request).unwrap(),
///     r#"{"name":"event-2025","tags":{"Team":"live"}}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// The schema says what the doc says, without its Rust example.
#[cfg_attr(
    feature = "openapi",
    schema(description = "Body of `POST /api/stage`.")
)]
#[non_exhaustive]
pub struct CreateStageRequest {
    /// Stage name: 1 to 128 of `[a-zA-Z0-9-_]`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::StageName))]
    pub name: String,
    /// Extra tags; the server adds `Environment` and `ManagedBy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::ExtraTags>))]
    pub tags: Option<Tags>,
}

impl CreateStageRequest {
    /// A request for a stage named `name`, with no extra tags.
    pub fn new(name: impl Into<String>) -> Self {
        CreateStageRequest {
            name: name.into(),
            tags: None,
        }
    }

    /// Adds extra tags (at most 47: IVS allows 50 and the server adds its own).
    pub fn with_tags(mut self, tags: Tags) -> Self {
        self.tags = Some(tags);
        self
    }
}

/// A stage in the create response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct CreatedStageDetail {
    /// The new stage's ARN.
    pub arn: StageArn,
    /// Its name.
    pub name: String,
    /// Its tags, the server's included.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Tags))]
    #[builder(default)]
    pub tags: Tags,
}

/// Response data of `POST /api/stage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct CreatedStage {
    /// The new stage.
    pub stage: CreatedStageDetail,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Body of `PUT /api/stage/:stageArn`.
///
/// ```
/// use ivs_api::UpdateStageRequest;
/// let request = UpdateStageRequest::new("renamed");
/// assert_eq!(serde_json::to_string(&request).unwrap(), r#"{"name":"renamed"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// The schema says what the doc says, without its Rust example.
#[cfg_attr(
    feature = "openapi",
    schema(description = "Body of `PUT /api/stage/:stageArn`.")
)]
#[non_exhaustive]
pub struct UpdateStageRequest {
    /// The new name: 1 to 128 of `[a-zA-Z0-9-_]`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::StageName))]
    pub name: String,
}

impl UpdateStageRequest {
    /// A request to rename a stage to `name`.
    pub fn new(name: impl Into<String>) -> Self {
        UpdateStageRequest { name: name.into() }
    }
}

/// A stage in the update response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct UpdatedStageDetail {
    /// The stage ARN.
    pub arn: StageArn,
    /// Its new name.
    pub name: String,
}

/// Response data of `PUT /api/stage/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct UpdatedStage {
    /// The renamed stage.
    pub stage: UpdatedStageDetail,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response of `DELETE /api/stage/:stageArn` (not wrapped in an envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct DeletedStage {
    /// Always `true`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::AlwaysTrue))]
    #[builder(default = true)]
    pub success: bool,
    /// `"Stage 已刪除"` ("stage deleted").
    pub message: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
}
