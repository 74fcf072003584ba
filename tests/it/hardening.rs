//! Operations and abuse limits: metrics, request bodies that never finish,
//! WebSocket connection and message limits, slow subscribers.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ivs_test_support::harness::{enc, sample, scrape, test_settings, wait_for_sample, TestServer};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(s: &TestServer) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{}/ws", s.server.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("x-api-key", s.key.parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

#[tokio::test]
async fn metrics_count_requests_joins_and_stages_and_need_a_key() {
    let s = TestServer::start(test_settings()).await;
    let master = s.master();
    let before = scrape(&s).await;
    assert_eq!(sample(&before, "ivs_publisher_live"), Some(0.0), "{before}");
    assert_eq!(sample(&before, "ivs_ws_connections"), Some(0.0), "{before}");

    s.join("m1").await.data();
    s.join("m1").await.data(); // a rejoin is not a join
    s.post(
        "/api/viewer/heartbeat",
        json!({"userId": "m1", "stageArn": master}),
    )
    .await
    .data();
    s.post(
        "/api/viewer/heartbeat",
        json!({"userId": "zz", "stageArn": master}),
    )
    .await
    .expect_error(404, "NOT_FOUND");
    // A parameterised route, answered and not found: one label, the template.
    s.get(&format!("/api/stage/{}", enc(&master))).await.data();
    let unknown = "arn:aws:ivs:ap-northeast-1:123456789012:stage/doesNotExist1";
    s.get(&format!("/api/stage/{}", enc(unknown)))
        .await
        .expect_error(404, "NOT_FOUND");
    // What no route answers is `other`, whatever path (an ARN in it too).
    s.get(&format!("/api/nothing/{unknown}"))
        .await
        .expect_error(404, "NOT_FOUND");
    s.post("/api/viewer/heartbeat", json!({"userId": 1}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    // A publisher token makes the publisher live in the local IVS.
    s.post("/api/token/publisher", json!({"userId": "host-1"}))
        .await
        .data();
    let sessions = [ws(&s).await.unwrap(), ws(&s).await.unwrap()];
    s.call_with_key(Method::GET, "/metrics", None, None)
        .await
        .expect_error(401, "UNAUTHORIZED");

    let text = wait_for_sample(&s, "ivs_ws_connections", 2.0, Duration::from_secs(5)).await;
    let master_id = master.rsplit('/').next().unwrap();
    for line in [
        "ivs_http_requests_total{route=\"/api/token/viewer\",method=\"POST\",status=\"200\"} 2",
        "ivs_http_requests_total{route=\"/api/viewer/heartbeat\",method=\"POST\",status=\"200\"} 1",
        "ivs_http_requests_total{route=\"/api/viewer/heartbeat\",method=\"POST\",status=\"404\"} 1",
        "ivs_http_requests_total{route=\"/api/stage/:stageArn\",method=\"GET\",status=\"200\"} 1",
        "ivs_http_requests_total{route=\"/api/stage/:stageArn\",method=\"GET\",status=\"404\"} 1",
        "ivs_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1",
        "ivs_http_requests_total{route=\"other\",method=\"POST\",status=\"400\"} 1",
        "ivs_http_requests_total{route=\"/ws\",method=\"GET\",status=\"101\"} 2",
        "ivs_http_request_duration_seconds_count{route=\"/api/viewer/heartbeat\"} 2",
        "ivs_http_request_duration_seconds_count{route=\"/api/stage/:stageArn\"} 2",
        "ivs_viewer_joins_total 1",
        "ivs_stages 1",
        "ivs_publisher_live 1",
        "ivs_ws_connections 2",
        "ivs_requests_refused_total{reason=\"not_found\"} 3",
        "ivs_requests_refused_total{reason=\"unauthorized\"} 1",
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "ivs_stage_viewers{{stage=\"{master_id}\",auto_scaled=\"false\"}} 1\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ivs_server_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    // The standard process metrics, read from /proc (this test's process:
    // the server runs in it).
    if cfg!(target_os = "linux") {
        for (series, at_least) in [
            ("process_cpu_seconds_total", 0.0),
            ("process_resident_memory_bytes", 1.0),
            ("process_virtual_memory_bytes", 1.0),
            ("process_open_fds", 3.0),
            ("process_max_fds", 3.0),
            ("process_start_time_seconds", 1.0e9),
        ] {
            let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
            assert!(v >= at_least, "{series} = {v}");
        }
    }
    // No label carries an ARN (or a piece of one) or a raw path; keys never
    // appear at all.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("arn:")
                && !line.contains("arn%3A")
                && !line.contains("123456789012")
                && !line.contains("doesNotExist1"),
            "an ARN leaks into {line:?}"
        );
        assert!(!line.contains("/api/nothing"), "a raw path in {line:?}");
    }
    assert!(!text.contains(&s.key));

    // Closed sessions are no longer counted.
    drop(sessions);
    let text = wait_for_sample(&s, "ivs_ws_connections", 0.0, Duration::from_secs(5)).await;
    assert_eq!(sample(&text, "ivs_ws_connections"), Some(0.0), "{text}");
}

#[tokio::test]
async fn rate_limited_requests_are_counted() {
    let mut settings = test_settings();
    settings.api_keys = ivs_server::config::parse_api_keys("tiny-key-1:2").unwrap();
    let mut s = TestServer::start(settings).await;
    s.key = "tiny-key-1".into();
    for _ in 0..3 {
        s.get("/api/stats/viewers").await;
    }
    let mut settings = test_settings();
    settings.metrics_public = true;
    let open = TestServer::start(settings).await;
    assert_eq!(
        open.call_with_key(Method::GET, "/metrics", None, None)
            .await
            .status,
        200
    );
    // A scrape is not charged against the key's rate limit.
    let text = scrape(&s).await;
    assert!(text.contains("ivs_rate_limited_total 1\n"), "{text}");
    assert!(
        text.contains("ivs_http_requests_total{route=\"other\",method=\"GET\",status=\"429\"} 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_is_cut_off() {
    let mut settings = test_settings();
    settings.limits.body_timeout = Duration::from_secs(2);
    let s = TestServer::start(settings).await;
    let mut tcp = tokio::net::TcpStream::connect(s.server.addr())
        .await
        .unwrap();
    let head = format!(
        "POST /api/token/viewer HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"userId\":",
        s.key
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(15), tcp.read(&mut buf))
        .await
        .expect("answered within 15 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("VALIDATION_ERROR"));
    assert!(started.elapsed() >= Duration::from_millis(1900));
}

#[tokio::test]
async fn huge_headers_are_refused_not_crashed() {
    let s = TestServer::start(test_settings()).await;
    let r = s
        .raw(Method::GET, "/api/stats")
        .header("x-api-key", &s.key)
        .header("x-junk", "a".repeat(512 * 1024))
        .send()
        .await;
    match r {
        Ok(res) => assert!(res.status().is_client_error(), "{}", res.status()),
        Err(e) => assert!(
            e.is_request() || e.is_connect() || e.to_string().contains("closed"),
            "{e}"
        ),
    }
    // And the server still answers.
    assert_eq!(s.get("/api/stats/viewers").await.status, 200);
}

#[tokio::test]
async fn websocket_connections_per_key_are_bounded() {
    let mut settings = test_settings();
    settings.ws_max_connections_per_key = 2;
    let s = TestServer::start(settings).await;
    let a = ws(&s).await.unwrap();
    let _b = ws(&s).await.unwrap();
    match ws(&s).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 429),
        other => panic!("third connection was not refused: {:?}", other.map(|_| ())),
    }
    // Closing one frees its slot.
    drop(a);
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if ws(&s).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "the slot of a closed connection was not given back");
}

#[tokio::test]
async fn websocket_message_floods_and_oversized_messages_close_the_connection() {
    let s = TestServer::start(test_settings()).await;
    let mut c = ws(&s).await.unwrap();
    for _ in 0..60 {
        if c.send(Message::text(r#"{"type":"ping"}"#)).await.is_err() {
            break;
        }
    }
    let mut saw_limit = false;
    let mut closed = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(3), c.next()).await {
        match msg {
            Ok(Message::Text(t)) if t.contains("TOO_MANY_REQUESTS") => saw_limit = true,
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008));
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(saw_limit && closed, "limit {saw_limit} closed {closed}");

    let mut c = ws(&s).await.unwrap();
    let big = format!(
        r#"{{"type":"subscribe","channel":"{}"}}"#,
        "x".repeat(8 * 1024)
    );
    let _ = c.send(Message::text(big)).await;
    let end = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match c.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        end.is_ok(),
        "an oversized message did not end the connection"
    );
}

