//! The fleet invariants, checked from outside the servers: a snapshot of
//! the shared state read from Redis in one script, compared with the IVS
//! side and with what the test was told.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;

use super::{blocking, examples, Viewers, MANAGED_BY};
use crate::fake_ivs::FakeStage;
use crate::redis_server::try_command_on;

/// Registry, viewer sets and (local mode) the emulator's account, read from
/// Redis in one atomic script so that they are from one instant.
const SNAPSHOT_LUA: &str = r#"
local stages, stage, hb = KEYS[1], KEYS[2], KEYS[3]
local out = { registry = {}, hb = {}, ivs = false, ivs_key = false }
for _, arn in ipairs(redis.call('ZRANGE', stages, 0, -1)) do
  out.registry[arn] = redis.call('HGET', stage, 'record:' .. arn) or ''
end
for _, member in ipairs(redis.call('ZRANGE', hb, 0, -1)) do
  local n, rest = string.match(member, '^(%d+):(.*)$')
  if n then
    n = tonumber(n)
    local arn = string.sub(rest, 1, n)
    out.hb[arn] = out.hb[arn] or {}
    table.insert(out.hb[arn], string.sub(rest, n + 1))
  end
end
for i = 1, #ARGV do
  if redis.call('TYPE', ARGV[i]).ok == 'hash' then
    out.ivs = redis.call('HGETALL', ARGV[i])
    out.ivs_key = ARGV[i]
    break
  end
end
return cjson.encode(out)
"#;

/// The keys where the emulator's account may live in Redis (local mode),
/// first match wins: a hash ARN → stage JSON. One place, so the layout can
/// follow the server's.
pub fn local_account_keys(prefix: &str, account: &str, region: &str) -> Vec<String> {
    let key = format!("ivs-local:{{{account}:{region}}}:stages");
    vec![key.clone(), format!("{prefix}{key}")]
}

/// Whether an emulator stage (its JSON in the account hash) is the server's.
/// A record without tags cannot say, so it counts as managed.
fn local_stage_managed(stage: &Value) -> bool {
    match stage.get("tags").or_else(|| stage.get("Tags")) {
        Some(tags) => tags[MANAGED_BY.0] == MANAGED_BY.1,
        None => true,
    }
}

/// The managed stages of the fake.
pub fn fake_managed(stages: &[FakeStage]) -> BTreeSet<String> {
    stages
        .iter()
        .filter(|s| s.tags.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1))
        .map(|s| s.arn.clone())
        .collect()
}

/// One reading of the shared state.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Registered ARN → its stage record (JSON; `Null` if unreadable).
    pub registry: BTreeMap<String, Value>,
    /// ARN → the users counted on it, for every stage with a viewer set,
    /// registered or not.
    pub counted: BTreeMap<String, BTreeSet<String>>,
    /// The emulator's account (ARN → stage JSON) and its key, when found.
    pub local_account: Option<(String, BTreeMap<String, Value>)>,
}

