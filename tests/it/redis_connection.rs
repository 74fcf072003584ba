//! How the Redis store reaches Redis (`ivs-server/src/store/redis/link.rs`):
//! TLS with a CA file, an ACL user from the URL, Redis Cluster with one or
//! several seeds, mode detection, `off` against a cluster, and a killed
//! cluster primary (fast `Unavailable`, recovery within 15 s).
//!
//! Until the store's scripts declare their keys (they build key names inside
//! Lua, which a cluster refuses), `RedisStore::connect` cannot finish against
//! a cluster; the cluster tests drive the connection layer directly
//! (`store::redis::link::Link`, the same `query`/`invoke` the store uses).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ivs_server::store::redis::link::Link;
use ivs_server::store::redis::{ClusterMode, RedisOptions, RedisStore};
use ivs_server::store::{
    JoinOutcome, JoinRequest, StageKind, StageRecord, StoreError, ViewerStore,
};
use ivs_test_support::redis_cluster::{key_slot, RedisCluster};
use ivs_test_support::redis_server::{RedisOptions as ServerOptions, RedisServer};
use redis::Value;

/// A store call while a node is dead must answer within this.
const FAIL_FAST: Duration = Duration::from_millis(1500);

fn options(urls: &[String], cluster: ClusterMode, ca: Option<PathBuf>) -> RedisOptions {
    RedisOptions {
        urls: urls.to_vec(),
        cluster,
        ca_cert: ca,
    }
}

/// The stage of the TLS cluster test.
const ARN: &str = "arn:tls-cluster";

fn stage(arn: &str) -> StageRecord {
    StageRecord {
        arn: arn.to_string(),
        name: "s".into(),
        tags: Default::default(),
        kind: StageKind::AutoScaled,
        created_at: 1,
        draining: false,
        revived_at: None,
    }
}

fn set(key: &str, value: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    cmd
}

fn get(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(key);
    cmd
}

fn text(v: Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::SimpleString(s) => s,
        Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    }
}

/// Keys whose slots lie on every primary of the cluster (one per primary).
fn key_per_primary(cluster: &RedisCluster) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = Vec::new();
    for i in 0..1000 {
        let key = format!("k{i}");
        let port = cluster.primary_for_slot(key_slot(&key));
        if !out.iter().any(|(_, p)| *p == port) {
            out.push((key, port));
        }
        if out.len() == cluster.primaries().len() {
            break;
        }
    }
    assert_eq!(
        out.len(),
        cluster.primaries().len(),
        "no key for every primary"
    );
    out
}

