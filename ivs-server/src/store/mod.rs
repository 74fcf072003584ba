//! The viewer store seam: all state the server shares between requests and
//! between instances (viewer sessions, per-stage counts, the stage registry,
//! watch durations, rate-limit counters and leases).
//!
//! Every method is one atomic step. Implementations must never expose a
//! half-done operation: the in-process store holds one lock per call, the
//! Redis store runs one script per call. The same behaviour suite
//! (`tests/it/store_behaviour.rs`) runs against every implementation.

pub mod events;
pub mod memory;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

pub use events::EventLog;
/// Why a stage left the registry (`stage.removed`'s `reason`).
pub use ivs_api::RemovalReason;

use async_trait::async_trait;
use ivs_api::Tags;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: the store's only notion of time, passed
/// in by the caller so that every instance and every test agrees on it.
pub type Millis = i64;

/// What a stage is for. One value per stage, so that no stage can be, say,
/// the master and auto-scaled at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// The master stage: gets viewers, never deleted.
    Master,
    /// Created to absorb viewers: gets viewers, drained when idle.
    AutoScaled,
    /// Created on request: counts toward the limit, gets no assigned viewers.
    Custom,
}

impl StageKind {
    /// Whether this is the master stage.
    pub fn is_master(self) -> bool {
        self == StageKind::Master
    }

    /// Whether the server created it to absorb viewers.
    pub fn is_auto_scaled(self) -> bool {
        self == StageKind::AutoScaled
    }

    /// Whether viewers are assigned to it (the master and auto-scaled stages).
    pub fn is_assignable(self) -> bool {
        self != StageKind::Custom
    }
}

/// A stage the server manages. Registry entries never expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredRecord", into = "StoredRecord")]
pub struct StageRecord {
    /// Stage ARN.
    pub arn: String,
    /// Stage name (kept in step with IVS on rename).
    pub name: String,
    /// Tags as created.
    pub tags: Tags,
    /// What it is for.
    pub kind: StageKind,
    /// Creation time.
    pub created_at: Millis,
    /// Scale-down has chosen it: it gets no new viewers and goes when empty.
    pub draining: bool,
    /// When it was last put back in service after draining.
    pub revived_at: Option<Millis>,
}

/// A [`StageRecord`] as stores keep it (JSON in Redis): the kind as the three
/// flags earlier versions wrote, so records written by either version read
/// the same.
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    arn: String,
    name: String,
    tags: Tags,
    auto_scaled: bool,
    master: bool,
    assignable: bool,
    created_at: Millis,
    draining: bool,
    #[serde(default)]
    revived_at: Option<Millis>,
}

impl From<StoredRecord> for StageRecord {
    fn from(s: StoredRecord) -> Self {
        // Earlier versions never wrote two of the flags together; should a
        // record have them, the master wins, then auto-scaled.
        let kind = if s.master {
            StageKind::Master
        } else if s.auto_scaled {
            StageKind::AutoScaled
        } else {
            StageKind::Custom
        };
        StageRecord {
            arn: s.arn,
            name: s.name,
            tags: s.tags,
            kind,
            created_at: s.created_at,
            draining: s.draining,
            revived_at: s.revived_at,
        }
    }
}

impl From<StageRecord> for StoredRecord {
    fn from(r: StageRecord) -> Self {
        StoredRecord {
            arn: r.arn,
            name: r.name,
            tags: r.tags,
            auto_scaled: r.kind.is_auto_scaled(),
            master: r.kind.is_master(),
            assignable: r.kind.is_assignable(),
            created_at: r.created_at,
            draining: r.draining,
            revived_at: r.revived_at,
        }
    }
}

/// A stage with its current viewer count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageLoad {
    /// The registry entry.
    pub record: StageRecord,
    /// Viewers counted on it now.
    pub viewers: u32,
}