impl Snapshot {
    /// Reads a snapshot from the Redis on `port`.
    pub fn read(port: u16, prefix: &str, account_keys: &[String]) -> Result<Snapshot, String> {
        let tagged = ivs_server::store::redis::hash_tagged(prefix).map_err(|e| e.to_string())?;
        let keys = ["stages", "stage", "hb"].map(|k| format!("{tagged}{k}"));
        let mut args = vec!["EVAL", SNAPSHOT_LUA, "3"];
        args.extend(keys.iter().map(String::as_str));
        args.extend(account_keys.iter().map(String::as_str));
        let text = try_command_on(port, &args)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("snapshot script answered {text:?}: {e}"))?;
        let mut snap = Snapshot::default();
        for (arn, record) in v["registry"].as_object().into_iter().flatten() {
            let record = record
                .as_str()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(Value::Null);
            snap.registry.insert(arn.clone(), record);
        }
        for (arn, users) in v["hb"].as_object().into_iter().flatten() {
            let users: BTreeSet<String> = users
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect();
            snap.counted.insert(arn.clone(), users);
        }
        if let (Some(flat), Some(key)) = (v["ivs"].as_array(), v["ivs_key"].as_str()) {
            let mut stages = BTreeMap::new();
            for pair in flat.chunks(2) {
                if let [arn, stage] = pair {
                    let stage = stage
                        .as_str()
                        .and_then(|s| serde_json::from_str(s).ok())
                        .unwrap_or(Value::Null);
                    stages.insert(arn.as_str().unwrap_or_default().to_string(), stage);
                }
            }
            snap.local_account = Some((key.to_string(), stages));
        }
        Ok(snap)
    }

    /// Viewers counted on a registered stage.
    pub fn viewers_on(&self, arn: &str) -> usize {
        self.counted.get(arn).map_or(0, BTreeSet::len)
    }

    /// The registered master stages.
    pub fn masters(&self) -> Vec<String> {
        self.registry
            .iter()
            .filter(|(_, r)| r["master"] == true)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// The emulator account's managed stages, when the account was found.
    pub fn local_managed(&self) -> Option<BTreeSet<String>> {
        self.local_account.as_ref().map(|(_, stages)| {
            stages
                .iter()
                .filter(|(_, s)| local_stage_managed(s))
                .map(|(a, _)| a.clone())
                .collect()
        })
    }
}

/// The limits the fleet runs with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `IVS_VIEWERS_PER_STAGE`.
    pub viewers_per_stage: usize,
    /// `IVS_MAX_STAGES`.
    pub max_stages: usize,
}

