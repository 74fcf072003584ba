//! The event log's behaviours (part of the store suite: every store).

use std::time::Duration;

use ivs_server::store::events::LoggedEvent;
use ivs_server::store::{
    BeginOutcome, Fence, JoinRequest, LeaveOutcome, RemovalReason, RemoveOutcome, StageKind,
    ViewerStore,
};
use serde_json::{json, Value};

use super::{create_intent, lease, named, req, stage, ARN_A, ARN_B, ARN_C, EVENT_CAP, MINUTE};

/// Records `n` events at times `t0`, `t0 + 1`, … (the publisher on ARN_B
/// going live and offline in turn).
async fn record(s: &dyn ViewerStore, t0: i64, n: i64) {
    for i in 0..n {
        let live = !s.publisher(ARN_B).await.unwrap().is_some_and(|(l, _)| l);
        let changed = s.record_publisher(ARN_B, live, t0 + i).await.unwrap();
        assert!(changed, "flip {i} recorded");
    }
}

fn positions(events: &[LoggedEvent]) -> Vec<String> {
    events.iter().map(|e| e.position.clone()).collect()
}

pub(super) async fn publisher_state_ignores_older_observations(s: &dyn ViewerStore) {
    let log = s.event_log();
    let (start, _) = log.tail(None, 10).await.unwrap();
    assert_eq!(s.publisher(ARN_A).await.unwrap(), None);
    // Offline first: nothing recorded reads as offline, so no change.
    assert!(!s.record_publisher(ARN_A, false, 1_000).await.unwrap());
    assert_eq!(s.publisher(ARN_A).await.unwrap(), Some((false, 1_000)));
    assert!(s.record_publisher(ARN_A, true, 2_000).await.unwrap());
    // Older or equal observations are ignored, whatever they say.
    assert!(!s.record_publisher(ARN_A, false, 1_500).await.unwrap());
    assert!(!s.record_publisher(ARN_A, false, 2_000).await.unwrap());
    assert_eq!(s.publisher(ARN_A).await.unwrap(), Some((true, 2_000)));
    // A newer one with the same state moves the time, records nothing.
    assert!(!s.record_publisher(ARN_A, true, 3_000).await.unwrap());
    assert!(s.record_publisher(ARN_A, false, 4_000).await.unwrap());
    assert_eq!(s.publisher(ARN_A).await.unwrap(), Some((false, 4_000)));
    // Stages are independent.
    assert_eq!(s.publisher(ARN_B).await.unwrap(), None);
    let (_, events) = log.tail(Some(&start), 100).await.unwrap();
    let seen: Vec<(&str, i64)> = events
        .iter()
        .map(|e| (e.event.event_type(), e.event.timestamp.millis()))
        .collect();
    assert_eq!(
        seen,
        [("publisher.live", 2_000), ("publisher.offline", 4_000)]
    );
    let json = serde_json::to_value(&events[0].event).unwrap();
    assert_eq!(json["data"], serde_json::json!({ "stageArn": ARN_A }));
    assert!(
        events[0].event.id.starts_with("evt_"),
        "{}",
        events[0].event.id
    );
    assert_ne!(events[0].event.id, events[1].event.id);
}

