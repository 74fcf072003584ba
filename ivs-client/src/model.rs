//! Wire types: every request and response body of the ivs-server API.
//!
//! These are the single definition of the protocol. `ivs-server` serialises
//! exactly these types, and the client deserialises them, so the two sides
//! cannot drift apart. Field names follow the API's camelCase JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Free-form participant attributes (IVS allows string values only, 1 KB in all).
pub type Attributes = BTreeMap<String, String>;

/// Stage tags (IVS tag keys and values are strings).
pub type Tags = BTreeMap<String, String>;

/// A point in time, written on the wire as RFC 3339 with milliseconds and a
/// `Z` suffix (`2025-10-19T12:00:00.000Z`), as in the API's examples.
///
/// ```
/// use ivs_client::model::Timestamp;
/// let t: Timestamp = serde_json::from_str("\"2025-10-19T12:00:00.000Z\"").unwrap();
/// assert_eq!(serde_json::to_string(&t).unwrap(), "\"2025-10-19T12:00:00.000Z\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(Utc::now())
    }

    /// Milliseconds since the Unix epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(DateTime::from_timestamp_millis(ms).unwrap_or_default())
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Timestamp(value)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DateTime::<Utc>::deserialize(deserializer).map(Timestamp)
    }
}

/// The error codes of the API's error body (`{"error": CODE, ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: a request parameter failed validation.
    ValidationError,
    /// 401: the API key is missing or invalid.
    Unauthorized,
    /// 403: the operation is not allowed (e.g. deleting the master stage).
    Forbidden,
    /// 404: the resource does not exist.
    NotFound,
    /// 429: the API key's rate limit is exhausted.
    TooManyRequests,
    /// 503: every stage is full and no new one can be made right now.
    StageFull,
    /// 503: the stage count limit is reached.
    StageLimitReached,
    /// 500: the participant token could not be created.
    TokenGenerationFailed,
    /// 500: an unexpected server error.
    InternalError,
    /// 503: a dependency (Redis, IVS) is unavailable.
    ServiceUnavailable,
    /// A code this version of the crate does not know.
    Other(String),
}

impl ErrorCode {
    /// The code as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::TooManyRequests => "TOO_MANY_REQUESTS",
            ErrorCode::StageFull => "STAGE_FULL",
            ErrorCode::StageLimitReached => "STAGE_LIMIT_REACHED",
            ErrorCode::TokenGenerationFailed => "TOKEN_GENERATION_FAILED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorCode {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "VALIDATION_ERROR" => ErrorCode::ValidationError,
            "UNAUTHORIZED" => ErrorCode::Unauthorized,
            "FORBIDDEN" => ErrorCode::Forbidden,
            "NOT_FOUND" => ErrorCode::NotFound,
            "TOO_MANY_REQUESTS" => ErrorCode::TooManyRequests,
            "STAGE_FULL" => ErrorCode::StageFull,
            "STAGE_LIMIT_REACHED" => ErrorCode::StageLimitReached,
            "TOKEN_GENERATION_FAILED" => ErrorCode::TokenGenerationFailed,
            "INTERNAL_ERROR" => ErrorCode::InternalError,
            "SERVICE_UNAVAILABLE" => ErrorCode::ServiceUnavailable,
            other => ErrorCode::Other(other.to_owned()),
        })
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(s.parse().unwrap_or(ErrorCode::Other(s)))
    }
}

/// The API's error body: `{"error": CODE, "message": ..., "details": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// More detail (which field, which limit).
    #[serde(default)]
    pub details: String,
}

/// The success envelope: `{"success": true, "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Always `true` for a success body.
    pub success: bool,
    /// The payload.
    pub data: T,
}

impl<T> Envelope<T> {
    /// Wraps a payload in a success envelope.
    pub fn ok(data: T) -> Self {
        Envelope {
            success: true,
            data,
        }
    }
}

/// What a participant token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Capability {
    /// Send audio and video to the stage.
    Publish,
    /// Receive the stage's media.
    Subscribe,
}

// ---------------------------------------------------------------- health

/// `GET /health`. Not wrapped in an envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `"ok"` when every dependency answers, `"degraded"` otherwise.
    pub status: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
    /// Seconds since the server started.
    pub uptime: u64,
    /// State of each dependency.
    pub services: HealthServices,
}

/// The dependencies reported by `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthServices {
    /// `"connected"`, `"disconnected"`, or `"embedded"` for the in-process store.
    pub redis: String,
    /// `"ready"`, `"unreachable"`, or `"local"` for the embedded emulator.
    pub ivs: String,
}

// ---------------------------------------------------------------- tokens

