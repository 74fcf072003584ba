//! The statistics stream against a small tokio-tungstenite server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use ivs_client::model::{ErrorCode, StatsUpdate};
use ivs_client::{Error, RetryPolicy, StatsStream};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

/// What the test server does once a client has subscribed.
#[derive(Clone, Copy)]
enum Script {
    /// Sends `subscribed`, two updates, then closes the connection.
    TwoThenClose,
    /// Sends an `error` message, then one update, then stays open.
    ErrorThenUpdate,
}

#[derive(Default)]
struct Seen {
    handshakes: AtomicUsize,
    subscriptions: AtomicUsize,
}

fn update(viewers: u32) -> Message {
    let mut msg = fixture("ws-stats-update.message.json");
    msg["data"]["viewerCount"] = json!(viewers);
    Message::Text(msg.to_string().into())
}

/// Serves `/ws` on `listener`: checks the API key (401 with the API's error
/// body when wrong), waits for the spec's subscribe message, then runs `script`.
fn serve(listener: TcpListener, script: Script, seen: Arc<Seen>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connection = 0u32;
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            connection += 1;
            let seen = seen.clone();
            tokio::spawn(async move {
                // The callback's signature is tungstenite's; its error type is large by design.
                #[allow(clippy::result_large_err)]
                let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                    seen.handshakes.fetch_add(1, Ordering::SeqCst);
                    let key_ok = req.headers().get("x-api-key").map(|v| v.as_bytes())
                        == Some(KEY.as_bytes());
                    if req.uri().path() == "/ws" && key_ok {
                        Ok(resp)
                    } else {
                        let body = error_body("UNAUTHORIZED").to_string();
                        let mut refused = ErrorResponse::new(Some(body));
                        *refused.status_mut() = StatusCode::UNAUTHORIZED;
                        Err(refused)
                    }
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(socket, check).await else {
                    return;
                };
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let got: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                        assert_eq!(got, fixture("ws-subscribe.message.json"));
                        seen.subscriptions.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => return,
                }
                let _ = ws
                    .send(Message::Text(
                        json!({"type": "subscribed", "channel": "stats"})
                            .to_string()
                            .into(),
                    ))
                    .await;
                match script {
                    Script::TwoThenClose => {
                        let base = connection * 10;
                        let _ = ws.send(update(base)).await;
                        let _ = ws.send(update(base + 1)).await;
                        let _ = ws.close(None).await;
                    }
                    Script::ErrorThenUpdate => {
                        let err = json!({"type": "error", "error": "VALIDATION_ERROR", "message": "unknown channel"});
                        let _ = ws.send(Message::Text(err.to_string().into())).await;
                        let _ = ws
                            .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                            .await;
                        let _ = ws
                            .send(Message::Text(
                                json!({"type": "brand_new_kind"}).to_string().into(),
                            ))
                            .await;
                        let _ = ws.send(update(7)).await;
                        // Stay open until the client goes.
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                }
            });
        }
    })
}

async fn start(script: Script) -> (SocketAddr, Arc<Seen>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let task = serve(listener, script, seen.clone());
    (addr, seen, task)
}

fn fast_reconnects() -> RetryPolicy {
    RetryPolicy::default()
        .with_min_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(100))
}

async fn next(stream: &mut StatsStream) -> Option<Result<StatsUpdate, Error>> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an item within 5 s")
}

