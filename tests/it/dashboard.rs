//! `/dashboard` in a real headless browser: Debian's `chromium`, driven
//! through `chromedriver` (WebDriver, with `fantoccini`), against the built
//! `ivs-server` binary as a separate process, so that stopping and starting
//! it is a real restart on the same port.
//!
//! What it shows: the key entered in the field signs the page in; the
//! numbers are `/api/stats`'s; 30 joins appear without a reload; a stopped
//! server shows a state other than `live` and the page is back to `live` by
//! itself once the server is started again on the same port; the console
//! has no errors (other than the refused connections while the server is
//! away); every request the browser made (chromium's performance log) went to
//! the server's own origin and none carried the key in its URL, nor does
//! the server's log hold it; "Forget key" signs out and `#key=…` signs in
//! again, leaving the address bar; a phone viewport (390×844) has no horizontal
//! scroll. The 1280×800 screenshot is saved under the target directory, and
//! with `UPDATE_DOCS=1` as `docs/dashboard.png` (the README shows it).
//!
//! Without chromium or chromedriver it fails and says what to install
//! (`.ci/run` installs both); it never skips.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use ivs_server::ivs::local::LocalIvs;
use ivs_server::server::ServerBuilder;
use ivs_server::store::memory::MemoryStore;
use ivs_server::store::ViewerStore;
use ivs_test_support::fleet::{Fleet, API_KEY as FLEET_KEY};
use ivs_test_support::harness::{test_settings, TestServer};
use ivs_test_support::server_process::ServerProcess;
use serde_json::{json, Value};

use crate::FLEET_SERIAL as SERIAL;

const KEY: &str = "dashboard-test-key-4f1c9a";

/// Finds a tool on the `PATH`, or fails saying how to install it.
fn tool(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found on the PATH: the dashboard test needs Debian's chromium and \
         chromedriver (`apt-get install -y chromium chromium-driver`; .ci/run installs them)",
        names.join(" or ")
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let bin = tool(&["chromedriver"]);
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(res) = http.get(format!("{}/status", driver.url)).send().await {
            if res.status().is_success() {
                return driver;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver) -> Client {
    let chromium = tool(&["chromium", "chromium-browser"]);
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,800",
                "--hide-scrollbars",
                "--force-prefers-reduced-motion",
            ],
        },
        "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session through chromedriver")
}

/// A `POST` to one of chromedriver's own endpoints of the session, which
/// fantoccini has no method for.
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// Runs a DevTools command.
fn cdp(cmd: &str, params: Value) -> SessionPost {
    SessionPost {
        path: "goog/cdp/execute",
        body: json!({"cmd": cmd, "params": params}),
    }
}

/// A log of the browser (`browser`: the console; `performance`: the
/// DevTools events, requests included). Reading a log empties it.
async fn read_log(c: &Client, kind: &'static str) -> Vec<Value> {
    let cmd = SessionPost {
        path: "se/log",
        body: json!({"type": kind}),
    };
    match c.issue_cmd(cmd).await.expect("read a log") {
        Value::Array(entries) => entries,
        other => panic!("unexpected {kind} log: {other}"),
    }
}

async fn text(c: &Client, testid: &str) -> String {
    match c
        .find(Locator::Css(&format!("[data-testid={testid}]")))
        .await
    {
        Ok(e) => e.text().await.unwrap_or_default().trim().to_string(),
        Err(_) => String::new(),
    }
}

async fn stage_rows(c: &Client) -> usize {
    c.find_all(Locator::Css("[data-testid=stage-row]"))
        .await
        .map(|rows| rows.len())
        .unwrap_or(0)
}

