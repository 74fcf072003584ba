//! Graceful shutdown of the real binary: SIGTERM during load lets in-flight
//! requests complete, closes WebSocket subscribers with a close frame, and
//! exits 0 within 5 seconds.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn sigterm_under_load_drains_and_exits_zero() {
    let crate::common::Binary { mut child, base } = crate::common::start(
        &[("IVS_STATS_INTERVAL_MS", "200")],
        Stdio::null(),
        Stdio::null(),
    )
    .await;
    let http = reqwest::Client::new();

    let mut req = format!("{}/ws", base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-api-key", "dev-api-key".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text(r#"{"type":"subscribe","channel":"stats"}"#))
        .await
        .unwrap();

    // Load: workers joining viewers until the server goes away.
    let ok = Arc::new(AtomicU64::new(0));
    let server_errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (http, base, ok, server_errors) = (
            http.clone(),
            base.clone(),
            ok.clone(),
            server_errors.clone(),
        );
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let r = http
                    .post(format!("{base}/api/token/viewer"))
                    .header("x-api-key", "dev-api-key")
                    .json(&serde_json::json!({"userId": format!("w{w}-{i}")}))
                    .send()
                    .await;
                match r {
                    Ok(res) if res.status().is_success() => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(res) if res.status().is_server_error() => {
                        // STAGE_LIMIT_REACHED is a legitimate 503 once 1,000 viewers are in.
                        let body = res.text().await.unwrap_or_default();
                        if !body.contains("STAGE_LIMIT_REACHED") {
                            server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break, // the listener is closed
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(ok.load(Ordering::Relaxed) > 0, "no load got through");

    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());

    // The subscriber gets a close frame (1001, going away).
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the WebSocket ended within 5 s");
    assert_eq!(close, Some(1001));

    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
    }
    assert_eq!(server_errors.load(Ordering::Relaxed), 0);
}
