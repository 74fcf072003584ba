//! The API's error body and its codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, bon::Builder)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[builder(on(String, into))]
#[non_exhaustive]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// More detail (which field, which limit).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[builder(default)]
    pub details: String,
}
