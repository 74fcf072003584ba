//! One behaviour suite for the `ViewerStore` trait, run against every
//! implementation: the in-process `MemoryStore` and the `RedisStore` on a
//! private `redis-server` (one per test, so tests stay isolated). Both must
//! give the same answers to the same calls.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ivs_server::store::memory::MemoryStore;
use ivs_server::store::redis::RedisStore;
use ivs_server::store::RemovalReason;
use ivs_server::store::{
    gcra, BeginOutcome, Fence, Intent, IntentAction, JoinOutcome, JoinRequest, LeaveOutcome,
    Millis, RateDecision, RateRefund, RateState, RemoveOutcome, StageKind, StageRecord,
    ViewerStore,
};
use ivs_test_support::redis_cluster::RedisCluster;
use ivs_test_support::redis_server::RedisServer;

mod events;
use events::*;

/// A store under test, with the Redis server it needs (if any) kept alive.
struct Fixture {
    store: Arc<dyn ViewerStore>,
    _redis: Option<RedisServer>,
}

/// The event log's bound in every store of the suite: small, so that
/// `the_log_keeps_about_its_bound` reaches it quickly, and above what any
/// other behaviour records.
const EVENT_CAP: u64 = 50;

fn memory() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::with_event_log_max(EVENT_CAP)),
        _redis: None,
    }
}

async fn redis() -> Fixture {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url(), "test:")
        .await
        .expect("connect to the test Redis")
        .with_event_log_max(EVENT_CAP);
    Fixture {
        store: Arc::new(store),
        _redis: Some(server),
    }
}

/// Generates one `#[tokio::test]` per behaviour and store.
macro_rules! behaviours {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $name() {
                    let f = super::memory();
                    super::$name(&*f.store).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::redis().await;
                    super::$name(&*f.store).await;
                }
            )*
        }
        /// The whole suite on one Redis Cluster (3 primaries + 3 replicas):
        /// one cluster for every behaviour (a start takes seconds), each
        /// behaviour under its own prefix, hence in its own hash slot.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn every_behaviour_on_a_redis_cluster() {
            let cluster = tokio::task::spawn_blocking(RedisCluster::start)
                .await
                .expect("start the cluster");
            let seeds = cluster.urls().join(",");
            $(
                let store = RedisStore::connect(&seeds, concat!(stringify!($name), ":"))
                    .await
                    .unwrap_or_else(|e| panic!("{}: connect: {e}", stringify!($name)))
                    .with_event_log_max(EVENT_CAP);
                $name(&store).await;
            )*
        }
    };
}

behaviours!(
    join_is_idempotent_per_user,
    join_picks_the_least_loaded_stage_with_room,
    capacity_is_never_exceeded,
    concurrent_joins_never_exceed_capacity,
    needs_stage_reports_the_threshold,
    draining_stages_get_no_viewers,
    heartbeat_refreshes_only_a_counted_viewer,
    leave_records_the_watch_time_once,
    forget_undoes_a_join,
    watch_duration_through_a_viewers_life,
    sweep_removes_only_expired_viewers,
    purge_stage_removes_stage_and_viewers,
    remove_stage_only_when_empty,
    rename_and_register_replace,
    set_participant_only_on_that_stage,
    rate_limit_decides_like_gcra,
    rate_limit_grants_batches_up_to_the_allowance,
    rate_limit_takes_back_unspent_batches,
    leases_are_exclusive,
    lease_expires,
    stages_are_sorted_oldest_first_with_counts,
    fencing_tokens_grow_with_each_holder,
    creation_intents_count_toward_the_limit,
    a_stale_fence_writes_nothing,
    deletion_keeps_counting_until_ivs_confirms,
    drain_if_idle_respects_revivals,
    the_master_pointer_follows_the_registry,
    publisher_state_ignores_older_observations,
    event_groups_hand_each_event_to_one_consumer,
    claims_take_idle_events_once,
    idle_consumers_holding_nothing_are_forgotten,
    groups_are_listed_with_their_pending_events,
    tail_follows_from_now_on_in_pages,
    viewer_steps_record_their_events,
    stage_steps_record_their_events,
    fenced_steps_record_their_events,
    the_log_keeps_about_its_bound,
);

const MINUTE: Duration = Duration::from_secs(60);
const ARN_A: &str = "arn:aws:ivs:ap-northeast-1:123456789012:stage/aaaa";
const ARN_B: &str = "arn:aws:ivs:ap-northeast-1:123456789012:stage/bbbb";
const ARN_C: &str = "arn:aws:ivs:ap-northeast-1:123456789012:stage/cccc";

fn stage(arn: &str, created_at: Millis) -> StageRecord {
    StageRecord {
        arn: arn.to_string(),
        name: format!("name-{}", &arn[arn.len() - 4..]),
        tags: [("app".to_string(), "test".to_string())].into(),
        kind: StageKind::AutoScaled,
        created_at,
        draining: false,
        revived_at: None,
    }
}

fn req(user: &str, now: Millis, capacity: u32, scale_up_at: u32) -> JoinRequest {
    JoinRequest {
        user_id: user.to_string(),
        participant_id: format!("p-{user}-{now}"),
        now,
        capacity,
        scale_up_at,
        announce: true,
    }
}

/// Joins and returns (stage, viewers, rejoined, needs_stage); panics on Full.
async fn joined(s: &dyn ViewerStore, r: JoinRequest) -> (String, u32, bool, bool) {
    match s.join(&r).await.unwrap() {
        JoinOutcome::Joined {
            stage_arn,
            viewers,
            rejoined,
            needs_stage,
        } => (stage_arn, viewers, rejoined, needs_stage),
        JoinOutcome::Full => panic!("{} got Full", r.user_id),
    }
}

async fn count(s: &dyn ViewerStore, arn: &str) -> u32 {
    s.stage(arn).await.unwrap().map_or(0, |l| l.viewers)
}

