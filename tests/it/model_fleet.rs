//! Model-based test of the fleet's viewer and stage accounting (issue 12).
//!
//! Proptest generates sequences of operations (joins, heartbeats, leaves,
//! maintenance rounds, scale-ups, scale-downs, crashes, the passing of time)
//! and runs them against two `App` instances that share one store and one
//! emulated IVS account, as two processes of a fleet do. A small model
//! follows what the operations must have done; after every step the
//! invariants are checked against the store, the emulator and the model.
//! When a case fails, proptest shrinks the sequence to a minimal one.
//!
//! Everything runs twice: on the in-process `MemoryStore` and on a Redis
//! store (one private `redis-server` per test function, a fresh key prefix
//! per case). `docs/fleet-tests.md` ("Model-based test") has the decisions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ivs_client::model::{Tags, TokenRequest, ViewerRef};
use ivs_server::config::{IvsSettings, Limits, Settings};
use ivs_server::ivs::local::LocalIvs;
use ivs_server::ivs::{BackendHealth, IvsBackend, IvsError, IvsStage, ParticipantToken, TokenSpec};
use ivs_server::service::{now_ms, App, ScaleResult, ServiceError, MANAGED_BY};
use ivs_server::store::memory::MemoryStore;
use ivs_server::store::redis::RedisStore;
use ivs_server::store::{IntentAction, JoinOutcome, JoinRequest, Millis, StageLoad, ViewerStore};
use ivs_test_support::redis_server::RedisServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const CAPACITY: u32 = 3;
const SCALE_UP_AT: u32 = 2;
const MAX_STAGES: u32 = 3;
/// Short, so that viewers expire within a case (and between steps, which
/// the model allows for).
const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(150);
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// The maintenance lease's TTL, as `maintenance_round` computes it.
const MAINTENANCE_TTL: Duration = Duration::from_secs(1);
/// The lease names the service uses (crate-private there).
const STAGE_LEASE: &str = "scale-up";
const MAINTENANCE_LEASE: &str = "maintenance";
/// Viewer ids are drawn from this many, so rejoins and leaves of absent
/// viewers happen often; a full fleet holds `CAPACITY * MAX_STAGES`.
const USERS: u8 = 12;

fn settings() -> Settings {
    Settings {
        ivs: IvsSettings {
            deployment_id: Some("model".into()),
            ..IvsSettings::default()
        },
        limits: Limits {
            max_stages: MAX_STAGES,
            viewers_per_stage: CAPACITY,
            scale_up_threshold: SCALE_UP_AT,
            scale_down_threshold: 1,
            scale_down_min_age: Duration::ZERO,
            heartbeat_timeout: HEARTBEAT_TIMEOUT,
            sweep_interval: SWEEP_INTERVAL,
            ..Limits::default()
        },
        ..Settings::default()
    }
}

// ---------------------------------------------------------------- operations

/// Where an instance dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrashPoint {
    /// In a scale-up: the creation intent is recorded, CreateStage not sent.
    BeforeCreate,
    /// In a scale-up: IVS created the stage, the registry does not have it.
    AfterCreate,
    /// In a maintenance round that scales an emptied stage down: the stage
    /// left the registry (deletion intent), DeleteStage not sent.
    BeforeDelete,
}

#[derive(Debug, Clone)]
enum Op {
    /// `POST /api/token/viewer`.
    Join { inst: usize, user: u8 },
    /// `POST /api/viewer/heartbeat` to the stage its last join named.
    Heartbeat { inst: usize, user: u8 },
    /// `POST /api/viewer/leave` from the stage its last join named.
    Leave { inst: usize, user: u8 },
    /// One maintenance round (sweep, scale-down, deletions; with
    /// `reconcile`, the round that also reconciles with IVS).
    Maintain { inst: usize, reconcile: bool },
    /// `scale_up_now`.
    ScaleUp { inst: usize },
    /// Every viewer of one auto-scaled stage leaves, then maintenance runs
    /// (it must drain and delete the stage).
    ScaleDown { inst: usize, pick: u8 },
    /// The instance dies at `at` (or at rest, if its work never gets
    /// there), and a new instance takes its place.
    Crash { inst: usize, at: CrashPoint },
    /// Time passes beyond the heartbeat timeout.
    ExpireTime,
}

