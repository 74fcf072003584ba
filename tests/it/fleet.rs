//! Fleet tests (issue 12): the built `ivs-server` binary as separate OS
//! processes on one private `redis-server`, with the IVS fake reachable over
//! HTTP (or the local emulator), like a real deployment. Each scenario
//! asserts the fleet invariants (`ivs_test_support::fleet`): at most
//! `viewers-per-stage` on a stage, at most `max-stages` managed stages in
//! IVS, registry == managed stages in IVS, sum of counts == viewers the test
//! was accepted and keeps alive, nobody on two stages; and that no process
//! printed a panic.
//!
//! The server binary must be built first: `cargo build -p ivs-server`.
//! The scenarios run one at a time (they share two cores with the processes
//! they start, and their deadlines are real time).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ivs_test_support::fake_ivs::FakeIvs;
use ivs_test_support::fleet::{blocking, Findings, Fleet, Join, MANAGED_BY};
use rand::Rng;

use crate::FLEET_SERIAL as SERIAL;

fn users(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i:04}")).collect()
}

/// Outcome → how many joins got it.
fn tally(joins: &[Join]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for j in joins {
        *out.entry(j.reply.outcome()).or_default() += 1;
    }
    out
}

/// Joins answered something other than 200 or a 503 for lack of room.
fn unexpected(joins: &[Join]) -> Vec<String> {
    joins
        .iter()
        .filter(|j| {
            !matches!(
                (j.reply.status, j.reply.code()),
                (Some(200), _) | (Some(503), "STAGE_FULL" | "STAGE_LIMIT_REACHED")
            )
        })
        .map(|j| format!("{} on instance {}: {}", j.user, j.slot, j.reply.outcome()))
        .collect()
}

fn first<T: std::fmt::Debug>(items: &[T]) -> String {
    let shown: Vec<&T> = items.iter().take(5).collect();
    format!("{} in all, e.g. {shown:?}", items.len())
}

/// No process printed a panic, an API key or a secret.
fn log_hygiene(findings: &mut Findings, fleet: &Fleet) {
    findings.check("log hygiene", fleet.log_problems());
}

/// Settings of the AWS-backed scenarios: small stages so that a few dozen
/// viewers make many scale-ups, and no scale-down during a test.
const SMALL_STAGES: [(&str, &str); 3] = [
    ("IVS_VIEWERS_PER_STAGE", "10"),
    ("IVS_SCALE_UP_THRESHOLD", "8"),
    ("IVS_SCALE_DOWN_MIN_AGE_SECS", "3600"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    SMALL_STAGES.iter().chain(extra).copied().collect()
}

/// Local mode: three emulator processes on one Redis are one IVS account.
/// A 2,000-join burst with the default limits (50 a stage, 20 stages:
/// room for 1,000) gets only 200 or 503, never 404 or 500; the invariants
/// hold; and every accepted viewer's heartbeat to another instance is 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_mode_fleet_is_one_account() {
    let _serial = SERIAL.lock().await;
    let fleet = Fleet::local(3, &[]);
    let client = fleet.client();
    let sampler = fleet.sampler();
    let mut findings = Findings::default();

    let joins = client.join_all(users("burst", 0..2000), 64).await;
    let accepted: Vec<&Join> = joins.iter().filter(|j| j.stage().is_some()).collect();
    findings.check(
        "joins answered neither 200 nor 503 STAGE_FULL/STAGE_LIMIT_REACHED",
        {
            let bad = unexpected(&joins);
            if bad.is_empty() {
                vec![]
            } else {
                vec![format!("{} (outcomes: {:?})", first(&bad), tally(&joins))]
            }
        },
    );
    let capacity = fleet.limits.viewers_per_stage * fleet.limits.max_stages;
    findings.require(
        accepted.len() <= capacity,
        format!("{} joins accepted, capacity {capacity}", accepted.len()),
    );
    findings.require(
        accepted.len() > fleet.limits.viewers_per_stage,
        format!(
            "only {} joins accepted: the fleet never scaled past one stage ({:?})",
            accepted.len(),
            tally(&joins)
        ),
    );

    findings.check("invariants", fleet.settle(Duration::from_secs(10)).await);

    // The heartbeat goes to another instance than the join: any instance
    // must know every stage and every viewer.
    let n = fleet.size();
    let beats = accepted.iter().map(|j| {
        let base = fleet.base((j.slot + 1) % n);
        let api = fleet.api().clone();
        let (user, arn) = (j.user.clone(), j.stage().unwrap_or_default().to_string());
        async move {
            let reply = api.heartbeat(&base, &user, &arn).await;
            (user, reply)
        }
    });
    let beats: Vec<(String, ivs_test_support::fleet::Reply)> = futures_util::stream::iter(beats)
        .buffer_unordered(64)
        .collect()
        .await;
    let failed: Vec<String> = beats
        .iter()
        .filter(|(_, r)| r.status != Some(200))
        .map(|(u, r)| format!("{u}: {}", r.outcome()))
        .collect();
    findings.require(
        failed.is_empty(),
        format!("heartbeats on another instance not 200: {}", first(&failed)),
    );

    findings.check("sampled safety invariants", sampler.stop().violations);
    log_hygiene(&mut findings, &fleet);
    findings.assert_none("local_mode_fleet_is_one_account");
}

