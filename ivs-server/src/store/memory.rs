//! The in-process viewer store: the embedded default.
//!
//! One mutex around plain maps. Every trait call takes the lock once, so each
//! call is atomic exactly like one Redis script. Per-stage ordered sets by
//! last heartbeat make the sweep cost follow the number of expired viewers.

mod log;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ivs_api::RemovalReason;
use serde_json::Value;

use super::events::{
    data, deployment_tag, Claimed, EventLog, LoggedEvent, PendingEvent, DEFAULT_EVENT_LOG_MAX,
};
use super::{
    gcra, BeginOutcome, Departure, Fence, Intent, IntentAction, JoinOutcome, JoinRequest,
    LeaveOutcome, Millis, RateDecision, RateRefund, RateState, RemoveOutcome, StageLoad,
    StageRecord, StoreKind, StoreResult, ViewerRecord, ViewerStore, MAX_DEPARTURES,
};
use log::EventBuffer;

/// `fleet.stage_limit_reached` is recorded at most this often.
const LIMIT_NOTE_EVERY: Millis = 60_000;

#[derive(Debug, Clone)]
struct ViewerEntry {
    stage: String,
    participant_id: String,
    joined_at: Millis,
    last_heartbeat: Millis,
}

struct State {
    stages: HashMap<String, StageRecord>,
    viewers: HashMap<String, ViewerEntry>,
    /// Stage → (last heartbeat, user id): the stage's viewers in expiry order.
    by_heartbeat: HashMap<String, BTreeSet<(Millis, String)>>,
    /// (user id, stage) → (watch seconds, recorded at).
    durations: HashMap<(String, String), (u64, Millis)>,
    /// (recorded at, user id, stage): watch times in retention order.
    duration_order: BTreeSet<(Millis, String, String)>,
    /// Key id → its GCRA state.
    rate: HashMap<String, RateState>,
    /// Lease name → (holder, expiry, fencing token).
    leases: HashMap<String, (String, Millis, u64)>,
    /// Lease name → the last fencing token handed out.
    fences: HashMap<String, u64>,
    /// Intent id → intent.
    intents: HashMap<String, Intent>,
    /// Left or expired viewers still to be disconnected in IVS.
    departures: std::collections::VecDeque<Departure>,
    /// Fleet events, recorded under the same lock as their change.
    log: EventBuffer,
    /// Stage → (publisher live, observed at).
    publishers: HashMap<String, (bool, Millis)>,
    /// When `fleet.stage_limit_reached` may be recorded again.
    limit_quiet_until: Millis,
}

fn wall_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

impl State {
    fn new(log: EventBuffer) -> Self {
        State {
            stages: HashMap::new(),
            viewers: HashMap::new(),
            by_heartbeat: HashMap::new(),
            durations: HashMap::new(),
            duration_order: BTreeSet::new(),
            rate: HashMap::new(),
            leases: HashMap::new(),
            fences: HashMap::new(),
            intents: HashMap::new(),
            departures: std::collections::VecDeque::new(),
            log,
            publishers: HashMap::new(),
            limit_quiet_until: Millis::MIN,
        }
    }

    /// Records an event that happened at `at` (the step's `now`, or the
    /// store clock for steps that have none).
    fn emit(&mut self, event_type: &'static str, at: Millis, data: Value) {
        self.log.record(wall_ms(), event_type, at, data);
    }

    /// Takes a registered stage out of the registry with its viewer index,
    /// recording `stage.removed`.
    fn unregister(&mut self, arn: &str, at: Millis, reason: RemovalReason) {
        if self.stages.remove(arn).is_some() {
            self.emit("stage.removed", at, data::stage_removed(arn, reason));
        }
        self.by_heartbeat.remove(arn);
    }

    /// Adds or replaces a registry entry; `stage.created` when it is new.
    fn register(&mut self, stage: &StageRecord) {
        if self
            .stages
            .insert(stage.arn.clone(), stage.clone())
            .is_none()
        {
            self.emit("stage.created", wall_ms(), data::stage_created(stage));
        }
    }

