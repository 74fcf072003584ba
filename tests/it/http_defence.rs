//! The HTTP server defends itself, tested against the built binary over raw
//! sockets: slow headers and idle keep-alive connections are closed, idle
//! connections do not hold up a shutdown, the connection cap holds, and a
//! flood of refused requests is counted in `/metrics` but logged sampled.
//!
//! Needs the binary: `cargo build -p ivs-server` before
//! `cargo test --test http_defence`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ivs_test_support::server_process::ServerProcess;

/// Reads one HTTP/1.1 response (headers and a `content-length` body) and
/// returns its status and body.
fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).expect("a response");
        assert!(n > 0, "closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head[9..12].parse().expect("a status code");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).expect("the body");
        assert!(n > 0, "closed inside the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
    (status, body)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// One request on its own connection.
fn get(addr: SocketAddr, path: &str, key: Option<&str>) -> (u16, String) {
    let mut s = connect(addr);
    let key = key
        .map(|k| format!("x-api-key: {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\n{key}connection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut s)
}

/// A request on a keep-alive connection.
fn get_keep_alive(s: &mut TcpStream, path: &str) -> (u16, String) {
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    read_response(s)
}

/// Waits up to `within` for the server to close `s`; how long it took.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            // Bytes after a close would be a response: not what we wait for.
            Ok(_) => panic!("the server answered instead of closing"),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                return None
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Some(started.elapsed()), // reset: closed too
        }
    }
}

fn metric(addr: SocketAddr, line_prefix: &str) -> u64 {
    let (status, text) = get(addr, "/metrics", Some("dev-api-key"));
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_prefix} in\n{text}"))
}

#[test]
fn slow_headers_are_cut_off_while_others_are_served() {
    let server = ServerProcess::start(&[("IVS_HEADER_READ_TIMEOUT_MS", "500")]);
    let addr = server.addr;
    let opened = Instant::now();
    // Stalled after part of the head, and never a byte at all.
    let mut stalled: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").unwrap();
            s
        })
        .chain((0..5).map(|_| connect(addr)))
        .collect();
    // Trickling a header a byte every 100 ms: always "active", never done.
    let tricklers: Vec<_> = (0..5)
        .map(|_| {
            let s = connect(addr);
            let mut writer = s.try_clone().unwrap();
            let handle = std::thread::spawn(move || {
                let _ = writer.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ");
                for _ in 0..60 {
                    if writer.write_all(b"a").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            (s, handle)
        })
        .collect();

    // Meanwhile everyone else is served as usual.
    let (status, _) = get(addr, "/health", None);
    assert_eq!(status, 200);

    for s in stalled.iter_mut() {
        let left = Duration::from_secs(3).saturating_sub(opened.elapsed());
        assert!(
            closed_within(s, left).is_some(),
            "a stalled connection was still open 3 s after it was opened"
        );
    }
    for (mut s, handle) in tricklers {
        let left = Duration::from_secs(3).saturating_sub(opened.elapsed());
        assert!(
            closed_within(&mut s, left).is_some(),
            "a trickling connection was still open 3 s after it was opened"
        );
        handle.join().unwrap();
    }
    assert_eq!(get(addr, "/health", None).0, 200);
    assert_eq!(
        metric(
            addr,
            "ivs_http_connections_closed_total{reason=\"header_timeout\"} "
        ),
        20
    );
    // Sampled: not one line per closed connection.
    let lines = server.log_lines_with("headers did not arrive");
    assert!(
        (1..=2).contains(&lines.len()),
        "{} lines: {lines:#?}",
        lines.len()
    );
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let server = ServerProcess::start(&[
        ("IVS_HEADER_READ_TIMEOUT_MS", "500"),
        ("IVS_IDLE_TIMEOUT_MS", "2000"),
    ]);
    let mut s = connect(server.addr);
    assert_eq!(get_keep_alive(&mut s, "/health").0, 200);
    // Idle for twice the header timeout: the idle timeout applies between
    // requests, not the header timeout, so the connection is still usable.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(get_keep_alive(&mut s, "/health").0, 200);
    let after = closed_within(&mut s, Duration::from_secs(6))
        .expect("an idle keep-alive connection was never closed");
    assert!(
        after >= Duration::from_millis(1500),
        "closed {after:?} after the last response, before the 2 s idle timeout"
    );
    assert_eq!(
        metric(
            server.addr,
            "ivs_http_connections_closed_total{reason=\"idle_timeout\"} "
        ),
        1
    );
}

#[test]
fn sigterm_with_idle_connections_open_exits_at_once() {
    // Default timeouts: 10 s for headers, 75 s idle.
    let mut server = ServerProcess::start(&[]);
    let addr = server.addr;
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect(addr);
            assert_eq!(get_keep_alive(&mut s, "/health").0, 200);
            s
        })
        .collect();
    // Connected, never sent a byte.
    idle.extend((0..2).map(|_| connect(addr)));
    std::thread::sleep(Duration::from_millis(200));

    let sent = Instant::now();
    let status = server
        .terminate(Duration::from_secs(3))
        .expect("still running 3 s after SIGTERM with idle connections open");
    assert!(status.success(), "exit status {status:?}");
    assert!(sent.elapsed() < Duration::from_secs(3));
    for s in idle.iter_mut() {
        assert!(closed_within(s, Duration::from_secs(1)).is_some());
    }
}

