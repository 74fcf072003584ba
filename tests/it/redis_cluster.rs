//! Several `ivs-server` instances on one Redis, over HTTP: they share one
//! set of stages and counts, never exceed the limits together, hand the
//! maintenance lease over when its holder dies, and answer 503 (recovering
//! by themselves) while Redis is down.
//!
//! Each instance runs in its own tokio runtime so that a test can "crash"
//! one (drop its runtime: no graceful shutdown, no lease release).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivs_server::config::{RedisSettings, DEV_API_KEY};
use ivs_server::ivs::local::LocalIvs;
use ivs_server::{RunningServer, ServerBuilder, Settings};
use ivs_test_support::redis_server::RedisServer;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

/// One server instance with its own runtime.
struct Instance {
    base: String,
    instance_id: String,
    server: Option<RunningServer>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Instance {
    fn start(settings: Settings, ivs: Arc<LocalIvs>) -> Instance {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ServerBuilder::new(settings)
                .ivs(ivs)
                .build()
                .await
                .unwrap()
                .spawn(listener)
                .unwrap()
        });
        Instance {
            base: server.base_url(),
            instance_id: server.app().instance_id().to_string(),
            server: Some(server),
            runtime: Some(runtime),
        }
    }

    /// Stops it abruptly: every task is dropped where it stands.
    fn crash(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        // Its stop signal now reaches nobody.
        drop(self.server.take());
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let (Some(server), Some(rt)) = (self.server.take(), self.runtime.take()) {
            rt.block_on(server.shutdown());
        }
    }
}

