//! The whole API over HTTP against a real server on embedded defaults:
//! every endpoint's success shape against the spec's example, every error row
//! of the spec's tables, auth, the rate limit, and bad input.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ivs_client::model::Tags;
use ivs_server::ivs::local::LocalIvs;
use ivs_server::ivs::{BackendHealth, IvsBackend, IvsError, IvsStage, ParticipantToken, TokenSpec};
use ivs_server::ServerBuilder;
use ivs_test_support::harness::{enc, logged_events, test_settings, TestServer};
use ivs_test_support::shape::assert_shape;
use reqwest::Method;
use serde_json::{json, Value};

async fn server() -> TestServer {
    TestServer::start(test_settings()).await
}

#[tokio::test]
async fn every_endpoint_answers_in_the_shape_of_the_spec_example() {
    let s = server().await;
    let master = s.master();

    let r = s.call_with_key(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, 200);
    assert_shape(&r.json, "health.response.json", &[]);
    assert_eq!(r.json["services"]["redis"], "embedded");
    assert_eq!(r.json["services"]["ivs"], "local");

    let r = s
        .post(
            "/api/token/publisher",
            ivs_test_support::shape::fixture("token-publisher.request.json"),
        )
        .await;
    r.data();
    assert_shape(&r.json, "token-publisher.response.json", &[]);
    assert_eq!(r.json["data"]["userId"], "broadcaster-broadcaster-001");
    assert_eq!(r.json["data"]["capabilities"], json!(["PUBLISH"]));
    assert_eq!(r.json["data"]["stageArn"], master.as_str());
    assert_eq!(r.json["data"]["attributes"]["displayName"], "主播小明");

    let r = s
        .post(
            "/api/token/viewer",
            ivs_test_support::shape::fixture("token-viewer.request.json"),
        )
        .await;
    r.data();
    assert_shape(&r.json, "token-viewer.response.json", &[]);
    assert_eq!(r.json["data"]["userId"], "viewer-viewer-001");
    assert_eq!(r.json["data"]["capabilities"], json!(["SUBSCRIBE"]));
    assert_eq!(r.json["data"]["currentViewers"], 1);
    let stage = r.json["data"]["stageArn"].as_str().unwrap().to_string();
    assert_eq!(stage, master);

    let r = s.get("/api/stage/list").await;
    assert_shape(&r.json, "stage-list.response.json", &["data.nextToken"]);
    assert_eq!(r.json["data"]["totalStages"], 1);
    assert_eq!(r.json["data"]["stages"][0]["viewerCount"], 1);

    // The publisher token above made the master live, so it has a session.
    let r = s.get("/api/stage/master/info").await;
    assert_shape(&r.json, "stage-master-info.response.json", &[]);
    assert!(r.json["data"]["stage"]["activeSessionId"]
        .as_str()
        .unwrap()
        .starts_with("st-"));
    assert_eq!(r.json["data"]["isMaster"], true);

    let r = s.get(&format!("/api/stage/{}", enc(&master))).await;
    assert_shape(&r.json, "stage-get.response.json", &[]);
    assert_eq!(r.json["data"]["viewerCount"], 1);

    let r = s
        .post(
            "/api/stage",
            ivs_test_support::shape::fixture("stage-create.request.json"),
        )
        .await;
    assert_shape(&r.json, "stage-create.response.json", &[]);
    let tags = &r.json["data"]["stage"]["tags"];
    assert_eq!(tags["ManagedBy"], "api-server");
    assert_eq!(tags["Environment"], "development");
    assert_eq!(tags["Purpose"], "special-event");
    let custom = r.json["data"]["stage"]["arn"].as_str().unwrap().to_string();

    let r = s
        .put(
            &format!("/api/stage/{}", enc(&custom)),
            ivs_test_support::shape::fixture("stage-update.request.json"),
        )
        .await;
    assert_shape(&r.json, "stage-update.response.json", &[]);
    assert_eq!(r.json["data"]["stage"]["name"], "updated-stage-name");

    let hb = json!({"userId": "viewer-001", "stageArn": stage});
    let r = s.post("/api/viewer/heartbeat", hb.clone()).await;
    assert_shape(&r.json, "viewer-heartbeat.response.json", &[]);

    let r = s.get(&format!("/api/viewer/list/{}", enc(&stage))).await;
    assert_shape(&r.json, "viewer-list.response.json", &[]);
    assert_eq!(r.json["data"]["totalViewers"], 1);
    assert_eq!(r.json["data"]["viewers"][0]["userId"], "viewer-001");

    let r = s
        .get(&format!(
            "/api/viewer/duration?userId=viewer-001&stageArn={}",
            enc(&stage)
        ))
        .await;
    assert_shape(&r.json, "viewer-duration.response.json", &[]);

    let r = s.get("/api/stats").await;
    assert_shape(&r.json, "stats.response.json", &[]);
    assert_eq!(r.json["data"]["totalViewers"], 1);
    assert_eq!(r.json["data"]["activeStages"], 2);
    assert_eq!(r.json["data"]["isPublisherLive"], true);

    let r = s.get("/api/stats/viewers").await;
    assert_shape(&r.json, "stats-viewers.response.json", &[]);
    assert_eq!(r.json["data"]["calculatedFrom"], "real-time sum");

    let r = s.get("/api/stats/stages").await;
    assert_shape(&r.json, "stats-stages.response.json", &[]);

    let r = s.get(&format!("/api/stats/stages/{}", enc(&master))).await;
    assert_shape(&r.json, "stats-stage.response.json", &[]);

    let r = s.get("/api/stats/publisher").await;
    assert_shape(&r.json, "stats-publisher.response.json", &[]);
    assert_eq!(r.json["data"]["isLive"], true);

    let r = s.post("/api/viewer/leave", hb).await;
    assert_shape(&r.json, "viewer-leave.response.json", &[]);

    let r = s.delete(&format!("/api/stage/{}", enc(&custom))).await;
    assert_shape(&r.json, "stage-delete.response.json", &[]);
    assert_eq!(r.json["message"], "Stage 已刪除");
}