/// Waits up to `within` for `check` to hold, failing with `what` and the
/// page's state.
async fn until<F, Fut>(c: &Client, within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        if Instant::now() > deadline {
            panic!(
                "{what} not within {within:?}; connection-status {:?}, total-viewers {:?}, \
                 active-stages {:?}, stage rows {}",
                text(c, "connection-status").await,
                text(c, "total-viewers").await,
                text(c, "active-stages").await,
                stage_rows(c).await,
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn stats(base: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{base}/api/stats"))
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("GET /api/stats");
    let body: Value = res.json().await.expect("stats JSON");
    body["data"].clone()
}

/// Whether the page shows `/api/stats`'s numbers now.
async fn shows_the_stats(c: &Client, base: &str) -> bool {
    let s = stats(base).await;
    text(c, "total-viewers").await.parse::<u64>().ok() == s["totalViewers"].as_u64()
        && text(c, "active-stages").await.parse::<u64>().ok() == s["activeStages"].as_u64()
        && stage_rows(c).await == s["stages"].as_array().map_or(0, Vec::len)
        && text(c, "publisher-live")
            .await
            .ends_with(if s["isPublisherLive"] == true {
                "live"
            } else {
                "offline"
            })
}

/// Waits until the page is `live` and shows `/api/stats`'s numbers.
async fn live_with_the_stats(c: &Client, base: &str, within: Duration, when: &str) {
    let what = format!("live with the numbers of /api/stats {when}");
    until(c, within, &what, || async {
        text(c, "connection-status").await == "live" && shows_the_stats(c, base).await
    })
    .await;
}

/// Console entries at error level, except those `allowed` says are expected.
fn console_errors(entries: &[Value], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .filter(|m| !allowed(m))
        .collect()
}

/// Every URL the browser requested or opened a WebSocket to, from the
/// performance log.
fn requested_urls(entries: &[Value]) -> Vec<String> {
    let mut urls = Vec::new();
    for entry in entries {
        let Some(raw) = entry["message"].as_str() else {
            continue;
        };
        let Ok(msg) = serde_json::from_str::<Value>(raw) else {
            continue;
        };
        let m = &msg["message"];
        let url = match m["method"].as_str() {
            Some("Network.requestWillBeSent") => &m["params"]["request"]["url"],
            Some("Network.webSocketCreated") => &m["params"]["url"],
            _ => continue,
        };
        if let Some(url) = url.as_str() {
            urls.push(url.to_string());
        }
    }
    urls
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let png = c.screenshot().await.expect("a screenshot");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&out, &png).expect("write the screenshot");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::write(&docs, &png).expect("write the screenshot under docs/");
    }
    out
}

async fn join(base: &str, n: usize) {
    let http = reqwest::Client::new();
    for i in 0..n {
        let res = http
            .post(format!("{base}/api/token/viewer"))
            .header("x-api-key", KEY)
            .json(&json!({"userId": format!("viewer-{i:03}")}))
            .send()
            .await
            .expect("join");
        assert!(res.status().is_success(), "join {i}: {}", res.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let _serial = SERIAL.lock().await;
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let keys = format!("{KEY}:100000");
    let mut server = ServerProcess::start(&[
        ("IVS_BIND", bind.as_str()),
        ("IVS_API_KEYS", keys.as_str()),
        ("IVS_STATS_INTERVAL_MS", "1000"),
        // Small stages, so that 30 joins scale the fleet up.
        ("IVS_VIEWERS_PER_STAGE", "12"),
        ("IVS_SCALE_UP_THRESHOLD", "10"),
        ("RUST_LOG", "info,ivs_server::request=debug"),
    ]);
    let base = server.base.clone();
    let driver = start_driver().await;
    let c = browser(&driver).await;
    c.set_window_size(1280, 800).await.expect("window size");

    c.goto(&format!("{base}/dashboard")).await.expect("open");
    let field = c
        .wait()
        .for_element(Locator::Css("[data-testid=api-key]"))
        .await
        .expect("the key field");
    let focused = c
        .execute(
            "return document.activeElement.getAttribute('data-testid');",
            vec![],
        )
        .await
        .expect("focus");
    assert_eq!(
        focused, "api-key",
        "the key field has the focus: type and press Enter"
    );
    // Every control is labelled, and Tab goes on to the button.
    let unlabelled = c
        .execute(
            "return [...document.querySelectorAll('input, select, textarea, button')]
                .filter(e => e.tagName === 'BUTTON'
                    ? !e.textContent.trim()
                    : !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML);",
            vec![],
        )
        .await
        .expect("labels");
    assert_eq!(unlabelled, json!([]), "controls without a label");
    field.send_keys("\u{E004}").await.expect("Tab");
    let next = c
        .execute("return document.activeElement.textContent.trim();", vec![])
        .await
        .expect("focus");
    assert_eq!(next, "Connect", "Tab from the key field");
    field
        .send_keys(&format!("{KEY}\u{E007}"))
        .await
        .expect("type the key, Enter");
    live_with_the_stats(&c, &base, Duration::from_secs(15), "after the key").await;

    join(&base, 30).await;
    until(
        &c,
        Duration::from_secs(20),
        "30 joins shown without a reload",
        || async { text(&c, "total-viewers").await == "30" && shows_the_stats(&c, &base).await },
    )
    .await;
    assert!(stage_rows(&c).await >= 3, "30 viewers on stages of 12");
    until(
        &c,
        Duration::from_secs(10),
        "stage.created in the events",
        || async { text(&c, "events").await.contains("stage created") },
    )
    .await;
    // The chart is drawn anew at every stats update: an element found just
    // before one is stale by the time it is read, so find and read again.
    until(
        &c,
        Duration::from_secs(10),
        "the chart has a line",
        || async {
            match c
                .find(Locator::Css("[data-testid=viewers-chart] polyline"))
                .await
            {
                Ok(line) => line
                    .attr("points")
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|p| !p.is_empty()),
                Err(_) => false,
            }
        },
    )
    .await;
    // The viewport itself at 1280×800 (the window's size includes none of
    // a headless browser's chrome, but the emulation says it exactly).
    c.issue_cmd(cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
    ))
    .await
    .expect("desktop viewport");
    let shot = screenshot(&c, "dashboard.png").await;
    eprintln!("screenshot: {}", shot.display());

    // The dark scheme follows the system's.
    let background = "return getComputedStyle(document.body).backgroundColor;";
    let light = c
        .execute(background, vec![])
        .await
        .expect("light background");
    c.issue_cmd(cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    ))
    .await
    .expect("dark scheme");
    let dark = c
        .execute(background, vec![])
        .await
        .expect("dark background");
    assert_ne!(light, dark, "the dark scheme changes the page");
    screenshot(&c, "dashboard-dark.png").await;
    c.issue_cmd(cdp("Emulation.setEmulatedMedia", json!({"features": []})))
        .await
        .expect("light again");

    let errors = console_errors(&read_log(&c, "browser").await, |_| false);
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // A phone: no horizontal scroll.
    c.issue_cmd(cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    ))
    .await
    .expect("phone viewport");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let widths = c
        .execute(
            "const d = document.documentElement; return [d.scrollWidth, d.clientWidth, window.innerWidth];",
            vec![],
        )
        .await
        .expect("measure");
    let (scroll, client) = (widths[0].as_u64(), widths[1].as_u64());
    assert_eq!(widths[2], 390, "the phone viewport applies: {widths}");
    assert!(
        scroll <= client,
        "horizontal scroll on a phone: {widths} (scrollWidth, clientWidth, innerWidth)"
    );
    screenshot(&c, "dashboard-phone.png").await;
    c.issue_cmd(cdp("Emulation.clearDeviceMetricsOverride", json!({})))
        .await
        .expect("desktop again");

    // Stopped: not live. Started again on the same port: live by itself.
    assert!(
        server.terminate(Duration::from_secs(15)).is_some(),
        "the server stops on SIGTERM"
    );
    until(
        &c,
        Duration::from_secs(10),
        "a state other than live",
        || async {
            let s = text(&c, "connection-status").await;
            !s.is_empty() && s != "live"
        },
    )
    .await;
    let stopped_logs = server.logs();
    let server = server.start_again();
    assert_eq!(server.base, base, "started again on the same port");
    // A new process with the in-process store: the page follows it.
    live_with_the_stats(&c, &base, Duration::from_secs(30), "after the restart").await;
    let errors = console_errors(&read_log(&c, "browser").await, |m| {
        // While the server was away, the browser reports the failed
        // connections itself (net::ERR_…); the page's own code logs nothing.
        m.contains("net::ERR_")
    });
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // "Forget key" signs out; the key in the URL fragment (never sent to the
    // server) signs in again, and leaves the address bar.
    c.find(Locator::Id("sign-out"))
        .await
        .expect("the sign-out button")
        .click()
        .await
        .expect("sign out");
    until(
        &c,
        Duration::from_secs(5),
        "unauthorised after signing out",
        || async { text(&c, "connection-status").await == "unauthorised" },
    )
    .await;
    c.goto(&format!("{base}/dashboard#key={KEY}"))
        .await
        .expect("open with the key in the fragment");
    live_with_the_stats(
        &c,
        &base,
        Duration::from_secs(15),
        "with the key in the fragment",
    )
    .await;
    let hash = c
        .execute("return window.location.hash;", vec![])
        .await
        .expect("the fragment");
    assert_eq!(hash, "", "the key is taken out of the address bar");
    let errors = console_errors(&read_log(&c, "browser").await, |_| false);
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // Every request went to the server's origin, and no URL held the key.
    let urls = requested_urls(&read_log(&c, "performance").await);
    let origin = base.trim_start_matches("http://");
    assert!(
        urls.iter()
            .any(|u| u.starts_with(&format!("ws://{origin}/ws?ticket="))),
        "the WebSocket was opened with a ticket: {urls:#?}"
    );
    assert!(
        urls.iter().any(|u| u.ends_with("/api/stats")),
        "the page read /api/stats: {urls:#?}"
    );
    for url in &urls {
        assert!(
            url.starts_with(&format!("http://{origin}/"))
                || url.starts_with(&format!("ws://{origin}/")),
            "a request to another origin: {url}"
        );
        assert!(!url.contains(KEY), "the key in a URL: {url}");
    }
    for line in stopped_logs.iter().chain(server.logs().iter()) {
        assert!(!line.contains(KEY), "the key in the server's log: {line}");
    }
    let _ = c.close().await;
}

