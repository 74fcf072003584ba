//! Webhooks out (issue 16): a real HTTP receiver started by the test
//! (wiremock's server, with a responder that records and checks every
//! request) gets the events of an in-process server on the in-process store,
//! signed as the Standard Webhooks specification says. The signature is
//! checked here with code written for the test (HMAC-SHA256 over
//! `id.timestamp.body` with the decoded `whsec_` key), not with the server's.
//!
//! Fleets of server processes on Redis: `webhooks_fleet.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ivs_server::webhooks::settings::{parse_filter, parse_secret, parse_urls};
use ivs_server::Settings;
use ivs_test_support::harness::{enc, test_settings, TestServer};
use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The secret every test signs with (32 random bytes).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJ4cXn0bV1sE=";

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 204 at once.
    Accept,
    /// This status at once.
    Refuse(u16),
    /// This status with this `Retry-After` at once.
    Throttle(u16, &'static str),
    /// 200 after this long.
    Slow(Duration),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// The parsed body.
    pub body: Value,
    /// The status it was answered with.
    pub answered: u16,
    /// What is wrong with the request (signature, headers), if anything.
    pub problem: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The event's `type`.
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
}

struct State {
    key: Vec<u8>,
    answer: Mutex<Answer>,
    log: Mutex<Vec<Received>>,
}

/// An HTTP endpoint that records webhook requests; it can be taken down
/// (its port closed) and brought back on the same port.
pub struct Receiver {
    server: Option<MockServer>,
    addr: SocketAddr,
    state: Arc<State>,
}

struct Recorder(Arc<State>);

impl Respond for Recorder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let id = header("webhook-id");
        let problem = check(
            &self.0.key,
            &id,
            &header("webhook-timestamp"),
            &header("webhook-signature"),
            &req.body,
        )
        .err()
        .or_else(|| {
            (!header("content-type").starts_with("application/json"))
                .then(|| format!("content-type {:?}", header("content-type")))
        });
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let problem = problem.or_else(|| {
            (body["id"] != Value::String(id.clone()))
                .then(|| format!("webhook-id {id:?} is not the body's id {}", body["id"]))
        });
        let answer = *self.0.answer.lock().unwrap_or_else(|e| e.into_inner());
        let (status, delay, retry_after) = match answer {
            Answer::Accept => (204, Duration::ZERO, None),
            Answer::Refuse(s) => (s, Duration::ZERO, None),
            Answer::Throttle(s, after) => (s, Duration::ZERO, Some(after)),
            Answer::Slow(d) => (200, d, None),
        };
        self.0
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Received {
                id,
                body,
                answered: status,
                problem,
                at: Instant::now(),
            });
        let response = ResponseTemplate::new(status).set_delay(delay);
        match retry_after {
            Some(after) => response.insert_header("retry-after", after),
            None => response,
        }
    }
}

/// The Standard Webhooks check, written for the test: `v1,` + base64 of
/// HMAC-SHA256(key, "{id}.{timestamp}.{body}") among the space-separated
/// signatures, and a timestamp within five minutes of now.
fn check(
    key: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
) -> Result<(), String> {
    if id.is_empty() {
        return Err("no webhook-id".into());
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| format!("webhook-timestamp {timestamp:?}"))?;
    let now = chrono::Utc::now().timestamp();
    if (now - ts).abs() > 300 {
        return Err(format!("webhook-timestamp {ts} is {}s from now", now - ts));
    }
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
        &signed,
    );
    let want = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    let ok = signatures
        .split(' ')
        .filter_map(|s| s.split_once(','))
        .any(|(version, sig)| version == "v1" && sig == want);
    if ok {
        Ok(())
    } else {
        Err(format!("webhook-signature {signatures:?} does not verify"))
    }
}

