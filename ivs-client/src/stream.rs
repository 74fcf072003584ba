//! The live statistics stream over the `/ws` WebSocket.
//!
//! [`Client::stats_stream`] gives a [`StatsStream`]: a `Stream` of
//! [`StatsUpdate`]s (the server sends one every 5 s) that connects lazily on
//! first poll, subscribes to the `stats` channel, and reconnects and
//! resubscribes by itself after a dropped connection or a server restart,
//! waiting between attempts with exponential backoff and jitter (the
//! client's [`RetryPolicy`](crate::RetryPolicy) delays, without an attempt
//! limit). Transient failures are logged, not yielded, so a plain
//! `while let Some(Ok(update))` loop survives them.
//!
//! Items that are errors:
//! - a server `error` message: [`Error::ServerMessage`]; the stream goes on;
//! - a handshake the server refuses for good (401, 403 or another 4xx other
//!   than 408/429): [`Error::Api`] with the status and code, and the stream
//!   ends — a wrong API key does not make it retry forever.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{SinkExt, Stream, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::API_KEY_HEADER;
use crate::error::{code_for_status, WebSocketError};
use crate::model::{ClientMessage, ErrorBody, ServerMessage, StatsUpdate};
use crate::{Client, Error};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Live statistics; see the [module docs](crate::stream).
///
/// ```no_run
/// # async fn demo(client: ivs_client::Client) {
/// use futures_util::StreamExt;
///
/// let mut stats = client.stats_stream();
/// while let Some(item) = stats.next().await {
///     match item {
///         Ok(update) => println!("{} viewers on {} stages", update.total_viewers, update.total_stages),
///         Err(e) => eprintln!("stats stream: {e}"),
///     }
/// }
/// # }
/// ```
pub struct StatsStream {
    inner: Pin<Box<dyn Stream<Item = Result<StatsUpdate, Error>> + Send>>,
}

impl std::fmt::Debug for StatsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsStream").finish_non_exhaustive()
    }
}

impl Stream for StatsStream {
    type Item = Result<StatsUpdate, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

enum State {
    /// Connect after `attempt` failures in a row (0: at once).
    Connect {
        attempt: u32,
    },
    Open {
        ws: Box<Ws>,
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
    /// the base URL's scheme). Nothing connects until it is first polled.
    pub fn stats_stream(&self) -> StatsStream {
        let client = self.clone();
        let url = ws_url(self.base_url());
        let inner = futures_util::stream::unfold(State::Connect { attempt: 0 }, move |state| {
            let client = client.clone();
            let url = url.clone();
            async move { step(&client, &url, state).await }
        });
        StatsStream {
            inner: Box::pin(inner),
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

async fn step(
    client: &Client,
    url: &str,
    mut state: State,
) -> Option<(Result<StatsUpdate, Error>, State)> {
    loop {
        state = match state {
            State::Done => return None,
            State::Connect { attempt } => {
                if attempt > 0 {
                    tokio::time::sleep(client.retry_policy().reconnect_delay(attempt - 1)).await;
                }
                match connect(client, url).await {
                    Ok(ws) => {
                        tracing::debug!("stats stream subscribed");
                        State::Open { ws: Box::new(ws) }
                    }
                    Err(ConnectError::Fatal(e)) => {
                        tracing::warn!(error = %e, "stats stream refused; giving up");
                        return Some((Err(e), State::Done));
                    }
                    Err(ConnectError::Transient(e)) => {
                        tracing::debug!(error = %e, attempt, "stats stream connect failed");
                        State::Connect {
                            attempt: attempt.saturating_add(1),
                        }
                    }
                }
            }
            State::Open { mut ws } => match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ServerMessage>(text.as_str()) {
                        Ok(ServerMessage::StatsUpdate { data }) => {
                            return Some((Ok(data), State::Open { ws }))
                        }
                        Ok(ServerMessage::Error { error, message }) => {
                            let e = Error::ServerMessage {
                                code: error,
                                message,
                            };
                            return Some((Err(e), State::Open { ws }));
                        }
                        Ok(_) => State::Open { ws },
                        Err(e) => {
                            // Newer servers may send message types this version
                            // does not know; they are not errors of the stream.
                            tracing::debug!(error = %e, "ignoring unknown stats stream message");
                            State::Open { ws }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    tracing::info!("stats stream closed by the server; reconnecting");
                    State::Connect { attempt: 1 }
                }
                Some(Ok(_)) => State::Open { ws },
                Some(Err(e)) => {
                    tracing::info!(error = %e, "stats stream connection lost; reconnecting");
                    State::Connect { attempt: 1 }
                }
            },
        };
    }
}

async fn connect(client: &Client, url: &str) -> Result<Ws, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Fatal(Error::WebSocket(WebSocketError::new(e))))?;
    let headers = request.headers_mut();
    // The header types of reqwest and tungstenite may come from different
    // `http` versions, so copy through bytes.
    let key = HeaderValue::from_bytes(client.api_key_header().as_bytes()).map_err(|_| {
        ConnectError::Fatal(Error::InvalidConfig("api_key is not a valid header".into()))
    })?;
    headers.insert(API_KEY_HEADER, key);
    if let Ok(ua) = HeaderValue::from_bytes(client.user_agent_header().as_bytes()) {
        headers.insert(tungstenite::http::header::USER_AGENT, ua);
    }

    let connected = tokio::time::timeout(
        client.request_timeout(),
        tokio_tungstenite::connect_async(request),
    )
    .await;
    let (mut ws, _response) = match connected {
        Err(_elapsed) => return Err(ConnectError::Transient(Error::Timeout)),
        Ok(Err(e)) => return Err(classify(e)),
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

fn classify(e: tungstenite::Error) -> ConnectError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            let (code, message, details) = match serde_json::from_slice::<ErrorBody>(body) {
                Ok(b) => (b.error, b.message, b.details),
                Err(_) => (
                    code_for_status(status),
                    String::from_utf8_lossy(body).chars().take(512).collect(),
                    String::new(),
                ),
            };
            let retry_after = response
                .headers()
                .get(tungstenite::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
            let err = Error::Api {
                status,
                code,
                message,
                details,
                retry_after,
            };
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