fn op() -> impl Strategy<Value = Op> {
    let inst = 0..2usize;
    let user = 0..USERS;
    let point = prop_oneof![
        Just(CrashPoint::BeforeCreate),
        Just(CrashPoint::AfterCreate),
        Just(CrashPoint::BeforeDelete),
    ];
    prop_oneof![
        8 => (inst.clone(), user.clone()).prop_map(|(inst, user)| Op::Join { inst, user }),
        4 => (inst.clone(), user.clone()).prop_map(|(inst, user)| Op::Heartbeat { inst, user }),
        3 => (inst.clone(), user).prop_map(|(inst, user)| Op::Leave { inst, user }),
        3 => (inst.clone(), prop::bool::weighted(0.3))
            .prop_map(|(inst, reconcile)| Op::Maintain { inst, reconcile }),
        2 => inst.clone().prop_map(|inst| Op::ScaleUp { inst }),
        1 => (inst.clone(), any::<u8>()).prop_map(|(inst, pick)| Op::ScaleDown { inst, pick }),
        2 => (inst, point).prop_map(|(inst, at)| Op::Crash { inst, at }),
        1 => Just(Op::ExpireTime),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..60)
}

// ---------------------------------------------------------------- the model

/// A viewer the model believes counted, and when its last sign of life
/// reached the store: between `lo` and `hi`, the clock read before and after
/// the call (the store stamps it with its own reading in between).
#[derive(Debug, Clone)]
struct Counted {
    stage: String,
    lo: Millis,
    hi: Millis,
}

#[derive(Debug, Default)]
struct Model {
    /// User → where it is counted.
    counted: BTreeMap<String, Counted>,
    /// User → the stage its latest join answer named (kept after it leaves:
    /// a client heartbeats and leaves there).
    last_stage: HashMap<String, String>,
    /// The maintenance lease as last taken: (instance, clock before, after).
    maintenance: Option<(usize, Millis, Millis)>,
}

impl Model {
    /// A maintenance round that ran between `lo` and `hi` swept every viewer
    /// whose last sign of life is older than its `now - timeout`. For those
    /// whose stamp and the sweep's overlap, either outcome is right: the
    /// model takes the store's.
    async fn swept(&mut self, lo: Millis, hi: Millis, store: &dyn ViewerStore) {
        let timeout = HEARTBEAT_TIMEOUT.as_millis() as Millis;
        let mut gone = Vec::new();
        for (user, c) in &self.counted {
            let expired = if c.hi < lo - timeout {
                true
            } else if c.lo >= hi - timeout {
                false
            } else {
                let viewers = store.viewers(&c.stage).await.unwrap();
                !viewers.iter().any(|v| &v.user_id == user)
            };
            if expired {
                gone.push(user.clone());
            }
        }
        for user in gone {
            self.counted.remove(&user);
        }
    }

    /// Whether `inst` must (`Some(true)`), must not (`Some(false)`) or may
    /// (`None`) get the maintenance lease at a call made between `lo` and `hi`.
    fn maintenance_expected(&self, inst: usize, lo: Millis, hi: Millis) -> Option<bool> {
        let ttl = MAINTENANCE_TTL.as_millis() as Millis;
        match self.maintenance {
            None => Some(true),
            Some((holder, _, _)) if holder == inst => Some(true),
            // Renewed at some instant in [taken_lo, taken_hi]; 5 ms of slack
            // for the store's own clock reading.
            Some((_, taken_lo, _)) if hi + 5 < taken_lo + ttl => Some(false),
            Some((_, _, taken_hi)) if lo > taken_hi + ttl + 5 => Some(true),
            Some(_) => None,
        }
    }
}

// ---------------------------------------------------------------- crashes

/// The shared emulator as one instance reaches it. A crash point can be
/// armed: the call that gets there never returns (and signals `reached`),
/// and the test drops the work that made it, as a killed process stops.
struct Crashable {
    ivs: Arc<LocalIvs>,
    armed: Mutex<Option<CrashPoint>>,
    reached: tokio::sync::Notify,
}

impl Crashable {
    fn armed(&self, at: CrashPoint) -> bool {
        *self.armed.lock().unwrap() == Some(at)
    }

    async fn die<T>(&self) -> T {
        self.reached.notify_one();
        std::future::pending().await
    }
}

