//! The crate's error types.
//!
//! # How errors print
//!
//! Every error's `Display` is meant to be enough on its own, for a log line
//! written with `{}` (or `tracing`'s `%e`), which never shows the causes:
//!
//! - an [`ApiError`] shows the status, the API's code and the server's
//!   English `details` first, then its (Chinese) `message` and the request
//!   id: `ivs-server answered 400 VALIDATION_ERROR: userId is required
//!   (缺少必填參數: userId) [request 5f0c2a9e41d3b7a8-1]`;
//! - a [`TransportError`] names what failed and its root cause: `transport
//!   error: could not connect: Connection refused (os error 111)`.
//!
//! [`TransportError`] and [`WebSocketError`] also return the underlying
//! library's error as their [`source`](std::error::Error::source), so code
//! can walk the whole chain. Reporters that print the chain (`anyhow`'s
//! `{:#}` and `{:?}`, `eyre`) therefore show the root cause twice: in the
//! first line and again at the end of the chain. That is deliberate: the
//! first line is what most logs keep.

use std::fmt;
use std::time::{Duration, Instant};

use crate::model::ErrorCode;

/// Everything that can go wrong talking to ivs-server.
///
/// Match on [`Error::code`] for the API's machine-readable codes, or use
/// [`Error::is_retryable`] to decide whether trying again later may help.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// use ivs_client::{Client, Error, ErrorCode, StageArn};
///
/// let client = Client::new(base_url, api_key)?;
/// let unknown: StageArn = "arn:aws:ivs:ap-northeast-1:123456789012:stage/noSuchStage1".parse()?;
/// let Err(err) = client.stages().get(&unknown).await else {
///     unreachable!("no such stage")
/// };
/// match &err {
///     Error::Api(api) if api.code() == &ErrorCode::StageFull => println!("full, try later"),
///     Error::Api(api) => println!("{} (request {:?})", api.details(), api.request_id()),
///     other => println!("{other}"),
/// }
/// assert!(err.is_not_found());
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status and (usually) the API's
    /// error body `{"error", "message", "details"}`; see [`ApiError`].
    #[error(transparent)]
    Api(ApiError),
    /// The request could not be sent or its answer could not be read
    /// (DNS, connection refused, TLS, connection reset).
    #[error(transparent)]
    Transport(TransportError),
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
            Error::Api(api) => Some(api.code()),
            Error::ServerMessage { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(api) => Some(api.status()),
            Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(api) => api.retry_after(),
            _ => None,
        }
    }

    /// The request id of the failed request: the one the server answered
    /// with in `x-request-id`, else the one the client sent. `None` for
    /// errors where no request was made or its id is not kept.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(api) => api.request_id(),
            Error::Transport(t) => t.request_id(),
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
            Error::Api(api) => {
                matches!(api.status(), 429 | 502 | 503 | 504)
                    && !matches!(
                        api.code(),
                        ErrorCode::StageFull | ErrorCode::StageLimitReached
                    )
            }
            _ => false,
        }
    }

    /// Whether the server says the resource (stage, viewer) does not exist:
    /// a 404 with the API's own error body and code `NOT_FOUND`.
    ///
    /// A 404 without the API's body (a proxy's or load balancer's page, a
    /// wrong base URL) is not: it says nothing about the resource.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Api(api) => api.is_api_body() && api.code() == &ErrorCode::NotFound,
            _ => false,
        }
    }

    /// Whether the request certainly never reached the server's handler:
    /// the connection could not be made, or the server rate-limited it (429).
    /// Only such failures are retried for requests that are not idempotent.
    pub(crate) fn server_did_not_act(&self) -> bool {
        match self {
            Error::Transport(e) => e.is_connect(),
            Error::Api(api) => api.status() == 429,
            _ => false,
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error, request_id: Option<&str>) -> Self {
        // A connect timeout stays a Transport error so that it keeps counting
        // as "the server cannot have acted".
        if e.is_timeout() && !e.is_connect() {
            Error::Timeout
        } else {
            Error::Transport(TransportError {
                inner: e.without_url(),
                request_id: request_id.map(Box::from),
            })
        }
    }
}

/// The server's error answer: status, the API's code, its messages, and what
/// came with them (request id, `Retry-After`, rate-limit state).
///
/// Opaque, so that it can carry more in later versions without breaking
/// code that reads it.
///
/// `Display` puts the server's English [`details`](Self::details) first and
/// its [`message`](Self::message) (Chinese, as the API's specification
/// has it) after, then the request id:
/// `ivs-server answered 404 NOT_FOUND: viewer viewer-001 is not counted on
/// the stage (觀眾不存在) [request 5f0c2a9e41d3b7a8-1]`.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ApiErrorInner>);

