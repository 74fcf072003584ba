//! Fleet tests' support: several built `ivs-server` processes on one private
//! Redis and one IVS (the emulator's account, or the wiremock fake over
//! HTTP), the viewers a test was told it has, background heartbeats, and
//! the fleet-wide invariant checker.
//!
//! The checker reads the truth from outside the servers: the registry and
//! the per-stage viewer sets straight from Redis (one Lua snapshot, so the
//! numbers are from one instant), the IVS side from the fake's own state or
//! from the emulator's account in Redis, and the servers' view through their
//! HTTP API. A test then compares that with what its own requests were
//! answered, which no server can fake.
//!
//! - `api`: the HTTP calls and their answers;
//! - `viewers`: what the test was told about its viewers, joins, heartbeats;
//! - `invariants`: the Redis snapshot and the invariant checks;
//! - here: the processes, the IVS side, and checks that combine them.
//!
//! Starting, killing and probing processes and Redis are blocking calls; they
//! run under `block_in_place`, so every fleet test must use the multi-thread
//! runtime (`#[tokio::test(flavor = "multi_thread")]`).

mod api;
mod invariants;
mod viewers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use api::{Api, Reply};
pub use invariants::{
    fake_managed, local_account_keys, safety_violations, settled_violations, Limits, Sampler,
    SamplerReport, Snapshot,
};
pub use viewers::{FleetClient, HeartbeatReport, Heartbeats, Join, Viewers};

use crate::fake_ivs::{FakeIvs, REGION};
use crate::redis_cluster::{key_slot, RedisCluster};
use crate::redis_server::RedisServer;
use crate::server_process::ServerProcess;

/// The API key every fleet process accepts, with a limit no test reaches.
pub const API_KEY: &str = "fleet-test-key";
/// The Redis key prefix of every fleet.
pub const PREFIX: &str = "fleet:";
/// The tag that marks a stage as the server's (`service::MANAGED_BY`).
pub const MANAGED_BY: (&str, &str) = ("ManagedBy", "api-server");
/// The static access key id of slot `n` is this followed by `n`, so a
/// request recorded by the fake tells which process sent it (SigV4 puts the
/// key id in the `Authorization` header).
pub const ACCESS_KEY_PREFIX: &str = "AKIDFLEET";
/// The static AWS secret of AWS-mode fleets (must never be logged).
pub const AWS_SECRET: &str = "fleet-test-secret-access-key";
/// How many examples a violation message lists.
const EXAMPLES: usize = 5;

/// Runs blocking work (process start, `kill`, a Redis round trip) without
/// stalling the runtime's other tasks (the fake IVS, heartbeats).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A few items of a list, and how many there are in all.
fn examples<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>) -> String {
    let all: Vec<T> = items.into_iter().collect();
    let shown: Vec<&T> = all.iter().take(EXAMPLES).collect();
    if all.len() > EXAMPLES {
        format!("{} in all, e.g. {shown:?}", all.len())
    } else {
        format!("{shown:?}")
    }
}

/// Where the fleet's IVS lives.
#[derive(Clone)]
pub enum IvsSide {
    /// The emulator, each process with its own account unless the server
    /// keeps the account in Redis (then the checker reads it there).
    Local {
        /// Candidate keys of the account hash.
        account_keys: Vec<String>,
    },
    /// The wiremock fake, over HTTP.
    Fake(Arc<FakeIvs>),
}

impl IvsSide {
    fn managed(&self, snap: &Snapshot) -> Option<BTreeSet<String>> {
        match self {
            IvsSide::Local { .. } => snap.local_managed(),
            IvsSide::Fake(fake) => Some(fake_managed(&fake.stages())),
        }
    }

    fn account_keys(&self) -> Vec<String> {
        match self {
            IvsSide::Local { account_keys } => account_keys.clone(),
            IvsSide::Fake(_) => Vec::new(),
        }
    }
}

/// The Redis a fleet shares: one private server, or a private local cluster
/// (3 primaries + 3 replicas).
pub enum FleetRedis {
    /// One `redis-server`.
    Single(RedisServer),
    /// A Redis Cluster; the processes get every node as a seed.
    Cluster(RedisCluster),
}

