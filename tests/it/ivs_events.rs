//! IVS events in through Amazon SQS: the built server binary in AWS mode
//! against the HTTP IVS fake and a real SQS (moto's server), both started
//! by the test. Events go into the queue in EventBridge's shape, as an
//! EventBridge rule with an SQS target delivers them; what comes out is the
//! API's publisher state and replication note, the store's event log, and
//! an empty queue (each message deleted once applied).

use std::time::{Duration, Instant};

use ivs_server::ivs::events::eventbridge;
use ivs_test_support::fake_ivs::{FakeIvs, REGION};
use ivs_test_support::harness::{enc, logged_types};
use ivs_test_support::moto_sqs::MotoSqs;
use ivs_test_support::redis_server::RedisServer;
use ivs_test_support::server_process::ServerProcess;
use serde_json::{json, Value};

const KEY: &str = "ivs-events-test-key";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct Setup {
    moto: MotoSqs,
    queue: String,
    redis: RedisServer,
    redis_url: String,
    fake: FakeIvs,
    server: ServerProcess,
    http: reqwest::Client,
}

impl Setup {
    async fn start() -> Setup {
        let moto = MotoSqs::start().await;
        let queue = moto.create_queue("ivs-events").await;
        let fake = FakeIvs::start().await;
        let redis = RedisServer::start();
        let redis_url = redis.url();
        let env: Vec<(String, String)> = [
            ("REDIS_URL", redis_url.as_str()),
            ("IVS_API_KEYS", KEY),
            ("IVS_BACKEND", "aws"),
            ("IVS_ENDPOINT_URL", &fake.url()),
            ("IVS_AWS_REGION", REGION),
            ("IVS_AWS_ACCESS_KEY_ID", "AKIDTESTFAKEIVS"),
            ("IVS_AWS_SECRET_ACCESS_KEY", "fake-ivs-secret-key"),
            ("IVS_EVENTS_QUEUE_URL", &queue),
            ("IVS_EVENTS_ENDPOINT_URL", &moto.url),
            // Polls only at start within the test's time: what changes
            // afterwards comes from the events.
            ("IVS_PUBLISHER_POLL_WITH_EVENTS_MS", "600000"),
            ("IVS_SWEEP_INTERVAL_MS", "500"),
            // One viewer makes an overflow stage (for the replication events).
            ("IVS_VIEWERS_PER_STAGE", "2"),
            ("IVS_SCALE_UP_THRESHOLD", "1"),
            ("IVS_SCALE_DOWN_THRESHOLD", "0"),
            (
                "RUST_LOG",
                "info,ivs_server=debug,warp::filters::trace=warn",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let server = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            ServerProcess::start(&env)
        })
        .await
        .unwrap();
        Setup {
            moto,
            queue,
            redis,
            redis_url,
            fake,
            server,
            http: reqwest::Client::new(),
        }
    }

    /// A successful GET with the key.
    async fn fetch(&self, path: &str) -> reqwest::Response {
        let res = self
            .http
            .get(format!("{}{path}", self.server.base))
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res
    }

    async fn get(&self, path: &str) -> Value {
        self.fetch(path).await.json().await.unwrap()
    }

    async fn live(&self) -> bool {
        self.get("/api/stats").await["data"]["isPublisherLive"]
            .as_bool()
            .expect("isPublisherLive")
    }