#[tokio::test]
async fn updates_arrive_and_the_stream_reconnects_after_close() {
    let (addr, seen, _server) = start(Script::TwoThenClose).await;
    let c = client(&format!("http://{addr}"), fast_reconnects());
    let mut stream = c.stats_stream();

    let mut counts = Vec::new();
    for _ in 0..4 {
        let item = next(&mut stream)
            .await
            .expect("stream goes on")
            .expect("an update");
        counts.push(item.total_viewers);
        assert_eq!(item.total_stages, 2);
    }
    // Two connections, each subscribed, each sending its own numbers.
    assert_eq!(counts, vec![10, 11, 20, 21]);
    assert!(seen.subscriptions.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn survives_a_server_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let server = serve(listener, Script::TwoThenClose, seen.clone());
    let c = client(&format!("http://{addr}"), fast_reconnects());
    let mut stream = c.stats_stream();
    assert_eq!(
        next(&mut stream)
            .await
            .expect("item")
            .expect("update")
            .total_viewers,
        10
    );

    // Down: the listener is gone, connections are refused for a while.
    server.abort();
    let _ = server.await;
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                Ok(Some(Ok(u))) => got.push(u.total_viewers),
                Ok(Some(Err(e))) => panic!("transient failure surfaced as an item: {e}"),
                Ok(None) => panic!("stream ended"),
                Err(_) => panic!("no update within 10 s"),
            }
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Up again on the same port.
    let listener = TcpListener::bind(addr).await.expect("rebind");
    let seen2 = Arc::new(Seen::default());
    let _server = serve(listener, Script::TwoThenClose, seen2.clone());
    let got = reader.await.expect("reader");
    // 11 from the first connection, then the restarted server's 10 and 11.
    assert_eq!(got, vec![11, 10, 11]);
    assert!(
        seen2.subscriptions.load(Ordering::SeqCst) >= 1,
        "resubscribed after restart"
    );
}

#[tokio::test]
async fn wrong_key_ends_the_stream_with_unauthorized() {
    let (addr, seen, _server) = start(Script::TwoThenClose).await;
    let c = ivs_client::Client::builder()
        .base_url(format!("http://{addr}"))
        .api_key("wrong-key")
        .retry_policy(fast_reconnects())
        .build()
        .expect("client");
    let mut stream = c.stats_stream();
    match next(&mut stream).await {
        Some(Err(Error::Api(e))) => {
            assert_eq!(e.status(), 401);
            assert_eq!(e.code(), &ErrorCode::Unauthorized);
        }
        other => panic!("expected a 401 error item, got {other:?}"),
    }
    assert!(next(&mut stream).await.is_none(), "the stream ends");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        seen.handshakes.load(Ordering::SeqCst),
        1,
        "no retry with a refused key"
    );
}

#[tokio::test]
async fn server_error_message_is_an_item_and_the_stream_goes_on() {
    let (addr, _seen, _server) = start(Script::ErrorThenUpdate).await;
    let c = client(&format!("http://{addr}"), fast_reconnects());
    let mut stream = c.stats_stream();
    match next(&mut stream).await {
        Some(Err(Error::ServerMessage { code, message })) => {
            assert_eq!(code, ErrorCode::ValidationError);
            assert_eq!(message, "unknown channel");
        }
        other => panic!("expected a server error item, got {other:?}"),
    }
    // `pong` and an unknown message type are skipped.
    let u = next(&mut stream).await.expect("goes on").expect("update");
    assert_eq!(u.total_viewers, 7);
    assert_eq!(u.timestamp.to_string(), "2025-10-19T12:00:00.000Z");
}

#[test]
fn stats_stream_is_send_and_unpin() {
    fn assert_send_unpin<T: Send + Unpin + 'static>() {}
    assert_send_unpin::<StatsStream>();
}

/// What a [`lifecycle_server`] does with each connection.
#[derive(Clone, Copy)]
enum Lifecycle {
    /// Completes the handshake, then never sends anything: a half-open
    /// connection, as the client sees one after a NAT dropped its state.
    Silent,
    /// Completes the handshake and closes at once, like a proxy whose
    /// upstream is gone.
    CloseAtOnce,
    /// Refuses the first handshake with `status` and `Retry-After: 1`, then
    /// serves updates.
    RefuseOnceThenServe { status: u16 },
}