/// Invariants that must hold at every instant, settled or not: no stage over
/// capacity, nobody on two stages, at most `max_stages` registered and at
/// most `max_stages` managed stages in IVS.
pub fn safety_violations(
    snap: &Snapshot,
    ivs_managed: Option<&BTreeSet<String>>,
    limits: Limits,
) -> Vec<String> {
    let mut out = Vec::new();
    let over: Vec<(String, usize)> = snap
        .counted
        .iter()
        .filter(|(_, users)| users.len() > limits.viewers_per_stage)
        .map(|(arn, users)| (arn.clone(), users.len()))
        .collect();
    if !over.is_empty() {
        out.push(format!(
            "stages over {} viewers: {}",
            limits.viewers_per_stage,
            examples(over)
        ));
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut twice = Vec::new();
    for (arn, users) in &snap.counted {
        for u in users {
            if let Some(first) = seen.insert(u, arn) {
                twice.push(format!("{u} on {first} and {arn}"));
            }
        }
    }
    if !twice.is_empty() {
        out.push(format!(
            "viewers counted on two stages: {}",
            examples(twice)
        ));
    }
    if snap.registry.len() > limits.max_stages {
        out.push(format!(
            "{} stages registered, limit {}",
            snap.registry.len(),
            limits.max_stages
        ));
    }
    if let Some(managed) = ivs_managed {
        if managed.len() > limits.max_stages {
            out.push(format!(
                "{} managed stages in IVS, limit {}: {}",
                managed.len(),
                limits.max_stages,
                examples(managed)
            ));
        }
    }
    out
}

/// Every invariant of a settled fleet: the safety ones, registry == managed
/// stages in IVS, nobody counted on an unregistered stage, and the counted
/// viewers == the viewers the test was answered 200 for and keeps alive,
/// each on the stage it was told (viewers of unknown fate may be counted or
/// not).
pub fn settled_violations(
    snap: &Snapshot,
    ivs_managed: Option<&BTreeSet<String>>,
    limits: Limits,
    viewers: &Viewers,
) -> Vec<String> {
    let mut out = safety_violations(snap, ivs_managed, limits);
    match ivs_managed {
        None => out.push(
            "the IVS side is unknown (local mode: no emulator account in Redis at any of the \
             expected keys), so registry == managed stages in IVS cannot hold"
                .into(),
        ),
        Some(managed) => {
            let registered: BTreeSet<String> = snap.registry.keys().cloned().collect();
            let not_in_ivs: Vec<&String> = registered.difference(managed).collect();
            let not_registered: Vec<&String> = managed.difference(&registered).collect();
            if !not_in_ivs.is_empty() {
                out.push(format!(
                    "registered stages missing in IVS: {}",
                    examples(not_in_ivs)
                ));
            }
            if !not_registered.is_empty() {
                out.push(format!(
                    "managed stages in IVS the registry does not know (orphans): {}",
                    examples(not_registered)
                ));
            }
        }
    }
    let stray: Vec<(String, usize)> = snap
        .counted
        .iter()
        .filter(|(arn, users)| !users.is_empty() && !snap.registry.contains_key(*arn))
        .map(|(arn, users)| (arn.clone(), users.len()))
        .collect();
    if !stray.is_empty() {
        out.push(format!(
            "viewers counted on unregistered stages: {}",
            examples(stray)
        ));
    }
    let mut counted_on: BTreeMap<&str, &str> = BTreeMap::new();
    for (arn, users) in &snap.counted {
        for u in users {
            counted_on.insert(u, arn);
        }
    }
    let mut missing = Vec::new();
    let mut moved = Vec::new();
    for (user, arn) in viewers.alive() {
        match counted_on.get(user.as_str()) {
            None => missing.push(user.clone()),
            Some(on) if *on != arn => moved.push(format!("{user}: told {arn}, counted on {on}")),
            Some(_) => {}
        }
    }
    let extra: Vec<&str> = counted_on
        .keys()
        .filter(|u| !viewers.alive().contains_key(**u) && !viewers.unknown().contains(**u))
        .copied()
        .collect();
    let total: usize = snap.registry.keys().map(|arn| snap.viewers_on(arn)).sum();
    if !missing.is_empty() || !moved.is_empty() || !extra.is_empty() {
        out.push(format!(
            "sum of counts {total} != {} viewers accepted and alive ({} of unknown fate): \
             not counted {}; on another stage than told {}; counted without a 200 {}",
            viewers.alive().len(),
            viewers.unknown().len(),
            examples(missing),
            examples(moved),
            examples(extra)
        ));
    }
    out
}

/// A background thread that reads a snapshot every few hundred
/// milliseconds and keeps every distinct safety violation it sees.
pub struct Sampler {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: Option<std::thread::JoinHandle<SamplerReport>>,
}

/// What a [`Sampler`] saw.
#[derive(Debug, Default, Clone)]
pub struct SamplerReport {
    /// Snapshots read.
    pub samples: usize,
    /// Snapshots that could not be read (Redis paused or down).
    pub unreadable: usize,
    /// Distinct violations, in the order first seen.
    pub violations: Vec<String>,
}

impl Sampler {
    /// Stops and returns what was seen.
    pub fn stop(mut self) -> SamplerReport {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .map(|t| blocking(|| t.join().expect("the sampler thread")))
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::redis_server::RedisServer;

    const A: &str = "arn:aws:ivs:us-west-2:123456789012:stage/aaaaaaaaaaaa";
    const B: &str = "arn:aws:ivs:us-west-2:123456789012:stage/bbbbbbbbbbbb";
    const C: &str = "arn:aws:ivs:us-west-2:123456789012:stage/cccccccccccc";
    const LIMITS: Limits = Limits {
        viewers_per_stage: 3,
        max_stages: 2,
    };

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Two registered stages, u1 and u2 on A, u3 on B; the test agrees.
    fn settled() -> (Snapshot, BTreeSet<String>, Viewers) {
        let mut snap = Snapshot::default();
        snap.registry.insert(A.into(), json!({"master": true}));
        snap.registry.insert(B.into(), json!({"auto_scaled": true}));
        snap.counted.insert(A.into(), set(&["u1", "u2"]));
        snap.counted.insert(B.into(), set(&["u3"]));
        let mut viewers = Viewers::default();
        viewers.accept("u1", A);
        viewers.accept("u2", A);
        viewers.accept("u3", B);
        (snap, set(&[A, B]), viewers)
    }

    fn violations(snap: &Snapshot, managed: &BTreeSet<String>, viewers: &Viewers) -> String {
        settled_violations(snap, Some(managed), LIMITS, viewers).join("\n")
    }

    #[test]
    fn a_settled_fleet_has_no_violations() {
        let (snap, managed, viewers) = settled();
        assert_eq!(violations(&snap, &managed, &viewers), "");
    }

    #[test]
    fn each_invariant_is_caught() {
        let (snap, managed, viewers) = settled();

        let mut over = snap.clone();
        over.counted.insert(B.into(), set(&["u3", "x", "y", "z"]));
        assert!(safety_violations(&over, None, LIMITS)[0].contains("over 3 viewers"));

        let mut twice = snap.clone();
        twice.counted.insert(B.into(), set(&["u3", "u1"]));
        assert!(violations(&twice, &managed, &viewers).contains("u1 on"));

        let orphan = set(&[A, B, C]);
        let v = violations(&snap, &orphan, &viewers);
        assert!(v.contains("orphans") && v.contains(C), "{v}");
        assert!(v.contains("3 managed stages in IVS, limit 2"), "{v}");

        let v = violations(&snap, &set(&[A]), &viewers);
        assert!(
            v.contains("registered stages missing in IVS") && v.contains(B),
            "{v}"
        );

        let mut stray = snap.clone();
        stray.counted.insert(C.into(), set(&["ghost"]));
        let v = violations(&stray, &managed, &viewers);
        assert!(
            v.contains("unregistered stages") && v.contains("counted without a 200 [\"ghost\"]"),
            "{v}"
        );

        let mut lost = viewers.clone();
        lost.accept("u4", B);
        assert!(violations(&snap, &managed, &lost).contains("not counted [\"u4\"]"));

        let mut moved = viewers.clone();
        moved.accept("u3", A);
        assert!(violations(&snap, &managed, &moved).contains("u3: told"));

        assert!(
            settled_violations(&snap, None, LIMITS, &viewers)[0].contains("IVS side is unknown")
        );
    }

    #[test]
    fn viewers_of_unknown_fate_may_be_counted_or_not() {
        let (snap, managed, mut viewers) = settled();
        assert_eq!(viewers.forget_stage(B), 1);
        assert_eq!(violations(&snap, &managed, &viewers), "");
        let mut gone = snap.clone();
        gone.counted.remove(B);
        assert_eq!(violations(&gone, &managed, &viewers), "");
    }

    #[test]
    fn the_snapshot_reads_the_store_layout_and_the_emulator_account() {
        let redis = RedisServer::start();
        let p = "t:";
        let record = |master: bool| json!({ "arn": A, "master": master }).to_string();
        let member = |arn: &str, user: &str| format!("{}:{arn}{user}", arn.len());
        redis.command(&["ZADD", "{t}:stages", "1", A, "2", B]);
        redis.command(&["HSET", "{t}:stage", &format!("record:{A}"), &record(true)]);
        redis.command(&["HSET", "{t}:stage", &format!("record:{B}"), &record(false)]);
        let (a1, a2, c1) = (member(A, "u1"), member(A, "u2"), member(C, "stray"));
        redis.command(&["ZADD", "{t}:hb", "5", &a1, "6", &a2, "5", &c1]);
        let keys = local_account_keys(p, "123456789012", "us-west-2");

        let snap = Snapshot::read(redis.port(), p, &keys).unwrap();
        assert_eq!(snap.registry.keys().collect::<Vec<_>>(), [A, B]);
        assert_eq!(snap.masters(), [A]);
        assert_eq!(snap.counted[A], set(&["u1", "u2"]));
        assert_eq!(snap.counted[C], set(&["stray"]));
        assert_eq!(snap.viewers_on(B), 0);
        assert!(snap.local_account.is_none());

        let managed = json!({ "arn": A, "tags": { "ManagedBy": "api-server" } }).to_string();
        let foreign = json!({ "arn": C, "tags": { "Owner": "someone" } }).to_string();
        redis.command(&["HSET", &keys[0], A, &managed, C, &foreign]);
        let snap = Snapshot::read(redis.port(), p, &keys).unwrap();
        assert_eq!(snap.local_managed(), Some(set(&[A])));
    }
}