/// Body of `POST /api/token/publisher` and `POST /api/token/viewer`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    /// The caller's unique id (1 to 128 characters).
    pub user_id: String,
    /// Custom attributes carried in the token (string values, 1 KB in all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// Publisher only: the stage to publish to (default: the master stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_arn: Option<String>,
}

impl TokenRequest {
    /// A request for `user_id` with no attributes.
    pub fn new(user_id: impl Into<String>) -> Self {
        TokenRequest {
            user_id: user_id.into(),
            ..Default::default()
        }
    }

    /// Adds custom attributes.
    pub fn with_attributes(mut self, attributes: Attributes) -> Self {
        self.attributes = Some(attributes);
        self
    }
}

/// Response data of `POST /api/token/publisher`.
///
/// Its `Debug` output leaves the token out: tokens must not reach logs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublisherToken {
    /// The IVS participant token (a JWT); hand it to the IVS broadcast SDK.
    pub token: String,
    /// The IVS participant id.
    pub participant_id: String,
    /// The stage to publish to.
    pub stage_arn: String,
    /// The IVS user id: `"broadcaster-" + userId`.
    pub user_id: String,
    /// When the token expires.
    pub expires_at: Timestamp,
    /// `["PUBLISH"]`.
    pub capabilities: Vec<Capability>,
    /// The attributes carried in the token.
    pub attributes: Attributes,
}

/// Response data of `POST /api/token/viewer`.
///
/// Its `Debug` output leaves the token out: tokens must not reach logs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewerToken {
    /// The IVS participant token (a JWT); hand it to the IVS player.
    pub token: String,
    /// The IVS participant id.
    pub participant_id: String,
    /// The stage the viewer was assigned to.
    pub stage_arn: String,
    /// The IVS user id: `"viewer-" + userId`.
    pub user_id: String,
    /// When the token expires.
    pub expires_at: Timestamp,
    /// `["SUBSCRIBE"]`.
    pub capabilities: Vec<Capability>,
    /// Viewers on the assigned stage, this one included.
    pub current_viewers: u32,
    /// The attributes carried in the token.
    pub attributes: Attributes,
}

impl fmt::Debug for PublisherToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherToken")
            .field("token", &"<redacted>")
            .field("participant_id", &self.participant_id)
            .field("stage_arn", &self.stage_arn)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("capabilities", &self.capabilities)
            .field("attributes", &self.attributes)
            .finish()
    }
}

impl fmt::Debug for ViewerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ViewerToken")
            .field("token", &"<redacted>")
            .field("participant_id", &self.participant_id)
            .field("stage_arn", &self.stage_arn)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("capabilities", &self.capabilities)
            .field("current_viewers", &self.current_viewers)
            .field("attributes", &self.attributes)
            .finish()
    }
}

// ---------------------------------------------------------------- stages

/// One stage in `GET /api/stage/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageListItem {
    /// The stage ARN.
    pub stage_arn: String,
    /// The stage name.
    pub name: String,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Whether the server created it to absorb viewers.
    pub auto_scaled: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its tags.
    pub tags: Tags,
}

/// Response data of `GET /api/stage/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageList {
    /// The stages of this page.
    pub stages: Vec<StageListItem>,
    /// Stages the server manages in all.
    pub total_stages: u32,
    /// Pass as `nextToken` to get the next page; `null` on the last page.
    pub next_token: Option<String>,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// A stage as IVS describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageDetail {
    /// The stage ARN.
    pub arn: String,
    /// The stage name.
    pub name: String,
    /// The IVS session running on the stage (`st-...`), `null` when none.
    pub active_session_id: Option<String>,
    /// Its tags.
    pub tags: Tags,
}

/// Response data of `GET /api/stage/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MasterStageInfo {
    /// The master stage.
    pub stage: StageDetail,
    /// Viewers counted on it now.
    pub viewer_count: u32,
    /// Always `true`.
    pub is_master: bool,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Body of `POST /api/stage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateStageRequest {
    /// Stage name: 1 to 128 of `[a-zA-Z0-9-_]`.
    pub name: String,
    /// Extra tags; the server adds `Environment` and `ManagedBy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// A stage in the create response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedStageDetail {
    /// The new stage's ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its tags, the server's included.
    pub tags: Tags,
}

/// Response data of `POST /api/stage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedStage {
    /// The new stage.
    pub stage: CreatedStageDetail,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Body of `PUT /api/stage/:stageArn`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStageRequest {
    /// The new name: 1 to 128 of `[a-zA-Z0-9-_]`.
    pub name: String,
}