/// `SIGKILL` lands while a stage is being created (the fake answers
/// CreateStage after 300 ms, and the killed process is the one whose
/// CreateStage is in flight, recognised by its access key) or at a random
/// instance, five times, each followed by a restart. After a settle period
/// nothing is left behind: registry == managed stages in IVS, within the
/// limit, counts == the viewers the test keeps alive (joins the kill cut off
/// have expired), and the fleet can still scale up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_scale_ups_leaves_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let fake = Arc::new(FakeIvs::start().await);
    fake.set_delay("CreateStage", Duration::from_millis(300));
    let mut fleet = Fleet::aws(
        3,
        &fake,
        &with(&[("IVS_MAX_STAGES", "8"), ("IVS_HEARTBEAT_TIMEOUT_SECS", "4")]),
    );
    let client = fleet.client();
    let heartbeats = client.heartbeats(Duration::from_millis(1000));
    let sampler = fleet.sampler();
    let mut findings = Findings::default();
    let mut all_joins = Vec::new();
    let mut kills = Vec::new();

    for round in 0..5 {
        let creates_before = fake.count("CreateStage");
        let batch = users(&format!("r{round}"), 0..8);
        let joiner = client.clone();
        let joins = tokio::spawn(async move { joiner.join_all(batch, 8).await });
        let victim = if round % 2 == 0 {
            // The process whose CreateStage is in flight, while it waits.
            let start = Instant::now();
            let mut creator = None;
            while creator.is_none() && start.elapsed() < Duration::from_secs(3) {
                creator = fake
                    .requests_to("CreateStage")
                    .get(creates_before)
                    .and_then(|r| Fleet::slot_of(r.authorization.as_deref()));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let delay = rand::rng().random_range(0..150);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            creator.map(|c| (c, "mid-creation"))
        } else {
            None
        };
        let (victim, when) = victim.unwrap_or_else(|| {
            let live = fleet.live();
            (live[rand::rng().random_range(0..live.len())].0, "random")
        });
        if round % 2 == 1 {
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(0..300))).await;
        }
        fleet.kill(victim);
        kills.push(format!("round {round}: instance {victim} ({when})"));
        let joins = joins.await.expect("the join task");
        fleet.restart(victim);
        all_joins.extend(joins);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("kills: {kills:?}; joins: {:?}", tally(&all_joins));
    findings.require(
        kills.iter().any(|k| k.contains("mid-creation")),
        format!("no kill landed while a CreateStage was in flight: {kills:?}"),
    );
    findings.check(
        "joins answered neither 200, 503 for lack of room, nor cut off by the kill",
        unexpected(&all_joins)
            .into_iter()
            .filter(|j| !j.ends_with("no answer"))
            .collect(),
    );

    // Joins the kill cut off may be counted; they expire (4 s without a
    // heartbeat), and reconciliation runs every 12 rounds of 200 ms.
    findings.check(
        "invariants after settling",
        fleet.settle(Duration::from_secs(20)).await,
    );

    // Nothing the dead left behind (a lease, an intent) keeps the fleet from
    // scaling: one stage's worth of new viewers gets in while there is room.
    let stages = fleet.snapshot().registry.len();
    if stages < fleet.limits.max_stages {
        let deadline = Instant::now() + Duration::from_secs(35);
        let mut pending = users("after", 0..10);
        while !pending.is_empty() && Instant::now() < deadline {
            let joins = client.join_all(pending.clone(), 10).await;
            pending = joins
                .iter()
                .filter(|j| j.stage().is_none())
                .map(|j| j.user.clone())
                .collect();
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        findings.require(
            pending.is_empty(),
            format!(
                "{} of 10 new viewers still refused 35 s after the kills with {stages} of {} stages",
                pending.len(),
                fleet.limits.max_stages
            ),
        );
        findings.check(
            "invariants after scaling again",
            fleet.settle(Duration::from_secs(10)).await,
        );
    }

    let hb = heartbeats.stop().await;
    findings.require(
        hb.lost.is_empty(),
        format!(
            "heartbeats of counted viewers answered 404: {}",
            first(&hb.lost.iter().collect::<Vec<_>>())
        ),
    );
    findings.check("sampled safety invariants", sampler.stop().violations);
    log_hygiene(&mut findings, &fleet);
    findings.assert_none("sigkill_during_scale_ups_leaves_nothing_behind");
}

