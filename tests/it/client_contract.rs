//! The contract table of `ivs-client/tests/it/contract.rs`, run against the real
//! `ivs-server` on `127.0.0.1:0`.
//!
//! The client talks to the server through a recording wiremock proxy: the
//! proxy only forwards the request the table expects (method, path with the
//! encoded ARN, query, `x-api-key`, JSON body), and keeps the raw answer. So
//! each case checks, with one request to the server:
//! * the client sends the table's request to a real server too;
//! * the typed call succeeds, and its result carries the whole raw payload
//!   (nothing the server sent is dropped or altered by the client);
//! * the raw JSON has the keys and JSON types of the spec's example.
//!
//! The documented errors a real server can produce (400, 401, 403, 404) run
//! the same way: the client must map them to the right code and status, and
//! the raw body must have the shape of the spec's error example.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ivs_client::{Client, Error, RetryPolicy};
use ivs_server::config::RedisSettings;
use ivs_server::Settings;
use ivs_test_support::contract_table::{self, cases, error_cases, Ctx, WRONG_KEY};
use ivs_test_support::harness::{test_settings, TestServer};
use ivs_test_support::redis_cluster::RedisCluster;
use ivs_test_support::shape::assert_shape;
use serde_json::Value;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// One answer of the server, as the proxy passed it on.
#[derive(Debug, Clone)]
struct Exchange {
    status: u16,
    content_type: String,
    text: String,
}

impl Exchange {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// Forwards a matched request to the real server and records its answer.
struct Forward {
    base: String,
    seen: Arc<Mutex<Vec<Exchange>>>,
}

impl Respond for Forward {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut url = format!("{}{}", self.base, req.url.path());
        if let Some(q) = req.url.query() {
            url.push('?');
            url.push_str(q);
        }
        let method = reqwest::Method::from_bytes(req.method.as_str().as_bytes()).expect("method");
        let headers: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .filter(|(name, _)| {
                !matches!(
                    name.as_str(),
                    "host" | "content-length" | "connection" | "transfer-encoding"
                )
            })
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();
        let body = req.body.clone();
        // wiremock answers on its own thread: block it while a runtime of
        // our own sends the request on.
        let exchange = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut rb = reqwest::Client::new().request(method, url).body(body);
                for (name, value) in headers {
                    rb = rb.header(name, value);
                }
                let res = rb.send().await.expect("forwarded to the server");
                let status = res.status().as_u16();
                let content_type = res
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let text = res.text().await.expect("server body");
                Exchange {
                    status,
                    content_type,
                    text,
                }
            })
        })
        .join()
        .expect("proxy thread");
        self.seen.lock().unwrap().push(exchange.clone());
        ResponseTemplate::new(exchange.status)
            .set_body_raw(exchange.text.into_bytes(), &exchange.content_type)
    }
}

/// The real server behind a recording proxy.
struct Target {
    server: TestServer,
    proxy: MockServer,
    seen: Arc<Mutex<Vec<Exchange>>>,
}

impl Target {
    async fn start() -> Target {
        Self::start_with(test_settings()).await
    }

    async fn start_with(settings: Settings) -> Target {
        Target {
            server: TestServer::start(settings).await,
            proxy: MockServer::start().await,
            seen: Arc::default(),
        }
    }

    fn client(&self, key: &str) -> Client {
        Client::builder()
            .base_url(self.proxy.uri())
            .api_key(key)
            .request_timeout(Duration::from_secs(10))
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("client")
    }

    fn forward(&self) -> Forward {
        Forward {
            base: self.server.base.clone(),
            seen: self.seen.clone(),
        }
    }

    /// The one answer the server gave since the last call.
    fn take(&self, what: &str) -> Exchange {
        let mut seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{what}: expected one forwarded request");
        seen.pop().unwrap()
    }
}

#[tokio::test]
async fn every_endpoint_of_the_table_works_against_the_real_server() {
    every_endpoint_works(Target::start().await).await;
}

