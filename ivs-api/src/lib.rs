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
//! deserialised.
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

pub use envelope::Envelope;
pub use error::{ErrorBody, ErrorCode};
pub use health::{Health, HealthServices};
pub use ids::{IdError, StageArn, UserId, IVS_USER_ID_MAX, STAGE_ARN_MAX, STAGE_ID_MAX};
pub use stages::{
    CreateStageRequest, CreatedStage, CreatedStageDetail, DeletedStage, MasterStageInfo,
    StageDetail, StageInfo, StageList, StageListItem, Tags, UpdateStageRequest, UpdatedStage,
    UpdatedStageDetail,
};
pub use stats::{
    PublisherStatus, StageStats, StageStatsDetail, StageStatsInfo, StageStatsList, Stats,
    ViewerStats,
};
pub use time::Timestamp;
pub use tokens::{Attributes, Capability, PublisherToken, TokenRequest, ViewerToken};
pub use viewers::{Heartbeat, Viewer, ViewerList, ViewerRef, WatchDuration};
pub use ws::{ClientMessage, ServerMessage, StatsUpdate};