/// ListStages takes 1.5 s while the fleet scales up wave after wave: a
/// reconciliation reading that slow list must not purge stages created
/// meanwhile, so no counted viewer's heartbeat is ever answered 404, and
/// afterwards registry == managed stages in IVS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_list_stages_never_purges_live_stages() {
    let _serial = SERIAL.lock().await;
    let fake = Arc::new(FakeIvs::start().await);
    fake.set_delay("ListStages", Duration::from_millis(1500));
    fake.set_delay("CreateStage", Duration::from_millis(100));
    let fleet = Fleet::aws(3, &fake, &with(&[("IVS_MAX_STAGES", "14")]));
    let client = fleet.client();
    let heartbeats = client.heartbeats(Duration::from_millis(500));
    let sampler = fleet.sampler();
    let mut findings = Findings::default();

    let mut all_joins = Vec::new();
    for wave in 0..12 {
        // Eight viewers fill the newest stage to the threshold: one scale-up a wave.
        let joins = client.join_all(users(&format!("w{wave}"), 0..8), 8).await;
        all_joins.extend(joins);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // A few more heartbeat rounds and reconciliations over the last stages.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let hb = heartbeats.stop().await;
    eprintln!(
        "joins: {:?}; ListStages calls: {}; stages in IVS: {}; heartbeats: {} sent, {} ok, other {:?}",
        tally(&all_joins),
        fake.count("ListStages"),
        fake.stages().len(),
        hb.sent,
        hb.ok,
        hb.other
    );
    findings.check(
        "joins answered neither 200 nor 503 for lack of room",
        unexpected(&all_joins),
    );
    findings.require(
        fake.count("ListStages") > 0,
        "no ListStages call: the scenario never reconciled",
    );
    findings.require(
        hb.lost.is_empty(),
        format!(
            "heartbeats of counted viewers answered 404: {}",
            first(&hb.lost.iter().collect::<Vec<_>>())
        ),
    );
    findings.check(
        "invariants after settling",
        fleet.settle(Duration::from_secs(15)).await,
    );
    findings.check("sampled safety invariants", sampler.stop().violations);
    log_hygiene(&mut findings, &fleet);
    findings.assert_none("slow_list_stages_never_purges_live_stages");
}