pub(super) async fn event_groups_hand_each_event_to_one_consumer(s: &dyn ViewerStore) {
    let log = s.event_log();
    record(s, 10, 2).await;
    // A new group starts at the end: what came before is not delivered.
    log.create_group("hooks").await.unwrap();
    log.create_group("hooks").await.unwrap();
    assert!(log.read_new("hooks", "c1", 10).await.unwrap().is_empty());
    record(s, 20, 5).await;
    let first = log.read_new("hooks", "c1", 3).await.unwrap();
    let second = log.read_new("hooks", "c2", 10).await.unwrap();
    assert_eq!((first.len(), second.len()), (3, 2));
    assert!(log.read_new("hooks", "c2", 10).await.unwrap().is_empty());
    let all: Vec<i64> = first
        .iter()
        .chain(&second)
        .map(|e| e.event.timestamp.millis())
        .collect();
    assert_eq!(all, [20, 21, 22, 23, 24]);
    // Positions increase; ids are stable across reads of the same entry.
    let mut sorted = positions(&first);
    sorted.extend(positions(&second));
    let (_, tail) = log.tail(Some("0-0"), 100).await.unwrap();
    let tail_last5: Vec<String> = positions(&tail[tail.len() - 5..]);
    assert_eq!(sorted, tail_last5);
    assert_eq!(tail[tail.len() - 1].event.id, second[1].event.id);
    // Another group sees the same events independently.
    log.create_group("audit").await.unwrap();
    record(s, 30, 1).await;
    assert_eq!(log.read_new("audit", "a", 10).await.unwrap().len(), 1);
    assert_eq!(log.read_new("hooks", "c1", 10).await.unwrap().len(), 1);
    // Pending: every unacknowledged event, in log order, with its consumer.
    let pending = log
        .pending("hooks", Duration::ZERO, None, 100)
        .await
        .unwrap();
    assert_eq!(pending.len(), 6);
    assert_eq!(pending[0].consumer, "c1");
    assert_eq!(pending[3].consumer, "c2");
    assert!(pending.iter().all(|p| p.deliveries == 1));
    // Paged by position.
    let page = log
        .pending("hooks", Duration::ZERO, Some(&pending[1].position), 2)
        .await
        .unwrap();
    assert_eq!(positions_of(&page), positions_of(&pending[2..4]));
    log.ack("hooks", &positions(&first)).await.unwrap();
    let left = log
        .pending("hooks", Duration::ZERO, None, 100)
        .await
        .unwrap();
    assert_eq!(positions_of(&left), positions_of(&pending[3..]));
    // The other group is untouched by this one's acks.
    assert_eq!(
        log.pending("audit", Duration::ZERO, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    // A group nobody created has nothing pending.
    assert!(log
        .pending("nobody", Duration::ZERO, None, 10)
        .await
        .unwrap()
        .is_empty());
}

fn positions_of(p: &[ivs_server::store::events::PendingEvent]) -> Vec<String> {
    p.iter().map(|p| p.position.clone()).collect()
}

pub(super) async fn claims_take_idle_events_once(s: &dyn ViewerStore) {
    let log = s.event_log();
    log.create_group("g").await.unwrap();
    record(s, 100, 3).await;
    let read = log.read_new("g", "crashed", 10).await.unwrap();
    let wanted = positions(&read);
    // Not idle long enough: nothing is taken, nothing is listed.
    let hour = Duration::from_secs(3600);
    let none = log.claim("g", "c2", hour, &wanted).await.unwrap();
    assert!(none.events.is_empty() && none.trimmed.is_empty());
    assert!(log.pending("g", hour, None, 10).await.unwrap().is_empty());
    let min = Duration::from_millis(500);
    tokio::time::sleep(min + Duration::from_millis(100)).await;
    let idle = log.pending("g", min, None, 10).await.unwrap();
    assert_eq!(idle.len(), 3);
    assert!(idle.iter().all(|p| p.idle >= min));
    // Two instances claim at once: each event goes to exactly one.
    let (a, b) = tokio::join!(
        log.claim("g", "c2", min, &wanted),
        log.claim("g", "c3", min, &wanted)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut got = positions(&a.events);
    got.extend(positions(&b.events));
    got.sort();
    assert_eq!(got, wanted);
    // A claim restarts the idle time and counts a delivery.
    let after = log.pending("g", Duration::ZERO, None, 10).await.unwrap();
    assert!(after.iter().all(|p| p.deliveries == 2), "{after:?}");
    assert!(after.iter().all(|p| p.idle < min), "{after:?}");
    assert!(after.iter().all(|p| p.consumer != "crashed"));
    // The claimed events are the same events (same ids).
    let by_pos = |p: &str| {
        read.iter()
            .find(|e| e.position == p)
            .unwrap()
            .event
            .id
            .clone()
    };
    for e in a.events.iter().chain(&b.events) {
        assert_eq!(e.event.id, by_pos(&e.position));
    }
    log.ack("g", &wanted).await.unwrap();
    assert!(log
        .pending("g", Duration::ZERO, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Claiming what is no longer pending takes nothing.
    let again = log.claim("g", "c4", Duration::ZERO, &wanted).await.unwrap();
    assert!(again.events.is_empty() && again.trimmed.is_empty());
}

pub(super) async fn idle_consumers_holding_nothing_are_forgotten(s: &dyn ViewerStore) {
    let log = s.event_log();
    log.create_group("g").await.unwrap();
    record(s, 100, 2).await;
    let gone = log.read_new("g", "gone", 1).await.unwrap();
    let busy = log.read_new("g", "busy", 1).await.unwrap();
    assert_eq!((gone.len(), busy.len()), (1, 1));
    log.ack("g", &positions(&gone)).await.unwrap();
    let hour = Duration::from_secs(3600);
    assert_eq!(log.forget_idle_consumers("g", hour).await.unwrap(), 0);
    let min = Duration::from_millis(500);
    tokio::time::sleep(min + Duration::from_millis(100)).await;
    // "gone" holds nothing and is idle: forgotten. "busy" holds an event.
    assert_eq!(log.forget_idle_consumers("g", min).await.unwrap(), 1);
    assert_eq!(log.forget_idle_consumers("g", min).await.unwrap(), 0);
    let pending = log.pending("g", Duration::ZERO, None, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].consumer, "busy");
    // Once its event is acknowledged, "busy" goes too.
    log.ack("g", &positions(&busy)).await.unwrap();
    assert_eq!(log.forget_idle_consumers("g", min).await.unwrap(), 1);
    // Forgotten consumers lose nothing: a new read gets what comes next,
    // and a consumer that just read is not idle.
    record(s, 200, 1).await;
    let next = log.read_new("g", "gone", 10).await.unwrap();
    assert_eq!(next.len(), 1);
    log.ack("g", &positions(&next)).await.unwrap();
    assert_eq!(log.forget_idle_consumers("g", min).await.unwrap(), 0);
    assert_eq!(
        log.forget_idle_consumers("no-such-group", Duration::ZERO)
            .await
            .unwrap(),
        0
    );
}

pub(super) async fn groups_are_listed_with_their_pending_events(s: &dyn ViewerStore) {
    let log = s.event_log();
    assert_eq!(log.groups().await.unwrap(), Vec::<(String, u64)>::new());
    log.create_group("webhook:b").await.unwrap();
    log.create_group("webhook:a").await.unwrap();
    record(s, 100, 3).await;
    let read = log.read_new("webhook:b", "c", 10).await.unwrap();
    assert_eq!(read.len(), 3);
    log.ack("webhook:b", &positions(&read[..1])).await.unwrap();
    assert_eq!(
        log.groups().await.unwrap(),
        [("webhook:a".to_string(), 0), ("webhook:b".to_string(), 2)]
    );
}

pub(super) async fn tail_follows_from_now_on_in_pages(s: &dyn ViewerStore) {
    let log = s.event_log();
    record(s, 200, 2).await;
    let (now, none) = log.tail(None, 10).await.unwrap();
    assert!(none.is_empty());
    // Following from an empty point gives nothing new, at the same place.
    let (same, none) = log.tail(Some(&now), 10).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(same, now);
    record(s, 300, 5).await;
    let (p1, page1) = log.tail(Some(&now), 2).await.unwrap();
    let (p2, page2) = log.tail(Some(&p1), 2).await.unwrap();
    let (p3, page3) = log.tail(Some(&p2), 2).await.unwrap();
    let times: Vec<i64> = page1
        .iter()
        .chain(&page2)
        .chain(&page3)
        .map(|e| e.event.timestamp.millis())
        .collect();
    assert_eq!(times, [300, 301, 302, 303, 304]);
    assert_eq!(p3, page3[0].position);
    assert_eq!(log.backlog().await.unwrap(), 7);
}

/// The events recorded since `cursor`, which moves past them.
async fn since(s: &dyn ViewerStore, cursor: &mut String) -> Vec<LoggedEvent> {
    let (next, events) = s.event_log().tail(Some(cursor), 1_000).await.unwrap();
    *cursor = next;
    events
}

/// Type and `data` of each event, as the wire writes them.
fn shapes(events: &[LoggedEvent]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| {
            let json = serde_json::to_value(&e.event).unwrap();
            (e.event.event_type().to_string(), json["data"].clone())
        })
        .collect()
}

fn one(kind: &str, data: Value) -> Vec<(String, Value)> {
    vec![(kind.to_string(), data)]
}

/// Checks that exactly one event was recorded since `cursor`, of this type
/// and data; returns it.
async fn expect(
    s: &dyn ViewerStore,
    cursor: &mut String,
    kind: &str,
    data: Value,
) -> Vec<LoggedEvent> {
    let events = since(s, cursor).await;
    assert_eq!(shapes(&events), one(kind, data));
    events
}

fn wall() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Checks that the events happened at the step's `now`.
fn at(events: &[LoggedEvent], now: i64) {
    for e in events {
        assert_eq!(e.event.timestamp.millis(), now, "{:?}", e.event);
    }
}

/// Checks that the events carry the store's clock (steps without a `now`).
fn on_the_clock(events: &[LoggedEvent], from: i64) {
    for e in events {
        let t = e.event.timestamp.millis();
        assert!(t >= from - 1_000 && t <= wall() + 1_000, "{t} vs {from}");
    }
}

pub(super) async fn viewer_steps_record_their_events(s: &dyn ViewerStore) {
    let mut c = s.event_log().tail(None, 1).await.unwrap().0;
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    since(s, &mut c).await;
    let joined = |user: &str, now: i64| json!({ "userId": user, "stageArn": ARN_A, "participantId": format!("p-{user}-{now}") });
    let gone =
        |user: &str, secs: u64| json!({ "userId": user, "stageArn": ARN_A, "watchDuration": secs });
    // A join counts the viewer: viewer.joined at the join's time.
    s.join(&req("u1", 1_000, 50, 40)).await.unwrap();
    let e = expect(s, &mut c, "viewer.joined", joined("u1", 1_000)).await;
    at(&e, 1_000);
    // A rejoin, heartbeats (known or not): nothing.
    s.join(&req("u1", 2_000, 50, 40)).await.unwrap();
    s.heartbeat("u1", ARN_A, 3_000).await.unwrap();
    s.heartbeat("nobody", ARN_A, 3_000).await.unwrap();
    s.heartbeat("u1", ARN_B, 3_000).await.unwrap();
    assert!(since(s, &mut c).await.is_empty());
    // A leave: viewer.left with the watch time; once.
    assert_eq!(
        s.leave("u1", ARN_A, 11_000, MINUTE).await.unwrap(),
        LeaveOutcome::Left(10)
    );
    let e = expect(s, &mut c, "viewer.left", gone("u1", 10)).await;
    at(&e, 11_000);
    s.leave("u1", ARN_A, 12_000, MINUTE).await.unwrap();
    s.leave("nobody", ARN_A, 12_000, MINUTE).await.unwrap();
    assert!(since(s, &mut c).await.is_empty());
    // A join undone: its viewer.joined, then viewer.left with nothing watched.
    s.join(&req("u2", 20_000, 50, 40)).await.unwrap();
    let before = wall();
    s.forget("u2", ARN_A, true).await.unwrap();
    let e = since(s, &mut c).await;
    assert_eq!(
        shapes(&e),
        [
            ("viewer.joined".to_string(), joined("u2", 20_000)),
            ("viewer.left".to_string(), gone("u2", 0)),
        ]
    );
    on_the_clock(&e[1..], before);
    s.forget("u2", ARN_A, true).await.unwrap();
    assert!(since(s, &mut c).await.is_empty());
    // A join that leaves viewer.joined to the token (IVS picks the id): no
    // event until set_participant announces it, with IVS's id, dated at the
    // join; a rejoin's new id is recorded silently.
    let deferred = |user: &str, now| JoinRequest {
        announce: false,
        ..req(user, now, 50, 40)
    };
    s.join(&deferred("u5", 21_000)).await.unwrap();
    assert!(since(s, &mut c).await.is_empty());
    s.set_participant("u5", ARN_B, "elsewhere", true)
        .await
        .unwrap();
    assert!(since(s, &mut c).await.is_empty());
    s.set_participant("u5", ARN_A, "ivs-5", true).await.unwrap();
    let ivs_joined = json!({ "userId": "u5", "stageArn": ARN_A, "participantId": "ivs-5" });
    let e = expect(s, &mut c, "viewer.joined", ivs_joined).await;
    at(&e, 21_000);
    s.join(&deferred("u5", 22_000)).await.unwrap();
    s.set_participant("u5", ARN_A, "ivs-6", false)
        .await
        .unwrap();
    assert!(since(s, &mut c).await.is_empty());
    assert_eq!(
        s.leave("u5", ARN_A, 23_000, MINUTE).await.unwrap(),
        LeaveOutcome::Left(2)
    );
    since(s, &mut c).await;
    // Undone before it was announced: nothing at all.
    s.join(&deferred("u6", 24_000)).await.unwrap();
    s.forget("u6", ARN_A, false).await.unwrap();
    assert!(since(s, &mut c).await.is_empty());
    assert_eq!(
        s.leave("u6", ARN_A, 25_000, MINUTE).await.unwrap(),
        LeaveOutcome::Unknown
    );
    // Expiry: viewer.expired (join to last heartbeat) at the sweep's time.
    s.join(&req("u3", 30_000, 50, 40)).await.unwrap();
    s.join(&req("u4", 30_000, 50, 40)).await.unwrap();
    s.heartbeat("u3", ARN_A, 40_000).await.unwrap();
    s.heartbeat("u4", ARN_A, 150_000).await.unwrap();
    since(s, &mut c).await;
    assert_eq!(s.sweep(200_000, MINUTE, MINUTE * 60).await.unwrap(), 1);
    let e = expect(s, &mut c, "viewer.expired", gone("u3", 10)).await;
    at(&e, 200_000);
    assert_eq!(s.sweep(200_001, MINUTE, MINUTE * 60).await.unwrap(), 0);
    assert!(since(s, &mut c).await.is_empty());
}

pub(super) async fn stage_steps_record_their_events(s: &dyn ViewerStore) {
    let mut c = s.event_log().tail(None, 1).await.unwrap().0;
    let a = json!({ "stageArn": ARN_A });
    // New to the registry: stage.created; replaced: nothing.
    let before = wall();
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    let e = expect(
        s,
        &mut c,
        "stage.created",
        json!({ "stageArn": ARN_A, "name": "name-aaaa", "autoScaled": true, "isMaster": false }),
    )
    .await;
    on_the_clock(&e, before);
    s.register_stage(&named(ARN_A, "renamed", 1)).await.unwrap();
    s.rename_stage(ARN_A, "again").await.unwrap();
    assert!(since(s, &mut c).await.is_empty());
    let mut master = stage(ARN_C, 0);
    master.kind = StageKind::Master;
    s.register_stage(&master).await.unwrap();
    assert_eq!(
        shapes(&since(s, &mut c).await),
        one(
            "stage.created",
            json!({ "stageArn": ARN_C, "name": "name-cccc", "autoScaled": false, "isMaster": true })
        )
    );
    // (Out of the way: viewers below go to A.)
    s.purge_stage(ARN_C, 2, RemovalReason::Gone).await.unwrap();
    since(s, &mut c).await;
    // Drain marks: only a change is an event.
    assert!(s.set_draining(ARN_A, true).await.unwrap());
    assert!(s.set_draining(ARN_A, true).await.unwrap());
    assert!(s.set_draining(ARN_A, false).await.unwrap());
    assert!(s.set_draining(ARN_A, false).await.unwrap());
    assert!(!s.set_draining(ARN_B, true).await.unwrap());
    let e = since(s, &mut c).await;
    assert_eq!(
        shapes(&e),
        [
            ("stage.draining".to_string(), a.clone()),
            ("stage.revived".to_string(), a.clone()),
        ]
    );
    on_the_clock(&e, before);
    // A revival of a stage that is not draining: nothing; of one that is:
    // stage.revived at its time.
    assert!(!s.revive(ARN_A, 5_000).await.unwrap());
    assert!(!s.revive(ARN_B, 5_000).await.unwrap());
    assert!(since(s, &mut c).await.is_empty());
    s.set_draining(ARN_A, true).await.unwrap();
    since(s, &mut c).await;
    assert!(s.revive(ARN_A, 6_000).await.unwrap());
    let e = expect(s, &mut c, "stage.revived", a.clone()).await;
    at(&e, 6_000);
    // Removal: refused while it has viewers; then stage.removed (deleted).
    s.join(&req("u1", 7_000, 50, 40)).await.unwrap();
    since(s, &mut c).await;
    assert_eq!(
        s.remove_stage_if_empty(ARN_A, RemovalReason::Deleted)
            .await
            .unwrap(),
        RemoveOutcome::NotEmpty(1)
    );
    assert!(since(s, &mut c).await.is_empty());
    s.leave("u1", ARN_A, 8_000, MINUTE).await.unwrap();
    since(s, &mut c).await;
    assert_eq!(
        s.remove_stage_if_empty(ARN_A, RemovalReason::Deleted)
            .await
            .unwrap(),
        RemoveOutcome::Removed
    );
    let e = expect(
        s,
        &mut c,
        "stage.removed",
        json!({ "stageArn": ARN_A, "reason": "deleted" }),
    )
    .await;
    on_the_clock(&e, before);
    s.remove_stage_if_empty(ARN_A, RemovalReason::Deleted)
        .await
        .unwrap();
    // A purge of a registered stage: each of its viewers leaves (watch
    // time to the purge, so every viewer.joined has its end), then the
    // stage is removed; of an unknown one, nothing.
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    s.join(&req("u2", 9_000, 50, 40)).await.unwrap();
    since(s, &mut c).await;
    s.purge_stage(ARN_B, 15_000, RemovalReason::Gone)
        .await
        .unwrap();
    let e = since(s, &mut c).await;
    assert_eq!(
        shapes(&e),
        [
            (
                "viewer.left".to_string(),
                json!({ "userId": "u2", "stageArn": ARN_B, "watchDuration": 6 })
            ),
            (
                "stage.removed".to_string(),
                json!({ "stageArn": ARN_B, "reason": "gone" })
            ),
        ]
    );
    at(&e, 15_000);
    s.purge_stage(ARN_B, 11_000, RemovalReason::Gone)
        .await
        .unwrap();
    assert!(since(s, &mut c).await.is_empty());
}

pub(super) async fn fenced_steps_record_their_events(s: &dyn ViewerStore) {
    let mut c = s.event_log().tail(None, 1).await.unwrap().0;
    let f = lease(s, "scale-up", "h1").await;
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    since(s, &mut c).await;
    // At the limit: fleet.stage_limit_reached, once a minute at most.
    assert_eq!(
        s.begin_create(&create_intent("x", false), &f, 2)
            .await
            .unwrap(),
        BeginOutcome::Recorded
    );
    assert!(since(s, &mut c).await.is_empty());
    let before = wall();
    for _ in 0..3 {
        assert_eq!(
            s.begin_create(&create_intent("y", false), &f, 2)
                .await
                .unwrap(),
            BeginOutcome::AtLimit
        );
    }
    let e = expect(
        s,
        &mut c,
        "fleet.stage_limit_reached",
        json!({ "activeStages": 2, "maxStages": 2 }),
    )
    .await;
    on_the_clock(&e, before);
    // Finishing a creation registers the stage: stage.created.
    assert!(s.finish_create(&named(ARN_B, "x", 2), &f).await.unwrap());
    let e = since(s, &mut c).await;
    assert_eq!(shapes(&e).len(), 1);
    assert_eq!(e[0].event.event_type(), "stage.created");
    // A refused drain (too young): nothing; a drain: stage.draining.
    let young = Duration::from_secs(3600);
    assert!(!s.drain_if_idle(ARN_A, 5, young, 100_000, &f).await.unwrap());
    assert!(since(s, &mut c).await.is_empty());
    assert!(s
        .drain_if_idle(ARN_A, 5, MINUTE, 100_000, &f)
        .await
        .unwrap());
    let e = expect(s, &mut c, "stage.draining", json!({ "stageArn": ARN_A })).await;
    at(&e, 100_000);
    // Scale-down takes it out: stage.removed (scaled_down) at its time.
    assert_eq!(
        s.begin_delete(ARN_A, 110_000, &f).await.unwrap(),
        RemoveOutcome::Removed
    );
    let e = expect(
        s,
        &mut c,
        "stage.removed",
        json!({ "stageArn": ARN_A, "reason": "scaled_down" }),
    )
    .await;
    at(&e, 110_000);
    // A stale fence changes nothing, so records nothing.
    let stale = Fence {
        token: f.token + 1,
        ..f.clone()
    };
    assert_eq!(
        s.begin_create(&create_intent("z", false), &stale, 1)
            .await
            .unwrap(),
        BeginOutcome::Fenced
    );
    assert!(!s
        .finish_create(&named(ARN_C, "z", 3), &stale)
        .await
        .unwrap());
    assert_eq!(
        s.begin_delete(ARN_B, 120_000, &stale).await.unwrap(),
        RemoveOutcome::Fenced
    );
    assert!(since(s, &mut c).await.is_empty());
}

/// How far past its bound a Redis stream may stay: `MAXLEN ~` removes whole
/// nodes only (`stream-node-max-entries`, 100 by default).
const NODE: u64 = 100;

pub(super) async fn the_log_keeps_about_its_bound(s: &dyn ViewerStore) {
    let log = s.event_log();
    log.create_group("g").await.unwrap();
    record(s, 1_000, 3).await;
    let old = log.read_new("g", "crashed", 10).await.unwrap();
    assert_eq!(old.len(), 3);
    record(s, 2_000, (EVENT_CAP + 2 * NODE) as i64).await;
    let held = log.backlog().await.unwrap();
    assert!(
        (EVENT_CAP..=EVENT_CAP + NODE).contains(&held),
        "{held} events held for a bound of {EVENT_CAP}"
    );
    // The oldest went first: what is left is the newest, in order.
    let (_, all) = log.tail(Some("0-0"), 1_000).await.unwrap();
    assert_eq!(all.len() as u64, held);
    let last = 2_000 + (EVENT_CAP + 2 * NODE) as i64 - 1;
    assert_eq!(all[all.len() - 1].event.timestamp.millis(), last);
    assert_eq!(all[0].event.timestamp.millis(), last + 1 - held as i64);
    // Still pending, but trimmed: a claim drops them from the group and
    // says so, to one caller only.
    assert_eq!(
        log.pending("g", Duration::ZERO, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    let wanted = positions(&old);
    let claimed = log.claim("g", "c2", Duration::ZERO, &wanted).await.unwrap();
    assert!(claimed.events.is_empty());
    assert_eq!(claimed.trimmed, wanted);
    let again = log.claim("g", "c3", Duration::ZERO, &wanted).await.unwrap();
    assert!(again.events.is_empty() && again.trimmed.is_empty());
    assert!(log
        .pending("g", Duration::ZERO, None, 10)
        .await
        .unwrap()
        .is_empty());
    // The group goes on with the oldest event still held.
    let next = log.read_new("g", "c2", 1).await.unwrap();
    assert_eq!(next[0].position, all[0].position);
}