async fn join_is_idempotent_per_user(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    let first = joined(s, req("u1", 1_000, 50, 40)).await;
    assert_eq!(first, (ARN_A.to_string(), 1, false, false));
    // Same user again: same stage, counted once, new participant, and the
    // token request counts as a heartbeat.
    let mut again = req("u1", 5_000, 50, 40);
    again.participant_id = "p-new".into();
    let second = joined(s, again).await;
    assert_eq!(second, (ARN_A.to_string(), 1, true, false));
    let viewers = s.viewers(ARN_A).await.unwrap();
    assert_eq!(viewers.len(), 1);
    assert_eq!(viewers[0].user_id, "u1");
    assert_eq!(viewers[0].participant_id, "p-new");
    assert_eq!(viewers[0].joined_at, 1_000);
    assert_eq!(viewers[0].last_heartbeat, 5_000);
    // A rejoin with an older clock never moves the heartbeat backwards.
    joined(s, req("u1", 3_000, 50, 40)).await;
    assert_eq!(s.viewers(ARN_A).await.unwrap()[0].last_heartbeat, 5_000);
    assert_eq!(count(s, ARN_B).await, 0);
}

async fn join_picks_the_least_loaded_stage_with_room(s: &dyn ViewerStore) {
    // C is older but not assignable (a manual stage): never chosen.
    let mut manual = stage(ARN_C, 0);
    manual.kind = StageKind::Custom;
    s.register_stage(&manual).await.unwrap();
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    let mut got = Vec::new();
    for i in 0..5 {
        got.push(joined(s, req(&format!("u{i}"), 1_000 + i, 50, 40)).await);
    }
    // Ties go to the oldest stage; then the least loaded.
    let stages: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(stages, [ARN_A, ARN_B, ARN_A, ARN_B, ARN_A]);
    let counts: Vec<u32> = got.iter().map(|g| g.1).collect();
    assert_eq!(counts, [1, 1, 2, 2, 3]);
    assert_eq!(count(s, ARN_C).await, 0);
    // Load B less: the next viewer goes to B even though A is older.
    s.leave("u1", ARN_B, 2_000, MINUTE).await.unwrap();
    s.leave("u3", ARN_B, 2_000, MINUTE).await.unwrap();
    assert_eq!(joined(s, req("u9", 3_000, 50, 40)).await.0, ARN_B);
}

async fn capacity_is_never_exceeded(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    assert_eq!(joined(s, req("u1", 1, 2, 2)).await.1, 1);
    assert_eq!(joined(s, req("u2", 2, 2, 2)).await.1, 2);
    assert_eq!(
        s.join(&req("u3", 3, 2, 2)).await.unwrap(),
        JoinOutcome::Full
    );
    // A counted viewer still rejoins a full stage.
    assert_eq!(
        joined(s, req("u1", 4, 2, 2)).await,
        (ARN_A.into(), 2, true, true)
    );
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    assert_eq!(joined(s, req("u3", 5, 2, 2)).await.0, ARN_B);
    assert_eq!(count(s, ARN_A).await, 2);
    // No stages at all: Full.
    s.purge_stage(ARN_A, 6, RemovalReason::Gone).await.unwrap();
    s.purge_stage(ARN_B, 6, RemovalReason::Gone).await.unwrap();
    assert_eq!(
        s.join(&req("u4", 7, 2, 2)).await.unwrap(),
        JoinOutcome::Full
    );
}

async fn concurrent_joins_never_exceed_capacity(s: &dyn ViewerStore) {
    for (i, arn) in [ARN_A, ARN_B, ARN_C].into_iter().enumerate() {
        s.register_stage(&stage(arn, i as i64)).await.unwrap();
    }
    // 400 joins at once (each user twice) for 3 × 20 places.
    let results = futures_util::future::join_all((0..400).map(|i| {
        let r = req(&format!("u{}", i % 200), 1_000, 20, 15);
        async move { s.join(&r).await.unwrap() }
    }))
    .await;
    let mut per_user = std::collections::HashMap::new();
    for (i, r) in results.iter().enumerate() {
        if let JoinOutcome::Joined {
            stage_arn, viewers, ..
        } = r
        {
            assert!(*viewers <= 20, "{stage_arn} reported {viewers}");
            let prev = per_user.insert(i % 200, stage_arn.clone());
            if let Some(prev) = prev {
                assert_eq!(&prev, stage_arn, "a user was put on two stages");
            }
        }
    }
    assert_eq!(per_user.len(), 60);
    let mut seen = HashSet::new();
    for arn in [ARN_A, ARN_B, ARN_C] {
        let viewers = s.viewers(arn).await.unwrap();
        assert_eq!(viewers.len(), 20);
        assert_eq!(count(s, arn).await, 20);
        for v in viewers {
            assert!(seen.insert(v.user_id), "counted twice");
        }
    }
}

async fn needs_stage_reports_the_threshold(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    assert!(!joined(s, req("u1", 1, 3, 2)).await.3);
    assert!(joined(s, req("u2", 2, 3, 2)).await.3, "min load 2 >= 2");
    // A new stage takes the next viewer; the least loaded (1) is below 2.
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    assert_eq!(
        joined(s, req("u3", 3, 3, 2)).await,
        (ARN_B.into(), 1, false, false)
    );
    // A rejoin reports it too.
    assert!(!joined(s, req("u1", 4, 3, 2)).await.3);
    assert!(joined(s, req("u4", 5, 3, 2)).await.3);
    // Non-assignable stages do not count towards the minimum.
    let mut manual = stage(ARN_C, 3);
    manual.kind = StageKind::Custom;
    s.register_stage(&manual).await.unwrap();
    assert!(joined(s, req("u5", 6, 3, 2)).await.3);
}