#[derive(Debug, Clone)]
struct ApiErrorInner {
    status: u16,
    code: ErrorCode,
    message: String,
    details: String,
    api_body: bool,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    rate_limit: Option<RateLimit>,
}

impl ApiError {
    /// An answer with the API's error body.
    pub(crate) fn new(status: u16, code: ErrorCode, message: String, details: String) -> Self {
        ApiError(Box::new(ApiErrorInner {
            status,
            code,
            message,
            details,
            api_body: true,
            retry_after: None,
            request_id: None,
            rate_limit: None,
        }))
    }

    /// An answer without the API's body (a proxy's page): the code comes
    /// from the status and the message is the start of the body.
    pub(crate) fn without_api_body(status: u16, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let message = text.trim().chars().take(MAX_ERROR_TEXT).collect();
        let mut e = ApiError::new(status, code_for_status(status), message, String::new());
        e.0.api_body = false;
        e
    }

    /// The answer parsed as the API's body if it is one, else as a foreign body.
    pub(crate) fn from_body(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<crate::model::ErrorBody>(body) {
            Ok(b) => ApiError::new(status, b.error, b.message, b.details),
            Err(_) => ApiError::without_api_body(status, body),
        }
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.0.retry_after = retry_after;
        self
    }

    pub(crate) fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.0.request_id = request_id;
        self
    }

    pub(crate) fn with_rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.0.rate_limit = rate_limit;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// The API's error code; derived from the status when the body was not
    /// the API's (see [`is_api_body`](Self::is_api_body)).
    pub fn code(&self) -> &ErrorCode {
        &self.0.code
    }

    /// The server's message (the API's messages are Chinese). When the
    /// body was not the API's, its start (512 characters at most).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The server's English detail (which field, which limit); empty when
    /// it sent none.
    pub fn details(&self) -> &str {
        &self.0.details
    }

    /// Whether the body was the API's own error body. `false` for an
    /// answer from something in between (a proxy's HTML page, say): its
    /// [`code`](Self::code) is only a guess from the status.
    pub fn is_api_body(&self) -> bool {
        self.0.api_body
    }

    /// The server's `Retry-After` in seconds, when it sent one (429, 503).
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The request id: the one the server answered with in `x-request-id`,
    /// else the one the client sent. Quote it when reporting a problem to
    /// the server's operators: their logs carry it.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// The rate-limit state the answer carried (`RateLimit-*` headers), e.g.
    /// on a 429.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.0.rate_limit
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if !e.api_body {
            write!(
                f,
                "HTTP {} without the API's error body (from a proxy?)",
                e.status
            )?;
            if !e.message.is_empty() {
                write!(f, ": {}", e.message)?;
            }
        } else {
            write!(f, "ivs-server answered {} {}", e.status, e.code)?;
            match (e.details.is_empty(), e.message.is_empty()) {
                (true, true) => {}
                (true, false) => write!(f, ": {}", e.message)?,
                (false, true) => write!(f, ": {}", e.details)?,
                (false, false) if e.details == e.message => write!(f, ": {}", e.details)?,
                (false, false) => write!(f, ": {} ({})", e.details, e.message)?,
            }
        }
        if let Some(id) = &e.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The rate-limit state the server reported (`RateLimit-Limit`,
/// `RateLimit-Remaining`, `RateLimit-Reset` on every authenticated answer).
///
/// [`Client::rate_limit`](crate::Client::rate_limit) gives the last one seen;
/// an [`ApiError`] carries the one its answer had.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// # let client = ivs_client::Client::new(base_url, api_key)?;
/// client.stats().overall().await?;
/// if let Some(rate) = client.rate_limit() {
///     if rate.remaining() == 0 {
///         println!("out of requests for {:?}", rate.reset_at().saturating_duration_since(std::time::Instant::now()));
///     }
/// #   assert!(rate.limit() > 0);
/// }
/// # assert!(client.rate_limit().is_some(), "an authenticated answer carries RateLimit-*");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    limit: u64,
    remaining: u64,
    reset: Duration,
    observed_at: Instant,
}

impl RateLimit {
    /// From the three headers; `None` unless all three are there and numbers.
    pub(crate) fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Self> {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(RateLimit {
            limit: number("ratelimit-limit")?,
            remaining: number("ratelimit-remaining")?,
            reset: Duration::from_secs(number("ratelimit-reset")?),
            observed_at: Instant::now(),
        })
    }

