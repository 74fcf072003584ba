//! The wire model of the [ivs-server](https://github.com/ivs-realtime-rs/ivs-realtime)
//! API: every request and response body, the error body and its codes,
//! timestamps, and validated ids.
//!
//! This crate is the single definition of the protocol: `ivs-server`
//! serialises these types and `ivs-client` deserialises them (it re-exports
//! them as `ivs_client::model`), so the two sides cannot drift apart. It
//! depends on serde and chrono only, and is versioned by the protocol, not by
//! either side's code. Field names follow the API's camelCase JSON.
//!
//! Ids are parsed, not validated later: a [`StageArn`] or [`UserId`] that
//! exists has passed the API's rules, including while a request body is
//! deserialised. Responses carry them typed too: a [`ViewerToken`]'s
//! `stage_arn` is a [`StageArn`], ready to pass to the next call.
//!
//! # Names
//!
//! Rust field names follow one scheme, the AWS SDK's; where the JSON (fixed
//! by the spec) says otherwise, `#[serde(rename)]` keeps the wire as it is.
//!
//! - A type that *describes* a stage names its own fields `arn` and `name`
//!   ([`StageListItem`], [`StageStats`], [`StageStatsDetail`],
//!   [`StageDetail`]): `stage.arn`, `stage.name`, never `stage.stage_name`.
//! - A type that *refers* to a stage from something else (a token, a
//!   viewer, a heartbeat, a watch duration, a viewer list, a request) names
//!   it `stage_arn`.
//! - One stage's viewers are `viewer_count`; the whole fleet's are
//!   `total_viewers`, and the stages it manages `total_stages`
//!   ([`StatsUpdate`]'s `total_viewers` is the JSON `viewerCount`).
//! - Nesting follows meaning, not the JSON: [`StageStatsDetail`] is flat in
//!   Rust although its JSON has an `info` object.
//!
//! # Limits
//!
//! A `userId` has 1 to 121 bytes of UTF-8 ([`UserId::MAX_LEN`]), 116 for a
//! publisher ([`UserId::MAX_PUBLISHER_LEN`]): the server sends IVS
//! `viewer-<userId>` or `broadcaster-<userId>`, and IVS allows 128 bytes in
//! all. A stage name has 1 to 128 of `[a-zA-Z0-9-_]`.
//!
//! # Growth
//!
//! Every response type and every enum that may grow is `#[non_exhaustive]`,
//! so a field or a variant added by a later server is not a breaking change.
//! Read their fields as usual; to make one (in a test, a fake server) use its
//! builder, e.g. `StatsUpdate::builder()`. Request types have `new` with
//! the required fields and `with_*` for the optional ones.
//!
//! ```
//! use ivs_api::{TokenRequest, UserId};
//! let request = TokenRequest::new(UserId::new("viewer-001")?);
//! assert_eq!(
//!     serde_json::to_string(&request).unwrap(),
//!     r#"{"userId":"viewer-001"}"#
//! );
//! # Ok::<(), ivs_api::IdError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod envelope;
mod error;
mod events;
mod health;
mod ids;
#[cfg(feature = "openapi")]
mod openapi;
mod stages;
mod stats;
mod time;
mod tokens;
mod viewers;
mod ws;

/// The builders of the response types (`StatsUpdate::builder()` returns a
/// [`StatsUpdateBuilder`](builders::StatsUpdateBuilder)), for code that names
/// one. Required fields are checked when the code compiles: `build()` exists
/// only once each is set.
pub mod builders {
    pub use crate::error::ErrorBodyBuilder;
    pub use crate::events::{
        EventBuilder, StageCreatedBuilder, StageLimitReachedBuilder, StageRefBuilder,
        StageRemovedBuilder, ViewerGoneBuilder, ViewerJoinedBuilder,
    };
    pub use crate::health::{HealthBuilder, HealthServicesBuilder};
    pub use crate::stages::{
        CreatedStageBuilder, CreatedStageDetailBuilder, DeletedStageBuilder,
        MasterStageInfoBuilder, StageDetailBuilder, StageInfoBuilder, StageListBuilder,
        StageListItemBuilder, UpdatedStageBuilder, UpdatedStageDetailBuilder,
    };
    pub use crate::stats::{
        PublisherStatusBuilder, StageStatsBuilder, StageStatsDetailBuilder, StageStatsListBuilder,
        StatsBuilder, ViewerStatsBuilder,
    };
    pub use crate::tokens::{PublisherTokenBuilder, ViewerTokenBuilder};
    pub use crate::viewers::{
        HeartbeatBuilder, ViewerBuilder, ViewerListBuilder, WatchDurationBuilder,
    };
    pub use crate::ws::StatsUpdateBuilder;
    pub use crate::ws::WsTicketBuilder;
}

pub use envelope::Envelope;
pub use error::{ErrorBody, ErrorCode};
pub use events::{
    Event, EventKind, RemovalReason, StageCreated, StageLimitReached, StageRef, StageRemoved,
    ViewerGone, ViewerJoined,
};
pub use health::{Health, HealthServices};
pub use ids::{
    IdError, StageArn, UserId, IVS_USER_ID_MAX, PUBLISHER_PREFIX, STAGE_ARN_MAX, STAGE_ID_MAX,
    VIEWER_PREFIX,
};
pub use stages::{
    CreateStageRequest, CreatedStage, CreatedStageDetail, DeletedStage, MasterStageInfo,
    StageDetail, StageInfo, StageList, StageListItem, Tags, UpdateStageRequest, UpdatedStage,
    UpdatedStageDetail,
};
pub use stats::{
    PublisherStatus, StageStats, StageStatsDetail, StageStatsList, Stats, ViewerStats,
};
pub use time::Timestamp;
pub use tokens::{Attributes, Capability, PublisherToken, TokenRequest, ViewerToken};
pub use viewers::{Heartbeat, Viewer, ViewerList, ViewerRef, WatchDuration};
pub use ws::{ClientMessage, ServerMessage, StatsUpdate, WsTicket};