async fn draining_stages_get_no_viewers(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    joined(s, req("u1", 1, 50, 2)).await;
    joined(s, req("u2", 2, 50, 2)).await;
    assert!(s.set_draining(ARN_A, true).await.unwrap());
    assert!(!s.set_draining(ARN_C, true).await.unwrap(), "unknown stage");
    assert!(s.stage(ARN_A).await.unwrap().unwrap().record.draining);
    // B gets them although A is as loaded and older; A (draining) does not
    // count for needs_stage: B reaches 2.
    assert_eq!(
        joined(s, req("u3", 3, 50, 2)).await,
        (ARN_B.into(), 2, false, true)
    );
    // A viewer already on the draining stage keeps it.
    assert_eq!(joined(s, req("u1", 4, 50, 2)).await.0, ARN_A);
    // Only draining stages with room: Full.
    assert!(s.set_draining(ARN_B, true).await.unwrap());
    assert_eq!(
        s.join(&req("u4", 5, 50, 2)).await.unwrap(),
        JoinOutcome::Full
    );
    assert!(s.set_draining(ARN_A, false).await.unwrap());
    assert_eq!(joined(s, req("u4", 6, 50, 2)).await.0, ARN_A);
    assert!(!s.stage(ARN_A).await.unwrap().unwrap().record.draining);
}

async fn heartbeat_refreshes_only_a_counted_viewer(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    joined(s, req("u1", 1_000, 50, 40)).await;
    assert_eq!(s.heartbeat("nobody", ARN_A, 2_000).await.unwrap(), None);
    assert_eq!(
        s.heartbeat("u1", ARN_B, 2_000).await.unwrap(),
        None,
        "wrong stage"
    );
    assert_eq!(s.heartbeat("u1", ARN_A, 2_000).await.unwrap(), Some(2_000));
    // Never backwards.
    assert_eq!(s.heartbeat("u1", ARN_A, 1_500).await.unwrap(), Some(2_000));
    assert_eq!(s.viewers(ARN_A).await.unwrap()[0].last_heartbeat, 2_000);
    // Gone: a heartbeat never recreates it.
    s.leave("u1", ARN_A, 3_000, MINUTE).await.unwrap();
    assert_eq!(s.heartbeat("u1", ARN_A, 4_000).await.unwrap(), None);
    assert!(s.viewers(ARN_A).await.unwrap().is_empty());
    assert_eq!(count(s, ARN_A).await, 0);
    assert_eq!(count(s, ARN_B).await, 0);
    assert_eq!(s.heartbeat("nobody", ARN_C, 4_000).await.unwrap(), None);
}

async fn leave_records_the_watch_time_once(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    joined(s, req("u1", 1_000, 50, 40)).await;
    assert_eq!(
        s.leave("u1", ARN_B, 61_999, MINUTE).await.unwrap(),
        LeaveOutcome::Unknown,
        "wrong stage"
    );
    assert_eq!(count(s, ARN_A).await, 1);
    assert_eq!(
        s.leave("u1", ARN_A, 61_999, MINUTE).await.unwrap(),
        LeaveOutcome::Left(60)
    );
    assert_eq!(count(s, ARN_A).await, 0);
    assert_eq!(
        s.leave("u1", ARN_A, 99_000, MINUTE).await.unwrap(),
        LeaveOutcome::AlreadyGone(60)
    );
    assert_eq!(
        s.leave("u2", ARN_A, 99_000, MINUTE).await.unwrap(),
        LeaveOutcome::Unknown
    );
    // A clock behind the join counts as zero, not as a wrap-around.
    joined(s, req("u3", 10_000, 50, 40)).await;
    assert_eq!(
        s.leave("u3", ARN_A, 5_000, MINUTE).await.unwrap(),
        LeaveOutcome::Left(0)
    );
}

async fn forget_undoes_a_join(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    joined(s, req("u1", 1_000, 50, 40)).await;
    s.forget("u1", ARN_B, true).await.unwrap();
    assert_eq!(
        count(s, ARN_A).await,
        1,
        "forget on another stage is a no-op"
    );
    s.forget("u1", ARN_A, true).await.unwrap();
    assert_eq!(count(s, ARN_A).await, 0);
    assert_eq!(s.watch_duration("u1", ARN_A, 9_000).await.unwrap(), None);
    assert_eq!(
        s.leave("u1", ARN_A, 9_000, MINUTE).await.unwrap(),
        LeaveOutcome::Unknown
    );
    s.forget("nobody", ARN_A, true).await.unwrap();
    // The user can join afresh.
    assert!(!joined(s, req("u1", 10_000, 50, 40)).await.2);
}

async fn watch_duration_through_a_viewers_life(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    let timeout = Duration::from_secs(30);
    let retention = Duration::from_secs(3600);
    joined(s, req("u1", 1_000, 50, 40)).await;
    joined(s, req("u2", 1_000, 50, 40)).await;
    // Active: so far.
    assert_eq!(
        s.watch_duration("u1", ARN_A, 11_999).await.unwrap(),
        Some(10)
    );
    assert_eq!(s.watch_duration("u1", ARN_B, 11_999).await.unwrap(), None);
    assert_eq!(
        s.watch_duration("nobody", ARN_A, 11_999).await.unwrap(),
        None
    );
    // After leave: as recorded, not growing.
    s.leave("u1", ARN_A, 21_000, retention).await.unwrap();
    assert_eq!(
        s.watch_duration("u1", ARN_A, 500_000).await.unwrap(),
        Some(20)
    );
    // After expiry: join to last heartbeat.
    s.heartbeat("u2", ARN_A, 8_500).await.unwrap();
    assert_eq!(s.sweep(100_000, timeout, retention).await.unwrap(), 1);
    assert_eq!(
        s.watch_duration("u2", ARN_A, 200_000).await.unwrap(),
        Some(7)
    );
    // After the retention (counted from when it was recorded): forgotten.
    s.sweep(21_000 + 3_600_000, timeout, retention)
        .await
        .unwrap();
    assert_eq!(
        s.watch_duration("u1", ARN_A, 0).await.unwrap(),
        Some(20),
        "not older yet"
    );
    s.sweep(21_001 + 3_600_000, timeout, retention)
        .await
        .unwrap();
    assert_eq!(s.watch_duration("u1", ARN_A, 0).await.unwrap(), None);
    assert_eq!(s.watch_duration("u2", ARN_A, 0).await.unwrap(), Some(7));
    s.sweep(100_001 + 3_600_000, timeout, retention)
        .await
        .unwrap();
    assert_eq!(s.watch_duration("u2", ARN_A, 0).await.unwrap(), None);
    assert_eq!(
        s.leave("u2", ARN_A, 0, retention).await.unwrap(),
        LeaveOutcome::Unknown
    );
}