    /// Requests per minute the API key may make (`RateLimit-Limit`).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Requests left in the current burst (`RateLimit-Remaining`).
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// How long after [`observed_at`](Self::observed_at) the allowance is
    /// full again (`RateLimit-Reset`).
    pub fn reset(&self) -> Duration {
        self.reset
    }

    /// When the answer carrying this state arrived.
    pub fn observed_at(&self) -> Instant {
        self.observed_at
    }

    /// When the allowance is full again: [`observed_at`](Self::observed_at)
    /// plus [`reset`](Self::reset).
    pub fn reset_at(&self) -> Instant {
        self.observed_at + self.reset
    }
}

/// A request that could not be sent, or whose answer could not be read.
///
/// Opaque so that the HTTP library can change without breaking this
/// crate's API. `Display` names what failed and the innermost cause
/// (`could not connect: Connection refused (os error 111)`);
/// [`source`](std::error::Error::source) gives the whole chain (see the
/// note on printing in [`Error`]).
pub struct TransportError {
    inner: reqwest::Error,
    request_id: Option<Box<str>>,
}

impl TransportError {
    /// Whether the connection could not be made (DNS, refused, TLS
    /// handshake, connect timeout): the request never reached the server.
    pub fn is_connect(&self) -> bool {
        self.inner.is_connect()
    }

    /// The request id the client sent with the request.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// What failed, in a few words.
    fn what(&self) -> &'static str {
        let e = &self.inner;
        if e.is_connect() {
            "could not connect"
        } else if e.is_timeout() {
            "timed out"
        } else if e.is_body() || e.is_decode() {
            "could not read the answer"
        } else if e.is_request() {
            "could not send the request"
        } else {
            "HTTP client error"
        }
    }
}

/// The innermost error of `e`'s source chain (`e` itself when it has none).
fn root_cause<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("inner", &self.inner)
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transport error: {}: {}",
            self.what(),
            root_cause(&self.inner)
        )
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner)
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

/// How much of a body that is not the API's is kept as the message.
const MAX_ERROR_TEXT: usize = 512;

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
pub(crate) fn api(status: u16, code: ErrorCode) -> Error {
    Error::Api(ApiError::new(status, code, String::new(), String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn display_puts_the_english_details_first() {
        let body = r#"{"error":"VALIDATION_ERROR","message":"缺少必填參數: userId","details":"userId is required"}"#.as_bytes();
        let e = Error::Api(ApiError::from_body(400, body).with_request_id(Some("r-1".into())));
        assert_eq!(
            e.to_string(),
            "ivs-server answered 400 VALIDATION_ERROR: userId is required (缺少必填參數: userId) [request r-1]"
        );
        assert_eq!(e.request_id(), Some("r-1"));

        let no_details = r#"{"error":"NOT_FOUND","message":"Stage 不存在"}"#.as_bytes();
        let e = Error::Api(ApiError::from_body(404, no_details));
        assert_eq!(
            e.to_string(),
            "ivs-server answered 404 NOT_FOUND: Stage 不存在"
        );
        assert!(e.is_not_found());
    }

    #[test]
    fn a_foreign_404_is_not_the_api_saying_not_found() {
        let e = Error::Api(ApiError::from_body(
            404,
            b"<html><h1>404 Not Found</h1></html>\n",
        ));
        assert_eq!(e.code(), Some(&ErrorCode::NotFound));
        assert!(!e.is_not_found());
        let Error::Api(api) = &e else { unreachable!() };
        assert!(!api.is_api_body());
        assert_eq!(
            e.to_string(),
            "HTTP 404 without the API's error body (from a proxy?): <html><h1>404 Not Found</h1></html>"
        );
    }

    #[test]
    fn rate_limit_needs_all_three_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("ratelimit-limit", "600".parse().unwrap());
        h.insert("ratelimit-remaining", "17".parse().unwrap());
        assert_eq!(RateLimit::from_headers(&h), None);
        h.insert("ratelimit-reset", "3".parse().unwrap());
        let rate = RateLimit::from_headers(&h).unwrap();
        assert_eq!((rate.limit(), rate.remaining()), (600, 17));
        assert_eq!(rate.reset_at() - rate.observed_at(), Duration::from_secs(3));
    }

    #[test]
    fn error_stays_small() {
        // Every `Result<_, Error>` carries it; clippy's result_large_err
        // warns from 128 bytes.
        assert!(
            std::mem::size_of::<Error>() <= 64,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