/// A WebSocket server that records when each connection arrived.
async fn lifecycle_server(
    lifecycle: Lifecycle,
) -> (SocketAddr, Arc<std::sync::Mutex<Vec<std::time::Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(std::time::Instant::now());
                seen.len()
            };
            tokio::spawn(async move {
                match lifecycle {
                    Lifecycle::Silent => {
                        let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await else {
                            return;
                        };
                        // Read (the subscribe) but never answer, until the client goes.
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                    Lifecycle::CloseAtOnce => {
                        if let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await {
                            let _ = ws.close(None).await;
                        }
                    }
                    Lifecycle::RefuseOnceThenServe { status } => {
                        #[allow(clippy::result_large_err)]
                        let check = move |_: &Request, resp: Response| {
                            if n > 1 {
                                return Ok(resp);
                            }
                            let body = error_body("SERVICE_UNAVAILABLE").to_string();
                            let mut refused = ErrorResponse::new(Some(body));
                            *refused.status_mut() = StatusCode::from_u16(status).unwrap();
                            refused
                                .headers_mut()
                                .insert("retry-after", "1".parse().unwrap());
                            Err(refused)
                        };
                        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(socket, check).await
                        else {
                            return;
                        };
                        let _ = ws.next().await;
                        let _ = ws.send(update(n as u32)).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                }
            });
        }
    });
    (addr, arrivals)
}

/// Polls `stream` for `time`, expecting no item at all.
async fn poll_silently(stream: &mut StatsStream, time: Duration) {
    if let Ok(item) = tokio::time::timeout(time, stream.next()).await {
        panic!("expected no item, got {item:?}");
    }
}

#[tokio::test]
async fn a_silent_connection_is_replaced_after_the_idle_timeout() {
    let (addr, arrivals) = lifecycle_server(Lifecycle::Silent).await;
    let c = client(&format!("http://{addr}"), fast_reconnects());
    let mut stream = c
        .stats_stream_builder()
        .idle_timeout(Duration::from_millis(300))
        .build();
    poll_silently(&mut stream, Duration::from_millis(1500)).await;

    let arrivals = arrivals.lock().unwrap().clone();
    assert!(
        arrivals.len() >= 2,
        "still on the first, silent connection after 1.5 s"
    );
    let gap = arrivals[1] - arrivals[0];
    assert!(
        gap >= Duration::from_millis(300),
        "replaced before the idle timeout: {gap:?}"
    );
}

#[tokio::test]
async fn a_handshake_that_closes_at_once_backs_off_more_and_more() {
    let (addr, arrivals) = lifecycle_server(Lifecycle::CloseAtOnce).await;
    let policy = RetryPolicy::default()
        .with_jitter(false)
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2));
    let c = client(&format!("http://{addr}"), policy);
    let mut stream = c.stats_stream();
    // Waits of 50, 100, 200, 400, 800 ms: about six connections in 1.6 s
    // (a backoff reset by each handshake made it one every 50 ms: ~30).
    poll_silently(&mut stream, Duration::from_millis(1600)).await;

    let arrivals = arrivals.lock().unwrap().clone();
    assert!(
        (4..=7).contains(&arrivals.len()),
        "{} connections in 1.6 s",
        arrivals.len()
    );
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    let last = *gaps.last().expect("gaps");
    assert!(
        last >= Duration::from_millis(350),
        "the waits do not grow: {gaps:?}"
    );
    assert!(gaps[0] < last / 2, "the waits do not grow: {gaps:?}");
}

#[tokio::test]
async fn a_refused_handshake_waits_for_retry_after() {
    async fn first_update_after(status: u16) -> Duration {
        let (addr, _) = lifecycle_server(Lifecycle::RefuseOnceThenServe { status }).await;
        // Backoff alone would retry after 20 ms.
        let c = client(
            &format!("http://{addr}"),
            fast_reconnects().with_max_delay(Duration::from_secs(5)),
        );
        let mut stream = c.stats_stream();
        let started = std::time::Instant::now();
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
            Ok(Some(Ok(u))) => assert_eq!(u.total_viewers, 2, "from the second connection"),
            other => panic!("{status}: expected an update, got {other:?}"),
        }
        started.elapsed()
    }
    let (after_503, after_429) = tokio::join!(first_update_after(503), first_update_after(429));
    for (status, waited) in [(503, after_503), (429, after_429)] {
        assert!(
            waited >= Duration::from_secs(1),
            "{status}: reconnected after {waited:?}, before Retry-After"
        );
        // One second plus at most half of it as jitter, plus the handshakes.
        assert!(waited < Duration::from_millis(2500), "{status}: {waited:?}");
    }
}