    /// Whether `fence` still names the live holder of its lease.
    fn fence_holds(&self, fence: &Fence) -> bool {
        self.leases
            .get(&fence.lease)
            .is_some_and(|(h, until, token)| {
                *h == fence.holder && *token == fence.token && *until > wall_ms()
            })
    }

    fn count(&self, stage: &str) -> u32 {
        self.by_heartbeat.get(stage).map_or(0, |s| s.len() as u32)
    }

    fn load(&self, record: &StageRecord) -> StageLoad {
        StageLoad {
            record: record.clone(),
            viewers: self.count(&record.arn),
        }
    }

    fn assignable(&self) -> impl Iterator<Item = (&StageRecord, u32)> {
        self.stages
            .values()
            .filter(|s| s.kind.is_assignable() && !s.draining)
            .map(|s| (s, self.count(&s.arn)))
    }

    fn needs_stage(&self, scale_up_at: u32) -> bool {
        self.assignable()
            .map(|(_, n)| n)
            .min()
            .is_none_or(|n| n >= scale_up_at)
    }

    fn remove_viewer(&mut self, user_id: &str) -> Option<ViewerEntry> {
        let entry = self.viewers.remove(user_id)?;
        if let Some(set) = self.by_heartbeat.get_mut(&entry.stage) {
            set.remove(&(entry.last_heartbeat, user_id.to_string()));
        }
        Some(entry)
    }

    fn depart(&mut self, stage: &str, participant_id: &str) {
        if self.departures.len() >= MAX_DEPARTURES as usize {
            self.departures.pop_front();
        }
        self.departures.push_back(Departure {
            stage_arn: stage.to_string(),
            participant_id: participant_id.to_string(),
        });
    }

    fn record_duration(&mut self, user_id: &str, stage: &str, seconds: u64, now: Millis) {
        let key = (user_id.to_string(), stage.to_string());
        if let Some((_, at)) = self.durations.insert(key, (seconds, now)) {
            self.duration_order
                .remove(&(at, user_id.to_string(), stage.to_string()));
        }
        self.duration_order
            .insert((now, user_id.to_string(), stage.to_string()));
    }
}

fn seconds_between(from: Millis, to: Millis) -> u64 {
    (to.saturating_sub(from).max(0) / 1000) as u64
}

/// The embedded store.
pub struct MemoryStore {
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store keeping the default number of events.
    pub fn new() -> Self {
        Self::with_event_log_max(DEFAULT_EVENT_LOG_MAX)
    }

