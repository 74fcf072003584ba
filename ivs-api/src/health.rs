//! `GET /health`.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// `GET /health`. Not wrapped in an envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct Health {
    /// `"ok"` when every dependency answers, `"degraded"` otherwise.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::HealthStatus))]
    pub status: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
    /// Seconds since the server started.
    pub uptime: u64,
    /// State of each dependency.
    pub services: HealthServices,
}

/// The dependencies reported by `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct HealthServices {
    /// `"connected"`, `"disconnected"`, or `"embedded"` for the in-process store.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RedisState))]
    pub redis: String,
    /// `"ready"`, `"unreachable"`, or `"local"` for the embedded emulator.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::IvsState))]
    pub ivs: String,
}