/// A stage in the update response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatedStageDetail {
    /// The stage ARN.
    pub arn: String,
    /// Its new name.
    pub name: String,
}

/// Response data of `PUT /api/stage/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatedStage {
    /// The renamed stage.
    pub stage: UpdatedStageDetail,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response of `DELETE /api/stage/:stageArn` (not wrapped in an envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedStage {
    /// Always `true`.
    pub success: bool,
    /// `"Stage 已刪除"` ("stage deleted").
    pub message: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

// ---------------------------------------------------------------- viewers

/// Body of `POST /api/viewer/heartbeat` and `POST /api/viewer/leave`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewerRef {
    /// The viewer's id, as sent when it asked for its token.
    pub user_id: String,
    /// The stage it was assigned to.
    pub stage_arn: String,
}

impl ViewerRef {
    /// A reference to `user_id` on `stage_arn`.
    pub fn new(user_id: impl Into<String>, stage_arn: impl Into<String>) -> Self {
        ViewerRef {
            user_id: user_id.into(),
            stage_arn: stage_arn.into(),
        }
    }
}

/// Response data of `POST /api/viewer/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    /// The viewer.
    pub user_id: String,
    /// Its stage.
    pub stage_arn: String,
    /// When the server recorded this heartbeat.
    pub last_heartbeat: Timestamp,
}

/// Response data of `POST /api/viewer/leave` and `GET /api/viewer/duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchDuration {
    /// The viewer.
    pub user_id: String,
    /// Its stage.
    pub stage_arn: String,
    /// Seconds watched.
    pub watch_duration: u64,
    /// The same, as `"30分 50秒"`.
    pub watch_duration_formatted: String,
}

/// One viewer in `GET /api/viewer/list/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Viewer {
    /// The viewer's id.
    pub user_id: String,
    /// The IVS participant id of its latest token.
    pub participant_id: String,
    /// When it joined.
    pub joined_at: Timestamp,
    /// Its latest heartbeat (the join counts as one).
    pub last_heartbeat: Timestamp,
}

/// Response data of `GET /api/viewer/list/:stageArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewerList {
    /// The stage.
    pub stage_arn: String,
    /// Its viewers.
    pub viewers: Vec<Viewer>,
    /// How many.
    pub total_viewers: u32,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

// ---------------------------------------------------------------- stats

/// One stage in the statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageStats {
    /// The stage ARN.
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
    pub tags: Option<Tags>,
}

/// Response data of `GET /api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[serde(rename_all = "camelCase")]
pub struct ViewerStats {
    /// Viewers on every stage, summed now.
    pub total_viewers: u32,
    /// `"real-time sum"`.
    pub calculated_from: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

/// Response data of `GET /api/stats/stages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[serde(rename_all = "camelCase")]
pub struct StageStatsDetail {
    /// The stage ARN.
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
#[serde(rename_all = "camelCase")]
pub struct PublisherStatus {
    /// Whether the publisher is live.
    pub is_live: bool,
    /// When the answer was made.
    pub timestamp: Timestamp,
}

// ---------------------------------------------------------------- websocket

/// The payload of a `stats_update` message on `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsUpdate {
    /// Viewers on every stage, summed now.
    pub viewer_count: u32,
    /// Stages the server manages.
    pub active_stages: u32,
    /// When the numbers were taken.
    pub timestamp: Timestamp,
}

/// A message a client sends on `/ws`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// Start receiving a channel's updates (the only channel is `"stats"`).
    Subscribe {
        /// The channel.
        channel: String,
    },
    /// Stop receiving a channel's updates.
    Unsubscribe {
        /// The channel.
        channel: String,
    },
    /// Asks for a `pong`.
    Ping,
}

/// A message the server sends on `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// Sent every 5 seconds (and once at subscription) to `stats` subscribers.
    StatsUpdate {
        /// The numbers.
        data: StatsUpdate,
    },
    /// Answers a `ping`.
    Pong,
    /// The client's message was not understood; the connection stays open.
    Error {
        /// Machine-readable code.
        error: ErrorCode,
        /// Human-readable message.
        message: String,
    },
}

/// Formats a watch duration as the API does: `"30分 50秒"`, `"1時 2分 3秒"`.
///
/// ```
/// assert_eq!(ivs_client::model::format_duration(1850), "30分 50秒");
/// assert_eq!(ivs_client::model::format_duration(5), "0分 5秒");
/// assert_eq!(ivs_client::model::format_duration(3723), "1時 2分 3秒");
/// ```
pub fn format_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if h > 0 {
        format!("{h}時 {m}分 {s}秒")
    } else {
        format!("{m}分 {s}秒")
    }
}