    /// An empty store keeping at most `max` events (at least one).
    pub fn with_event_log_max(max: u64) -> Self {
        // Event ids carry a deployment tag; a random one per store keeps two
        // processes' ids apart when they share a receiver.
        let tag = deployment_tag(&format!("memory:{:016x}", rand::random::<u64>()));
        MemoryStore {
            state: Mutex::new(State::new(EventBuffer::new(tag, max))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation below completes before a panic could happen (no
        // user code runs under the lock), so a poisoned lock is still sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ViewerStore for MemoryStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Embedded
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn register_stage(&self, stage: &StageRecord) -> StoreResult<()> {
        self.lock().register(stage);
        Ok(())
    }

    async fn stages(&self) -> StoreResult<Vec<StageLoad>> {
        let state = self.lock();
        let mut out: Vec<StageLoad> = state.stages.values().map(|s| state.load(s)).collect();
        out.sort_by(|a, b| {
            (a.record.created_at, &a.record.arn).cmp(&(b.record.created_at, &b.record.arn))
        });
        Ok(out)
    }

    async fn stage(&self, arn: &str) -> StoreResult<Option<StageLoad>> {
        let state = self.lock();
        Ok(state.stages.get(arn).map(|s| state.load(s)))
    }

    async fn rename_stage(&self, arn: &str, name: &str) -> StoreResult<bool> {
        Ok(self
            .lock()
            .stages
            .get_mut(arn)
            .map(|s| s.name = name.to_string())
            .is_some())
    }

    async fn set_draining(&self, arn: &str, draining: bool) -> StoreResult<bool> {
        let mut state = self.lock();
        let Some(stage) = state.stages.get_mut(arn) else {
            return Ok(false);
        };
        let changed = stage.draining != draining;
        stage.draining = draining;
        if changed {
            let kind = if draining {
                "stage.draining"
            } else {
                "stage.revived"
            };
            state.emit(kind, wall_ms(), data::stage(arn));
        }
        Ok(true)
    }

    async fn remove_stage_if_empty(
        &self,
        arn: &str,
        reason: RemovalReason,
    ) -> StoreResult<RemoveOutcome> {
        let mut state = self.lock();
        if !state.stages.contains_key(arn) {
            return Ok(RemoveOutcome::Unknown);
        }
        let n = state.count(arn);
        if n > 0 {
            return Ok(RemoveOutcome::NotEmpty(n));
        }
        state.unregister(arn, wall_ms(), reason);
        Ok(RemoveOutcome::Removed)
    }

    async fn departures(&self, max: u32) -> StoreResult<Vec<Departure>> {
        Ok(self
            .lock()
            .departures
            .iter()
            .take(max as usize)
            .cloned()
            .collect())
    }

    async fn ack_departures(&self, n: u32) -> StoreResult<()> {
        let mut state = self.lock();
        let n = (n as usize).min(state.departures.len());
        state.departures.drain(..n);
        Ok(())
    }

    async fn master(&self) -> StoreResult<Option<String>> {
        let state = self.lock();
        let mut masters: Vec<&StageRecord> = state
            .stages
            .values()
            .filter(|s| s.kind.is_master())
            .collect();
        masters.sort_by_key(|s| (s.created_at, &s.arn));
        Ok(masters.first().map(|s| s.arn.clone()))
    }

    async fn begin_create(
        &self,
        intent: &Intent,
        fence: &Fence,
        max_stages: u32,
    ) -> StoreResult<BeginOutcome> {
        let mut state = self.lock();
        if !state.fence_holds(fence) {
            return Ok(BeginOutcome::Fenced);
        }
        if intent.master
            && (state.stages.values().any(|s| s.kind.is_master())
                || state
                    .intents
                    .values()
                    .any(|i| i.master && i.action == IntentAction::Create))
        {
            return Ok(BeginOutcome::MasterExists);
        }
        let active = state.stages.len() + state.intents.len();
        if active >= max_stages as usize {
            let now = wall_ms();
            if now >= state.limit_quiet_until {
                state.limit_quiet_until = now + LIMIT_NOTE_EVERY;
                let active = u32::try_from(active).unwrap_or(u32::MAX);
                state.emit(
                    "fleet.stage_limit_reached",
                    now,
                    data::stage_limit(active, max_stages),
                );
            }
            return Ok(BeginOutcome::AtLimit);
        }
        state.intents.insert(intent.id(), intent.clone());
        Ok(BeginOutcome::Recorded)
    }

    async fn finish_create(&self, stage: &StageRecord, fence: &Fence) -> StoreResult<bool> {
        let mut state = self.lock();
        if !state.fence_holds(fence) {
            return Ok(false);
        }
        let id = Intent::create_id(&stage.name);
        state.intents.remove(&id);
        state.register(stage);
        Ok(true)
    }

    async fn intents(&self) -> StoreResult<Vec<Intent>> {
        let state = self.lock();
        let mut out: Vec<Intent> = state.intents.values().cloned().collect();
        out.sort_by_key(|i| (i.at, i.id()));
        Ok(out)
    }

    async fn drop_intent(&self, id: &str) -> StoreResult<bool> {
        Ok(self.lock().intents.remove(id).is_some())
    }

    async fn drain_if_idle(
        &self,
        arn: &str,
        below: u32,
        min_age: Duration,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        if !state.fence_holds(fence) {
            return Ok(false);
        }
        let count = state.count(arn);
        let Some(stage) = state.stages.get_mut(arn) else {
            return Ok(false);
        };
        let since = stage.revived_at.unwrap_or(0).max(stage.created_at);
        if !stage.kind.is_auto_scaled()
            || !stage.kind.is_assignable()
            || stage.draining
            || count >= below
            || now - since < min_age.as_millis() as i64
        {
            return Ok(false);
        }
        stage.draining = true;
        state.emit("stage.draining", now, data::stage(arn));
        Ok(true)
    }

    async fn revive(&self, arn: &str, now: Millis) -> StoreResult<bool> {
        let mut state = self.lock();
        match state.stages.get_mut(arn) {
            Some(stage) if stage.draining => {
                stage.draining = false;
                stage.revived_at = Some(now);
                state.emit("stage.revived", now, data::stage(arn));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn begin_delete(
        &self,
        arn: &str,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<RemoveOutcome> {
        let mut state = self.lock();
        if !state.fence_holds(fence) {
            return Ok(RemoveOutcome::Fenced);
        }
        let Some(stage) = state.stages.get(arn) else {
            return Ok(RemoveOutcome::Unknown);
        };
        if !stage.draining {
            return Ok(RemoveOutcome::NotDraining);
        }
        let n = state.count(arn);
        if n > 0 {
            return Ok(RemoveOutcome::NotEmpty(n));
        }
        state.unregister(arn, now, RemovalReason::ScaledDown);
        let intent = Intent {
            action: IntentAction::Delete,
            target: arn.to_string(),
            master: false,
            at: now,
            owner: fence.holder.clone(),
        };
        state.intents.insert(intent.id(), intent);
        Ok(RemoveOutcome::Removed)
    }

    async fn purge_stage(&self, arn: &str, now: Millis, reason: RemovalReason) -> StoreResult<()> {
        let mut state = self.lock();
        let registered = state.stages.remove(arn).is_some();
        let users: Vec<String> = state
            .by_heartbeat
            .remove(arn)
            .into_iter()
            .flatten()
            .map(|(_, u)| u)
            .collect();
        for user in users {
            if let Some(e) = state.viewers.remove(&user) {
                let secs = seconds_between(e.joined_at, now);
                state.record_duration(&user, arn, secs, now);
                state.emit("viewer.left", now, data::viewer_gone(&user, arn, secs));
            }
        }
        if registered {
            state.emit("stage.removed", now, data::stage_removed(arn, reason));
        }
        Ok(())
    }

    async fn join(&self, req: &JoinRequest) -> StoreResult<JoinOutcome> {
        let mut state = self.lock();
        if let Some(entry) = state.viewers.get(&req.user_id).cloned() {
            if state.stages.contains_key(&entry.stage) {
                // Counted once: same stage, new participant, and the token
                // request counts as a sign of life.
                let user = req.user_id.clone();
                if let Some(set) = state.by_heartbeat.get_mut(&entry.stage) {
                    set.remove(&(entry.last_heartbeat, user.clone()));
                    set.insert((req.now.max(entry.last_heartbeat), user.clone()));
                }
                if let Some(e) = state.viewers.get_mut(&user) {
                    e.participant_id = req.participant_id.clone();
                    e.last_heartbeat = req.now.max(entry.last_heartbeat);
                }
                return Ok(JoinOutcome::Joined {
                    viewers: state.count(&entry.stage),
                    stage_arn: entry.stage,
                    rejoined: true,
                    needs_stage: state.needs_stage(req.scale_up_at),
                });
            }
            state.remove_viewer(&req.user_id);
        }
        let target = state
            .assignable()
            .filter(|(_, n)| *n < req.capacity)
            .min_by(|(a, na), (b, nb)| (na, a.created_at, &a.arn).cmp(&(nb, b.created_at, &b.arn)))
            .map(|(s, _)| s.arn.clone());
        let Some(stage) = target else {
            return Ok(JoinOutcome::Full);
        };
        state.viewers.insert(
            req.user_id.clone(),
            ViewerEntry {
                stage: stage.clone(),
                participant_id: req.participant_id.clone(),
                joined_at: req.now,
                last_heartbeat: req.now,
            },
        );
        state
            .by_heartbeat
            .entry(stage.clone())
            .or_default()
            .insert((req.now, req.user_id.clone()));
        if req.announce {
            state.emit(
                "viewer.joined",
                req.now,
                data::viewer_joined(&req.user_id, &stage, &req.participant_id),
            );
        }
        Ok(JoinOutcome::Joined {
            viewers: state.count(&stage),
            stage_arn: stage,
            rejoined: false,
            needs_stage: state.needs_stage(req.scale_up_at),
        })
    }

    async fn set_participant(
        &self,
        user_id: &str,
        stage_arn: &str,
        participant_id: &str,
        announce: bool,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let Some(e) = state.viewers.get_mut(user_id) else {
            return Ok(());
        };
        if e.stage != stage_arn {
            return Ok(());
        }
        e.participant_id = participant_id.to_string();
        let joined_at = e.joined_at;
        if announce {
            state.emit(
                "viewer.joined",
                joined_at,
                data::viewer_joined(user_id, stage_arn, participant_id),
            );
        }
        Ok(())
    }

    async fn forget(&self, user_id: &str, stage_arn: &str, announced: bool) -> StoreResult<()> {
        let mut state = self.lock();
        if state
            .viewers
            .get(user_id)
            .is_some_and(|e| e.stage == stage_arn)
            && state.remove_viewer(user_id).is_some()
            && announced
        {
            state.emit(
                "viewer.left",
                wall_ms(),
                data::viewer_gone(user_id, stage_arn, 0),
            );
        }
        Ok(())
    }

    async fn heartbeat(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<Millis>> {
        let mut state = self.lock();
        let Some(entry) = state.viewers.get_mut(user_id) else {
            return Ok(None);
        };
        if entry.stage != stage_arn {
            return Ok(None);
        }
        let old = entry.last_heartbeat;
        let new = now.max(old);
        entry.last_heartbeat = new;
        if let Some(set) = state.by_heartbeat.get_mut(stage_arn) {
            set.remove(&(old, user_id.to_string()));
            set.insert((new, user_id.to_string()));
        }
        Ok(Some(new))
    }

    async fn leave(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
        _retention: Duration,
    ) -> StoreResult<LeaveOutcome> {
        let mut state = self.lock();
        if state
            .viewers
            .get(user_id)
            .is_some_and(|e| e.stage == stage_arn)
        {
            if let Some(e) = state.remove_viewer(user_id) {
                let secs = seconds_between(e.joined_at, now);
                state.record_duration(user_id, stage_arn, secs, now);
                state.depart(stage_arn, &e.participant_id);
                state.emit(
                    "viewer.left",
                    now,
                    data::viewer_gone(user_id, stage_arn, secs),
                );
                return Ok(LeaveOutcome::Left(secs));
            }
        }
        let key = (user_id.to_string(), stage_arn.to_string());
        Ok(match state.durations.get(&key) {
            Some((secs, _)) => LeaveOutcome::AlreadyGone(*secs),
            None => LeaveOutcome::Unknown,
        })
    }

    async fn viewers(&self, stage_arn: &str) -> StoreResult<Vec<ViewerRecord>> {
        let state = self.lock();
        let mut out: Vec<ViewerRecord> = state
            .by_heartbeat
            .get(stage_arn)
            .into_iter()
            .flatten()
            .filter_map(|(_, user)| {
                state.viewers.get(user).map(|e| ViewerRecord {
                    user_id: user.clone(),
                    participant_id: e.participant_id.clone(),
                    joined_at: e.joined_at,
                    last_heartbeat: e.last_heartbeat,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.joined_at, &a.user_id).cmp(&(b.joined_at, &b.user_id)));
        Ok(out)
    }

    async fn watch_duration(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<u64>> {
        let state = self.lock();
        if let Some(e) = state.viewers.get(user_id).filter(|e| e.stage == stage_arn) {
            return Ok(Some(seconds_between(e.joined_at, now)));
        }
        Ok(state
            .durations
            .get(&(user_id.to_string(), stage_arn.to_string()))
            .map(|(secs, _)| *secs))
    }

    async fn sweep(&self, now: Millis, timeout: Duration, retention: Duration) -> StoreResult<u64> {
        let mut state = self.lock();
        let cutoff = now - timeout.as_millis() as i64;
        let mut expired = Vec::new();
        for (stage, set) in &state.by_heartbeat {
            for (hb, user) in set.iter() {
                if *hb >= cutoff {
                    break;
                }
                expired.push((stage.clone(), user.clone()));
            }
        }
        for (stage, user) in &expired {
            if let Some(e) = state.remove_viewer(user) {
                let secs = seconds_between(e.joined_at, e.last_heartbeat);
                state.record_duration(user, stage, secs, now);
                state.depart(stage, &e.participant_id);
                state.emit("viewer.expired", now, data::viewer_gone(user, stage, secs));
            }
        }
        let forget_before = now - retention.as_millis() as i64;
        while let Some(first) = state.duration_order.first().cloned() {
            if first.0 >= forget_before {
                break;
            }
            state.duration_order.remove(&first);
            state.durations.remove(&(first.1, first.2));
        }
        Ok(expired.len() as u64)
    }

    async fn rate_limit(
        &self,
        key_id: &str,
        limit: u32,
        period: Duration,
        now: Millis,
        want: u32,
        refund: Option<RateRefund>,
    ) -> StoreResult<RateDecision> {
        let mut state = self.lock();
        let current = state.rate.get(key_id).copied();
        let (decision, changed) = gcra(current, limit, period, now, want, refund);
        if let Some(changed) = changed {
            state.rate.insert(key_id.to_string(), changed);
        }
        Ok(decision)
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Option<u64>> {
        let now = wall_ms();
        let mut state = self.lock();
        let until = now + ttl.as_millis() as i64;
        match state.leases.get_mut(name) {
            Some((h, expiry, token)) if h == holder && *expiry > now => {
                *expiry = until;
                return Ok(Some(*token));
            }
            Some((_, expiry, _)) if *expiry > now => return Ok(None),
            _ => {}
        }
        let token = state.fences.get(name).copied().unwrap_or(0) + 1;
        state.fences.insert(name.to_string(), token);
        state
            .leases
            .insert(name.to_string(), (holder.to_string(), until, token));
        Ok(Some(token))
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        let mut state = self.lock();
        if state.leases.get(name).is_some_and(|(h, _, _)| h == holder) {
            state.leases.remove(name);
        }
        Ok(())
    }

    fn event_log(&self) -> &dyn EventLog {
        self
    }

    async fn record_publisher(
        &self,
        stage_arn: &str,
        live: bool,
        as_of: Millis,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        let before = state.publishers.get(stage_arn).copied();
        if before.is_some_and(|(_, at)| at >= as_of) {
            return Ok(false);
        }
        state
            .publishers
            .insert(stage_arn.to_string(), (live, as_of));
        // Nothing recorded yet reads as offline.
        if before.is_some_and(|(was, _)| was) == live {
            return Ok(false);
        }
        let kind = if live {
            "publisher.live"
        } else {
            "publisher.offline"
        };
        state.emit(kind, as_of, data::stage(stage_arn));
        Ok(true)
    }

    async fn publisher(&self, stage_arn: &str) -> StoreResult<Option<(bool, Millis)>> {
        Ok(self.lock().publishers.get(stage_arn).copied())
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn create_group(&self, group: &str) -> StoreResult<()> {
        self.lock().log.create_group(group);
        Ok(())
    }

    async fn read_new(
        &self,
        group: &str,
        consumer: &str,
        max: u32,
    ) -> StoreResult<Vec<LoggedEvent>> {
        Ok(self.lock().log.read_new(group, consumer, max, wall_ms()))
    }

    async fn pending(
        &self,
        group: &str,
        min_idle: Duration,
        after: Option<&str>,
        max: u32,
    ) -> StoreResult<Vec<PendingEvent>> {
        self.lock()
            .log
            .pending(group, min_idle, after, max, wall_ms())
    }

    async fn claim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        positions: &[String],
    ) -> StoreResult<Claimed> {
        self.lock()
            .log
            .claim(group, consumer, min_idle, positions, wall_ms())
    }

    async fn ack(&self, group: &str, positions: &[String]) -> StoreResult<()> {
        self.lock().log.ack(group, positions)
    }

    async fn tail(&self, after: Option<&str>, max: u32) -> StoreResult<(String, Vec<LoggedEvent>)> {
        self.lock().log.tail(after, max)
    }

    async fn forget_idle_consumers(&self, group: &str, min_idle: Duration) -> StoreResult<u32> {
        Ok(self
            .lock()
            .log
            .forget_idle_consumers(group, min_idle, wall_ms()))
    }

    async fn groups(&self) -> StoreResult<Vec<(String, u64)>> {
        Ok(self.lock().log.groups())
    }

    async fn backlog(&self) -> StoreResult<u64> {
        Ok(self.lock().log.len())
    }
}