impl Receiver {
    /// A receiver on a free port, answering 204.
    pub async fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let key = base64::engine::general_purpose::STANDARD
            .decode(SECRET.trim_start_matches("whsec_"))
            .expect("the test secret is base64");
        let state = Arc::new(State {
            key,
            answer: Mutex::new(Answer::Accept),
            log: Mutex::new(Vec::new()),
        });
        let server = Self::serve(listener, &state).await;
        Receiver {
            server: Some(server),
            addr,
            state,
        }
    }

    async fn serve(listener: std::net::TcpListener, state: &Arc<State>) -> MockServer {
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(Recorder(state.clone()))
            .mount(&server)
            .await;
        server
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/ivs", self.addr)
    }

    /// Sets how it answers from now on.
    pub fn answer(&self, answer: Answer) {
        *self.state.answer.lock().unwrap_or_else(|e| e.into_inner()) = answer;
    }

    /// Closes its port (connections refused until [`Receiver::up`]).
    pub fn down(&mut self) {
        self.server = None;
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match std::net::TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!(
                    "the receiver's port {} cannot be bound again: {e}",
                    self.addr
                ),
            }
        };
        self.server = Some(Self::serve(listener, &self.state).await);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The events accepted (2xx) so far, by id (the first acceptance).
    pub fn accepted(&self) -> BTreeMap<String, Received> {
        let mut out = BTreeMap::new();
        for r in self.received() {
            if (200..300).contains(&r.answered) {
                out.entry(r.id.clone()).or_insert(r);
            }
        }
        out
    }

    /// Waits until `done` holds for what was received, at most `within`.
    pub async fn wait_for(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not within {within:?}; received {} requests: {:?}",
                    got.len(),
                    got.iter()
                        .map(|r| format!("{} {} {}", r.answered, r.kind(), r.body["data"]))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Requests with a problem (bad signature, headers, id).
    pub fn problems(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter_map(|r| r.problem.map(|p| format!("{}: {p}", r.id)))
            .collect()
    }
}

/// How many accepted events there are of each type.
pub fn count_types(accepted: &BTreeMap<String, Received>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in accepted.values() {
        *out.entry(r.kind().to_string()).or_default() += 1;
    }
    out
}

/// Settings with webhooks to `receiver`, fast retries.
fn hooked(receiver: &Receiver) -> Settings {
    let mut s = test_settings();
    s.webhooks.urls = Some(parse_urls(&receiver.url()).expect("receiver URL"));
    s.webhooks.secret = Some(parse_secret(SECRET).expect("test secret"));
    s.webhooks.timeout = Duration::from_millis(1000);
    s.webhooks.backoff = Duration::from_millis(200);
    s.webhooks.backoff_max = Duration::from_secs(1);
    s
}

/// `/metrics` holds a line starting with `needle`.
async fn assert_metric(s: &TestServer, needle: &str) {
    let text = s.get("/metrics").await.text;
    assert!(
        text.lines().any(|l| l.starts_with(needle)),
        "no {needle} in\n{text}"
    );
}

fn accepted_of<'a>(accepted: &'a BTreeMap<String, Received>, kind: &str) -> Vec<&'a Received> {
    accepted.values().filter(|r| r.kind() == kind).collect()
}

