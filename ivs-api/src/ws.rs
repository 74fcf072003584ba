//! Messages on the `/ws` WebSocket.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, Timestamp};

/// The payload of a `stats_update` message on `/ws`.
///
/// A test of your own (a fake server, a consumer of the stream) can make one
/// with its builder:
///
/// ```
/// use ivs_api::{StatsUpdate, Timestamp};
/// let update = StatsUpdate::builder()
///     .total_viewers(55)
///     .total_stages(2)
///     .timestamp(Timestamp::from_millis(1_760_875_200_000))
///     .build();
/// assert_eq!(
///     serde_json::to_string(&update).unwrap(),
///     r#"{"viewerCount":55,"activeStages":2,"timestamp":"2025-10-19T12:00:00.000Z"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// The schema says what the doc says, without its Rust example.
#[cfg_attr(
    feature = "openapi",
    schema(description = "The payload of a `stats_update` message on `/ws`.")
)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StatsUpdate {
    /// Viewers on every stage, summed now.
    #[serde(rename = "viewerCount")]
    pub total_viewers: u32,
    /// Stages the server manages.
    #[serde(rename = "activeStages")]
    pub total_stages: u32,
    /// When the numbers were taken.
    pub timestamp: Timestamp,
}

/// Response data of `POST /api/ws-ticket`: a single-use credential for one
/// `/ws` connection, passed as `/ws?ticket=…`, so that the API key never
/// appears in a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct WsTicket {
    /// The ticket (URL-safe text).
    pub ticket: String,
    /// Seconds left to open the WebSocket with it.
    pub expires_in: u32,
}

/// A message a client sends on `/ws`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// Start receiving a channel's messages: `"stats"` (a `stats_update`
    /// every few seconds) or `"events"` (an `event` per fleet event).
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
    /// A fleet event, sent to `events` subscribers as it happens.
    Event {
        /// The event, as webhooks deliver it.
        data: crate::Event,
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
