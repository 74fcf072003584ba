//! The Redis test harness itself: the local cluster (topology, slots,
//! failover), the TLS server and the ACL user. If these are wrong, the
//! cluster/TLS/ACL tests of the store prove nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use ivs_test_support::redis_cluster::{key_slot, RedisCluster};
use ivs_test_support::redis_server::{send, RedisOptions, RedisServer};

#[test]
fn cluster_has_three_primaries_with_one_replica_each() {
    let started = Instant::now();
    let cluster = RedisCluster::start();
    eprintln!("cluster started in {:?}", started.elapsed());
    assert_eq!(cluster.ports().len(), 6);
    assert_eq!(cluster.urls().len(), 6);
    assert!(cluster.seed_url().starts_with("redis://127.0.0.1:"));
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3, "primaries: {primaries:?}");
    let mut all = primaries.clone();
    for &p in &primaries {
        let replicas = cluster.replicas_of(p);
        assert_eq!(replicas.len(), 1, "replicas of {p}: {replicas:?}");
        all.extend(replicas);
    }
    all.sort_unstable();
    let mut ports = cluster.ports();
    ports.sort_unstable();
    assert_eq!(all, ports);
    for port in cluster.ports() {
        let info = cluster.command(port, &["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_state:ok"), "{port}: {info}");
        assert!(
            info.contains("cluster_slots_assigned:16384"),
            "{port}: {info}"
        );
    }
}

#[test]
fn key_slot_matches_cluster_keyslot_and_keys_land_on_their_primary() {
    let cluster = RedisCluster::start();
    let port = cluster.ports()[0];
    let keys = [
        "",
        "foo",
        "ivs:stage:abc",
        "{ivs}:stage:abc",
        "{ivs}:viewers",
        "a{b}c",
        "a{}b",
        "{}",
        "x{{y}}z",
        "{user1000}.following",
        "é{ü}",
        "prefix-one:k",
        "prefix-two:k",
    ];
    for key in keys {
        let expected = cluster.command(port, &["CLUSTER", "KEYSLOT", key]);
        assert_eq!(key_slot(key).to_string(), expected, "slot of {key:?}");
    }
    // Two hash-tagged prefixes in different slots do not see each other.
    let (a, b) = ("{tenant-a}:", "{tenant-b}:");
    assert_ne!(key_slot(a), key_slot(b));
    for i in 0..5 {
        let ka = format!("{a}{i}");
        let kb = format!("{b}{i}");
        assert_eq!(cluster.cluster_command(&ka, &["SET", &ka, "1"]), "OK");
        assert_eq!(cluster.cluster_command(&kb, &["SET", &kb, "1"]), "OK");
    }
    assert_eq!(cluster.keys_matching("{tenant-a}:*").len(), 5);
    assert_eq!(cluster.keys_matching("{tenant-b}:*").len(), 5);
    assert_eq!(cluster.dbsize_total(), 10);
    // The key is on the primary that owns its slot, nowhere else.
    let owner = cluster.primary_for_slot(key_slot("{tenant-a}:0"));
    for p in cluster.primaries() {
        let exists = cluster.command(p, &["EXISTS", "{tenant-a}:0"]);
        if p == owner {
            assert_eq!(exists, "1", "EXISTS on the owner {p}");
        } else {
            assert!(exists.starts_with("MOVED"), "EXISTS on {p}: {exists}");
        }
    }
    cluster.flush();
    assert_eq!(cluster.dbsize_total(), 0);
}