#[async_trait]
impl IvsBackend for Crashable {
    async fn create_stage(&self, name: &str, tags: &Tags) -> Result<IvsStage, IvsError> {
        if self.armed(CrashPoint::BeforeCreate) {
            return self.die().await;
        }
        let stage = self.ivs.create_stage(name, tags).await?;
        if self.armed(CrashPoint::AfterCreate) {
            return self.die().await;
        }
        Ok(stage)
    }
    async fn get_stage(&self, arn: &str) -> Result<IvsStage, IvsError> {
        self.ivs.get_stage(arn).await
    }
    async fn list_stages(&self) -> Result<Vec<IvsStage>, IvsError> {
        self.ivs.list_stages().await
    }
    async fn update_stage(&self, arn: &str, name: &str) -> Result<IvsStage, IvsError> {
        self.ivs.update_stage(arn, name).await
    }
    async fn delete_stage(&self, arn: &str) -> Result<(), IvsError> {
        if self.armed(CrashPoint::BeforeDelete) {
            return self.die().await;
        }
        self.ivs.delete_stage(arn).await
    }
    async fn create_token(&self, spec: &TokenSpec) -> Result<ParticipantToken, IvsError> {
        self.ivs.create_token(spec).await
    }
    async fn publisher_live(&self, arn: &str) -> Result<bool, IvsError> {
        self.ivs.publisher_live(arn).await
    }
    async fn disconnect_participant(&self, arn: &str, participant: &str) -> Result<(), IvsError> {
        self.ivs.disconnect_participant(arn, participant).await
    }
    async fn health(&self) -> BackendHealth {
        self.ivs.health().await
    }
    fn keeps_participant_id(&self) -> bool {
        self.ivs.keeps_participant_id()
    }
}

// ---------------------------------------------------------------- the system

struct Instance {
    app: Arc<App>,
    ivs: Arc<Crashable>,
}

/// Two instances on one store and one emulated account.
struct Fleet {
    store: Arc<dyn ViewerStore>,
    ivs: Arc<LocalIvs>,
    instances: [Instance; 2],
}

async fn instance(store: &Arc<dyn ViewerStore>, ivs: &Arc<LocalIvs>) -> Instance {
    let view = Arc::new(Crashable {
        ivs: ivs.clone(),
        armed: Mutex::new(None),
        reached: tokio::sync::Notify::new(),
    });
    let app = App::new(settings(), store.clone(), view.clone());
    app.ensure_master().await.unwrap();
    Instance { app, ivs: view }
}

fn user_id(user: u8) -> String {
    format!("u{user}")
}

/// Store or emulator failures are the harness's, not the property's.
fn broken(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(format!("infrastructure: {e}"))
}

impl Fleet {
    async fn start(store: Arc<dyn ViewerStore>) -> Fleet {
        let ivs = Arc::new(LocalIvs::generate("ap-northeast-1", "123456789012").unwrap());
        let instances = [instance(&store, &ivs).await, instance(&store, &ivs).await];
        Fleet {
            store,
            ivs,
            instances,
        }
    }

    fn app(&self, inst: usize) -> &Arc<App> {
        &self.instances[inst].app
    }

    /// Waits for the scale-ups joins started in the background, so that each
    /// step is checked on a state nothing is changing.
    async fn quiesce(&self) {
        for i in &self.instances {
            i.app.drain_tasks(Duration::from_secs(10)).await;
        }
    }

    async fn stages(&self) -> Vec<StageLoad> {
        self.store.stages().await.unwrap()
    }

    /// What `scale_up_now` must answer on the current (quiet) state.
    async fn expected_scale(&self) -> ScaleResult {
        let stages = self.stages().await;
        let min_active = stages
            .iter()
            .filter(|s| s.record.kind.is_assignable() && !s.record.draining)
            .map(|s| s.viewers)
            .min();
        if min_active.is_some_and(|n| n < SCALE_UP_AT) {
            return ScaleResult::NotNeeded;
        }
        if stages
            .iter()
            .any(|s| s.record.kind.is_assignable() && s.record.draining)
        {
            return ScaleResult::Revived;
        }
        // Creation intents (crash leftovers) are resolved first; deletions
        // in flight keep counting.
        let deleting = self
            .store
            .intents()
            .await
            .unwrap()
            .iter()
            .filter(|i| i.action == IntentAction::Delete)
            .count();
        if stages.len() + deleting < MAX_STAGES as usize {
            ScaleResult::Added
        } else {
            ScaleResult::AtLimit
        }
    }

