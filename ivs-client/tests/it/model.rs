//! Wire round trips: every spec example, read into its model type and
//! written back, must give the same JSON. The Rust names follow one scheme
//! (`arn`/`name` on what describes a stage, `stage_arn` on what refers to
//! one, `viewer_count` for a stage, `total_*` for the fleet) while the JSON
//! stays the spec's: a rename that leaked onto the wire fails here, either
//! reading the example (a missing field) or writing it back (another key).

use ivs_client::model::*;
use ivs_test_support::shape::fixture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const ARN: &str = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8";

/// Reads `json` as a `T`, writes it back, and checks nothing changed.
fn round_trip<T: DeserializeOwned + Serialize>(what: &str, json: Value) -> T {
    let typed: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{what}: the example does not read: {e}"));
    let back = serde_json::to_value(&typed).expect("serialise");
    assert_eq!(back, json, "{what}: the JSON changed on the way back");
    typed
}

/// The `data` of an enveloped example, round-tripped.
fn data<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let example = fixture(name);
    assert_eq!(example["success"], true, "{name}");
    round_trip(name, example["data"].clone())
}

/// A whole example (requests, bare responses, WebSocket messages), round-tripped.
fn whole<T: DeserializeOwned + Serialize>(name: &str) -> T {
    round_trip(name, fixture(name))
}

#[test]
fn token_models_keep_the_spec_json() {
    let viewer: ViewerToken = data("token-viewer.response.json");
    // `viewer_count` is the JSON's `currentViewers`.
    assert_eq!(viewer.viewer_count, 42);
    assert_eq!(viewer.stage_arn.as_str(), ARN);
    assert_eq!(viewer.user_id, "viewer-viewer-001");
    let publisher: PublisherToken = data("token-publisher.response.json");
    assert_eq!(publisher.stage_arn.as_str(), ARN);
    assert!(publisher.user_id.starts_with("broadcaster-"));
    let request: TokenRequest = whole("token-viewer.request.json");
    assert_eq!(request.user_id, "viewer-001");
    whole::<TokenRequest>("token-publisher.request.json");
}

#[test]
fn stage_models_keep_the_spec_json() {
    let list: StageList = data("stage-list.response.json");
    // `arn` is the JSON's `stageArn`.
    assert_eq!(list.stages[0].arn.as_str(), ARN);
    assert_eq!(list.stages[0].name, "master-stage");
    assert_eq!(list.total_stages, 2);
    let master: MasterStageInfo = data("stage-master-info.response.json");
    assert_eq!(master.stage.arn.as_str(), ARN);
    let info: StageInfo = data("stage-get.response.json");
    assert_eq!(info.viewer_count, 45);
    let created: CreatedStage = data("stage-create.response.json");
    assert!(!created.stage.name.is_empty());
    let updated: UpdatedStage = data("stage-update.response.json");
    assert!(!updated.stage.name.is_empty());
    let deleted: DeletedStage = whole("stage-delete.response.json");
    assert!(deleted.success);
    let create: CreateStageRequest = whole("stage-create.request.json");
    assert_eq!(create.name, "my-custom-stage");
    whole::<UpdateStageRequest>("stage-update.request.json");
}

#[test]
fn stats_models_keep_the_spec_json() {
    let stats: Stats = data("stats.response.json");
    assert_eq!(stats.total_viewers, 55);
    // `total_stages` is the JSON's `activeStages`.
    assert_eq!(stats.total_stages, 2);
    // `arn` and `name` are the JSON's `stageArn` and `stageName`.
    assert_eq!(stats.stages[0].arn.as_str(), ARN);
    assert_eq!(stats.stages[0].name, "master-stage");
    let stages: StageStatsList = data("stats-stages.response.json");
    assert_eq!(stages.stages[0].name, "master-stage");
    // Flat in Rust, nested under `info` in the JSON.
    let one: StageStatsDetail = data("stats-stage.response.json");
    assert_eq!(one.arn.as_str(), ARN);
    assert_eq!(one.name, "master-stage");
    assert_eq!(one.viewer_count, 45);
    assert!(!one.auto_scaled);
    data::<ViewerStats>("stats-viewers.response.json");
    data::<PublisherStatus>("stats-publisher.response.json");
}

#[test]
fn viewer_models_keep_the_spec_json() {
    let beat: Heartbeat = data("viewer-heartbeat.response.json");
    assert_eq!(beat.user_id, "viewer-001");
    assert_eq!(beat.stage_arn.as_str(), ARN);
    let left: WatchDuration = data("viewer-leave.response.json");
    assert_eq!(left.stage_arn.as_str(), ARN);
    data::<WatchDuration>("viewer-duration.response.json");
    let list: ViewerList = data("viewer-list.response.json");
    // `viewer_count` is the JSON's `totalViewers` (one stage's viewers).
    assert_eq!(list.viewer_count, 2);
    assert_eq!(list.viewers[0].user_id, "viewer-001");
    whole::<ViewerRef>("viewer-heartbeat.request.json");
    whole::<ViewerRef>("viewer-leave.request.json");
}

#[test]
fn other_models_keep_the_spec_json() {
    match whole::<ServerMessage>("ws-stats-update.message.json") {
        ServerMessage::StatsUpdate { data } => {
            // `total_viewers` is the JSON's `viewerCount` (the fleet's viewers).
            assert_eq!(data.total_viewers, 55);
            assert_eq!(data.total_stages, 2);
        }
        other => panic!("not a stats update: {other:?}"),
    }
    whole::<ClientMessage>("ws-subscribe.message.json");
    whole::<Health>("health.response.json");
    whole::<ErrorBody>("error.response.json");
}

#[test]
fn builders_make_what_the_server_sends() {
    let example = fixture("ws-stats-update.message.json")["data"].clone();
    let built = StatsUpdate::builder()
        .total_viewers(55)
        .total_stages(2)
        .timestamp(serde_json::from_value(example["timestamp"].clone()).unwrap())
        .build();
    assert_eq!(serde_json::to_value(&built).unwrap(), example);

    let example = fixture("stats-stage.response.json")["data"].clone();
    let built = StageStatsDetail::builder()
        .arn(ARN.parse().unwrap())
        .name("master-stage")
        .viewer_count(45)
        .auto_scaled(false)
        .created_at(serde_json::from_value(example["info"]["createdAt"].clone()).unwrap())
        .timestamp(serde_json::from_value(example["timestamp"].clone()).unwrap())
        .build();
    assert_eq!(serde_json::to_value(&built).unwrap(), example);
}