/// A viewer counted on a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerRecord {
    /// The viewer's id (as the API caller sent it).
    pub user_id: String,
    /// The participant id of its latest token.
    pub participant_id: String,
    /// When it joined.
    pub joined_at: Millis,
    /// Its latest heartbeat.
    pub last_heartbeat: Millis,
}

/// A viewer that left or expired, to be disconnected in IVS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    /// Its stage.
    pub stage_arn: String,
    /// The participant id of its latest token.
    pub participant_id: String,
}

/// Most departures the store keeps waiting (the oldest are dropped beyond).
pub const MAX_DEPARTURES: u32 = 100_000;

/// A join to perform.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The viewer.
    pub user_id: String,
    /// The participant id of the token about to be minted.
    pub participant_id: String,
    /// Now.
    pub now: Millis,
    /// No stage may hold more viewers than this.
    pub capacity: u32,
    /// When every assignable stage holds at least this many, a new stage is wanted.
    pub scale_up_at: u32,
    /// Whether a first join records `viewer.joined` in this step (the token
    /// will carry `participant_id`); otherwise
    /// [`set_participant`](ViewerStore::set_participant) records it once IVS
    /// has given the token its own id.
    pub announce: bool,
}

/// What a join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The viewer is counted on `stage_arn`.
    Joined {
        /// Its stage.
        stage_arn: String,
        /// Viewers on that stage now, this one included.
        viewers: u32,
        /// It was already counted (same stage, counted once).
        rejoined: bool,
        /// The least-loaded assignable stage has reached the scale-up threshold.
        needs_stage: bool,
    },
    /// No assignable stage has room.
    Full,
}

/// What a leave did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// The viewer was counted and is now removed; its watch time in seconds.
    Left(u64),
    /// The viewer had already left or expired; the recorded watch time.
    AlreadyGone(u64),
    /// No such viewer on that stage.
    Unknown,
}

/// What removing a stage from the registry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoveOutcome {
    /// Removed.
    Removed,
    /// Not removed: it still has this many viewers.
    NotEmpty(u32),
    /// It was not in the registry.
    Unknown,
    /// Not removed: it is not draining (revived since it was chosen).
    NotDraining,
    /// Not removed: the caller's lease is gone.
    Fenced,
}

/// A lease held, with the fencing token that writes made under it carry:
/// the store refuses such a write once the lease has expired or passed to
/// another holder, so a holder that stalled past its lease cannot undo what
/// the next holder did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name.
    pub lease: String,
    /// Who holds it.
    pub holder: String,
    /// Grows by one each time the lease is taken (not when it is renewed).
    pub token: u64,
}

/// What an [`Intent`] is about to do in IVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IntentAction {
    /// CreateStage, then register the stage.
    Create,
    /// DeleteStage of a stage already taken out of the registry.
    Delete,
}

/// A stage operation recorded in the store before IVS is called, so that a
/// crash between IVS's answer and the registry's update is finished or
/// undone by maintenance, and so that stages being created or deleted count
/// toward the stage limit (the limit then holds in IVS, not only in the
/// registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// What it does.
    pub action: IntentAction,
    /// Creation: the new stage's name (unique: it carries a random part).
    /// Deletion: the stage's ARN.
    pub target: String,
    /// The stage is (to be) the master.
    #[serde(default)]
    pub master: bool,
    /// When it was recorded.
    pub at: Millis,
    /// The instance that recorded it.
    #[serde(default)]
    pub owner: String,
}

impl Intent {
    /// The intent's key in the store: one per target and action.
    pub fn id(&self) -> String {
        match self.action {
            IntentAction::Create => Self::create_id(&self.target),
            IntentAction::Delete => Self::delete_id(&self.target),
        }
    }

    /// The id of the creation intent of the stage named `name`.
    pub fn create_id(name: &str) -> String {
        format!("create:{name}")
    }

    /// The id of the deletion intent of the stage `arn`.
    pub fn delete_id(arn: &str) -> String {
        format!("delete:{arn}")
    }
}