    /// One maintenance round on `inst`; whether it ran (only the holder of
    /// the maintenance lease acts), checked against the model's lease.
    async fn maintain(
        &self,
        model: &mut Model,
        inst: usize,
        reconcile: bool,
    ) -> Result<bool, TestCaseError> {
        let round = if reconcile { 1 } else { 2 };
        let lo = now_ms();
        let ran = self
            .app(inst)
            .maintenance_round(round)
            .await
            .map_err(broken)?;
        let hi = now_ms();
        if let Some(expected) = model.maintenance_expected(inst, lo, hi) {
            prop_assert_eq!(ran, expected, "instance {} ran maintenance", inst);
        }
        if ran {
            model.maintenance = Some((inst, lo, hi));
            model.swept(lo, hi, &*self.store).await;
        }
        Ok(ran)
    }

    /// Every viewer of one auto-scaled, non-draining stage leaves (through
    /// `inst`); the stage, or `None` when there is none.
    async fn empty_a_stage(
        &self,
        model: &mut Model,
        inst: usize,
        pick: u8,
    ) -> Result<Option<String>, TestCaseError> {
        let autos: Vec<String> = self
            .stages()
            .await
            .into_iter()
            .filter(|s| s.record.kind.is_auto_scaled() && !s.record.draining)
            .map(|s| s.record.arn)
            .collect();
        if autos.is_empty() {
            return Ok(None);
        }
        let arn = autos[usize::from(pick) % autos.len()].clone();
        let on_it: Vec<String> = model
            .counted
            .iter()
            .filter(|(_, c)| c.stage == arn)
            .map(|(u, _)| u.clone())
            .collect();
        for user in on_it {
            let left = self.app(inst).leave(viewer(&user, &arn)).await;
            prop_assert!(left.is_ok(), "{} could not leave {}: {:?}", user, arn, left);
            model.counted.remove(&user);
        }
        Ok(Some(arn))
    }