    async fn metric(&self, outcome: &str) -> u64 {
        let body = self.fetch("/metrics").await.text().await.unwrap();
        let prefix = format!("ivs_aws_events_total{{outcome=\"{outcome}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Sends messages and waits until the server has deleted every one.
    async fn deliver(&self, bodies: &[String]) {
        for b in bodies {
            self.moto.send(&self.queue, b).await;
        }
        assert!(
            self.moto
                .wait_empty(&self.queue, Duration::from_secs(30))
                .await,
            "the server did not delete the messages: {} left\n{}",
            self.moto.in_queue(&self.queue).await,
            self.server.logs().join("\n")
        );
    }

    async fn replication_note(&self, stage: &str) -> Option<String> {
        let path = format!("/api/stage/{}", enc(stage));
        self.get(&path).await["data"]["replicationNote"]
            .as_str()
            .map(str::to_string)
    }

    async fn master(&self) -> String {
        self.get("/api/stage/master/info").await["data"]["stage"]["arn"]
            .as_str()
            .expect("master arn")
            .to_string()
    }

    /// The publisher events in the store's event log, oldest first.
    async fn publisher_events(&self) -> Vec<String> {
        let store = ivs_server::store::redis::RedisStore::connect(&self.redis_url, "ivs:")
            .await
            .expect("the test connects to the server's Redis");
        logged_types(&store, "publisher.").await
    }
}

fn published(stage: &str, live: bool, at: i64) -> String {
    eventbridge::stage_update(
        &format!("ev-{at}-{live}"),
        stage,
        live,
        "pub-participant-1",
        "broadcaster-host-1",
        at,
    )
}

fn replication(source: &str, destination: &str, active: bool, at: i64) -> String {
    let time = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "version": "0",
        "id": format!("rep-{at}-{active}"),
        "detail-type": "IVS Stage Update",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": time,
        "region": REGION,
        "resources": [source],
        "detail": {
            "session_id": "st-AbCdEfGhIjKl",
            "event_name": if active { eventbridge::REPLICATION_STARTED } else { eventbridge::REPLICATION_ENDED },
            "participant_id": "pub-participant-1",
            "user_id": "broadcaster-host-1",
            "source_stage_arn": source,
            "destination_stage_arn": destination,
        }
    })
    .to_string()
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_events_drive_liveness_and_stale_ones_are_ignored() {
    let s = Setup::start().await;
    let master = s.master().await;
    // IVS (the fake) has no publisher: the first poll records "offline".
    assert!(!s.live().await);
    let polled_at = now_ms();

    // An event older than that poll changes nothing, and is deleted.
    s.deliver(&[published(&master, true, polled_at - 60_000)])
        .await;
    assert!(
        !s.live().await,
        "an event older than a newer poll was applied"
    );
    assert_eq!(s.metric("unchanged").await, 1);

    // A new one turns the publisher live at once, although IVS's
    // listing (polled every 10 minutes here) would still say otherwise.
    let t = now_ms();
    s.deliver(&[published(&master, true, t)]).await;
    eventually(
        "live after Participant Published",
        Duration::from_secs(5),
        || s.live(),
    )
    .await;
    assert_eq!(s.metric("applied").await, 1);

    // The same event again (SQS and EventBridge deliver at least once).
    s.deliver(&[published(&master, true, t)]).await;
    assert!(s.live().await);
    assert_eq!(s.metric("applied").await, 1, "a duplicate was applied");

    // Out of order: Unpublished (newer) arrives before Published (older).
    s.deliver(&[published(&master, false, t + 2_000)]).await;
    assert!(!s.live().await);
    s.deliver(&[published(&master, true, t + 1_000)]).await;
    assert!(
        !s.live().await,
        "an older Published overrode a newer Unpublished"
    );
    assert_eq!(s.metric("applied").await, 2);

    // Not this server's: another participant, or an unmanaged stage.
    let other_stage = s.fake.add_stage("someone-elses", &[]);
    let viewer = eventbridge::stage_update("ev-v", &master, true, "p-2", "viewer-x", t + 3_000);
    s.deliver(&[published(&other_stage, true, t + 3_000), viewer])
        .await;
    assert!(!s.live().await);
    assert_eq!(s.metric("not_ours").await, 2);

    // Foreign and malformed messages are deleted too, and counted.
    let token =
        published(&master, true, t + 4_000).replace("Participant Published", "Token Exchanged");
    s.deliver(&["not json".to_string(), token]).await;
    assert_eq!(s.metric("malformed").await, 1);
    assert_eq!(s.metric("foreign").await, 1);
    assert!(!s.live().await);

    // The event log holds one change each way after the first poll's state.
    let events = s.publisher_events().await;
    assert_eq!(
        events.iter().filter(|t| *t == "publisher.live").count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("publisher.offline"),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_events_show_in_the_stage_status() {
    let s = Setup::start().await;
    let master = s.master().await;
    // One viewer crosses the threshold: the server makes an overflow stage.
    let res = s
        .http
        .post(format!("{}/api/token/viewer", s.server.base))
        .header("x-api-key", KEY)
        .json(&json!({"userId": "viewer-001"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "join: {}", res.status());
    let deadline = Instant::now() + Duration::from_secs(15);
    let overflow = loop {
        let stages = s.get("/api/stats/stages").await;
        let found = stages["data"]["stages"]
            .as_array()
            .and_then(|a| a.iter().find(|st| st["autoScaled"] == true))
            .and_then(|st| st["stageArn"].as_str())
            .map(str::to_string);
        if let Some(arn) = found {
            break arn;
        }
        assert!(
            Instant::now() < deadline,
            "no overflow stage within 15 s: {stages}\n{}",
            s.server.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(s.replication_note(&overflow).await, None);

    let t = now_ms();
    s.deliver(&[replication(&master, &overflow, false, t)])
        .await;
    let ended = s.replication_note(&overflow).await.unwrap_or_default();
    assert!(
        ended.contains("ended"),
        "no note after Replication Ended: {ended:?}"
    );

    // Started, newer: the note goes; an older Ended after it changes nothing.
    s.deliver(&[replication(&master, &overflow, true, t + 1_000)])
        .await;
    assert_eq!(s.replication_note(&overflow).await, None);
    s.deliver(&[replication(&master, &overflow, false, t - 5_000)])
        .await;
    assert_eq!(
        s.replication_note(&overflow).await,
        None,
        "an older Ended was applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_store_cannot_take_is_delivered_again() {
    let s = Setup::start().await;
    let master = s.master().await;
    assert!(!s.live().await);
    // Redis hangs: applying fails, and the message must stay in the queue.
    s.redis.pause();
    s.moto
        .send(&s.queue, &published(&master, true, now_ms()))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.server.log_lines_with("could not be applied").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no failed apply logged\n{}",
            s.server.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        s.moto.in_queue(&s.queue).await >= 1,
        "a message that failed to apply was deleted"
    );
    // Redis is back: SQS delivers it again after its visibility timeout.
    s.redis.resume();
    assert!(
        s.moto.wait_empty(&s.queue, Duration::from_secs(30)).await,
        "the message was not applied and deleted after Redis came back\n{}",
        s.server.logs().join("\n")
    );
    // Applied: the store recorded the change. Read from the event log, not
    // from `/api/stats`: a reader that finds the store unavailable for a
    // moment after the pause asks IVS (the fake: no publisher), and that
    // newer answer rightly wins over the event (seen once in CI).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = s.publisher_events().await;
        if events.iter().any(|t| t == "publisher.live") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the redelivered event left no publisher.live: {events:?}\n{}",
            s.server.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Local mode: the emulator publishes "Participant Published" when a
/// publisher token makes a stage live, and "Participant Unpublished" when
/// its session ends, through the same parser and apply path as SQS messages
/// (no poll involved: the test's poll period is long).
#[tokio::test]
async fn the_local_emulator_publishes_the_same_events() {
    let mut settings = ivs_test_support::harness::test_settings();
    settings.ivs_events.publisher_poll = Duration::from_secs(600);
    // A short publisher token: its session's end is the emulator's
    // "Participant Unpublished".
    settings.limits.publisher_token_ttl = Duration::from_secs(2);
    let s = ivs_test_support::harness::TestServer::start(settings).await;
    let store = s.server.app().store().clone();
    let publisher_events = || logged_types(&*store, "publisher.");
    assert!(publisher_events().await.is_empty());
    s.post("/api/token/publisher", json!({"userId": "host-1"}))
        .await
        .data();
    let deadline = Instant::now() + Duration::from_secs(5);
    while publisher_events().await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no publisher.live from the emulator's event"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = s.get("/metrics").await.text;
    assert!(
        text.contains("ivs_aws_events_total{outcome=\"applied\"} 1\n"),
        "{text}"
    );
    assert_eq!(
        s.get("/api/stats").await.json["data"]["isPublisherLive"],
        true
    );
    // The token's end: publisher.offline, from the emulator's event alone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while publisher_events().await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no publisher.offline from the emulator's event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        publisher_events().await,
        ["publisher.live", "publisher.offline"]
    );
    let text = s.get("/metrics").await.text;
    assert!(
        text.contains("ivs_aws_events_total{outcome=\"applied\"} 2\n"),
        "{text}"
    );
    assert_eq!(
        s.get("/api/stats").await.json["data"]["isPublisherLive"],
        false
    );
}