async fn sweep_removes_only_expired_viewers(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    for (i, user) in ["u1", "u2", "u3", "u4"].into_iter().enumerate() {
        joined(s, req(user, 1_000 + i as i64, 50, 40)).await;
    }
    // u1 (A) and u2 (B) go quiet; u3 heartbeats exactly at the cutoff.
    s.heartbeat("u3", ARN_A, 40_000).await.unwrap();
    s.heartbeat("u4", ARN_B, 60_000).await.unwrap();
    let timeout = Duration::from_secs(30);
    assert_eq!(s.sweep(70_000, timeout, MINUTE).await.unwrap(), 2);
    assert_eq!(
        s.sweep(70_000, timeout, MINUTE).await.unwrap(),
        0,
        "only once"
    );
    let mut left = Vec::new();
    for arn in [ARN_A, ARN_B] {
        left.extend(s.viewers(arn).await.unwrap().into_iter().map(|v| v.user_id));
    }
    assert_eq!(left, ["u3", "u4"]);
    assert_eq!(count(s, ARN_A).await, 1);
    assert_eq!(count(s, ARN_B).await, 1);
    // Recorded as join → last heartbeat (no heartbeat: 0 s), exactly once.
    assert_eq!(
        s.leave("u1", ARN_A, 80_000, MINUTE).await.unwrap(),
        LeaveOutcome::AlreadyGone(0)
    );
    assert_eq!(s.heartbeat("u2", ARN_B, 80_000).await.unwrap(), None);
    assert_eq!(s.sweep(70_001, timeout, MINUTE).await.unwrap(), 1, "u3 now");
    assert_eq!(
        s.watch_duration("u3", ARN_A, 90_000).await.unwrap(),
        Some(38)
    );
}

async fn purge_stage_removes_stage_and_viewers(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    joined(s, req("u1", 1_000, 50, 40)).await;
    joined(s, req("u2", 1_000, 50, 40)).await;
    joined(s, req("u3", 1_000, 50, 40)).await;
    s.purge_stage(ARN_A, 31_000, RemovalReason::Gone)
        .await
        .unwrap();
    assert_eq!(s.stage(ARN_A).await.unwrap(), None);
    assert!(s.viewers(ARN_A).await.unwrap().is_empty());
    assert_eq!(s.heartbeat("u1", ARN_A, 32_000).await.unwrap(), None);
    // Watch time: join to the purge.
    assert_eq!(
        s.leave("u1", ARN_A, 40_000, MINUTE).await.unwrap(),
        LeaveOutcome::AlreadyGone(30)
    );
    assert_eq!(
        s.watch_duration("u3", ARN_A, 40_000).await.unwrap(),
        Some(30)
    );
    assert_eq!(count(s, ARN_B).await, 1);
    let stages = s.stages().await.unwrap();
    assert_eq!(stages.len(), 1);
    // Purged viewers join afresh elsewhere; an unknown stage purges quietly.
    assert_eq!(
        joined(s, req("u1", 50_000, 50, 40)).await,
        (ARN_B.into(), 2, false, false)
    );
    s.purge_stage(ARN_C, 50_000, RemovalReason::Gone)
        .await
        .unwrap();
}

async fn remove_stage_only_when_empty(s: &dyn ViewerStore) {
    assert_eq!(
        s.remove_stage_if_empty(ARN_A, RemovalReason::Deleted)
            .await
            .unwrap(),
        RemoveOutcome::Unknown
    );
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    joined(s, req("u1", 1_000, 50, 40)).await;
    joined(s, req("u2", 1_000, 50, 40)).await;
    assert_eq!(
        s.remove_stage_if_empty(ARN_A, RemovalReason::Deleted)
            .await
            .unwrap(),
        RemoveOutcome::NotEmpty(2)
    );
    assert!(s.stage(ARN_A).await.unwrap().is_some());
    s.leave("u1", ARN_A, 2_000, MINUTE).await.unwrap();
    s.forget("u2", ARN_A, true).await.unwrap();
    assert_eq!(
        s.remove_stage_if_empty(ARN_A, RemovalReason::Deleted)
            .await
            .unwrap(),
        RemoveOutcome::Removed
    );
    assert_eq!(s.stage(ARN_A).await.unwrap(), None);
    assert!(s.stages().await.unwrap().is_empty());
    assert_eq!(
        s.remove_stage_if_empty(ARN_A, RemovalReason::Deleted)
            .await
            .unwrap(),
        RemoveOutcome::Unknown
    );
    assert_eq!(
        s.join(&req("u3", 3_000, 50, 40)).await.unwrap(),
        JoinOutcome::Full
    );
}

async fn rename_and_register_replace(s: &dyn ViewerStore) {
    assert!(!s.rename_stage(ARN_A, "x").await.unwrap());
    let record = stage(ARN_A, 1);
    s.register_stage(&record).await.unwrap();
    joined(s, req("u1", 1_000, 50, 40)).await;
    assert!(s.rename_stage(ARN_A, "renamed").await.unwrap());
    let load = s.stage(ARN_A).await.unwrap().unwrap();
    assert_eq!(load.record.name, "renamed");
    assert_eq!(load.record.tags, record.tags);
    assert_eq!(load.viewers, 1);
    // Registering again replaces the record (viewers stay counted).
    let mut master = record.clone();
    master.kind = StageKind::Master;
    master.name = "master".into();
    s.register_stage(&master).await.unwrap();
    let load = s.stage(ARN_A).await.unwrap().unwrap();
    assert_eq!(load.record, master);
    assert_eq!(load.viewers, 1);
    assert_eq!(s.stage(ARN_B).await.unwrap(), None);
}

async fn set_participant_only_on_that_stage(s: &dyn ViewerStore) {
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    joined(s, req("u1", 1_000, 50, 40)).await;
    s.set_participant("u1", ARN_B, "wrong", false)
        .await
        .unwrap();
    assert_eq!(
        s.viewers(ARN_A).await.unwrap()[0].participant_id,
        "p-u1-1000"
    );
    s.set_participant("u1", ARN_A, "from-ivs", false)
        .await
        .unwrap();
    assert_eq!(
        s.viewers(ARN_A).await.unwrap()[0].participant_id,
        "from-ivs"
    );
    // Never creates a viewer.
    s.set_participant("nobody", ARN_A, "x", false)
        .await
        .unwrap();
    assert_eq!(count(s, ARN_A).await, 1);
}

