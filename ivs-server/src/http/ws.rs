//! `/ws`: the live statistics stream and the fleet's events.
//!
//! One task computes the snapshot every stats interval and serialises it once;
//! every subscriber gets that same text through a `watch` channel, so a slow
//! subscriber only ever misses intermediate snapshots and never holds a queue
//! (or the others) back. A subscriber whose socket does not accept a frame
//! within [`SEND_TIMEOUT`] is dropped. The `events` channel is in
//! [`events`].
//!
//! The upgrade is done here rather than with `warp::ws()`, because warp does
//! not let the WebSocket's buffers be sized: tungstenite's default 128 KiB
//! read buffer per connection made 1,000 subscribers cost 128 MiB, where
//! messages from clients are at most 4 KiB (docs/performance.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use ivs_api::{ClientMessage, ErrorCode, ServerMessage};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::http::auth::{admit, charge, ticket, Caller, KeyRing};
use crate::http::error::ApiError;
use crate::service::App;

pub mod events;
pub use events::EventFeed;

/// Longest a subscriber may take to accept one frame.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;
/// Read buffer per connection: a client message is at most 4 KiB.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes a connection may hold unsent before it is dropped.
const MAX_UNSENT: usize = 64 * 1024;

type Socket = WebSocketStream<TokioIo<Upgraded>>;
type Sender = SplitSink<Socket, Message>;

/// Client messages allowed in a burst, and refilled per second after it.
pub const MESSAGE_BURST: f64 = 20.0;
/// See [`MESSAGE_BURST`].
pub const MESSAGES_PER_SEC: f64 = 5.0;

/// Open `/ws` connections per API key on this instance.
#[derive(Default)]
pub struct ConnectionCounts {
    per_key: Mutex<HashMap<String, usize>>,
}

/// Holds one connection slot of a key; gives it back when dropped.
pub struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    key_id: String,
}

impl ConnectionCounts {
    fn acquire(self: &Arc<Self>, key_id: &str, max: usize) -> Option<ConnectionSlot> {
        let mut map = self.per_key.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key_id.to_string()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            counts: self.clone(),
            key_id: key_id.to_string(),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut map = self
            .counts
            .per_key
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.key_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key_id);
            }
        }
    }
}

/// A per-connection token bucket for client messages.
struct MessageBudget {
    tokens: f64,
    at: tokio::time::Instant,
}

