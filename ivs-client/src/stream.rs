//! The live statistics stream over the `/ws` WebSocket.
//!
//! [`Client::stats_stream`] gives a [`StatsStream`]: a `Stream` of
//! [`StatsUpdate`]s (the server sends one every 5 s) that connects lazily on
//! first poll, subscribes to the `stats` channel, and reconnects and
//! resubscribes by itself after a dropped connection or a server restart.
//! Transient failures are logged, not yielded, so a plain
//! `while let Some(Ok(update))` loop survives them.
//!
//! # Reconnects
//!
//! - **Backoff**: attempts wait with exponential backoff and jitter (the
//!   client's [`RetryPolicy`](crate::RetryPolicy) delays, without an attempt
//!   limit). The backoff starts over only after a real `stats_update`: a
//!   proxy that accepts the WebSocket handshake and closes the connection at
//!   once (or a server that never sends an update) sees the waits grow to
//!   the policy's `max_delay`, not a reconnect every few hundred
//!   milliseconds.
//! - **Idle timeout**: a connection on which nothing at all arrives (no
//!   update, no ping) for the idle timeout is taken for dead — a half-open
//!   TCP connection after a NAT or load balancer dropped its state never
//!   reports an error — and replaced. The default,
//!   [`DEFAULT_IDLE_TIMEOUT`] (15 s), is three update intervals; change it
//!   with [`Client::stats_stream_builder`].
//! - **`Retry-After`**: a handshake refused with 429 or 503 and
//!   `Retry-After: <seconds>` waits at least that long (capped by the
//!   policy's `max_delay`, plus jitter, as for requests; see
//!   [`retry`](crate::retry)) before the next attempt.
//! - The handshake sends an `x-request-id` of its own, and a refusal's
//!   [`Error::Api`] carries the id the server answered with.
//!
//! Items that are errors:
//! - a server `error` message: [`Error::ServerMessage`]; the stream goes on;
//! - a handshake the server refuses for good (401, 403 or another 4xx other
//!   than 408/429): [`Error::Api`] with the status and code, and the stream
//!   ends — a wrong API key does not make it retry forever.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::{API_KEY_HEADER, Answer, REQUEST_ID_HEADER, new_request_id};
use crate::error::WebSocketError;
use crate::model::{ClientMessage, ServerMessage, StatsUpdate};
use crate::{Client, Error};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connection may stay silent before the stream replaces it:
/// three of the server's 5 s update intervals.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Configures a [`StatsStream`]; get one with [`Client::stats_stream_builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// # let client = ivs_client::Client::new(base_url, api_key)?;
/// use std::time::Duration;
///
/// // A server configured with 10 s updates: allow three of them.
/// let mut stats = client
///     .stats_stream_builder()
///     .idle_timeout(Duration::from_secs(30))
///     .build();
/// # assert!(stats.next().await.is_some_and(|update| update.is_ok()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StatsStreamBuilder {
    client: Client,
    idle_timeout: Duration,
}

impl StatsStreamBuilder {
    /// How long a connection may stay silent (no update, no ping) before
    /// it is dropped and replaced (default [`DEFAULT_IDLE_TIMEOUT`], 15 s).
    /// Keep it a few of the server's update intervals.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        // Zero would drop every connection before its first message.
        self.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The stream. Nothing connects until it is first polled.
    pub fn build(self) -> StatsStream {
        let client = self.client;
        let idle_timeout = self.idle_timeout;
        let url = ws_url(client.base_url());
        let start = State::Connect {
            attempt: 0,
            retry_after: None,
        };
        let inner = futures_util::stream::unfold(start, move |state| {
            let client = client.clone();
            let url = url.clone();
            async move { step(&client, &url, idle_timeout, state).await }
        });
        StatsStream {
            inner: Box::pin(inner),
        }
    }
}

