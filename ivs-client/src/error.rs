//! The crate's error type.

use std::fmt;
use std::time::Duration;

use crate::model::ErrorCode;

/// Everything that can go wrong talking to ivs-server.
///
/// Match on [`Error::code`] for the API's machine-readable codes, or use
/// [`Error::is_retryable`] to decide whether trying again later may help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status and (usually) the API's
    /// error body `{"error", "message", "details"}`.
    ///
    /// When the body is not the API's JSON (a proxy's HTML page, say), `code`
    /// is derived from the status and `message` holds the start of the body.
    #[error("ivs-server answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error code.
        code: ErrorCode,
        /// Human-readable message from the server.
        message: String,
        /// More detail (which field, which limit); empty when the server sent none.
        details: String,
        /// The server's `Retry-After` header, when it sent one (429, 503).
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or its answer could not be read
    /// (DNS, connection refused, TLS, connection reset).
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// The request was sent but no complete answer arrived within the
    /// client's request timeout.
    #[error("request timed out")]
    Timeout,
    /// The WebSocket connection of the statistics stream failed.
    #[error("websocket error: {0}")]
    WebSocket(#[source] WebSocketError),
    /// The statistics stream's server sent an `error` message (the
    /// connection stays open).
    #[error("server message error {code}: {message}")]
    ServerMessage {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable message.
        message: String,
    },
    /// A success answer whose body is not what the API documents.
    #[error("could not decode the {status} answer: {source}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// The raw body, for diagnosis.
        body: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// The client was configured with an unusable value (bad URL, API key
    /// with characters a header cannot carry).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An id passed to a call breaks the API's rules (an empty or too long
    /// `userId`, a malformed stage ARN); nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(#[from] crate::model::IdError),
}

impl Error {
    /// The API error code, for [`Error::Api`] and [`Error::ServerMessage`].
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api { code, .. } | Error::ServerMessage { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Decode { status, .. } => Some(*status),
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the same request may succeed if sent again shortly: transport
    /// failures, timeouts, 429 and 502/503/504.
    ///
    /// `STAGE_FULL` and `STAGE_LIMIT_REACHED` (both 503) are not retryable:
    /// they describe capacity, which does not come back within a retry's
    /// few seconds.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport(_) | Error::Timeout => true,
            Error::Api { status, code, .. } => {
                matches!(status, 429 | 502 | 503 | 504)
                    && !matches!(code, ErrorCode::StageFull | ErrorCode::StageLimitReached)
            }
            _ => false,
        }
    }

    /// Whether the server says the resource (stage, viewer) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self.code(), Some(ErrorCode::NotFound))
    }

    /// Whether the request certainly never reached the server's handler:
    /// the connection could not be made, or the server rate-limited it (429).
    /// Only such failures are retried for requests that are not idempotent.
    pub(crate) fn server_did_not_act(&self) -> bool {
        match self {
            Error::Transport(e) => e.is_connect(),
            Error::Api { status, .. } => *status == 429,
            _ => false,
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        // A connect timeout stays a Transport error so that it keeps counting
        // as "the server cannot have acted".
        if e.is_timeout() && !e.is_connect() {
            Error::Timeout
        } else {
            Error::Transport(e.without_url())
        }
    }
}

/// A failure of the statistics stream's WebSocket connection.
///
/// Opaque so that the WebSocket library can change without breaking this
/// crate's API; its [`source`](std::error::Error::source) gives the detail.
pub struct WebSocketError(Box<tokio_tungstenite::tungstenite::Error>);

impl WebSocketError {
    pub(crate) fn new(e: tokio_tungstenite::tungstenite::Error) -> Self {
        WebSocketError(Box::new(e))
    }
}

impl fmt::Debug for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for WebSocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The error code a bare status stands for, when the body is not the API's.
pub(crate) fn code_for_status(status: u16) -> ErrorCode {
    match status {
        400 => ErrorCode::ValidationError,
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        429 => ErrorCode::TooManyRequests,
        500 => ErrorCode::InternalError,
        503 => ErrorCode::ServiceUnavailable,
        other => ErrorCode::Other(format!("HTTP_{other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: ErrorCode) -> Error {
        Error::Api {
            status,
            code,
            message: String::new(),
            details: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn retryable_classification() {
        assert!(api(503, ErrorCode::ServiceUnavailable).is_retryable());
        assert!(api(429, ErrorCode::TooManyRequests).is_retryable());
        assert!(api(502, code_for_status(502)).is_retryable());
        assert!(!api(503, ErrorCode::StageFull).is_retryable());
        assert!(!api(503, ErrorCode::StageLimitReached).is_retryable());
        assert!(!api(400, ErrorCode::ValidationError).is_retryable());
        assert!(!api(500, ErrorCode::InternalError).is_retryable());
        assert!(Error::Timeout.is_retryable());
        assert!(api(429, ErrorCode::TooManyRequests).server_did_not_act());
        assert!(!api(503, ErrorCode::ServiceUnavailable).server_did_not_act());
        assert!(!Error::Timeout.server_did_not_act());
    }

    #[test]
    fn status_codes_without_body() {
        assert_eq!(code_for_status(401), ErrorCode::Unauthorized);
        assert_eq!(code_for_status(504), ErrorCode::Other("HTTP_504".into()));
    }
}