async fn rate_limit_decides_like_gcra(s: &dyn ViewerStore) {
    let now = 1_700_000_000_000;
    let mut state = None;
    // 100 per minute: a burst of 100, then one every 600 ms.
    for i in 0..100u32 {
        let d = s.rate_limit("k1", 100, MINUTE, now, 1, None).await.unwrap();
        let (expected, new_state) = gcra(state, 100, MINUTE, now, 1, None);
        assert_eq!(d, expected, "request {i}");
        assert!(d.allowed);
        assert_eq!(d.remaining, 99 - i);
        state = new_state;
    }
    let d = s.rate_limit("k1", 100, MINUTE, now, 1, None).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Duration::from_millis(600));
    assert_eq!(d, gcra(state, 100, MINUTE, now, 1, None).0);
    // Other keys are independent.
    assert!(
        s.rate_limit("k2", 100, MINUTE, now, 1, None)
            .await
            .unwrap()
            .allowed
    );
    // Paced afterwards, exactly as the function says.
    for t in [now + 599, now + 600, now + 600, now + 1_250, now + 61_000] {
        let d = s.rate_limit("k1", 100, MINUTE, t, 1, None).await.unwrap();
        let (expected, new_state) = gcra(state, 100, MINUTE, t, 1, None);
        assert_eq!(d, expected, "at +{}", t - now);
        state = new_state.or(state);
    }
    // Large limits keep their precision; odd periods and limit 0 clamp alike.
    let d = s
        .rate_limit("big", 100_000, MINUTE, now, 1, None)
        .await
        .unwrap();
    assert_eq!(d, gcra(None, 100_000, MINUTE, now, 1, None).0);
    assert_eq!(d.remaining, 99_999);
    let d = s
        .rate_limit("zero", 0, Duration::from_micros(1500), now, 1, None)
        .await
        .unwrap();
    assert_eq!(
        d,
        gcra(None, 0, Duration::from_micros(1500), now, 1, None).0
    );
}

async fn rate_limit_grants_batches_up_to_the_allowance(s: &dyn ViewerStore) {
    let now = 1_700_000_000_000;
    let d = s.rate_limit("b", 100, MINUTE, now, 10, None).await.unwrap();
    assert_eq!((d.allowed, d.granted, d.remaining), (true, 10, 90));
    assert_eq!(d, gcra(None, 100, MINUTE, now, 10, None).0);
    // Asking for more than is left grants what is left.
    let d = s.rate_limit("b", 100, MINUTE, now, 95, None).await.unwrap();
    assert_eq!((d.allowed, d.granted, d.remaining), (true, 90, 0));
    let d = s.rate_limit("b", 100, MINUTE, now, 5, None).await.unwrap();
    assert_eq!((d.allowed, d.granted), (false, 0));
    assert_eq!(d.retry_after, Duration::from_millis(600));
    // 1.2 s later two more fit.
    let d = s
        .rate_limit("b", 100, MINUTE, now + 1_200, 5, None)
        .await
        .unwrap();
    assert_eq!((d.allowed, d.granted, d.remaining), (true, 2, 0));
}

/// One call to the store, checked against `gcra` on the state it should hold.
async fn rate_step(
    s: &dyn ViewerStore,
    key: &str,
    state: &mut Option<RateState>,
    now: Millis,
    want: u32,
    refund: Option<RateRefund>,
) -> RateDecision {
    let d = s
        .rate_limit(key, 100, MINUTE, now, want, refund)
        .await
        .unwrap();
    let (expected, new_state) = gcra(*state, 100, MINUTE, now, want, refund);
    assert_eq!(d, expected, "{key} at {now} want {want} {refund:?}");
    *state = new_state.or(*state);
    d
}

/// Refunds as `gcra` applies them, step by step: the unspent rest of a
/// batch comes back, even along with a request that would have been
/// refused; only the part still counted comes back; a refund never returns
/// what another refund already returned; and a receipt of another key's
/// state, or one from long ago, returns nothing.
async fn rate_limit_takes_back_unspent_batches(s: &dyn ViewerStore) {
    let now = 1_700_000_000_000;
    let r = |unspent, receipt| Some(RateRefund { unspent, receipt });
    let mut st = None;
    let spent_elsewhere = rate_step(s, "r", &mut st, now, 90, None).await;
    assert_eq!(spent_elsewhere.granted, 90);
    let batch = rate_step(s, "r", &mut st, now, 10, None).await;
    assert_eq!(batch.remaining, 0);
    assert!(!rate_step(s, "r", &mut st, now, 1, None).await.allowed);
    // 7 of the 10 were not spent: a refused request's call hands them back.
    let d = rate_step(s, "r", &mut st, now + 100, 1, r(7, batch.receipt)).await;
    assert_eq!((d.allowed, d.remaining), (true, 6));
    // A receipt of another key's state returns nothing.
    let mut other = None;
    let foreign = rate_step(s, "o", &mut other, now - 5, 3, None).await;
    let d = rate_step(s, "r", &mut st, now + 300, 1, r(2, foreign.receipt)).await;
    assert_eq!(d.remaining, 5);
    // Long after (the Redis state has expired; the in-process one's grant
    // lies in the past), an old receipt returns nothing.
    let late = now + 10 * 60_000;
    let fresh = rate_step(s, "r", &mut st, late, 10, None).await;
    assert_eq!(fresh.remaining, 90);
    let d = rate_step(s, "r", &mut st, late, 1, r(7, batch.receipt)).await;
    assert_eq!((d.allowed, d.remaining), (true, 89));

    // Only the part still counted: 10 reserved (6 s of allowance), 9 not
    // spent, handed back 4 s later.
    let mut st = None;
    let ten = rate_step(s, "p", &mut st, now, 10, None).await;
    let d = rate_step(s, "p", &mut st, now + 4_000, 1, r(9, ten.receipt)).await;
    assert_eq!(d.remaining, 99);

    // A and B reserve 5 each; A hands its 5 back at once; C spends 5 once
    // B's would have refilled; B's refund returns nothing.
    let mut st = None;
    let a = rate_step(s, "x", &mut st, now, 5, None).await;
    let b = rate_step(s, "x", &mut st, now, 5, None).await;
    rate_step(s, "x", &mut st, now, 1, r(5, a.receipt)).await;
    let c = rate_step(s, "x", &mut st, now + 3_600, 5, None).await;
    let d = rate_step(s, "x", &mut st, now + 3_600, 1, r(5, b.receipt)).await;
    assert_eq!(d.remaining, c.remaining - 1);
}