/// Live statistics; see the [module docs](crate::stream).
///
/// Read it with [`next`](Self::next), or with the
/// [`StreamExt`] combinators (it is a [`Stream`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// # let client = ivs_client::Client::new(base_url, api_key)?;
/// let mut stats = client.stats_stream();
/// while let Some(item) = stats.next().await {
///     match item {
///         Ok(update) => println!("{} viewers on {} stages", update.total_viewers, update.total_stages),
///         Err(e) => eprintln!("stats stream: {e}"),
///     }
///     # // The stream never ends by itself: the first update is enough here.
///     # break;
/// }
/// # Ok(()) }
/// ```
pub struct StatsStream {
    inner: Pin<Box<dyn Stream<Item = Result<StatsUpdate, Error>> + Send>>,
}

impl std::fmt::Debug for StatsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsStream").finish_non_exhaustive()
    }
}

impl StatsStream {
    /// The next update or error; `None` once the stream has ended (after a
    /// refused handshake).
    pub async fn next(&mut self) -> Option<Result<StatsUpdate, Error>> {
        self.inner.next().await
    }
}

impl Stream for StatsStream {
    type Item = Result<StatsUpdate, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

enum State {
    /// Connect after `attempt` failures in a row (0: at once), waiting at
    /// least what the last refusal's `Retry-After` asked.
    Connect {
        attempt: u32,
        retry_after: Option<Duration>,
    },
    /// Connected after `attempt` failures in a row; back to 0 at the first
    /// real update.
    Open {
        ws: Box<Ws>,
        attempt: u32,
    },
    Done,
}

/// Why a connection attempt failed.
enum ConnectError {
    /// Retrying cannot help (refused credentials, wrong path).
    Fatal(Error),
    Transient(Error),
}

impl Client {
    /// The live statistics stream at `<base>/ws` (`ws://` or `wss://` after
    /// the base URL's scheme), with the default idle timeout. Nothing
    /// connects until it is first polled. See the [module docs](crate::stream).
    pub fn stats_stream(&self) -> StatsStream {
        self.stats_stream_builder().build()
    }