// ---- the parts the page stands on, without a browser: `/ws` tickets and
// the `events` channel.

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An instance `/ws` tests talk to: its base URL and an API key it accepts.
struct Instance {
    base: String,
    key: String,
}

impl Instance {
    fn of(s: &TestServer) -> Instance {
        Instance {
            base: s.base.clone(),
            key: s.key.clone(),
        }
    }

    /// The instances of a fleet of built server processes.
    fn fleet(fleet: &Fleet) -> Vec<Instance> {
        fleet
            .live()
            .into_iter()
            .map(|(_, base)| Instance {
                base,
                key: FLEET_KEY.to_string(),
            })
            .collect()
    }

    /// `POST /api/ws-ticket` with this instance's key (`None`: without one).
    async fn post_ticket(&self, key: Option<&str>) -> reqwest::Response {
        let mut req = reqwest::Client::new().post(format!("{}/api/ws-ticket", self.base));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.send().await.expect("POST /api/ws-ticket")
    }

    /// A new ticket, checked as the API documents it.
    async fn ticket(&self) -> String {
        let r = self.post_ticket(Some(&self.key)).await;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body: Value = r.json().await.expect("a JSON body");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true, "{body}");
        assert_eq!(body["data"]["expiresIn"], 30);
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.contains_key("ratelimit-remaining"));
        body["data"]["ticket"]
            .as_str()
            .expect("a ticket")
            .to_string()
    }

    /// A stage made through the API; its ARN.
    async fn create_stage(&self, name: &str) -> String {
        let r = reqwest::Client::new()
            .post(format!("{}/api/stage", self.base))
            .header("x-api-key", &self.key)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("POST /api/stage");
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("a JSON body");
        assert_eq!(status, 200, "{body}");
        body["data"]["stage"]["arn"]
            .as_str()
            .expect("an ARN")
            .to_string()
    }
}