/// Redis stops answering (`CLIENT PAUSE 3000 ALL`) while a stage is being
/// created: every request answers 200 or 503 within a few seconds, nothing
/// panics, and after the pause the invariants hold again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_paused_mid_scale_up() {
    let _serial = SERIAL.lock().await;
    let fake = Arc::new(FakeIvs::start().await);
    fake.set_delay("CreateStage", Duration::from_millis(600));
    let fleet = Fleet::aws(
        3,
        &fake,
        &with(&[("IVS_MAX_STAGES", "8"), ("IVS_HEARTBEAT_TIMEOUT_SECS", "6")]),
    );
    let client = fleet.client();
    let mut findings = Findings::default();
    let mut joins = client.join_all(users("before", 0..7), 7).await;
    let heartbeats = client.heartbeats(Duration::from_millis(700));
    let sampler = fleet.sampler();

    // The eighth viewer reaches the threshold: a scale-up starts.
    let creates_before = fake.count("CreateStage");
    joins.extend(client.join_all(users("threshold", 0..1), 1).await);
    let started = fake
        .wait_for("CreateStage", creates_before + 1, Duration::from_secs(5))
        .await;
    findings.require(
        started,
        "the eighth viewer started no scale-up (no CreateStage)",
    );
    let paused = blocking(|| fleet.redis.command(&["CLIENT", "PAUSE", "3000", "ALL"]));
    findings.require(paused == "OK", format!("CLIENT PAUSE answered {paused:?}"));
    let pause_start = Instant::now();

    // Traffic during the pause: joins spread over it, on every instance.
    let mut during = Vec::new();
    for i in 0..8 {
        let c = client.clone();
        during.push(tokio::spawn(async move {
            c.join_all(users(&format!("paused{i}"), 0..2), 2).await
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut paused_joins = Vec::new();
    for d in during {
        paused_joins.extend(d.await.expect("a join task"));
    }
    let health: Vec<String> = {
        let mut out = Vec::new();
        for (slot, base) in fleet.live() {
            let r = fleet.api().get(&base, "/health").await;
            out.push(format!("instance {slot}: {}", r.outcome()));
        }
        out
    };
    eprintln!(
        "traffic during the pause took {:?}; its joins: {:?}; /health after: {health:?}",
        pause_start.elapsed(),
        tally(&paused_joins)
    );
    let slow: Vec<String> = paused_joins
        .iter()
        .filter(|j| j.reply.elapsed > Duration::from_secs(5))
        .map(|j| {
            format!(
                "{} took {:?} ({})",
                j.user,
                j.reply.elapsed,
                j.reply.outcome()
            )
        })
        .collect();
    findings.require(
        slow.is_empty(),
        format!("requests hung during the pause: {}", first(&slow)),
    );
    let bad: Vec<String> = paused_joins
        .iter()
        .filter(|j| !matches!(j.reply.status, Some(200 | 503)))
        .map(|j| format!("{}: {}", j.user, j.reply.outcome()))
        .collect();
    findings.require(
        bad.is_empty(),
        format!("joins during the pause not 200/503: {}", first(&bad)),
    );
    joins.extend(paused_joins);

    // Joins that timed out at the servers may still have run in Redis after
    // the pause: they expire 6 s later, like any viewer without heartbeats.
    findings.check(
        "invariants after the pause",
        fleet.settle(Duration::from_secs(20)).await,
    );
    let hb = heartbeats.stop().await;
    findings.require(
        hb.lost.is_empty(),
        format!(
            "heartbeats of counted viewers answered 404: {}",
            first(&hb.lost.iter().collect::<Vec<_>>())
        ),
    );
    findings.require(
        hb.slowest <= Duration::from_secs(5),
        format!("a heartbeat took {:?}", hb.slowest),
    );
    let bad_hb: Vec<&String> = hb
        .other
        .keys()
        // 404s of counted viewers are reported above, as lost viewers.
        .filter(|o| !o.starts_with("503") && !o.starts_with("404 via"))
        .collect();
    findings.require(
        bad_hb.is_empty(),
        format!("heartbeats answered neither 200 nor 503: {:?}", hb.other),
    );
    findings.check("sampled safety invariants", sampler.stop().violations);
    log_hygiene(&mut findings, &fleet);
    findings.assert_none("redis_paused_mid_scale_up");
}

/// What every instance says the master is: `GET /api/stage/master/info`
/// and the stage of a publisher token, as "<status> <arn>".
async fn master_views(fleet: &Fleet) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (slot, base) in fleet.live() {
        let info = fleet.api().master_info(&base).await;
        let token = fleet.api().publisher_token(&base, "host-1").await;
        let show = |r: &ivs_test_support::fleet::Reply, arn: &serde_json::Value| match r.status {
            Some(200) => arn.as_str().unwrap_or("?").to_string(),
            _ => r.outcome(),
        };
        out.push((
            slot,
            show(&info, &info.data()["stage"]["arn"]),
            show(&token, &token.data()["stageArn"]),
        ));
    }
    out
}

/// The master stage is deleted in IVS behind the fleet's back: within a
/// bound every instance agrees on ONE new master (master info and publisher
/// tokens) that exists in IVS, and IVS holds exactly one managed master.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn master_replaced_out_of_band() {
    let _serial = SERIAL.lock().await;
    let fake = Arc::new(FakeIvs::start().await);
    let fleet = Fleet::aws(3, &fake, &with(&[]));
    let client = fleet.client();
    let mut findings = Findings::default();
    let sampler = fleet.sampler();

    let old = fleet.api().master_info(&fleet.base(0)).await;
    let old = old.data()["stage"]["arn"]
        .as_str()
        .unwrap_or_else(|| panic!("master info: {}", old.outcome()))
        .to_string();
    client.join_all(users("v", 0..3), 3).await;
    client.viewers().forget_stage(&old);
    fake.remove_stage(&old);
    let removed_at = Instant::now();

    let bound = Duration::from_secs(20);
    let mut views = master_views(&fleet).await;
    let converged = |views: &[(usize, String, String)]| {
        let arns: BTreeSet<&str> = views
            .iter()
            .flat_map(|(_, a, b)| [a.as_str(), b.as_str()])
            .collect();
        arns.len() == 1 && arns.iter().all(|a| *a != old && fake.stage(a).is_some())
    };
    while !converged(&views) && removed_at.elapsed() < bound {
        tokio::time::sleep(Duration::from_millis(500)).await;
        views = master_views(&fleet).await;
    }
    eprintln!(
        "after {:?}: (instance, master info, publisher token stage) = {views:?}",
        removed_at.elapsed()
    );
    findings.require(
        converged(&views),
        format!(
            "instances did not agree on one new master within {bound:?}: \
             (instance, master info, publisher token) = {views:?}"
        ),
    );
    let masters_in_ivs: Vec<String> = fake
        .stages()
        .into_iter()
        .filter(|s| {
            s.tags.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
                && s.tags.get("Role").map(String::as_str) == Some("master")
        })
        .map(|s| s.arn)
        .collect();
    findings.require(
        masters_in_ivs.len() == 1,
        format!("managed masters in IVS: {masters_in_ivs:?}"),
    );
    let registered = fleet.snapshot().masters();
    findings.require(
        registered.len() == 1 && masters_in_ivs.contains(&registered[0]),
        format!("registered masters {registered:?}, in IVS {masters_in_ivs:?}"),
    );
    findings.check("invariants", fleet.settle(Duration::from_secs(10)).await);
    findings.check("sampled safety invariants", sampler.stop().violations);
    log_hygiene(&mut findings, &fleet);
    findings.assert_none("master_replaced_out_of_band");
}

/// An auto-scaled stage with room is deleted in IVS while viewers keep
/// joining: no join sent after the deletion is answered 404 or put on the
/// deleted stage, and the fleet settles without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stage_deleted_out_of_band_gets_no_more_viewers() {
    let _serial = SERIAL.lock().await;
    let fake = Arc::new(FakeIvs::start().await);
    let fleet = Fleet::aws(3, &fake, &with(&[("IVS_MAX_STAGES", "8")]));
    let client = fleet.client();
    let mut findings = Findings::default();
    let sampler = fleet.sampler();

    // Eight viewers fill the master to the threshold; a stage is added.
    let mut joins = client.join_all(users("fill", 0..8), 8).await;
    let start = Instant::now();
    let mut doomed = None;
    while doomed.is_none() && start.elapsed() < Duration::from_secs(10) {
        doomed = fleet
            .snapshot()
            .registry
            .iter()
            .find(|(_, r)| r["autoScaled"] == true || r["auto_scaled"] == true)
            .map(|(a, _)| a.clone());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let doomed = doomed.expect("no auto-scaled stage was created");
    // The least-loaded stage gets the next viewers: the new one.
    let on_it = client.join_all(users("on", 0..2), 2).await;
    findings.require(
        on_it.iter().all(|j| j.stage() == Some(doomed.as_str())),
        format!(
            "new viewers did not go to the new stage {doomed}: {:?}",
            on_it
                .iter()
                .map(|j| j.reply.outcome() + " " + j.stage().unwrap_or(""))
                .collect::<Vec<_>>()
        ),
    );
    joins.extend(on_it);

    // A steady trickle of joins; the stage is deleted in the middle of it.
    let trickle = {
        let c = client.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..25 {
                out.extend(c.join_all(users("trickle", i..i + 1), 1).await);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            out
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The deletion must matter: the stage still has room and is the least
    // loaded, so without the deletion the next joins would go there.
    let snap = fleet.snapshot();
    let least = snap
        .registry
        .keys()
        .map(|a| snap.viewers_on(a))
        .min()
        .unwrap_or(0);
    findings.require(
        snap.viewers_on(&doomed) == least
            && snap.viewers_on(&doomed) < fleet.limits.viewers_per_stage,
        format!(
            "precondition: the stage to delete is not the least loaded with room ({} viewers; least {least})",
            snap.viewers_on(&doomed)
        ),
    );
    client.viewers().forget_stage(&doomed);
    let deleted_at = Instant::now();
    fake.remove_stage(&doomed);
    let trickle = trickle.await.expect("the trickle task");
    // A 200 is recorded by join_all; the ones on the deleted stage are of
    // unknown fate, not alive.
    client.viewers().forget_stage(&doomed);
    let after: Vec<&Join> = trickle.iter().filter(|j| j.sent_at >= deleted_at).collect();
    eprintln!(
        "trickle: {:?}; sent after the deletion: {}",
        tally(&trickle),
        after.len()
    );
    let wrong: Vec<String> = after
        .iter()
        .filter(|j| {
            j.stage() == Some(doomed.as_str())
                || !matches!(
                    (j.reply.status, j.reply.code()),
                    (Some(200), _) | (Some(503), "STAGE_FULL" | "STAGE_LIMIT_REACHED")
                )
        })
        .map(|j| {
            format!(
                "{} {:?} after the deletion: {} {}",
                j.user,
                j.sent_at - deleted_at,
                j.reply.outcome(),
                j.stage().unwrap_or("")
            )
        })
        .collect();
    findings.require(
        wrong.is_empty(),
        format!("joins after the deletion put on the deleted stage or answered otherwise than 200/503: {}", first(&wrong)),
    );
    findings.check("invariants", fleet.settle(Duration::from_secs(15)).await);
    findings.require(
        !fleet.snapshot().registry.contains_key(&doomed),
        "the deleted stage is still registered",
    );
    findings.check("sampled safety invariants", sampler.stop().violations);
    log_hygiene(&mut findings, &fleet);
    findings.assert_none("stage_deleted_out_of_band_gets_no_more_viewers");
}