/// A `/ws` client on a raw socket that subscribes and then never reads.
async fn stuck_subscriber(s: &TestServer) -> tokio::net::TcpStream {
    let mut raw = tokio::net::TcpStream::connect(s.server.addr())
        .await
        .unwrap();
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        s.key
    );
    raw.write_all(upgrade.as_bytes()).await.unwrap();
    // A masked client text frame: {"type":"subscribe","channel":"stats"}
    let payload = br#"{"type":"subscribe","channel":"stats"}"#;
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    raw.write_all(&frame).await.unwrap();
    raw
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_does_not_slow_the_others() {
    let s = TestServer::start(test_settings()).await;
    // A client that subscribes over a raw socket and then never reads.
    let raw = stuck_subscriber(&s).await;

    // A well-behaved subscriber keeps getting an update about every 200 ms.
    let mut good = ws(&s).await.unwrap();
    good.send(Message::text(r#"{"type":"subscribe","channel":"stats"}"#))
        .await
        .unwrap();
    let started = Instant::now();
    let mut updates = 0;
    while updates < 10 {
        let msg = tokio::time::timeout(Duration::from_secs(2), good.next())
            .await
            .expect("updates keep coming")
            .unwrap()
            .unwrap();
        if msg.is_text() {
            updates += 1;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(raw);
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_is_dropped() {
    let mut settings = test_settings();
    settings.limits.ws_ping_interval = Duration::from_millis(300);
    // The stuck subscriber holds the key's only slot until it is dropped.
    settings.ws_max_connections_per_key = 1;
    let s = TestServer::start(settings).await;
    let raw = stuck_subscriber(&s).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        ws(&s).await.is_err(),
        "the stuck subscriber should hold the only slot"
    );

    // It answers no ping: after two ping intervals without a word, it is dropped.
    let started = Instant::now();
    let mut freed = false;
    while started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if ws(&s).await.is_ok() {
            freed = true;
            break;
        }
    }
    assert!(freed, "the subscriber that does not read was never dropped");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(raw);
}

#[tokio::test]
async fn a_subscriber_that_reads_answers_pings_and_stays() {
    let mut settings = test_settings();
    settings.limits.ws_ping_interval = Duration::from_millis(100);
    let s = TestServer::start(settings).await;
    let mut c = ws(&s).await.unwrap();
    c.send(Message::text(r#"{"type":"subscribe","channel":"stats"}"#))
        .await
        .unwrap();
    // Reading answers pings (tungstenite replies by itself); a second of updates
    // means ten ping intervals passed without a drop.
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_secs(1) {
        match tokio::time::timeout(Duration::from_secs(2), c.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Text(_)))) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
    assert!(pings >= 5, "{pings} pings");
}
