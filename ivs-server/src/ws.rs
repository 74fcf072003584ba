//! `/ws`: the live statistics stream.
//!
//! One task computes the snapshot every stats interval and serialises it once;
//! every subscriber gets that same text through a `watch` channel, so a slow
//! subscriber only ever misses intermediate snapshots and never holds a queue
//! (or the others) back. A subscriber whose socket does not accept a frame
//! within [`SEND_TIMEOUT`] is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ivs_client::model::{ClientMessage, ErrorCode, ServerMessage};
use tokio::sync::watch;
use warp::filters::ws::{Message, WebSocket, Ws};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::http::auth::{admit, KeyRing};
use crate::service::App;

/// Longest a subscriber may take to accept one frame.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;

/// The shared snapshot and the shutdown signal, handed to every connection.
#[derive(Clone)]
pub struct StatsHub {
    latest: watch::Receiver<Option<Arc<str>>>,
    shutdown: watch::Receiver<bool>,
}

impl StatsHub {
    /// A hub fed by `latest`, closing connections when `shutdown` turns true.
    pub fn new(latest: watch::Receiver<Option<Arc<str>>>, shutdown: watch::Receiver<bool>) -> Self {
        StatsHub { latest, shutdown }
    }
}

fn encode(msg: &ServerMessage) -> Option<String> {
    serde_json::to_string(msg).ok()
}

/// Computes and publishes the snapshot every interval until shutdown.
pub async fn run_broadcaster(
    app: Arc<App>,
    tx: watch::Sender<Option<Arc<str>>>,
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
                    tx.send_replace(Some(Arc::from(text)));
                }
            }
            Err(e) => tracing::warn!(error = %e, "stats snapshot failed"),
        }
    }
}

/// The `/ws` route: the API key as the `x-api-key` header or the `apiKey` query parameter.
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
            async move {
                let key = header.or_else(|| q.get("apiKey").cloned());
                admit(&app, &keys, key.as_deref())
                    .await
                    .map(|_| app)
                    .map_err(warp::reject::custom)
            }
        })
        .and(warp::ws())
        .map(move |app: Arc<App>, ws: Ws| {
            let hub = hub.clone();
            ws.max_message_size(MAX_CLIENT_MESSAGE)
                .max_frame_size(MAX_CLIENT_MESSAGE)
                .on_upgrade(move |socket| session(socket, app, hub))
                .into_response()
        })
}

async fn send(tx: &mut futures_util::stream::SplitSink<WebSocket, Message>, text: String) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::text(text))).await,
        Ok(Ok(()))
    )
}

fn error_message(code: ErrorCode, message: impl Into<String>) -> String {
    encode(&ServerMessage::Error {
        error: code,
        message: message.into(),
    })
    .unwrap_or_default()
}

async fn session(socket: WebSocket, app: Arc<App>, hub: StatsHub) {
    let (mut tx, mut rx) = socket.split();
    let mut latest = hub.latest.clone();
    let mut shutdown = hub.shutdown.clone();
    let mut subscribed = false;
    loop {
        tokio::select! {
            incoming = rx.next() => {
                let Some(Ok(msg)) = incoming else { break };
                if msg.is_close() {
                    break;
                }
                let reply = if let Ok(text) = msg.to_str() {
                    match serde_json::from_str::<ClientMessage>(text) {
                        Ok(ClientMessage::Subscribe { channel }) if channel == "stats" => {
                            subscribed = true;
                            latest.mark_unchanged();
                            // The first snapshot now, not up to one interval later.
                            match app.stats_update().await {
                                Ok(data) => encode(&ServerMessage::StatsUpdate { data }),
                                Err(e) => Some(error_message(e.code, e.details)),
                            }
                        }
                        Ok(ClientMessage::Unsubscribe { channel }) if channel == "stats" => {
                            subscribed = false;
                            None
                        }
                        Ok(ClientMessage::Subscribe { channel } | ClientMessage::Unsubscribe { channel }) => Some(error_message(
                            ErrorCode::ValidationError,
                            format!("unknown channel {channel:?}; the only channel is \"stats\""),
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
                    break;
                }
                let text = latest.borrow_and_update().clone();
                if let Some(text) = text {
                    if !send(&mut tx, text.to_string()).await {
                        tracing::debug!("dropping a /ws subscriber that does not read");
                        break;
                    }
                }
            }
            _ = shutdown.changed() => {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    tx.send(Message::close_with(1001u16, "server shutting down")),
                )
                .await;
                break;
            }
        }
    }
    let _ = tx.close().await;
}