/// Waits until every replica of `primary` has its replication link up and
/// has caught up with the primary's offset.
async fn wait_for_replica_sync(cluster: &RedisCluster, primary: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let target = field(
            &cluster.command(primary, &["INFO", "replication"]),
            "master_repl_offset",
        );
        let replicas = cluster.replicas_of(primary);
        assert!(!replicas.is_empty(), "primary {primary} has no replica");
        let synced = replicas.iter().all(|r| {
            let info = cluster.command(*r, &["INFO", "replication"]);
            info.contains("master_link_status:up") && field(&info, "slave_repl_offset") >= target
        });
        if synced {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas of {primary} did not sync within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn field(info: &str, name: &str) -> i64 {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}:")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[tokio::test]
async fn tls_with_a_ca_file_and_an_acl_user() {
    let server = RedisServer::start_with(ServerOptions {
        tls: true,
        acl_user: Some(("app".into(), "s3cretpw".into())),
    });
    let url = server.tls_url();
    assert!(url.starts_with("rediss://app:"), "{url}");
    let store = RedisStore::connect_with(
        &options(
            std::slice::from_ref(&url),
            ClusterMode::Auto,
            Some(server.ca_cert_path()),
        ),
        "tls:",
    )
    .await
    .unwrap_or_else(|e| panic!("TLS + ACL connect failed: {e}"));
    assert!(!store.is_cluster());
    store.ping().await.unwrap();
    store.register_stage(&stage("arn:tls")).await.unwrap();
    assert_eq!(store.stages().await.unwrap().len(), 1);

    // Without the CA the server's certificate is not trusted (the built-in
    // roots do not hold the throwaway CA).
    let err = RedisStore::connect(&url, "tls:").await.unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot reach Redis"), "{err}");
    // The driver's error is kept as the cause, not flattened into the text.
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    assert!(!chain(&err).contains("s3cretpw"), "password in {err:?}");
    assert!(!err.to_string().contains("s3cretpw"), "password in {err}");

    // A CA file that is missing or not PEM is refused clearly.
    let missing = server.ca_cert_path().with_file_name("nope.pem");
    let err = RedisStore::connect_with(
        &options(std::slice::from_ref(&url), ClusterMode::Auto, Some(missing)),
        "tls:",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("REDIS_CA_CERT"), "{err}");
    assert!(err.to_string().contains("cannot read"), "{err}");
    let not_pem = server.ca_cert_path().with_file_name("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = RedisStore::connect_with(&options(&[url], ClusterMode::Auto, Some(not_pem)), "tls:")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}

#[tokio::test]
async fn acl_user_from_the_url_and_a_wrong_password_refused_at_start() {
    let server = RedisServer::start_with(ServerOptions {
        tls: false,
        acl_user: Some(("app".into(), "rightpw".into())),
    });
    let url = server.url_with_user();
    let store = RedisStore::connect(&url, "acl:").await.unwrap();
    store.register_stage(&stage("arn:acl")).await.unwrap();
    assert_eq!(store.stages().await.unwrap().len(), 1);

    let wrong = url.replace("rightpw", "wrongpw");
    let started = Instant::now();
    let err = RedisStore::connect(&wrong, "acl:").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        err.to_string().contains("user or password was refused"),
        "{err}"
    );
    let msg = chain(&err);
    assert!(!msg.contains("wrongpw"), "password in {msg}");
    // No user at all: the default user is not ours.
    let err = RedisStore::connect(&server.url(), "acl:")
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn standalone_is_detected_and_off_refuses_several_urls() {
    let server = RedisServer::start();
    let link = Link::connect(&RedisOptions::from_list(&server.url()))
        .await
        .unwrap();
    assert!(!link.is_cluster());
    // Several URLs for a server that is not a cluster node: a clear error.
    let two = format!("{},{}", server.url(), server.url());
    let err = Link::connect(&RedisOptions::from_list(&two))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a cluster"), "{err}");
    let err = Link::connect(&options(
        &[server.url(), server.url()],
        ClusterMode::Off,
        None,
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cluster mode is off"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_for_concurrent_calls_and_one_reconnect_per_outage() {
    let mut server = RedisServer::start();
    let store = std::sync::Arc::new(RedisStore::connect(&server.url(), "one:").await.unwrap());
    store.register_stage(&stage("arn:one")).await.unwrap();
    let beats = (0..200).map(|i| {
        let store = store.clone();
        async move { store.heartbeat(&format!("u{i}"), "arn:one", 1_000).await }
    });
    for r in futures_util::future::join_all(beats).await {
        r.unwrap();
    }
    // The store's one connection plus the one asking.
    let clients = server.command(&["INFO", "clients"]);
    assert!(clients.contains("connected_clients:2"), "{clients}");

    server.kill();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..20)
        .map(|t| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = Instant::now();
                    let _ = store.heartbeat(&format!("u{t}"), "arn:one", 2_000).await;
                    assert!(
                        started.elapsed() < FAIL_FAST,
                        "took {:?}",
                        started.elapsed()
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "no recovery within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    // Hundreds of failed calls, one replacement connection: no reconnect storm.
    assert_eq!(store.link().rebuilds(), 1);
    let stats = server.command(&["INFO", "stats"]);
    let received = field(&stats, "total_connections_received");
    // The harness' own readiness PINGs and this INFO open connections too.
    assert!(
        (1..=10).contains(&received),
        "{received} connections: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_one_seed_or_several_follows_the_slots() {
    let cluster = RedisCluster::start();
    let keys = key_per_primary(&cluster);
    let seed = cluster.seed_url();
    for opts in [
        RedisOptions::from_list(&seed),
        RedisOptions::from_list(&cluster.urls().join(",")),
        options(std::slice::from_ref(&seed), ClusterMode::On, None),
    ] {
        let link = Link::connect(&opts).await.unwrap();
        assert!(link.is_cluster(), "{opts:?} not detected as a cluster");
        for (key, port) in &keys {
            link.query(&set(key, &format!("v-{port}"))).await.unwrap();
            assert_eq!(
                text(link.query(&get(key)).await.unwrap()),
                format!("v-{port}")
            );
            // It really landed on the slot's primary.
            assert_eq!(cluster.command(*port, &["GET", key]), format!("v-{port}"));
        }
        link.ping().await.unwrap();
        let info = text(
            link.query_any_node(redis::cmd("INFO").arg("server"))
                .await
                .unwrap(),
        );
        assert!(info.contains("redis_version:"), "{info}");
    }
    // A script with declared keys is routed to its key's primary, and a
    // flushed script cache is reloaded on NOSCRIPT.
    let link = Link::connect(&RedisOptions::from_list(&seed))
        .await
        .unwrap();
    let script = redis::Script::new("return redis.call('SET', KEYS[1], ARGV[1])");
    link.load_scripts(&[&script]).await.unwrap();
    // On every primary (the crate sends SCRIPT LOAD to the nodes of its slot
    // map, which holds no replicas: a promoted replica relies on NOSCRIPT).
    for port in cluster.primaries() {
        assert_eq!(
            cluster.command(port, &["SCRIPT", "EXISTS", script.get_hash()]),
            "1",
            "script not loaded on primary {port}"
        );
    }
    for port in cluster.primaries() {
        cluster.command(port, &["SCRIPT", "FLUSH"]);
    }
    for (key, port) in &keys {
        let mut inv = script.prepare_invoke();
        inv.key(key.as_str()).arg("by-script");
        link.invoke(inv).await.unwrap();
        assert_eq!(cluster.command(*port, &["GET", key]), "by-script");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_against_a_cluster_uses_the_seed_alone() {
    let cluster = RedisCluster::start();
    let seed_port = cluster.ports()[0];
    let link = Link::connect(&options(&[cluster.seed_url()], ClusterMode::Off, None))
        .await
        .unwrap();
    assert!(!link.is_cluster());
    let keys = key_per_primary(&cluster);
    for (key, port) in &keys {
        let result = link.query(&set(key, "x")).await;
        if *port == seed_port {
            result.unwrap();
        } else {
            // The seed redirects; standalone mode does not follow: 503.
            let err = result.unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
            assert!(err.to_string().to_uppercase().contains("MOVED"), "{err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_fast_and_recovers_within_15_s() {
    let mut cluster = RedisCluster::start();
    let link = Link::connect(&RedisOptions::from_list(&cluster.urls().join(",")))
        .await
        .unwrap();
    let keys = key_per_primary(&cluster);
    for (key, _) in &keys {
        link.query(&set(key, "before")).await.unwrap();
    }
    let (victim_key, victim) = keys[0].clone();
    // A replica that never finished its first sync refuses to fail over
    // (redis-server waits repl-diskless-sync-delay, 5 s, before the first
    // transfer): wait until the victim's replica is in sync.
    wait_for_replica_sync(&cluster, victim).await;
    cluster.kill_node(victim);
    let killed_at = Instant::now();

    let mut failures = 0;
    let mut recovered = None;
    while killed_at.elapsed() < Duration::from_secs(15) {
        let started = Instant::now();
        let result = link.query(&get(&victim_key)).await;
        assert!(
            started.elapsed() < FAIL_FAST,
            "a call took {:?}",
            started.elapsed()
        );
        match result {
            Ok(v) => {
                assert_eq!(text(v), "before");
                recovered = Some(killed_at.elapsed());
                break;
            }
            Err(e) => {
                assert!(e.is_unavailable(), "{e:?}");
                failures += 1;
            }
        }
        // Keys of the other shards answer fast too (between the FAIL mark
        // and the promotion the whole cluster says CLUSTERDOWN, as
        // cluster-require-full-coverage defaults to yes).
        for (key, _) in &keys[1..] {
            let started = Instant::now();
            match link.query(&get(key)).await {
                Ok(v) => assert_eq!(text(v), "before"),
                Err(e) => assert!(e.is_unavailable(), "{e:?}"),
            }
            assert!(started.elapsed() < FAIL_FAST);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = recovered.unwrap_or_else(|| panic!("no recovery within 15 s"));
    eprintln!("recovered after {recovered:?}, {failures} failed calls");
    assert!(failures > 0, "the dead primary was never noticed");
    let promoted = cluster.wait_for_failover(victim, Duration::from_secs(15));
    assert_ne!(promoted, victim);
    // Writes go to the promoted primary, and health recovers too.
    link.query(&set(&victim_key, "after")).await.unwrap();
    assert_eq!(cluster.command(promoted, &["GET", &victim_key]), "after");
    for (key, _) in &keys[1..] {
        assert_eq!(text(link.query(&get(key)).await.unwrap()), "before");
    }
    let deadline = killed_at + Duration::from_secs(15);
    loop {
        match link.ping().await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("ping not yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("health did not recover within 15 s: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_cluster_node_times_out_and_heals() {
    let cluster = RedisCluster::start();
    let link = Link::connect(&RedisOptions::from_list(&cluster.seed_url()))
        .await
        .unwrap();
    let keys = key_per_primary(&cluster);
    for (key, _) in &keys {
        link.query(&set(key, "v")).await.unwrap();
    }
    let (hung_key, hung) = keys[0].clone();
    // Connections stay open but the node answers nothing for 3 s.
    cluster.command(hung, &["CLIENT", "PAUSE", "3000", "ALL"]);
    let paused_at = Instant::now();
    let started = Instant::now();
    let err = link.query(&get(&hung_key)).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}",
        started.elapsed()
    );
    for (key, _) in &keys[1..] {
        assert_eq!(text(link.query(&get(key)).await.unwrap()), "v");
    }
    let deadline = paused_at + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        let result = link.query(&get(&hung_key)).await;
        assert!(
            started.elapsed() < FAIL_FAST,
            "took {:?}",
            started.elapsed()
        );
        match result {
            Ok(v) => {
                assert_eq!(text(v), "v");
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_unavailable(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no recovery after the pause: {e}"),
        }
    }
    assert!(paused_at.elapsed() >= Duration::from_millis(2500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_over_tls_with_an_acl_user() {
    let cluster = RedisCluster::start_tls();
    // The same user on every node (ACLs are per node).
    for port in cluster.ports() {
        cluster.command(
            port,
            &["ACL", "SETUSER", "app", "on", ">pw-1", "~*", "&*", "+@all"],
        );
    }
    let urls: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| u.replacen("rediss://", "rediss://app:pw-1@", 1))
        .collect();
    let link = Link::connect(&options(
        &urls[..1],
        ClusterMode::Auto,
        Some(cluster.ca_cert_path()),
    ))
    .await
    .unwrap_or_else(|e| panic!("TLS cluster connect failed: {e}"));
    assert!(link.is_cluster());
    // Keys on every shard (16 keys cover three primaries).
    for i in 0..16 {
        link.query(&set(&format!("t{i}"), "tls")).await.unwrap();
    }
    let other = Link::connect(&options(
        &urls[1..2],
        ClusterMode::On,
        Some(cluster.ca_cert_path()),
    ))
    .await
    .unwrap();
    for i in 0..16 {
        assert_eq!(
            text(other.query(&get(&format!("t{i}"))).await.unwrap()),
            "tls"
        );
    }
    let wrong: Vec<String> = urls.iter().map(|u| u.replace("pw-1", "pw-2")).collect();
    let err = Link::connect(&options(
        &wrong,
        ClusterMode::On,
        Some(cluster.ca_cert_path()),
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot reach Redis"), "{err}");
    assert!(!err.to_string().contains("pw-2"), "password in {err}");

    // The whole store over it: scripts with declared keys, the heartbeat.
    let store = RedisStore::connect_with(
        &options(&urls, ClusterMode::Auto, Some(cluster.ca_cert_path())),
        "tls:",
    )
    .await
    .unwrap_or_else(|e| panic!("store on the TLS cluster: {e}"));
    store.register_stage(&stage(ARN)).await.unwrap();
    let joined = store
        .join(&JoinRequest {
            user_id: "u1".into(),
            participant_id: "p1".into(),
            now: 1_000,
            capacity: 50,
            scale_up_at: 45,
            announce: true,
        })
        .await
        .unwrap();
    assert!(
        matches!(joined, JoinOutcome::Joined { viewers: 1, .. }),
        "{joined:?}"
    );
    assert_eq!(
        store.heartbeat("u1", ARN, 2_000).await.unwrap(),
        Some(2_000)
    );
    store.ping().await.unwrap();
}

/// An error and its causes, as the server's log prints them.
fn chain(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}