    async fn apply(&mut self, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Join { inst, user } => self.join(model, inst, user_id(user)).await,
            Op::Heartbeat { inst, user } => self.heartbeat(model, inst, user_id(user)).await,
            Op::Leave { inst, user } => self.leave(model, inst, user_id(user)).await,
            Op::Maintain { inst, reconcile } => {
                self.maintain(model, inst, reconcile).await.map(drop)
            }
            Op::ScaleUp { inst } => {
                let expected = self.expected_scale().await;
                let got = self.app(inst).scale_up_now().await.map_err(broken)?;
                prop_assert_eq!(got, expected);
                Ok(())
            }
            Op::ScaleDown { inst, pick } => {
                let Some(arn) = self.empty_a_stage(model, inst, pick).await? else {
                    return Ok(());
                };
                // Whichever instance holds the maintenance lease acts; one does.
                let ran = self.maintain(model, inst, false).await?
                    || self.maintain(model, 1 - inst, false).await?;
                prop_assert!(ran, "neither instance ran maintenance");
                prop_assert!(
                    self.store.stage(&arn).await.unwrap().is_none(),
                    "the emptied stage {} is still registered",
                    arn
                );
                prop_assert!(
                    matches!(self.ivs.get_stage(&arn).await, Err(IvsError::NotFound(_))),
                    "the emptied stage {} still exists in IVS",
                    arn
                );
                Ok(())
            }
            Op::Crash { inst, at } => self.crash(model, inst, at).await,
            Op::ExpireTime => {
                tokio::time::sleep(HEARTBEAT_TIMEOUT + Duration::from_millis(10)).await;
                Ok(())
            }
        }
    }

    async fn join(
        &self,
        model: &mut Model,
        inst: usize,
        user: String,
    ) -> Result<(), TestCaseError> {
        let lo = now_ms();
        let answer = self
            .app(inst)
            .viewer_token(TokenRequest::new(user.parse().unwrap()))
            .await;
        let hi = now_ms();
        match answer {
            Ok(token) => {
                if let Some(c) = model.counted.get(&user) {
                    prop_assert_eq!(
                        token.stage_arn.as_str(),
                        c.stage.as_str(),
                        "a rejoin moved {}",
                        user
                    );
                }
                let stage = token.stage_arn.into_string();
                model.last_stage.insert(user.clone(), stage.clone());
                model.counted.insert(user, Counted { stage, lo, hi });
            }
            Err(e) => {
                prop_assert!(
                    !model.counted.contains_key(&user),
                    "a counted viewer's rejoin failed: {:?}",
                    e
                );
                // Refused only when the fleet is full and cannot grow.
                prop_assert!(
                    matches!(e, ServiceError::StageLimitReached { .. }),
                    "join refused: {:?}",
                    e
                );
                self.quiesce().await;
                let stages = self.stages().await;
                let room = stages
                    .iter()
                    .filter(|s| s.record.kind.is_assignable())
                    .any(|s| s.record.draining || s.viewers < CAPACITY);
                prop_assert!(!room, "join refused with room: {:?}", stages);
                prop_assert_eq!(self.expected_scale().await, ScaleResult::AtLimit);
            }
        }
        Ok(())
    }

    /// The stage a client of `user` would name: its last join's, else the
    /// master (where it was never counted).
    async fn stage_for(&self, model: &Model, user: &str) -> String {
        match model.last_stage.get(user) {
            Some(stage) => stage.clone(),
            None => self.store.master().await.unwrap().unwrap_or_default(),
        }
    }

    async fn heartbeat(
        &self,
        model: &mut Model,
        inst: usize,
        user: String,
    ) -> Result<(), TestCaseError> {
        let stage = self.stage_for(model, &user).await;
        let lo = now_ms();
        let answer = self.app(inst).heartbeat(viewer(&user, &stage)).await;
        let hi = now_ms();
        match model.counted.get_mut(&user) {
            Some(c) if c.stage == stage => {
                prop_assert!(
                    answer.is_ok(),
                    "heartbeat of counted {}: {:?}",
                    user,
                    answer
                );
                (c.lo, c.hi) = (lo, hi);
            }
            // Never resurrects a viewer that left or expired.
            _ => match answer {
                Err(e) => prop_assert!(
                    matches!(e, ServiceError::ViewerNotCounted { .. }),
                    "{:?}",
                    e
                ),
                Ok(_) => prop_assert!(false, "heartbeat of uncounted {} accepted", user),
            },
        }
        Ok(())
    }

    async fn leave(
        &self,
        model: &mut Model,
        inst: usize,
        user: String,
    ) -> Result<(), TestCaseError> {
        let stage = self.stage_for(model, &user).await;
        let answer = self.app(inst).leave(viewer(&user, &stage)).await;
        match model.counted.get(&user) {
            Some(c) if c.stage == stage => {
                prop_assert!(answer.is_ok(), "leave of counted {}: {:?}", user, answer);
                model.counted.remove(&user);
            }
            // Idempotent: a repeated leave answers with the recorded time,
            // an unknown viewer 404.
            _ => {
                if let Err(e) = answer {
                    prop_assert!(
                        matches!(e, ServiceError::ViewerNotCounted { .. }),
                        "{:?}",
                        e
                    );
                }
            }
        }
        Ok(())
    }

    /// Joins viewers straight into the store (as another instance's joins
    /// whose scale-up has not run yet) until a scale-up is needed or every
    /// user is counted, so that crashes in a scale-up find one to die in.
    async fn load_until_a_stage_is_needed(&self, model: &mut Model) {
        for user in (0..USERS).map(user_id) {
            if self.expected_scale().await != ScaleResult::NotNeeded {
                return;
            }
            if model.counted.contains_key(&user) {
                continue;
            }
            let lo = now_ms();
            let join = JoinRequest {
                user_id: user.clone(),
                participant_id: format!("p-{user}-{lo}"),
                now: lo,
                capacity: CAPACITY,
                scale_up_at: SCALE_UP_AT,
                announce: true,
            };
            let outcome = self.store.join(&join).await.unwrap();
            let hi = now_ms();
            if let JoinOutcome::Joined { stage_arn, .. } = outcome {
                model.last_stage.insert(user.clone(), stage_arn.clone());
                let stage = stage_arn;
                model.counted.insert(user, Counted { stage, lo, hi });
            }
        }
    }

    /// `inst` dies at `at` (the work that got there is dropped), its leases
    /// run out, and a new instance replaces it on the same store and account.
    async fn crash(
        &mut self,
        model: &mut Model,
        inst: usize,
        at: CrashPoint,
    ) -> Result<(), TestCaseError> {
        let view = self.instances[inst].ivs.clone();
        *view.armed.lock().unwrap() = Some(at);
        let app = self.app(inst).clone();
        match at {
            CrashPoint::BeforeCreate | CrashPoint::AfterCreate => {
                self.load_until_a_stage_is_needed(model).await;
                let expected = self.expected_scale().await;
                tokio::select! {
                    got = app.scale_up_now() => {
                        // Nothing to create: it dies at rest.
                        let got = got.map_err(broken)?;
                        prop_assert_eq!(got, expected);
                        prop_assert_ne!(got, ScaleResult::Added);
                    }
                    () = view.reached.notified() => {
                        prop_assert_eq!(expected, ScaleResult::Added);
                    }
                }
            }
            CrashPoint::BeforeDelete => {
                self.empty_a_stage(model, inst, 0).await?;
                let lo = now_ms();
                let ran = tokio::select! {
                    ran = app.maintenance_round(2) => ran.map_err(broken)?,
                    () = view.reached.notified() => true,
                };
                let hi = now_ms();
                if let Some(expected) = model.maintenance_expected(inst, lo, hi) {
                    prop_assert_eq!(ran, expected, "instance {} ran maintenance", inst);
                }
                if ran {
                    model.maintenance = Some((inst, lo, hi));
                    model.swept(lo, hi, &*self.store).await;
                }
            }
        }
        // The dead instance's leases run out. The test cannot wait their
        // TTL (30 s for the stage lease), so it ends them as expiry would:
        // the next holder gets a newer fencing token either way.
        let dead = app.instance_id().to_string();
        for intent in self.store.intents().await.unwrap() {
            if intent.owner.starts_with(&format!("{dead}/")) {
                self.store
                    .release_lease(STAGE_LEASE, &intent.owner)
                    .await
                    .unwrap();
            }
        }
        self.store
            .release_lease(MAINTENANCE_LEASE, &dead)
            .await
            .unwrap();
        if model
            .maintenance
            .is_some_and(|(holder, _, _)| holder == inst)
        {
            model.maintenance = None;
        }
        self.instances[inst] = instance(&self.store, &self.ivs).await;
        Ok(())
    }

    /// The invariants, on a quiet state.
    async fn check(&self, model: &Model) -> Result<(), TestCaseError> {
        let stages = self.stages().await;
        let intents = self.store.intents().await.unwrap();
        let managed: Vec<IvsStage> = self
            .ivs
            .list_stages()
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.tags.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1))
            .collect();
        let in_ivs: HashSet<&str> = managed.iter().map(|s| s.arn.as_str()).collect();
        let registered: HashSet<&str> = stages.iter().map(|s| s.record.arn.as_str()).collect();

        // (1) capacity, (2) counted once, and the counts agree with the sets.
        let mut counted: BTreeMap<String, String> = BTreeMap::new();
        for s in &stages {
            let viewers = self.store.viewers(&s.record.arn).await.unwrap();
            prop_assert_eq!(
                viewers.len(),
                s.viewers as usize,
                "count of {}",
                s.record.arn
            );
            prop_assert!(
                s.viewers <= CAPACITY,
                "{} holds {}",
                s.record.arn,
                s.viewers
            );
            for v in viewers {
                let before = counted.insert(v.user_id.clone(), s.record.arn.clone());
                prop_assert!(before.is_none(), "{} counted on two stages", v.user_id);
            }
        }
        // Nobody counted on a stage outside the registry.
        for arn in in_ivs
            .iter()
            .copied()
            .chain(model.last_stage.values().map(String::as_str))
        {
            if !registered.contains(arn) {
                let viewers = self.store.viewers(arn).await.unwrap();
                prop_assert!(
                    viewers.is_empty(),
                    "viewers on unregistered {}: {:?}",
                    arn,
                    viewers
                );
            }
        }
        // (3) the limit holds in IVS, (4) and in the registry with intents.
        prop_assert!(
            managed.len() <= MAX_STAGES as usize,
            "{} managed stages in IVS",
            managed.len()
        );
        prop_assert!(
            stages.len() + intents.len() <= MAX_STAGES as usize,
            "{} registered + {} intents",
            stages.len(),
            intents.len()
        );
        // (5) every registered stage exists in IVS; and every managed stage
        // in IVS is registered or named by a pending intent (counted toward
        // the limit until it is resolved).
        for arn in &registered {
            prop_assert!(in_ivs.contains(arn), "registered {} is not in IVS", arn);
        }
        for s in &managed {
            let accounted = registered.contains(s.arn.as_str())
                || intents.iter().any(|i| match i.action {
                    IntentAction::Create => i.target == s.name,
                    _ => i.target == s.arn,
                });
            prop_assert!(accounted, "{} ({}) is in IVS with no record", s.arn, s.name);
        }
        // (6) exactly one master, and the pointer names it.
        let masters: Vec<&str> = stages
            .iter()
            .filter(|s| s.record.kind.is_master())
            .map(|s| s.record.arn.as_str())
            .collect();
        prop_assert_eq!(masters.len(), 1, "masters: {:?}", masters);
        let pointer = self.store.master().await.unwrap();
        prop_assert_eq!(pointer.as_deref(), Some(masters[0]));
        // (7) the store counts exactly the viewers the model does.
        let expected: BTreeMap<String, String> = model
            .counted
            .iter()
            .map(|(u, c)| (u.clone(), c.stage.clone()))
            .collect();
        prop_assert_eq!(counted, expected, "counted viewers (store, model)");
        Ok(())
    }

    /// After the sequence: maintenance and reconciliation until nothing is
    /// left to resolve; then the registry is exactly the managed stages in
    /// IVS and no intent remains.
    async fn settle(&self, model: &mut Model) -> Result<(), TestCaseError> {
        for _ in 0..3 {
            for inst in 0..2 {
                self.maintain(model, inst, true).await?;
                self.app(inst).reconcile().await.map_err(broken)?;
            }
            self.quiesce().await;
            if self.store.intents().await.unwrap().is_empty() {
                break;
            }
        }
        self.check(model).await?;
        let intents = self.store.intents().await.unwrap();
        prop_assert!(intents.is_empty(), "intents left: {:?}", intents);
        let mut registered: Vec<String> = self
            .stages()
            .await
            .into_iter()
            .map(|s| s.record.arn)
            .collect();
        let mut in_ivs: Vec<String> = self
            .ivs
            .list_stages()
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.tags.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1))
            .map(|s| s.arn)
            .collect();
        registered.sort();
        in_ivs.sort();
        prop_assert_eq!(registered, in_ivs, "registry vs managed stages in IVS");
        Ok(())
    }
}

