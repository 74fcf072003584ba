//! Redis-specific behaviour of `RedisStore`, against a private
//! `redis-server` per test: command costs (one `EVALSHA` per heartbeat, a
//! sweep that reads only expired viewers), outages (fast `Unavailable`,
//! recovery with the same store object), script cache loss, unix sockets,
//! key prefixes, and many store objects (= instances) joining at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivs_server::store::redis::RedisStore;
use ivs_server::store::RemovalReason;
use ivs_server::store::{
    JoinOutcome, JoinRequest, StageKind, StageRecord, StoreError, StoreKind, ViewerStore,
};
use ivs_test_support::redis_server::RedisServer;

const ARN_A: &str = "arn:aws:ivs:ap-northeast-1:123456789012:stage/aaaa";
const ARN_B: &str = "arn:aws:ivs:ap-northeast-1:123456789012:stage/bbbb";
const MINUTE: Duration = Duration::from_secs(60);
/// The bound for a call while Redis is unreachable.
const FAIL_FAST: Duration = Duration::from_millis(1500);

fn stage(arn: &str, created_at: i64) -> StageRecord {
    StageRecord {
        arn: arn.to_string(),
        name: "s".into(),
        tags: Default::default(),
        kind: StageKind::AutoScaled,
        created_at,
        draining: false,
        revived_at: None,
    }
}

fn req(user: &str, now: i64, capacity: u32) -> JoinRequest {
    JoinRequest {
        user_id: user.to_string(),
        participant_id: format!("p-{user}"),
        now,
        capacity,
        scale_up_at: capacity,
        announce: true,
    }
}

async fn connect(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::connect(&server.url(), prefix).await.unwrap()
}

/// `INFO commandstats` counts for these commands.
fn stats(server: &RedisServer, cmds: &[&str]) -> HashMap<String, u64> {
    cmds.iter()
        .map(|c| (c.to_string(), server.command_stat(c)))
        .collect()
}

fn diff(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> HashMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before[k]))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn a_heartbeat_is_one_command() {
    let server = RedisServer::start();
    let store = connect(&server, "ivs:").await;
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    store.join(&req("u1", 1_000, 50)).await.unwrap();
    let watched = [
        "evalsha",
        "eval",
        "script|load",
        "ping",
        "zscore",
        "zadd",
        "hget",
        "hmget",
        "keys",
        "scan",
    ];
    let before = stats(&server, &watched);
    for i in 0..10 {
        let hb = store.heartbeat("u1", ARN_A, 2_000 + i).await.unwrap();
        assert_eq!(hb, Some(2_000 + i));
    }
    let after = stats(&server, &watched);
    // Ten round trips, each one plain ZADD: no script, nothing else.
    assert_eq!(diff(&before, &after), counts(&[("zadd", 10)]));
    // Only when the ZADD changed nothing does a second command tell "not
    // counted" from "already at or past now": a viewer that is not there,
    // two heartbeats in one millisecond, a clock behind the last one.
    let before = stats(&server, &watched);
    assert_eq!(store.heartbeat("u2", ARN_A, 3_000).await.unwrap(), None);
    assert_eq!(store.heartbeat("u1", ARN_B, 3_000).await.unwrap(), None);
    assert_eq!(
        store.heartbeat("u1", ARN_A, 2_009).await.unwrap(),
        Some(2_009)
    );
    assert_eq!(
        store.heartbeat("u1", ARN_A, 1_500).await.unwrap(),
        Some(2_009)
    );
    let after = stats(&server, &watched);
    assert_eq!(diff(&before, &after), counts(&[("zadd", 4), ("zscore", 4)]));
    // Nobody was created by a heartbeat.
    assert_eq!(server.command(&["ZCARD", "{ivs}:hb"]), "1");
    assert_eq!(store.stage(ARN_A).await.unwrap().unwrap().viewers, 1);
}

