//! Webhooks out from fleets of built `ivs-server` processes on one private
//! Redis (docs/fleet-tests.md): the outbox is the store's event log, shared
//! by the fleet and durable across crashes. The receiver and the signature
//! check are `webhooks.rs`'s.
//!
//! Short timings throughout: a 1–2 s request timeout (so an event left by a
//! failed or dead attempt is taken over after 3–4 s) and backoff from 300 ms
//! capped at 2 s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ivs_test_support::fleet::{Findings, Fleet, API_KEY};

use crate::webhooks::{Answer, Received, Receiver, SECRET};
use crate::FLEET_SERIAL as SERIAL;

fn env(receiver: &Receiver, timeout_ms: &'static str) -> Vec<(String, String)> {
    [
        ("IVS_WEBHOOK_URLS", receiver.url()),
        ("IVS_WEBHOOK_SECRET", SECRET.to_string()),
        ("IVS_WEBHOOK_TIMEOUT_MS", timeout_ms.to_string()),
        ("IVS_WEBHOOK_BACKOFF_MS", "300".to_string()),
        ("IVS_WEBHOOK_BACKOFF_MAX_SECS", "2".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn fleet(n: usize, env: &[(String, String)]) -> Fleet {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Fleet::local(n, &pairs)
}

fn users(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("viewer-{prefix}-{i:03}")).collect()
}

/// The ids of the `viewer.joined` events received for each user.
fn joined_ids(received: &[Received]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in received.iter().filter(|r| r.kind() == "viewer.joined") {
        let user = r.body["data"]["userId"].as_str().unwrap_or("").to_string();
        out.entry(user).or_default().insert(r.id.clone());
    }
    out
}

/// Users whose `viewer.joined` came under more than one id (an event
/// recorded twice, which no retry explains).
fn joined_twice(received: &[Received]) -> Vec<String> {
    joined_ids(received)
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(u, ids)| format!("{u}: {ids:?}"))
        .collect()
}

/// Joins `users` round-robin; returns those answered 200.
async fn join(fleet: &Fleet, users: Vec<String>) -> Vec<String> {
    fleet
        .client()
        .join_all(users, 8)
        .await
        .into_iter()
        .filter(|j| j.reply.status == Some(200))
        .map(|j| j.user)
        .collect()
}

/// Every user's `viewer.joined` accepted (2xx) at least once.
fn all_accepted(receiver: &Receiver, users: &[String]) -> bool {
    let accepted: Vec<Received> = receiver.accepted().into_values().collect();
    let ids = joined_ids(&accepted);
    users.iter().all(|u| ids.contains_key(u))
}

/// Waits until every user's `viewer.joined` is accepted.
async fn wait_all(receiver: &Receiver, users: &[String], within: Duration, what: &str) {
    receiver
        .wait_for(within, what, |_| all_accepted(receiver, users))
        .await;
}

fn hygiene(findings: &mut Findings, fleet: &Fleet, receiver: &Receiver) {
    findings.check("log hygiene", fleet.log_problems());
    findings.check(
        "the webhook secret in a log",
        fleet.log_lines_with(SECRET.trim_start_matches("whsec_")),
    );
    findings.check("requests that do not verify", receiver.problems());
}

/// The sum of a counter over its series in a process's `/metrics`.
async fn counter(base: &str, name: &str) -> f64 {
    let text = match reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .header("x-api-key", API_KEY)
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Two instances on one Redis: every event is delivered once, not once per
/// instance, and the instances share the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_deliver_each_event_once() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    let mut env = env(&receiver, "1000");
    env.push(("IVS_WEBHOOK_NICE".into(), "7".into()));
    let fleet = fleet(2, &env);
    let joined = join(&fleet, users("pair", 80)).await;
    assert_eq!(joined.len(), 80, "every join is accepted");
    wait_all(
        &receiver,
        &joined,
        Duration::from_secs(20),
        "every join delivered",
    )
    .await;
    // Would a second instance send them again, it would within a few polls.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut findings = Findings::default();
    let received = receiver.received();
    let mut per_id: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &received {
        *per_id.entry(r.id.as_str()).or_default() += 1;
    }
    findings.check(
        "events delivered more than once",
        per_id
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| format!("{id} × {n}"))
            .collect(),
    );
    findings.check(
        "users with more than one viewer.joined",
        joined_twice(&received),
    );
    let mut delivered = Vec::new();
    for (_, base) in fleet.live() {
        delivered.push(counter(&base, "ivs_webhook_delivered_total").await);
    }
    let total: f64 = delivered.iter().sum();
    findings.check(
        "ivs_webhook_delivered_total summed over the instances",
        if total as usize == per_id.len() {
            vec![]
        } else {
            vec![format!("{delivered:?} for {} events", per_id.len())]
        },
    );
    findings.check(
        "instances without a delivery thread at nice 7 (IVS_WEBHOOK_NICE)",
        fleet
            .live()
            .into_iter()
            .filter_map(|(slot, _)| {
                let pid = fleet.pid(slot)?;
                let nices = thread_nices(pid, ivs_server::webhooks::thread::THREAD_NAME);
                (nices != [7]).then(|| format!("instance {slot} (pid {pid}): {nices:?}"))
            })
            .collect(),
    );
    hygiene(&mut findings, &fleet, &receiver);
    findings.assert_none("two instances, one Redis");
}