    /// Configures a statistics stream (its idle timeout).
    pub fn stats_stream_builder(&self) -> StatsStreamBuilder {
        StatsStreamBuilder {
            client: self.clone(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

fn ws_url(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else {
        // The builder admits only http and https.
        format!("{base}/ws")
    }
}

/// The wait before connection attempt number `attempt` (after that many
/// failures in a row): the policy's backoff, or the server's `Retry-After`
/// (capped and jittered as for requests) when that is longer.
fn reconnect_wait(client: &Client, attempt: u32, retry_after: Option<Duration>) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let policy = client.retry_policy();
    let backoff = policy.reconnect_delay(attempt - 1);
    match retry_after {
        Some(ra) => backoff.max(policy.retry_after_delay(ra)),
        None => backoff,
    }
}

async fn step(
    client: &Client,
    url: &str,
    idle_timeout: Duration,
    mut state: State,
) -> Option<(Result<StatsUpdate, Error>, State)> {
    loop {
        state = match state {
            State::Done => return None,
            State::Connect {
                attempt,
                retry_after,
            } => {
                let wait = reconnect_wait(client, attempt, retry_after);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                match connect(client, url).await {
                    Ok(ws) => {
                        tracing::debug!("stats stream subscribed");
                        State::Open {
                            ws: Box::new(ws),
                            attempt,
                        }
                    }
                    Err(ConnectError::Fatal(e)) => {
                        tracing::warn!(error = %e, "stats stream refused; giving up");
                        return Some((Err(e), State::Done));
                    }
                    Err(ConnectError::Transient(e)) => {
                        tracing::debug!(error = %e, attempt, "stats stream connect failed");
                        State::Connect {
                            attempt: attempt.saturating_add(1),
                            retry_after: e.retry_after(),
                        }
                    }
                }
            }
            State::Open { mut ws, attempt } => {
                // Counted as a failure until a real update proves the
                // connection useful (see the module docs).
                let failed = State::Connect {
                    attempt: attempt.saturating_add(1),
                    retry_after: None,
                };
                match tokio::time::timeout(idle_timeout, ws.next()).await {
                    Err(_silent) => {
                        tracing::info!(
                            idle_ms = idle_timeout.as_millis() as u64,
                            "stats stream silent for the idle timeout; reconnecting"
                        );
                        failed
                    }
                    Ok(Some(Ok(Message::Text(text)))) => {
                        match serde_json::from_str::<ServerMessage>(text.as_str()) {
                            Ok(ServerMessage::StatsUpdate { data }) => {
                                return Some((Ok(data), State::Open { ws, attempt: 0 }));
                            }
                            Ok(ServerMessage::Error { error, message }) => {
                                let e = Error::ServerMessage {
                                    code: error,
                                    message,
                                };
                                return Some((Err(e), State::Open { ws, attempt }));
                            }
                            Ok(_) => State::Open { ws, attempt },
                            Err(e) => {
                                // Newer servers may send message types this version
                                // does not know; they are not errors of the stream.
                                tracing::debug!(error = %e, "ignoring unknown stats stream message");
                                State::Open { ws, attempt }
                            }
                        }
                    }
                    Ok(Some(Ok(Message::Close(_))) | None) => {
                        tracing::info!("stats stream closed by the server; reconnecting");
                        failed
                    }
                    Ok(Some(Ok(_))) => State::Open { ws, attempt },
                    Ok(Some(Err(e))) => {
                        tracing::info!(error = %e, "stats stream connection lost; reconnecting");
                        failed
                    }
                }
            }
        };
    }
}

async fn connect(client: &Client, url: &str) -> Result<Ws, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Fatal(Error::WebSocket(WebSocketError::new(e))))?;
    let headers = request.headers_mut();
    // Copied through bytes rather than shared: the request is tungstenite's
    // own type, built from its re-export of `http`.
    let key = HeaderValue::from_bytes(client.api_key_header().as_bytes()).map_err(|_| {
        ConnectError::Fatal(Error::InvalidConfig("api_key is not a valid header".into()))
    })?;
    headers.insert(API_KEY_HEADER, key);
    if let Ok(ua) = HeaderValue::from_bytes(client.user_agent_header().as_bytes()) {
        headers.insert(tungstenite::http::header::USER_AGENT, ua);
    }
    let request_id = new_request_id();
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, id);
    }

    let connected = tokio::time::timeout(
        client.request_timeout(),
        tokio_tungstenite::connect_async(request),
    )
    .await;
    let (mut ws, _response) = match connected {
        Err(_elapsed) => return Err(ConnectError::Transient(Error::Timeout)),
        Ok(Err(e)) => return Err(classify(e, &request_id)),
        Ok(Ok(pair)) => pair,
    };

    let subscribe = ClientMessage::Subscribe {
        channel: "stats".into(),
    };
    let text = serde_json::to_string(&subscribe).map_err(|e| {
        ConnectError::Fatal(Error::InvalidConfig(format!("subscribe message: {e}")))
    })?;
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| ConnectError::Transient(Error::WebSocket(WebSocketError::new(e))))?;
    Ok(ws)
}

fn classify(e: tungstenite::Error, request_id: &str) -> ConnectError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            // reqwest and tungstenite both build on `http` 1.x, which cargo
            // unifies into one crate: the headers are reqwest's type too.
            let err = Error::Api(Answer::read(response.headers(), request_id).error(status, body));
            if (400..500).contains(&status) && status != 408 && status != 429 {
                ConnectError::Fatal(err)
            } else {
                ConnectError::Transient(err)
            }
        }
        tungstenite::Error::Url(_) => ConnectError::Fatal(Error::WebSocket(WebSocketError::new(e))),
        other => ConnectError::Transient(Error::WebSocket(WebSocketError::new(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_follows_scheme() {
        assert_eq!(ws_url("http://localhost:3000"), "ws://localhost:3000/ws");
        assert_eq!(
            ws_url("https://example.com/ivs"),
            "wss://example.com/ivs/ws"
        );
    }
}