impl FleetRedis {
    /// What the processes get as `REDIS_URL`.
    pub fn url(&self) -> String {
        match self {
            FleetRedis::Single(r) => r.url(),
            FleetRedis::Cluster(c) => c.urls().join(","),
        }
    }

    /// The port of the node that serves the fleet's keys now (on a cluster,
    /// the current primary of the prefix's hash slot).
    pub fn port(&self) -> u16 {
        match self {
            FleetRedis::Single(r) => r.port(),
            FleetRedis::Cluster(c) => c.primary_for_slot(Self::slot()),
        }
    }

    /// The hash slot of every key of the fleet's prefix.
    pub fn slot() -> u16 {
        let tagged = ivs_server::store::redis::hash_tagged(PREFIX)
            .unwrap_or_else(|e| panic!("the fleet prefix: {e}"));
        key_slot(&format!("{tagged}stages"))
    }

    /// Runs one command on the node that serves the fleet's keys.
    pub fn command(&self, args: &[&str]) -> String {
        match self {
            FleetRedis::Single(r) => r.command(args),
            FleetRedis::Cluster(c) => c.command(self.port(), args),
        }
    }

    /// The cluster, when the fleet runs on one.
    pub fn cluster_mut(&mut self) -> Option<&mut RedisCluster> {
        match self {
            FleetRedis::Single(_) => None,
            FleetRedis::Cluster(c) => Some(c),
        }
    }
}

struct Slot {
    env: Vec<(String, String)>,
    process: Option<ServerProcess>,
}

/// Several `ivs-server` processes on one private Redis.
pub struct Fleet {
    /// The Redis they share.
    pub redis: FleetRedis,
    /// The limits they run with.
    pub limits: Limits,
    ivs: IvsSide,
    slots: Vec<Slot>,
    /// Killed processes (with their slot), kept for their logs.
    dead: Vec<(usize, ServerProcess)>,
    client: FleetClient,
}