impl MessageBudget {
    fn new() -> Self {
        MessageBudget {
            tokens: MESSAGE_BURST,
            at: tokio::time::Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * MESSAGES_PER_SEC;
        self.tokens = (self.tokens + refill).min(MESSAGE_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The shared snapshot and the shutdown signal, handed to every connection.
#[derive(Clone)]
pub struct StatsHub {
    latest: watch::Receiver<Option<Utf8Bytes>>,
    shutdown: watch::Receiver<bool>,
    connections: Arc<ConnectionCounts>,
    events: EventFeed,
    /// Held by every open session (each owns a clone of the hub); the server
    /// waits until all are dropped before it exits, so close frames are sent
    /// before the runtime stops.
    #[allow(dead_code)]
    alive: tokio::sync::mpsc::Sender<()>,
}

impl StatsHub {
    /// A hub fed by `latest`, closing connections when `shutdown` turns true.
    pub fn new(
        latest: watch::Receiver<Option<Utf8Bytes>>,
        shutdown: watch::Receiver<bool>,
        alive: tokio::sync::mpsc::Sender<()>,
    ) -> Self {
        StatsHub {
            latest,
            shutdown,
            connections: Arc::default(),
            events: EventFeed::default(),
            alive,
        }
    }

    /// The `events` channel's feed (its follower task is started beside the
    /// stats broadcaster).
    pub fn events(&self) -> &EventFeed {
        &self.events
    }
}

fn encode(msg: &ServerMessage) -> Option<String> {
    serde_json::to_string(msg).ok()
}

/// Computes and publishes the snapshot every interval until shutdown.
pub async fn run_broadcaster(
    app: Arc<App>,
    tx: watch::Sender<Option<Utf8Bytes>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(app.settings().limits.stats_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if tx.receiver_count() <= 1 {
            // Only the hub's own receiver: nobody is connected.
            continue;
        }
        match app.stats_update().await {
            Ok(data) => {
                if let Some(text) = encode(&ServerMessage::StatsUpdate { data }) {
                    tx.send_replace(Some(Utf8Bytes::from(text)));
                }
            }
            Err(e) => tracing::warn!(error = %e, "stats snapshot failed"),
        }
    }
}

/// The `/ws` route: a ticket from `POST /api/ws-ticket` as the `ticket` query
/// parameter, or the API key as the `x-api-key` header, or (discouraged: URLs
/// are logged by proxies and kept in browser history) as the `apiKey` query
/// parameter.
pub fn route(
    app: Arc<App>,
    keys: Arc<KeyRing>,
    hub: StatsHub,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("ws")
        .and(warp::header::optional::<String>("x-api-key"))
        .and(warp::query::<HashMap<String, String>>())
        .and_then(move |header: Option<String>, q: HashMap<String, String>| {
            let app = app.clone();
            let keys = keys.clone();
            let hub = hub.clone();
            async move {
                let caller = match (header, q.get("ticket"), q.get("apiKey")) {
                    (None, Some(ticket), _) => ticket::redeem(&app, &keys, ticket).await,
                    (header, _, query) => {
                        admit(&app, &keys, header.as_deref().or(query.map(String::as_str))).await
                    }
                }
                .map_err(warp::reject::custom)?;
                let max = app.settings().ws_max_connections_per_key;
                let slot = hub
                    .connections
                    .acquire(&caller.key_id, max)
                    .ok_or_else(|| {
                        warp::reject::custom(
                            ApiError::new(
                                warp::http::StatusCode::TOO_MANY_REQUESTS,
                                ErrorCode::TooManyRequests,
                                "WebSocket 連線過多",
                                format!("at most {max} WebSocket connections per API key"),
                            )
                            .retry_after(Duration::from_secs(5)),
                        )
                    })?;
                let charge = Charge { keys, caller };
                Ok::<_, Rejection>((app, hub, slot, charge))
            }
        })
        .and(upgrade_request())
        .map(
            move |(app, hub, slot, charge): (Arc<App>, StatsHub, ConnectionSlot, Charge),
                  key: String,
                  on_upgrade: OnUpgrade| {
                tokio::spawn(async move {
                    match on_upgrade.await {
                        Ok(upgraded) => {
                            let config = WebSocketConfig::default()
                                .read_buffer_size(READ_BUFFER)
                                .write_buffer_size(0)
                                .max_write_buffer_size(MAX_UNSENT)
                                .max_message_size(Some(MAX_CLIENT_MESSAGE))
                                .max_frame_size(Some(MAX_CLIENT_MESSAGE));
                            let socket = WebSocketStream::from_raw_socket(
                                TokioIo::new(upgraded),
                                Role::Server,
                                Some(config),
                            )
                            .await;
                            // Counted while the session runs (ivs_ws_connections).
                            let _open = app.metrics().ws_session();
                            session(socket, app, hub, charge).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
                    }
                    drop(slot);
                });
                let mut res =
                    warp::reply::with_status(warp::reply(), StatusCode::SWITCHING_PROTOCOLS)
                        .into_response();
                let h = res.headers_mut();
                h.insert(
                    "connection",
                    warp::http::HeaderValue::from_static("upgrade"),
                );
                h.insert("upgrade", warp::http::HeaderValue::from_static("websocket"));
                if let Ok(accept) = derive_accept_key(key.as_bytes()).parse() {
                    h.insert("sec-websocket-accept", accept);
                }
                res
            },
        )
}

/// A WebSocket upgrade request: its `Sec-WebSocket-Key` and hyper's handle
/// on the upgraded connection; anything else is a 400 in the API's format.
fn upgrade_request() -> impl Filter<Extract = (String, OnUpgrade), Error = Rejection> + Clone {
    warp::get()
        .and(warp::header::optional::<String>("connection"))
        .and(warp::header::optional::<String>("upgrade"))
        .and(warp::header::optional::<String>("sec-websocket-version"))
        .and(warp::header::optional::<String>("sec-websocket-key"))
        .and(warp::ext::optional::<OnUpgrade>())
        .and_then(
            |connection: Option<String>,
             upgrade: Option<String>,
             version: Option<String>,
             key: Option<String>,
             on_upgrade: Option<OnUpgrade>| async move {
                let is_upgrade = connection.is_some_and(|c| {
                    c.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
                }) && upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
                    && version.as_deref() == Some("13");
                match (is_upgrade, key, on_upgrade) {
                    (true, Some(key), Some(on_upgrade)) => Ok((key, on_upgrade)),
                    _ => Err(warp::reject::custom(ApiError::validation(
                        "需要 WebSocket 升級",
                        "GET /ws must be a WebSocket upgrade (Connection: upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13, Sec-WebSocket-Key)",
                    ))),
                }
            },
        )
        .untuple_one()
}

async fn send(tx: &mut Sender, text: impl Into<Utf8Bytes>) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::text(text))).await,
        Ok(Ok(()))
    )
}

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn error_message(code: ErrorCode, message: impl Into<String>) -> String {
    encode(&ServerMessage::Error {
        error: code,
        message: message.into(),
    })
    .unwrap_or_default()
}

/// Sends a last message, then a close frame (each bounded in time).
async fn say_and_close(tx: &mut Sender, text: String, code: CloseCode, reason: &'static str) {
    let _ = send(tx, text).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(close(code, reason))).await;
}

