//! Messages on the `/ws` WebSocket.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, Timestamp};

/// The payload of a `stats_update` message on `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