async fn leases_are_exclusive(s: &dyn ViewerStore) {
    let ttl = Duration::from_secs(30);
    assert!(s.try_lease("sweep", "h1", ttl).await.unwrap().is_some());
    assert!(s.try_lease("sweep", "h2", ttl).await.unwrap().is_none());
    assert!(
        s.try_lease("sweep", "h1", ttl).await.unwrap().is_some(),
        "renewed by the holder"
    );
    assert!(
        s.try_lease("scale-up", "h2", ttl).await.unwrap().is_some(),
        "another lease"
    );
    s.release_lease("sweep", "h2").await.unwrap();
    assert!(
        s.try_lease("sweep", "h2", ttl).await.unwrap().is_none(),
        "only the holder releases"
    );
    s.release_lease("sweep", "h1").await.unwrap();
    assert!(s.try_lease("sweep", "h2", ttl).await.unwrap().is_some());
    assert!(s.try_lease("sweep", "h1", ttl).await.unwrap().is_none());
    s.release_lease("nothing", "h1").await.unwrap();
}

async fn lease_expires(s: &dyn ViewerStore) {
    let ttl = Duration::from_millis(400);
    let ms = Duration::from_millis;
    assert!(s.try_lease("sweep", "h1", ttl).await.unwrap().is_some());
    assert!(s.try_lease("sweep", "h2", ttl).await.unwrap().is_none());
    tokio::time::sleep(ms(250)).await;
    // A renewal pushes the expiry out again (to about 650 ms from the start).
    assert!(s.try_lease("sweep", "h1", ttl).await.unwrap().is_some());
    tokio::time::sleep(ms(250)).await;
    assert!(s.try_lease("sweep", "h2", ttl).await.unwrap().is_none());
    tokio::time::sleep(ms(500)).await;
    assert!(
        s.try_lease("sweep", "h2", ttl).await.unwrap().is_some(),
        "expired"
    );
    assert!(s.try_lease("sweep", "h1", ttl).await.unwrap().is_none());
}

async fn stages_are_sorted_oldest_first_with_counts(s: &dyn ViewerStore) {
    assert!(s.stages().await.unwrap().is_empty());
    s.register_stage(&stage(ARN_C, 5)).await.unwrap();
    s.register_stage(&stage(ARN_B, 7)).await.unwrap();
    // Same creation time as C: ordered by ARN.
    s.register_stage(&stage(ARN_A, 5)).await.unwrap();
    joined(s, req("u1", 1, 50, 40)).await;
    joined(s, req("u2", 1, 50, 40)).await;
    joined(s, req("u3", 1, 50, 40)).await;
    joined(s, req("u4", 1, 50, 40)).await;
    let stages = s.stages().await.unwrap();
    let got: Vec<(&str, u32)> = stages
        .iter()
        .map(|l| (l.record.arn.as_str(), l.viewers))
        .collect();
    assert_eq!(got, [(ARN_A, 2), (ARN_C, 1), (ARN_B, 1)]);
    assert_eq!(stages[2].record, stage(ARN_B, 7));
}

/// Both stores, driven by the same random workload, give the same answer to
/// every call; the Redis store's load index (`{p}load`) agrees with its data
/// after every step. Several seeds, each a few hundred operations over a few
/// stages (some created at the same millisecond, so ties go to the ARN) and
/// a few dozen users, so that stages fill up, drain, empty and go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_workload_gets_the_same_answers_from_both_stores() {
    let server = RedisServer::start();
    random_workloads(&server.url(), |args| server.command(args)).await;
}

/// The same random workloads on a Redis Cluster, every node a seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_workload_gets_the_same_answers_from_memory_and_a_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("start the cluster");
    random_workloads(&cluster.urls().join(","), |args| {
        cluster.cluster_command(args[1], args)
    })
    .await;
}

/// Seeded random workloads, each under its own prefix `test<seed>:`;
/// `command` runs a command on the node holding its key (the second word).
async fn random_workloads(url: &str, command: impl Fn(&[&str]) -> String) {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    for seed in 0..8u64 {
        let memory = MemoryStore::new();
        let prefix = format!("test{seed}:");
        let load_key = format!("{{test{seed}}}:load");
        let redis = RedisStore::connect(url, &prefix)
            .await
            .expect("connect to the test Redis");
        let stores: [&dyn ViewerStore; 2] = [&memory, &redis];
        let mut rng = StdRng::seed_from_u64(seed);
        let arns: Vec<String> = (0..6)
            .map(|i| format!("arn:aws:ivs:ap-northeast-1:123456789012:stage/s{}", 5 - i))
            .collect();
        let mut now: Millis = 1_000;
        for step in 0..400 {
            now += rng.random_range(0..3_000);
            let arn = arns[rng.random_range(0..arns.len())].as_str();
            let user = format!("u{}", rng.random_range(0..40));
            let op = rng.random_range(0..100);
            let mut record = stage(arn, rng.random_range(0..3));
            if rng.random_range(0..5) == 0 {
                record.kind = StageKind::Custom;
            }
            record.draining = rng.random_range(0..5) == 0;
            let draining = rng.random_bool(0.5);
            let mut answers = Vec::new();
            for s in stores {
                let answer = match op {
                    0..=7 => format!("{:?}", s.register_stage(&record).await),
                    8..=49 => format!("{:?}", s.join(&req(&user, now, 5, 4)).await),
                    50..=59 => format!("{:?}", s.leave(&user, arn, now, MINUTE).await),
                    60..=64 => format!("{:?}", s.forget(&user, arn, true).await),
                    65..=79 => format!("{:?}", s.heartbeat(&user, arn, now).await),
                    80..=84 => format!("{:?}", s.sweep(now, Duration::from_secs(20), MINUTE).await),
                    85..=90 => format!("{:?}", s.set_draining(arn, draining).await),
                    91..=94 => format!(
                        "{:?}",
                        s.remove_stage_if_empty(arn, RemovalReason::Deleted).await
                    ),
                    95..=96 => format!("{:?}", s.purge_stage(arn, now, RemovalReason::Gone).await),
                    _ => format!("{:?}", s.viewers(arn).await),
                };
                answers.push(answer);
            }
            assert_eq!(
                answers[0], answers[1],
                "seed {seed}, step {step}: memory and Redis disagree (op {op}, {user}, {arn})"
            );
            let listings = [
                memory.stages().await.unwrap(),
                redis.stages().await.unwrap(),
            ];
            assert_eq!(
                listings[0], listings[1],
                "seed {seed}, step {step}: stages differ"
            );
            assert_eq!(
                command(&["ZRANGE", &load_key, "0", "-1", "WITHSCORES"])
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
                expected_load_index(&listings[1]),
                "seed {seed}, step {step}: the load index drifted"
            );
        }
    }
}

