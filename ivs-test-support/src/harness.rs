//! A real `ivs-server` on `127.0.0.1:0`, and a small HTTP helper to call it.

use std::sync::Arc;

use ivs_server::config::DEV_API_KEY;
use ivs_server::ivs::local::LocalIvs;
use ivs_server::store::ViewerStore;
use ivs_server::{RunningServer, ServerBuilder, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A running server and an HTTP client for it.
pub struct TestServer {
    /// The server.
    pub server: RunningServer,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The key requests carry by default.
    pub key: String,
    http: reqwest::Client,
}

/// A response, with its body parsed as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body.
    pub json: Value,
    /// Raw body text.
    pub text: String,
}

impl Resp {
    /// The `error` code of an error body.
    pub fn code(&self) -> &str {
        self.json["error"].as_str().unwrap_or("<none>")
    }

    /// Asserts the status and, for errors, that the body is in the spec's format with this code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert!(
            self.json["message"].is_string(),
            "no message: {}",
            self.text
        );
        assert!(
            self.json["details"].is_string(),
            "no details: {}",
            self.text
        );
        assert_eq!(
            self.json.as_object().map(|o| o.len()),
            Some(3),
            "error body has extra keys: {}",
            self.text
        );
    }

    /// Asserts a 200 and returns `data`.
    #[track_caller]
    pub fn data(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        assert_eq!(
            self.json["success"],
            Value::Bool(true),
            "body: {}",
            self.text
        );
        &self.json["data"]
    }
}

/// Settings for tests: embedded defaults, fast background tasks.
pub fn test_settings() -> Settings {
    let mut s = Settings::default();
    s.limits.sweep_interval = std::time::Duration::from_millis(100);
    s.limits.stats_interval = std::time::Duration::from_millis(200);
    s
}

impl TestServer {
    /// A server with these settings (embedded store, its own emulator).
    pub async fn start(settings: Settings) -> TestServer {
        Self::start_builder(ServerBuilder::new(settings)).await
    }

    /// A server from a prepared builder (to inject a store or backend).
    pub async fn start_builder(builder: ServerBuilder) -> TestServer {
        Self::start_at(builder, ([127, 0, 0, 1], 0).into()).await
    }

    /// A server on a chosen address (e.g. the port of one that was stopped).
    pub async fn start_at(builder: ServerBuilder, addr: std::net::SocketAddr) -> TestServer {
        let server = builder.build().await.expect("server builds");
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let server = server.spawn(listener).expect("spawn");
        let base = server.base_url();
        TestServer {
            server,
            base,
            key: DEV_API_KEY.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// A server sharing `ivs` (one emulated IVS account) with others.
    pub async fn start_shared(settings: Settings, ivs: Arc<LocalIvs>) -> TestServer {
        Self::start_builder(ServerBuilder::new(settings).ivs(ivs)).await
    }

    /// Sends a request with the default key.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with_key(method, path, body, Some(&self.key))
            .await
    }

    /// Sends a request with the given key (or none).
    pub async fn call_with_key(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    /// Reads a response.
    pub async fn read(res: reqwest::Response) -> Resp {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text,
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// A raw request builder (custom headers, bodies).
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{}", self.base, path))
    }

    /// Joins a viewer; returns the response.
    pub async fn join(&self, user: &str) -> Resp {
        self.post("/api/token/viewer", serde_json::json!({ "userId": user }))
            .await
    }

    /// The master stage ARN.
    pub fn master(&self) -> String {
        self.server.app().master_arn()
    }
}

/// `GET /metrics` with the server's key: the body, after checking the status.
pub async fn scrape(s: &TestServer) -> String {
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

/// The value of the sample `series` (name and labels, exactly as exposed).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Scrapes until `series` reads `want` (a `/ws` session is counted by the
/// task that runs it, a moment after the handshake answered), for `timeout`
/// at most; the last scrape either way.
pub async fn wait_for_sample(
    s: &TestServer,
    series: &str,
    want: f64,
    timeout: std::time::Duration,
) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let text = scrape(s).await;
        if sample(&text, series) == Some(want) || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every event in a store's log (the first thousand), oldest first, in its
/// wire form (`{"id", "type", "timestamp", "data"}`).
pub async fn logged_events(store: &dyn ViewerStore) -> Vec<Value> {
    let (_, events) = store
        .event_log()
        .tail(Some("0-0"), 1000)
        .await
        .expect("the event log reads");
    events
        .iter()
        .map(|e| serde_json::to_value(&e.event).expect("an event serialises"))
        .collect()
}

/// The types of the logged events whose type starts with `prefix`, oldest first.
pub async fn logged_types(store: &dyn ViewerStore, prefix: &str) -> Vec<String> {
    logged_events(store)
        .await
        .iter()
        .filter_map(|e| e["type"].as_str())
        .filter(|t| t.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Percent-encodes a stage ARN for a path segment.
pub fn enc(arn: &str) -> String {
    percent_encoding::utf8_percent_encode(arn, percent_encoding::NON_ALPHANUMERIC).to_string()
}