/// Tells the client the server is going away (close code 1001).
async fn going_away(tx: &mut Sender) {
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        tx.send(close(CloseCode::Away, "server shutting down")),
    )
    .await;
}

/// Counts a connection's client messages against its API key.
struct Charge {
    keys: Arc<KeyRing>,
    caller: Caller,
}

impl Charge {
    /// `None` when the message may be processed; otherwise the error to
    /// answer instead (over the key's limit, or the store unavailable).
    async fn refusal(&self, app: &App) -> Option<String> {
        let e = charge(app, &self.keys, &self.caller).await.err()?;
        let details = match e.retry_after {
            Some(wait) => format!(
                "{}; retry in {} s; the message was not processed",
                e.details,
                wait.as_millis().div_ceil(1000).max(1)
            ),
            None => format!("{}; the message was not processed", e.details),
        };
        Some(error_message(e.code, details))
    }
}

async fn session(socket: Socket, app: Arc<App>, hub: StatsHub, charge: Charge) {
    let (mut tx, mut rx) = socket.split();
    let mut latest = hub.latest.clone();
    let mut shutdown = hub.shutdown.clone();
    let mut subscribed = false;
    let mut events: Option<broadcast::Receiver<Utf8Bytes>> = None;
    let mut budget = MessageBudget::new();
    // A client that does not read never answers a ping: after two silent
    // intervals it is dropped, long before its socket buffers would fill.
    let ping_every = app.settings().limits.ws_ping_interval;
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            incoming = rx.next() => {
                let Some(Ok(msg)) = incoming else { break };
                last_heard = tokio::time::Instant::now();
                if msg.is_close() {
                    break;
                }
                if msg.is_pong() {
                    continue;
                }
                if !budget.take() {
                    let text = error_message(
                        ErrorCode::TooManyRequests,
                        format!("more than {MESSAGES_PER_SEC} messages per second; closing"),
                    );
                    say_and_close(&mut tx, text, CloseCode::Policy, "message rate exceeded").await;
                    break;
                }
                // Every client message is a request against the key, like
                // an HTTP one (the per-connection budget above only stops
                // floods). A refused message is answered and dropped; the
                // connection stays: the key may have been spent elsewhere,
                // and the budget bounds how often a client can ask.
                if msg.is_text() || msg.is_binary() {
                    if let Some(refusal) = charge.refusal(&app).await {
                        if !send(&mut tx, refusal).await {
                            break;
                        }
                        continue;
                    }
                }
                let reply = if let Message::Text(text) = &msg {
                    match serde_json::from_str::<ClientMessage>(text) {
                        Ok(ClientMessage::Subscribe { channel }) if channel == "stats" => {
                            subscribed = true;
                            latest.mark_unchanged();
                            // The first snapshot now, not up to one interval later.
                            match app.stats_update().await {
                                Ok(data) => encode(&ServerMessage::StatsUpdate { data }),
                                Err(e) => {
                                let e = ApiError::from(e);
                                Some(error_message(e.code, e.details))
                            }
                            }
                        }
                        Ok(ClientMessage::Unsubscribe { channel }) if channel == "stats" => {
                            subscribed = false;
                            None
                        }
                        Ok(ClientMessage::Subscribe { channel }) if channel == "events" => {
                            if events.is_none() {
                                events = Some(hub.events.subscribe());
                            }
                            None
                        }
                        Ok(ClientMessage::Unsubscribe { channel }) if channel == "events" => {
                            events = None;
                            None
                        }
                        Ok(ClientMessage::Subscribe { channel } | ClientMessage::Unsubscribe { channel }) => Some(error_message(
                            ErrorCode::ValidationError,
                            format!("unknown channel {channel:?}; the channels are \"stats\" and \"events\""),
                        )),
                        Ok(ClientMessage::Ping) => encode(&ServerMessage::Pong),
                        Ok(_) => Some(error_message(ErrorCode::ValidationError, "unsupported message type")),
                        Err(e) => Some(error_message(
                            ErrorCode::ValidationError,
                            format!("unrecognised message ({e}); send {{\"type\":\"subscribe\",\"channel\":\"stats\"}}"),
                        )),
                    }
                } else if msg.is_binary() {
                    Some(error_message(ErrorCode::ValidationError, "binary messages are not accepted; send JSON text"))
                } else {
                    None
                };
                if let Some(text) = reply {
                    if !send(&mut tx, text).await {
                        break;
                    }
                }
            }
            changed = latest.changed(), if subscribed => {
                if changed.is_err() {
                    // The broadcaster is gone: the server is shutting down.
                    going_away(&mut tx).await;
                    break;
                }
                let text = latest.borrow_and_update().clone();
                if let Some(text) = text {
                    if !send(&mut tx, text).await {
                        tracing::debug!("dropping a /ws subscriber that does not read");
                        break;
                    }
                }
            }
            event = next_event(&mut events) => {
                match event {
                    Ok(text) => {
                        if !send(&mut tx, text).await {
                            tracing::debug!("dropping a /ws events subscriber that does not read");
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "dropping a /ws events subscriber that fell behind");
                        let text = error_message(
                            ErrorCode::ServiceUnavailable,
                            format!("this connection fell {missed} events behind; closing: reconnect and subscribe again"),
                        );
                        say_and_close(&mut tx, text, CloseCode::Again, "too slow for the events channel").await;
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        going_away(&mut tx).await;
                        break;
                    }
                }
            }
            _ = pings.tick() => {
                if last_heard.elapsed() > ping_every * 2 {
                    tracing::debug!("dropping a /ws client that answers no pings");
                    break;
                }
                let ping = tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::Ping(Default::default())));
                if !matches!(ping.await, Ok(Ok(()))) {
                    break;
                }
            }
            _ = shutdown.changed() => {
                going_away(&mut tx).await;
                break;
            }
        }
    }
    let _ = tx.close().await;
}

/// The next event for a subscribed session; never ready when not subscribed.
async fn next_event(
    rx: &mut Option<broadcast::Receiver<Utf8Bytes>>,
) -> Result<Utf8Bytes, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