/// `{p}load` as it must be: the assignable, non-draining stages by viewer
/// count, then creation time, then ARN; members are the zero-padded
/// creation time followed by the ARN.
fn expected_load_index(stages: &[ivs_server::store::StageLoad]) -> Vec<String> {
    let mut open: Vec<_> = stages
        .iter()
        .filter(|s| s.record.kind.is_assignable() && !s.record.draining)
        .collect();
    open.sort_by(|a, b| {
        (a.viewers, a.record.created_at, &a.record.arn).cmp(&(
            b.viewers,
            b.record.created_at,
            &b.record.arn,
        ))
    });
    open.iter()
        .flat_map(|s| {
            [
                format!("{:016}{}", s.record.created_at, s.record.arn),
                s.viewers.to_string(),
            ]
        })
        .collect()
}

async fn lease(s: &dyn ViewerStore, name: &str, holder: &str) -> Fence {
    let token = s
        .try_lease(name, holder, MINUTE)
        .await
        .unwrap()
        .expect("lease free");
    Fence {
        lease: name.to_string(),
        holder: holder.to_string(),
        token,
    }
}

fn create_intent(name: &str, master: bool) -> Intent {
    Intent {
        action: IntentAction::Create,
        target: name.to_string(),
        master,
        at: 1,
        owner: "test".into(),
    }
}

fn named(arn: &str, name: &str, created_at: Millis) -> StageRecord {
    StageRecord {
        name: name.to_string(),
        ..stage(arn, created_at)
    }
}

async fn fencing_tokens_grow_with_each_holder(s: &dyn ViewerStore) {
    let ttl = Duration::from_millis(300);
    let t1 = s.try_lease("l", "h1", ttl).await.unwrap().unwrap();
    assert_eq!(
        s.try_lease("l", "h1", ttl).await.unwrap(),
        Some(t1),
        "a renewal keeps the token"
    );
    s.release_lease("l", "h1").await.unwrap();
    let t2 = s.try_lease("l", "h2", ttl).await.unwrap().unwrap();
    assert!(t2 > t1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let t3 = s.try_lease("l", "h1", ttl).await.unwrap().unwrap();
    assert!(t3 > t2, "taking an expired lease gives a newer token");
}

async fn creation_intents_count_toward_the_limit(s: &dyn ViewerStore) {
    let f = lease(s, "scale-up", "h1").await;
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    assert_eq!(
        s.begin_create(&create_intent("x", false), &f, 3)
            .await
            .unwrap(),
        BeginOutcome::Recorded
    );
    assert_eq!(
        s.begin_create(&create_intent("y", false), &f, 3)
            .await
            .unwrap(),
        BeginOutcome::Recorded
    );
    // One registered + two in flight = the limit of 3.
    assert_eq!(
        s.begin_create(&create_intent("z", false), &f, 3)
            .await
            .unwrap(),
        BeginOutcome::AtLimit
    );
    assert_eq!(s.intents().await.unwrap().len(), 2);
    // Finishing one moves it from the intents to the registry: still 3.
    assert!(s.finish_create(&named(ARN_B, "x", 2), &f).await.unwrap());
    let ids: Vec<String> = s.intents().await.unwrap().iter().map(Intent::id).collect();
    assert_eq!(ids, vec!["create:y".to_string()]);
    assert_eq!(s.stages().await.unwrap().len(), 2);
    assert_eq!(
        s.begin_create(&create_intent("z", false), &f, 3)
            .await
            .unwrap(),
        BeginOutcome::AtLimit
    );
    assert!(s.drop_intent("create:y").await.unwrap());
    assert!(!s.drop_intent("create:y").await.unwrap());
    assert_eq!(
        s.begin_create(&create_intent("z", false), &f, 3)
            .await
            .unwrap(),
        BeginOutcome::Recorded
    );
    // One master: none may be begun while one is registered or in flight.
    assert_eq!(
        s.begin_create(&create_intent("m1", true), &f, 10)
            .await
            .unwrap(),
        BeginOutcome::Recorded
    );
    assert_eq!(
        s.begin_create(&create_intent("m2", true), &f, 10)
            .await
            .unwrap(),
        BeginOutcome::MasterExists
    );
}

async fn a_stale_fence_writes_nothing(s: &dyn ViewerStore) {
    let ttl = Duration::from_millis(300);
    let token = s.try_lease("scale-up", "h1", ttl).await.unwrap().unwrap();
    let old = Fence {
        lease: "scale-up".into(),
        holder: "h1".into(),
        token,
    };
    assert_eq!(
        s.begin_create(&create_intent("x", false), &old, 20)
            .await
            .unwrap(),
        BeginOutcome::Recorded
    );
    // The holder stalls past its lease; another takes it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = lease(s, "scale-up", "h2").await;
    assert!(!s.finish_create(&named(ARN_A, "x", 1), &old).await.unwrap());
    assert!(s.stages().await.unwrap().is_empty(), "nothing registered");
    assert_eq!(s.intents().await.unwrap().len(), 1, "the intent stays");
    assert_eq!(
        s.begin_create(&create_intent("y", false), &old, 20)
            .await
            .unwrap(),
        BeginOutcome::Fenced
    );
    // The same holder name with the old token is still stale.
    s.register_stage(&named(ARN_B, "b", 1)).await.unwrap();
    s.set_draining(ARN_B, true).await.unwrap();
    assert_eq!(
        s.begin_delete(ARN_B, 5, &old).await.unwrap(),
        RemoveOutcome::Fenced
    );
    assert!(!s
        .drain_if_idle(ARN_B, 5, Duration::ZERO, 10, &old)
        .await
        .unwrap());
    assert!(s.finish_create(&named(ARN_A, "x", 1), &new).await.unwrap());
    assert!(s.intents().await.unwrap().is_empty());
}

async fn deletion_keeps_counting_until_ivs_confirms(s: &dyn ViewerStore) {
    let f = lease(s, "maintenance", "h1").await;
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    s.register_stage(&stage(ARN_B, 2)).await.unwrap();
    assert_eq!(
        s.begin_delete(ARN_A, 5, &f).await.unwrap(),
        RemoveOutcome::NotDraining
    );
    assert!(s.set_draining(ARN_A, true).await.unwrap());
    joined(s, req("u1", 3, 50, 45)).await;
    // u1 went to B (A drains); put one on A by registering it open again.
    assert_eq!(
        s.begin_delete(ARN_C, 5, &f).await.unwrap(),
        RemoveOutcome::Unknown
    );
    assert_eq!(
        s.begin_delete(ARN_A, 5, &f).await.unwrap(),
        RemoveOutcome::Removed
    );
    assert!(s.stage(ARN_A).await.unwrap().is_none());
    let intents = s.intents().await.unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].action, IntentAction::Delete);
    assert_eq!(intents[0].target, ARN_A);
    // Still counted: B + the deletion in flight reach a limit of 2.
    let g = lease(s, "scale-up", "h1").await;
    assert_eq!(
        s.begin_create(&create_intent("x", false), &g, 2)
            .await
            .unwrap(),
        BeginOutcome::AtLimit
    );
    assert!(s.drop_intent(&intents[0].id()).await.unwrap());
    assert_eq!(
        s.begin_create(&create_intent("x", false), &g, 2)
            .await
            .unwrap(),
        BeginOutcome::Recorded
    );
    // A stage with viewers is not taken out.
    assert!(s.set_draining(ARN_B, true).await.unwrap());
    assert_eq!(
        s.begin_delete(ARN_B, 5, &f).await.unwrap(),
        RemoveOutcome::NotEmpty(1)
    );
}