/// Opens `/ws?ticket=…`: the socket, or the refusal's status and body.
async fn ws_with_ticket(s: &Instance, ticket: &str) -> Result<Ws, (u16, String)> {
    use tokio_tungstenite::tungstenite::Error;
    let host = s.base.trim_start_matches("http://");
    let url = format!("ws://{host}/ws?ticket={ticket}");
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(res)) => {
            let body = res
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((res.status().as_u16(), body))
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

async fn next_message(ws: &mut Ws) -> Value {
    use futures_util::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .expect("no error");
        if let Ok(text) = msg.to_text() {
            if !text.is_empty() {
                return serde_json::from_str(text).expect("JSON");
            }
        }
    }
}

async fn send(ws: &mut Ws, msg: Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        msg.to_string(),
    ))
    .await
    .expect("send");
}

#[tokio::test]
async fn a_ticket_opens_one_websocket_once_and_nothing_else_does() {
    let server = TestServer::start(test_settings()).await;
    let s = Instance::of(&server);
    let t = s.ticket().await;
    assert!(!t.contains(&s.key));
    let mut ws = ws_with_ticket(&s, &t).await.expect("the ticket opens /ws");
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next_message(&mut ws).await["type"], "pong");
    // Used: refused, in the API's error format.
    let (status, body) = ws_with_ticket(&s, &t).await.expect_err("refused");
    assert_eq!(status, 401, "{body}");
    let body: Value = serde_json::from_str(&body).expect("an error body");
    assert_eq!(body["error"], "UNAUTHORIZED");
    assert!(body["details"].as_str().unwrap().contains("already used"));
    // Altered or made up: refused.
    let (signed, _) = t.rsplit_once('.').unwrap();
    for bad in [format!("{signed}.AAAA"), "x".into(), String::new()] {
        let (status, _) = ws_with_ticket(&s, &bad).await.expect_err("refused");
        assert_eq!(status, 401, "{bad:?}");
    }
    // Without a key, no ticket.
    let r = s.post_ticket(None).await;
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.expect("an error body");
    assert_eq!(body["error"], "UNAUTHORIZED");
}