/// The nice values of the threads of `pid` named `name` (Linux's
/// `/proc/<pid>/task/<tid>/stat`, field 19).
fn thread_nices(pid: u32, name: &str) -> Vec<i64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            // The fields after the parenthesised name, which may hold spaces.
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().nth(16)?.parse().ok()
        })
        .collect()
}

/// The receiver refuses for a while, then is down for 10 s (its port
/// closed), then back: every event arrives, and those it had refused arrive
/// with the id it saw first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receiver_down_for_ten_seconds_then_back_gets_every_event() {
    let _serial = SERIAL.lock().await;
    let mut receiver = Receiver::start().await;
    let fleet = fleet(2, &env(&receiver, "1000"));
    receiver.answer(Answer::Refuse(503));
    let mut joined = join(&fleet, users("refused", 10)).await;
    let refused = receiver
        .wait_for(Duration::from_secs(10), "the refused joins tried", |r| {
            joined_ids(r).len() >= 10
        })
        .await;
    let refused_ids: BTreeSet<String> = joined_ids(&refused).into_values().flatten().collect();
    receiver.down();
    let down_at = Instant::now();
    joined.extend(join(&fleet, users("while-down", 20)).await);
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed())).await;
    receiver.answer(Answer::Accept);
    receiver.up().await;
    wait_all(
        &receiver,
        &joined,
        Duration::from_secs(20),
        "every join delivered after the outage",
    )
    .await;
    let mut findings = Findings::default();
    let accepted = receiver.accepted();
    findings.check(
        "refused events never accepted under their id",
        refused_ids
            .iter()
            .filter(|id| !accepted.contains_key(*id))
            .cloned()
            .collect(),
    );
    findings.check(
        "users whose join came under two ids",
        joined_twice(&receiver.received()),
    );
    let mut failed = 0.0;
    for (_, base) in fleet.live() {
        failed += counter(&base, "ivs_webhook_failed_attempts_total").await;
    }
    findings.check(
        "failed attempts counted",
        if failed >= 10.0 {
            vec![]
        } else {
            vec![format!("only {failed}")]
        },
    );
    hygiene(&mut findings, &fleet, &receiver);
    findings.assert_none("receiver down for 10 s");
}