#[tokio::test]
async fn the_sweep_reads_only_expired_viewers() {
    let server = RedisServer::start();
    let store = connect(&server, "ivs:").await;
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    store.register_stage(&stage(ARN_B, 2)).await.unwrap();
    for i in 0..400 {
        store
            .join(&req(&format!("u{i}"), 1_000, 500))
            .await
            .unwrap();
    }
    // Three go quiet (two on A, one on B); the rest keep beating.
    for i in 3..400 {
        let arn = if i % 2 == 0 { ARN_A } else { ARN_B };
        assert!(store
            .heartbeat(&format!("u{i}"), arn, 50_000)
            .await
            .unwrap()
            .is_some());
    }
    let watched = [
        "evalsha",
        "hmget",
        "hget",
        "del",
        "zrangebyscore",
        "zremrangebyscore",
        "zrange",
        "hset",
        "zadd",
        "hdel",
        "keys",
        "scan",
        "zcard",
        "hincrby",
        "zscore",
    ];
    let before = stats(&server, &watched);
    let removed = store
        .sweep(70_000, Duration::from_secs(30), MINUTE)
        .await
        .unwrap();
    assert_eq!(removed, 3);
    let after = stats(&server, &watched);
    // One round trip; one range query over every stage's viewers and one
    // removal; per expired viewer one read (HGET), one delete (HDEL) and its
    // watch time (HSET + ZADD); per stage that lost viewers its new count
    // (HINCRBY) and load-index score (ZSCORE, HGET, ZADD); retention: one
    // range query.
    assert_eq!(
        diff(&before, &after),
        counts(&[
            ("evalsha", 1),
            ("zrangebyscore", 2),
            ("zremrangebyscore", 1),
            ("hget", 5),
            ("hdel", 3),
            ("hset", 3),
            ("zadd", 5),
            ("hincrby", 2),
            ("zscore", 2),
        ])
    );
    assert_eq!(store.stage(ARN_A).await.unwrap().unwrap().viewers, 198);
    assert_eq!(store.stage(ARN_B).await.unwrap().unwrap().viewers, 199);
}

/// The commands one new join runs inside its script, by name.
async fn join_commands(
    server: &RedisServer,
    store: &RedisStore,
    user: &str,
) -> HashMap<String, u64> {
    let watched = [
        "evalsha", "zrange", "zcard", "hmget", "hget", "hset", "zadd", "zscore", "exists",
        "hincrby", "xadd",
    ];
    let before = stats(server, &watched);
    assert!(matches!(
        store.join(&req(user, 5_000, 50)).await.unwrap(),
        JoinOutcome::Joined {
            rejoined: false,
            ..
        }
    ));
    diff(&before, &stats(server, &watched))
}

#[tokio::test]
async fn a_join_costs_the_same_whatever_the_number_of_stages() {
    let server = RedisServer::start();
    let store = connect(&server, "ivs:").await;
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    let one_stage = join_commands(&server, &store, "first").await;
    // One EVALSHA; inside it the viewer's entry (HGET, HSET), the least
    // loaded stage twice (ZRANGE ... 0 0: to pick it and, after the add, for
    // needs_stage), the add (ZADD, HINCRBY of the stage's count) and the new
    // count in the load index (ZADD XX); and its viewer.joined event (XADD,
    // in the same script).
    assert_eq!(
        one_stage,
        counts(&[
            ("evalsha", 1),
            ("hget", 1),
            ("hset", 1),
            ("zrange", 2),
            ("zadd", 2),
            ("hincrby", 1),
            ("xadd", 1),
        ])
    );
    for i in 0..300 {
        let arn = format!("arn:aws:ivs:ap-northeast-1:123456789012:stage/x{i:04}");
        store.register_stage(&stage(&arn, 10 + i)).await.unwrap();
    }
    assert_eq!(join_commands(&server, &store, "second").await, one_stage);
}

#[tokio::test]
async fn connecting_rebuilds_the_load_index() {
    let server = RedisServer::start();
    let store = connect(&server, "ivs:").await;
    let mut manual = stage(ARN_B, 0);
    manual.kind = StageKind::Custom;
    store.register_stage(&manual).await.unwrap();
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    for i in 0..3 {
        store.join(&req(&format!("u{i}"), 1_000, 50)).await.unwrap();
    }
    let index = server.command(&["ZRANGE", "{ivs}:load", "0", "-1", "WITHSCORES"]);
    assert_eq!(index, format!("{:016}{ARN_A}\n3", 1));
    // As an earlier version left it: no `load`, the old `open` set instead;
    // or an index that drifted (a restored backup, a hand edit).
    server.command(&["DEL", "{ivs}:load"]);
    server.command(&["ZADD", "ivs:open", "1", ARN_A]);
    let upgraded = connect(&server, "ivs:").await;
    assert_eq!(
        server.command(&["ZRANGE", "{ivs}:load", "0", "-1", "WITHSCORES"]),
        index
    );
    assert_eq!(server.command(&["EXISTS", "ivs:open"]), "0");
    server.command(&["ZADD", "{ivs}:load", "40", &format!("{:016}{ARN_A}", 1)]);
    server.command(&["HSET", "{ivs}:count", ARN_A, "40"]);
    drop(connect(&server, "ivs:").await);
    assert_eq!(
        server.command(&["ZRANGE", "{ivs}:load", "0", "-1", "WITHSCORES"]),
        index
    );
    match upgraded.join(&req("u9", 2_000, 50)).await.unwrap() {
        JoinOutcome::Joined {
            stage_arn, viewers, ..
        } => assert_eq!((stage_arn.as_str(), viewers), (ARN_A, 4)),
        JoinOutcome::Full => panic!("no stage found after the rebuild"),
    }
}