/// Two built server processes on one private Redis (docs/fleet-tests.md).
fn fleet_on_redis() -> Fleet {
    Fleet::local(2, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_works_on_any_instance_of_a_fleet_once() {
    let _serial = SERIAL.lock().await;
    let fleet = fleet_on_redis();
    let [a, b] = <[Instance; 2]>::try_from(Instance::fleet(&fleet))
        .ok()
        .expect("two instances");
    let t = a.ticket().await;
    let _ws = ws_with_ticket(&b, &t)
        .await
        .expect("issued by a, used on b");
    for s in [&a, &b] {
        let (status, body) = ws_with_ticket(s, &t).await.expect_err("used once");
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(fleet.log_problems(), Vec::<String>::new());
}

#[tokio::test]
async fn the_events_channel_carries_the_fleets_events_and_stats_stay_as_they_are() {
    // Two instances on one store and one emulated IVS account: a fleet in
    // one process, as the in-process store allows.
    let store: Arc<dyn ViewerStore> = Arc::new(MemoryStore::new());
    let ivs = Arc::new(LocalIvs::generate("ap-northeast-1", "123456789012").expect("emulator"));
    let instance = || {
        ServerBuilder::new(test_settings())
            .store(store.clone())
            .ivs(ivs.clone())
    };
    let a = TestServer::start_builder(instance()).await;
    let b = TestServer::start_builder(instance()).await;
    events_of_one_instance_reach_the_other(&Instance::of(&a), &Instance::of(&b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_channel_carries_the_events_of_a_fleet_on_redis() {
    let _serial = SERIAL.lock().await;
    let fleet = fleet_on_redis();
    let [a, b] = <[Instance; 2]>::try_from(Instance::fleet(&fleet))
        .ok()
        .expect("two instances");
    events_of_one_instance_reach_the_other(&a, &b).await;
    assert_eq!(fleet.log_problems(), Vec::<String>::new());
}

/// Subscribed on `a`, a stage created through `b` arrives as an event;
/// `stats_update` keeps the spec's shape; unsubscribed, no more events.
async fn events_of_one_instance_reach_the_other(a: &Instance, b: &Instance) {
    let mut ws = ws_with_ticket(a, &a.ticket().await).await.expect("open");
    send(&mut ws, json!({"type": "subscribe", "channel": "events"})).await;
    send(&mut ws, json!({"type": "subscribe", "channel": "stats"})).await;
    let first = next_message(&mut ws).await;
    ivs_test_support::shape::assert_shape(&first, "ws-stats-update.message.json", &[]);
    // The follower anchors within a poll; a stage made then on the *other*
    // instance is an event here.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let arn = b.create_stage("from-b").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        assert!(Instant::now() < deadline, "no stage.created event");
        let msg = next_message(&mut ws).await;
        match msg["type"].as_str() {
            Some("stats_update") => {
                ivs_test_support::shape::assert_shape(&msg, "ws-stats-update.message.json", &[])
            }
            Some("event") if msg["data"]["type"] == "stage.created" => break msg,
            Some("event") => {}
            other => panic!("unexpected message {other:?}: {msg}"),
        }
    };
    assert_eq!(event["data"]["data"]["stageArn"], arn.as_str());
    let parsed: ivs_client::model::ServerMessage =
        serde_json::from_value(event.clone()).expect("typed");
    assert!(
        matches!(parsed, ivs_client::model::ServerMessage::Event { .. }),
        "{event}"
    );
    // Unsubscribed: no more events (stats go on).
    send(&mut ws, json!({"type": "unsubscribe", "channel": "events"})).await;
    send(&mut ws, json!({"type": "unsubscribe", "channel": "stats"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.create_stage("unseen").await;
    send(&mut ws, json!({"type": "ping"})).await;
    loop {
        let msg = next_message(&mut ws).await;
        if msg["type"] == "pong" {
            break;
        }
        assert_ne!(msg["type"], "event", "an event after unsubscribing: {msg}");
    }
}
