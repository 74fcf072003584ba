//! Wire types: every request and response body of the ivs-server API.
//!
//! They are defined once, in the [`ivs_api`] crate, which `ivs-server`
//! serialises and this crate deserialises, so the two sides cannot drift
//! apart. This module re-exports what users of the client name; the success
//! envelope (`{"success": true, "data": …}`) is unwrapped by the client and
//! not part of this API.

pub use ivs_api::builders;
pub use ivs_api::{
    Attributes, Capability, ClientMessage, CreateStageRequest, CreatedStage, CreatedStageDetail,
    DeletedStage, ErrorBody, ErrorCode, Event, EventKind, Health, HealthServices, Heartbeat,
    IdError, MasterStageInfo, PublisherStatus, PublisherToken, RemovalReason, ServerMessage,
    StageArn, StageCreated, StageDetail, StageInfo, StageLimitReached, StageList, StageListItem,
    StageRef, StageRemoved, StageStats, StageStatsDetail, StageStatsList, Stats, StatsUpdate, Tags,
    Timestamp, TokenRequest, UpdateStageRequest, UpdatedStage, UpdatedStageDetail, UserId, Viewer,
    ViewerGone, ViewerJoined, ViewerList, ViewerRef, ViewerStats, ViewerToken, WatchDuration,
};