/// The server on Redis Cluster (3 primaries + 3 replicas), every node a seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_of_the_table_works_against_a_server_on_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("cluster start");
    let settings = Settings {
        redis: RedisSettings {
            url: Some(cluster.urls().join(",")),
            prefix: "contract:".into(),
            ..Default::default()
        },
        ..test_settings()
    };
    let t = Target::start_with(settings).await;
    let health = t.server.get("/health").await;
    assert_eq!(
        health.json["services"]["redis"], "connected",
        "{:?}",
        health.json
    );
    every_endpoint_works(t).await;
    // Everything the server wrote is under the deployment's hash tag, or
    // (local mode) the emulated account's own.
    let keys = cluster.keys_matching("*");
    assert!(
        keys.iter().any(|k| k.starts_with("{contract}:")),
        "{keys:?}"
    );
    let stray: Vec<&String> = keys
        .iter()
        .filter(|k| !k.starts_with("{contract}:") && !k.starts_with("ivs-local:{"))
        .collect();
    assert!(stray.is_empty(), "keys outside the hash tag: {stray:?}");
}

async fn every_endpoint_works(t: Target) {
    let client = t.client(&t.server.key);
    let mut ctx = Ctx::live(t.server.master());
    let cases = cases();
    assert_eq!(cases.len(), 18);

    for case in &cases {
        t.proxy.reset().await;
        contract_table::expect_request(case, &ctx, &t.server.key)
            .respond_with(t.forward())
            .expect(1)
            .named(case.name)
            .mount(&t.proxy)
            .await;

        let result = case.run(&client, &mut ctx).await;
        // A request other than the table's gets no answer from the proxy:
        // report that before the client's error.
        t.proxy.verify().await;
        let raw = t.take(case.name);
        let typed = result.unwrap_or_else(|e| panic!("{}: {e:?}\nraw: {}", case.name, raw.text));
        assert_eq!(raw.status, 200, "{}: {}", case.name, raw.text);
        assert!(
            raw.content_type.starts_with("application/json"),
            "{}: content-type {}",
            case.name,
            raw.content_type
        );
        let json = raw.json();
        assert_shape(&json, case.response, case.nullable);
        assert_eq!(
            typed,
            case.shape.payload(&json),
            "{}: the typed result differs from the server's raw payload",
            case.name
        );
    }
    assert!(ctx.created.starts_with("arn:aws:ivs:"), "{}", ctx.created);
}

#[tokio::test]
async fn documented_errors_of_the_real_server_map_to_code_and_status() {
    let t = Target::start().await;
    let ctx = Ctx::live(t.server.master());
    let cases: Vec<_> = error_cases()
        .into_iter()
        .filter(|c| c.on_real_server)
        .collect();
    let mut statuses: Vec<u16> = cases.iter().map(|c| c.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [400, 401, 403, 404]);

    for case in &cases {
        t.proxy.reset().await;
        let key = if case.wrong_key {
            WRONG_KEY
        } else {
            t.server.key.as_str()
        };
        case.expect_request(&ctx, key)
            .respond_with(t.forward())
            .expect(1)
            .named(case.code)
            .mount(&t.proxy)
            .await;

        let err = (case.call)(&t.client(key), &ctx)
            .await
            .expect_err(case.code);
        t.proxy.verify().await;
        let raw = t.take(case.code);
        match &err {
            Error::Api(e) => {
                assert_eq!(e.status(), case.status, "{}: {}", case.code, raw.text);
                assert_eq!(e.code(), &case.expected, "{}", raw.text);
                let json = raw.json();
                assert_eq!(json["message"].as_str(), Some(e.message()));
                assert_eq!(json["details"].as_str(), Some(e.details()));
                assert!(
                    !e.message().is_empty() && !e.details().is_empty(),
                    "{}",
                    raw.text
                );
            }
            other => panic!("{}: expected Error::Api, got {other:?}", case.code),
        }
        assert_eq!(err.code(), Some(&case.expected));
        assert_eq!(err.status(), Some(case.status));
        assert_eq!(raw.status, case.status);
        let json = raw.json();
        assert_shape(&json, "error.response.json", &[]);
        assert_eq!(json["error"], case.code);
    }
}