#[tokio::test]
async fn stage_arn_in_a_path_works_encoded_and_raw() {
    let s = server().await;
    let master = s.master();
    for path in [
        format!("/api/stage/{}", enc(&master)),
        format!("/api/stage/{master}"),
    ] {
        let r = s.get(&path).await;
        assert_eq!(r.data()["stage"]["arn"], master.as_str(), "{path}");
    }
    for path in [
        format!("/api/stats/stages/{}", enc(&master)),
        format!("/api/stats/stages/{master}"),
    ] {
        assert_eq!(s.get(&path).await.data()["stageArn"], master.as_str());
    }
    for path in [
        format!("/api/viewer/list/{}", enc(&master)),
        format!("/api/viewer/list/{master}"),
    ] {
        assert_eq!(s.get(&path).await.data()["stageArn"], master.as_str());
    }
}

#[tokio::test]
async fn error_rows_of_the_token_and_stage_tables() {
    let mut settings = test_settings();
    settings.limits.max_stages = 2;
    let s = TestServer::start(settings).await;
    let master = s.master();

    // Tokens: missing userId (as the spec's example words it), bad key.
    let r = s
        .post("/api/token/publisher", json!({"attributes": {}}))
        .await;
    r.expect_error(400, "VALIDATION_ERROR");
    assert_eq!(r.json["details"], "userId is required");
    s.post("/api/token/viewer", json!({}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.call_with_key(
        Method::POST,
        "/api/token/viewer",
        Some(json!({"userId": "a"})),
        Some("wrong-key-123"),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");
    s.call_with_key(
        Method::POST,
        "/api/token/publisher",
        Some(json!({"userId": "a"})),
        None,
    )
    .await
    .expect_error(401, "UNAUTHORIZED");

    // Stages.
    let unknown = "arn:aws:ivs:ap-northeast-1:123456789012:stage/unknownStage1";
    s.get(&format!("/api/stage/{}", enc(unknown)))
        .await
        .expect_error(404, "NOT_FOUND");
    s.put(
        &format!("/api/stage/{}", enc(unknown)),
        json!({"name": "x"}),
    )
    .await
    .expect_error(404, "NOT_FOUND");
    s.delete(&format!("/api/stage/{}", enc(unknown)))
        .await
        .expect_error(404, "NOT_FOUND");
    s.post("/api/stage", json!({"tags": {}}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.put(&format!("/api/stage/{}", enc(&master)), json!({}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.delete(&format!("/api/stage/{}", enc(&master)))
        .await
        .expect_error(403, "FORBIDDEN");
    s.get(&format!("/api/stats/stages/{}", enc(unknown)))
        .await
        .expect_error(404, "NOT_FOUND");
    s.get(&format!("/api/viewer/list/{}", enc(unknown)))
        .await
        .expect_error(404, "NOT_FOUND");

    // The stage limit (2): one more stage fits, the next does not.
    let r = s.post("/api/stage", json!({"name": "second"})).await;
    let second = r.data()["stage"]["arn"].as_str().unwrap().to_string();
    s.post("/api/stage", json!({"name": "third"}))
        .await
        .expect_error(503, "STAGE_LIMIT_REACHED");

    // A stage with viewers cannot be deleted: put a viewer on it through the store.
    s.join("on-master").await.data();
    s.delete(&format!("/api/stage/{}", enc(&second)))
        .await
        .data();
    let r = s.get("/api/stats").await;
    assert_eq!(r.data()["activeStages"], 1);
}

#[tokio::test]
async fn deleting_a_stage_with_viewers_is_refused() {
    let mut settings = test_settings();
    settings.limits.viewers_per_stage = 2;
    settings.limits.scale_up_threshold = 2;
    settings.limits.scale_down_threshold = 1;
    let s = TestServer::start(settings).await;
    for u in ["a", "b", "c"] {
        s.join(u).await.data();
    }
    // The third viewer went to the auto-scaled stage.
    let third = s.join("c").await.data()["stageArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(third, s.master());
    let r = s.delete(&format!("/api/stage/{}", enc(&third))).await;
    r.expect_error(400, "VALIDATION_ERROR");
    // Nothing changed: the viewer is still counted there, the stage still exists.
    assert_eq!(
        s.get(&format!("/api/stage/{}", enc(&third))).await.data()["viewerCount"],
        1
    );
    let hb = s
        .post(
            "/api/viewer/heartbeat",
            json!({"userId": "c", "stageArn": third}),
        )
        .await;
    hb.data();
}

#[tokio::test]
async fn full_stages_at_the_limit_give_stage_limit_reached() {
    let mut settings = test_settings();
    settings.limits.max_stages = 2;
    settings.limits.viewers_per_stage = 2;
    settings.limits.scale_up_threshold = 2;
    settings.limits.scale_down_threshold = 1;
    let s = TestServer::start(settings).await;
    for u in ["a", "b", "c", "d"] {
        s.join(u).await.data();
    }
    let r = s.join("e").await;
    r.expect_error(503, "STAGE_LIMIT_REACHED");
    assert!(r.headers.contains_key("retry-after"));
    // A viewer already counted still gets a token (same stage).
    s.join("a").await.data();
}

/// Wraps the emulator, failing chosen operations.
struct Faulty {
    inner: LocalIvs,
    fail_create_stage: bool,
    fail_tokens: bool,
    note: Option<String>,
    /// Whether tokens carry the server's participant id (the emulator's
    /// way) or one the backend picks (AWS's).
    keeps_ids: bool,
}

#[async_trait]
impl IvsBackend for Faulty {
    async fn create_stage(&self, name: &str, tags: &Tags) -> Result<IvsStage, IvsError> {
        if self.fail_create_stage && name.starts_with("auto-stage-") {
            return Err(IvsError::Unavailable("injected".into()));
        }
        self.inner.create_stage(name, tags).await
    }
    async fn get_stage(&self, arn: &str) -> Result<IvsStage, IvsError> {
        self.inner.get_stage(arn).await
    }
    async fn list_stages(&self) -> Result<Vec<IvsStage>, IvsError> {
        self.inner.list_stages().await
    }
    async fn update_stage(&self, arn: &str, name: &str) -> Result<IvsStage, IvsError> {
        self.inner.update_stage(arn, name).await
    }
    async fn delete_stage(&self, arn: &str) -> Result<(), IvsError> {
        self.inner.delete_stage(arn).await
    }
    async fn create_token(&self, spec: &TokenSpec) -> Result<ParticipantToken, IvsError> {
        if self.fail_tokens {
            return Err(IvsError::Token("injected".into()));
        }
        self.inner.create_token(spec).await
    }
    async fn publisher_live(&self, arn: &str) -> Result<bool, IvsError> {
        self.inner.publisher_live(arn).await
    }
    async fn disconnect_participant(&self, arn: &str, participant: &str) -> Result<(), IvsError> {
        self.inner.disconnect_participant(arn, participant).await
    }
    async fn health(&self) -> BackendHealth {
        self.inner.health().await
    }
    fn replication_note(&self, _arn: &str) -> Option<String> {
        self.note.clone()
    }
    fn keeps_participant_id(&self) -> bool {
        self.keeps_ids
    }
}

fn faulty(fail_create_stage: bool, fail_tokens: bool) -> Arc<Faulty> {
    Arc::new(Faulty {
        inner: LocalIvs::generate("ap-northeast-1", "123456789012").unwrap(),
        fail_create_stage,
        fail_tokens,
        note: None,
        keeps_ids: true,
    })
}

#[tokio::test]
async fn a_backend_note_about_a_stage_shows_in_its_info() {
    let ivs = Arc::new(Faulty {
        inner: LocalIvs::generate("ap-northeast-1", "123456789012").unwrap(),
        fail_create_stage: false,
        fail_tokens: false,
        note: Some("the publisher is replicated into 5 stages already".into()),
        keeps_ids: true,
    });
    let s = TestServer::start_builder(ServerBuilder::new(test_settings()).ivs(ivs)).await;
    let r = s.get(&format!("/api/stage/{}", enc(&s.master()))).await;
    assert_eq!(
        r.data()["replicationNote"],
        "the publisher is replicated into 5 stages already"
    );
    // Without a note the key is absent (the spec's shape).
    let plain = server().await;
    let r = plain
        .get(&format!("/api/stage/{}", enc(&plain.master())))
        .await;
    assert!(r.data().get("replicationNote").is_none());
}

#[tokio::test]
async fn full_stages_when_no_stage_can_be_made_give_stage_full() {
    let mut settings = test_settings();
    settings.limits.viewers_per_stage = 2;
    settings.limits.scale_up_threshold = 2;
    settings.limits.scale_down_threshold = 1;
    let s = TestServer::start_builder(ServerBuilder::new(settings).ivs(faulty(true, false))).await;
    s.join("a").await.data();
    s.join("b").await.data();
    let r = s.join("c").await;
    r.expect_error(503, "STAGE_FULL");
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn token_failures_give_token_generation_failed_and_count_nobody() {
    let s = TestServer::start_builder(ServerBuilder::new(test_settings()).ivs(faulty(false, true)))
        .await;
    s.join("a")
        .await
        .expect_error(500, "TOKEN_GENERATION_FAILED");
    s.post("/api/token/publisher", json!({"userId": "p"}))
        .await
        .expect_error(500, "TOKEN_GENERATION_FAILED");
    assert_eq!(s.get("/api/stats/viewers").await.data()["totalViewers"], 0);
}

/// The viewer events of a server's event log, as `type userId watchDuration`.
async fn viewer_events(s: &TestServer) -> Vec<String> {
    logged_events(&**s.server.app().store())
        .await
        .into_iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("viewer.")))
        .map(|e| {
            format!(
                "{} {} {}",
                e["type"].as_str().unwrap_or_default(),
                e["data"]["userId"].as_str().unwrap_or_default(),
                e["data"]["watchDuration"]
            )
        })
        .collect()
}

/// A join whose token fails is undone. With a backend that picks its own
/// participant ids (AWS), viewer.joined waits for the token, so nothing is
/// said of a viewer who never got one; with one that keeps the server's id
/// (the emulator), the join already said it and the undoing answers it.
#[tokio::test]
async fn a_join_undone_for_want_of_a_token_is_silent_unless_already_announced() {
    for (keeps_ids, expected) in [
        (false, vec![]),
        (
            true,
            vec![
                "viewer.joined a null".to_string(),
                "viewer.left a 0".to_string(),
            ],
        ),
    ] {
        let ivs = Arc::new(Faulty {
            inner: LocalIvs::generate("ap-northeast-1", "123456789012").unwrap(),
            fail_create_stage: false,
            fail_tokens: true,
            note: None,
            keeps_ids,
        });
        let s = TestServer::start_builder(ServerBuilder::new(test_settings()).ivs(ivs)).await;
        s.join("a")
            .await
            .expect_error(500, "TOKEN_GENERATION_FAILED");
        assert_eq!(viewer_events(&s).await, expected, "keeps_ids {keeps_ids}");
    }
}

#[tokio::test]
async fn viewer_errors_heartbeat_leave_duration() {
    let s = server().await;
    let master = s.master();
    let hb = json!({"userId": "nobody", "stageArn": master});
    s.post("/api/viewer/heartbeat", hb.clone())
        .await
        .expect_error(404, "NOT_FOUND");
    s.post("/api/viewer/leave", hb)
        .await
        .expect_error(404, "NOT_FOUND");
    s.post("/api/viewer/heartbeat", json!({"userId": "a"}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.post("/api/viewer/heartbeat", json!({"stageArn": master}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.post(
        "/api/viewer/heartbeat",
        json!({"userId": "a", "stageArn": "not-an-arn"}),
    )
    .await
    .expect_error(400, "VALIDATION_ERROR");
    s.get("/api/viewer/duration?userId=a")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.get("/api/viewer/duration")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.get(&format!(
        "/api/viewer/duration?userId=nobody&stageArn={}",
        enc(&master)
    ))
    .await
    .expect_error(404, "NOT_FOUND");

    // A heartbeat on another stage than the viewer's counts nobody.
    s.join("v").await.data();
    let other = "arn:aws:ivs:ap-northeast-1:123456789012:stage/otherStage01";
    s.post(
        "/api/viewer/heartbeat",
        json!({"userId": "v", "stageArn": other}),
    )
    .await
    .expect_error(404, "NOT_FOUND");

    // Leave is idempotent: the second answers the recorded duration; heartbeats are refused.
    let leave = json!({"userId": "v", "stageArn": master});
    let first = s.post("/api/viewer/leave", leave.clone()).await;
    let second = s.post("/api/viewer/leave", leave.clone()).await;
    assert_eq!(first.data(), second.data());
    s.post("/api/viewer/heartbeat", leave)
        .await
        .expect_error(404, "NOT_FOUND");
    assert_eq!(s.get("/api/stats/viewers").await.data()["totalViewers"], 0);
    // The duration is kept after leaving.
    s.get(&format!(
        "/api/viewer/duration?userId=v&stageArn={}",
        enc(&master)
    ))
    .await
    .data();
}

#[tokio::test]
async fn same_user_twice_is_counted_once_on_the_same_stage() {
    let s = server().await;
    let a = s.join("same").await;
    let b = s.join("same").await;
    assert_eq!(a.data()["stageArn"], b.data()["stageArn"]);
    assert_ne!(a.data()["token"], b.data()["token"]);
    assert_ne!(a.data()["participantId"], b.data()["participantId"]);
    assert_eq!(b.data()["currentViewers"], 1);
    let list = s
        .get(&format!("/api/viewer/list/{}", enc(&s.master())))
        .await;
    assert_eq!(list.data()["totalViewers"], 1);
    assert_eq!(
        list.data()["viewers"][0]["participantId"],
        b.data()["participantId"]
    );
}

#[tokio::test]
async fn silent_viewers_expire_and_keep_their_duration() {
    let mut settings = test_settings();
    settings.limits.heartbeat_timeout = Duration::from_millis(1500);
    let s = TestServer::start(settings).await;
    let master = s.master();
    s.join("silent").await.data();
    s.join("chatty").await.data();
    let beat = |u: &str| json!({"userId": u, "stageArn": master});
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        s.post("/api/viewer/heartbeat", beat("chatty")).await.data();
    }
    // 2.4 s later: the silent one is gone, the chatty one is still counted.
    let list = s.get(&format!("/api/viewer/list/{}", enc(&master))).await;
    let users: Vec<&str> = list.data()["viewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["userId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["chatty"]);
    s.post("/api/viewer/heartbeat", beat("silent"))
        .await
        .expect_error(404, "NOT_FOUND");
    assert_eq!(s.get("/api/stats/viewers").await.data()["totalViewers"], 1);
    // Its watch time ran from join to its last heartbeat (the join): 0 s.
    let d = s
        .get(&format!(
            "/api/viewer/duration?userId=silent&stageArn={}",
            enc(&master)
        ))
        .await;
    assert_eq!(d.data()["watchDuration"], 0);
    assert_eq!(d.data()["watchDurationFormatted"], "0分 0秒");
}

#[tokio::test]
async fn two_hundred_concurrent_joins_fill_stages_without_overflow() {
    let s = Arc::new(server().await);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(
            async move { s.join(&format!("bot-{i}")).await },
        ));
    }
    let mut accepted = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        accepted += 1;
    }
    // Let the background scale-up that the last crossing started finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = s.get("/api/stats").await;
    let stages = stats.data()["stages"].as_array().unwrap().clone();
    let counts: Vec<u64> = stages
        .iter()
        .map(|st| st["viewerCount"].as_u64().unwrap())
        .collect();
    assert!(counts.iter().all(|&c| c <= 50), "{counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), accepted);
    // 200 viewers, a new stage each time every stage holds 45: 45·4 = 180 < 200 ⇒ 5 stages.
    assert_eq!(stages.len(), 5, "{counts:?}");
    let auto = stages.iter().filter(|st| st["autoScaled"] == true).count();
    assert_eq!(auto, 4);
}

#[tokio::test]
async fn idle_auto_stages_drain_and_are_deleted_when_empty() {
    let mut settings = test_settings();
    settings.limits.viewers_per_stage = 4;
    settings.limits.scale_up_threshold = 2;
    settings.limits.scale_down_threshold = 1;
    settings.limits.scale_down_min_age = Duration::from_millis(300);
    let s = TestServer::start(settings).await;
    let master = s.master();
    s.join("a").await.data();
    s.join("b").await.data(); // master reaches 2 → a new stage
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = s.join("c").await;
    let auto = c.data()["stageArn"].as_str().unwrap().to_string();
    assert_ne!(auto, master);
    // While c watches, the young stage stays.
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.get(&format!("/api/stage/{}", enc(&auto))).await.data();
    // c leaves; the auto stage is empty and old enough: drained and deleted.
    s.post(
        "/api/viewer/leave",
        json!({"userId": "c", "stageArn": auto}),
    )
    .await
    .data();
    tokio::time::sleep(Duration::from_millis(800)).await;
    s.get(&format!("/api/stage/{}", enc(&auto)))
        .await
        .expect_error(404, "NOT_FOUND");
    assert_eq!(s.get("/api/stats").await.data()["activeStages"], 1);
}

#[tokio::test]
async fn a_draining_stage_is_revived_before_a_new_one_is_made() {
    let mut settings = test_settings();
    settings.limits.viewers_per_stage = 4;
    settings.limits.scale_up_threshold = 3;
    settings.limits.scale_down_threshold = 2;
    settings.limits.scale_down_min_age = Duration::from_millis(200);
    let s = TestServer::start(settings).await;
    let master = s.master();
    for u in ["a", "b", "c"] {
        s.join(u).await.data(); // master reaches 3 → a new stage
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let auto = s.join("d").await.data()["stageArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(auto, master);
    // One viewer (< 2) on an old stage: it drains, but is not deleted (d watches).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stages = s.server.app().store().stages().await.unwrap();
    let drained = stages.iter().find(|st| st.record.arn == auto).unwrap();
    assert!(drained.record.draining, "{stages:?}");
    // The statistics say so (the dashboard reads it there); other stages
    // carry no `draining` field, as in the spec's examples.
    let stats = s.get("/api/stats").await.data().clone();
    let row = |arn: &str| {
        stats["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["stageArn"] == arn)
            .unwrap()
            .clone()
    };
    assert_eq!(row(&auto)["draining"], true, "{stats}");
    assert!(row(&master).get("draining").is_none(), "{stats}");
    // The master fills up: the drained stage takes new viewers again, and no third stage appears.
    s.join("e").await.data();
    let f = s.join("f").await;
    assert_eq!(f.data()["stageArn"], auto.as_str());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = s.get("/api/stats").await.data().clone();
    assert_eq!(stats["activeStages"], 2);
    assert!(
        stats["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|st| st.get("draining").is_none()),
        "revived: {stats}"
    );
}

#[tokio::test]
async fn tokens_verify_with_the_emulator_key_and_carry_every_claim() {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
    let ivs = Arc::new(LocalIvs::generate("ap-northeast-1", "123456789012").unwrap());
    let s = TestServer::start_shared(test_settings(), ivs.clone()).await;
    let r = s
        .post(
            "/api/token/viewer",
            json!({"userId": "jwt", "attributes": {"level": "VIP"}}),
        )
        .await;
    let data = r.data().clone();
    let token = data["token"].as_str().unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES384);
    assert_eq!(header.kid.as_deref(), Some(ivs.signer().kid()));
    let key = DecodingKey::from_ec_der(&ivs.signer().public_key_point());
    let mut v = Validation::new(Algorithm::ES384);
    v.set_required_spec_claims(&["exp"]);
    let claims: Value = decode(token, &key, &v).unwrap().claims;
    let arn = data["stageArn"].as_str().unwrap();
    let stage_id = arn.rsplit('/').next().unwrap();
    assert_eq!(claims["jti"], data["participantId"]);
    assert_eq!(claims["user_id"], "viewer-jwt");
    assert_eq!(claims["resource"], arn);
    assert_eq!(claims["topic"], stage_id);
    assert_eq!(claims["version"], "1.0");
    assert_eq!(
        claims["capabilities"],
        json!({"allow_publish": false, "allow_subscribe": true})
    );
    assert_eq!(claims["attributes"], json!({"level": "VIP"}));
    assert!(claims["events_url"].as_str().unwrap().starts_with("wss://"));
    assert!(claims["whip_url"].as_str().unwrap().starts_with("https://"));
    let (exp, iat) = (
        claims["exp"].as_i64().unwrap(),
        claims["iat"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    let expires =
        chrono::DateTime::parse_from_rfc3339(data["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires.timestamp(), exp);

    let p = s
        .post("/api/token/publisher", json!({"userId": "host"}))
        .await;
    let ptoken = p.data()["token"].as_str().unwrap();
    let claims: Value = decode(ptoken, &key, &v).unwrap().claims;
    assert_eq!(
        claims["capabilities"],
        json!({"allow_publish": true, "allow_subscribe": false})
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        14_400
    );
}

#[tokio::test]
async fn bad_input_gets_4xx_in_the_spec_format_and_changes_nothing() {
    let s = server().await;
    let master = s.master();
    let post_raw = |path: &str, body: Vec<u8>| {
        s.raw(Method::POST, path)
            .header("x-api-key", &s.key)
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("/api/token/viewer", b"{not json".to_vec(), 400),
        ("/api/token/viewer", b"".to_vec(), 400),
        ("/api/token/viewer", b"[]".to_vec(), 400),
        ("/api/token/viewer", br#"{"userId": 42}"#.to_vec(), 400),
        ("/api/token/viewer", br#"{"userId": ["a"]}"#.to_vec(), 400),
        (
            "/api/token/viewer",
            br#"{"userId": "a", "attributes": {"n": 1}}"#.to_vec(),
            400,
        ),
        (
            "/api/token/viewer",
            br#"{"userId": "a", "attributes": "x"}"#.to_vec(),
            400,
        ),
        (
            "/api/token/viewer",
            format!(r#"{{"userId": "{}"}}"#, "u".repeat(10 * 1024)).into_bytes(),
            400,
        ),
        (
            "/api/token/viewer",
            format!(
                r#"{{"userId": "a", "attributes": {{"k": "{}"}}}}"#,
                "v".repeat(1100)
            )
            .into_bytes(),
            400,
        ),
        ("/api/token/viewer", vec![b' '; 10 * 1024 * 1024], 413),
        (
            "/api/viewer/heartbeat",
            br#"{"userId": "a", "stageArn": 7}"#.to_vec(),
            400,
        ),
        ("/api/stage", br#"{"name": "bad name!"}"#.to_vec(), 400),
        (
            "/api/stage",
            br#"{"name": "ok", "tags": {"a": 1}}"#.to_vec(),
            400,
        ),
    ];
    for (path, body, status) in cases {
        let len = body.len();
        let r = TestServer::read(post_raw(path, body).send().await.unwrap()).await;
        r.expect_error(status, "VALIDATION_ERROR");
        assert!(len > 0 || r.json["message"].is_string());
    }
    // Wrong content type, unknown routes, wrong methods, malformed ARNs.
    let r = TestServer::read(
        s.raw(Method::POST, "/api/token/viewer")
            .header("x-api-key", &s.key)
            .header("content-type", "text/plain")
            .body(r#"{"userId":"a"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_error(400, "VALIDATION_ERROR");
    s.get("/api/nothing/here")
        .await
        .expect_error(404, "NOT_FOUND");
    s.call_with_key(Method::GET, "/nothing", None, None)
        .await
        .expect_error(404, "NOT_FOUND");
    s.get("/api/token/viewer")
        .await
        .expect_error(405, "VALIDATION_ERROR");
    s.call(Method::PATCH, "/api/stats", None)
        .await
        .expect_error(405, "VALIDATION_ERROR");
    s.get("/api/stage/not-an-arn")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.get("/api/stage/arn%3Aaws%3Aivs%3Aap-northeast-1%3A1%3Astage%2Fx")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.get("/api/stage/%FF%FE")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.get("/api/stage/list?maxResults=abc")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.get("/api/stage/list?maxResults=0")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    s.get("/api/stage/list?nextToken=garbage")
        .await
        .expect_error(400, "VALIDATION_ERROR");

    // Nothing was written.
    let stats = s.get("/api/stats").await;
    assert_eq!(stats.data()["totalViewers"], 0);
    assert_eq!(stats.data()["activeStages"], 1);
    assert_eq!(stats.data()["stages"][0]["stageArn"], master.as_str());
}

/// Ids are parsed while the request is read (body, query or path); each
/// refusal names its field in the spec's words, wherever the id came from.
#[tokio::test]
async fn malformed_ids_are_named_wherever_they_arrive() {
    let s = server().await;
    let master = s.master();
    let long = "u".repeat(122);
    let body_cases = [
        (
            "/api/token/viewer",
            json!({"userId": ""}),
            "缺少必填參數: userId",
        ),
        ("/api/token/viewer", json!({"userId": long}), "userId 過長"),
        (
            "/api/token/viewer",
            json!({"userId": "a\u{7}b"}),
            "userId 含有不允許的字元",
        ),
        // Publishers lose five more bytes to their `broadcaster-` prefix.
        (
            "/api/token/publisher",
            json!({"userId": "u".repeat(117)}),
            "userId 過長",
        ),
        (
            "/api/token/publisher",
            json!({"userId": "p", "stageArn": "arn:aws:ivs:x"}),
            "stageArn 格式錯誤",
        ),
        (
            "/api/viewer/heartbeat",
            json!({"userId": "a", "stageArn": "not-an-arn"}),
            "stageArn 格式錯誤",
        ),
        (
            "/api/viewer/leave",
            json!({"userId": "a", "stageArn": ""}),
            "缺少必填參數: stageArn",
        ),
        (
            "/api/viewer/leave",
            json!({"stageArn": master}),
            "缺少必填參數: userId",
        ),
    ];
    for (path, body, message) in body_cases {
        let r = s.post(path, body.clone()).await;
        r.expect_error(400, "VALIDATION_ERROR");
        assert_eq!(r.json["message"], message, "{path} {body}");
        let details = r.json["details"].as_str().unwrap();
        assert!(
            !details.contains(" at line "),
            "serde's position leaked: {details}"
        );
    }
    // A publisher id of exactly 116 bytes is accepted.
    s.post("/api/token/publisher", json!({"userId": "u".repeat(116)}))
        .await
        .data();

    let query_cases = [
        (
            format!("/api/viewer/duration?stageArn={}", enc(&master)),
            "缺少必填參數: userId",
        ),
        (
            "/api/viewer/duration?userId=a".to_string(),
            "缺少必填參數: stageArn",
        ),
        (
            "/api/viewer/duration?userId=a&stageArn=nope".to_string(),
            "stageArn 格式錯誤",
        ),
        (
            format!("/api/viewer/duration?userId=&stageArn={}", enc(&master)),
            "缺少必填參數: userId",
        ),
        ("/api/viewer/duration".to_string(), "缺少必填參數: userId"),
    ];
    for (path, message) in query_cases {
        let r = s.get(&path).await;
        r.expect_error(400, "VALIDATION_ERROR");
        assert_eq!(r.json["message"], message, "{path}");
    }
    let r = s
        .get("/api/viewer/list/arn%3Aaws%3Aivs%3Aus-east-1%3A1%3Astage%2Fx")
        .await;
    r.expect_error(400, "VALIDATION_ERROR");
    assert_eq!(r.json["message"], "stageArn 格式錯誤");
    assert!(r.json["details"].as_str().unwrap().contains("12 digits"));
}

#[tokio::test]
async fn every_route_and_the_websocket_need_a_key() {
    let s = server().await;
    let arn = enc(&s.master());
    let routes = [
        (Method::POST, "/api/token/publisher".to_string()),
        (Method::POST, "/api/token/viewer".to_string()),
        (Method::GET, "/api/stage/list".to_string()),
        (Method::GET, "/api/stage/master/info".to_string()),
        (Method::GET, format!("/api/stage/{arn}")),
        (Method::POST, "/api/stage".to_string()),
        (Method::PUT, format!("/api/stage/{arn}")),
        (Method::DELETE, format!("/api/stage/{arn}")),
        (Method::POST, "/api/viewer/heartbeat".to_string()),
        (Method::POST, "/api/viewer/leave".to_string()),
        (Method::GET, format!("/api/viewer/list/{arn}")),
        (Method::GET, "/api/viewer/duration".to_string()),
        (Method::GET, "/api/stats".to_string()),
        (Method::GET, "/api/stats/viewers".to_string()),
        (Method::GET, "/api/stats/stages".to_string()),
        (Method::GET, format!("/api/stats/stages/{arn}")),
        (Method::GET, "/api/stats/publisher".to_string()),
        (Method::GET, "/ws".to_string()),
    ];
    for (method, path) in routes {
        for key in [None, Some("not-the-key-at-all")] {
            let r = s
                .call_with_key(
                    method.clone(),
                    &path,
                    Some(json!({"userId": "a", "name": "n"})),
                    key,
                )
                .await;
            r.expect_error(401, "UNAUTHORIZED");
        }
    }
    let r = s.call_with_key(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_hundred_and_first_request_in_a_minute_is_refused() {
    let mut settings = test_settings();
    settings.api_keys =
        ivs_server::config::parse_api_keys("limited-key-1,roomy-key-22:1000").unwrap();
    let mut s = TestServer::start(settings).await;
    s.key = "limited-key-1".into();
    for i in 0..100 {
        let r = s.get("/api/stats/viewers").await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.headers["ratelimit-limit"], "100");
        assert_eq!(
            r.headers["ratelimit-remaining"],
            (99 - i).to_string().as_str()
        );
    }
    let r = s.get("/api/stats/viewers").await;
    r.expect_error(429, "TOO_MANY_REQUESTS");
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.headers["ratelimit-remaining"], "0");
    assert!(r.headers.contains_key("ratelimit-reset"));
    // Another key has its own allowance (and its own limit).
    s.key = "roomy-key-22".into();
    let r = s.get("/api/stats/viewers").await;
    assert_eq!(r.headers["ratelimit-limit"], "1000");
}

async fn ws_connect(
    s: &TestServer,
    query_key: bool,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = if query_key {
        format!("ws://{}/ws?apiKey={}", s.server.addr(), s.key)
    } else {
        format!("ws://{}/ws", s.server.addr())
    };
    let mut req = url.into_client_request().unwrap();
    if !query_key {
        req.headers_mut()
            .insert("x-api-key", s.key.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    use futures_util::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("stream open")
            .expect("no error");
        if let Ok(text) = msg.to_text() {
            if !text.is_empty() {
                return serde_json::from_str(text).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn websocket_streams_stats_and_answers_bad_messages_without_closing() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let s = server().await;
    for query_key in [false, true] {
        let mut ws = ws_connect(&s, query_key).await;
        ws.send(Message::text(r#"{"type":"hello"}"#)).await.unwrap();
        let err = next_json(&mut ws).await;
        assert_eq!(err["type"], "error");
        assert_eq!(err["error"], "VALIDATION_ERROR");
        ws.send(Message::text("not json")).await.unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "error");
        ws.send(Message::text(r#"{"type":"subscribe","channel":"nope"}"#))
            .await
            .unwrap();
        assert_eq!(next_json(&mut ws).await["type"], "error");

        let subscribe = ivs_test_support::shape::fixture("ws-subscribe.message.json");
        ws.send(Message::text(subscribe.to_string())).await.unwrap();
        let first = next_json(&mut ws).await;
        assert_shape(&first, "ws-stats-update.message.json", &[]);
        s.join(&format!("ws-viewer-{query_key}")).await.data();
        // The periodic update (every 200 ms here) shows the new viewer.
        let mut seen = first["data"]["viewerCount"].as_u64().unwrap();
        for _ in 0..20 {
            let update = next_json(&mut ws).await;
            assert_shape(&update, "ws-stats-update.message.json", &[]);
            seen = update["data"]["viewerCount"].as_u64().unwrap();
            if seen == if query_key { 2 } else { 1 } {
                break;
            }
        }
        assert_eq!(seen, if query_key { 2 } else { 1 });
    }
}

#[tokio::test]
async fn health_answers_without_a_key_and_reports_uptime() {
    let s = server().await;
    let r = s.call_with_key(Method::GET, "/health", None, None).await;
    assert_eq!(r.json["status"], "ok");
    assert!(r.json["uptime"].is_u64());
    // Unknown methods on /health are still in the error format.
    s.call_with_key(Method::POST, "/health", Some(json!({})), None)
        .await
        .expect_error(405, "VALIDATION_ERROR");
}