#[test]
fn killed_primary_is_replaced_by_its_replica_and_rejoins_as_replica() {
    // A failover under the load of the fleet scenarios running beside it
    // takes long enough to blur what this checks: run it on its own.
    let _serial = crate::FLEET_SERIAL.blocking_lock();
    let mut cluster = RedisCluster::start();
    let slot = key_slot("{failover}");
    let old = cluster.primary_for_slot(slot);
    let replicas = cluster.replicas_of(old);
    assert_eq!(replicas.len(), 1);
    // Errors come back as text: a node that has not yet seen the cluster as
    // ok answers CLUSTERDOWN, and the write must really have happened.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = cluster.cluster_command("{failover}", &["SET", "{failover}", "v"]);
        if reply == "OK" {
            break;
        }
        assert!(Instant::now() < deadline, "SET never succeeded: {reply}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Replication is asynchronous: only a write the replica acknowledged
    // survives the kill.
    cluster.wait_for_replica_sync(old, Duration::from_secs(15));
    cluster.kill_node(old);
    let started = Instant::now();
    let new = cluster.wait_for_failover(old, Duration::from_secs(15));
    eprintln!("failover took {:?}", started.elapsed());
    assert_eq!(new, replicas[0]);
    assert_eq!(cluster.primary_for_slot(slot), new);
    let value = cluster.cluster_command("{failover}", &["GET", "{failover}"]);
    assert_eq!(
        value,
        "v",
        "the acknowledged write is gone; the new primary says:\n{}",
        cluster.command(new, &["INFO", "replication"])
    );
    cluster.restart_node(old);
    assert_eq!(cluster.replicas_of(new), vec![old]);
    assert_eq!(cluster.primaries().len(), 3);
}

#[test]
fn tls_cluster_comes_up_and_serves_over_tls() {
    let cluster = RedisCluster::start_tls();
    assert!(cluster.seed_url().starts_with("rediss://127.0.0.1:"));
    assert_eq!(cluster.primaries().len(), 3);
    let port = cluster.ports()[0];
    let out = redis_cli_tls(&cluster.ca_cert_path(), port, &["CLUSTER", "INFO"]);
    assert!(out.contains("cluster_state:ok"), "{out}");
    // The announced port speaks TLS only.
    assert!(send(port, &["PING"]).is_err_or_not_pong());
}

#[test]
fn tls_server_answers_over_tls_only() {
    let server = RedisServer::start_with(RedisOptions {
        tls: true,
        acl_user: None,
    });
    let port = server.tls_port();
    assert_eq!(server.tls_url(), format!("rediss://127.0.0.1:{port}"));
    assert_eq!(
        redis_cli_tls(&server.ca_cert_path(), port, &["PING"]).trim(),
        "PONG"
    );
    assert!(send(port, &["PING"]).is_err_or_not_pong());
    // The plain port stays for the harness.
    assert_eq!(server.command(&["PING"]), "PONG");
}

#[test]
fn acl_user_works_and_wrong_password_is_refused() {
    let server = RedisServer::start_with(RedisOptions {
        tls: false,
        acl_user: Some(("ivs".into(), "s3cret pw".into())),
    });
    assert_eq!(
        server.url_with_user(),
        format!("redis://ivs:s3cret%20pw@127.0.0.1:{}", server.port())
    );
    let port = server.port();
    let ok = ivs_test_support::redis_server::send_as(
        port,
        Some(("ivs", "s3cret pw")),
        &["SET", "k", "v"],
    );
    assert_eq!(ok.as_deref(), Ok("OK"));
    let wrong = ivs_test_support::redis_server::send_as(port, Some(("ivs", "wrong")), &["PING"]);
    assert!(wrong.is_err(), "wrong password accepted: {wrong:?}");
    // Without credentials the server refuses: the ACL is enforced.
    let anonymous = send(port, &["GET", "k"]);
    assert!(
        anonymous.as_deref().is_ok_and(|r| r.starts_with("NOAUTH")),
        "{anonymous:?}"
    );
    // The harness still works, and survives a restart.
    assert_eq!(server.command(&["GET", "k"]), "v");
    let mut server = server;
    server.restart();
    let wrong = ivs_test_support::redis_server::send_as(port, Some(("ivs", "wrong")), &["PING"]);
    assert!(wrong.is_err(), "wrong password accepted after restart");
    assert_eq!(server.command(&["PING"]), "PONG");
}

#[test]
fn tls_and_acl_together() {
    let server = RedisServer::start_with(RedisOptions {
        tls: true,
        acl_user: Some(("app".into(), "pw".into())),
    });
    let url = server.tls_url();
    assert!(url.starts_with("rediss://app:pw@127.0.0.1:"), "{url}");
    let out = Command::new("redis-cli")
        .arg("--tls")
        .arg("--cacert")
        .arg(server.ca_cert_path())
        .args(["-p", &server.tls_port().to_string()])
        .args(["--user", "app", "--pass", "pw", "--no-auth-warning", "PING"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli: {e}"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
}

/// Plain-text PING on a TLS port: no `PONG` (an error, or garbage).
trait NotPong {
    fn is_err_or_not_pong(&self) -> bool;
}

impl NotPong for Result<String, String> {
    fn is_err_or_not_pong(&self) -> bool {
        !matches!(self, Ok(r) if r == "PONG")
    }
}

fn redis_cli_tls(ca: &std::path::Path, port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("--tls")
        .arg("--cacert")
        .arg(ca)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli (apt-get install -y redis-tools): {e}"));
    assert!(
        out.status.success(),
        "redis-cli --tls {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