/// Data written by versions before the hash-tagged layout (per-stage and
/// per-viewer keys named `ivs:stage:<arn>`, `ivs:hb:<arn>`,
/// `ivs:viewer:<user>`), as a running fleet of them leaves it in Redis.
fn write_the_earlier_layout(server: &RedisServer) {
    let record = serde_json::to_string(&stage(ARN_A, 1)).unwrap();
    let mut draining = stage(ARN_B, 2);
    draining.draining = true;
    let draining = serde_json::to_string(&draining).unwrap();
    for cmd in [
        vec!["ZADD", "ivs:stages", "1", ARN_A, "2", ARN_B],
        vec![
            "HSET",
            &format!("ivs:stage:{ARN_A}"),
            "record",
            &record,
            "name",
            "renamed",
            "assignable",
            "1",
            "draining",
            "0",
        ],
        vec![
            "HSET",
            &format!("ivs:stage:{ARN_B}"),
            "record",
            &draining,
            "name",
            "s",
            "assignable",
            "1",
            "draining",
            "1",
        ],
        vec![
            "ZADD",
            &format!("ivs:hb:{ARN_A}"),
            "5000",
            "u1",
            "6000",
            "u2",
        ],
        vec!["ZADD", &format!("ivs:hb:{ARN_B}"), "7000", "u3"],
        vec![
            "HSET",
            "ivs:viewer:u1",
            "stage",
            ARN_A,
            "pid",
            "p-u1",
            "joined",
            "1000",
        ],
        vec![
            "HSET",
            "ivs:viewer:u2",
            "stage",
            ARN_A,
            "pid",
            "p-u2",
            "joined",
            "2000",
        ],
        vec![
            "HSET",
            "ivs:viewer:u3",
            "stage",
            ARN_B,
            "pid",
            "p-u3",
            "joined",
            "3000",
        ],
        vec![
            "HSET",
            "ivs:watch",
            &format!("{}:{ARN_A}u0", ARN_A.len()),
            "42",
        ],
        vec![
            "ZADD",
            "ivs:watch:at",
            "900",
            &format!("{}:{ARN_A}u0", ARN_A.len()),
        ],
        vec!["ZADD", "ivs:load", "2", &format!("{:016}{ARN_A}", 1)],
        vec!["RPUSH", "ivs:departed", &format!("{ARN_A} p-u0")],
    ] {
        server.command(&cmd);
    }
}