async fn drain_if_idle_respects_revivals(s: &dyn ViewerStore) {
    let f = lease(s, "maintenance", "h1").await;
    let min_age = Duration::from_millis(1_000);
    s.register_stage(&stage(ARN_A, 1_000)).await.unwrap();
    let mut master = stage(ARN_B, 1_000);
    master.kind = StageKind::Master;
    s.register_stage(&master).await.unwrap();
    // Too young.
    assert!(!s.drain_if_idle(ARN_A, 5, min_age, 1_500, &f).await.unwrap());
    // Never the master (not auto-scaled).
    assert!(!s.drain_if_idle(ARN_B, 5, min_age, 9_000, &f).await.unwrap());
    // Too busy.
    joined(s, req("u1", 2_000, 50, 45)).await;
    joined(s, req("u2", 2_000, 50, 45)).await;
    assert!(!s.drain_if_idle(ARN_A, 1, min_age, 3_000, &f).await.unwrap());
    assert!(s.drain_if_idle(ARN_A, 5, min_age, 3_000, &f).await.unwrap());
    assert!(s.stage(ARN_A).await.unwrap().unwrap().record.draining);
    assert!(
        !s.drain_if_idle(ARN_A, 5, min_age, 3_000, &f).await.unwrap(),
        "once"
    );
    // Revived: back in service and left alone for the minimum age again.
    assert!(s.revive(ARN_A, 4_000).await.unwrap());
    assert!(!s.revive(ARN_A, 4_000).await.unwrap(), "not draining now");
    let a = s.stage(ARN_A).await.unwrap().unwrap();
    assert!(!a.record.draining);
    assert_eq!(a.record.revived_at, Some(4_000));
    assert!(!s.drain_if_idle(ARN_A, 5, min_age, 4_500, &f).await.unwrap());
    assert_eq!(
        s.begin_delete(ARN_A, 4_500, &f).await.unwrap(),
        RemoveOutcome::NotDraining,
        "a revived stage is not deleted from a stale decision"
    );
    assert!(s.drain_if_idle(ARN_A, 5, min_age, 5_000, &f).await.unwrap());
    assert!(!s.revive(ARN_C, 5_000).await.unwrap());
}

async fn the_master_pointer_follows_the_registry(s: &dyn ViewerStore) {
    assert_eq!(s.master().await.unwrap(), None);
    s.register_stage(&stage(ARN_A, 1)).await.unwrap();
    assert_eq!(s.master().await.unwrap(), None);
    let mut master = stage(ARN_B, 2);
    master.kind = StageKind::Master;
    s.register_stage(&master).await.unwrap();
    assert_eq!(s.master().await.unwrap().as_deref(), Some(ARN_B));
    s.purge_stage(ARN_B, 3, RemovalReason::Gone).await.unwrap();
    assert_eq!(s.master().await.unwrap(), None);
    let f = lease(s, "scale-up", "h").await;
    s.begin_create(&create_intent("m", true), &f, 20)
        .await
        .unwrap();
    let mut next = named(ARN_C, "m", 4);
    next.kind = StageKind::Master;
    assert!(s.finish_create(&next, &f).await.unwrap());
    assert_eq!(s.master().await.unwrap().as_deref(), Some(ARN_C));
    assert!(s.intents().await.unwrap().is_empty());
}
