//! The rules that keep a fleet right, each checked on one server against the
//! IVS fake over HTTP (the real `aws-sdk-ivsrealtime` client on the wire) or
//! the emulator: leftovers are deleted only when they carry this
//! deployment's tag, IVS's stage quota reads as the stage limit, a scale-up
//! started by a request outlives the request, departed viewers are
//! disconnected in IVS, and forged page tokens are harmless.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ivs_server::ivs::local::LocalIvs;
use ivs_server::{ServerBuilder, Settings};
use ivs_test_support::fake_ivs::{aws_settings, FakeIvs, Fault};
use ivs_test_support::harness::{test_settings, TestServer};
use serde_json::json;

fn fast(mut s: Settings) -> Settings {
    s.limits.sweep_interval = Duration::from_millis(100);
    s.limits.stats_interval = Duration::from_millis(200);
    s
}

async fn aws_server(fake: &FakeIvs, tweak: impl FnOnce(&mut Settings)) -> TestServer {
    let mut settings = fast(aws_settings(fake));
    tweak(&mut settings);
    TestServer::start(settings).await
}

async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn leftovers_are_deleted_only_with_this_deployments_tag() {
    let fake = FakeIvs::start().await;
    let s = aws_server(&fake, |s| s.redis.prefix = "event-a:".into()).await;
    let ours = fake.add_stage(
        "auto-stage-1",
        &[("ManagedBy", "api-server"), ("Deployment", "event-a")],
    );
    let theirs = fake.add_stage(
        "auto-stage-2",
        &[("ManagedBy", "api-server"), ("Deployment", "event-b")],
    );
    let legacy = fake.add_stage("auto-stage-3", &[("ManagedBy", "api-server")]);
    s.server.app().reconcile().await.unwrap();
    assert!(
        fake.stage(&ours).is_none(),
        "our unregistered stage is deleted"
    );
    assert!(
        fake.stage(&theirs).is_some(),
        "another deployment's is left alone"
    );
    assert!(
        fake.stage(&legacy).is_some(),
        "an untagged one is left alone"
    );
    // The stages the server creates carry the tag.
    let master = fake.stage(&s.master()).unwrap();
    assert_eq!(
        master.tags.get("Deployment").map(String::as_str),
        Some("event-a")
    );
}

#[tokio::test]
async fn ivs_stage_quota_reads_as_the_stage_limit() {
    let fake = FakeIvs::start().await;
    let s = aws_server(&fake, |s| {
        s.limits.viewers_per_stage = 2;
        s.limits.scale_up_threshold = 2;
    })
    .await;
    // The account holds only the master: IVS refuses any other stage (402).
    fake.set_stage_quota(1);
    s.join("a").await.data();
    s.join("b").await.data();
    let r = s.join("c").await;
    r.expect_error(503, "STAGE_LIMIT_REACHED");
    let started = Instant::now();
    let r = s.join("d").await;
    r.expect_error(503, "STAGE_LIMIT_REACHED");
    assert!(
        started.elapsed() < Duration::from_millis(1_900),
        "answered from the scale-up's result, not after the full wait"
    );
    // Nothing was left counting toward the limit.
    assert!(s.server.app().store().intents().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_scale_up_outlives_the_request_that_started_it() {
    let fake = FakeIvs::start().await;
    let s = aws_server(&fake, |s| {
        s.limits.viewers_per_stage = 1;
        s.limits.scale_up_threshold = 1;
    })
    .await;
    // The scale-up the first join starts in the background fails, so the
    // second join finds every stage full and starts one itself.
    fake.fail_next(Some("CreateStage"), 1, Fault::Validation);
    s.join("a").await.data();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Make CreateStage slow and let the client give up long before it answers.
    fake.set_delay("CreateStage", Duration::from_millis(1_500));
    let before = s.server.app().store().stages().await.unwrap().len();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let gone = client
        .post(format!("{}/api/token/viewer", s.base))
        .header("x-api-key", &s.key)
        .json(&json!({ "userId": "b" }))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up");
    let store = s.server.app().store().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stages = store.stages().await.unwrap().len();
        if stages > before {
            break;
        }
        assert!(Instant::now() < deadline, "the stage was never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.intents().await.unwrap().is_empty());
    // And the lease was given back: the next scale-up can run at once.
    let token = store
        .try_lease("scale-up", "probe", Duration::from_secs(1))
        .await
        .unwrap();
    assert!(token.is_some(), "the stage lease was released");
}

#[tokio::test]
async fn departed_viewers_are_disconnected_in_ivs() {
    let fake = FakeIvs::start().await;
    let s = aws_server(&fake, |s| {
        s.limits.heartbeat_timeout = Duration::from_secs(1);
    })
    .await;
    let left = s.join("left").await.data().clone();
    let silent = s.join("silent").await.data().clone();
    let stage = left["stageArn"].as_str().unwrap().to_string();
    let r = s
        .post(
            "/api/viewer/leave",
            json!({ "userId": "left", "stageArn": stage }),
        )
        .await;
    r.data();
    let want = |v: &serde_json::Value| {
        (
            v["stageArn"].as_str().unwrap().to_string(),
            v["participantId"].as_str().unwrap().to_string(),
        )
    };
    let (left_pair, silent_pair) = (want(&left), want(&silent));
    eventually(
        "the left viewer is disconnected",
        Duration::from_secs(5),
        || fake.disconnected().contains(&left_pair),
    )
    .await;
    // The silent one expires after a second and is then cut off too.
    eventually(
        "the expired viewer is disconnected",
        Duration::from_secs(8),
        || fake.disconnected().contains(&silent_pair),
    )
    .await;
    assert_eq!(fake.disconnected().len(), 2, "once each");
}

#[tokio::test]
async fn the_emulator_disconnects_departed_viewers_too() {
    let ivs = Arc::new(LocalIvs::generate("ap-northeast-1", "123456789012").unwrap());
    let s = TestServer::start_builder(ServerBuilder::new(test_settings()).ivs(ivs.clone())).await;
    let v = s.join("v").await.data().clone();
    let stage = v["stageArn"].as_str().unwrap().to_string();
    let pid = v["participantId"].as_str().unwrap().to_string();
    s.post(
        "/api/viewer/leave",
        json!({ "userId": "v", "stageArn": stage }),
    )
    .await
    .data();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if ivs.disconnected(&stage).await.unwrap() == vec![pid.clone()] {
            break;
        }
        assert!(Instant::now() < deadline, "never disconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_forged_page_token_is_an_empty_page_not_an_overflow() {
    let s = TestServer::start(test_settings()).await;
    let r = s
        .get("/api/stage/list?maxResults=100&nextToken=o18446744073709551615")
        .await;
    let data = r.data();
    assert_eq!(data["stages"], json!([]));
    assert!(data.get("nextToken").is_none_or(|t| t.is_null()));
}