fn settings(redis: &RedisServer, prefix: &str) -> Settings {
    Settings {
        redis: RedisSettings {
            url: Some(redis.url()),
            prefix: prefix.to_string(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn shared_ivs() -> Arc<LocalIvs> {
    Arc::new(LocalIvs::generate("ap-northeast-1", "123456789012").unwrap())
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let resp = http
        .get(url)
        .header("x-api-key", DEV_API_KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let resp = http
        .post(url)
        .header("x-api-key", DEV_API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn enc(arn: &str) -> String {
    utf8_percent_encode(arn, NON_ALPHANUMERIC).to_string()
}

/// Joins `users` at once, spread round-robin over the instances; returns
/// user → accepted stage, and the error codes of the rest.
async fn join_all(
    http: &reqwest::Client,
    bases: &[String],
    users: impl IntoIterator<Item = usize>,
) -> (HashMap<String, String>, HashMap<String, usize>) {
    let calls = users.into_iter().map(|i| {
        let url = format!("{}/api/token/viewer", bases[i % bases.len()]);
        let user = format!("user-{i}");
        async move {
            let (status, body) = post(http, url, json!({ "userId": user })).await;
            (user, status, body)
        }
    });
    let mut accepted = HashMap::new();
    let mut refused: HashMap<String, usize> = HashMap::new();
    for (user, status, body) in futures_util::future::join_all(calls).await {
        if status == 200 {
            let arn = body["data"]["stageArn"].as_str().unwrap().to_string();
            assert!(body["data"]["currentViewers"].as_u64().unwrap() <= 50);
            assert!(accepted.insert(user, arn).is_none());
        } else {
            let code = format!("{status} {}", body["error"].as_str().unwrap_or("?"));
            *refused.entry(code).or_default() += 1;
        }
    }
    (accepted, refused)
}

/// `data.stages` of `/api/stats` as (arn, viewerCount).
async fn stage_counts(http: &reqwest::Client, base: &str) -> Vec<(String, u64)> {
    let (status, body) = get(http, format!("{base}/api/stats")).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stageArn"].as_str().unwrap().to_string(),
                s["viewerCount"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Checks the instances agree, no stage is above capacity, and every
/// accepted viewer is listed once, on the stage it was given.
async fn check_consistent(
    http: &reqwest::Client,
    bases: &[String],
    accepted: &HashMap<String, String>,
) -> Vec<(String, u64)> {
    let stages = stage_counts(http, &bases[0]).await;
    for base in &bases[1..] {
        assert_eq!(stage_counts(http, base).await, stages, "instances disagree");
    }
    assert!(stages.iter().all(|(_, n)| *n <= 50), "{stages:?}");
    let total: u64 = stages.iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, accepted.len(), "sum of counts");
    let mut seen = HashSet::new();
    for (i, (arn, n)) in stages.iter().enumerate() {
        let base = &bases[i % bases.len()];
        let (status, body) = get(http, format!("{base}/api/viewer/list/{}", enc(arn))).await;
        assert_eq!(status, 200, "{body}");
        let viewers = body["data"]["viewers"].as_array().unwrap();
        assert_eq!(viewers.len() as u64, *n);
        for v in viewers {
            let user = v["userId"].as_str().unwrap();
            // Listed as sent or with the IVS "viewer-" prefix.
            let user = user.strip_prefix("viewer-").unwrap_or(user).to_string();
            assert_eq!(accepted.get(&user), Some(arn), "{user} on the wrong stage");
            assert!(seen.insert(user.clone()), "{user} counted twice");
        }
    }
    stages
}

#[test]
fn three_instances_share_stages_and_limits() {
    let redis = RedisServer::start();
    let ivs = shared_ivs();
    let instances: Vec<Instance> = (0..3)
        .map(|_| Instance::start(settings(&redis, "cluster:"), ivs.clone()))
        .collect();
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    let rt = client_runtime();
    rt.block_on(async {
        let http = http();
        // 700 at once: below the 20-stage limit, so every join is accepted,
        // and each threshold crossing (every assignable stage at 45) makes
        // exactly one stage: at most one stage is ever below 45.
        let (mut accepted, refused) = join_all(&http, &bases, 0..700).await;
        // A join that waits longer than 2 s for the next stage (one at a
        // time, each a CreateStage) is answered 503 STAGE_FULL and retried,
        // as the SDK does: on two loaded cores the chain of scale-ups can
        // outlast a burst's patience. Anything else is a failure.
        assert!(
            refused.keys().all(|code| code == "503 STAGE_FULL"),
            "{refused:?}"
        );
        for _ in 0..20 {
            let missing: Vec<usize> = (0..700)
                .filter(|i| !accepted.contains_key(&format!("user-{i}")))
                .collect();
            if missing.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (more, refused) = join_all(&http, &bases, missing).await;
            assert!(
                refused.keys().all(|code| code == "503 STAGE_FULL"),
                "{refused:?}"
            );
            accepted.extend(more);
        }
        assert_eq!(accepted.len(), 700);
        // Let a scale-up started by the last joins finish.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stages = check_consistent(&http, &bases, &accepted).await;
        let below: Vec<_> = stages.iter().filter(|(_, n)| *n < 45).collect();
        assert!(below.len() <= 1, "more than one stage below 45: {stages:?}");
        // 14 full stages hold 700; all but the newest hold 45..=50.
        assert!((15..=16).contains(&stages.len()), "{} stages", stages.len());

        // 1,300 more at once: the limit of 20 stages × 50 holds across the
        // instances; the rest are refused.
        let (more, refused) = join_all(&http, &bases, 700..2_000).await;
        let mut all = accepted;
        all.extend(more);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stages = check_consistent(&http, &bases, &all).await;
        eprintln!("accepted {}, refused {refused:?}", all.len());
        assert_eq!(stages.len(), 20);
        assert_eq!(all.len(), 1_000);
        assert_eq!(refused.values().sum::<usize>(), 1_000);
        assert!(
            refused
                .keys()
                .all(|k| k == "503 STAGE_LIMIT_REACHED" || k == "503 STAGE_FULL"),
            "{refused:?}"
        );
    });
    drop(instances);
}

#[test]
fn the_maintenance_lease_moves_when_its_holder_dies() {
    let redis = RedisServer::start();
    let ivs = shared_ivs();
    let mut settings = settings(&redis, "lease:");
    settings.limits.sweep_interval = Duration::from_millis(200);
    settings.limits.heartbeat_timeout = Duration::from_secs(1);
    let mut instances: Vec<Instance> = (0..3)
        .map(|_| Instance::start(settings.clone(), ivs.clone()))
        .collect();
    let lease_key = "{lease}:lease:maintenance";
    let holder_of = |redis: &RedisServer| redis.command(&["GET", lease_key]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let holder = loop {
        let h = holder_of(&redis);
        if !h.is_empty() {
            break h;
        }
        assert!(
            Instant::now() < deadline,
            "nobody took the maintenance lease"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The lease's value is "<fencing token>:<holder>".
    let holder = holder
        .split_once(':')
        .map_or(holder.clone(), |(_, h)| h.to_string());
    let dead = instances
        .iter()
        .position(|i| i.instance_id == holder)
        .expect("the holder is one of the instances");
    let live: Vec<String> = instances
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != dead)
        .map(|(_, i)| i.base.clone())
        .collect();

    let rt = client_runtime();
    rt.block_on(async {
        let http = http();
        // Ten viewers that will go quiet, one that keeps beating.
        let (accepted, refused) = join_all(&http, &live, 0..11).await;
        assert!(refused.is_empty(), "{refused:?}");
        instances[dead].crash();
        let crashed_at = Instant::now();
        let alive = ("user-10".to_string(), accepted["user-10"].clone());

        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _) = post(
                &http,
                format!("{}/api/viewer/heartbeat", live[0]),
                json!({ "userId": alive.0, "stageArn": alive.1 }),
            )
            .await;
            assert_eq!(status, 200, "the beating viewer was dropped");
            let total: u64 = stage_counts(&http, &live[1])
                .await
                .iter()
                .map(|(_, n)| n)
                .sum();
            let new_holder = holder_of(&redis);
            if total == 1 && !new_holder.is_empty() && new_holder != holder {
                eprintln!(
                    "swept by {new_holder} {:?} after the crash",
                    crashed_at.elapsed()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not swept after the holder died: {total} viewers, holder {new_holder}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The swept viewers' watch time was recorded once.
        let arn = enc(&accepted["user-0"]);
        let (status, body) = get(
            &http,
            format!(
                "{}/api/viewer/duration?userId=user-0&stageArn={arn}",
                live[0]
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["watchDuration"].is_u64(), "{body}");
    });
}

#[test]
fn a_redis_outage_is_a_503_and_heals() {
    let mut redis = RedisServer::start();
    let instance = Instance::start(settings(&redis, "outage:"), shared_ivs());
    let base = instance.base.clone();
    let rt = client_runtime();
    rt.block_on(async {
        let http = http();
        let (status, body) = get(&http, format!("{base}/health")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["services"]["redis"], "connected", "{body}");

        redis.kill();
        let started = Instant::now();
        let (status, body) = post(
            &http,
            format!("{base}/api/token/viewer"),
            json!({ "userId": "u1" }),
        )
        .await;
        assert_eq!(status, 503, "{body}");
        assert!(
            started.elapsed() < Duration::from_millis(1_500),
            "{:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let (status, body) = get(&http, format!("{base}/health")).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["services"]["redis"], "disconnected", "{body}");
        assert!(started.elapsed() < Duration::from_millis(1_500));

        redis.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = get(&http, format!("{base}/health")).await;
            if status == 200 {
                assert_eq!(body["services"]["redis"], "connected", "{body}");
                break;
            }
            assert!(Instant::now() < deadline, "did not recover: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Redis came back empty: the next join makes a stage again.
        let (status, body) = post(
            &http,
            format!("{base}/api/token/viewer"),
            json!({ "userId": "u1" }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    });
    drop(instance);
}

/// Over HTTP, a heartbeat is one Redis command: the rate limit is spent from
/// a locally reserved batch, so it adds about one command per hundred
/// requests with the development key's allowance.
#[tokio::test]
async fn an_http_heartbeat_costs_one_redis_command() {
    let redis = RedisServer::start();
    // Maintenance (its first round runs at start) is background work, not
    // the heartbeat's cost: keep its rounds out of the measurement.
    let mut quiet = settings(&redis, "hb:");
    quiet.limits.sweep_interval = Duration::from_secs(3600);
    let server = ServerBuilder::new(quiet)
        .build()
        .await
        .unwrap()
        .spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let (http, base) = (http(), server.base_url());
    let (status, body) = post(
        &http,
        format!("{base}/api/token/viewer"),
        json!({"userId": "hb"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stage = body["data"]["stageArn"].as_str().unwrap().to_string();
    // Let the first maintenance round (and any scale-up) finish first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = |redis: &RedisServer| ["evalsha", "zadd", "zscore"].map(|c| redis.command_stat(c));
    let before = sent(&redis);
    let n = 300;
    for _ in 0..n {
        let (status, _) = post(
            &http,
            format!("{base}/api/viewer/heartbeat"),
            json!({"userId": "hb", "stageArn": stage}),
        )
        .await;
        assert_eq!(status, 200);
        // A viewer beats every 30 s; two beats in one millisecond would
        // take the ZSCORE path (tests/it/redis_store.rs covers it).
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let after = sent(&redis);
    let [scripts, zadds, zscores] = [0, 1, 2].map(|i| after[i] - before[i]);
    // n plain ZADDs, a rate-limit reservation script per 100 requests, and
    // at most a few maintenance rounds (sweep every 5 s by default).
    assert!(
        zadds >= n && zadds <= n + 6,
        "{zadds} ZADDs for {n} heartbeats"
    );
    assert!(
        scripts <= n / 100 + 1 + 6,
        "{scripts} scripts for {n} heartbeats"
    );
    assert_eq!(zscores, 0, "a heartbeat needed a second command");
    server.shutdown().await;
}

/// The rate limit is the fleet's: 100 per minute through three instances is
/// 100, and a larger key's batches never let the fleet exceed its limit.
#[tokio::test]
async fn the_rate_limit_is_shared_by_the_fleet() {
    let redis = RedisServer::start();
    let ivs = shared_ivs();
    let mut servers = Vec::new();
    for _ in 0..3 {
        let mut s = settings(&redis, "fleet:");
        s.api_keys =
            ivs_server::config::parse_api_keys("fleet-key-1:100,bulk-key-22:1500").unwrap();
        servers.push(
            ServerBuilder::new(s)
                .ivs(ivs.clone())
                .build()
                .await
                .unwrap()
                .spawn(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
                .unwrap(),
        );
    }
    let http = http();
    let count = |key: &'static str, n: usize| {
        let http = http.clone();
        let bases: Vec<String> = servers.iter().map(|s| s.base_url()).collect();
        async move {
            let mut ok = 0;
            for i in 0..n {
                let res = http
                    .get(format!("{}/api/stats/viewers", bases[i % bases.len()]))
                    .header("x-api-key", key)
                    .send()
                    .await
                    .unwrap();
                match res.status().as_u16() {
                    200 => ok += 1,
                    429 => {}
                    other => panic!("unexpected status {other}"),
                }
            }
            ok
        }
    };
    assert_eq!(count("fleet-key-1", 150).await, 100);
    let started = Instant::now();
    let ok = count("bulk-key-22", 1_700).await;
    // 1,500 at once, plus the refill (25/s) while the test ran; never more.
    let refill = (started.elapsed().as_secs_f64() * 25.0).ceil() as usize;
    assert!(ok <= 1_500 + refill, "{ok} accepted (refill {refill})");
    assert!(ok >= 1_500 - 9, "{ok} accepted");
    for s in servers {
        s.shutdown().await;
    }
}