#[test]
fn shutdown_waits_for_a_request_under_way_only_within_the_grace_period() {
    let mut server = ServerProcess::start(&[
        ("IVS_HEADER_READ_TIMEOUT_MS", "30000"),
        ("IVS_SHUTDOWN_GRACE_MS", "1000"),
    ]);
    // A request whose head is still arriving is under way: shutdown lets it
    // finish, but not beyond the grace period.
    let mut s = connect(server.addr);
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    let status = server
        .terminate(Duration::from_secs(4))
        .expect("a half-sent request held the shutdown beyond the grace period");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        sent.elapsed() >= Duration::from_millis(900),
        "the request under way was not given its grace period: {:?}",
        sent.elapsed()
    );
    assert!(closed_within(&mut s, Duration::from_secs(1)).is_some());
}

#[test]
fn beyond_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let server = ServerProcess::start(&[
        ("IVS_MAX_CONNECTIONS", "5"),
        ("IVS_HEADER_READ_TIMEOUT_MS", "30000"),
    ]);
    let addr = server.addr;
    let mut held: Vec<TcpStream> = (0..5).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(300));

    // The sixth connects (the kernel's backlog takes it) but is not served...
    let mut sixth = connect(addr);
    write!(
        sixth,
        "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    sixth
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut byte = [0u8; 1];
    match sixth.read(&mut byte) {
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
        other => panic!("the sixth connection was served at the cap: {other:?}"),
    }

    // ...until one of the five closes.
    drop(held.pop());
    let freed = Instant::now();
    sixth
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let (status, _) = read_response(&mut sixth);
    assert_eq!(status, 200);
    assert!(freed.elapsed() < Duration::from_secs(3));
    drop(sixth);
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    assert!(metric(addr, "ivs_http_connection_limit_reached_total ") >= 1);
}

#[test]
fn a_flood_of_refused_requests_is_counted_not_logged_line_by_line() {
    let server = ServerProcess::start(&[]);
    let wrong_key = "wrong-key-0123456789";
    for _ in 0..500 {
        let (status, _) = get(server.addr, "/api/stats", Some(wrong_key));
        assert_eq!(status, 401);
    }
    // Lines about the 401s: before, warp's request logger wrote one per
    // request (`"status":401`); now the sampled `reason: unauthorized` ones.
    let about_them = |server: &ServerProcess| -> Vec<serde_json::Value> {
        server
            .logs()
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON log lines"))
            .filter(|l| l["fields"]["status"] == 401 || l["fields"]["reason"] == "unauthorized")
            .collect()
    };
    let lines = about_them(&server);
    assert!(lines.len() <= 5, "{} log lines about the 401s", lines.len());
    assert_eq!(
        metric(
            server.addr,
            "ivs_requests_refused_total{reason=\"unauthorized\"} "
        ),
        500
    );
    // Within two windows, the sampled lines add up to the whole flood.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let logged: u64 = about_them(&server)
            .iter()
            .filter_map(|l| l["fields"]["count"].as_u64())
            .sum();
        if logged == 500 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sampled lines report {logged} of 500 refusals"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(about_them(&server).len() <= 5);
    assert!(
        server.logs().iter().all(|l| !l.contains(wrong_key)),
        "a key reached the log"
    );
}