/// A process killed with SIGKILL while its requests are in flight, then
/// restarted: every event still arrives, and those whose attempt the kill
/// cut short arrive again (the dead process never acknowledged them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_delivery_then_restart_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let receiver = Receiver::start().await;
    receiver.answer(Answer::Slow(Duration::from_millis(1500)));
    let mut fleet = fleet(1, &env(&receiver, "2000"));
    let joined = join(&fleet, users("killed", 30)).await;
    assert_eq!(joined.len(), 30, "every join is accepted");
    receiver
        .wait_for(Duration::from_secs(10), "deliveries in flight", |r| {
            r.iter().filter(|r| r.kind() == "viewer.joined").count() >= 5
        })
        .await;
    fleet.kill(0);
    let killed_at = Instant::now();
    // Answered after the kill: the process never read the answer.
    let cut_short: BTreeSet<String> = receiver
        .received()
        .iter()
        .filter(|r| r.at + Duration::from_millis(1500) > killed_at + Duration::from_millis(200))
        .map(|r| r.id.clone())
        .collect();
    receiver.answer(Answer::Accept);
    fleet.restart(0);
    // Requests answered "200" while the kill cut them short count as
    // received here: wait for those to come again, and for every other join.
    let sent_again = || -> BTreeSet<String> {
        receiver
            .received()
            .iter()
            .filter(|r| r.at > killed_at && r.answered == 204)
            .map(|r| r.id.clone())
            .collect()
    };
    receiver
        .wait_for(
            Duration::from_secs(25),
            "every join delivered, and those cut short sent again",
            |_| all_accepted(&receiver, &joined) && cut_short.is_subset(&sent_again()),
        )
        .await;
    let mut findings = Findings::default();
    let again = sent_again();
    findings.check(
        "events cut short by the kill and not sent again",
        cut_short.difference(&again).cloned().collect(),
    );
    findings.check(
        "nothing was in flight at the kill",
        if cut_short.is_empty() {
            vec!["(the scenario did not test anything)".into()]
        } else {
            vec![]
        },
    );
    hygiene(&mut findings, &fleet, &receiver);
    findings.assert_none("SIGKILL mid-delivery");
}

/// An endpoint removed from the settings leaves its group in the log: the
/// next instance started without it says so, naming the endpoint's id and
/// what is pending there (docs/webhooks.md, "Removing an endpoint").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_endpoints_group_is_reported_at_start() {
    use ivs_test_support::fleet::blocking;
    use ivs_test_support::redis_server::RedisServer;
    use ivs_test_support::server_process::ServerProcess;

    let _serial = SERIAL.lock().await;
    let redis = blocking(RedisServer::start);
    let (old, new) = (Receiver::start().await, Receiver::start().await);
    let redis_url = redis.url();
    let env = |url: String| {
        vec![
            ("REDIS_URL".to_string(), redis_url.clone()),
            ("IVS_API_KEYS".to_string(), format!("{API_KEY}:100000")),
            ("IVS_WEBHOOK_URLS".to_string(), url),
            ("IVS_WEBHOOK_SECRET".to_string(), SECRET.to_string()),
        ]
    };
    let start = |env: Vec<(String, String)>| {
        blocking(move || {
            let pairs: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            ServerProcess::start(&pairs)
        })
    };
    let mut first = start(env(old.url()));
    old.wait_for(Duration::from_secs(10), "the master's stage.created", |r| {
        r.iter().any(|r| r.kind() == "stage.created")
    })
    .await;
    blocking(|| first.terminate(Duration::from_secs(10)));
    let second = start(env(new.url()));
    let removed = ivs_server::webhooks::Endpoint::new(old.url().parse().expect("a URL")).id;
    let kept = ivs_server::webhooks::Endpoint::new(new.url().parse().expect("a URL")).id;
    let deadline = Instant::now() + Duration::from_secs(5);
    let warned = loop {
        let lines = second.log_lines_with("does not deliver to");
        if !lines.is_empty() || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(warned.len(), 1, "{:#?}", second.logs());
    assert!(warned[0].contains(&removed), "{}", warned[0]);
    assert!(warned[0].contains("\"pending\":0"), "{}", warned[0]);
    assert!(!warned[0].contains(&kept), "{}", warned[0]);
    assert!(
        !warned[0].contains("hooks/ivs"),
        "no URL in logs: {}",
        warned[0]
    );
}