fn env_value<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Fleet {
    /// `n` local-mode processes (no `IVS_BACKEND`: the emulator) with
    /// `extra` settings on top of the fleet's common ones.
    pub fn local(n: usize, extra: &[(&str, &str)]) -> Fleet {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The processes' own defaults where the extra settings leave them.
        let defaults = ivs_server::config::LocalSettings::default();
        let account =
            env_value(&extra, "IVS_LOCAL_ACCOUNT").map_or(defaults.account, str::to_string);
        let region = env_value(&extra, "IVS_LOCAL_REGION").map_or(defaults.region, str::to_string);
        let ivs = IvsSide::Local {
            account_keys: local_account_keys(PREFIX, &account, &region),
        };
        Self::start(n, Self::single(), ivs, move |_| extra.clone())
    }

    fn single() -> FleetRedis {
        FleetRedis::Single(blocking(RedisServer::start))
    }

    /// Like [`Fleet::aws`], on a private Redis Cluster.
    pub fn aws_on_cluster(n: usize, fake: &Arc<FakeIvs>, extra: &[(&str, &str)]) -> Fleet {
        Self::aws_on(
            FleetRedis::Cluster(blocking(RedisCluster::start)),
            n,
            fake,
            extra,
        )
    }

    /// `n` processes with `IVS_BACKEND=aws` against `fake`, slot `i` signing
    /// with access key id `AKIDFLEET<i>`.
    pub fn aws(n: usize, fake: &Arc<FakeIvs>, extra: &[(&str, &str)]) -> Fleet {
        Self::aws_on(Self::single(), n, fake, extra)
    }

    fn aws_on(redis: FleetRedis, n: usize, fake: &Arc<FakeIvs>, extra: &[(&str, &str)]) -> Fleet {
        let url = fake.url();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start(n, redis, IvsSide::Fake(fake.clone()), move |slot| {
            let mut env: Vec<(String, String)> = [
                ("IVS_BACKEND", "aws".to_string()),
                ("IVS_ENDPOINT_URL", url.clone()),
                ("IVS_AWS_REGION", REGION.to_string()),
                (
                    "IVS_AWS_ACCESS_KEY_ID",
                    format!("{ACCESS_KEY_PREFIX}{slot}"),
                ),
                ("IVS_AWS_SECRET_ACCESS_KEY", AWS_SECRET.to_string()),
                // Above the slowest delay a test injects (ListStages 1.5 s).
                ("IVS_AWS_TIMEOUT_MS", "4000".to_string()),
                // The fake has no per-account rate; the budgets would only
                // stretch the scenarios.
                ("IVS_TOKEN_CALLS_PER_SEC", "500".to_string()),
                ("IVS_STAGE_CALLS_PER_SEC", "50".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            env.extend(extra.iter().cloned());
            env
        })
    }

    fn start(
        n: usize,
        redis: FleetRedis,
        ivs: IvsSide,
        env_of: impl Fn(usize) -> Vec<(String, String)>,
    ) -> Fleet {
        let slots: Vec<Slot> = (0..n)
            .map(|slot| {
                let mut env: Vec<(String, String)> = [
                    ("REDIS_URL", redis.url()),
                    ("IVS_REDIS_PREFIX", PREFIX.to_string()),
                    ("IVS_API_KEYS", format!("{API_KEY}:1000000")),
                    ("IVS_SWEEP_INTERVAL_MS", "200".to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                env.extend(env_of(slot));
                Slot { env, process: None }
            })
            .collect();
        let limit = |key: &str, default: usize| {
            slots
                .first()
                .and_then(|s| env_value(&s.env, key))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let limits = Limits {
            viewers_per_stage: limit("IVS_VIEWERS_PER_STAGE", 50),
            max_stages: limit("IVS_MAX_STAGES", 20),
        };
        let mut fleet = Fleet {
            redis,
            limits,
            ivs,
            slots,
            dead: Vec::new(),
            client: FleetClient {
                api: Api::new(),
                bases: Arc::new(RwLock::new(vec![None; n])),
                viewers: Arc::new(Mutex::new(Viewers::default())),
            },
        };
        for slot in 0..n {
            fleet.launch(slot);
        }
        fleet
    }

    fn launch(&mut self, slot: usize) {
        let env = self.slots[slot].env.clone();
        let process = blocking(|| {
            let pairs: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            ServerProcess::start(&pairs)
        });
        self.set_base(slot, Some(process.base.clone()));
        self.slots[slot].process = Some(process);
    }

    fn set_base(&self, slot: usize, base: Option<String>) {
        self.client.bases.write().unwrap_or_else(|e| e.into_inner())[slot] = base;
    }

    /// A handle tasks can share.
    pub fn client(&self) -> FleetClient {
        self.client.clone()
    }

    /// The HTTP client.
    pub fn api(&self) -> &Api {
        &self.client.api
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// The live processes: (slot, base URL).
    pub fn live(&self) -> Vec<(usize, String)> {
        self.client.live()
    }

    /// The base URL of a live slot.
    pub fn base(&self, slot: usize) -> String {
        self.client
            .base(slot)
            .unwrap_or_else(|| panic!("slot {slot} is down"))
    }

    /// The slot whose access key signed this `Authorization` header (AWS mode).
    pub fn slot_of(authorization: Option<&str>) -> Option<usize> {
        let rest = authorization?
            .split(&format!("Credential={ACCESS_KEY_PREFIX}"))
            .nth(1)?;
        rest.split('/').next()?.parse().ok()
    }

    /// The OS process id of `slot`, while it runs.
    pub fn pid(&self, slot: usize) -> Option<u32> {
        self.slots.get(slot)?.process.as_ref()?.pid()
    }

    /// `SIGKILL`s the process of `slot`; it stops receiving traffic first.
    pub fn kill(&mut self, slot: usize) {
        self.set_base(slot, None);
        if let Some(mut p) = self.slots[slot].process.take() {
            blocking(|| p.kill());
            self.dead.push((slot, p));
        }
    }

    /// Starts the slot again (same environment) after [`Fleet::kill`].
    pub fn restart(&mut self, slot: usize) {
        assert!(self.slots[slot].process.is_none(), "slot {slot} is running");
        let again = self
            .dead
            .iter()
            .rev()
            .find(|(s, _)| *s == slot)
            .map(|(_, p)| blocking(|| p.start_again()));
        match again {
            Some(process) => {
                self.set_base(slot, Some(process.base.clone()));
                self.slots[slot].process = Some(process);
            }
            None => self.launch(slot),
        }
    }

    /// One snapshot of the shared state (panics when Redis cannot be read).
    pub fn snapshot(&self) -> Snapshot {
        let port = self.redis.port();
        let keys = self.ivs.account_keys();
        blocking(|| Snapshot::read(port, PREFIX, &keys)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The managed stages in IVS, as of `snap` (local mode) or now (fake).
    pub fn ivs_managed(&self, snap: &Snapshot) -> Option<BTreeSet<String>> {
        self.ivs.managed(snap)
    }

    /// The settled invariants, from Redis, IVS and every live process's API.
    pub async fn violations(&self) -> Vec<String> {
        let snap = self.snapshot();
        let managed = self.ivs_managed(&snap);
        let mut out = {
            let viewers = self.client.viewers();
            settled_violations(&snap, managed.as_ref(), self.limits, &viewers)
        };
        let total: u64 = snap
            .registry
            .keys()
            .map(|a| snap.viewers_on(a) as u64)
            .sum();
        for (slot, base) in self.live() {
            match self.api().stage_list(&base).await {
                Err(e) => out.push(format!("instance {slot}: {e}")),
                Ok(listed) => {
                    let expected: BTreeMap<String, u64> = snap
                        .registry
                        .keys()
                        .map(|a| (a.clone(), snap.viewers_on(a) as u64))
                        .collect();
                    if listed != expected {
                        out.push(format!(
                            "instance {slot}: /api/stage/list {listed:?} != Redis {expected:?}"
                        ));
                    }
                }
            }
            let stats = self.api().get(&base, "/api/stats").await;
            let said = stats.data()["totalViewers"].as_u64();
            if stats.status != Some(200) || said != Some(total) {
                out.push(format!(
                    "instance {slot}: /api/stats totalViewers {said:?} ({}) != Redis sum {total}",
                    stats.outcome()
                ));
            }
        }
        out
    }

    /// Waits until every invariant holds, at most `within`; returns the
    /// violations of the last check (empty: settled).
    pub async fn settle(&self, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let v = self.violations().await;
            if v.is_empty() || Instant::now() >= deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Starts sampling the safety invariants in the background.
    pub fn sampler(&self) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let port = self.redis.port();
        let keys = self.ivs.account_keys();
        let ivs = self.ivs.clone();
        let limits = self.limits;
        let thread = std::thread::spawn(move || {
            let mut report = SamplerReport::default();
            while !flag.load(Ordering::Acquire) {
                match Snapshot::read(port, PREFIX, &keys) {
                    Ok(snap) => {
                        report.samples += 1;
                        let managed = ivs.managed(&snap);
                        for v in safety_violations(&snap, managed.as_ref(), limits) {
                            if !report.violations.contains(&v) && report.violations.len() < 20 {
                                report.violations.push(v);
                            }
                        }
                    }
                    Err(_) => report.unreadable += 1,
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            report
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Log hygiene of every process, live or killed: no line reports a
    /// panic, and none holds the API key or the AWS secret.
    pub fn log_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for needle in ["panicked", API_KEY, AWS_SECRET] {
            for line in self.log_lines_with(needle) {
                out.push(format!("{needle:?} in: {line}"));
            }
        }
        out
    }

    /// Log lines of every process, live or killed, containing `needle`.
    pub fn log_lines_with(&self, needle: &str) -> Vec<String> {
        self.slots
            .iter()
            .filter_map(|s| s.process.as_ref())
            .chain(self.dead.iter().map(|(_, p)| p))
            .flat_map(|p| p.log_lines_with(needle))
            .collect()
    }
}

/// Collects a scenario's failures, so that one run reports all of them.
#[derive(Debug, Default)]
pub struct Findings(Vec<String>);

impl Findings {
    /// Records `what` unless `problems` is empty.
    pub fn check(&mut self, what: &str, problems: Vec<String>) {
        if !problems.is_empty() {
            self.0
                .push(format!("{what}:\n    - {}", problems.join("\n    - ")));
        }
    }

    /// Records `what` unless `ok`.
    pub fn require(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.0.push(what.into());
        }
    }

    /// Panics with every finding, if any.
    pub fn assert_none(self, scenario: &str) {
        assert!(
            self.0.is_empty(),
            "{scenario}: {} problem(s):\n  * {}",
            self.0.len(),
            self.0.join("\n  * ")
        );
    }
}