/// Every type appears where it should: the master's creation at start, a
/// custom stage created, drained and removed, joins, a scale-up, the stage limit,
/// a leave with its duration and expiries; each request signed and carrying
/// the event's id; nothing sent twice when every attempt succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_arrives_signed_where_it_should() {
    let receiver = Receiver::start().await;
    let mut settings = hooked(&receiver);
    settings.limits.viewers_per_stage = 3;
    settings.limits.scale_up_threshold = 2;
    settings.limits.scale_down_threshold = 1;
    settings.limits.max_stages = 2;
    settings.limits.heartbeat_timeout = Duration::from_secs(3);
    settings.limits.scale_down_min_age = Duration::from_secs(3600);
    let s = TestServer::start(settings).await;
    let master = s.master();

    let custom = s.post("/api/stage", json!({"name": "custom-1"})).await;
    let custom = custom.data()["stage"]["arn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    s.delete(&format!("/api/stage/{}", enc(&custom)))
        .await
        .data();
    receiver
        .wait_for(Duration::from_secs(10), "custom stage removed", |r| {
            r.iter().any(|r| r.kind() == "stage.removed")
        })
        .await;
    // Two on the master cross the threshold: a scale-up; two more on the new
    // stage cross it again, at the limit of two stages.
    for user in ["viewer-wh-1", "viewer-wh-2"] {
        s.join(user).await.data();
    }
    let scaled = receiver
        .wait_for(Duration::from_secs(10), "scale-up", |r| {
            r.iter()
                .filter(|r| r.kind() == "stage.created")
                .any(|r| r.body["data"]["autoScaled"] == json!(true))
        })
        .await;
    let auto_arn = scaled
        .iter()
        .find(|r| r.kind() == "stage.created" && r.body["data"]["autoScaled"] == json!(true))
        .map(|r| r.body["data"]["stageArn"].clone())
        .unwrap_or_default();
    for user in ["viewer-wh-3", "viewer-wh-4"] {
        let r = s.join(user).await;
        assert_eq!(r.data()["stageArn"], auto_arn, "{user} joins the new stage");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let left = s
        .post(
            "/api/viewer/leave",
            json!({"userId": "viewer-wh-1", "stageArn": master}),
        )
        .await;
    left.data();
    // The others send no heartbeat: they expire after 3 s.
    receiver
        .wait_for(Duration::from_secs(15), "every event", |got| {
            let accepted: BTreeMap<_, _> = got.iter().map(|r| (r.id.clone(), r.clone())).collect();
            let n = count_types(&accepted);
            let at = |k: &str| n.get(k).copied().unwrap_or(0);
            at("stage.created") >= 3
                && at("viewer.joined") >= 4
                && at("viewer.left") >= 1
                && at("viewer.expired") >= 3
                && at("fleet.stage_limit_reached") >= 1
        })
        .await;
    // Late duplicates would show up within a poll or two.
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert_eq!(receiver.problems(), Vec::<String>::new());
    let all = receiver.received();
    let accepted = receiver.accepted();
    assert_eq!(
        all.len(),
        accepted.len(),
        "an event was sent twice: {all:#?}"
    );
    let n = count_types(&accepted);
    assert_eq!(n.get("stage.created"), Some(&3), "{n:?}");
    assert_eq!(n.get("stage.removed"), Some(&1), "{n:?}");
    // Deleting a stage drains it first.
    assert_eq!(n.get("stage.draining"), Some(&1), "{n:?}");
    assert_eq!(n.get("fleet.stage_limit_reached"), Some(&1), "{n:?}");
    assert_eq!(n.get("viewer.joined"), Some(&4), "{n:?}");
    assert_eq!(n.get("viewer.left"), Some(&1), "{n:?}");
    assert_eq!(n.get("viewer.expired"), Some(&3), "{n:?}");

    let created = accepted_of(&accepted, "stage.created");
    let by_arn = |arn: &str| {
        created
            .iter()
            .find(|r| r.body["data"]["stageArn"] == json!(arn))
            .map(|r| r.body["data"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_arn(&master)["isMaster"], json!(true));
    assert_eq!(by_arn(&custom)["autoScaled"], json!(false));
    assert_eq!(by_arn(&custom)["name"], json!("custom-1"));
    let removed = accepted_of(&accepted, "stage.removed");
    assert_eq!(removed[0].body["data"]["stageArn"], json!(custom));
    assert_eq!(removed[0].body["data"]["reason"], json!("deleted"));
    let draining = accepted_of(&accepted, "stage.draining");
    assert_eq!(draining[0].body["data"]["stageArn"], json!(custom));
    let left = accepted_of(&accepted, "viewer.left");
    assert_eq!(left[0].body["data"]["userId"], json!("viewer-wh-1"));
    assert_eq!(left[0].body["data"]["stageArn"], json!(master));
    assert!(
        left[0].body["data"]["watchDuration"].as_u64() >= Some(1),
        "{:?}",
        left[0].body
    );
    let expired: Vec<_> = accepted_of(&accepted, "viewer.expired")
        .iter()
        .map(|r| r.body["data"]["userId"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(expired.len(), 3);
    assert!(!expired.contains(&"viewer-wh-1".to_string()));
    // Each body is what the OpenAPI document's `webhooks` says for its type.
    let doc = crate::openapi::doc();
    let schemas = crate::openapi::Schemas::new(&doc);
    for r in accepted.values() {
        assert!(r.id.starts_with("evt_"), "{}", r.id);
        let schema = &doc["webhooks"][r.kind()]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "no webhook {} in the document",
            r.kind()
        );
        schemas.assert_valid(schema, &r.body, &format!("the {} webhook", r.kind()));
    }
    assert_metric(&s, "ivs_webhook_delivered_total{endpoint=").await;
    s.server.shutdown().await;
}

/// The document's `webhooks`: every type the server knows, each example
/// valid against its schema, and a body of another type refused.
#[test]
fn the_openapi_webhooks_describe_every_type() {
    let doc = crate::openapi::doc();
    let schemas = crate::openapi::Schemas::new(&doc);
    let webhooks = doc["webhooks"].as_object().cloned().unwrap_or_default();
    // The server's filter refuses a pattern that matches no type it knows,
    // so an exact type it accepts is one of them; there are ten.
    assert_eq!(webhooks.len(), 10, "{:?}", webhooks.keys());
    for event_type in webhooks.keys() {
        assert!(
            parse_filter(event_type).is_ok(),
            "{event_type} is not a type"
        );
    }
    for (event_type, item) in &webhooks {
        let media = &item["post"]["requestBody"]["content"]["application/json"];
        schemas.assert_valid(&media["schema"], &media["example"], event_type);
        let mut other = media["example"].clone();
        other["type"] = json!("viewer.unknown");
        assert!(
            !schemas.violations(&media["schema"], &other).is_empty(),
            "{event_type} accepts another type"
        );
        for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let params = item["post"]["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == json!(header) && p["in"] == json!("header")),
                "{event_type} lacks {header}"
            );
        }
    }
}

/// `IVS_WEBHOOK_EVENTS=stage.*`: only stage events are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_type_filter_keeps_other_events_out() {
    let receiver = Receiver::start().await;
    let mut settings = hooked(&receiver);
    settings.webhooks.events = parse_filter("stage.*").expect("filter");
    let s = TestServer::start(settings).await;
    s.join("viewer-filtered").await.data();
    let custom = s.post("/api/stage", json!({"name": "filter-1"})).await;
    custom.data();
    receiver
        .wait_for(Duration::from_secs(10), "two stage.created", |r| {
            r.iter().filter(|r| r.kind() == "stage.created").count() >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let kinds: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.kind().to_string())
        .collect();
    assert!(kinds.iter().all(|k| k.starts_with("stage.")), "{kinds:?}");
    assert_metric(&s, "ivs_webhook_filtered_total{endpoint=").await;
    s.server.shutdown().await;
}

/// Refused attempts are retried with the same id until one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_are_retried_with_their_id() {
    let receiver = Receiver::start().await;
    receiver.answer(Answer::Refuse(503));
    let s = TestServer::start(hooked(&receiver)).await;
    for i in 0..5 {
        s.join(&format!("viewer-retry-{i}")).await.data();
    }
    let refused = receiver
        .wait_for(Duration::from_secs(10), "five joins refused", |r| {
            r.iter().filter(|r| r.kind() == "viewer.joined").count() >= 5
        })
        .await;
    let refused_ids: std::collections::BTreeSet<String> =
        refused.iter().map(|r| r.id.clone()).collect();
    receiver.answer(Answer::Accept);
    receiver
        .wait_for(
            Duration::from_secs(15),
            "every refused event accepted",
            |_| {
                let accepted = receiver.accepted();
                refused_ids.iter().all(|id| accepted.contains_key(id))
            },
        )
        .await;
    assert_eq!(receiver.problems(), Vec::<String>::new());
    // A retry is the same event: same id, same body.
    let all = receiver.received();
    for id in &refused_ids {
        let bodies: std::collections::BTreeSet<String> = all
            .iter()
            .filter(|r| &r.id == id)
            .map(|r| r.body.to_string())
            .collect();
        assert_eq!(bodies.len(), 1, "{id} changed between attempts: {bodies:?}");
    }
    assert_metric(
        &s,
        "ivs_webhook_failed_attempts_total{reason=\"status_5xx\"",
    )
    .await;
    s.server.shutdown().await;
}

/// A receiver that answers 429 with `Retry-After` gets nothing more until
/// that time is over; then every event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_receiver_gets_nothing_until_its_retry_after() {
    let receiver = Receiver::start().await;
    receiver.answer(Answer::Throttle(429, "2"));
    let mut settings = hooked(&receiver);
    settings.webhooks.backoff_max = Duration::from_secs(5);
    let s = TestServer::start(settings).await;
    // The master's stage.created is the first request: throttled.
    let first = receiver
        .wait_for(Duration::from_secs(10), "a first request", |r| {
            !r.is_empty()
        })
        .await[0]
        .at;
    for i in 0..5 {
        s.join(&format!("viewer-throttled-{i}")).await.data();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    receiver.answer(Answer::Accept);
    let all = receiver
        .wait_for(Duration::from_secs(15), "every event accepted", |r| {
            r.iter()
                .filter(|r| r.answered == 204 && r.kind() == "viewer.joined")
                .count()
                >= 5
                && r.iter()
                    .any(|r| r.answered == 204 && r.kind() == "stage.created")
        })
        .await;
    let early: Vec<String> = all
        .iter()
        .filter(|r| r.at > first && r.at < first + Duration::from_millis(1800))
        .map(|r| format!("{} {} after {:?}", r.answered, r.kind(), r.at - first))
        .collect();
    assert_eq!(early, Vec::<String>::new(), "sent during the pause");
    assert_eq!(receiver.problems(), Vec::<String>::new());
    assert_metric(&s, "ivs_webhook_pauses_total{reason=\"throttled\"").await;
    s.server.shutdown().await;
}

/// A receiver that answers `410 Gone` gets nothing more (for an hour), and
/// `/metrics` says the endpoint is paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_receiver_gets_nothing_more() {
    let receiver = Receiver::start().await;
    receiver.answer(Answer::Refuse(410));
    let s = TestServer::start(hooked(&receiver)).await;
    receiver
        .wait_for(Duration::from_secs(10), "a first request", |r| {
            !r.is_empty()
        })
        .await;
    receiver.answer(Answer::Accept);
    for i in 0..3 {
        s.join(&format!("viewer-gone-{i}")).await.data();
    }
    // Past the first retry of the refused event and several polls.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got: Vec<(u16, String)> = receiver
        .received()
        .iter()
        .map(|r| (r.answered, r.kind().to_string()))
        .collect();
    assert_eq!(got, [(410, "stage.created".to_string())]);
    let text = s.get("/metrics").await.text;
    assert!(
        text.lines()
            .any(|l| l.starts_with("ivs_webhook_paused{") && l.ends_with(" 1")),
        "{text}"
    );
    assert_metric(&s, "ivs_webhook_pauses_total{reason=\"gone\"").await;
    s.server.shutdown().await;
}

/// An event not delivered within the retry window is given up, counted in
/// `/metrics` and logged; it does not block the events after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_events_are_dropped_and_counted() {
    let receiver = Receiver::start().await;
    receiver.answer(Answer::Refuse(500));
    let mut settings = hooked(&receiver);
    settings.webhooks.retry_window = Duration::from_secs(1);
    let s = TestServer::start(settings).await;
    s.join("viewer-dropped").await.data();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = s.get("/metrics").await.text;
        let dropped = text
            .lines()
            .find(|l| l.starts_with("ivs_webhook_dropped_total{reason=\"expired\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        // The master's creation and the join.
        if dropped >= 2.0 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing dropped:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    receiver.answer(Answer::Accept);
    s.join("viewer-after").await.data();
    receiver
        .wait_for(Duration::from_secs(10), "the next event delivered", |r| {
            r.iter()
                .any(|r| r.answered == 204 && r.body["data"]["userId"] == json!("viewer-after"))
        })
        .await;
    let accepted = receiver.accepted();
    assert!(
        !accepted
            .values()
            .any(|r| r.body["data"]["userId"] == json!("viewer-dropped")),
        "a dropped event was delivered"
    );
    s.server.shutdown().await;
}