/// What recording a creation intent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BeginOutcome {
    /// Recorded: the caller may call CreateStage.
    Recorded,
    /// Registered stages and pending intents already reach the limit.
    AtLimit,
    /// A master is registered or being created already.
    MasterExists,
    /// The caller's lease is gone.
    Fenced,
}

/// A rate-limit decision (GCRA over a window of `period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// The request may go ahead.
    pub allowed: bool,
    /// How many requests were granted (up to the number asked for; 0 when refused).
    pub granted: u32,
    /// The limit per period.
    pub limit: u32,
    /// Requests left in the current burst.
    pub remaining: u32,
    /// Until the allowance is full again.
    pub reset_after: Duration,
    /// Until the next request is allowed (zero when allowed).
    pub retry_after: Duration,
    /// Names this grant, for handing back its unspent part later
    /// ([`RateRefund`]); meaningless when nothing was granted.
    pub receipt: RateReceipt,
}

/// What the store keeps for one key's rate limit. Times are microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// The GCRA theoretical arrival time.
    pub tat_us: i64,
    /// The sum of every refund applied to `tat_us` since the state was
    /// created; it only grows, so that a refund can tell how much allowance
    /// others handed back after its own grant.
    pub refunded_us: i64,
    /// When the state was created: a receipt from an earlier state of the
    /// same key (one that expired in the meantime) is refused by this.
    pub since_us: i64,
}

/// The store's state right after a grant, kept by the caller with its
/// reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateReceipt {
    /// [`RateState::since_us`] of the state that granted.
    pub since_us: i64,
    /// [`RateState::tat_us`] right after the grant.
    pub tat_us: i64,
    /// [`RateState::refunded_us`] at the grant.
    pub refunded_us: i64,
}

/// The unspent part of an earlier grant, handed back in a later call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRefund {
    /// Requests of that grant that were not spent and never will be.
    pub unspent: u32,
    /// The grant's receipt.
    pub receipt: RateReceipt,
}

/// Why a store call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backing service cannot be reached or timed out (answered as 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A first connection failed (at start-up, above all), with the driver's
    /// error kept as the source, so that the reason reaches the log whole
    /// (answered as 503 like [`StoreError::Unavailable`]).
    #[error("store unavailable: {what}")]
    Unreachable {
        /// What could not be reached, with a hint where one is known (a
        /// refused user or password).
        what: String,
        /// The driver's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The backing service returned something impossible.
    #[error("store returned unexpected data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the store could not be reached or did not answer in time
    /// (a 503 for the caller), as opposed to answering something impossible.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Unreachable { .. }
        )
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which store an instance runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// The in-process store (one instance only).
    Embedded,
    /// Redis, a single node or a cluster.
    Redis,
}