async fn run_case(store: Arc<dyn ViewerStore>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut fleet = Fleet::start(store).await;
    let mut model = Model::default();
    fleet.check(&model).await?;
    for (step, op) in ops.iter().enumerate() {
        // Shrinking stops at the shortest length generated; what follows the
        // failing step is noise, so the message shows the steps up to it.
        let at = |e: TestCaseError| {
            let steps: Vec<String> = ops[..=step].iter().map(|o| format!("{o:?}")).collect();
            TestCaseError::fail(format!(
                "step {step} {op:?}: {e}\nsteps: {}",
                steps.join(", ")
            ))
        };
        fleet.apply(&mut model, op).await.map_err(at)?;
        fleet.quiesce().await;
        fleet.check(&model).await.map_err(at)?;
    }
    fleet.settle(&mut model).await.map_err(|e| {
        let steps: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
        TestCaseError::fail(format!("settling: {e}\nsteps: {}", steps.join(", ")))
    })
}

/// Runs the generated cases, one fresh store each (`make_store`), on one
/// runtime. `PROPTEST_CASES` overrides the number of cases.
fn check_model<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn ViewerStore>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut runner = TestRunner::new(Config {
        cases,
        // The failing sequence is printed; nothing is written to the tree.
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    });
    let result = runner.run(&ops(), |ops| {
        rt.block_on(async { run_case(make_store().await, ops).await })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn model_holds_on_the_memory_store() {
    check_model(|| async { Arc::new(MemoryStore::new()) as Arc<dyn ViewerStore> });
}

#[test]
fn model_holds_on_the_redis_store() {
    let redis = RedisServer::start();
    let url = redis.url();
    let case = AtomicU64::new(0);
    check_model(|| {
        // A fresh prefix per case: cases never see each other's keys.
        let prefix = format!("model{}:", case.fetch_add(1, Ordering::Relaxed));
        let url = url.clone();
        async move {
            Arc::new(RedisStore::connect(&url, &prefix).await.unwrap()) as Arc<dyn ViewerStore>
        }
    });
}

fn viewer(user: &str, stage: &str) -> ViewerRef {
    ViewerRef::new(user.parse().unwrap(), stage.parse().unwrap())
}