#[tokio::test]
async fn the_earlier_key_layout_is_moved_on_connect() {
    let server = RedisServer::start();
    write_the_earlier_layout(&server);
    let store = connect(&server, "ivs:").await;
    // Nothing of the old layout is left; everything is under the hash tag.
    let keys = server.command(&["KEYS", "ivs:*"]);
    assert_eq!(keys, "", "old keys left: {keys}");
    let stages = store.stages().await.unwrap();
    let seen: Vec<_> = stages
        .iter()
        .map(|s| {
            (
                s.record.arn.as_str(),
                s.record.name.as_str(),
                s.record.draining,
                s.viewers,
            )
        })
        .collect();
    assert_eq!(seen, [(ARN_A, "renamed", false, 2), (ARN_B, "s", true, 1)]);
    let viewers = store.viewers(ARN_A).await.unwrap();
    let seen: Vec<_> = viewers
        .iter()
        .map(|v| {
            (
                v.user_id.as_str(),
                v.participant_id.as_str(),
                v.joined_at,
                v.last_heartbeat,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("u1", "p-u1", 1000, 5000), ("u2", "p-u2", 2000, 6000)]
    );
    // Heartbeats, watch times and the departure queue carry on.
    assert_eq!(
        store.heartbeat("u1", ARN_A, 8_000).await.unwrap(),
        Some(8_000)
    );
    assert_eq!(
        store.watch_duration("u0", ARN_A, 9_000).await.unwrap(),
        Some(42)
    );
    assert_eq!(store.departures(10).await.unwrap().len(), 1);
    // A join lands on the open stage with the viewers it already had.
    match store.join(&req("u9", 9_000, 50)).await.unwrap() {
        JoinOutcome::Joined {
            stage_arn, viewers, ..
        } => assert_eq!((stage_arn.as_str(), viewers), (ARN_A, 3)),
        JoinOutcome::Full => panic!("no stage found after the move"),
    }
    // Connecting again moves nothing twice.
    drop(connect(&server, "ivs:").await);
    assert_eq!(store.stage(ARN_A).await.unwrap().unwrap().viewers, 3);
}

#[tokio::test]
async fn script_flush_is_survived() {
    let server = RedisServer::start();
    let store = connect(&server, "ivs:").await;
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    store.join(&req("u1", 1_000, 50)).await.unwrap();
    assert_eq!(server.command(&["SCRIPT", "FLUSH"]), "OK");
    assert!(matches!(
        store.join(&req("u2", 2_000, 50)).await.unwrap(),
        JoinOutcome::Joined { viewers: 2, .. }
    ));
    assert_eq!(store.stages().await.unwrap()[0].viewers, 2);
    // Reloaded once; from then on EVALSHA alone again.
    let before = stats(&server, &["evalsha", "script|load", "eval"]);
    store.stages().await.unwrap();
    let after = stats(&server, &["evalsha", "script|load", "eval"]);
    assert_eq!(diff(&before, &after), counts(&[("evalsha", 1)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_heals_by_itself() {
    let mut server = RedisServer::start();
    let store = Arc::new(connect(&server, "ivs:").await);
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();

    // Load: a few tasks joining and beating until told to stop; every call
    // must come back (ok or not) within the bound.
    let stop = Arc::new(AtomicBool::new(false));
    let slowest_ms = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (store, stop) = (store.clone(), stop.clone());
        let (slowest_ms, ok, failed) = (slowest_ms.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let user = format!("t{t}-{}", i % 20);
                let started = Instant::now();
                let result = if i.is_multiple_of(2) {
                    store.join(&req(&user, 1_000, 1_000)).await.map(|_| ())
                } else {
                    store.heartbeat(&user, ARN_A, 2_000).await.map(|_| ())
                };
                slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                match result {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) if e.is_unavailable() => failed.fetch_add(1, Ordering::Relaxed),
                    Err(e) => panic!("unexpected error: {e}"),
                };
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ok.load(Ordering::Relaxed) > 0);

    server.kill();
    // Every kind of call fails with Unavailable, each within the bound.
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.heartbeat("u1", ARN_A, 3_000).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(
            started.elapsed() < FAIL_FAST,
            "took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let err = store.ping().await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(
            started.elapsed() < FAIL_FAST,
            "ping took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        assert!(store.stages().await.is_err());
        assert!(started.elapsed() < FAIL_FAST);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failed_during = failed.load(Ordering::Relaxed);
    assert!(failed_during > 0, "the load saw no failure");

    // Back on the same port (empty, and without the scripts): the same
    // store object recovers unaided.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.ping().await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("did not recover: {e}"),
        }
    }
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    let ok_before = ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        ok.load(Ordering::Relaxed) > ok_before,
        "the load did not recover"
    );
    assert!(matches!(
        store.join(&req("after", 5_000, 1_000)).await.unwrap(),
        JoinOutcome::Joined { .. }
    ));
    assert_eq!(
        store.heartbeat("after", ARN_A, 6_000).await.unwrap(),
        Some(6_000)
    );

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let slowest = slowest_ms.load(Ordering::Relaxed);
    assert!(
        slowest < FAIL_FAST.as_millis() as u64,
        "a call took {slowest} ms"
    );
    eprintln!(
        "ok {} failed {} slowest call {slowest} ms",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_times_out_and_heals() {
    let server = RedisServer::start();
    let store = connect(&server, "ivs:").await;
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    store.join(&req("u1", 1_000, 50)).await.unwrap();
    // Connections stay open but nothing answers: only the deadline helps.
    server.pause();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.heartbeat("u1", ARN_A, 2_000).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(
            started.elapsed() < FAIL_FAST,
            "took {:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    assert!(store.ping().await.is_err());
    assert!(
        started.elapsed() < FAIL_FAST,
        "ping took {:?}",
        started.elapsed()
    );
    server.resume();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.heartbeat("u1", ARN_A, 3_000).await {
            Ok(hb) => {
                assert_eq!(hb, Some(3_000), "state survived the pause");
                break;
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("did not recover: {e}"),
        }
    }
}

#[tokio::test]
async fn connect_fails_fast_when_redis_is_down() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.kill();
    let started = Instant::now();
    let err = RedisStore::connect(&url, "ivs:").await.unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    assert!(err.to_string().contains("cannot reach Redis"), "{err}");
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}",
        started.elapsed()
    );
    let err = RedisStore::connect("nonsense://x", "ivs:")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid Redis URL"), "{err}");
}

#[tokio::test]
async fn connects_over_a_unix_socket() {
    let server = RedisServer::start();
    let unix = server.unix_url();
    assert!(unix.starts_with("redis+unix://"));
    let plain_unix = unix.replacen("redis+unix://", "unix://", 1);
    for url in [unix, plain_unix] {
        let store = RedisStore::connect(&url, "sock:").await.unwrap();
        store.ping().await.unwrap();
        store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    }
    // Same server as over TCP.
    let tcp = connect(&server, "sock:").await;
    assert_eq!(tcp.stages().await.unwrap().len(), 1);
}

#[tokio::test]
async fn every_key_is_under_the_prefix() {
    let server = RedisServer::start();
    let a = connect(&server, "one:").await;
    let b = connect(&server, "two:").await;
    for s in [&a, &b] {
        s.register_stage(&stage(ARN_A, 1)).await.unwrap();
        s.join(&req("u1", 1_000, 50)).await.unwrap();
        s.join(&req("u2", 1_000, 50)).await.unwrap();
        s.leave("u2", ARN_A, 2_000, MINUTE).await.unwrap();
        s.rate_limit("key", 10, MINUTE, 1_000, 1, None)
            .await
            .unwrap();
        s.try_lease("sweep", "h", MINUTE).await.unwrap();
    }
    a.heartbeat("u1", ARN_A, 3_000).await.unwrap();
    let keys = server.command(&["KEYS", "*"]);
    let keys: HashSet<&str> = keys.lines().collect();
    let expected = |p: &str| -> Vec<String> {
        // One hash tag per prefix: on Redis Cluster each deployment is one
        // slot, and per-stage or per-viewer data are fields, not keys.
        [
            "stages",
            "load",
            "stage",
            "hb",
            "viewer",
            "count",
            "watch",
            "watch:at",
            "gcra:key",
            "lease:sweep",
            // The lease's fencing counter: it must outlive the lease.
            "fence:sweep",
            // u2 left: its participant waits to be disconnected in IVS.
            "departed",
            // The joins and the leave were recorded as fleet events.
            "events",
        ]
        .into_iter()
        .map(|k| format!("{{{p}}}:{k}"))
        .collect()
    };
    let mut want: HashSet<String> = expected("one").into_iter().collect();
    want.extend(expected("two"));
    assert_eq!(keys, want.iter().map(String::as_str).collect());
    // The two prefixes do not see each other.
    b.purge_stage(ARN_A, 5_000, RemovalReason::Gone)
        .await
        .unwrap();
    assert_eq!(a.stage(ARN_A).await.unwrap().unwrap().viewers, 1);
    assert!(b.stages().await.unwrap().is_empty());
    // Idle rate-limit state goes away by itself (about one period).
    let pttl: i64 = server.command(&["PTTL", "{one}:gcra:key"]).parse().unwrap();
    assert!(pttl > 0 && pttl <= 61_000, "{pttl}");
    let pttl: i64 = server
        .command(&["PTTL", "{one}:lease:sweep"])
        .parse()
        .unwrap();
    assert!(pttl > 0 && pttl <= 60_000, "{pttl}");
    // The registry, viewers and watch times never expire by TTL.
    // (The event log is bounded by its length, not by time.)
    for key in [
        "{one}:stages",
        "{one}:viewer",
        "{one}:watch",
        "{one}:hb",
        "{one}:events",
    ] {
        assert_eq!(server.command(&["PTTL", key]), "-1", "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_instances_joining_at_once_never_exceed_capacity() {
    let server = RedisServer::start();
    // Five store objects = five server instances with their own pools.
    let mut stores = Vec::new();
    for _ in 0..5 {
        stores.push(Arc::new(connect(&server, "ivs:").await));
    }
    for (i, arn) in [
        ARN_A,
        ARN_B,
        "arn:aws:ivs:x:1:stage/c",
        "arn:aws:ivs:x:1:stage/d",
    ]
    .into_iter()
    .enumerate()
    {
        stores[0]
            .register_stage(&stage(arn, i as i64))
            .await
            .unwrap();
    }
    // 1,000 joins at once for 600 users (some twice, via different
    // instances) and 4 × 50 places.
    let mut tasks = Vec::new();
    for i in 0..1_000usize {
        let store = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("u{}", i % 600);
            (
                user.clone(),
                store.join(&req(&user, 1_000, 50)).await.unwrap(),
            )
        }));
    }
    let mut placed: HashMap<String, String> = HashMap::new();
    let mut full = 0;
    for t in tasks {
        let (user, outcome) = t.await.unwrap();
        match outcome {
            JoinOutcome::Joined {
                stage_arn, viewers, ..
            } => {
                assert!(viewers <= 50);
                if let Some(prev) = placed.insert(user, stage_arn.clone()) {
                    assert_eq!(prev, stage_arn, "one user on two stages");
                }
            }
            JoinOutcome::Full => full += 1,
        }
    }
    assert_eq!(placed.len(), 200);
    assert!(full >= 400);
    let stages = stores[1].stages().await.unwrap();
    assert!(stages.iter().all(|s| s.viewers == 50));
    let mut seen = HashSet::new();
    for s in &stages {
        for v in stores[2].viewers(&s.record.arn).await.unwrap() {
            assert_eq!(placed[&v.user_id], s.record.arn);
            assert!(seen.insert(v.user_id));
        }
    }
    assert_eq!(seen.len(), 200);
}

#[tokio::test]
async fn foreign_data_is_an_error_not_a_panic() {
    let server = RedisServer::start();
    let store = connect(&server, "ivs:").await;
    store.register_stage(&stage(ARN_A, 1)).await.unwrap();
    server.command(&[
        "HSET",
        "{ivs}:stage",
        &format!("record:{ARN_A}"),
        "not json",
    ]);
    let err = store.stages().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    // A key of the wrong type makes the script fail: also Corrupt.
    server.command(&["DEL", "{ivs}:hb"]);
    server.command(&["SET", "{ivs}:hb", "x"]);
    let err = store.heartbeat("u1", ARN_A, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    // The store keeps working for everything else.
    store.ping().await.unwrap();
    assert!(store.try_lease("l", "h", MINUTE).await.unwrap().is_some());
}

#[tokio::test]
async fn the_server_selects_redis_from_the_settings() {
    let mut server = RedisServer::start();
    let settings = ivs_server::Settings {
        redis: ivs_server::config::RedisSettings {
            url: Some(server.url()),
            prefix: "srv:".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let built = ivs_server::ServerBuilder::new(settings.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(built.app().store().kind(), StoreKind::Redis);
    // The master stage went into Redis under the prefix.
    assert_eq!(server.command(&["ZCARD", "{srv}:stages"]), "1");
    // Unreachable at start: the server refuses to start, with the reason.
    server.kill();
    let started = Instant::now();
    let err = match ivs_server::ServerBuilder::new(settings).build().await {
        Ok(_) => panic!("built without Redis"),
        Err(e) => e,
    };
    // The reason is in the error's causes (the binary logs the whole chain).
    let mut chain = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        chain = format!("{chain}: {c}");
        cause = c.source();
    }
    assert!(chain.starts_with("viewer store: "), "{chain}");
    assert!(chain.contains("cannot reach Redis"), "{chain}");
    assert!(started.elapsed() < FAIL_FAST);
}

/// `IVS_EVENT_LOG_MAX` reaches the store the settings select, either one.
#[tokio::test]
async fn the_event_log_bound_comes_from_the_settings() {
    let server = RedisServer::start();
    let redis = ivs_server::config::RedisSettings {
        url: Some(server.url()),
        event_log_max: 20,
        ..Default::default()
    };
    let memory = ivs_server::config::RedisSettings {
        event_log_max: 20,
        ..Default::default()
    };
    for (redis, most) in [(memory, 20), (redis, 20 + 100)] {
        let settings = ivs_server::Settings {
            redis,
            ..Default::default()
        };
        let built = ivs_server::ServerBuilder::new(settings)
            .build()
            .await
            .unwrap();
        let store = built.app().store();
        for t in 1..=300 {
            store.record_publisher(ARN_A, t % 2 == 1, t).await.unwrap();
        }
        let held = store.event_log().backlog().await.unwrap();
        assert!((20..=most).contains(&held), "{}: {held}", store.kind());
    }
}