impl StoreKind {
    /// The name logs and `/health` use.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Embedded => "embedded",
            StoreKind::Redis => "redis",
        }
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[async_trait]
pub trait ViewerStore: Send + Sync + 'static {
    /// Which store this is.
    fn kind(&self) -> StoreKind;

    /// Checks that the store answers (for `/health`).
    async fn ping(&self) -> StoreResult<()>;

    // ---- stage registry

    /// Adds or replaces a stage in the registry.
    async fn register_stage(&self, stage: &StageRecord) -> StoreResult<()>;
    /// Every registered stage with its count, oldest first.
    async fn stages(&self) -> StoreResult<Vec<StageLoad>>;
    /// One registered stage with its count.
    async fn stage(&self, arn: &str) -> StoreResult<Option<StageLoad>>;
    /// Renames a registered stage; false when unknown.
    async fn rename_stage(&self, arn: &str, name: &str) -> StoreResult<bool>;
    /// Marks a stage draining (or not); false when unknown.
    async fn set_draining(&self, arn: &str, draining: bool) -> StoreResult<bool>;
    /// Removes a stage from the registry only if it has no viewers
    /// (`stage.removed` with `reason`).
    async fn remove_stage_if_empty(
        &self,
        arn: &str,
        reason: RemovalReason,
    ) -> StoreResult<RemoveOutcome>;
    /// Removes a stage and its viewers unconditionally (the stage is gone
    /// from IVS): `viewer.left` for each viewer (watch time to `now`), then
    /// `stage.removed` with `reason` when it was registered.
    async fn purge_stage(&self, arn: &str, now: Millis, reason: RemovalReason) -> StoreResult<()>;
    /// The registered master's ARN.
    async fn master(&self) -> StoreResult<Option<String>>;

    // ---- crash-safe stage creation and deletion

    /// Records a creation intent under `fence` if registered stages plus
    /// pending intents stay within `max_stages` (and, for a master, no master
    /// is registered or being created).
    async fn begin_create(
        &self,
        intent: &Intent,
        fence: &Fence,
        max_stages: u32,
    ) -> StoreResult<BeginOutcome>;
    /// Registers the stage a creation intent made and drops the intent (named
    /// by the stage's name), in one step; false (nothing changed) when the
    /// fence is stale.
    async fn finish_create(&self, stage: &StageRecord, fence: &Fence) -> StoreResult<bool>;
    /// Every pending intent.
    async fn intents(&self) -> StoreResult<Vec<Intent>>;
    /// Drops an intent (finished or undone); false when there was none.
    async fn drop_intent(&self, id: &str) -> StoreResult<bool>;
    /// Marks an auto-scaled, assignable stage draining if it has fewer than
    /// `below` viewers and was created or last revived at least `min_age`
    /// ago, all checked in the same step; false otherwise or when `fence`
    /// is stale.
    async fn drain_if_idle(
        &self,
        arn: &str,
        below: u32,
        min_age: Duration,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<bool>;
    /// Puts a draining stage back in service, remembering when (scale-down
    /// leaves it alone for its minimum age again); false when unknown or
    /// not draining.
    async fn revive(&self, arn: &str, now: Millis) -> StoreResult<bool>;
    /// Takes a draining, empty stage out of the registry and records a
    /// deletion intent for it, in one step (it keeps counting toward the
    /// limit until IVS has deleted it).
    async fn begin_delete(
        &self,
        arn: &str,
        now: Millis,
        fence: &Fence,
    ) -> StoreResult<RemoveOutcome>;

    // ---- viewers

    /// Counts a viewer on the least-loaded assignable stage with room, or on
    /// the stage it already has (idempotent per user id).
    async fn join(&self, req: &JoinRequest) -> StoreResult<JoinOutcome>;
    /// Records the participant id IVS chose for a viewer counted on that
    /// stage; with `announce`, also its `viewer.joined` (a first join made
    /// without [`JoinRequest::announce`]), dated at the join.
    async fn set_participant(
        &self,
        user_id: &str,
        stage_arn: &str,
        participant_id: &str,
        announce: bool,
    ) -> StoreResult<()>;
    /// Removes a viewer without recording a watch time (its join is undone);
    /// `announced` says whether its `viewer.joined` was recorded, in which
    /// case a `viewer.left` with nothing watched keeps the pair consistent.
    async fn forget(&self, user_id: &str, stage_arn: &str, announced: bool) -> StoreResult<()>;
    /// Refreshes a viewer counted on that stage; `None` when it is not counted there.
    async fn heartbeat(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<Millis>>;
    /// Removes a viewer, recording its watch time exactly once.
    async fn leave(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
        retention: Duration,
    ) -> StoreResult<LeaveOutcome>;
    /// Viewers of a stage.
    async fn viewers(&self, stage_arn: &str) -> StoreResult<Vec<ViewerRecord>>;
    /// Watch time in seconds: so far for a counted viewer, as recorded for one
    /// that left or expired within the retention; `None` otherwise.
    async fn watch_duration(
        &self,
        user_id: &str,
        stage_arn: &str,
        now: Millis,
    ) -> StoreResult<Option<u64>>;
    /// Removes every viewer whose last heartbeat is older than `now - timeout`
    /// (watch time: join to last heartbeat), and forgets watch times older than
    /// the retention. Returns how many viewers it removed.
    async fn sweep(&self, now: Millis, timeout: Duration, retention: Duration) -> StoreResult<u64>;

    /// Viewers that left or expired, oldest first (at most `max`), whose
    /// participant must still be disconnected in IVS: the queue is kept in
    /// the store, so a crash of the instance that works it loses nothing.
    async fn departures(&self, max: u32) -> StoreResult<Vec<Departure>>;
    /// Removes the first `n` departures (handled).
    async fn ack_departures(&self, n: u32) -> StoreResult<()>;

    // ---- fleet events (the table in `events.rs` says which step records which)

    /// The event log this store records events in.
    fn event_log(&self) -> &dyn EventLog;
    /// Records the publisher's state on a stage as observed at `as_of` (ms; a poll's time or an IVS event's time).
    /// Ignored (returns false) when an observation at least as new is already recorded; returns true when the
    /// live/offline state changed, recording `publisher.live` / `publisher.offline` in the same step.
    async fn record_publisher(
        &self,
        stage_arn: &str,
        live: bool,
        as_of: Millis,
    ) -> StoreResult<bool>;
    /// The publisher state last recorded for a stage: (live, as_of).
    async fn publisher(&self, stage_arn: &str) -> StoreResult<Option<(bool, Millis)>>;

    // ---- coordination

    /// Up to `want` requests (at least one) against a key's allowance of
    /// `limit` per `period`; grants as many as fit, or refuses. A `refund`
    /// hands back the unspent part of an earlier grant first, in the same
    /// atomic step ([`gcra`] says how much of it counts).
    async fn rate_limit(
        &self,
        key_id: &str,
        limit: u32,
        period: Duration,
        now: Millis,
        want: u32,
        refund: Option<RateRefund>,
    ) -> StoreResult<RateDecision>;
    /// Takes the lease `name` for `holder`, or renews it if `holder` has it;
    /// the fencing token when held, `None` when another holder has it.
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<Option<u64>>;
    /// Gives the lease up if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
}

/// The GCRA step shared by the stores, for up to `want` requests at once
/// (a caller may reserve a small batch and spend it locally). The theoretical
/// arrival time (`tat`) is kept in microseconds so that large limits
/// (100,000/min) keep their precision. Returns the decision and the state to
/// store, `None` when it did not change.
///
/// A `refund` is applied first. It may move `tat` back by the unspent
/// requests' share of the allowance, but only by as much of it as is still
/// counted: never below `now` (allowance in the past is no allowance), and
/// never by more than its own grant still lay ahead of `now`, after taking
/// off what other refunds handed back since that grant. Without that last
/// bound a refund could hand back, a second time, allowance that an earlier
/// refund had already returned and someone else has since spent
/// (`refund_never_returns_what_another_refund_returned` shows the case).
/// With it, `tat` never falls below the `tat` of the requests actually spent
/// (`refunds_never_undercount_what_was_spent` checks it on random
/// schedules); docs/decisions.md has the argument.
pub fn gcra(
    state: Option<RateState>,
    limit: u32,
    period: Duration,
    now: Millis,
    want: u32,
    refund: Option<RateRefund>,
) -> (RateDecision, Option<RateState>) {
    let limit = limit.max(1);
    let want = i64::from(want.max(1));
    let now = now.saturating_mul(1000);
    let period_us = (period.as_micros() as i64).max(1);
    let interval = (period_us / i64::from(limit)).max(1);
    let mut refunded = None;
    if let (Some(s), Some(r)) = (state, refund) {
        let back = refundable(&s, &r, now, interval);
        if back > 0 {
            refunded = Some(RateState {
                tat_us: s.tat_us - back,
                refunded_us: s.refunded_us + back,
                since_us: s.since_us,
            });
        }
    }
    let current = refunded.or(state);
    let tat = current.map_or(now, |s| s.tat_us).max(now);
    // How many requests fit before `tat` runs more than a period ahead.
    let available = (now + period_us - tat) / interval;
    if available < 1 {
        let decision = RateDecision {
            allowed: false,
            granted: 0,
            limit,
            remaining: 0,
            reset_after: Duration::from_micros((tat - now) as u64),
            retry_after: Duration::from_micros((tat + interval - period_us - now) as u64),
            receipt: RateReceipt::default(),
        };
        return (decision, refunded);
    }
    let granted = want.min(available);
    let new_state = RateState {
        tat_us: tat + granted * interval,
        refunded_us: current.map_or(0, |s| s.refunded_us),
        since_us: current.map_or(now, |s| s.since_us),
    };
    let decision = RateDecision {
        allowed: true,
        granted: granted as u32,
        limit,
        remaining: (available - granted).min(i64::from(limit)) as u32,
        reset_after: Duration::from_micros((new_state.tat_us - now) as u64),
        retry_after: Duration::ZERO,
        receipt: RateReceipt {
            since_us: new_state.since_us,
            tat_us: new_state.tat_us,
            refunded_us: new_state.refunded_us,
        },
    };
    (decision, Some(new_state))
}

/// How far (µs) a refund may move `tat` back; see [`gcra`].
fn refundable(state: &RateState, refund: &RateRefund, now: i64, interval: i64) -> i64 {
    let r = &refund.receipt;
    if refund.unspent == 0 || state.since_us != r.since_us {
        // Nothing to give, or the grant was made by a state that has expired
        // since: its allowance has long been refilled.
        return 0;
    }
    let returned_since = state.refunded_us - r.refunded_us;
    if returned_since < 0 {
        return 0;
    }
    let unspent = i64::from(refund.unspent).saturating_mul(interval);
    let still_ahead = r.tat_us - returned_since - now;
    let debt = state.tat_us - now;
    unspent.min(still_ahead).min(debt).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    /// 100 per minute: one request is 600 ms of allowance.
    const I: i64 = 600_000;

    #[test]
    fn gcra_allows_a_burst_of_limit_then_paces() {
        let mut state = None;
        for i in 0..100 {
            let (d, s) = gcra(state, 100, MINUTE, 1_000, 1, None);
            assert!(d.allowed, "request {i} refused");
            assert_eq!(d.remaining, 99 - i);
            state = s;
        }
        let (d, unchanged) = gcra(state, 100, MINUTE, 1_000, 1, None);
        assert!(!d.allowed);
        assert_eq!(unchanged, None);
        assert_eq!(d.retry_after, Duration::from_millis(600));
        let (d, _) = gcra(state, 100, MINUTE, 1_600, 1, None);
        assert!(d.allowed);
        // Large limits keep their precision.
        let (d, _) = gcra(None, 100_000, MINUTE, 1_000, 1, None);
        assert_eq!(d.remaining, 99_999);
    }

    #[test]
    fn a_receipt_names_the_state_after_its_grant() {
        let (d, s) = gcra(None, 100, MINUTE, 1_000, 10, None);
        let s = s.unwrap();
        assert_eq!(d.granted, 10);
        assert_eq!(s.since_us, 1_000_000);
        assert_eq!(s.tat_us, 1_000_000 + 10 * I);
        assert_eq!(
            d.receipt,
            RateReceipt {
                since_us: s.since_us,
                tat_us: s.tat_us,
                refunded_us: 0
            }
        );
    }

    fn refund(unspent: u32, receipt: RateReceipt) -> Option<RateRefund> {
        Some(RateRefund { unspent, receipt })
    }

    #[test]
    fn a_refund_hands_back_the_unspent_part_of_a_grant() {
        // Another instance used most of the burst; this one reserved 10 and spent 2.
        let (_, s) = gcra(None, 100, MINUTE, 1_000, 85, None);
        let (d, s) = gcra(s, 100, MINUTE, 1_000, 10, None);
        assert_eq!(d.granted, 10);
        let (d, after) = gcra(s, 100, MINUTE, 1_200, 1, refund(8, d.receipt));
        let (s, after) = (s.unwrap(), after.unwrap());
        // 8 requests' allowance back, then one granted.
        assert_eq!(after.tat_us, s.tat_us - 8 * I + I);
        assert_eq!(after.refunded_us, 8 * I);
        assert_eq!(after.since_us, s.since_us);
        assert_eq!(d.remaining, 100 - 95 + 8 - 1);
        // A refund alongside a refused request still counts.
        let (_, full) = gcra(None, 100, MINUTE, 1_000, 90, None);
        let (d, full) = gcra(full, 100, MINUTE, 1_000, 10, None);
        let (refused, _) = gcra(full, 100, MINUTE, 1_000, 1, None);
        assert!(!refused.allowed);
        let (d, after) = gcra(full, 100, MINUTE, 1_000, 1, refund(3, d.receipt));
        assert!(d.allowed);
        assert_eq!(after.unwrap().tat_us, full.unwrap().tat_us - 2 * I);
    }

    #[test]
    fn a_refund_never_moves_tat_below_now() {
        // An idle key: 10 reserved at 1 s (6 s of allowance), 9 not spent.
        let (d, s) = gcra(None, 100, MINUTE, 1_000, 10, None);
        // 3 s later only 3 s of that allowance is still counted.
        let (_, after) = gcra(s, 100, MINUTE, 4_000, 1, refund(9, d.receipt));
        assert_eq!(after.unwrap().tat_us, 4_000_000 + I);
        assert_eq!(after.unwrap().refunded_us, 3_000_000);
        // 10 s later nothing is: the allowance has refilled by itself.
        let (_, after) = gcra(s, 100, MINUTE, 11_000, 1, refund(9, d.receipt));
        assert_eq!(after.unwrap().tat_us, 11_000_000 + I);
        assert_eq!(after.unwrap().refunded_us, 0);
    }

    #[test]
    fn a_refund_from_an_expired_state_is_ignored() {
        let (d, _) = gcra(None, 100, MINUTE, 1_000, 10, None);
        // The state expired; another instance created a new one.
        let (_, s) = gcra(None, 100, MINUTE, 70_000, 50, None);
        let (_, after) = gcra(s, 100, MINUTE, 70_000, 1, refund(9, d.receipt));
        assert_eq!(after.unwrap().tat_us, s.unwrap().tat_us + I);
        // And an empty refund is no refund.
        let (d, s) = gcra(None, 100, MINUTE, 1_000, 10, None);
        let (_, after) = gcra(s, 100, MINUTE, 1_000, 1, refund(0, d.receipt));
        assert_eq!(after.unwrap().tat_us, s.unwrap().tat_us + I);
    }

    /// A and B reserve 5 each; A hands its 5 back at once; C then spends 5;
    /// B's 5 would have refilled by now had A's refund come first, so B's
    /// refund must not return C's allowance.
    #[test]
    fn refund_never_returns_what_another_refund_returned() {
        let t0 = 1_000;
        let (a, s) = gcra(None, 100, MINUTE, t0, 5, None);
        let (b, s) = gcra(s, 100, MINUTE, t0, 5, None);
        let (_, s) = gcra(s, 100, MINUTE, t0, 1, refund(5, a.receipt));
        // A's five are back: B's five and A's new one are counted.
        assert_eq!(s.unwrap().tat_us, t0 * 1000 + 6 * I);
        let t1 = t0 + 3_600;
        let (c, s) = gcra(s, 100, MINUTE, t1, 5, None);
        assert_eq!(c.granted, 5);
        let (_, after) = gcra(s, 100, MINUTE, t1, 1, refund(5, b.receipt));
        // What was spent: A's 1 at t0, C's 5 and this 1 at t1.
        assert_eq!(after.unwrap().tat_us, t1 * 1000 + 6 * I);
        // Moving tat back by what B's grant still lay ahead of now (as a
        // bound without the others' refunds would) undercounts C's five.
        let naive = (b.receipt.tat_us - t1 * 1000).min(5 * I);
        assert!(s.unwrap().tat_us - naive + I < t1 * 1000 + 6 * I);
    }

    /// xorshift64*: deterministic schedules without a dependency.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    /// Random schedules of instances reserving batches, spending part of
    /// them and refunding the rest in their next call: after every step the
    /// stored `tat` is at least the `tat` of the requests actually spent
    /// (GCRA over the grants with every refunded part taken out), so what
    /// the fleet spends never exceeds the limit.
    #[test]
    fn refunds_never_undercount_what_was_spent() {
        let limit = 100;
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let instances = 2 + rng.below(4) as usize;
            // Per instance: its outstanding grant (receipt, granted, spent).
            let mut held: Vec<Option<(RateReceipt, u32, u32)>> = vec![None; instances];
            // Every grant: (time µs, requests spent of it, known so far).
            let mut grants: Vec<(i64, u32)> = Vec::new();
            let mut pending: Vec<Option<usize>> = vec![None; instances];
            let mut state = None;
            let mut now: Millis = 1_000;
            for step in 0..200 {
                // Mostly busy, with quiet spells long enough for part of
                // the allowance to refill (where refunds go wrong).
                now += if rng.below(10) < 3 {
                    rng.below(40_000)
                } else {
                    rng.below(1_000)
                } as Millis;
                let who = rng.below(instances as u64) as usize;
                let give_back = held[who]
                    .take()
                    .map(|(receipt, granted, spent)| RateRefund {
                        unspent: granted - spent,
                        receipt,
                    });
                let want = 1 + rng.below(30) as u32;
                let (d, s) = gcra(state, limit, MINUTE, now, want, give_back);
                if let Some(s) = s {
                    state = Some(s);
                }
                if let (Some(r), Some(g)) = (give_back, pending[who].take()) {
                    grants[g].1 -= r.unspent;
                }
                if d.granted > 0 {
                    // The request that asked is spent; of the rest, some.
                    let spent = 1 + rng.below(u64::from(d.granted)) as u32;
                    grants.push((now * 1000, d.granted));
                    pending[who] = Some(grants.len() - 1);
                    held[who] = Some((d.receipt, d.granted, spent));
                }
                // Unrefunded grants count in full: they may yet be spent.
                let mut spent_tat = i64::MIN;
                for &(at, n) in &grants {
                    spent_tat = spent_tat.max(at) + i64::from(n) * I;
                }
                let now_us = now * 1000;
                let stored = state.map_or(now_us, |s| s.tat_us).max(now_us);
                assert!(
                    stored >= spent_tat.max(now_us),
                    "seed {seed} step {step}: stored tat {stored} < spent {spent_tat}"
                );
            }
        }
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;

    fn stored(auto_scaled: bool, master: bool, assignable: bool) -> String {
        format!(
            r#"{{"arn":"a","name":"n","tags":{{}},"auto_scaled":{auto_scaled},"master":{master},"assignable":{assignable},"created_at":1,"draining":false}}"#
        )
    }

    #[test]
    fn records_written_with_flags_read_as_one_kind_and_are_written_back_the_same() {
        for (flags, kind) in [
            ((false, true, true), StageKind::Master),
            ((true, false, true), StageKind::AutoScaled),
            ((false, false, false), StageKind::Custom),
            // Never written, but readable: the master wins.
            ((true, true, true), StageKind::Master),
        ] {
            let json = stored(flags.0, flags.1, flags.2);
            let record: StageRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(record.kind, kind, "{json}");
            assert_eq!(record.revived_at, None);
            let back: serde_json::Value = serde_json::to_value(&record).unwrap();
            assert_eq!(back["master"], kind.is_master());
            assert_eq!(back["auto_scaled"], kind.is_auto_scaled());
            assert_eq!(back["assignable"], kind.is_assignable());
        }
    }
}
